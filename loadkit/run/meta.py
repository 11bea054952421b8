"""``run.json``: the run's metadata, written as the load starts and completed once it ends."""

from __future__ import annotations

import os
import platform
import socket
import time
from datetime import datetime, UTC
from typing import Any

from .. import data as rundata
from .._version import __version__
from ..errors import DiskFullError
from ..history import ci_context
from ..redaction import redact_url
from .job import RunJob
from .outcome import RunOutcome

__all__ = ["end_meta", "start_meta", "write_end_meta"]


def start_meta(job: RunJob, preflight_check: dict[str, Any], rehearsal: dict[str, Any]) -> dict[str, Any]:
    """``run.json`` as the load starts (``complete: false`` until it ends)."""
    plan = job.plan
    return {
        "scenario": job.scenario.name, "target": redact_url(job.target), "demo": job.options.demo,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "t0": time.time(), "planned_duration_s": plan.duration, "duration_s": 0.0,
        "complete": False, "interrupted": False, "workers": max(1, job.distribution.expect_workers),
        "model": plan.model, "loadkit_version": __version__, "locust_version": _locust_version(),
        "python_version": platform.python_version(), "machine": f"{platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores", "hostname": socket.gethostname(),
        "preflight": preflight_check,
        "ci": ci_context(os.environ),  # the commit and branch a CI job tested, for the run history
        "rehearsal": rehearsal,
    }


def end_meta(job: RunJob, outcome: RunOutcome) -> dict[str, Any]:
    """What ``run.json`` learns once the load has ended."""
    problems = [outcome.saturated] if outcome.saturated else []  # lost workers: verdict/common.py names them
    disk = [f"The run cannot be judged: {outcome.disk_full}."] if outcome.disk_full else []
    return {
        "t0": outcome.started_at, "duration_s": round(outcome.duration_s, 3), "load_s": round(outcome.load_s, 3),
        "complete": not outcome.interrupted and outcome.aborted is None and not outcome.disk_full,
        "interrupted": outcome.interrupted,
        "generator": {"cpu_percent_max": round(outcome.cpu_percent_max, 1), "cut_short": outcome.cut_short,
                      "cut_short_at": outcome.cut_short_at,
                      "started_arrivals": outcome.started_arrivals,
                      "dropped_arrivals": outcome.dropped_arrivals, "late_arrivals": outcome.late_arrivals},
        "notes": outcome.notes + ([] if job.scenario.verify_tls else [
            "TLS certificates were not checked (verify_tls: false): this run cannot vouch for the site's "
            "certificate."]),
        "verify_tls": job.scenario.verify_tls, "connections": job.scenario.connections,
        "aborted": outcome.aborted, "workers": outcome.workers,
        "lost_workers": outcome.lost_workers,
        "inconclusive_reasons": [f"The load generator could not be trusted: {p}." for p in problems] + disk,
        **({"disk_full": outcome.disk_full} if outcome.disk_full else {}),
        **({"search": outcome.search} if outcome.search is not None else {}),
    }


def write_end_meta(job: RunJob, meta: dict[str, Any], outcome: RunOutcome) -> None:
    """Rewrite ``run.json`` with the outcome; on a full disk, into the space held for it."""
    run_dir = job.out
    meta.update(end_meta(job, outcome))
    try:
        rundata.write_json_atomic(run_dir / rundata.RUN_META, meta)
    except DiskFullError:
        outcome.disk_full = outcome.disk_full or "the disk of the run directory filled up at the end of the run"
        if rundata.release_reserve(run_dir):  # the space held for this write and summary.json
            meta["disk_full"] = outcome.disk_full
            try:
                rundata.write_json_atomic(run_dir / rundata.RUN_META, meta)
            except DiskFullError:
                pass  # the first run.json stays (complete: false): the reports say the run is incomplete


def _locust_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("locust")
    except PackageNotFoundError:
        return "unknown"
