"""A distributed run across separate hosts: the target, the master and two workers each in a network
namespace of its own (tests/netns.py), with its own address from 198.18.0.0/15, its own hostname and no
loopback (left down: no process can reach another through it). Root and `ip netns` are needed; elsewhere
these tests are skipped with the reason.

Checked: the site's own request count equals loadkit's; a worker whose clock is 30 s ahead (Debian's
`faketime` on its process) still yields per-second counts aligned with the site's own per-second log; a
worker killed mid-run makes the run inconclusive, with the time it was lost. The same holds for
`loadkit run --master` with `loadkit worker`, and for Locust's own command line with loadkit's entry.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, read_summary, rehearsal_requests, write_scenario
from tests.netns import Hosts, unavailable

pytestmark = [pytest.mark.integration, pytest.mark.netns, pytest.mark.timing]

PORT = 8080
MASTER_PORT = 5557
FAKED_S = 30  # how far ahead worker 1's clock runs


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    why = unavailable()
    if why:
        pytest.skip(f"separate hosts in network namespaces: {why}")
    if shutil.which("faketime") is None:
        pytest.skip("Debian's faketime is not installed (.ci/run installs it)")
    with Hosts(["target", "master", "w0", "w1"]) as built:
        yield built


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOADKIT_", "LOCUST_"))}
    return {**env, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), **extra}


def _start_target(hosts: Hosts, tmp_path: Path) -> Path:
    log = tmp_path / "target-requests.log"
    hosts.popen("target", [sys.executable, str(ROOT / "tests" / "stampserver.py"), hosts.address["target"],
                           str(PORT), str(log)], log=tmp_path / "target.out", env=_env(tmp_path))
    deadline = time.monotonic() + 20
    while "listening" not in (tmp_path / "target.out").read_text(errors="replace"):
        assert time.monotonic() < deadline, "the target did not start"
        time.sleep(0.1)
    return log


def _launch(launcher: str, hosts: Hosts, tmp_path: Path, scenario: Path, out: Path) -> tuple[Any, list[Any]]:
    """The master and two workers, each on its own host; worker 1's clock FAKED_S ahead."""
    target = f"http://{hosts.address['target']}:{PORT}"
    master_ip = hosts.address["master"]
    env = _env(tmp_path)
    if launcher == "loadkit":
        master = hosts.popen("master", [sys.executable, "-m", "loadkit", "run", str(scenario), "--target", target,
                                        "--master", "--bind", master_ip, "--master-port", str(MASTER_PORT),
                                        "--expect-workers", "2", "--out", str(out)],
                             log=tmp_path / "master.log", env=env)
        worker = [sys.executable, "-m", "loadkit", "worker", "--master", f"{master_ip}:{MASTER_PORT}"]
    else:
        entry = str(ROOT / "loadkit" / "run" / "locust_entry.py")
        master = hosts.popen("master", [sys.executable, "-m", "locust", "-f", entry, "--master", "--headless",
                                        "--only-summary", "--master-bind-host", master_ip, "--master-bind-port",
                                        str(MASTER_PORT), "--expect-workers", "2", "--host", target],
                             log=tmp_path / "master.log",
                             env={**env, "LOADKIT_SCENARIO": str(scenario), "LOADKIT_OUT": str(out)})
        worker = [sys.executable, "-m", "locust", "-f", entry, "--worker", "--master-host", master_ip,
                  "--master-port", str(MASTER_PORT)]
    workers = [hosts.popen(name, worker, log=tmp_path / f"{name}.log", env=env,
                           wrap=["faketime", "-f", f"+{FAKED_S}s"] if name == "w1" else [])
               for name in ("w0", "w1")]
    return master, workers


def _logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(tmp_path.glob("*.log"))
                     if p.name != "target-requests.log")


def _per_second(out: Path) -> Counter[int]:
    counts: Counter[int] = Counter()
    for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        counts[int(row["t"])] += int(row["requests"])
    return counts


@pytest.mark.parametrize("launcher", ["loadkit", "locust"])
@pytest.mark.timing(seconds=19)
def test_counts_and_per_second_curves_match_the_site_across_hosts_with_a_clock_30_s_ahead(
        launcher: str, hosts: Hosts, tmp_path: Path) -> None:
    requests_log = _start_target(hosts, tmp_path)
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "hosts", "request_timeout": "5s",
        # a step up (10/s, then 30/s), so a curve shifted by a second or more would not line up
        "traffic": {"profile": "steps", "start": "10/s", "step": "20/s", "step_duration": "4s", "steps": 2},
        "journeys": [{"name": "j", "steps": [{"get": "/page"}]}]})
    out = tmp_path / "run"
    master, workers = _launch(launcher, hosts, tmp_path, scenario, out)
    assert master.wait(timeout=120) == 0, _logs(tmp_path)
    for worker in workers:
        assert worker.wait(timeout=30) == 0, _logs(tmp_path)
    summary = read_summary(out)
    assert summary["verdict"] == "survives", summary["reasons"]
    assert summary["run"]["workers"] == 2
    assert summary["traffic"]["delivered_arrivals"] == summary["traffic"]["planned_arrivals"] == 160
    stamps = [float(line.split()[0]) for line in requests_log.read_text().splitlines()]
    # the site saw the load, the master's preflight, the rehearsal's visit, and each worker's own check of
    # the target (a worker on another host checks it can reach the target before any load)
    assert len(stamps) == summary["totals"]["requests"] + 1 + rehearsal_requests(out) + 2 == 160 + 1 + 1 + 2
    t0 = json.loads((out / "run.json").read_text())["t0"]  # the master's clock: the same as the site's
    site = Counter(math.floor(s - t0) for s in stamps if s >= t0)
    measured = _per_second(out)
    assert sum(site.values()) == sum(measured.values()) == 160
    assert max(measured) < 10 and min(measured) >= 0, measured  # nothing keyed 30 s off by worker 1's clock
    # a request is keyed by the second it started; the site logs it a few ms later: a boundary may differ
    for second in range(9):
        assert abs(site[second] - measured[second]) <= 3, (second, sorted(site.items()), sorted(measured.items()))


@pytest.mark.parametrize("launcher", ["loadkit", "locust"])
@pytest.mark.timing(seconds=27)
def test_a_worker_killed_mid_run_across_hosts_makes_the_run_inconclusive_with_the_time(
        launcher: str, hosts: Hosts, tmp_path: Path) -> None:
    _start_target(hosts, tmp_path)
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "hosts", "request_timeout": "5s",
        "traffic": {"profile": "constant", "rate": "10/s", "duration": "16s"},
        "journeys": [{"name": "j", "steps": [{"get": "/page"}]}]})
    out = tmp_path / "run"
    master, workers = _launch(launcher, hosts, tmp_path, scenario, out)
    deadline = time.monotonic() + 60
    while not (out / "metrics.jsonl").exists():
        assert time.monotonic() < deadline and master.poll() is None, _logs(tmp_path)
        time.sleep(0.2)
    time.sleep(3)
    workers[0].send_signal(signal.SIGKILL)
    assert master.wait(timeout=120) == 3, _logs(tmp_path)
    summary = read_summary(out)
    assert summary["verdict"] == "inconclusive"
    lost = [r for r in summary["reasons"] if "lost at" in r]
    assert lost, summary["reasons"]
    seconds = int(lost[0].split("lost at ")[1].split(" s")[0])
    assert 2 <= seconds <= 12, lost
    workers[1].wait(timeout=30)
