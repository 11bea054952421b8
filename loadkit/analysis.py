"""Analysis: pandas over a run directory's data files -> frozen results.

Percentiles always come from merged histograms (never averages of percentiles). SLOs are observed over
the judged part of the run (everything before the headroom probe), over the peak, over the probe, and
over any phase an SLO names; the time an SLO first broke comes from 5-second windows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import scenario_errors as scenario_faults
from .aggregate import Exploded, aggregate, bucket_values_ms
from .data import RunData
from .scenario import Journey, Slo, VerdictPolicy, mean_visit_seconds
from .held import (MIN_WINDOW_REQUESTS, SIGNALS, WINDOW_S, Break, Windows, breaks, breaks_row, plateau_breaks,
                   plateau_flags, signal_of, slo_breaks)
from .held import capacity as held_capacity
from .traffic import Plan, is_probe, judged_phases, plan_from_dict

DEFAULT_SLOS = (Slo(metric="p95", below="1s"), Slo(metric="error_rate", below="1%"))
# A second in which the load generator's event loop stalled this long (the hiccup meter, run/hiccups.py)
# is a pause: arrivals due then start late and responses in flight are measured that much slower.
PAUSE_MS = 50.0
# A load process at or above this share of one core in a second was saturated in it: its own queue adds
# to every response time it measures and delays the arrivals it starts.
SATURATED_CPU = 85.0


# --- error taxonomy ------------------------------------------------------------------------------

# Graceful shedding: the site refuses work it cannot do and says so (429, or 503 with Retry-After).
SHEDDING_KINDS = frozenset({"http_429", "http_503_retry_after"})
# Collapse: the site fails at its job (server errors, timeouts, dropped or refused connections).
COLLAPSE_KINDS = frozenset({"timeout", "connection_reset", "connection_refused", "connection_error"})
ERROR_CLASSES = ("shedding", "collapse", "other")


def error_class(kind: str) -> str:
    """``shedding``, ``collapse`` or ``other`` (client errors, failed checks, TLS, DNS) for a failure kind."""
    if kind in SHEDDING_KINDS:
        return "shedding"
    if kind in COLLAPSE_KINDS or (kind.startswith("http_5") and kind[5:8].isdigit()):
        return "collapse"
    return "other"


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SloResult:
    """One SLO observed over one scope."""

    slo: Slo
    scope: str  # "run" (everything before the probe), "peak", "probe" (its ramp and hold) or a phase name
    observed: float | None
    passed: bool
    first_break_s: float | None  # start of the first counted break in the scope (None: held)
    requests: int
    until_s: float | None = None  # end of the sustained broken windows that ``observed`` covers
    over_scope: bool = True  # ``observed`` is the scope's merged total (False: the broken windows')
    scope_observed: float | None = None  # the scope's merged total, whatever ``observed`` shows

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
    seconds: pd.DataFrame  # per second: planned, started, dropped, late, requests, failures, rps, p50..max,
    # hiccup_ms (the longest stall of a load process's event loop), cpu (the busiest load process, % of a core)
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
    broke_first: pd.DataFrame  # per endpoint, ranked: slo_break_s, slo, observed, limit, errors_began_s
    apdex_t_ms: float
    offsite: pd.DataFrame  # per endpoint: redirects to another host (not followed), an example location
    slos_defaulted: bool = False
    breaks: tuple[Break, ...] = ()  # counted breaks (held.py's rule), earliest first
    # The run and peak SLO results again, over the seconds the generator was neither paused nor saturated
    # (and the second before each such second); empty when there were no such seconds.
    undisturbed_slo_results: tuple[SloResult, ...] = ()
    # the scenario's own errors, apart from the site's (loadkit/scenario_errors.py): count, by_step, sample
    scenario_errors: dict[str, Any] = field(default_factory=scenario_faults.empty)


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


def analyze(run: RunData) -> Analysis:
    """Compute curves, phase figures, SLO observations, capacity and recovery from a run directory."""
    plan = plan_from_dict(run.plan)
    duration = float(run.meta.get("duration_s") or plan.duration)
    span = max(1, int(math.ceil(min(duration, plan.duration + 60))))
    slos, defaulted = _slos(run.scenario)
    apdex_t = VerdictPolicy.model_validate(run.scenario.get("verdict") or {}).apdex_t * 1000.0

    # Rows of the same (second, endpoint) from several flushes or workers are merged by grouping.
    m = run.metrics.copy()
    if m.empty:
        m = pd.DataFrame({"t": pd.Series(dtype=np.int64), "endpoint": pd.Series(dtype=str),
                          "method": pd.Series(dtype=str), "requests": pd.Series(dtype=np.int64),
                          "failures": pd.Series(dtype=object), "bytes": pd.Series(dtype=np.int64),
                          "offsite_redirects": pd.Series(dtype=np.int64), "offsite_example": pd.Series(dtype=str)})
    m["t"] = m["t"].astype(np.int64)
    m["n_fail"] = [sum(f.values()) if isinstance(f, dict) else 0 for f in m["failures"]]
    hist = Exploded(run.hist)
    ok_hist = Exploded(run.ok_hist)
    phase_of_second = np.array([plan.phase_at(t + 0.5) for t in range(span)], dtype=object)
    m["phase"] = [phase_of_second[t] if t < span else "after" for t in m["t"]]

    # --- per second ------------------------------------------------------------------------------
    per_sec = aggregate(m, hist, ok_hist, m["t"].rename("t"), apdex_t).reindex(range(span))
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
    # Stalls and CPU merge by the largest (several flushes, several workers); NaN where not measured
    # (runs recorded before the hiccup meter existed).
    for column in ("hiccup_ms", "cpu"):
        values = pd.to_numeric(a[column], errors="coerce") if not a.empty and column in a else None
        seconds[column] = (values.groupby(a["t"]).max().reindex(seconds.index).astype(float)
                           if values is not None else np.nan)
    seconds = seconds.join(per_sec[["requests", "failures", "bytes", "p50", "p90", "p95", "p99", "max",
                                    "ok_p95", "error_rate", "apdex"]])
    seconds[["requests", "failures", "bytes"]] = seconds[["requests", "failures", "bytes"]].fillna(0).astype(int)
    seconds["rps"] = seconds["requests"].astype(float)
    # Requests are keyed by the second they started (latency without coordinated omission); the chart
    # of what the site got done counts each one in the second it ended: completed, or failed (a timeout
    # when it timed out).
    t_rows = m["t"].to_numpy(dtype=np.int64)
    ended_all = _by_end_second(run.hist, t_rows, span)
    seconds["completed"] = _by_end_second(run.ok_hist, t_rows, span).astype(int)
    seconds["failed_done"] = np.maximum(ended_all - seconds["completed"].to_numpy(), 0).astype(int)

    # --- per endpoint ----------------------------------------------------------------------------
    endpoints = aggregate(m, hist, ok_hist, m["endpoint"].rename("endpoint"), apdex_t)
    methods = m.groupby("endpoint")["method"].first()
    endpoints.insert(0, "method", methods.reindex(endpoints.index))
    ep_codes, ep_names = pd.factorize(m["endpoint"], sort=True)
    n_ep = max(1, len(ep_names))
    ep_sec = aggregate(m, hist, ok_hist, pd.Series(m["t"].to_numpy() * n_ep + ep_codes, name="key"), with_ok=False,
                       quantiles=("p95",))
    keys = ep_sec.index.to_numpy(dtype=np.int64)
    endpoint_seconds = pd.DataFrame({
        "t": keys // n_ep, "endpoint": np.asarray(ep_names, dtype=object)[keys % n_ep] if len(keys) else [],
        "requests": ep_sec["requests"].to_numpy(), "failures": ep_sec["failures"].to_numpy(),
        "p95": ep_sec["p95"].to_numpy(), "max": ep_sec["max"].to_numpy()}).sort_values(["t", "endpoint"]) \
        .reset_index(drop=True)

    # --- errors ----------------------------------------------------------------------------------
    kinds = [(t, ep, kind, n) for t, ep, f in zip(m["t"], m["endpoint"], m["failures"]) if isinstance(f, dict)
             for kind, n in f.items()]
    kinds_df = pd.DataFrame(kinds, columns=["t", "endpoint", "kind", "count"])
    errors_by_kind = kinds_df.groupby(["t", "kind"], as_index=False)["count"].sum()
    errors_by_kind["class"] = [error_class(k) for k in errors_by_kind["kind"]]
    by_class = errors_by_kind.pivot_table(index="t", columns="class", values="count", aggfunc="sum")
    for cls in ERROR_CLASSES:
        column = by_class[cls] if cls in by_class.columns else pd.Series(dtype=float)
        seconds[cls] = column.reindex(seconds.index).fillna(0).astype(int)
    error_kinds = kinds_df.groupby(["endpoint", "kind"]).agg(count=("count", "sum"), first_s=("t", "min")) \
        .reset_index().sort_values(["count"], ascending=False).reset_index(drop=True)
    error_kinds["class"] = [error_class(k) for k in error_kinds["kind"]]

    # --- phases, scopes and windows --------------------------------------------------------------
    judged = set(judged_phases(plan))
    peak_phase = _peak_phase(plan)
    phase_rows = []
    by_phase = aggregate(m, hist, ok_hist, m["phase"].rename("phase"))
    for ph in plan.phases:
        row = by_phase.loc[ph.name] if ph.name in by_phase.index else None
        inside = seconds.loc[int(ph.start):int(math.ceil(ph.end)) - 1]
        phase_rows.append({"phase": ph.name, "start": ph.start, "end": ph.end, "level": ph.level,
                           "level_from": plan.rate(ph.start + 1e-6),
                           "level_to": plan.rate(max(ph.start, ph.end - 1e-6)),
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
        agg = aggregate(m, hist, ok_hist, pd.Series(np.where(inside, "in", None), index=m.index, name="scope"))
        return agg.loc["in"] if "in" in agg.index else None

    window_cache: dict[str | None, pd.DataFrame] = {}  # "by_endpoint" holds all endpoints' windows

    n_windows = max(int(m["t"].max()) // WINDOW_S + 1 if len(m) else 0, int(math.ceil(plan.duration / WINDOW_S)))

    def windows(endpoint: str | None) -> pd.DataFrame:
        """5 s windows (every one, empty ones with zero requests) over all requests or one endpoint."""
        if endpoint not in window_cache:
            if endpoint is None:
                agg = aggregate(m, hist, ok_hist, (m["t"] // WINDOW_S).rename("w"), with_ok=False)
            else:
                if "by_endpoint" not in window_cache:
                    # every endpoint's windows in one pass over the histograms, split below
                    key = pd.Series((m["t"].to_numpy() // WINDOW_S) * n_ep + ep_codes, name="key")
                    window_cache["by_endpoint"] = aggregate(m, hist, ok_hist, key, with_ok=False)
                both = window_cache["by_endpoint"]
                code = ep_names.get_loc(endpoint) if endpoint in ep_names else -1
                keys = both.index.to_numpy(dtype=np.int64)
                agg = both[keys % n_ep == code]
                agg.index = keys[keys % n_ep == code] // n_ep
            agg.index = agg.index.astype(np.int64)
            agg = agg.reindex(range(n_windows))
            agg[["requests", "failures"]] = agg[["requests", "failures"]].fillna(0)
            window_cache[endpoint] = agg
        return window_cache[endpoint]

    def span_row(t0: int, t1: int, endpoint: str | None) -> pd.Series | None:
        """Aggregate over seconds [t0, t1) for all requests or one endpoint."""
        inside = (m["t"] >= t0) & (m["t"] < t1)
        if endpoint is not None:
            inside &= m["endpoint"] == endpoint
        agg = aggregate(m, hist, ok_hist, pd.Series(np.where(inside, "in", None), index=m.index, name="span"),
                        with_ok=False)
        return agg.loc["in"] if "in" in agg.index else None

    def span_value(slo: Slo, first_w: int, last_w: int) -> float | None:
        return _metric_value(span_row(first_w * WINDOW_S, (last_w + 1) * WINDOW_S, slo.endpoint), slo.metric)

    # --- the one rule: sustained window breaks, scopes, capacity ---------------------------------
    visit_s = _visit_seconds(run.scenario)
    wins = Windows(plan, n_windows, visit_s)
    probe_phases = tuple(p.name for p in plan.phases if is_probe(p.name))
    scopes: list[str] = ["run"] + ([peak_phase] if peak_phase and peak_phase in {p.name for p in plan.phases}
                                   else []) + (["probe"] if probe_phases else [])
    counted: list[Break] = []
    slo_flags: list[np.ndarray] = []
    results: list[SloResult] = []
    for slo in slos:
        win = windows(slo.endpoint)
        flags = breaks(win, slo) & wins.applies(slo) if n_windows else np.zeros(0, dtype=bool)
        slo_flags.append(flags)
        sustained = slo_breaks(slo, win, wins, span_value) if n_windows else []
        counted.extend(sustained)
        for scope in ([slo.phase] if slo.phase else scopes):
            row = scope_row(probe_phases if scope == "probe" else scope, slo.endpoint)
            aggregate_value = _metric_value(row, slo.metric)
            requests = int(row["requests"]) if row is not None else 0
            aggregate_broke = breaks_row(row, slo)
            inside = [b for b in sustained if wins.in_scope(int(b.start_s // WINDOW_S), scope)]
            observed, first, until = aggregate_value, None, None
            if aggregate_broke:
                in_scope = [w for w in np.flatnonzero(flags) if wins.in_scope(int(w), scope)]
                first = float(in_scope[0] * WINDOW_S) if in_scope else _scope_start(plan, scope)
                if inside:
                    first, until = min(first, inside[0].start_s), inside[0].end_s
                if not inside:
                    # Only the scope's total broke: it counts as a break from its first slow window.
                    w0 = int(first // WINDOW_S)
                    counted.append(Break(signal=signal_of(slo), slo=slo, endpoint=slo.endpoint, start_s=first,
                                         end_s=_scope_end(plan, scope), phase=wins.phase[w0] if w0 < wins.n else
                                         scope, offered_per_s=float(wins.max_offered[w0]) if w0 < wins.n else
                                         plan.planned_peak, observed=aggregate_value, sustained=False))
            elif inside:
                observed, first, until = inside[0].observed, inside[0].start_s, inside[0].end_s
            if first is not None:
                first = _first_second(seconds if slo.endpoint is None else
                                      endpoint_seconds[endpoint_seconds["endpoint"] == slo.endpoint].set_index("t"),
                                      slo, first)
            results.append(SloResult(slo=slo, scope=scope, observed=observed, passed=first is None,
                                     first_break_s=first, requests=requests, until_s=until,
                                     over_scope=first is None or aggregate_broke, scope_observed=aggregate_value))

    ep_list = list(endpoints.index)
    started_per_window = [float(seconds["started"].to_numpy()[w * WINDOW_S:(w + 1) * WINDOW_S].sum())
                          for w in range(n_windows)]
    reference = _throughput_reference(plan, windows, ep_list, started_per_window)
    done = {endpoint: windows(endpoint)["requests"].to_numpy(dtype=float) for endpoint in reference}
    plateaus = plateau_breaks(wins, done, reference, started_per_window, visit_s)
    counted.extend(plateaus)
    any_flag = plateau_flags(plateaus, n_windows)
    for flags in slo_flags:
        any_flag |= flags
    overall_windows = windows(None) if n_windows else pd.DataFrame({"requests": []})
    measured = overall_windows["requests"].reindex(range(n_windows)).fillna(0).to_numpy() > 0
    held_windows = ~any_flag & measured  # a window held when it was measured and nothing broke in it
    cap = held_capacity(wins, counted, held_windows, lambda w: _rps(overall_windows, w))
    counted.sort(key=lambda b: (b.start_s, SIGNALS.index(b.signal)))

    # The same judged SLOs without the seconds the generator was paused or saturated: a response in
    # flight during a stall is measured that much slower, so a break that needs those seconds may be
    # loadkit's doing, not the site's. The second before each is left out too (its requests may have
    # been in flight when the stall began). Still broken: the scope's total without those seconds
    # breaks, or a sustained break in the scope touches none of them.
    disturbed = _disturbed_seconds(seconds)
    undisturbed: list[SloResult] = []
    if disturbed:
        left_out = set(disturbed) | {t - 1 for t in disturbed}
        clean = ~m["t"].isin(left_out)
        for r in results:
            if is_probe(r.scope) or r.scope == "probe" or r.passed:
                continue
            phases_in = judged if r.scope == "run" else {r.scope}
            inside = clean & m["phase"].isin(phases_in)
            if r.slo.endpoint is not None:
                inside &= m["endpoint"] == r.slo.endpoint
            agg = aggregate(m, hist, ok_hist, pd.Series("in", index=m.index, name="scope").where(inside))
            row = agg.loc["in"] if "in" in agg.index else None
            requests = int(row["requests"]) if row is not None else 0
            clean_breaks = [b for b in counted if b.slo is r.slo and b.sustained
                            and wins.in_scope(int(b.start_s // WINDOW_S), r.scope)
                            and not left_out.intersection(range(int(b.start_s), int(math.ceil(b.end_s))))]
            broke = bool(clean_breaks) or (breaks_row(row, r.slo) and
                                           (requests >= MIN_WINDOW_REQUESTS or r.slo.metric == "error_rate"))
            undisturbed.append(SloResult(slo=r.slo, scope=r.scope, observed=_metric_value(row, r.slo.metric),
                                         passed=not broke, first_break_s=None, requests=requests))

    # --- totals and traffic ----------------------------------------------------------------------
    overall = aggregate(m, hist, ok_hist, pd.Series("all", index=m.index, name="all"), apdex_t)
    orow = overall.loc["all"] if "all" in overall.index else None
    totals = {
        "requests": int(seconds["requests"].sum()), "failures": int(seconds["failures"].sum()),
        "error_rate": _metric_value(orow, "error_rate") or 0.0,
        "rps_peak": float(seconds["requests"].rolling(WINDOW_S, min_periods=1).mean().max() or 0.0),
        **{f"{k}_ms": _metric_value(orow, k) for k in ("p50", "p90", "p95", "p99", "max", "mean")},
        **{f"ok_{k}_ms": _metric_value(orow, f"ok_{k}") for k in ("p50", "p95", "p99")},
        "bytes": int(seconds["bytes"].sum()),
        "apdex": _metric_value(orow, "apdex"),
        **{f"{cls}_errors": int(seconds[cls].sum()) for cls in ERROR_CLASSES},
    }
    ran = min(float(run.meta.get("load_s") or duration), plan.duration)
    planned_total = plan.integral(0, ran)
    started = int(seconds["started"].sum())
    late = int(seconds["late"].sum())
    dropped = int(seconds["dropped"].sum())
    lateness = Exploded.of(list(a["lateness"])) if not a.empty else None
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
        # visitors still walking when the plan and its drain ended, stopped mid-journey
        "cut_short": int((run.meta.get("generator") or {}).get("cut_short") or 0),

        **_generator_health(seconds),
    }

    latency_distribution = _distribution(hist)
    recovery = _recovery(plan, slos, windows, scope_row, ep_list)
    broke_first = _broke_first(counted, results, windows, ep_list, endpoint_seconds)
    offsite = _offsite(m)
    return Analysis(meta=run.meta, scenario=run.scenario, plan=plan, seconds=seconds.reset_index(),
                    endpoints=endpoints.reset_index(), endpoint_seconds=endpoint_seconds,
                    errors_by_kind=errors_by_kind, error_kinds=error_kinds, phases=phases, totals=totals,
                    traffic=traffic, slo_results=tuple(results), capacity=cap.to_dict(), recovery=recovery,
                    latency_distribution=latency_distribution, error_samples=tuple(run.errors),
                    broke_first=broke_first, apdex_t_ms=apdex_t, offsite=offsite, slos_defaulted=defaulted,
                    breaks=tuple(counted), undisturbed_slo_results=tuple(undisturbed),
                    scenario_errors=scenario_faults.summarize(run.scenario_errors, run.meta, started,
                                                              int(seconds["requests"].sum())))


def _by_end_second(table: Any, t: np.ndarray, span: int) -> np.ndarray:
    """Requests per second they ended in: each histogram bucket moved from its row's start second by its
    latency (a request starting within second t and taking d ends around t + 0.5 + d)."""
    if len(table.idx) == 0 or span <= 0:
        return np.zeros(span, dtype=np.int64)
    end = table.per_entry(t) + np.floor(0.5 + bucket_values_ms(table.idx) / 1000.0).astype(np.int64)
    counts = np.bincount(np.clip(end, 0, span - 1), weights=table.cnt, minlength=span)
    return np.rint(counts[:span]).astype(np.int64)


def _disturbed_seconds(seconds: pd.DataFrame) -> list[int]:
    """Seconds in which a load process paused (a stall of PAUSE_MS or more) or was saturated."""
    hiccup = seconds["hiccup_ms"].to_numpy(dtype=float)
    cpu = seconds["cpu"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = (hiccup >= PAUSE_MS) | (cpu >= SATURATED_CPU)
    return [int(t) for t in seconds.index[bad]]


def _generator_health(seconds: pd.DataFrame) -> dict[str, Any]:
    """The load generator's pauses and CPU over the run (nothing for a run that did not measure them)."""
    hiccup, cpu = seconds["hiccup_ms"], seconds["cpu"]
    if hiccup.isna().all() and cpu.isna().all():
        return {}  # a run recorded before loadkit measured these
    return {"hiccup_max_ms": float(hiccup.max()) if hiccup.notna().any() else None,
            "paused_seconds": int((hiccup >= PAUSE_MS).sum()),
            "generator_cpu_max": float(cpu.max()) if cpu.notna().any() else None,
            "saturated_seconds": int((cpu >= SATURATED_CPU).sum())}


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


def _scope_phases(plan: Plan, scope: str) -> list[Any]:
    judged = set(judged_phases(plan))
    return [p for p in plan.phases if (p.name in judged if scope == "run" else
                                       is_probe(p.name) if scope == "probe" else p.name == scope)]


def _scope_start(plan: Plan, scope: str) -> float:
    inside = _scope_phases(plan, scope)
    return float(inside[0].start) if inside else 0.0


def _scope_end(plan: Plan, scope: str) -> float:
    inside = _scope_phases(plan, scope)
    return float(inside[-1].end) if inside else plan.duration


def _distribution(hist: Exploded) -> pd.DataFrame:
    """Requests per latency bucket over the whole run."""
    if len(hist.vocab) == 0 or len(hist.pos) == 0:
        return pd.DataFrame({"ms": [], "count": []})
    counts = np.bincount(hist.pos, weights=hist.cnt, minlength=len(hist.vocab)).astype(np.int64)
    keep = counts > 0
    return pd.DataFrame({"ms": hist.values[keep], "count": counts[keep]})


def _visit_seconds(scenario: dict[str, Any]) -> float:
    """A visit's mean length from a saved scenario document (1 s when it has no journeys)."""
    journeys = []
    for raw in scenario.get("journeys") or []:
        try:
            journeys.append(Journey.model_validate(raw))
        except ValueError:
            continue
    return mean_visit_seconds(journeys) if journeys else 1.0


def _throughput_reference(plan: Plan, windows: Any, endpoints: Sequence[str],
                          started: Sequence[float]) -> dict[str, float]:
    """Completed requests per arrival for each endpoint over the run's first phase (its lightest load)."""
    if not plan.phases or not endpoints:
        return {}
    first = plan.phases[0]
    ws = [w for w in range(int(first.start // WINDOW_S), int(first.end // WINDOW_S)) if w < len(started)]
    arrivals = sum(started[w] for w in ws)
    if arrivals < 20:
        return {}
    out = {}
    for endpoint in endpoints:
        requests = windows(endpoint)["requests"].to_numpy(dtype=float)
        done = sum(requests[w] for w in ws if w < len(requests))
        if done > 0:
            out[endpoint] = done / arrivals
    return out


def _rps(overall: pd.DataFrame, w: int) -> float:
    row = _row(overall, w)
    return float(row["requests"]) / WINDOW_S if row is not None else 0.0


def _row(frame: pd.DataFrame, key: Any) -> pd.Series | None:
    return frame.loc[key] if key in frame.index else None


def _recovery(plan: Plan, slos: Sequence[Slo], windows: Any, scopes: Any, endpoints: Sequence[str]) -> dict[str, Any]:
    """When, after the load fell back to baseline, the site was healthy again (and stayed so).

    A 5 s window is healthy when every SLO holds in it and each endpoint's p95 is within
    max(2x, +100 ms) of its own p95 before the burst (the baseline; with too few requests there, the
    baseline and the ramp), the error rate within one percentage point of that reference.
    """
    rec = next((p for p in plan.phases if p.name == "recovery"), None)
    if rec is None:
        return {"recovered": None, "seconds": None, "measured": False}
    reference: dict[str, tuple[float, float]] = {}
    for endpoint in endpoints:
        # The baseline alone when it has enough requests: the ramp may already queue.
        for scope in (("baseline",), ("baseline", "ramp")):
            row = scopes(scope, endpoint)
            if row is not None and row["requests"] >= MIN_WINDOW_REQUESTS:
                reference[endpoint] = (float(row["p95"]), float(row["error_rate"]))
                break
    first_w = int(math.ceil(rec.start / WINDOW_S))
    last_w = int(math.floor(rec.end / WINDOW_S))
    ok_since: float | None = None
    checked = 0
    for w in range(first_w, last_w):
        overall = _row(windows(None), w)
        if overall is None or overall["requests"] == 0:
            continue
        checked += 1
        good = not any(breaks_row(_row(windows(s.endpoint), w), s) for s in slos)
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


def _offsite(m: pd.DataFrame) -> pd.DataFrame:
    """Per endpoint, redirects to another host that loadkit did not follow, with one example location."""
    if "offsite_redirects" not in m or not m["offsite_redirects"].any():
        return pd.DataFrame(columns=["endpoint", "count", "example"])
    rows = m[m["offsite_redirects"] > 0]
    return rows.groupby("endpoint").agg(count=("offsite_redirects", "sum"), example=("offsite_example", "first")) \
        .reset_index().sort_values("count", ascending=False).reset_index(drop=True)


def _first_second(per_second: pd.DataFrame, slo: Slo, window_start: float) -> float:
    """The first second of a broken window in which the SLO's trouble showed: a failed request (error
    rate) or a request over the limit (latency). Break times read "from 2:03", as the errors table does."""
    start = int(window_start)
    for t in range(start, start + WINDOW_S):
        if t not in per_second.index:
            continue
        row = per_second.loc[t]
        if slo.metric == "error_rate" and row["failures"] > 0:
            return float(t)
        if slo.metric != "error_rate" and row["requests"] > 0 and row["max"] > slo.limit:
            return float(t)
    return float(start)


def _broke_first(counted: Sequence[Break], results: Sequence[SloResult], windows: Any,
                 endpoints: Sequence[str], endpoint_seconds: pd.DataFrame) -> pd.DataFrame:
    """What broke first, from the counted breaks: one row per SLO (its first scope's row in the SLO
    table, with the same observed value and limit), one per throughput plateau, and per endpoint the
    second its errors began (the first second with a failure in the first window where more than 1% of its
    requests failed), earliest first."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for b in counted:
        if b.slo is not None:
            if b.slo.name in seen:
                continue
            seen.add(b.slo.name)
            result = next((r for r in sorted(results, key=lambda r: (r.first_break_s is None, r.first_break_s or 0))
                           if r.slo.name == b.slo.name and not r.passed), None)
            first_s = result.first_break_s if result and result.first_break_s is not None else b.start_s
            rows.append({"endpoint": b.endpoint or "all requests", "first_s": first_s, "signal": b.signal,
                         "slo": b.slo.name, "metric": b.slo.metric,
                         "worst_endpoint": None if b.endpoint else _worst(windows, endpoints, b.slo, first_s),
                         "observed": result.observed if result else b.observed, "limit": b.slo.limit,
                         "scope": result.scope if result else "run",
                         "slo_break_s": result.first_break_s if result else b.start_s, "errors_began_s": None})
        else:
            key = f"plateau {b.endpoint}"
            if key in seen:
                continue
            seen.add(key)
            rows.append({"endpoint": b.endpoint, "first_s": b.start_s, "signal": b.signal, "slo": None,
                         "metric": "throughput", "worst_endpoint": None, "observed": b.observed, "limit": 0.9,
                         "scope": "probe" if not b.judged else "run", "slo_break_s": b.start_s,
                         "errors_began_s": None})
    for endpoint in endpoints:
        win = windows(endpoint)
        erring = win[(win["failures"] > 0) & (win["error_rate"] > 0.01)]
        if len(erring):
            began = _first_second(endpoint_seconds[endpoint_seconds["endpoint"] == endpoint].set_index("t"),
                                  Slo(metric="error_rate", below=0.01), float(erring.index[0]) * WINDOW_S)
            rows.append({"endpoint": endpoint, "first_s": None, "signal": "errors began", "slo": None,
                         "metric": "error_rate", "worst_endpoint": None,
                         "observed": float(erring.iloc[0]["error_rate"]), "limit": 0.01,
                         "scope": None, "slo_break_s": None, "errors_began_s": began})
    frame = pd.DataFrame(rows, columns=["endpoint", "first_s", "signal", "slo", "metric", "worst_endpoint",
                                        "observed", "limit", "scope", "slo_break_s", "errors_began_s"])
    frame["first_s"] = frame["first_s"].where(frame["first_s"].notna(), frame["errors_began_s"])
    # At the same second, a broken service level speaks before the errors that came with it.
    frame["rank"] = [{"errors began": 2, "throughput plateau": 1}.get(s, 0) for s in frame["signal"]]
    frame = frame.sort_values(["first_s", "rank", "endpoint"], na_position="last").reset_index(drop=True)
    return frame.drop(columns="rank")


def _worst(windows: Any, endpoints: Sequence[str], slo: Slo, t: float) -> str | None:
    """The endpoint furthest over an all-requests SLO in the window starting at ``t`` (None: none was)."""
    w = int(t // WINDOW_S)
    best: tuple[float, str] | None = None
    for endpoint in endpoints:
        row = _row(windows(endpoint), w)
        value = _metric_value(row, slo.metric)
        if value is not None and value > slo.limit and (best is None or value > best[0]):
            best = (value, endpoint)
    return best[1] if best else None


__all__ = ["PAUSE_MS", "SATURATED_CPU", "Analysis", "SloResult", "analyze", "error_class"]
