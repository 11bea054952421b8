"""Journeys as results: how many visits of each journey started, completed, failed (where, and how) or were cut
short, how long completed visits took, and the journey SLOs judged by held.py's one rule.

Pure functions over ``journeys.jsonl`` (one row per second a visit began and journey; rows from several
flushes or workers add up) and the plan. A visit is counted in the second it began, so its phase is the
phase whose traffic sent it. Durations are of completed visits only (a visit that failed fast must not
flatter the time a purchase takes), from the same mergeable histograms as the endpoints' latencies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .held import WINDOW_S, Break, ScopeResult, Windows, judge_over_scopes
from .histogram import Histogram
from .scenario import Slo
from .traffic import Plan, is_probe

# success_rate and the durations (pNN_duration) a journey SLO may name
DURATION_QUANTILES = {"p50_duration": 0.50, "p75_duration": 0.75, "p90_duration": 0.90, "p95_duration": 0.95,
                      "p99_duration": 0.99, "max_duration": 1.0}


@dataclass(frozen=True)
class StepFailure:
    """Visits of a journey that ended at one step with one kind of failure."""

    step: int  # the step's number in the journey (1: the first; think steps count)
    endpoint: str  # the step's endpoint name ('' when the scenario no longer names it)
    kind: str  # the failure kind (http_503_retry_after, timeout, check_failed, ...)
    count: int


@dataclass(frozen=True)
class JourneyFigures:
    """One journey's visits over a stretch of the run (the whole run, a phase, a scope)."""

    started: int  # completed + failed + cut short
    completed: int
    failed: int
    cut_short: int  # still walking when the run ended, stopped then: neither completed nor the site's failure
    p50_ms: float | None  # durations of the completed visits
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None

    @property
    def ended(self) -> int:
        """Visits that finished, one way or the other (the success rate's denominator)."""
        return self.completed + self.failed

    @property
    def success_rate(self) -> float | None:
        """Completed share of the visits that finished (None: none finished)."""
        return self.completed / self.ended if self.ended else None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for summary.json."""
        return {"started": self.started, "completed": self.completed, "failed": self.failed,
                "cut_short": self.cut_short, "success_rate": _round(self.success_rate, 5),
                "p50_ms": _round(self.p50_ms, 1), "p95_ms": _round(self.p95_ms, 1), "p99_ms": _round(self.p99_ms, 1),
                "max_ms": _round(self.max_ms, 1)}


@dataclass(frozen=True)
class JourneyResult:
    """One journey over the run, per phase and per scope, with where its failed visits ended."""

    name: str
    total: JourneyFigures
    phases: Mapping[str, JourneyFigures]  # plan phase -> figures
    scopes: Mapping[str, JourneyFigures]  # "run" (up to the planned peak), "peak", "probe"
    failures: tuple[StepFailure, ...]  # most visits first

    def to_dict(self) -> dict[str, Any]:
        """The journey's object in summary.json's ``journeys``."""
        return {"name": self.name, **self.total.to_dict(),
                "phases": {name: f.to_dict() for name, f in self.phases.items()},
                "scopes": {name: f.to_dict() for name, f in self.scopes.items()},
                "failed_at": [{"step": f.step, "endpoint": f.endpoint, "kind": f.kind, "count": f.count}
                              for f in self.failures]}


@dataclass(frozen=True)
class JourneyData:
    """``journeys.jsonl`` merged: one row per (second a visit began, journey)."""

    frame: pd.DataFrame  # t, journey, completed, failed, cut_short
    hists: Mapping[tuple[int, str], Histogram]  # completed visits' durations
    failures: pd.DataFrame  # t, journey, step, kind, endpoint ('' unless recorded), count

    @property
    def empty(self) -> bool:
        """True when the run recorded no journey (an older run, or a locustfile's recorded before its tasks were)."""
        return bool(self.frame.empty)

    def figures(self, journey: str, inside: np.ndarray | None = None) -> JourneyFigures:
        """A journey's figures over the rows where ``inside`` (a mask over seconds, by index t) holds."""
        f = self.frame[self.frame["journey"] == journey]
        if inside is not None:
            f = f[[bool(inside[t]) if t < len(inside) else False for t in f["t"]]]
        hist = Histogram()
        for t in f["t"]:
            h = self.hists.get((int(t), journey))
            if h is not None:
                hist.merge(h)
        completed, failed, cut = int(f["completed"].sum()), int(f["failed"].sum()), int(f["cut_short"].sum())

        def q(quantile: float) -> float | None:
            value = hist.percentile(quantile)
            return None if value is None else value / 1000.0

        return JourneyFigures(started=completed + failed + cut, completed=completed, failed=failed, cut_short=cut,
                              p50_ms=q(0.5), p95_ms=q(0.95), p99_ms=q(0.99),
                              max_ms=hist.max_us / 1000.0 if hist.total else None,
                              mean_ms=hist.sum_us / hist.total / 1000.0 if hist.total else None)


def read_journeys(rows: Sequence[Mapping[str, Any]]) -> JourneyData:
    """Merge journeys.jsonl rows (several flushes or workers add up)."""
    counts: dict[tuple[int, str], list[int]] = {}
    hists: dict[tuple[int, str], Histogram] = {}
    fails: dict[tuple[int, str, int, str, str], int] = {}
    for row in rows:
        key = (int(row["t"]), str(row["journey"]))
        cell = counts.setdefault(key, [0, 0, 0])
        cell[0] += int(row.get("completed", 0))
        cell[2] += int(row.get("cut_short", 0))
        for failure in row.get("failed") or []:
            n = int(failure["count"])
            cell[1] += n
            fkey = (key[0], key[1], int(failure["step"]), str(failure["kind"]), str(failure.get("endpoint") or ""))
            fails[fkey] = fails.get(fkey, 0) + n
        if row.get("hist"):
            h = hists.get(key)
            if h is None:
                hists[key] = Histogram.from_dict(row["hist"])
            else:
                h.merge(Histogram.from_dict(row["hist"]))
    frame = pd.DataFrame([(t, j, c[0], c[1], c[2]) for (t, j), c in sorted(counts.items())],
                         columns=["t", "journey", "completed", "failed", "cut_short"])
    failures = pd.DataFrame([(t, j, s, k, e, n) for (t, j, s, k, e), n in sorted(fails.items())],
                            columns=["t", "journey", "step", "kind", "endpoint", "count"])
    return JourneyData(frame=frame, hists=hists, failures=failures)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def scope_masks(plan: Plan, span: int, peak_phase: str | None) -> dict[str, np.ndarray]:
    """Per scope ("run", "peak", "probe") and per phase: which seconds (by index) belong to it."""
    phase_of = [plan.phase_at(t + 0.5) for t in range(span)]
    judged: set[str] = set()
    for phase in plan.phases:
        if is_probe(phase.name):
            break
        judged.add(phase.name)
    masks = {"run": np.array([p in judged for p in phase_of], dtype=bool)}
    if peak_phase is not None:
        masks["peak"] = np.array([p == peak_phase for p in phase_of], dtype=bool)
    if any(is_probe(p.name) for p in plan.phases):
        masks["probe"] = np.array([is_probe(p) for p in phase_of], dtype=bool)
    for phase in plan.phases:
        masks[f"phase:{phase.name}"] = np.array([p == phase.name for p in phase_of], dtype=bool)
    return masks


def summarize(data: JourneyData, plan: Plan, span: int, peak_phase: str | None,
              steps: Mapping[str, Sequence[str]]) -> tuple[JourneyResult, ...]:
    """Every journey's figures over the run, its phases and scopes. ``steps``: per journey, the endpoint of
    each step ('' for a think step), so a failure names the step it ended at."""
    if data.empty:
        return ()
    masks = scope_masks(plan, span, peak_phase)
    out = []
    names = list(dict.fromkeys([*steps, *data.frame["journey"]]))
    for name in names:
        if not (data.frame["journey"] == name).any():
            continue
        phases = {p.name: data.figures(name, masks[f"phase:{p.name}"]) for p in plan.phases}
        scopes: dict[str, JourneyFigures] = {s: data.figures(name, masks[s]) for s in ("run", "peak", "probe")
                                             if s in masks}
        f = data.failures[data.failures["journey"] == name].groupby(["step", "kind", "endpoint"],
                                                                   as_index=False)["count"].sum()
        endpoints = steps.get(name, ())
        # a scenario's journey names its steps; a locustfile's task recorded the request it failed at
        failures = tuple(StepFailure(step=int(r["step"]), kind=str(r["kind"]), count=int(r["count"]),
                                     endpoint=endpoints[int(r["step"]) - 1] if 0 < int(r["step"]) <= len(endpoints)
                                     else str(r["endpoint"]))
                         for r in f.sort_values(["count", "step"], ascending=[False, True]).to_dict("records"))
        out.append(JourneyResult(name=name, total=data.figures(name), phases=phases, scopes=scopes,
                                 failures=failures))
    return tuple(out)


def windows_frame(data: JourneyData, journey: str, n_windows: int) -> pd.DataFrame:
    """5-second windows of one journey's visits (by the second they began), with the columns held.py's rule
    reads for a journey SLO: ``requests`` (visits counted: finished ones for success_rate, completed ones for
    the durations; the rule reads the column it needs) and one column per metric."""
    rows = []
    f = data.frame[data.frame["journey"] == journey]
    by_window: dict[int, list[int]] = {}
    for t in f["t"]:
        by_window.setdefault(int(t) // WINDOW_S, []).append(int(t))
    for w in range(n_windows):
        seconds = by_window.get(w, [])
        inside = f[f["t"].isin(seconds)]
        completed, failed = int(inside["completed"].sum()), int(inside["failed"].sum())
        hist = Histogram()
        for t in seconds:
            h = data.hists.get((t, journey))
            if h is not None:
                hist.merge(h)
        row: dict[str, Any] = {"ended": completed + failed, "completed": completed, "failed": failed,
                               "success_rate": completed / (completed + failed) if completed + failed else np.nan}
        for metric, q in DURATION_QUANTILES.items():
            value = hist.percentile(q) if q < 1 else (hist.max_us if hist.total else None)
            row[metric] = value / 1000.0 if value is not None else np.nan
        row["mean_duration"] = hist.sum_us / hist.total / 1000.0 if hist.total else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=["ended", "completed", "failed", "success_rate", *DURATION_QUANTILES,
                                       "mean_duration"], index=pd.RangeIndex(n_windows))


def for_rule(frame: pd.DataFrame, slo: Slo) -> pd.DataFrame:
    """The frame as held.breaks reads it for this SLO: ``requests`` is what the metric counts."""
    return frame.assign(requests=frame["ended"] if slo.metric == "success_rate" else frame["completed"])


def scope_row(data: JourneyData, journey: str, mask: np.ndarray, slo: Slo) -> pd.Series | None:
    """A journey's merged figures over a scope, as a one-row frame for held.breaks_row."""
    figures = data.figures(journey, mask)
    if figures.started == 0:
        return None
    value = slo_value(figures, slo.metric)
    return pd.Series({"requests": figures.ended if slo.metric == "success_rate" else figures.completed,
                      slo.metric: np.nan if value is None else value})


def slo_value(figures: JourneyFigures, metric: str) -> float | None:
    """A journey metric over some figures."""
    if metric == "success_rate":
        return figures.success_rate
    if metric == "mean_duration":
        return figures.mean_ms
    return {"p50_duration": figures.p50_ms, "p95_duration": figures.p95_ms, "p99_duration": figures.p99_ms,
            "max_duration": figures.max_ms}.get(metric)


def judge_slos(data: JourneyData, slos: Sequence[Slo], plan: Plan, wins: Windows, scopes: Sequence[str],
               span: int, peak_phase: str | None, count_scopes: Sequence[str] = (),
               ) -> tuple[list[ScopeResult], list[Break], list[np.ndarray], list[ScopeResult]]:
    """Journey SLOs judged by held.py's rule, over the same scopes and windows as endpoint SLOs: per SLO and
    scope a result, the counted breaks (named ``journey NAME``), per SLO the windows that broke, and the
    results over ``count_scopes``: phases judged only for the breaks they count (a search's levels; no
    result rows in the first list)."""
    masks = scope_masks(plan, span, peak_phase)
    results: list[ScopeResult] = []
    counted: list[Break] = []
    flags: list[np.ndarray] = []
    levels: list[ScopeResult] = []
    for slo in slos:
        journey = str(slo.journey)

        def span_value(s: Slo, first_w: int, last_w: int, journey: str = journey) -> float | None:
            inside = np.zeros(span, dtype=bool)
            inside[first_w * WINDOW_S:min(span, (last_w + 1) * WINDOW_S)] = True
            return slo_value(data.figures(journey, inside), s.metric)

        def total(scope: str, slo: Slo = slo, journey: str = journey) -> tuple[pd.Series | None, float | None]:
            row = scope_row(data, journey, _mask(masks, scope), slo)
            return row, None if row is None or pd.isna(row[slo.metric]) else float(row[slo.metric])

        def bounds(scope: str) -> tuple[float, float]:
            # the seconds whose visits the scope counts, from the start of the window its first one is in
            seconds = np.flatnonzero(_mask(masks, scope))
            start = float(seconds[0] // WINDOW_S * WINDOW_S) if len(seconds) else 0.0
            return start, float(seconds[-1] + 1) if len(seconds) else start

        shown = [s for s in ([slo.phase] if slo.phase else scopes) if _scope_key(s) in masks]
        count_only = [] if slo.phase else [s for s in count_scopes if s not in shown and _scope_key(s) in masks]
        # With a search's levels counted, the whole run's total adds no break of its own (held.py).
        uncounted = [scope for scope in shown if scope not in count_scopes] if count_scopes else []
        judged = judge_over_scopes(slo, for_rule(windows_frame(data, journey, wins.n), slo), wins,
                                   shown + count_only, span_value, total, bounds, f"journey {journey}", uncounted)
        flags.append(judged.flags)
        counted.extend(judged.counted)
        results.extend(r for r in judged.scopes if r.scope not in count_only)
        levels.extend(r for r in judged.scopes if r.scope in count_scopes)  # also a level shown as the peak
    return results, counted, flags, levels


def _scope_key(scope: str) -> str:
    return scope if scope in ("run", "peak", "probe") else f"phase:{scope}"


def _mask(masks: Mapping[str, np.ndarray], scope: str) -> np.ndarray:
    return masks[_scope_key(scope)]


__all__ = ["DURATION_QUANTILES", "JourneyData", "JourneyFigures", "JourneyResult",
           "StepFailure", "judge_slos", "read_journeys", "summarize", "windows_frame"]
