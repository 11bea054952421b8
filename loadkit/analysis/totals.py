"""The run's totals (requests, latency, errors, Apdex) and what traffic was planned and delivered."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..aggregate import Exploded
from ..data import RunData
from ..failures import ErrorClass
from ..held import WINDOW_S
from ..traffic import PhaseName
from .measurements import Measurements, metric_value, row_at
from .model import Totals, Traffic
from .seconds import generator_health, rolling_max


def totals(meas: Measurements, seconds: pd.DataFrame, apdex_t_ms: float) -> Totals:
    """Requests, failures, error rate, percentiles, bytes, Apdex and failures per error class over the run."""
    overall = meas.by(pd.Series("all", index=meas.frame.index, name="all"), apdex_t_ms)
    orow = row_at(overall, "all")

    def errors(cls: ErrorClass) -> int:
        return int(seconds[cls.value].sum())

    return Totals(
        requests=int(seconds["requests"].sum()), failures=int(seconds["failures"].sum()),
        error_rate=metric_value(orow, "error_rate") or 0.0,
        rps_peak=float(seconds["requests"].rolling(WINDOW_S, min_periods=1).mean().max() or 0.0),
        p50_ms=metric_value(orow, "p50"), p90_ms=metric_value(orow, "p90"), p95_ms=metric_value(orow, "p95"),
        p99_ms=metric_value(orow, "p99"), max_ms=metric_value(orow, "max"), mean_ms=metric_value(orow, "mean"),
        ok_p50_ms=metric_value(orow, "ok_p50"), ok_p95_ms=metric_value(orow, "ok_p95"),
        ok_p99_ms=metric_value(orow, "ok_p99"), bytes=int(seconds["bytes"].sum()), apdex=metric_value(orow, "apdex"),
        shedding_errors=errors(ErrorClass.SHEDDING), collapse_errors=errors(ErrorClass.COLLAPSE),
        other_errors=errors(ErrorClass.OTHER))


def traffic(meas: Measurements, run: RunData, seconds: pd.DataFrame, duration: float) -> Traffic:
    """Planned and delivered arrivals (or users), their peaks, lateness and the generator's health."""
    plan, judged = meas.plan, meas.judged
    ran = min(float(run.meta.load_s or duration), plan.duration)
    planned_total = plan.integral(0, ran)
    started = int(seconds["started"].sum())
    a = run.arrivals
    lateness = Exploded.of(list(a["lateness"])) if not a.empty else None
    lat_stats = lateness.stats(np.zeros(len(a), dtype=np.int64), 1).iloc[0] if lateness is not None and len(a) \
        else None
    closed = plan.model == "users"
    # Users are counted (a level, seen each second); arrivals are a rate, smoothed over 5 s.
    peak_of: Callable[[set[str]], float] = (
        (lambda phases: float(seconds["users"].where(seconds["phase"].isin(phases)).max() or 0.0)) if closed
        else (lambda phases: rolling_max(seconds, "started", phases)))
    return Traffic(
        # closed model: "arrivals" are journeys begun; the plan is a number of users, not arrivals
        planned_arrivals=None if closed else round(planned_total), delivered_arrivals=started,
        peak_planned_per_s=float(plan.planned_peak), probe_per_s=plan.probe_level,
        peak_delivered_per_s=peak_of(judged),
        probe_delivered_per_s=peak_of({PhaseName.PROBE.value}) if plan.probe_level else None,
        late_arrivals=int(seconds["late"].sum()), dropped_arrivals=int(seconds["dropped"].sum()),
        lateness_p99_ms=None if lat_stats is None or np.isnan(lat_stats["p99"]) else float(lat_stats["p99"]),
        lateness_max_ms=None if lat_stats is None or np.isnan(lat_stats["max"]) else float(lat_stats["max"]),
        delivered_share=(started / planned_total if planned_total >= 1 else 1.0) if not closed else
        (peak_of(judged) / plan.planned_peak if plan.planned_peak else 1.0),
        model=plan.model, cut_short=run.meta.cut_short, cut_short_at=run.meta.cut_short_at,
        generator=generator_health(seconds))


__all__ = ["totals", "traffic"]
