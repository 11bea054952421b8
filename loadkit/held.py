"""The one rule for whether the service levels held, and everything that follows from it.

The SLO judgement per scope, capacity and headroom, what broke first and recovery all read their breaks
from here, so the verdict and the figures beside it cannot disagree (docs/verdict.md lists the
invariants; tests/test_invariants.py keeps them):

- **A window breaks an SLO** when its metric, from the window's merged histogram, is over the limit
  (a latency metric needs at least ``MIN_WINDOW_REQUESTS`` requests in the window). :func:`breaks` is the
  rule, for one window or many.
- **A break counts when it is sustained**: two windows in a row, or the last window of the load before it
  falls away. A single slow window (the first requests to a cold site, a pause) is shown but never
  decides anything on its own.
- **An SLO broke in a scope** (up to the planned peak, the peak, the headroom probe, a named phase) when
  a sustained break starts in it, or when the scope's own merged histogram is over the limit.
  :func:`judge_over_scopes` is this rule for any SLO: an endpoint's (analysis/slos.py) or a journey's
  (journeys.py), each giving its own windows and scope totals.
- **Capacity** is the highest offered rate of a window that held, below the lowest rate at which any
  counted break happened; when the service levels held up to the planned peak, capacity is at least the
  planned peak, and when nothing broke it is at least the most the run offered.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .scenario import Slo
from .traffic import PhaseName, Plan, is_probe, judged_phases
from .units import SHARE_METRICS  # shares (error rate, success rate) are judged on any count: no minimum

WINDOW_S = 5
MIN_WINDOW_REQUESTS = 5  # a window with fewer requests cannot break a latency SLO on its own
PLATEAU_SHORTFALL = 0.10  # an endpoint more than 10% short of the requests its arrivals call for

SIGNALS = ("latency", "errors", "throughput plateau")

# Scopes an SLO is judged over (docs/verdict.md, "Scopes"), besides a phase an SLO names:
RUN = "run"  # everything before the headroom probe ("up to the planned peak")
PEAK = PhaseName.PEAK.value  # the peak phase (a steps profile: its highest step)
PROBE = PhaseName.PROBE.value  # the headroom probe: its ramp and its hold


def breaks(frame: pd.DataFrame, slo: Slo) -> np.ndarray:
    """Whether each row (a window, a scope) of ``frame`` breaks ``slo``: the one rule, vectorised."""
    requests = frame["requests"].to_numpy(dtype=float)
    value = frame["error_rate" if slo.metric == "error_rate" else slo.metric].to_numpy(dtype=float)
    valid = (requests > 0) & ~np.isnan(value)
    if slo.metric not in SHARE_METRICS:
        valid &= requests >= MIN_WINDOW_REQUESTS
    with np.errstate(invalid="ignore"):
        if slo.metric == "success_rate":  # a journey's completed share must stay at or above its limit
            over = value < slo.limit
        else:
            over = value >= slo.limit if slo.metric == "error_rate" and slo.limit == 0 else value > slo.limit
    return np.asarray(valid & over, dtype=bool)


def breaks_row(row: pd.Series | None, slo: Slo) -> bool:
    """:func:`breaks` for a single aggregated row (``None``: nothing measured, nothing broke)."""
    if row is None:
        return False
    return bool(breaks(row.to_frame().T, slo)[0])


def signal_of(slo: Slo) -> str:
    """What an SLO's break says limited the site: ``errors`` or ``latency``."""
    return "errors" if slo.metric in SHARE_METRICS else "latency"


@dataclass(frozen=True)
class Break:
    """A counted break: an SLO (or the site's throughput) that did not hold from ``start_s``."""

    signal: str  # latency | errors | throughput plateau
    slo: Slo | None  # None for a throughput plateau
    endpoint: str | None  # the SLO's endpoint (None: all requests); for a plateau, the endpoint short
    start_s: float
    end_s: float  # end of the sustained windows (or of the scope, when only the scope's total broke)
    phase: str  # the phase of the first broken window
    offered_per_s: float  # the highest rate offered in the first broken window and the visit before it
    observed: float | None  # over the broken windows (plateau: completed share of what arrivals called for)
    sustained: bool  # False when only a scope's merged total broke, not two windows in a row

    @property
    def judged(self) -> bool:
        """True when the break happened at or below the planned peak (before the headroom probe)."""
        return not is_probe(self.phase)


@dataclass(frozen=True)
class Capacity:
    """The capacity figure and the rule it came from."""

    found: bool  # something broke: capacity is a measured limit, not a lower bound
    arrivals_per_s: float  # capacity (found) or the most the run offered and the site held (lower bound)
    requests_per_s: float
    limited_by: str | None
    broke_at_s: float | None
    broke_at_per_s: float | None
    headroom: float | None  # arrivals_per_s / planned peak
    tested_up_to_per_s: float  # the most the run offered


class Windows:
    """The run cut into 5-second windows, with the phase and offered rate of each."""

    def __init__(self, plan: Plan, n_windows: int, visit_s: float) -> None:
        self.plan = plan
        self.n = n_windows
        self.judged = set(judged_phases(plan))
        self.phase = [plan.phase_at(w * WINDOW_S + WINDOW_S / 2) for w in range(n_windows)]
        self.mean_offered = np.array([plan.integral(w * WINDOW_S, (w + 1) * WINDOW_S) / WINDOW_S
                                      for w in range(n_windows)])
        # A window's requests come from visits that began up to one visit before it.
        lookback = min(max(visit_s, 0.0), 60.0)
        self.max_offered = np.array([_max_rate(plan, w * WINDOW_S - lookback, (w + 1) * WINDOW_S)
                                     for w in range(n_windows)])

    def in_load(self, w: int) -> bool:
        """Inside the judged phases or the probe (the recovery and anything after are not)."""
        phase = self.phase[w]
        return phase in self.judged or is_probe(phase)

    def in_scope(self, w: int, scope: str) -> bool:
        """Whether window ``w`` belongs to ``scope`` ("run", "probe" or a phase name)."""
        phase = self.phase[w]
        if scope == RUN:
            return phase in self.judged
        if scope == PROBE:
            return is_probe(phase)
        return phase == scope

    def applies(self, slo: Slo) -> np.ndarray:
        """The windows an SLO is judged in: its phase, or the whole load (probe included)."""
        if slo.phase:
            return np.array([self.phase[w] == slo.phase for w in range(self.n)], dtype=bool)
        return np.array([self.in_load(w) for w in range(self.n)], dtype=bool)

    def last_load_window(self) -> int:
        """The last window before the load falls away (-1 when there is none)."""
        inside = [w for w in range(self.n) if self.in_load(w)]
        return inside[-1] if inside else -1


def _max_rate(plan: Plan, t0: float, t1: float) -> float:
    t0 = max(0.0, t0)
    if t1 <= t0:
        return plan.rate(t0)
    return max(plan.rate(t0 + (t1 - t0) * k / 20) for k in range(21))


def sustained_runs(flags: np.ndarray, last: int) -> list[tuple[int, int]]:
    """Runs ``(first, last)`` of broken windows that count: two or more in a row, or ending the load."""
    runs: list[tuple[int, int]] = []
    w = 0
    while w < len(flags):
        if not flags[w]:
            w += 1
            continue
        end = w
        while end + 1 < len(flags) and flags[end + 1]:
            end += 1
        if end > w or end == last:
            runs.append((w, end))
        w = end + 1
    return runs


SpanValue = Callable[[Slo, int, int], "float | None"]


def slo_breaks(slo: Slo, win: pd.DataFrame, windows: Windows, span_value: SpanValue) -> list[Break]:
    """The sustained breaks of one SLO over its windows."""
    flags = breaks(win, slo) & windows.applies(slo)
    out = []
    for first, last in sustained_runs(flags, windows.last_load_window()):
        out.append(Break(signal=signal_of(slo), slo=slo, endpoint=slo.endpoint, start_s=first * WINDOW_S,
                         end_s=(last + 1) * WINDOW_S, phase=windows.phase[first],
                         offered_per_s=float(windows.max_offered[first]),
                         observed=span_value(slo, first, last), sustained=True))
    return out


ScopeTotal = Callable[[str], "tuple[pd.Series | None, float | None]"]
ScopeBounds = Callable[[str], tuple[float, float]]


@dataclass(frozen=True)
class ScopeResult:
    """One SLO over one scope (rule 3): what the SLO table shows and when the break began."""

    slo: Slo
    scope: str
    observed: float | None  # the scope's merged value, or the broken windows' when only they broke
    first_break_s: float | None  # start of the first counted break in the scope (None: held)
    until_s: float | None  # end of the sustained broken windows that ``observed`` covers
    requests: int  # what the scope's metric counted (requests, or a journey's visits)
    over_scope: bool  # ``observed`` is the scope's merged total (False: the broken windows')
    scope_observed: float | None  # the scope's merged total, whatever ``observed`` shows

    @property
    def passed(self) -> bool:
        """True when the SLO held in the scope."""
        return self.first_break_s is None


@dataclass(frozen=True)
class SloOverScopes:
    """One SLO judged by the rule: its broken windows, the breaks that count, and each scope's result."""

    flags: np.ndarray  # which windows broke it (rule 1), within the windows it applies to
    counted: list[Break]  # its sustained breaks, then the breaks of scopes whose total alone broke
    scopes: list[ScopeResult]


def judge_over_scopes(slo: Slo, win: pd.DataFrame, windows: Windows, scopes: Sequence[str],
                      span_value: SpanValue, total: ScopeTotal, bounds: ScopeBounds,
                      endpoint: str | None, uncounted: Sequence[str] = ()) -> SloOverScopes:
    """Rules 1 to 3 for one SLO, whatever it counts (an endpoint's requests, a journey's visits).

    ``win``: its 5-second windows (``requests`` and the metric's column); ``span_value(slo, w0, w1)``: its
    value over windows w0..w1; ``total(scope)``: the scope's merged row (``requests`` and the metric; None
    when nothing was measured) with the metric's value; ``bounds(scope)``: when the scope starts (a break of
    its total alone counts from there when no window of it broke) and ends. Breaks name ``endpoint``.
    ``uncounted``: scopes whose total alone breaking shows in their result but is not a counted break (a
    search's whole run: each level is judged over its own total, and a break of the run's total with no
    broken window would otherwise be credited to the first level).
    """
    flags = breaks(win, slo) & windows.applies(slo) if windows.n else np.zeros(0, dtype=bool)
    sustained = [b if b.endpoint == endpoint else replace(b, endpoint=endpoint)
                 for b in (slo_breaks(slo, win, windows, span_value) if windows.n else [])]
    counted = list(sustained)
    results = []
    for scope in scopes:
        row, value = total(scope)
        requests = int(row["requests"]) if row is not None else 0
        total_broke = breaks_row(row, slo)
        inside = [b for b in sustained if windows.in_scope(int(b.start_s // WINDOW_S), scope)]
        observed, first, until = value, None, None
        if total_broke:
            in_scope = [w for w in np.flatnonzero(flags) if windows.in_scope(int(w), scope)]
            start, end = bounds(scope)
            first = float(in_scope[0] * WINDOW_S) if in_scope else start
            if inside:
                first, until = min(first, inside[0].start_s), inside[0].end_s
            elif scope not in uncounted:
                # Only the scope's total broke: it counts as a break from its first slow window.
                w0 = int(first // WINDOW_S)
                counted.append(Break(signal=signal_of(slo), slo=slo, endpoint=endpoint, start_s=first, end_s=end,
                                     phase=windows.phase[w0] if w0 < windows.n else scope,
                                     offered_per_s=float(windows.max_offered[w0]) if w0 < windows.n
                                     else windows.plan.planned_peak, observed=value, sustained=False))
        elif inside:
            observed, first, until = inside[0].observed, inside[0].start_s, inside[0].end_s
        results.append(ScopeResult(slo=slo, scope=scope, observed=observed, first_break_s=first, until_s=until,
                                   requests=requests, over_scope=first is None or total_broke,
                                   scope_observed=value))
    return SloOverScopes(flags=flags, counted=counted, scopes=results)


def plateau_breaks(windows: Windows, done: dict[str, np.ndarray], reference: dict[str, float],
                   started: Sequence[float], visit_s: float) -> list[Break]:
    """Sustained stretches in which some endpoint stopped keeping up with the arrivals (open model).

    Judged only where the plan has been flat for twice the mean visit before the window, as a visit's
    later requests trail its arrival; "short" means more than 10% below the requests per arrival of the
    run's first phase and, with Poisson spacing, more than three standard deviations of a Poisson count.
    """
    plan = windows.plan
    if plan.model != "arrivals" or not reference:
        return []
    guard = max(float(WINDOW_S), 2 * visit_s)
    flags = np.zeros(windows.n, dtype=bool)
    worst: dict[int, tuple[str, float]] = {}
    for w in range(windows.n):
        start = w * WINDOW_S
        if not windows.in_load(w) or not _flat(plan, start - guard, start + WINDOW_S):
            continue
        short = _shortest(done, reference, w, started[w] if w < len(started) else 0.0, plan.spacing)
        if short is not None:
            flags[w] = True
            worst[w] = short
    out = []
    for first, last in sustained_runs(flags, windows.last_load_window()):
        endpoint, share = worst[first]
        out.append(Break(signal="throughput plateau", slo=None, endpoint=endpoint, start_s=first * WINDOW_S,
                         end_s=(last + 1) * WINDOW_S, phase=windows.phase[first],
                         offered_per_s=float(windows.max_offered[first]), observed=share, sustained=True))
    return out


def plateau_flags(breaks_: Sequence[Break], n: int) -> np.ndarray:
    """Windows covered by throughput-plateau breaks."""
    flags = np.zeros(n, dtype=bool)
    for b in breaks_:
        if b.signal == "throughput plateau":
            flags[int(b.start_s // WINDOW_S):int(b.end_s // WINDOW_S)] = True
    return flags


def _flat(plan: Plan, t0: float, t1: float) -> bool:
    """Whether the planned rate stays within 2% over [t0, t1]."""
    if t0 < 0:
        return False
    rates = [plan.rate(t0 + (t1 - t0) * k / 20) for k in range(21)]
    return max(rates) <= min(rates) * 1.02


def _shortest(done: dict[str, np.ndarray], reference: dict[str, float], w: int, started: float,
              spacing: str) -> tuple[str, float] | None:
    """The endpoint furthest short of what this window's arrivals call for, with its completed share."""
    worst: tuple[str, float] | None = None
    for endpoint, per_arrival in reference.items():
        expected = per_arrival * started
        if expected < 20:
            continue
        completed = float(done[endpoint][w]) if w < len(done[endpoint]) else 0.0
        short = expected - completed
        if short > PLATEAU_SHORTFALL * expected and (spacing == "uniform" or short > 3 * math.sqrt(expected)):
            share = completed / expected
            if worst is None or share < worst[1]:
                worst = (endpoint, share)
    return worst


def capacity(windows: Windows, counted: Sequence[Break], held: np.ndarray,
             requests_per_s: Callable[[int], float]) -> Capacity:
    """Capacity from the counted breaks and the windows that held (see the module's rules)."""
    plan = windows.plan
    peak = plan.planned_peak
    load = [w for w in range(windows.n) if windows.in_load(w)]
    tested = max((float(windows.max_offered[w]) for w in load), default=0.0)
    ok = [w for w in load if held[w]]
    if not counted:
        best_w = max(ok, key=lambda w: (windows.max_offered[w], -w), default=-1)
        best = max(float(windows.max_offered[best_w]) if best_w >= 0 else 0.0, peak)
        return Capacity(found=False, arrivals_per_s=best, requests_per_s=requests_per_s(best_w),
                        limited_by=None, broke_at_s=None, broke_at_per_s=None,
                        headroom=best / peak if peak > 0 else None, tested_up_to_per_s=tested)
    first = min(counted, key=lambda b: (b.start_s, SIGNALS.index(b.signal)))
    limit_rate = min(b.offered_per_s for b in counted)
    below = [w for w in ok if windows.mean_offered[w] < limit_rate * 0.999]
    best_w = max(below, key=lambda w: (windows.mean_offered[w], -w), default=-1)
    best = float(windows.mean_offered[best_w]) if best_w >= 0 else 0.0
    if not any(b.judged for b in counted):
        # Every service level held up to the planned peak: the site took at least the peak.
        best = max(best, peak)
    return Capacity(found=True, arrivals_per_s=best, requests_per_s=requests_per_s(best_w),
                    limited_by=first.signal, broke_at_s=first.start_s, broke_at_per_s=limit_rate,
                    headroom=best / peak if peak > 0 else None, tested_up_to_per_s=tested)


__all__ = ["MIN_WINDOW_REQUESTS", "PEAK", "PROBE", "RUN", "SIGNALS", "WINDOW_S", "Break", "Capacity", "ScopeResult",
           "SloOverScopes", "Windows", "breaks", "breaks_row", "capacity", "judge_over_scopes", "plateau_breaks",
           "plateau_flags", "signal_of", "slo_breaks", "sustained_runs"]
