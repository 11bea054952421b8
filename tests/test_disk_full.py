"""Out of disk: refused before the load when the disk is too small for the run's plan; when the disk fills
during or after the load, the reports that fit are written (most important first), the missing ones are named,
and the exit code is 4. The disks are real: a small tmpfs mounted for each test (root only)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from loadkit.data import estimate_run_bytes
from loadkit.demo import DemoConfig
from loadkit.errors import ExitCode
from loadkit.report import REPORT_FILES
from tests.helpers import ROOT, read_summary, run_cli, write_scenario

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount tmpfs filesystems of a given size (``"256k"``, ``"8m"``); unmounted at the end of the test."""
    mounts: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"disk{len(mounts)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here (needs root and CAP_SYS_ADMIN): {done.stderr.strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` with a file until it is full, then give back ``leave`` bytes."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for chunk in (1 << 16, 1 << 12, 1):
            while True:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)


def steady(seconds: int, rate: int = 10) -> dict[str, Any]:
    return {"name": "steady", "request_timeout": "5s",
            "traffic": {"profile": "constant", "rate": f"{rate}/s", "duration": f"{seconds}s"},
            "journeys": [{"name": "home", "steps": [{"get": "/"}]}],
            "slos": [{"metric": "error_rate", "below": "1%"}],
            "verdict": {"headroom_probe": False, "recovery_within": "2s"}}


def start_run(scenario: Path, target: str, out: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "loadkit", "run", str(scenario), "--target", target, "--out",
                             str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_the_estimate_covers_a_measured_hour_without_refusing_it_tenfold() -> None:
    # docs/benchmarks.md: an hour over 20 endpoints at 1,000 requests/s wrote 61 MB of metrics.jsonl
    estimate = estimate_run_bytes(3600, 20, 1000.0)
    assert 61 * 2**20 < estimate < 250 * 2**20
    assert estimate_run_bytes(3600, 20, 1000.0, processes=4) > estimate  # one row per worker and second


def test_a_disk_too_small_for_the_plan_is_refused_before_any_load(tmp_path: Path, small_disk: Any,
                                                                   demo_factory: Any) -> None:
    site = demo_factory(DemoConfig())
    before = site.stats()["served"]
    disk = small_disk("256k")
    out = disk / "reports" / "run"
    result = run_cli("run", str(write_scenario(tmp_path / "s.yaml", steady(5))), "--target", site.url,
                     "--out", str(out), "--quiet", timeout=60)
    assert result.returncode == ExitCode.OUT_OF_DISK == 4, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "free on the disk" in lines[0] and "No load was sent" in lines[0] and "Fix:" in lines[0]
    assert os.listdir(disk) == []  # no run directory, not even its parent
    assert site.stats()["served"] == before


def test_reports_that_do_not_fit_are_named_and_summary_json_comes_first(tmp_path: Path, small_disk: Any,
                                                                        demo_factory: Any) -> None:
    site = demo_factory(DemoConfig())
    disk = small_disk("8m")
    out = disk / "run"
    proc = start_run(write_scenario(tmp_path / "s.yaml", steady(6)), site.url, out)
    wait_for(out / "metrics.jsonl")  # the load is under way: the check before it passed
    fill(disk, leave=48 * 1024)  # the reported case: 48 KB free, report.html (~80 KB) cannot fit
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 4, stdout + stderr
    assert "Traceback" not in stderr, stderr
    summary = read_summary(out)
    assert summary["verdict"] == "survives", summary["reasons"]  # the data all fitted: the verdict stands
    assert "report.html" in summary["missing_files"]
    assert not (out / "report.html").exists()
    error = [line for line in stderr.splitlines() if line.startswith("loadkit: error:")]
    assert len(error) == 1 and "report.html" in error[0] and f"loadkit report {out}" in error[0], stderr
    assert "report:" not in stdout  # no pointer to a report that is not there
    for name in summary["missing_files"]:
        assert name in error[0]
    assert (out / "junit.xml").exists() and (out / "summary.md").exists()  # smaller ones after it still fit
    assert not (out / ".disk-reserve").exists()


def test_a_disk_that_fills_during_the_load_stops_it_and_names_every_missing_file(tmp_path: Path, small_disk: Any,
                                                                                   demo_factory: Any) -> None:
    site = demo_factory(DemoConfig())
    before = site.stats()["served"]
    disk = small_disk("8m")
    out = disk / "run"
    proc = start_run(write_scenario(tmp_path / "s.yaml", steady(30)), site.url, out)
    wait_for(out / "metrics.jsonl")
    fill(disk)
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 4, stdout + stderr
    assert "Traceback" not in stderr and "Logging error" not in stderr, stderr
    served = site.stats()["served"] - before - 2  # the preflight's request and the rehearsal's visit are not load
    # Appends still fit in the last page of each data file for a while; the first that does not stops the load.
    assert served < 250, f"{served} of the 300 planned requests were sent: the load went on"
    assert stdout.startswith("INCONCLUSIVE"), stdout  # a verdict is still given, from what was recorded
    error = [line for line in stderr.splitlines() if line.startswith("loadkit: error:")]
    assert len(error) == 1, stderr
    assert "filled up" in error[0] and "the load was stopped" in error[0]
    # The space the run held back keeps its verdict and why; whatever else did not fit is named.
    summary = read_summary(out)
    assert summary["verdict"] == "inconclusive" and summary["run"]["complete"] is False
    assert any("filled up" in reason for reason in summary["reasons"]), summary["reasons"]
    assert not any("generator" in reason for reason in summary["reasons"]), summary["reasons"]
    for name in REPORT_FILES:
        assert (out / name).exists() or (name in error[0] and name in summary["missing_files"]), (name, stderr)
    assert not (out / ".disk-reserve").exists()
    # What was sent but never recorded is at most the last few seconds (one flush, then the stop).
    assert 0 <= served - summary["totals"]["requests"] <= 50, (served, summary["totals"]["requests"])
