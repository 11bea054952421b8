"""Analysis: pandas over a run directory's data files -> frozen results.

Percentiles always come from merged histograms (never averages of percentiles). SLOs are observed over
the judged part of the run (everything before the headroom probe), over the peak, over the probe, and
over any phase an SLO names; the time an SLO first broke comes from 5-second windows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .aggregate import Exploded, aggregate
from .data import RunData
from .scenario import Journey, Slo, VerdictPolicy, mean_visit_seconds
from .traffic import Plan, judged_phases, plan_from_dict

WINDOW_S = 5
MIN_WINDOW_REQUESTS = 5  # a window with fewer requests cannot break a latency SLO on its own
DEFAULT_SLOS = (Slo(metric="p95", below="1s"), Slo(metric="error_rate", below="1%"))


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
    broke_first: pd.DataFrame  # per endpoint, ranked: slo_break_s, slo, observed, limit, errors_began_s
    apdex_t_ms: float
    offsite: pd.DataFrame  # per endpoint: redirects to another host (not followed), an example location
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
    seconds = seconds.join(per_sec[["requests", "failures", "bytes", "p50", "p90", "p95", "p99", "max",
                                    "ok_p95", "error_rate", "apdex"]])
    seconds[["requests", "failures", "bytes"]] = seconds[["requests", "failures", "bytes"]].fillna(0).astype(int)
    seconds["rps"] = seconds["requests"].astype(float)

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
        "p95": ep_sec["p95"].to_numpy()}).sort_values(["t", "endpoint"]).reset_index(drop=True)

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

    n_windows = int(m["t"].max()) // WINDOW_S + 1 if len(m) else 0

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
    }

    latency_distribution = _distribution(hist)
    capacity = _capacity(plan, seconds, slos, windows, list(endpoints.index), _visit_seconds(run.scenario))
    recovery = _recovery(plan, slos, windows, scope_row, list(endpoints.index))
    broke_first = _broke_first(slos, windows, list(endpoints.index))
    offsite = _offsite(m)
    return Analysis(meta=run.meta, scenario=run.scenario, plan=plan, seconds=seconds.reset_index(),
                    endpoints=endpoints.reset_index(), endpoint_seconds=endpoint_seconds,
                    errors_by_kind=errors_by_kind, error_kinds=error_kinds, phases=phases, totals=totals,
                    traffic=traffic, slo_results=tuple(results), capacity=capacity, recovery=recovery,
                    latency_distribution=latency_distribution, error_samples=tuple(run.errors),
                    broke_first=broke_first, apdex_t_ms=apdex_t, offsite=offsite, slos_defaulted=defaulted)


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


def _breaks_vec(frame: pd.DataFrame, slo: Slo) -> np.ndarray:
    """:func:`_breaks` for every row of a window frame at once."""
    requests = frame["requests"].to_numpy(dtype=float)
    value = frame["error_rate" if slo.metric == "error_rate" else slo.metric].to_numpy(dtype=float)
    valid = (requests > 0) & ~np.isnan(value)
    if slo.metric != "error_rate":
        valid &= requests >= MIN_WINDOW_REQUESTS
    with np.errstate(invalid="ignore"):
        over = value >= slo.limit if slo.metric == "error_rate" and slo.limit == 0 else value > slo.limit
    return valid & over


def _first_break(win: pd.DataFrame, slo: Slo, plan: Plan, scope: str, judged: set[str]) -> float | None:
    """Start (s) of the first 5 s window inside ``scope`` where the SLO broke."""
    broken = _breaks_vec(win, slo)
    for w in np.flatnonzero(broken):
        start = float(win.index[w]) * WINDOW_S
        phase = plan.phase_at(start + WINDOW_S / 2)
        if phase in judged if scope == "run" else phase == scope:
            return start
    bounds = [p for p in plan.phases if (p.name in judged if scope == "run" else p.name == scope)]
    return bounds[0].start if bounds else None


def _distribution(hist: Exploded) -> pd.DataFrame:
    """Requests per latency bucket over the whole run."""
    if len(hist.vocab) == 0 or len(hist.pos) == 0:
        return pd.DataFrame({"ms": [], "count": []})
    counts = np.bincount(hist.pos, weights=hist.cnt, minlength=len(hist.vocab)).astype(np.int64)
    keep = counts > 0
    return pd.DataFrame({"ms": hist.values[keep], "count": counts[keep]})


def _capacity(plan: Plan, seconds: pd.DataFrame, slos: Sequence[Slo], windows: Any,
              endpoints: Sequence[str] = (), visit_s: float = 1.0) -> dict[str, Any]:
    """Highest offered arrival rate at which every SLO held, below the lowest rate at which they broke.

    A window breaks when an SLO breaks in it, or when an endpoint's throughput stopped keeping up with
    the offered load (its completed requests per arrival fell more than 10% below what they were at the
    start of the run: a throughput plateau). Throughput is judged only where the offered rate has been
    flat for twice the mean visit (``visit_s``) before the window, as a visit's later requests trail its
    arrival. A break counts when it is sustained (two windows in a row,
    or the last window before the load falls away); a rate that held for a few seconds but broke once
    the queue built up is not capacity.
    """
    overall = windows(None)
    n_windows = len(seconds) // WINDOW_S
    started = seconds["started"].to_numpy()
    per_window_started = [float(started[w * WINDOW_S:(w + 1) * WINDOW_S].sum()) for w in range(n_windows)]
    reference = _throughput_reference(plan, windows, endpoints, per_window_started)
    guard = max(float(WINDOW_S), 2 * visit_s)
    slo_breaks = [("errors" if s.metric == "error_rate" else "latency", _breaks_vec(windows(s.endpoint), s))
                  for s in slos]
    done = {endpoint: windows(endpoint)["requests"].to_numpy(dtype=float) for endpoint in reference}
    rows: list[tuple[int, float, list[str]]] = []
    for w in range(n_windows):
        start = w * WINDOW_S
        if plan.phase_at(start + 0.5) == "recovery":
            break  # load falling away tells nothing about capacity
        broken = [signal for signal, flags in slo_breaks if w < len(flags) and flags[w]]
        if plan.model == "arrivals" and _flat(plan, start - guard, start + WINDOW_S) and \
                _plateau(done, reference, w, per_window_started[w], plan.spacing):
            broken.append("throughput")
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
    limited_by = {"latency": "latency", "errors": "errors", "throughput": "throughput plateau"}[first[2][0]]
    return {"found": True, "arrivals_per_s": best, "requests_per_s": _rps(overall, best_w),
            "limited_by": limited_by, "broke_at_s": first[0] * WINDOW_S,
            "broke_at_per_s": limit_rate, "headroom": best / peak if peak > 0 else None,
            "tested_up_to_per_s": tested}


def _flat(plan: Plan, t0: float, t1: float) -> bool:
    """Whether the planned rate stays within 2% over [t0, t1]."""
    if t0 < 0:
        return False
    rates = [plan.rate(t0 + (t1 - t0) * k / 20) for k in range(21)]
    return max(rates) <= min(rates) * 1.02


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


def _plateau(done: dict[str, np.ndarray], reference: dict[str, float], w: int, started: float,
             spacing: str) -> bool:
    """True when some endpoint completed clearly fewer requests than this window's arrivals call for.

    "Clearly": more than 10% short, and (with Poisson spacing, where the journey mix varies at random)
    more than three standard deviations of a Poisson count short.
    """
    for endpoint, per_arrival in reference.items():
        expected = per_arrival * started
        if expected < 20:
            continue
        completed = float(done[endpoint][w]) if w < len(done[endpoint]) else 0.0
        short = expected - completed
        if short > 0.1 * expected and (spacing == "uniform" or short > 3 * math.sqrt(expected)):
            return True
    return False


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


def _offsite(m: pd.DataFrame) -> pd.DataFrame:
    """Per endpoint, redirects to another host that loadkit did not follow, with one example location."""
    if "offsite_redirects" not in m or not m["offsite_redirects"].any():
        return pd.DataFrame(columns=["endpoint", "count", "example"])
    rows = m[m["offsite_redirects"] > 0]
    return rows.groupby("endpoint").agg(count=("offsite_redirects", "sum"), example=("offsite_example", "first")) \
        .reset_index().sort_values("count", ascending=False).reset_index(drop=True)


def _broke_first(slos: Sequence[Slo], windows: Any, endpoints: Sequence[str]) -> pd.DataFrame:
    """Per endpoint: when its service levels first broke and when its errors began, earliest first.

    Run-wide SLOs apply to each endpoint on its own, next to the SLOs that name it. "Errors began" is
    the first 5 s window in which more than 1% of the endpoint's requests failed.
    """
    rows = []
    for endpoint in endpoints:
        win = windows(endpoint)
        if not win["requests"].any():
            continue
        applicable = [s for s in slos if s.endpoint in (None, endpoint) and s.phase is None]
        slo_break: tuple[float, Slo, float] | None = None
        firsts = [(int(np.argmax(flags)), i) for i, flags in enumerate(_breaks_vec(win, s) for s in applicable)
                  if flags.any()]
        if firsts:
            w, i = min(firsts)
            broken = applicable[i]
            slo_break = (float(win.index[w]) * WINDOW_S, broken,
                         float(_metric_value(win.iloc[w], broken.metric) or 0.0))
        erring = win[(win["failures"] > 0) & (win["error_rate"] > 0.01)]
        errors_began = float(erring.index[0]) * WINDOW_S if len(erring) else None
        firsts = [x for x in (slo_break[0] if slo_break else None, errors_began) if x is not None]
        rows.append({"endpoint": endpoint, "first_s": min(firsts) if firsts else None,
                     "slo_break_s": slo_break[0] if slo_break else None,
                     "slo": slo_break[1].name if slo_break else None,
                     "metric": slo_break[1].metric if slo_break else None,
                     "observed": slo_break[2] if slo_break else None,
                     "limit": slo_break[1].limit if slo_break else None,
                     "errors_began_s": errors_began})
    frame = pd.DataFrame(rows, columns=["endpoint", "first_s", "slo_break_s", "slo", "metric", "observed", "limit",
                                        "errors_began_s"])
    return frame.sort_values(["first_s", "endpoint"], na_position="last").reset_index(drop=True)


__all__ = ["Analysis", "SloResult", "analyze", "error_class"]
