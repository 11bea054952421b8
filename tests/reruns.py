"""One more run for a test that failed while the machine paused loadkit (tests/conftest.py).

Many tests assert on what a real run measured: a verdict, latency, capacity, lateness. When the machine stops
loadkit's process for 50 ms or more (another test's program starting, the timing lanes taking both cores, the
kernel, the disk), loadkit records it in the run (``hiccup_ms`` in arrivals.jsonl) and its verdict weighs it
(docs/verdict.md): the test's subject was then not measured. Such a test runs once more, and the second
result stands. A failure with no recorded pause in the test's runs, or a second failure, fails the suite: a
regression still fails every time. Each rerun is listed, with the pauses that called for it, in the terminal
summary (``R``, ``RERUN``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.runner import runtestprotocol

from loadkit.analysis import PAUSE_MS
from loadkit.data import ARRIVALS, read_jsonl

RUNS_DIR = pytest.StashKey[Path]()  # the folder a test's runs are written under (its tmp_path)


def recorded_pauses(root: Path) -> list[str]:
    """The seconds in which the machine paused loadkit for ``PAUSE_MS`` or more, in every run under
    ``root``: ["run-x at 7 s: 206 ms", ...]."""
    found: list[str] = []
    for arrivals in sorted(root.rglob(ARRIVALS)):
        for row in read_jsonl(arrivals):  # a line cut short by a killed run is skipped
            pause = row.get("hiccup_ms") if isinstance(row, dict) else None
            if isinstance(pause, (int, float)) and pause >= PAUSE_MS:
                found.append(f"{arrivals.parent.relative_to(root)} at {row.get('t')} s: {pause:.0f} ms")
    return found


def run_with_a_rerun(item: pytest.Item, nextitem: pytest.Item | None) -> bool:
    """pytest's run of one test, and once more when its call failed and its runs recorded a pause."""
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    reports = runtestprotocol(item, nextitem=nextitem, log=False)
    failed = [r for r in reports if r.when == "call" and r.failed]
    runs = item.stash.get(RUNS_DIR, None)
    pauses = recorded_pauses(runs) if failed and runs is not None else []
    if pauses:
        for report in reports:
            if report in failed:
                report.outcome = "rerun"  # type: ignore[assignment]  # pytest's outcome, widened as in pytest-rerunfailures
                report.sections.append(("paused", "the machine paused loadkit: " + "; ".join(pauses[:5])))
            item.ihook.pytest_runtest_logreport(report=report)
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def rerun_status(report: pytest.TestReport) -> tuple[str, str, str] | None:
    """How the terminal shows a first try that is run again."""
    if report.outcome == "rerun":  # type: ignore[comparison-overlap]
        return "rerun", "R", "RERUN"
    return None
