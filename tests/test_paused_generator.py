"""Real runs beside a busy neighbour: a CPU hog pinned to loadkit's core, and the machine pausing loadkit.

The pauses are made certain, not hoped for: while the load runs, the test stops the loadkit process
(SIGSTOP) for 400 ms four times, as a machine that schedules something else does, so some arrivals
start late whatever this machine's own load. The target answers every request in 5 ms, so a p95 below
1 ms is impossible at any load and a p95 below 1 s is easy. 15 s at 20/s leaves seconds free of stops
(the impossible SLO must break there too, docs/verdict.md) even when a busy machine adds stalls of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .helpers import ROOT, read_summary, write_scenario
from .test_faults import fault_server

pytestmark = [pytest.mark.integration, pytest.mark.timing, pytest.mark.solo,  # a CPU hog: nothing beside it
              pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset pins the hog and loadkit")]

PAUSES = 4
PAUSE_S = 0.4


def run_beside_a_hog(tmp_path: Path, url: str, slo: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``loadkit run`` pinned to core 0 beside a CPU hog pinned there too, paused PAUSES times."""
    scenario = write_scenario(tmp_path / "neighbour.yaml", {
        "name": "neighbour", "traffic": {"profile": "constant", "rate": "20/s", "duration": "15s"},
        "journeys": [{"name": "j", "steps": [{"get": "/sleep/5"}]}],
        "slos": [{"metric": "p95", "below": slo}]})
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    hog = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while 1: pass"])
    try:
        proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "loadkit", "run", str(scenario),
                                 "--target", url, "--out", str(out), "--quiet"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        # the first rows are flushed 2 s into the load: from then on, pause it every 1.5 s
        while not (out / "arrivals.jsonl").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(PAUSES):
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGSTOP)
            time.sleep(PAUSE_S)
            proc.send_signal(signal.SIGCONT)
            time.sleep(1.1)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        hog.kill()
        hog.wait()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), read_summary(out)


@pytest.mark.timing(seconds=20)
def test_an_impossible_slo_fails_beside_a_busy_neighbour_even_when_arrivals_were_late(tmp_path: Path) -> None:
    with fault_server() as url:
        done, summary = run_beside_a_hog(tmp_path, url, "1ms")
    assert summary["verdict"] == "fails", (summary["reasons"], done.stderr[-2000:])
    assert done.returncode == 1
    assert summary["reasons"][0].startswith("The p95 response time of all requests reached")
    assert summary["traffic"]["hiccup_max_ms"] >= 300  # the meter saw the stops
    if summary["traffic"]["late_arrivals"] > 0.02 * summary["traffic"]["planned_arrivals"]:
        assert any(r.startswith("Not all of the planned load was delivered") for r in summary["reasons"])


@pytest.mark.timing(seconds=20)
def test_an_easy_slo_with_late_arrivals_is_inconclusive_and_names_the_pauses(tmp_path: Path) -> None:
    with fault_server() as url:
        done, summary = run_beside_a_hog(tmp_path, url, "1s")
    traffic = summary["traffic"]
    assert traffic["late_arrivals"] > 0.02 * traffic["planned_arrivals"], traffic  # the stops made them late
    assert summary["verdict"] == "inconclusive", (summary["reasons"], done.stderr[-2000:])
    assert done.returncode == 3
    reason = summary["reasons"][0]
    assert reason.startswith("The machine paused loadkit for up to"), reason
    assert "quieter machine or a dedicated runner" in reason
    assert "Use more --workers" not in reason and "generator, not the site" not in reason
    assert traffic["paused_seconds"] >= 1 and traffic["generator_cpu_max"] < 85
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert '<rect class="pause"' in html
