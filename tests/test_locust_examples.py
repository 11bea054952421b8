"""Locustfiles in the manner of Locust's own examples run through loadkit with exact counts.

Each file in tests/locust_examples/ (see its README) walks a counting server on 127.0.0.1 under the open
model; loadkit's request count must equal what the server received (less the preflight check), with no
failures, and the locustfile's listeners hear Locust's events once per process, as under ``locust -f``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.countserver import CountingServer
from tests.helpers import read_summary, run_cli, write_scenario

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).parent / "locust_examples"
VISITS = 10  # 5/s for 2 s


@pytest.fixture
def site() -> Iterator[CountingServer]:
    with CountingServer() as server:
        yield server


def _run(tmp_path: Path, site: CountingServer, example: str, *extra: str,
         env: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": example.removesuffix(".py").replace("_", "-"), "locustfile": str(EXAMPLES / example),
        "traffic": {"profile": "constant", "rate": "5/s", "duration": "2s"}})
    out = tmp_path / "run"
    # without the rehearsal (its walk of every task at rest would add requests loadkit does not count as
    # load, and a set waiting for spawning_complete would wait before the load starts)
    result = run_cli("run", str(scenario), "--target", site.url, "--out", str(out), "--skip-rehearsal", *extra,
                     env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return read_summary(out), result.stderr


@pytest.mark.parametrize("example", ["basic.py", "fast_http.py", "markov_store.py", "semaphore_wait.py",
                                     "sequence.py", "nested_inline.py"])
def test_an_example_runs_with_exact_counts(tmp_path: Path, site: CountingServer, example: str) -> None:
    summary, stderr = _run(tmp_path, site, example)
    assert summary["traffic"]["delivered_arrivals"] == VISITS
    assert summary["totals"]["failures"] == 0
    # every request the server saw, but the preflight check, is one loadkit counted, and none is missing
    assert summary["totals"]["requests"] == site.requests - 1
    assert summary["totals"]["requests"] >= VISITS
    assert "Traceback" not in stderr


def test_a_markov_visit_walks_the_chain_back_to_its_first_state(tmp_path: Path, site: CountingServer) -> None:
    summary, _ = _run(tmp_path, site, "markov_store.py")
    # each visit starts at home and ends when the chain returns there: as many home pages as visits, and
    # more pages besides (home -> browse -> ... -> home)
    assert site.paths["GET /"] - 1 == VISITS
    assert site.paths["GET /category/books"] >= VISITS
    names = {e["name"] for e in summary["endpoints"]}
    assert {"/", "/category/books"} <= names


def test_semaphore_example_sends_once_spawning_completes(tmp_path: Path, site: CountingServer) -> None:
    summary, _ = _run(tmp_path, site, "semaphore_wait.py")
    # one request per visit, every visit released by spawning_complete
    assert summary["totals"]["requests"] == VISITS == site.paths["GET /"] - 1


def _events(log: Path) -> dict[int, list[dict[str, Any]]]:
    by_pid: dict[int, list[dict[str, Any]]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by_pid.setdefault(row["pid"], []).append(row)
    return by_pid


ORDER = ["init", "test_start", "spawning_complete", "test_stopping", "test_stop", "quitting"]


def test_events_fire_once_each_in_order(tmp_path: Path, site: CountingServer) -> None:
    log = tmp_path / "events.jsonl"
    summary, _ = _run(tmp_path, site, "event_hooks.py", env={"LOCUST_EVENT_LOG": str(log)})
    assert summary["totals"]["requests"] == VISITS == site.requests - 1
    processes = _events(log)
    assert len(processes) == 1
    (rows,) = processes.values()
    assert [r["event"] for r in rows] == ORDER
    assert rows[0]["role"] == "LocalRunner"
    # the locustfile's own request listener heard every request, as Locust's statistics would
    assert rows[-1]["requests"] == VISITS


def test_events_fire_once_per_process_with_workers(tmp_path: Path, site: CountingServer) -> None:
    log = tmp_path / "events.jsonl"
    summary, _ = _run(tmp_path, site, "event_hooks.py", "--workers", "2", env={"LOCUST_EVENT_LOG": str(log)})
    assert summary["totals"]["requests"] == VISITS == site.requests - 1
    processes = _events(log)
    assert len(processes) == 3
    roles = Counter(rows[0]["role"] for rows in processes.values())
    assert roles == {"MasterRunner": 1, "WorkerRunner": 2}
    for rows in processes.values():
        assert [r["event"] for r in rows] == ORDER, rows
    # the workers' request listeners heard every request between them
    workers = [rows for rows in processes.values() if rows[0]["role"] == "WorkerRunner"]
    assert sum(rows[-1]["requests"] for rows in workers) == VISITS


def test_a_set_waiting_for_the_load_does_not_hang_the_rehearsal(tmp_path: Path, site: CountingServer) -> None:
    """semaphore_wait.py waits in on_start for spawning_complete, which only the load fires: the rehearsal
    leaves it after its time limit, says so, and the load runs as planned."""
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "semaphore-rehearsed", "locustfile": str(EXAMPLES / "semaphore_wait.py"),
        "traffic": {"profile": "constant", "rate": "5/s", "duration": "2s"}})
    result = run_cli("run", str(scenario), "--target", site.url, "--out", str(tmp_path / "run"), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "did not finish within 10 s at rest" in result.stderr
    meta = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert meta["rehearsal"]["not_rehearsed"] and not meta["rehearsal"]["broken_steps"]
    summary = read_summary(tmp_path / "run")
    assert summary["totals"]["requests"] == VISITS == site.paths["GET /"] - 1
