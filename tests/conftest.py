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
# test's generator and target take a fraction of a core, and the judgement tests already run three runs side by
# side. A solo test (it loads the machine on purpose) waits for the other lane to empty and holds it meanwhile.
TIMING_LANES = ("a", "b")


def _timed(item: pytest.Item) -> bool:
    return item.get_closest_marker("timing") is not None or item.get_closest_marker("solo") is not None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``timing`` (their assertions depend on latency, capacity or lateness measured on this
    machine) go to the timing lanes: pytest-xdist groups, each run one test at a time by one worker, never
    beside a heavy test (``_timing_tests_run_calm``). Under xdist they are collected last, so the other tests
    run side by side first."""
    timed = sorted((item for item in items if _timed(item)), key=lambda item: item.nodeid)
    for index, item in enumerate(timed):  # alternate: each lane gets a share of every module's tests
        item.add_marker(pytest.mark.xdist_group(f"timing-{TIMING_LANES[index % len(TIMING_LANES)]}"))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=_timed)  # stable: keeps each part's order


# Modules whose tests start several processes at once (a browser, `--workers`, a second server, a package
# build) or a real Prometheus: beside a timing test they could take both cores and pause its generator. A
# test elsewhere is light (one process: the test's own, and one `loadkit` command forked by tests/zygote.py,
# which costs no imports) and may run beside the timing tests, one light test at a time. A single test that is
# heavy in a light module is marked ``heavy``.
HEAVY_MODULES = frozenset({
    "test_browser", "test_cut_short", "test_data_sources", "test_decision", "test_distributed", "test_har_oscar",
    "test_history", "test_locust_plugin", "test_observe", "test_packaging", "test_real_hosts", "test_storefronts",
})


def _heavy(item: pytest.Item) -> bool:
    module = item.module.__name__.rpartition(".")[2] if getattr(item, "module", None) else ""
    return module in HEAVY_MODULES or item.get_closest_marker("heavy") is not None


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
    """A timing test runs beside at most the other lane's timing test and one light test; heavy tests wait
    while it runs, and it waits for theirs to end. A ``solo`` test has the machine to itself. Another test's
    burst of CPU would pause a timing test's generator, and loadkit rightly calls a paused run inconclusive
    (docs/verdict.md).

    Locks over files every xdist worker shares: one per lane, which that lane's timing test holds alone and
    any other test shares; a turnstile that a test waiting for a lane holds, so that newcomers queue behind it
    (no starvation); and the companion lock, held by the one light test that runs while a lane is taken."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield  # one process: nothing runs beside anything
        return
    shared = tmp_path_factory.getbasetemp().parent  # the session's folder, above each worker's own
    node = request.node
    with contextlib.ExitStack() as files:
        turnstile = files.enter_context(open(shared / "timing.turnstile", "a"))
        lanes = {lane: files.enter_context(open(shared / f"timing.lane-{lane}", "a")) for lane in TIMING_LANES}
        companion = files.enter_context(open(shared / "timing.companion", "a"))
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if node.get_closest_marker("solo"):
            held = [*lanes.values(), companion]
            for file in held:
                fcntl.flock(file, fcntl.LOCK_EX)
        elif _timed(node):
            group = node.get_closest_marker("xdist_group")
            held = [lanes[str(group.args[0]).removeprefix("timing-")]] if group else list(lanes.values())
            fcntl.flock(held[0], fcntl.LOCK_EX)
        elif not _heavy(node) and not _try_shared(list(lanes.values())):
            held = [companion]  # a lane is taken: be the one light test beside the timing tests
        else:
            held = list(lanes.values())
            if _heavy(node):
                for file in held:
                    fcntl.flock(file, fcntl.LOCK_SH)
        fcntl.flock(turnstile, fcntl.LOCK_UN)
        if held == [companion]:
            fcntl.flock(companion, fcntl.LOCK_EX)
        try:
            yield
        finally:
            for file in reversed(held):
                fcntl.flock(file, fcntl.LOCK_UN)
