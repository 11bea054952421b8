"""Analysis: pandas over a run directory's data files -> frozen results.

Percentiles always come from merged histograms (never averages of percentiles). SLOs are observed over
the judged part of the run (everything before the headroom probe), over the peak, over the probe, and
over any phase an SLO names; the time an SLO first broke comes from 5-second windows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from .data import RunData
from .histogram import SUB_BUCKETS
from .scenario import Slo
from .traffic import Plan, judged_phases, plan_from_dict

WINDOW_S = 5
MIN_WINDOW_REQUESTS = 5  # a window with fewer requests cannot break a latency SLO on its own
QUANTILES = {"p50": 0.50, "p75": 0.75, "p90": 0.90, "p95": 0.95, "p99": 0.99}
DEFAULT_SLOS = (Slo(metric="p95", below="1s"), Slo(metric="error_rate", below="1%"))
_NB = 1 << 16  # bucket-index space, larger than any index the histogram produces


# --- vectorised histogram arithmetic -------------------------------------------------------------


def _bucket_values_ms(idx: np.ndarray) -> np.ndarray:
    """Vectorised :func:`loadkit.histogram.bucket_value`, in milliseconds."""
    idx = idx.astype(np.int64)
    shift = np.maximum(idx // SUB_BUCKETS - 1, 0)
    small = idx < 2 * SUB_BUCKETS
    sub = idx - shift * SUB_BUCKETS
    low = np.where(small, idx, sub << shift)
    width = np.where(small, 1, 1 << shift)
    return (low + (width - 1) / 2) / 1000.0


@dataclass(frozen=True)
class _Exploded:
    """All histogram buckets of a frame's rows, flattened once: (row, bucket index, count)."""

    row: np.ndarray
    idx: np.ndarray
    cnt: np.ndarray
    max_us: np.ndarray  # per row
    sum_us: np.ndarray  # per row

    @classmethod
    def of(cls, hists: Sequence[dict[str, Any]]) -> _Exploded:
        lens = np.fromiter((len(h["i"]) for h in hists), dtype=np.int64, count=len(hists))
        total = int(lens.sum())
        return cls(
            row=np.repeat(np.arange(len(hists), dtype=np.int64), lens),
            idx=np.fromiter(chain.from_iterable(h["i"] for h in hists), dtype=np.int64, count=total),
            cnt=np.fromiter(chain.from_iterable(h["c"] for h in hists), dtype=np.int64, count=total),
            max_us=np.fromiter((h.get("max", 0) for h in hists), dtype=np.int64, count=len(hists)),
            sum_us=np.fromiter((h.get("sum", 0) for h in hists), dtype=np.int64, count=len(hists)),
        )

    def stats(self, groups: np.ndarray, n_groups: int) -> pd.DataFrame:
        """Latency stats (ms) per group; ``groups[row]`` is a row's group (-1 leaves it out)."""
        out = pd.DataFrame(index=pd.RangeIndex(n_groups))
        g = groups[self.row]
        keep = g >= 0
        g, idx, cnt = g[keep], self.idx[keep], self.cnt[keep]
        key = g * _NB + idx
        uniq, inverse = np.unique(key, return_inverse=True)
        sums = np.bincount(inverse, weights=cnt).astype(np.int64)
        ug = uniq // _NB
        values = _bucket_values_ms(uniq % _NB)
        totals = np.bincount(ug, weights=sums, minlength=n_groups).astype(np.int64)
        cum = np.cumsum(sums)
        offsets = np.concatenate(([0], np.cumsum(totals)[:-1]))
        row_keep = groups >= 0
        gmax = np.zeros(n_groups)
        np.maximum.at(gmax, groups[row_keep], self.max_us[row_keep] / 1000.0)
        gsum = np.bincount(groups[row_keep], weights=self.sum_us[row_keep], minlength=n_groups)
        has = totals > 0
        for name, q in QUANTILES.items():
            rank = np.maximum(1, np.ceil(q * totals - 1e-9)).astype(np.int64)
            pos = np.searchsorted(cum, offsets + rank, side="left")
            pos = np.minimum(pos, len(values) - 1) if len(values) else pos
            col = np.full(n_groups, np.nan)
            if len(values):
                col[has] = np.minimum(values[pos[has]], gmax[has])
            out[name] = col
        out["max"] = np.where(has, gmax, np.nan)
        out["mean"] = np.where(has, gsum / np.maximum(totals, 1) / 1000.0, np.nan)
        out["count"] = totals
        return out


def _aggregate(frame: pd.DataFrame, hist: _Exploded, ok_hist: _Exploded, labels: pd.Series) -> pd.DataFrame:
    """Requests, failures, error rate, bytes and latency stats per label (rows with NaN label are left out)."""
    codes, uniques = pd.factorize(labels, sort=True)
    n = len(uniques)
    base = pd.DataFrame({"requests": np.bincount(codes[codes >= 0], weights=frame["requests"].to_numpy()[codes >= 0],
                                                 minlength=n),
                         "failures": np.bincount(codes[codes >= 0], weights=frame["n_fail"].to_numpy()[codes >= 0],
                                                 minlength=n),
                         "bytes": np.bincount(codes[codes >= 0], weights=frame["bytes"].to_numpy()[codes >= 0],
                                              minlength=n)})
    lat = hist.stats(codes, n)
    ok = ok_hist.stats(codes, n)[["p50", "p95", "p99"]].add_prefix("ok_")
    result = pd.concat([base, lat.drop(columns="count"), ok], axis=1)
    result["error_rate"] = np.where(result["requests"] > 0, result["failures"] / result["requests"].clip(lower=1),
                                    np.nan)
    result.index = pd.Index(uniques, name=labels.name)
    return result


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SloResult:
    """One SLO observed over one scope."""

    slo: Slo
    scope: str  # "run" (everything before the probe), "peak", "probe" or a phase name
    observed: float | None
    passed: bool
    first_break_s: float | None
    requests: int

    @property
    def limit(self) -> float:
        """The SLO's threshold (ms, or a fraction for error_rate)."""
        return self.slo.limit


@dataclass(frozen=True)
class Analysis:
    """Everything the verdict and the reports need, computed from a run directory."""

    meta: dict[str, Any]
    scenario: dict[str, Any]
    plan: Plan
    seconds: pd.DataFrame  # per second: planned, started, dropped, late, requests, failures, rps, p50..max
    endpoints: pd.DataFrame  # per endpoint over the run: method, requests, failures, error_rate, p50..max
    endpoint_seconds: pd.DataFrame  # per (second, endpoint): requests, failures, p95
    errors_by_kind: pd.DataFrame  # per (second, kind): count
    error_kinds: pd.DataFrame  # per (endpoint, kind): count, first_s
    phases: pd.DataFrame  # per phase: start, end, level, planned, started, requests, error_rate, p95
    totals: dict[str, Any]
    traffic: dict[str, Any]
    slo_results: tuple[SloResult, ...]
    capacity: dict[str, Any]
    recovery: dict[str, Any]
    latency_distribution: pd.DataFrame  # ms, count (all requests)
    error_samples: tuple[dict[str, Any], ...]
    slos_defaulted: bool = False


def _slos(scenario: dict[str, Any]) -> tuple[tuple[Slo, ...], bool]:
    raw = scenario.get("slos") or []
    if not raw:
        return DEFAULT_SLOS, True
    return tuple(Slo.model_validate(s) for s in raw), False


def _metric_value(row: pd.Series | None, metric: str) -> float | None:
    if row is None or row.get("requests", 0) == 0:
        return None
    value = row["error_rate"] if metric == "error_rate" else row[metric]
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _breaks(row: pd.Series | None, slo: Slo) -> bool:
    value = _metric_value(row, slo.metric)
    if value is None:
        return False
    if slo.metric != "error_rate" and row is not None and row["requests"] < MIN_WINDOW_REQUESTS:
        return False
    return value >= slo.limit if slo.metric == "error_rate" and slo.limit == 0 else value > slo.limit


def analyze(run: RunData) -> Analysis:
    """Compute curves, phase figures, SLO observations, capacity and recovery from a run directory."""
    plan = plan_from_dict(run.plan)
    duration = float(run.meta.get("duration_s") or plan.duration)
    span = max(1, int(math.ceil(min(duration, plan.duration + 60))))
    slos, defaulted = _slos(run.scenario)

    # Merge rows of the same (second, endpoint) written by several flushes or workers.
    m = run.metrics.copy()
    if m.empty:
        m = pd.DataFrame({"t": pd.Series(dtype=int), "endpoint": pd.Series(dtype=str),
                          "method": pd.Series(dtype=str), "requests": pd.Series(dtype=int),
                          "failures": pd.Series(dtype=object), "bytes": pd.Series(dtype=int),
                          "hist": pd.Series(dtype=object), "ok_hist": pd.Series(dtype=object)})
    m["t"] = m["t"].astype(int)
    m["n_fail"] = [sum(f.values()) if isinstance(f, dict) else 0 for f in m["failures"]]
    hist = _Exploded.of(list(m["hist"]))
    ok_hist = _Exploded.of(list(m["ok_hist"]))
    phase_of_second = np.array([plan.phase_at(t + 0.5) for t in range(span)], dtype=object)
    m["phase"] = [phase_of_second[t] if t < span else "after" for t in m["t"]]

    # --- per second ------------------------------------------------------------------------------
    per_sec = _aggregate(m, hist, ok_hist, m["t"].rename("t")).reindex(range(span))
    per_sec.index.name = "t"
    seconds = pd.DataFrame(index=pd.RangeIndex(span, name="t"))
    seconds["phase"] = phase_of_second
    seconds["planned"] = [plan.integral(t, t + 1) for t in range(span)]
    a = run.arrivals
    if not a.empty:
        a = a.assign(users=a["users"].fillna(0))
        arr = a.groupby("t").agg(started=("started", "sum"), late=("late", "sum"), dropped=("dropped", "sum"),
                                 users=("users", "max"))
    else:
        arr = pd.DataFrame(columns=["started", "late", "dropped", "users"])
    seconds = seconds.join(arr.reindex(seconds.index).fillna(0).astype(int))
    seconds = seconds.join(per_sec[["requests", "failures", "bytes", "p50", "p90", "p95", "p99", "max",
                                    "ok_p95", "error_rate"]])
    seconds[["requests", "failures", "bytes"]] = seconds[["requests", "failures", "bytes"]].fillna(0).astype(int)
    seconds["rps"] = seconds["requests"].astype(float)

    # --- per endpoint ----------------------------------------------------------------------------
    endpoints = _aggregate(m, hist, ok_hist, m["endpoint"].rename("endpoint"))
    methods = m.groupby("endpoint")["method"].first()
    endpoints.insert(0, "method", methods.reindex(endpoints.index))
    ep_codes, ep_names = pd.factorize(m["endpoint"], sort=True)
    n_ep = max(1, len(ep_names))
    ep_sec = _aggregate(m, hist, ok_hist, pd.Series(m["t"].to_numpy() * n_ep + ep_codes, name="key"))
    keys = ep_sec.index.to_numpy(dtype=np.int64)
    endpoint_seconds = pd.DataFrame({
        "t": keys // n_ep, "endpoint": np.asarray(ep_names, dtype=object)[keys % n_ep] if len(keys) else [],
        "requests": ep_sec["requests"].to_numpy(), "failures": ep_sec["failures"].to_numpy(),
        "p95": ep_sec["p95"].to_numpy()}).sort_values(["t", "endpoint"]).reset_index(drop=True)

    # --- errors ----------------------------------------------------------------------------------
    kinds = [(t, ep, kind, n) for t, ep, f in zip(m["t"], m["endpoint"], m["failures"]) if isinstance(f, dict)
             for kind, n in f.items()]
    kinds_df = pd.DataFrame(kinds, columns=["t", "endpoint", "kind", "count"])
    errors_by_kind = kinds_df.groupby(["t", "kind"], as_index=False)["count"].sum()
    error_kinds = kinds_df.groupby(["endpoint", "kind"]).agg(count=("count", "sum"), first_s=("t", "min")) \
        .reset_index().sort_values(["count"], ascending=False).reset_index(drop=True)

    # --- phases, scopes and windows --------------------------------------------------------------
    judged = set(judged_phases(plan))
    peak_phase = _peak_phase(plan)
    phase_rows = []
    by_phase = _aggregate(m, hist, ok_hist, m["phase"].rename("phase"))
    for ph in plan.phases:
        row = by_phase.loc[ph.name] if ph.name in by_phase.index else None
        inside = seconds.loc[int(ph.start):int(math.ceil(ph.end)) - 1]
        phase_rows.append({"phase": ph.name, "start": ph.start, "end": ph.end, "level": ph.level,
                           "planned": plan.integral(ph.start, ph.end), "started": int(inside["started"].sum()),
                           "requests": int(row["requests"]) if row is not None else 0,
                           "error_rate": _metric_value(row, "error_rate"), "p95": _metric_value(row, "p95")})
    phases = pd.DataFrame(phase_rows)

    def scope_row(scope: str | tuple[str, ...], endpoint: str | None) -> pd.Series | None:
        """Aggregate over a scope ("run", a phase name, or several phases) and optionally one endpoint."""
        if scope == "run":
            inside = m["phase"].isin(judged)
        elif isinstance(scope, tuple):
            inside = m["phase"].isin(scope)
        else:
            inside = m["phase"] == scope
        if endpoint is not None:
            inside &= m["endpoint"] == endpoint
        agg = _aggregate(m, hist, ok_hist, pd.Series(np.where(inside, "in", None), index=m.index, name="scope"))
        return agg.loc["in"] if "in" in agg.index else None

    window_cache: dict[str | None, pd.DataFrame] = {}

    def windows(endpoint: str | None) -> pd.DataFrame:
        if endpoint not in window_cache:
            w = m["t"] // WINDOW_S
            if endpoint is not None:
                w = w.where(m["endpoint"] == endpoint)
            window_cache[endpoint] = _aggregate(m, hist, ok_hist, w.rename("w"))
        return window_cache[endpoint]

    scopes = ["run"] + ([peak_phase] if peak_phase and peak_phase in {p.name for p in plan.phases} else []) + \
        (["probe"] if plan.probe_level else [])
    results: list[SloResult] = []
    for slo in slos:
        for scope in ([slo.phase] if slo.phase else scopes):
            row = scope_row(scope, slo.endpoint)
            observed = _metric_value(row, slo.metric)
            requests = int(row["requests"]) if row is not None else 0
            passed = not _breaks(row, slo) if requests >= MIN_WINDOW_REQUESTS or slo.metric == "error_rate" \
                else True
            first = None
            if not passed:
                first = _first_break(windows(slo.endpoint), slo, plan, scope, judged)
            results.append(SloResult(slo=slo, scope=scope, observed=observed, passed=passed,
                                     first_break_s=first, requests=requests))

    # --- totals and traffic ----------------------------------------------------------------------
    overall = _aggregate(m, hist, ok_hist, pd.Series("all", index=m.index, name="all"))
    orow = overall.loc["all"] if "all" in overall.index else None
    totals = {
        "requests": int(seconds["requests"].sum()), "failures": int(seconds["failures"].sum()),
        "error_rate": _metric_value(orow, "error_rate") or 0.0,
        "rps_peak": float(seconds["requests"].rolling(WINDOW_S, min_periods=1).mean().max() or 0.0),
        **{f"{k}_ms": _metric_value(orow, k) for k in ("p50", "p90", "p95", "p99", "max", "mean")},
        **{f"ok_{k}_ms": _metric_value(orow, f"ok_{k}") for k in ("p50", "p95", "p99")},
        "bytes": int(seconds["bytes"].sum()),
    }
    ran = min(float(run.meta.get("load_s") or duration), plan.duration)
    planned_total = plan.integral(0, ran)
    started = int(seconds["started"].sum())
    late = int(seconds["late"].sum())
    dropped = int(seconds["dropped"].sum())
    lateness = _Exploded.of(list(a["lateness"])) if not a.empty else None
    lat_stats = lateness.stats(np.zeros(len(a), dtype=np.int64), 1).iloc[0] if lateness is not None and len(a) \
        else None
    closed = plan.model == "users"
    # Users are counted (a level, seen each second); arrivals are a rate, smoothed over 5 s.
    peak_of: Callable[[set[str]], float] = (
        (lambda phases: float(seconds["users"].where(seconds["phase"].isin(phases)).max() or 0.0)) if closed
        else (lambda phases: _rolling_max(seconds, "started", phases)))
    traffic = {
        # closed model: "arrivals" are journeys begun; the plan is a number of users, not arrivals
        "planned_arrivals": None if closed else int(round(planned_total)), "delivered_arrivals": started,
        "peak_planned_per_s": float(plan.planned_peak), "probe_per_s": plan.probe_level,
        "peak_delivered_per_s": peak_of(judged),
        "probe_delivered_per_s": peak_of({"probe"}) if plan.probe_level else None,
        "late_arrivals": late, "dropped_arrivals": dropped,
        "lateness_p99_ms": None if lat_stats is None or np.isnan(lat_stats["p99"]) else float(lat_stats["p99"]),
        "lateness_max_ms": None if lat_stats is None or np.isnan(lat_stats["max"]) else float(lat_stats["max"]),
        "delivered_share": (started / planned_total if planned_total >= 1 else 1.0) if not closed else
        (peak_of(judged) / plan.planned_peak if plan.planned_peak else 1.0),
        "model": plan.model,
    }

    latency_distribution = _distribution(hist)
    capacity = _capacity(plan, seconds, slos, windows)
    recovery = _recovery(plan, slos, windows, scope_row, list(endpoints.index))
    return Analysis(meta=run.meta, scenario=run.scenario, plan=plan, seconds=seconds.reset_index(),
                    endpoints=endpoints.reset_index(), endpoint_seconds=endpoint_seconds,
                    errors_by_kind=errors_by_kind, error_kinds=error_kinds, phases=phases, totals=totals,
                    traffic=traffic, slo_results=tuple(results), capacity=capacity, recovery=recovery,
                    latency_distribution=latency_distribution, error_samples=tuple(run.errors),
                    slos_defaulted=defaulted)


def _rolling_max(seconds: pd.DataFrame, column: str, phases: set[str]) -> float:
    """Highest 5-second mean of ``column`` over seconds inside ``phases``."""
    values = seconds[column].where(seconds["phase"].isin(phases))
    best = values.rolling(WINDOW_S, min_periods=WINDOW_S).mean().max()
    if pd.isna(best):
        best = values.max()
    return 0.0 if pd.isna(best) else float(best)


def _peak_phase(plan: Plan) -> str | None:
    names = [p.name for p in plan.phases]
    if "peak" in names:
        return "peak"
    candidates = [p for p in plan.phases if not p.name.startswith("probe")]
    if len(candidates) <= 1:
        return None  # the whole run is the peak: "run" covers it
    return max(candidates, key=lambda p: (p.level, p.start)).name


def _first_break(win: pd.DataFrame, slo: Slo, plan: Plan, scope: str, judged: set[str]) -> float | None:
    """Start (s) of the first 5 s window inside ``scope`` where the SLO broke."""
    for w, row in win.iterrows():
        start = float(w) * WINDOW_S
        phase = plan.phase_at(start + WINDOW_S / 2)
        inside = phase in judged if scope == "run" else phase == scope
        if inside and _breaks(row, slo):
            return start
    bounds = [p for p in plan.phases if (p.name in judged if scope == "run" else p.name == scope)]
    return bounds[0].start if bounds else None


def _distribution(hist: _Exploded) -> pd.DataFrame:
    if len(hist.idx) == 0:
        return pd.DataFrame({"ms": [], "count": []})
    uniq, inverse = np.unique(hist.idx, return_inverse=True)
    counts = np.bincount(inverse, weights=hist.cnt).astype(np.int64)
    return pd.DataFrame({"ms": _bucket_values_ms(uniq), "count": counts})


def _capacity(plan: Plan, seconds: pd.DataFrame, slos: Sequence[Slo], windows: Any) -> dict[str, Any]:
    """Highest offered arrival rate at which every SLO held, below the lowest rate at which they broke.

    A break counts when it is sustained (two windows in a row, or the last window before the load
    falls away). A rate that held for a few seconds but broke once the queue built up is not capacity.
    """
    overall = windows(None)
    n_windows = len(seconds) // WINDOW_S
    rows: list[tuple[int, float, list[Slo]]] = []
    for w in range(n_windows):
        start = w * WINDOW_S
        if plan.phase_at(start + 0.5) == "recovery":
            break  # load falling away tells nothing about capacity
        broken = [s for s in slos if _breaks(_row(windows(s.endpoint), w), s)]
        # A held window sustained its mean rate; a broken one broke at its highest rate at most.
        offered = max(plan.rate(start + WINDOW_S * k / 10) for k in range(11)) if broken else \
            plan.integral(start, start + WINDOW_S) / WINDOW_S
        rows.append((w, offered, broken))
    sustained = [i for i, (_, _, broken) in enumerate(rows)
                 if broken and ((i > 0 and rows[i - 1][2]) or (i + 1 < len(rows) and rows[i + 1][2])
                                or i == len(rows) - 1)]
    tested = max((offered for _, offered, _ in rows), default=0.0)
    peak = plan.planned_peak
    if not sustained:
        held = [(offered, w) for w, offered, broken in rows if not broken]
        best, best_w = max(held, default=(0.0, -1))
        return {"found": False, "arrivals_per_s": best, "requests_per_s": _rps(overall, best_w),
                "limited_by": None, "broke_at_s": None, "headroom": best / peak if peak > 0 else None,
                "tested_up_to_per_s": tested}
    first = rows[sustained[0]]
    limit_rate = min(rows[i][1] for i in sustained)
    held = [(offered, w) for w, offered, broken in rows if not broken and offered < limit_rate * 0.999]
    best, best_w = max(held, default=(0.0, -1))
    metric = first[2][0].metric
    return {"found": True, "arrivals_per_s": best, "requests_per_s": _rps(overall, best_w),
            "limited_by": "errors" if metric == "error_rate" else "latency", "broke_at_s": first[0] * WINDOW_S,
            "broke_at_per_s": limit_rate, "headroom": best / peak if peak > 0 else None,
            "tested_up_to_per_s": tested}


def _rps(overall: pd.DataFrame, w: int) -> float:
    row = _row(overall, w)
    return float(row["requests"]) / WINDOW_S if row is not None else 0.0


def _row(frame: pd.DataFrame, key: Any) -> pd.Series | None:
    return frame.loc[key] if key in frame.index else None


def _recovery(plan: Plan, slos: Sequence[Slo], windows: Any, scopes: Any, endpoints: Sequence[str]) -> dict[str, Any]:
    """When, after the load fell back to baseline, the site was healthy again (and stayed so).

    A 5 s window is healthy when every SLO holds in it and each endpoint's p95 is within
    max(2x, +100 ms) of its own p95 before the peak (baseline and ramp), the error rate within one
    percentage point of that reference.
    """
    rec = next((p for p in plan.phases if p.name == "recovery"), None)
    if rec is None:
        return {"recovered": None, "seconds": None, "measured": False}
    reference: dict[str, tuple[float, float]] = {}
    for endpoint in endpoints:
        row = scopes(("baseline", "ramp"), endpoint)
        if row is not None and row["requests"] >= MIN_WINDOW_REQUESTS:
            reference[endpoint] = (float(row["p95"]), float(row["error_rate"]))
    first_w = int(math.ceil(rec.start / WINDOW_S))
    last_w = int(math.floor(rec.end / WINDOW_S))
    ok_since: float | None = None
    checked = 0
    for w in range(first_w, last_w):
        overall = _row(windows(None), w)
        if overall is None or overall["requests"] == 0:
            continue
        checked += 1
        good = not any(_breaks(_row(windows(s.endpoint), w), s) for s in slos)
        for endpoint, (ref_p95, ref_err) in reference.items():
            row = _row(windows(endpoint), w)
            if row is None or row["requests"] < 3:
                continue
            if row["p95"] > max(2 * ref_p95, ref_p95 + 100.0) or row["error_rate"] > ref_err + 0.01:
                good = False
        if good and ok_since is None:
            ok_since = w * WINDOW_S
        elif not good:
            ok_since = None
    if checked == 0:
        return {"recovered": None, "seconds": None, "measured": False}
    return {"recovered": ok_since is not None,
            "seconds": None if ok_since is None else max(0.0, ok_since - rec.start),
            "measured": True, "window_s": WINDOW_S}


__all__ = ["Analysis", "SloResult", "analyze"]
