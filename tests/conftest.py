"""Shared fixtures: demo storefronts on 127.0.0.1, CLI runs in a subprocess, synthetic run directories."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

# With PYTHONDONTWRITEBYTECODE set (some CI images set it), every process of the suite compiles loadkit and
# pytest rewrites every test module from source again: the six workers at the start, each warm server, each
# `python -m loadkit` a test starts (about 5 s of CPU apiece, measured with `pytest --collect-only`). The
# suite keeps its bytecode in a folder of its own instead, outside the source tree; every process it starts
# inherits the setting.
if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
    import tempfile

    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), f"loadkit-tests-pycache-{os.getuid()}")
    sys.dont_write_bytecode = False
    sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]

from loadkit.demo import DemoConfig, DemoSite  # after the bytecode setting, so that it applies
from tests import reruns


@pytest.fixture
def demo_factory() -> Iterator[Any]:
    """Start demo storefronts with given knobs; all are stopped at the end of the test."""
    sites: list[DemoSite] = []

    def start(config: DemoConfig | None = None) -> DemoSite:
        site = DemoSite(config).start()
        sites.append(site)
        return site

    yield start
    for site in sites:
        site.stop()


# Timing tests run in two lanes (two pytest-xdist groups, so two workers), each one test at a time: a timing
# test's generator and target take a fraction of a core (the judgement tests already run three runs side by
# side), so two such tests share the two cores without pausing each other. A solo test (it loads the machine on
# purpose) waits for the other lane to empty and holds it meanwhile.
TIMING_LANES = ("a", "b")
# What a timing test takes, in seconds, unless its marker says (``@pytest.mark.timing(seconds=45)``): only to
# share the timing tests out between the lanes evenly.
TIMING_SECONDS = 10.0


def _timed(item: pytest.Item) -> bool:
    return item.get_closest_marker("timing") is not None or item.get_closest_marker("solo") is not None


def _seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timing")
    return float(marker.kwargs.get("seconds", TIMING_SECONDS)) if marker else TIMING_SECONDS


def _solo(item: pytest.Item) -> bool:
    return item.get_closest_marker("solo") is not None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``timing`` (their assertions depend on latency, capacity or lateness measured on this
    machine) go to the timing lanes: pytest-xdist groups, each run one test at a time by one worker. With
    ``--dist loadgroup`` the two groups, the largest units of work, are handed out first, so the lanes start
    at once while the other workers run everything else beside them (``_timing_tests_run_calm``).

    Each test, the longest first, goes to the lane that ends sooner; the solo tests go last, in the first
    lane, whose other tests end about when the other lane's do (a solo test needs it empty): at the end the
    machine is calm (the first minute is the busiest: every worker starting, the heavy programs of the tests
    that use them)."""
    timed = sorted((item for item in items if _timed(item)), key=lambda item: (-_seconds(item), item.nodeid))
    ends = [0.0] * len(TIMING_LANES)
    for item in (item for item in timed if not _solo(item)):
        lane = ends.index(min(ends))
        item.add_marker(pytest.mark.xdist_group(f"timing-{TIMING_LANES[lane]}"))
        ends[lane] += _seconds(item)
    for item in (item for item in timed if _solo(item)):
        item.add_marker(pytest.mark.xdist_group(f"timing-{TIMING_LANES[0]}"))
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if _PRIORITIES:
        # A lane's tests longest first, its solo tests last; then the tests that send load, which take
        # longer, and last the quiet ones, which fill the end evenly (stable: each part keeps its order).
        items.sort(key=lambda item: (not _timed(item), _solo(item), _quiet(item),
                                     -_seconds(item) if _timed(item) else 0.0))
    else:
        items.sort(key=_timed)


def _priorities_switch() -> bool:
    """Whether this process may move to the idle scheduling class and back, and raise its priority (root may;
    others usually may only lower it). Tried in a child, so that this process is never left low."""
    probe = ("import os; p = os.sched_param(0); os.sched_setscheduler(0, os.SCHED_IDLE, p); "
             f"os.sched_setscheduler(0, os.SCHED_OTHER, p); os.setpriority(os.PRIO_PROCESS, 0, {TIMING_NICE})")
    try:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


# With priorities (Linux, as root), the timing lanes run beside the other tests, and each test's processes (its
# children inherit it) run at a priority that keeps the load generators of both from pausing:
# - a timing test at nice -10: its processes take a core from a test at nice 0 when they wake (so its
#   generator and its target keep their pace), and a test at nice 0 waits at most a few tens of milliseconds
#   for a core when the lanes fill both (its run is paused for less than the 50 ms that loadkit counts);
# - a test that sends load at nice 0;
# - a test that sends none (``BACKGROUND_MODULES``) in the idle scheduling class (SCHED_IDLE), which runs only
#   on a core nobody else wants: its CPU-bound work (a browser, parsing, rendering) pauses no generator.
# Without: the locks below.
TIMING_NICE = -10
FALLBACK_TESTS = 3  # without priorities: tests at once
_PRIORITIES = hasattr(os, "SCHED_IDLE") and os.environ.get("LOADKIT_TEST_PRIORITIES", "1") != "0" \
    and _priorities_switch()


def pytest_configure(config: pytest.Config) -> None:
    """A worker collects the tests in the idle class: at the start every worker imports and collects at
    once, and the first load tests of the others would pause. Each test then sets its own priority."""
    if _PRIORITIES and os.environ.get("PYTEST_XDIST_WORKER"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _set_priority(item: pytest.Item) -> None:
    idle = not _timed(item) and _quiet(item, BACKGROUND_MODULES)
    os.sched_setscheduler(0, os.SCHED_IDLE if idle else os.SCHED_OTHER, os.sched_param(0))
    os.setpriority(os.PRIO_PROCESS, 0, TIMING_NICE if _timed(item) else 0)


# Modules whose tests send no load and start no browser: parsing, synthetic run directories, analysis,
# rendering. One such test at a time may run beside the timing tests (below): a single busy process does not
# pause a low-rate generator on two cores, and the suite need not stand still while timing tests run.
# A module that starts sending load (a demo storefront, `run_cli("run", ...)`, Chromium) leaves this list.
QUIET_MODULES = frozenset({
    "test_analysis_verdict", "test_api", "test_calibrate", "test_ci_examples", "test_ci_history_examples",
    "test_contradictions", "test_deploy", "test_generator_health", "test_golden", "test_har", "test_histogram",
    "test_invariants", "test_public_api", "test_reports", "test_reruns", "test_saved_scenario", "test_scenario",
    "test_scenario_fuzz", "test_search", "test_summary_doc", "test_traffic", "test_typed_seams", "test_units",
})


# Without load but CPU-bound: the idle class suits them (with priorities) as it suits the quiet modules.
BACKGROUND_MODULES = QUIET_MODULES | {"test_browser"}


def _module(item: pytest.Item) -> str:
    return item.module.__name__.rpartition(".")[2] if getattr(item, "module", None) else ""


def _quiet(item: pytest.Item, modules: frozenset[str] = QUIET_MODULES) -> bool:
    return (_module(item) in modules and item.get_closest_marker("integration") is None
            and "demo_factory" not in getattr(item, "fixturenames", ()))


def _try_shared(files: list[Any]) -> bool:
    """Share every lock in ``files`` at once, or none."""
    taken: list[Any] = []
    for file in files:
        try:
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            for held in taken:
                fcntl.flock(held, fcntl.LOCK_UN)
            return False
        taken.append(file)
    return True


@pytest.fixture(autouse=True)
def _timing_tests_run_calm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the timing tests' measurements the site's: another test's load or CPU work would pause a timing
    test's generator (loadkit rightly calls a paused run inconclusive, docs/verdict.md) or slow its target.

    With priorities (``_PRIORITIES``, the usual case as root): see ``_prioritised``. Without, locks alone: a
    timing test runs beside nothing but the other lane's timing test and one quiet test (``QUIET_MODULES``),
    the other workers' tests wait while it runs, and it waits for theirs to end; a ``solo`` test has the
    machine to itself; at most ``FALLBACK_TESTS`` tests run at once. Locks over files every xdist worker
    shares: one per lane, which that lane's timing test holds alone and every other test shares; a turnstile
    that a test waiting for a lane holds, so that newcomers queue behind it (no starvation); the companion
    lock, held by the one quiet test that runs while a lane is taken (and by a solo test); and the slots."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield  # one process: nothing runs beside anything
        return
    if _PRIORITIES:
        yield from _prioritised(request, tmp_path_factory)
        return
    shared = tmp_path_factory.getbasetemp().parent  # the session's folder, above each worker's own
    node = request.node
    with contextlib.ExitStack() as files:
        # at most FALLBACK_TESTS tests at once, whatever -n says: more would pause each other's generators
        worker = int(os.environ["PYTEST_XDIST_WORKER"].removeprefix("gw") or 0)
        slot = files.enter_context(open(shared / f"timing.slot-{worker % FALLBACK_TESTS}", "a"))
        fcntl.flock(slot, fcntl.LOCK_EX)
        turnstile = files.enter_context(open(shared / "timing.turnstile", "a"))
        lanes = [files.enter_context(open(shared / f"timing.lane-{lane}", "a")) for lane in TIMING_LANES]
        companion = files.enter_context(open(shared / "timing.companion", "a"))
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if node.get_closest_marker("solo"):
            held = [*lanes, companion]
            for file in held:
                fcntl.flock(file, fcntl.LOCK_EX)  # new tests wait at the turnstile meanwhile
        elif _timed(node):
            group = node.get_closest_marker("xdist_group")
            lane = TIMING_LANES.index(str(group.args[0]).removeprefix("timing-")) if group else 0
            held = [lanes[lane]]
            fcntl.flock(held[0], fcntl.LOCK_EX)
        elif _try_shared(lanes):
            held = lanes  # no timing test runs
        elif _quiet(node):
            held = [companion]  # a lane is taken: be the one quiet test beside the timing tests
        else:
            held = []  # wait below, after the turnstile, for the lanes to empty
        fcntl.flock(turnstile, fcntl.LOCK_UN)
        if held == [companion]:
            fcntl.flock(companion, fcntl.LOCK_EX)
        elif not held:
            held = lanes
            for file in held:
                fcntl.flock(file, fcntl.LOCK_SH)
        try:
            yield
        finally:
            for file in reversed(held):
                fcntl.flock(file, fcntl.LOCK_UN)


def _prioritised(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """With priorities: a timing test holds its lane, a solo test both lanes (and keeps them for the solo test
    after it); every other test runs at once, in the idle class when it sends no load."""
    node = request.node
    _set_priority(node)
    if not _timed(node):
        yield
        return
    shared = tmp_path_factory.getbasetemp().parent  # the session's folder, above each worker's own
    if _solo(node):
        if not _solo_lanes:
            _solo_lanes.append(_take_lanes(shared, TIMING_LANES))
        try:
            yield
        finally:
            if _next_item[0] is None or not _solo(_next_item[0]):
                _solo_lanes.pop().close()
        return
    group = node.get_closest_marker("xdist_group")
    lane = str(group.args[0]).removeprefix("timing-") if group else TIMING_LANES[0]
    with _take_lanes(shared, (lane,)):
        yield


# Both lanes, taken by the first of a worker's consecutive solo tests and let go after the last: another
# lane's test would otherwise slip in between two of them and make the second wait for it.
_solo_lanes: list[contextlib.ExitStack] = []
_next_item: list[pytest.Item | None] = [None]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Note the test that runs after this one in this worker (None: nothing, or not known yet). A test runs
    once more when it failed while the machine paused loadkit in its runs (tests/reruns.py)."""
    _next_item[0] = nextitem
    return reruns.run_with_a_rerun(item, nextitem)


@pytest.fixture(autouse=True)
def _runs_dir(request: pytest.FixtureRequest) -> None:
    """Where a test writes its runs (its tmp_path), for tests/reruns.py to read their pauses from."""
    request.node.stash[reruns.RUNS_DIR] = request.getfixturevalue("tmp_path")


def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    """A first try that is run again reads RERUN, not FAILED."""
    return reruns.rerun_status(report)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Each test run again, with the pauses that called for it."""
    again = terminalreporter.stats.get("rerun", [])
    if again:
        terminalreporter.section("run again after the machine paused loadkit")
        for report in again:
            paused = dict(report.sections).get("paused", "")
            terminalreporter.line(f"{report.nodeid}: {paused}")


def _take_lanes(shared: Any, names: tuple[str, ...]) -> contextlib.ExitStack:
    """Hold the lanes ``names`` until the returned stack closes. The turnstile, held while waiting, makes a
    lane's next test queue behind a solo test that waits for that lane to empty."""
    stack = contextlib.ExitStack()
    turnstile = stack.enter_context(open(shared / "timing.turnstile", "a"))  # noqa: SIM115 (the stack closes it)
    lanes = [stack.enter_context(open(shared / f"timing.lane-{name}", "a")) for name in names]  # noqa: SIM115
    with _locked(turnstile):
        for file in lanes:
            fcntl.flock(file, fcntl.LOCK_EX)  # let go when the stack closes the file
    return stack


@contextlib.contextmanager
def _locked(file: Any) -> Iterator[None]:
    fcntl.flock(file, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(file, fcntl.LOCK_UN)
