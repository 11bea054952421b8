"""The run directory's disk space: what a run will write (estimated from its plan, checked before any
load), and the space held through the load for the last, most important writes (docs/run-directory.md,
"Disk space")."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import DiskFullError, OutputError, is_disk_full


# Space held in the run directory through the load and given back when run.json or summary.json does not
# fit at the end: a disk filled by another writer still gets the run's verdict and why.
RESERVE = ".disk-reserve"
RESERVE_BYTES = 128 * 1024


def hold_reserve(run_dir: Path) -> None:
    """Hold :data:`RESERVE_BYTES` in the run directory (taken just before the load) until
    :func:`release_reserve`."""
    try:
        with (run_dir / RESERVE).open("wb") as handle:  # real blocks (zeros), not a sparse file
            handle.write(bytes(RESERVE_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        (run_dir / RESERVE).unlink(missing_ok=True)
        if is_disk_full(exc):
            raise DiskFullError(f"cannot write the run directory {run_dir}: the disk is full. No load was sent.",
                                "free some disk space, or pass --out on a disk with room") from None
        raise OutputError(f"cannot write the run directory {run_dir} ({exc.strerror or exc}).",
                          "pass --out with a writable folder") from None


def release_reserve(run_dir: Path) -> bool:
    """Give back the space held for the last, most important writes; whether there was any."""
    try:
        (run_dir / RESERVE).unlink()
        return True
    except OSError:
        return False


# What a run writes, for the disk check before the load (docs/run-directory.md, "Disk space"). A metrics
# row is one (second, endpoint) from one load process: its fields plus two histograms whose size grows with
# the distinct latency buckets that second filled (measured: ~850 bytes at 50 requests/s, 61 MB for an hour
# over 20 endpoints at 1,000/s, docs/benchmarks.md).
ROW_BASE_BYTES = 250
BUCKET_BYTES = 16  # one bucket's index and count, in both histograms
MAX_BUCKETS = 800  # distinct buckets a second fills in practice (latencies over three orders of magnitude)
ARRIVAL_ROW_BYTES = 400  # per second (with its lateness histogram)
ERROR_SAMPLE_BYTES = 64 * 1024  # per endpoint: capped error samples with their body snippets
REPORT_BYTES = 2 * 2**20  # report.html (uPlot, styles), the other reports, logs and metadata
REPORT_BYTES_PER_POINT = 120  # per second and series in the report's charts
DRAIN_S = 60  # the plan's end to the last response
DISK_MARGIN = 1.5


def estimate_run_bytes(seconds: float, endpoints: int, requests_per_s: float, processes: int = 1) -> int:
    """Disk a run needs for its data files and reports, with margin: ``seconds`` of plan, ``endpoints``
    named endpoints, ``requests_per_s`` at the plan's highest level, over ``processes`` load processes."""
    secs = int(seconds) + 1 + DRAIN_S
    endpoints, processes = max(1, endpoints), max(1, processes)
    per_row = max(1.0, requests_per_s / endpoints / processes)
    row = ROW_BASE_BYTES + BUCKET_BYTES * min(per_row, MAX_BUCKETS)
    data = secs * endpoints * processes * row + secs * ARRIVAL_ROW_BYTES * processes + endpoints * ERROR_SAMPLE_BYTES
    reports = REPORT_BYTES + secs * (endpoints + 4) * REPORT_BYTES_PER_POINT
    return int((data + reports) * DISK_MARGIN)


def _mb(size: float) -> str:
    return f"{size / 2**20:.1f} MB" if size < 10 * 2**20 else f"{size / 2**20:,.0f} MB"


def check_disk_space(path: Path, needed_bytes: int) -> None:
    """Refuse with :class:`DiskFullError` when the disk ``path`` is (or will be) on has less free space
    than ``needed_bytes``."""
    if needed_bytes <= 0:
        return
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if os.statvfs(existing).f_flag & os.ST_RDONLY:
            return  # a read-only disk is not a full one: the write check that follows names it
        free = shutil.disk_usage(existing).free
    except OSError:
        return  # cannot tell: the write check that follows still catches a full disk
    if free < needed_bytes:
        raise DiskFullError(f"only {_mb(free)} free on the disk of {path}; this run needs about "
                            f"{_mb(needed_bytes)} for its data and reports. No load was sent.",
                            "free some disk space, pass --out on a disk with room, or shorten the run "
                            "(--duration-scale)")


__all__ = ["RESERVE", "RESERVE_BYTES", "check_disk_space", "estimate_run_bytes", "hold_reserve", "release_reserve"]
