"""Locust's own example locustfiles, and a few of loadkit's, run through loadkit with exact counts.

Each file in tests/locust_examples/upstream/ (copied unchanged from Locust's repository, see its README) and
tests/locust_examples/ walks a counting server on 127.0.0.1 under the open model; loadkit's request count
must equal what the server received (less the preflight check), with no failures and no scenario errors,
and the locustfile's listeners hear Locust's events once per process, as under ``locust -f``.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.countserver import CountingServer
from tests.helpers import read_summary, run_cli, write_scenario

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).parent / "locust_examples"
UPSTREAM = EXAMPLES / "upstream"
VISITS = 10  # 5/s for 2 s


@pytest.fixture
def site() -> Iterator[CountingServer]:
    with CountingServer() as server:
        yield server


def _run(tmp_path: Path, site: CountingServer, example: str, *extra: str, env: dict[str, str] | None = None,
         rehearse: bool = False, folder: Path = EXAMPLES, exit_code: int = 0,
         **scenario: Any) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    name = example.removesuffix(".py").replace("_", "-").replace("/", "-")
    doc = {"name": name, "locustfile": str(folder / example),
           "traffic": {"profile": "constant", "rate": "5/s", "duration": "2s"}, **scenario}
    out = tmp_path / "run"
    # without the rehearsal unless asked (its walk of every task at rest would add requests loadkit does not
    # count as load, and a set waiting for spawning_complete would wait before the load starts)
    result = run_cli("run", str(write_scenario(tmp_path / "s.yaml", doc)), "--target", site.url, "--out", str(out),
                     *([] if rehearse else ["--skip-rehearsal"]), *extra, env=env)
    assert result.returncode == exit_code, result.stdout + result.stderr
    return read_summary(out), result


def _exact(summary: dict[str, Any], site: CountingServer, stderr: str) -> None:
    assert summary["traffic"]["delivered_arrivals"] == VISITS
    assert summary["totals"]["failures"] == 0
    assert (summary.get("scenario_errors") or {}).get("count", 0) == 0
    # every request the server saw, but the preflight check, is one loadkit counted, and none is missing
    assert summary["totals"]["requests"] == site.requests - 1
    assert "Traceback" not in stderr


# Locust's examples that need only HTTP, unchanged; markov_taskset.py, semaphore_wait.py, locustfile.py and
# custom_shape/stages.py have tests of their own below
HTTP_EXAMPLES = ["basic.py", "custom_wait_function.py", "fast_http_locust.py", "events.py", "nested_inline_tasksets.py",
                 "dynamic_user_credentials.py", "x-forwarded-for.py", "multiple_hosts.py", "response_validations.py",
                 "testdata_from_csv.py"]


@pytest.mark.parametrize("example", HTTP_EXAMPLES)
def test_locusts_own_example_runs_with_exact_counts(tmp_path: Path, site: CountingServer, example: str) -> None:
    env = {"API_HOST": site.url} if example == "multiple_hosts.py" else None  # its second host: the same server
    summary, result = _run(tmp_path, site, example, env=env, folder=UPSTREAM)
    _exact(summary, site, result.stderr)
    assert summary["totals"]["requests"] >= VISITS
    if example == "x-forwarded-for.py":  # its base class has no tasks: left out, and said so once
        assert result.stderr.count("the locustfile's ForwardedForUser has no tasks and is not used") == 1


def test_locusts_quickstart_sends_what_each_visit_chose(tmp_path: Path, site: CountingServer) -> None:
    """locustfile.py: a JSON login per visit, then /hello and /world, or ten /item?id= pages a second apart
    (ten seconds: within the drain, so every visit finishes)."""
    summary, result = _run(tmp_path, site, "locustfile.py", folder=UPSTREAM)
    _exact(summary, site, result.stderr)
    assert site.paths["POST /login"] == VISITS
    items = sum(n for path, n in site.paths.items() if path.startswith("GET /item?id="))
    assert items % 10 == 0 and site.paths["GET /hello"] == site.paths["GET /world"]
    assert items // 10 + site.paths["GET /hello"] == VISITS
    assert summary["traffic"]["cut_short"] == 0
    names = {e["name"] for e in summary["endpoints"]}
    assert "/item" in names or items == 0  # name= groups the ten pages as one endpoint


def test_locusts_markov_example_walks_its_chain(tmp_path: Path, site: CountingServer) -> None:
    """markov_taskset.py (a plain User that prints each state, a second apart): the rehearsal walks the chain
    to each of its six states; each visit starts at method1 and walks until the chain is back there."""
    # a drain of 7 s: the longest walks are cut short, and counted; no request measured: inconclusive, exit 3
    summary, result = _run(tmp_path, site, "markov_taskset.py", folder=UPSTREAM, rehearse=True, exit_code=3,
                           request_timeout="2s")
    _exact(summary, site, result.stderr)
    assert summary["totals"]["requests"] == 0
    for state in range(1, 7):
        assert f"Method {state}:" in result.stdout
    # once in the rehearsal, once at the start of every visit (never again: back at method1, the visit ends)
    assert result.stdout.count("Method 1: Using") == 1 + VISITS
    cut = summary["traffic"]["cut_short_at"]
    assert sum(row["visitors"] for row in cut) == summary["traffic"]["cut_short"]
    assert all(row["journey"] == "TransitionsUser" and row["step_index"] is None
               and row["step"].startswith("TransitionsExample.method") for row in cut), cut


NOTICE = "the locustfile's StagesShape (a LoadTestShape) is not used"


@pytest.mark.parametrize("workers", [0, 2])
def test_the_load_test_shape_notice_is_printed_once(tmp_path: Path, site: CountingServer, workers: int) -> None:
    extra = ("--workers", str(workers)) if workers else ()
    summary, result = _run(tmp_path, site, "custom_shape/stages.py", *extra, folder=UPSTREAM)
    _exact(summary, site, result.stderr)
    assert (result.stdout + result.stderr).count(NOTICE) == 1, result.stdout + result.stderr


def test_a_sequential_set_sends_each_task_in_order_once(tmp_path: Path, site: CountingServer) -> None:
    summary, result = _run(tmp_path, site, "sequence.py")
    _exact(summary, site, result.stderr)
    assert site.paths["GET /docs/"] == site.paths["GET /docs/feedback"] == VISITS
    assert summary["totals"]["requests"] == 3 * VISITS


def test_a_markov_visit_walks_the_chain_back_to_its_first_state(tmp_path: Path, site: CountingServer) -> None:
    summary, result = _run(tmp_path, site, "markov_store.py")
    _exact(summary, site, result.stderr)
    # each visit starts at home and ends when the chain returns there: as many home pages as visits, and
    # more pages besides (home -> browse -> ... -> home)
    assert site.paths["GET /"] - 1 == VISITS
    assert site.paths["GET /category/books"] >= VISITS
    names = {e["name"] for e in summary["endpoints"]}
    assert {"/", "/category/books"} <= names


def test_semaphore_example_sends_once_spawning_completes(tmp_path: Path, site: CountingServer) -> None:
    summary, result = _run(tmp_path, site, "semaphore_wait.py", folder=UPSTREAM)
    _exact(summary, site, result.stderr)
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
        "name": "semaphore-rehearsed", "locustfile": str(UPSTREAM / "semaphore_wait.py"),
        "traffic": {"profile": "constant", "rate": "5/s", "duration": "2s"}})
    result = run_cli("run", str(scenario), "--target", site.url, "--out", str(tmp_path / "run"), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "did not finish within 10 s at rest" in result.stderr
    meta = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert meta["rehearsal"]["not_rehearsed"] and not meta["rehearsal"]["broken_steps"]
    summary = read_summary(tmp_path / "run")
    assert summary["totals"]["requests"] == VISITS == site.paths["GET /"] - 1
