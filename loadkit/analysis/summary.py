"""summary.json's parts (schema_version 1), serialised explicitly from the analysis's types.

One function per part; docs/run-directory.md lists the fields. Floats are rounded as the contract has
always had them (``run`` durations to 0.1, ``traffic`` to 0.01, the rest to 0.001); a value that is an
int stays one. The report model (``report/model.py``) assembles the document from these parts.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..held import Capacity
from ..run_meta import RunMeta, thawed_json
from ..search import Bracket, ended_words
from ..traffic import Plan
from .model import Recovery, Totals, Traffic


def number(value: Any, digits: int = 3) -> float | None:
    """A JSON-safe rounded float (NaN, infinities and None become None)."""
    if value is None:
        return None
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        return None
    return round(x, digits)


def _rounded(value: Any, digits: int) -> Any:
    """Floats rounded (see :func:`number`); anything else (an int, a string, None) as it is."""
    return number(value, digits) if isinstance(value, float) else value


def run_part(meta: RunMeta, plan: Plan) -> dict[str, Any]:
    """``run``: what ran, where, when and how (from run.json and the plan)."""
    return {
        "scenario": meta.scenario, "target": meta.target, "started_at": meta.started_at,
        "duration_s": number(meta.duration_s, 1), "planned_duration_s": number(plan.duration, 1),
        "complete": meta.complete, "interrupted": meta.interrupted, "workers": thawed_json(meta.workers),
        "model": plan.model, "demo": meta.demo, "loadkit_version": meta.loadkit_version,
        "locust_version": meta.locust_version, "python_version": meta.python_version, "machine": meta.machine,
        "generator": thawed_json(meta.generator), "preflight": thawed_json(meta.preflight),
        "notes": thawed_json(meta.notes), "verify_tls": meta.verify_tls, "connections": meta.connections,
    }


def traffic_part(traffic: Traffic) -> dict[str, Any]:
    """``traffic``: planned and delivered arrivals, lateness, and the generator's health when measured."""
    t = traffic
    out: dict[str, Any] = {
        "planned_arrivals": t.planned_arrivals, "delivered_arrivals": t.delivered_arrivals,
        "peak_planned_per_s": t.peak_planned_per_s, "probe_per_s": t.probe_per_s,
        "peak_delivered_per_s": t.peak_delivered_per_s, "probe_delivered_per_s": t.probe_delivered_per_s,
        "late_arrivals": t.late_arrivals, "dropped_arrivals": t.dropped_arrivals,
        "lateness_p99_ms": t.lateness_p99_ms, "lateness_max_ms": t.lateness_max_ms,
        "delivered_share": t.delivered_share, "model": t.model, "cut_short": t.cut_short,
        "cut_short_at": thawed_json(t.cut_short_at),
    }
    if t.generator is not None:
        g = t.generator
        out.update({"hiccup_max_ms": g.hiccup_max_ms, "paused_seconds": g.paused_seconds,
                    "generator_cpu_max": g.generator_cpu_max, "saturated_seconds": g.saturated_seconds})
    return {k: _rounded(v, 2) for k, v in out.items()}


def totals_part(totals: Totals) -> dict[str, Any]:
    """``totals``: requests, failures, latency (ms), bytes, Apdex and failures by class over the run."""
    t = totals
    out = {
        "requests": t.requests, "failures": t.failures, "error_rate": t.error_rate, "rps_peak": t.rps_peak,
        "p50_ms": t.p50_ms, "p90_ms": t.p90_ms, "p95_ms": t.p95_ms, "p99_ms": t.p99_ms, "max_ms": t.max_ms,
        "mean_ms": t.mean_ms, "ok_p50_ms": t.ok_p50_ms, "ok_p95_ms": t.ok_p95_ms, "ok_p99_ms": t.ok_p99_ms,
        "bytes": t.bytes, "apdex": t.apdex, "shedding_errors": t.shedding_errors,
        "collapse_errors": t.collapse_errors, "other_errors": t.other_errors,
    }
    return {k: _rounded(v, 3) for k, v in out.items()}


def capacity_part(capacity: Capacity, search: Bracket | None = None) -> dict[str, Any]:
    """``capacity`` (without ``figure``, which the report adds): the limit found, or the most tried; with a
    capacity search's bracket under ``search``."""
    c = capacity
    out: dict[str, Any] = {"found": c.found, "arrivals_per_s": c.arrivals_per_s, "requests_per_s": c.requests_per_s,
                           "limited_by": c.limited_by, "broke_at_s": c.broke_at_s, "headroom": c.headroom,
                           "tested_up_to_per_s": c.tested_up_to_per_s}
    if c.found:
        out["broke_at_per_s"] = c.broke_at_per_s
    rounded = {k: _rounded(v, 3) for k, v in out.items()}
    if search is not None:
        rounded["search"] = search_part(search)
    return rounded


def search_part(search: Bracket) -> dict[str, Any]:
    """``capacity.search``: the bracket a capacity search found, why it stopped (``ended_by``, and in words),
    the rate it is judged against, and its levels (``held`` is null for a level that was not judged)."""
    return {"last_good_per_s": number(search.last_good_per_s), "first_broken_per_s": number(search.first_broken_per_s),
            "precision": number(search.precision, 4), "width": number(search.width, 4),
            "converged": search.converged, "ended_by": search.ended_by, "ended_because": ended_words(search),
            "required_per_s": number(search.required_per_s),
            "levels": [{"rate_per_s": number(lv.rate), "start_s": number(lv.start_s, 1),
                        "held": lv.held if lv.judged else None,
                        "not_judged": lv.not_judged.words if lv.not_judged is not None else None}
                       for lv in search.levels]}


def recovery_part(recovery: Recovery) -> dict[str, Any]:
    """``recovery``: whether and how fast the site was healthy again after the load fell."""
    r = recovery
    out: dict[str, Any] = {"recovered": r.recovered, "seconds": r.seconds, "measured": r.measured}
    if r.measured:
        out["window_s"] = r.window_s
    return {k: _rounded(v, 3) for k, v in out.items()}


def phases_part(phases: pd.DataFrame) -> list[dict[str, Any]]:
    """``phases``: one object per phase of the plan (the analysis's phase table, rounded)."""
    return [{k: _rounded(v, 3) for k, v in row.items()} for row in phases.to_dict("records")]


def broke_first_part(broke_first: pd.DataFrame) -> list[dict[str, Any]]:
    """``broke_first``: what broke first, earliest first (observed values and limits to 0.00001)."""
    return [{k: _rounded(v, 5 if k in ("observed", "limit") else 3) for k, v in row.items()}
            for row in broke_first.to_dict("records")]


def offsite_part(offsite: pd.DataFrame) -> list[dict[str, Any]]:
    """``offsite_redirects``: per endpoint, redirects to another host (not followed) and one example."""
    return [{"endpoint": str(r["endpoint"]), "count": int(r["count"]), "example": str(r["example"])}
            for r in offsite.to_dict("records")]


__all__ = ["capacity_part", "number", "recovery_part", "run_part", "search_part", "totals_part", "traffic_part"]
