"""Data sources never materialise more than they must: ranges drawn from their bounds, lists and CSV capped.

The run tests cap the child's address space (RLIMIT_AS), so code that expanded a 10^9 range into a list fails
at once with a MemoryError instead of taking the machine down, and measure the child's peak resident memory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from loadkit.scenario import (MAX_DATA_VALUES, RangeSource, data_from_wire, data_to_wire, load_data_values,
                              parse_scenario)
from tests.helpers import ROOT, read_summary, rehearsal_requests, run_child, run_cli, write_scenario

BILLION = 10**9
ADDRESS_SPACE_LIMIT = 3 * 2**30  # a run needs well under 1 GB of address space; a 10^9 list needs ~36 GB
PEAK_RSS_LIMIT_MB = 400


class _Recorder(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self) -> None:  # http.server's naming
        self.paths.append(self.path)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # http.server's signature
        pass


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[str]]]:
    """A tiny HTTP server on 127.0.0.1 that answers 200 and records every path it is asked for."""
    paths: list[str] = []
    handler = type("Handler", (_Recorder,), {"paths": paths})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", paths
    server.shutdown()
    server.server_close()


def range_scenario(order: str, rate: int = 20, seconds: int = 3) -> dict[str, Any]:
    return {"name": f"range-{order}", "request_timeout": "5s",
            "traffic": {"profile": "constant", "rate": f"{rate}/s", "duration": f"{seconds}s"},
            "journeys": [{"name": "item", "steps": [{"get": "/items/{id}"}]}],
            "data": {"id": {"range": [1, BILLION], "order": order}},
            "slos": [{"metric": "error_rate", "below": "1%"}],
            "verdict": {"headroom_probe": False, "recovery_within": "2s"}}


_BOUNDED_RUN = """
import json, resource, subprocess, sys
def cap():
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
done = subprocess.run([sys.executable, "-m", "loadkit", *{args!r}], preexec_fn=cap, capture_output=True, text=True,
                      timeout=150)
print(json.dumps({{"rc": done.returncode, "out": done.stdout, "err": done.stderr,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}}))
"""


def bounded_run(*args: str) -> dict[str, Any]:
    """``loadkit ARGS`` in a grandchild whose address space is capped; its exit code, output and peak RSS."""
    code = _BOUNDED_RUN.format(limit=ADDRESS_SPACE_LIMIT, args=list(args))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def ids_requested(paths: list[str]) -> list[int]:
    return [int(m.group(1)) for p in paths if (m := re.fullmatch(r"/items/(-?\d+)", p))]


@pytest.mark.integration
def test_a_billion_value_range_runs_in_bounded_memory(tmp_path: Path, recording_server: Any) -> None:
    url, paths = recording_server
    scenario = write_scenario(tmp_path / "range.yaml", range_scenario("random"))
    result = bounded_run("run", str(scenario), "--target", url, "--out", str(tmp_path / "run"))
    assert result["rc"] == 0, result["out"] + result["err"]
    assert result["maxrss_kb"] / 1024 < PEAK_RSS_LIMIT_MB, f"peak RSS {result['maxrss_kb'] / 1024:.0f} MB"
    ids = ids_requested(paths)
    # the load's 60 requests and the rehearsal's one visit before it (one request, a random draw too)
    assert len(ids) == read_summary(tmp_path / "run")["totals"]["requests"] + rehearsal_requests(tmp_path / "run") \
        == 60 + 1
    assert all(1 <= i <= BILLION for i in ids)
    assert len(set(ids)) == len(ids)  # random draws over a billion values: no repeats among 61
    assert max(ids) > BILLION // 2  # drawn over the whole range, not its start


@pytest.mark.integration
def test_sequential_draws_walk_a_billion_value_range_in_order_across_workers(tmp_path: Path,
                                                                            recording_server: Any) -> None:
    url, paths = recording_server
    scenario = write_scenario(tmp_path / "seq.yaml", range_scenario("sequential", rate=10, seconds=3))
    result = bounded_run("run", str(scenario), "--target", url, "--out", str(tmp_path / "run"), "--workers", "2")
    assert result["rc"] == 0, result["out"] + result["err"]
    # Each worker walks its own stride of the range; together they visit its start, in order, with no gaps.
    # The rehearsal's one visit before the load took the range's last value, leaving the start to the load.
    assert sorted(ids_requested(paths)) == list(range(1, 31)) + [BILLION]
    setup = (tmp_path / "run" / "worker-0.log").read_text()
    assert "Traceback" not in setup


def test_a_range_is_lazy_and_travels_to_workers_as_its_bounds(tmp_path: Path) -> None:
    scenario = parse_scenario({**range_scenario("random"),
                               "data": {"id": {"range": [1, BILLION]}, "huge": {"range": [-2**63, 2**63 - 1]},
                                        "sku": ["a", "b"]}})
    values = load_data_values(scenario, tmp_path)
    assert values["id"] == range(1, BILLION + 1) and isinstance(values["id"], range)
    wire = data_to_wire(values)
    assert wire == {"id": {"range": [1, BILLION]}, "huge": {"range": [-2**63, 2**63 - 1]},
                    "sku": {"values": ["a", "b"]}}
    assert len(json.dumps(wire)) < 200
    assert data_from_wire(wire) == values


def test_range_bounds_must_fit_in_64_bits() -> None:
    with pytest.raises(ValueError):
        RangeSource.model_validate({"range": [0, 2**63]})


def test_draws_from_ranges_stay_in_range_and_walk_in_order() -> None:
    result = run_child("""
import json, random
from loadkit.run.visitors import DataPool
pool = DataPool(values={"id": range(1, 10**9 + 1), "huge": range(-2**63, 2**63)}, sequential=frozenset(),
                rng=random.Random(1))
draws = [pool.draw() for _ in range(2000)]
# the same seed draws what choice() over the expanded list drew before ranges were lazy
old = random.Random(1)
small = DataPool(values={"n": range(5, 105)}, sequential=frozenset(), rng=random.Random(1))
same = all(small.draw()["n"] == old.choice(list(range(5, 105))) for _ in range(200))
walk = [DataPool(values={"n": range(10, 15)}, sequential=frozenset({"n"}), rng=random.Random(0), offset=w, stride=2)
        for w in (0, 1)]
seq = [[pool_.draw()["n"] for _ in range(5)] for pool_ in walk]
print(json.dumps({"ids": [d["id"] for d in draws], "huge": [str(d["huge"]) for d in draws], "same": same,
                  "seq": seq}))
""")
    assert all(1 <= i <= 10**9 for i in result["ids"])
    assert max(result["ids"]) > 9 * 10**8 and min(result["ids"]) < 10**8
    assert all(-2**63 <= int(h) < 2**63 for h in result["huge"])
    assert result["same"]
    assert result["seq"] == [[10, 12, 14, 11, 13], [11, 13, 10, 12, 14]]  # two workers share one walk


def test_an_over_cap_csv_is_refused_in_one_line_before_any_run_directory(tmp_path: Path) -> None:
    (tmp_path / "ids.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(MAX_DATA_VALUES + 1)))
    doc = range_scenario("random")
    doc["data"] = {"id": {"csv": "ids.csv", "column": "id"}}
    scenario = write_scenario(tmp_path / "big.yaml", doc)
    out = tmp_path / "run"
    for args in (("validate", str(scenario)), ("run", str(scenario), "--target", "http://127.0.0.1:9", "--out",
                                               str(out), "--quiet")):
        result = run_cli(*args, timeout=120)
        assert result.returncode == 2, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "data.id" in lines[0] and "ids.csv" in lines[0] and "1,000,000" in lines[0] and "Fix:" in lines[0]
        assert "Traceback" not in result.stderr
    assert not out.exists()


def test_an_over_cap_inline_list_is_refused(tmp_path: Path) -> None:
    doc = range_scenario("random")
    doc["data"] = {"id": list(range(MAX_DATA_VALUES + 1))}
    with pytest.raises(Exception, match=r"data\.id: the inline list has 1,000,001 values.*Fix: use \{range"):
        load_data_values(parse_scenario(doc), tmp_path)
