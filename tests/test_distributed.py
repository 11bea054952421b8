"""Multi-process and distributed runs on Locust's master/worker engine, against servers on 127.0.0.1."""

from __future__ import annotations

import json
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
from tests.helpers import ROOT, read_summary, rehearsal_requests, run_child, run_cli, write_scenario

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


@pytest.mark.timing
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
    # plus the preflight and the rehearsal's one visit (two requests)
    assert shop.stats()["served"] - before == 240 + 1 + rehearsal_requests(out) == 240 + 1 + 2
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
    assert summary["totals"]["requests"] == shop.stats()["served"] - before - 1 - rehearsal_requests(out)


def test_workers_that_never_come_are_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("run", "smoke", "--demo", "--master", "--expect-workers", "1", "--master-port", str(_free_port()),
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


NEIGHBOUR_LOCUSTFILE = '''
from locust import FastHttpUser, task
from shop_pages import PRODUCT  # a module next to the locustfile, as `locust -f` allows


class Shopper(FastHttpUser):
    @task
    def look(self):
        self.client.get(PRODUCT, name="product page")
'''


def test_a_locustfile_that_imports_its_neighbours_runs_on_workers(tmp_path: Path, demo_factory: Any) -> None:
    shop = site(demo_factory)
    (tmp_path / "shop_pages.py").write_text('PRODUCT = "/products/kitchen-03"\n', encoding="utf-8")
    (tmp_path / "shop.py").write_text(NEIGHBOUR_LOCUSTFILE, encoding="utf-8")
    scenario = write_scenario(tmp_path / "s.yaml", {"name": "neighbours", "locustfile": "shop.py",
                                                     "traffic": {"profile": "constant", "rate": "10/s",
                                                                 "duration": "3s"}})
    before = shop.stats()["served"]
    out = tmp_path / "run"
    result = run_cli("run", str(scenario), "--target", shop.url, "--workers", "2", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_summary(out)
    assert summary["traffic"]["delivered_arrivals"] == 30
    assert summary["totals"]["requests"] == 30 == shop.stats()["served"] - before - 1 - rehearsal_requests(out)


def test_a_worker_that_cannot_take_the_scenario_stops_the_run_with_its_reason(tmp_path: Path) -> None:
    # imports on the master, fails on the load machine: as a missing module or database would there
    (tmp_path / "shop.py").write_text(
        "import sys\nfrom locust import HttpUser, task\n"
        "if 'worker' in sys.argv:\n    raise RuntimeError('no client certificate on this machine')\n"
        "class Shopper(HttpUser):\n    @task\n    def look(self):\n        self.client.get('/')\n", encoding="utf-8")
    scenario = write_scenario(tmp_path / "s.yaml", {"name": "refused", "locustfile": "shop.py",
                                                     "traffic": {"profile": "constant", "rate": "5/s",
                                                                 "duration": "2s"}})
    result = run_cli("run", str(scenario), "--demo", "--workers", "1", "--out", str(tmp_path / "run"),
                     timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("loadkit: error:")]
    assert len(errors) == 1, result.stderr
    assert "worker 0 could not take the scenario" in errors[0], result.stderr
    assert "RuntimeError: no client certificate on this machine" in errors[0] and "no load was sent" in errors[0]
    assert "Traceback" not in result.stderr


def test_a_worker_imports_the_masters_locustfile_in_place_when_it_has_the_same_file(tmp_path: Path) -> None:
    same = tmp_path / "same.py"
    same.write_text("X = 1\n", encoding="utf-8")
    child = (
        "import json, sys\nfrom loadkit.run.worker import locustfile_here\n"
        f"same = {str(same)!r}\n"
        "cases = {'same': (same, 'X = 1\\n'), 'changed': (same, 'X = 2\\n'),\n"
        "         'elsewhere': ('/nonexistent/shop.py', 'X = 3\\n')}\n"
        "out = {}\n"
        "for name, (path, text) in cases.items():\n"
        "    got = locustfile_here(text, 'shop.py', path)\n"
        "    out[name] = [str(got), got.read_text()]\n"
        "print(json.dumps(out))\n")
    out = run_child(child)
    assert out["same"] == [str(same), "X = 1\n"]  # this machine has the file: imported in place
    for name, text in (("changed", "X = 2\n"), ("elsewhere", "X = 3\n")):  # otherwise the master's text
        path, content = out[name]
        assert path != str(same) and path.endswith("shop.py") and content == text


def test_a_worker_on_another_machine_checks_it_can_reach_the_target(tmp_path: Path, demo_factory: Any) -> None:
    shop = site(demo_factory)
    closed = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    child = (
        "import json, socket\nfrom loadkit.errors import TargetError\nfrom loadkit.run.worker import reach_target\n"
        "out = {}\n"
        f"reach_target({closed!r}, {{}}, True, socket.gethostname())  # the master's machine: it checked\n"
        f"reach_target({shop.url!r}, {{}}, True, 'load-machine-a')  # elsewhere, and the target answers\n"
        "try:\n"
        f"    reach_target({closed!r}, {{}}, True, 'load-machine-a')\n"
        "except TargetError as error:\n"
        "    out['error'] = str(error)\n"
        "out['host'] = socket.gethostname()\n"
        "print(json.dumps(out))\n")
    before = shop.stats()["served"]
    out = run_child(child)
    assert shop.stats()["served"] - before == 1  # one check from "another machine", none from this one
    assert out["error"].startswith(f"from {out['host']}, target {closed} did not answer (ConnectionRefusedError")
    assert "loopback target" in out["error"] and "every load machine can reach" in out["error"]


def test_a_worker_whose_master_never_answers_is_a_clear_error() -> None:
    # Locust's own retry count, lowered in the worker's process to keep the test short (its default waits
    # five minutes for a master that starts after its workers)
    port = _free_port()
    code = ("import sys\nimport locust.runners\nlocust.runners.CONNECT_RETRY_COUNT = 1\n"
            f"from loadkit.cli import main\nsys.exit(main(['worker', '--master', '127.0.0.1:{port}']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 3, done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("loadkit: error:")]
    assert errors == [f"loadkit: error: no loadkit master answered at 127.0.0.1:{port} within 10 s. Fix: start the "
                      "master first (loadkit run SCENARIO --master --bind ADDRESS --expect-workers N), and check the "
                      "address, the port (--master-port) and firewalls"], done.stderr
    assert "Traceback" not in done.stderr


MASTER_SILENCE_S = 5  # loadkit.run.worker's, as documented (importing it here would patch this process)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _start_master(tmp_path: Path, shop: Any, *args: str) -> subprocess.Popen[str]:
    """A 30-second run at 20 arrivals/s, its output in tmp_path/run."""
    return subprocess.Popen([sys.executable, "-m", "loadkit", "run",
                             str(write_scenario(tmp_path / "s.yaml", constant(20, 30))), "--target", shop.url,
                             "--out", str(tmp_path / "run"), *args], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)


def _until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_local_workers_die_with_a_killed_master(tmp_path: Path, demo_factory: Any) -> None:
    shop = site(demo_factory)
    master = _start_master(tmp_path, shop, "--workers", "2")
    workers: list[psutil.Process] = []
    try:
        def loading() -> bool:
            workers[:] = [c for c in psutil.Process(master.pid).children() if "worker" in c.cmdline()]
            return len(workers) == 2 and (tmp_path / "run" / "metrics.jsonl").exists()

        assert _until(loading, 30), "the workers did not start"
        before = shop.stats()["served"]
        time.sleep(2)
        assert shop.stats()["served"] - before >= 20  # the site is being loaded
        master.kill()  # SIGKILL: no cleanup of its own
        master.wait(timeout=10)
        # the kernel's parent-death signal (Linux) or the workers' watch on their parent: well within a second
        assert _until(lambda: all(_gone(w.pid) for w in workers), 3), [w.status() for w in workers]
        settled = shop.stats()["served"]
        time.sleep(2)
        assert shop.stats()["served"] == settled  # no request after the workers went
    finally:
        master.kill()
        for w in workers:
            if not _gone(w.pid):
                w.kill()


@pytest.mark.timing(seconds=15)
def test_a_worker_stops_its_load_within_seconds_of_losing_its_master(tmp_path: Path, demo_factory: Any) -> None:
    # A worker on "another machine" (not the master's child): only its silence timeout can stop it.
    shop = site(demo_factory)
    port = _free_port()
    master = _start_master(tmp_path, shop, "--master", "--expect-workers", "1", "--master-port", str(port))
    worker = subprocess.Popen([sys.executable, "-m", "loadkit", "worker", "--master", f"127.0.0.1:{port}"],
                              cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert _until(lambda: (tmp_path / "run" / "metrics.jsonl").exists(), 30), "the run did not start"
        time.sleep(2)
        master.kill()
        master.wait(timeout=10)
        killed = time.monotonic()
        _, stderr = worker.communicate(timeout=MASTER_SILENCE_S + 5)  # Locust alone would wait 60 s
        left_after = time.monotonic() - killed
        settled = shop.stats()["served"]
        time.sleep(1.5)
        assert shop.stats()["served"] == settled  # nothing after the worker left
        assert MASTER_SILENCE_S - 1 <= left_after <= MASTER_SILENCE_S + 3, left_after
        assert worker.returncode == 3, stderr
        errors = [ln for ln in stderr.splitlines() if ln.startswith("loadkit: error:")]
        silence = f"no word from the master at 127.0.0.1:{port} for {MASTER_SILENCE_S} s"
        assert len(errors) == 1 and silence in errors[0], stderr
        assert "Traceback" not in stderr
    finally:
        master.kill()
        worker.kill()
        worker.wait(timeout=10)


@pytest.mark.timing
def test_without_the_kernels_signal_a_local_worker_still_notices_its_parent_is_gone(tmp_path: Path) -> None:
    # The watchdog alone: prctl given an option it rejects, as on a system without PR_SET_PDEATHSIG. A
    # middle process starts the "worker", then dies by SIGKILL; the worker must notice within about 0.5 s.
    out = tmp_path / "orphaned.json"
    worker = ("import json, os, time\nimport gevent\nimport loadkit.run.worker as w\n"
              "w._PR_SET_PDEATHSIG = -1\nseen = []\n"
              "w.die_with_parent(os.getppid(), lambda: seen.append(time.time()))\n"
              "print('ready', flush=True)\n"
              "while not seen:\n    gevent.sleep(0.05)\n"
              f"open({str(out)!r}, 'w').write(json.dumps({{'orphaned_at': seen[0]}}))\n")
    middle = ("import os, signal, subprocess, sys, time\n"
              f"p = subprocess.Popen([sys.executable, '-c', {worker!r}], stdout=subprocess.PIPE, "
              "stderr=subprocess.DEVNULL, text=True)\n"
              "p.stdout.readline()\nprint(p.pid, time.time(), flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", middle], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == -signal.SIGKILL, done.stderr
    pid, killed_at = done.stdout.split()
    try:
        assert _until(out.exists, 5), "the orphaned worker did not notice"
        assert json.loads(out.read_text())["orphaned_at"] - float(killed_at) < 1.5
        assert _until(lambda: _gone(int(pid)), 5)
    finally:
        if not _gone(int(pid)):
            os.kill(int(pid), signal.SIGKILL)
