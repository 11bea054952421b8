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
    machine) share one pytest-xdist group: they run one after another on one worker, never beside each
    other, and never beside another test (``_timing_tests_run_alone``). Under xdist they are collected last, so
    the other tests run side by side first and the timing tests then wait for little."""
    for item in items:
        if item.get_closest_marker("timing"):
            item.add_marker(pytest.mark.xdist_group("timing"))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # last: the other tests share the machine among themselves first, then the timing tests have it alone
        items.sort(key=lambda item: item.get_closest_marker("timing") is not None)  # stable: keeps each part's order


@pytest.fixture(autouse=True)
def _timing_tests_run_alone(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A ``timing`` test has the machine to itself: the other workers' tests wait while it runs, and it
    waits for theirs to end. Their load would pause its generator, and loadkit rightly calls a paused
    run inconclusive (docs/verdict.md). A fair readers-writer lock over files every xdist worker shares:
    a timing test takes the turnstile, then the lock alone; any other test passes the turnstile, then
    shares the lock."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield  # one process: nothing runs beside anything
        return
    shared = tmp_path_factory.getbasetemp().parent  # the session's folder, above each worker's own
    exclusive = request.node.get_closest_marker("timing") is not None
    with open(shared / "timing.turnstile", "a") as turnstile, open(shared / "timing.lock", "a") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if exclusive:
            fcntl.flock(lock, fcntl.LOCK_EX)  # new tests wait at the turnstile meanwhile: no starvation
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        else:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
