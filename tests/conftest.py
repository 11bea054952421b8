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


# Modules whose tests send no load and start no browser: parsing, synthetic run directories, analysis,
# rendering. One such test at a time may run beside a timing test (below): a single busy process does not
# pause a low-rate generator on two cores, and the suite need not stand still while a timing test runs.
# A module that starts sending load (a demo storefront, `run_cli("run", ...)`, Chromium) leaves this list.
QUIET_MODULES = frozenset({
    "test_analysis_verdict", "test_ci_examples", "test_ci_history_examples", "test_contradictions",
    "test_deploy", "test_generator_health", "test_golden", "test_har", "test_histogram", "test_invariants",
    "test_public_api", "test_reports", "test_saved_scenario", "test_scenario", "test_scenario_fuzz",
    "test_traffic", "test_typed_seams", "test_units",
})


def _quiet(item: pytest.Item) -> bool:
    module = item.module.__name__.rpartition(".")[2] if getattr(item, "module", None) else ""
    return (module in QUIET_MODULES and item.get_closest_marker("integration") is None
            and "demo_factory" not in getattr(item, "fixturenames", ()))


@pytest.fixture(autouse=True)
def _timing_tests_run_alone(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A ``timing`` test has the machine to itself but for at most one quiet test (``QUIET_MODULES``): the
    other workers' load tests wait while it runs, and it waits for theirs to end. Their load would pause
    its generator, and loadkit rightly calls a paused run inconclusive (docs/verdict.md). A fair
    readers-writer lock over files every xdist worker shares: a timing test takes the turnstile, then the
    lock alone; any other test passes the turnstile, then shares the lock. A quiet test that finds the
    lock taken by a timing test runs beside it instead, one quiet test at a time (the companion lock)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield  # one process: nothing runs beside anything
        return
    shared = tmp_path_factory.getbasetemp().parent  # the session's folder, above each worker's own
    exclusive = request.node.get_closest_marker("timing") is not None
    with open(shared / "timing.turnstile", "a") as turnstile, open(shared / "timing.lock", "a") as lock, \
            open(shared / "timing.companion", "a") as companion:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        held = lock
        if exclusive:
            fcntl.flock(lock, fcntl.LOCK_EX)  # new tests wait at the turnstile meanwhile: no starvation
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        elif _quiet(request.node):
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # a timing test runs: be its one companion
                held = companion
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            if held is companion:
                fcntl.flock(companion, fcntl.LOCK_EX)
        else:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
