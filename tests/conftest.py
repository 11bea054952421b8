"""Shared fixtures: demo storefronts on 127.0.0.1, CLI runs in a subprocess, synthetic run directories."""

from __future__ import annotations

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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``timing`` (their assertions depend on latency, capacity or lateness measured on this
    machine) share one pytest-xdist group: they run one after another on one worker, never beside each other
    nor beside a heavy test (``_timing_tests_run_calm``). Under xdist they are collected last, so the other
    tests run side by side first."""
    for item in items:
        if item.get_closest_marker("timing") or item.get_closest_marker("solo"):
            item.add_marker(pytest.mark.xdist_group("timing"))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # last: the other tests share the machine among themselves first, then the timing tests have it calm
        items.sort(key=lambda item: (item.get_closest_marker("timing") or item.get_closest_marker("solo")) is not None)


# Modules whose tests start several processes at once (a browser, `--workers`, a second server, a package
# build) or a real Prometheus: beside a timing test they could take both cores and pause its generator. A
# test elsewhere is light (one process: the test's own, and one `loadkit` command forked by tests/zygote.py,
# which costs no imports) and may run beside a timing test, one light test at a time. A single test that is
# heavy in a light module is marked ``heavy``.
HEAVY_MODULES = frozenset({
    "test_browser", "test_cut_short", "test_data_sources", "test_decision", "test_distributed", "test_har_oscar",
    "test_history", "test_locust_plugin", "test_observe", "test_packaging", "test_real_hosts", "test_storefronts",
})


def _heavy(item: pytest.Item) -> bool:
    module = item.module.__name__.rpartition(".")[2] if getattr(item, "module", None) else ""
    return module in HEAVY_MODULES or item.get_closest_marker("heavy") is not None


@pytest.fixture(autouse=True)
def _timing_tests_run_calm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A ``timing`` test runs with at most one light test beside it: heavy tests wait while it runs, and it
    waits for theirs to end; a ``solo`` test (it loads the machine on purpose) has the machine to itself.
    Another test's burst of CPU would pause a timing test's generator, and loadkit rightly calls a paused run
    inconclusive (docs/verdict.md). A fair readers-writer lock over files every xdist worker shares: a timing
    test takes the turnstile, then the lock alone; any other test passes the turnstile, then shares the lock.
    A light test that finds the lock taken by a timing test runs beside it instead, one light test at a time
    (the companion lock, which a solo test also takes)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield  # one process: nothing runs beside anything
        return
    shared = tmp_path_factory.getbasetemp().parent  # the session's folder, above each worker's own
    solo = request.node.get_closest_marker("solo") is not None
    exclusive = solo or request.node.get_closest_marker("timing") is not None
    with open(shared / "timing.turnstile", "a") as turnstile, open(shared / "timing.lock", "a") as lock, \
            open(shared / "timing.companion", "a") as companion:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        held = [lock]
        if exclusive:
            fcntl.flock(lock, fcntl.LOCK_EX)  # new tests wait at the turnstile meanwhile: no starvation
            if solo:
                fcntl.flock(companion, fcntl.LOCK_EX)
                held.append(companion)
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        elif not _heavy(request.node):
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # a timing test runs: be its one companion
                held = [companion]
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            if held == [companion]:
                fcntl.flock(companion, fcntl.LOCK_EX)
        else:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            for file in reversed(held):
                fcntl.flock(file, fcntl.LOCK_UN)
