"""Shared benchmark plumbing: targets on 127.0.0.1, loadkit and plain Locust runs, medians.

Nothing here imports gevent: each load generator runs in its own process, as users run them.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


def _stop_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so a benchmark stopped with ``kill`` still stops the servers it
    started (the ``finally`` blocks below) instead of leaving them running."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@contextmanager
def python_server(*args: str) -> Iterator[str]:
    """Start this module's server in a subprocess with ``args``; yields its URL."""
    _stop_cleanly_on_sigterm()
    proc = subprocess.Popen([sys.executable, str(HERE / "servers.py"), *args], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("listening "), line
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def nginx() -> Iterator[str]:
    """Debian's nginx on 127.0.0.1, one worker process, answering ``ok`` to everything."""
    _stop_cleanly_on_sigterm()
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    folder = tempfile.mkdtemp(prefix="loadkit-bench-nginx-")
    port = _free_port()
    conf = os.path.join(folder, "nginx.conf")
    with open(conf, "w") as handle:
        handle.write(f"""
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {folder};
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location /__status {{ stub_status; }}
    location / {{ default_type text/plain; return 200 "ok\\n"; }}
  }}
}}
""")
    proc = subprocess.Popen([binary, "-c", conf, "-p", folder], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def plain_locustfile(wait_s: float = 0.0) -> str:
    """A plain Locust test: FastHttpUsers that GET / and wait ``wait_s`` between requests."""
    return f"""
from locust import FastHttpUser, constant, task


class Plain(FastHttpUser):
    wait_time = constant({wait_s})

    @task
    def home(self):
        self.client.get("/")
"""


def _machine_ticks() -> tuple[int, int]:
    """(all, idle) CPU ticks of this machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values), values[3] + values[4]


class MachineBusy:
    """The share of this machine's CPU in use between ``start_s`` and ``end_s`` from now (a background
    thread reads /proc/stat at both moments); ``share`` is None until the window has passed."""

    def __init__(self, start_s: float, end_s: float) -> None:
        self.share: float | None = None
        self._thread = threading.Thread(target=self._measure, args=(start_s, end_s), daemon=True)
        self._thread.start()

    def _measure(self, start_s: float, end_s: float) -> None:
        time.sleep(start_s)
        total0, idle0 = _machine_ticks()
        time.sleep(end_s - start_s)
        total1, idle1 = _machine_ticks()
        self.share = 1 - (idle1 - idle0) / max(1, total1 - total0)

    def result(self) -> float | None:
        self._thread.join(timeout=1)
        return self.share


def loadkit_run(scenario: dict[str, Any], target: str, *args: str, timeout: float = 600,
                root: Path = ROOT) -> dict[str, Any]:
    """Run ``loadkit run`` on a scenario document; returns its summary.json plus the wall time (``_wall_s``)
    and the CPU time of loadkit's processes, workers included (``_cpu_s``). ``root``: the source tree whose
    loadkit runs (another checkout, for side-by-side comparisons)."""
    folder = Path(tempfile.mkdtemp(prefix="loadkit-bench-"))
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    out = folder / "run"
    started = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([sys.executable, "-m", "loadkit", "run", str(path), "--target", target, "--out", str(out),
                             "--quiet", *args], cwd=root, capture_output=True, text=True, timeout=timeout,
                            env=dict(os.environ, PYTHONPATH=str(root)))
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not (out / "summary.json").exists():
        raise RuntimeError(f"loadkit run failed: {result.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    summary["_wall_s"] = wall
    summary["_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary["_run_dir"] = str(out)
    return summary


def locust_run(locustfile: str, host: str, users: int, seconds: int, *args: str) -> dict[str, Any]:
    """Plain Locust, headless, in one process; returns the aggregated row of its stats CSV."""
    folder = Path(tempfile.mkdtemp(prefix="locust-bench-"))
    (folder / "locustfile.py").write_text(locustfile)
    subprocess.run([sys.executable, "-m", "locust", "-f", str(folder / "locustfile.py"), "--headless",
                    "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", host, "--only-summary",
                    "--csv", str(folder / "stats"), "--loglevel", "WARNING", *args],
                   cwd=folder, capture_output=True, text=True, timeout=seconds + 120)
    with (folder / "stats_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    aggregated = dict(rows["Aggregated"])
    with (folder / "stats_stats_history.csv").open() as handle:
        history = [row for row in csv.DictReader(handle) if row["Name"] == "Aggregated"]
    if history:
        first = int(history[0]["Timestamp"])
        steady = [float(r["Requests/s"]) for r in history if 3 <= int(r["Timestamp"]) - first <= seconds - 2]
        aggregated["steady_rps"] = median(steady) if steady else float(aggregated["Requests/s"])
    return aggregated


def steady_rps(run_dir: str, seconds: float) -> float:
    """Median requests per second of a loadkit run, over its steady seconds (3 s in to 2 s before the end)."""
    per_second: dict[int, int] = {}
    for line in Path(run_dir, "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        per_second[row["t"]] = per_second.get(row["t"], 0) + row["requests"]
    steady = [per_second.get(t, 0) for t in range(3, int(seconds) - 2)]
    return median([float(v) for v in steady])


def lateness_by_second(run_dir: str) -> dict[int, float]:
    """Arrival lateness p99 (ms) of each second of a loadkit run, from its arrivals file (a second's rows
    from several flushes or workers merged first)."""
    from loadkit.histogram import Histogram

    merged: dict[int, Histogram] = {}
    for line in Path(run_dir, "arrivals.jsonl").read_text().splitlines():
        row = json.loads(line)
        merged.setdefault(row["t"], Histogram()).merge(Histogram.from_dict(row["lateness"]))
    return {t: h.percentile(0.99) / 1000 for t, h in sorted(merged.items()) if h.counts}


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def command() -> str:
    """How this benchmark was invoked, as docs/benchmarks.md quotes it."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return " ".join(["python", str(shown), *sys.argv[1:]])


def save(name: str, data: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/NAME.json`` with the date, the machine and the command."""
    RESULTS.mkdir(exist_ok=True)
    data = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(), "command": command(),
            **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    return path
