"""Multi-process and distributed runs on Locust's master/worker engine, against servers on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from loadkit.demo import DemoConfig
from tests.helpers import ROOT, read_summary, run_cli, write_scenario

pytestmark = pytest.mark.integration


def site(demo_factory: Any) -> Any:
    service = {page: 0.0 for page in DemoConfig().service_ms}
    service["home"] = 10.0
    return demo_factory(DemoConfig(slots=8, service_ms=service))


def constant(rate: float, seconds: float, name: str = "steady") -> dict[str, Any]:
    return {"name": name, "request_timeout": "5s",
            "traffic": {"profile": "constant", "rate": f"{rate}/s", "duration": f"{seconds}s"},
            "journeys": [{"name": "j", "steps": [{"get": "/"}, {"get": "/products/kitchen-01"}]}]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_worker_processes_deliver_the_plan_and_match_the_server(tmp_path: Path, demo_factory: Any) -> None:
    shop = site(demo_factory)
    before = shop.stats()["served"]
    out = tmp_path / "run"
    result = run_cli("run", str(write_scenario(tmp_path / "s.yaml", constant(20, 6))), "--target", shop.url,
                     "--workers", "2", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_summary(out)
    assert summary["run"]["workers"] == 2
    assert summary["traffic"]["delivered_arrivals"] == summary["traffic"]["planned_arrivals"] == 120
    assert summary["totals"]["requests"] == 240
    assert shop.stats()["served"] - before == 240 + 1  # plus the preflight
    assert (out / "worker-0.log").exists() and (out / "worker-1.log").exists()


def test_a_killed_worker_makes_the_run_inconclusive(tmp_path: Path, demo_factory: Any) -> None:
    shop = site(demo_factory)
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "loadkit", "run",
                             str(write_scenario(tmp_path / "s.yaml", constant(10, 20))), "--target", shop.url,
                             "--workers", "2", "--out", str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    victim = None
    while victim is None and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = [c for c in psutil.Process(proc.pid).children(recursive=True) if "worker" in c.cmdline()]
        if len(workers) == 2 and (out / "metrics.jsonl").exists():
            victim = workers[0]
    assert victim is not None, "the workers did not start"
    time.sleep(3)
    victim.send_signal(signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 3, stdout + stderr
    summary = read_summary(out)
    assert summary["verdict"] == "inconclusive"
    assert any("lost at" in r for r in summary["reasons"]), summary["reasons"]
    assert "lost at" in (out / "report.html").read_text()


def test_distributed_master_and_a_separate_worker(tmp_path: Path, demo_factory: Any) -> None:
    shop = site(demo_factory)
    before = shop.stats()["served"]
    port = _free_port()
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    master = subprocess.Popen([sys.executable, "-m", "loadkit", "run",
                               str(write_scenario(tmp_path / "s.yaml", constant(10, 5))), "--target", shop.url,
                               "--master", "--expect-workers", "1", "--master-port", str(port), "--out", str(out)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    worker = subprocess.Popen([sys.executable, "-m", "loadkit", "worker", "--master", f"127.0.0.1:{port}"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stdout, stderr = master.communicate(timeout=90)
    worker_out, _ = worker.communicate(timeout=30)
    assert master.returncode == 0, stdout + stderr
    assert worker.returncode == 0, worker_out
    summary = read_summary(out)
    assert summary["traffic"]["delivered_arrivals"] == 50
    assert summary["totals"]["requests"] == shop.stats()["served"] - before - 1


def test_workers_that_never_come_are_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("run", "smoke", "--master", "--expect-workers", "1", "--master-port", str(_free_port()),
                     "--worker-timeout", "2s", "--out", str(tmp_path / "run"), timeout=60)
    assert result.returncode == 3
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("loadkit: error:")]
    assert len(errors) == 1 and "0 of 1 workers connected" in errors[0] and "loadkit worker --master" in errors[0]


def test_closed_model_on_two_workers(tmp_path: Path, demo_factory: Any) -> None:
    shop = site(demo_factory)
    doc = {"name": "users", "traffic": {"model": "users", "profile": "constant", "rate": 4, "duration": "6s"},
           "journeys": [{"name": "j", "steps": [{"get": "/"}, {"think": "0.2s"}]}]}
    out = tmp_path / "run"
    result = run_cli("run", str(write_scenario(tmp_path / "u.yaml", doc)), "--target", shop.url,
                     "--workers", "2", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_summary(out)
    assert summary["traffic"]["peak_delivered_per_s"] == 4
    assert summary["totals"]["requests"] > 50
