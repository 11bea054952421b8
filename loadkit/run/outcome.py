"""Plain results of the run stage (no locust here, so callers can import them freely)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Progress:
    """A live snapshot for the progress view."""

    elapsed_s: float
    total_s: float
    phase: str
    planned_per_s: float
    delivered_per_s: float
    rps: float
    p95_ms: float | None
    error_rate: float | None
    in_flight: int
    requests: int
    failures: int


@dataclass
class RunOutcome:
    """What the run stage reports besides the data files."""

    started_at: float
    duration_s: float
    load_s: float  # seconds of the plan that were sent (the whole plan unless stopped early)
    interrupted: bool
    cut_short: int  # visitors still in flight when the drain timeout ended them
    workers: int
    requests: int
    failures: int
    started_arrivals: int
    dropped_arrivals: int
    late_arrivals: int
    cpu_percent_max: float
    notes: list[str] = field(default_factory=list)
    aborted: str | None = None  # why safety.abort_when stopped the load
    saturated: str | None = None  # why the load generator could not be trusted
    lost_workers: list[str] = field(default_factory=list)  # "worker 1 lost at 12 s"
    disk_full: str | None = None  # when the disk filled up and the load was stopped
    # where the cut-short visitors stood: [{journey, step_index, step, visitors}] (run/walking.py)
    cut_short_at: list[dict[str, Any]] = field(default_factory=list)
    # a capacity search: why it stopped, {ended_by, level, reason, kind?} (run/searching.py); None for other plans
    search: dict[str, Any] | None = None
