"""Shared fixtures: demo storefronts on 127.0.0.1, CLI runs in a subprocess, synthetic run directories."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from typing import Any

import pytest

from loadkit.demo import DemoConfig, DemoSite


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


def _timed(item: pytest.Item) -> bool:
    return item.get_closest_marker("timing") is not None or item.get_closest_marker("solo") is not None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``timing`` (their assertions depend on latency, capacity or lateness measured on this
    machine) go to the timing lanes: pytest-xdist groups, each run one test at a time by one worker, beside
    nothing but the other lane's timing test and one quiet test (``_timing_tests_run_calm``). Under xdist they
    are collected last, so the other tests run side by side first and the timing tests then wait for little."""
    timed = sorted((item for item in items if _timed(item)), key=lambda item: item.nodeid)
    for index, item in enumerate(timed):  # alternate: each lane gets a share of every module's tests
        item.add_marker(pytest.mark.xdist_group(f"timing-{TIMING_LANES[index % len(TIMING_LANES)]}"))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=_timed)  # stable: keeps each part's order


# Modules whose tests send no load and start no browser: parsing, synthetic run directories, analysis,
# rendering. One such test at a time may run beside the timing tests (below): a single busy process does not
# pause a low-rate generator on two cores, and the suite need not stand still while timing tests run.
# A module that starts sending load (a demo storefront, `run_cli("run", ...)`, Chromium) leaves this list.
QUIET_MODULES = frozenset({
    "test_analysis_verdict", "test_api", "test_calibrate", "test_ci_examples", "test_ci_history_examples",
    "test_contradictions", "test_deploy", "test_generator_health", "test_golden", "test_har", "test_histogram",
    "test_invariants", "test_public_api", "test_reports", "test_saved_scenario", "test_scenario",
    "test_scenario_fuzz", "test_search", "test_summary_doc", "test_traffic", "test_typed_seams", "test_units",
})


def _quiet(item: pytest.Item) -> bool:
    module = item.module.__name__.rpartition(".")[2] if getattr(item, "module", None) else ""
    return (module in QUIET_MODULES and item.get_closest_marker("integration") is None
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
    """A timing test runs beside nothing but the other lane's timing test and one quiet test (``QUIET_MODULES``):
    the other workers' tests wait while it runs, and it waits for theirs to end. A ``solo`` test has the machine
    to itself. Another test's load would pause a timing test's generator, and loadkit rightly calls a paused
    run inconclusive (docs/verdict.md).

    Locks over files every xdist worker shares: one per lane, which that lane's timing test holds alone and
    every other test shares; a turnstile that a test waiting for a lane holds, so that newcomers queue behind
    it (no starvation); and the companion lock, held by the one quiet test that runs while a lane is taken
    (and by a solo test)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield  # one process: nothing runs beside anything
        return
    shared = tmp_path_factory.getbasetemp().parent  # the session's folder, above each worker's own
    node = request.node
    with contextlib.ExitStack() as files:
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
