"""Phases and scopes: the plan's phases as a table, and the scopes an SLO is judged over.

A scope is ``run`` (every phase before the headroom probe), ``peak`` (the peak phase, or a steps
profile's highest step), ``probe`` (the probe's ramp and hold) or a phase an SLO names.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..held import PEAK, PROBE, RUN
from ..traffic import Phase, Plan, is_probe, judged_phases
from .measurements import Measurements, metric_value, row_at


def phase_table(meas: Measurements, seconds: pd.DataFrame) -> pd.DataFrame:
    """Per phase: start, end, level, level_from, level_to, planned, started, requests, error_rate, p95."""
    plan = meas.plan
    by_phase = meas.by(meas.frame["phase"].rename("phase"))
    rows: list[dict[str, Any]] = []
    for ph in plan.phases:
        row = row_at(by_phase, ph.name)
        inside = seconds.loc[int(ph.start):math.ceil(ph.end) - 1]
        rows.append({"phase": ph.name, "start": ph.start, "end": ph.end, "level": ph.level,
                     "level_from": plan.rate(ph.start + 1e-6),
                     "level_to": plan.rate(max(ph.start, ph.end - 1e-6)),
                     "planned": plan.integral(ph.start, ph.end), "started": int(inside["started"].sum()),
                     "requests": int(row["requests"]) if row is not None else 0,
                     "error_rate": metric_value(row, "error_rate"), "p95": metric_value(row, "p95")})
    return pd.DataFrame(rows)


def peak_phase(plan: Plan) -> str | None:
    """The phase judged as "the peak" (None: the whole run is the peak, and "run" covers it)."""
    names = [p.name for p in plan.phases]
    if PEAK in names:
        return PEAK
    candidates = [p for p in plan.phases if not is_probe(p.name)]
    if len(candidates) <= 1:
        return None  # the whole run is the peak: "run" covers it
    return max(candidates, key=lambda p: (p.level, p.start)).name


def probe_phases(plan: Plan) -> tuple[str, ...]:
    """The phases of the headroom probe (its ramp and its hold)."""
    return tuple(p.name for p in plan.phases if is_probe(p.name))


def default_scopes(plan: Plan) -> list[str]:
    """The scopes an SLO without a phase is judged over: run, the peak (if any) and the probe (if any)."""
    peak = peak_phase(plan)
    return ([RUN] + ([peak] if peak and peak in {p.name for p in plan.phases} else [])
            + ([PROBE] if probe_phases(plan) else []))


def scope_phases(plan: Plan, scope: str) -> list[Phase]:
    """The plan's phases inside ``scope``."""
    judged = set(judged_phases(plan))
    return [p for p in plan.phases if (p.name in judged if scope == RUN else
                                       is_probe(p.name) if scope == PROBE else p.name == scope)]


def scope_start(plan: Plan, scope: str) -> float:
    """When ``scope`` starts (0 for a scope without phases)."""
    inside = scope_phases(plan, scope)
    return float(inside[0].start) if inside else 0.0


def scope_end(plan: Plan, scope: str) -> float:
    """When ``scope`` ends (the plan's end for a scope without phases)."""
    inside = scope_phases(plan, scope)
    return float(inside[-1].end) if inside else plan.duration


__all__ = ["PEAK", "PROBE", "RUN", "default_scopes", "peak_phase", "phase_table", "probe_phases", "scope_end",
           "scope_phases", "scope_start"]
