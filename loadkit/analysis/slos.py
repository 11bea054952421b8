"""SLOs per scope under held.py's one rule: sustained window breaks, or a scope's merged total over the limit.

Also the same judged SLOs without the seconds the load generator was paused or saturated (the verdict
asks whether a break is the site's or the machine's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..held import MIN_WINDOW_REQUESTS, WINDOW_S, Break, ScopeResult, Windows, breaks_row, judge_over_scopes
from ..scenario import Slo
from ..traffic import is_probe
from .measurements import Measurements, metric_value
from .model import SloResult
from .scopes import PROBE, RUN, default_scopes, probe_phases, scope_end, scope_start
from .seconds import disturbed_seconds


@dataclass
class SloJudgement:
    """Every SLO over its scopes, the breaks they counted, and each SLO's broken windows."""

    results: list[SloResult] = field(default_factory=list)
    counted: list[Break] = field(default_factory=list)
    flags: list[np.ndarray] = field(default_factory=list)  # per SLO: which windows broke it (held.py's rule)
    levels: list[ScopeResult] = field(default_factory=list)  # per SLO, its result over each count scope (a level)


def judge_slos(meas: Measurements, wins: Windows, slos: Sequence[Slo], seconds: pd.DataFrame,
               endpoint_seconds: pd.DataFrame, count_scopes: Sequence[str] = ()) -> SloJudgement:
    """Each SLO over its phase, or over run, peak and probe; with the breaks that count (held.py).

    ``count_scopes``: more phases an SLO without a phase is judged over (a search's levels) for the breaks
    they count (rule 3: a sustained break, or the phase's merged total over the limit), without a row in
    the results."""
    out = SloJudgement()
    scopes = default_scopes(meas.plan)
    plan = meas.plan
    for slo in slos:
        def total(scope: str, slo: Slo = slo) -> tuple[pd.Series | None, float | None]:
            row = meas.scope_row(probe_phases(plan) if scope == PROBE else scope, slo.endpoint)
            return row, metric_value(row, slo.metric)

        shown = [slo.phase] if slo.phase else scopes
        count_only = [] if slo.phase else [scope for scope in count_scopes if scope not in shown]
        # With a search's levels counted, the whole run's total adds no break of its own (held.py).
        uncounted = [scope for scope in shown if scope not in count_scopes] if count_scopes else []
        judged = judge_over_scopes(slo, meas.windows(slo.endpoint), wins, shown + count_only,
                                   meas.span_value, total, lambda scope: (scope_start(plan, scope),
                                                                          scope_end(plan, scope)), slo.endpoint,
                                   uncounted)
        out.flags.append(judged.flags)
        out.counted.extend(judged.counted)
        per_second = seconds if slo.endpoint is None else \
            endpoint_seconds[endpoint_seconds["endpoint"] == slo.endpoint].set_index("t")
        for r in judged.scopes:
            if r.scope in count_scopes:  # a level, also when it is shown as the peak (the highest level)
                out.levels.append(r)
            if r.scope in count_only:
                continue
            first = first_second(per_second, slo, r.first_break_s) if r.first_break_s is not None else None
            out.results.append(SloResult(slo=slo, scope=r.scope, observed=r.observed, passed=r.passed,
                                         first_break_s=first, requests=r.requests, until_s=r.until_s,
                                         over_scope=r.over_scope, scope_observed=r.scope_observed))
    return out


def first_second(per_second: pd.DataFrame, slo: Slo, window_start: float) -> float:
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


def undisturbed_results(meas: Measurements, wins: Windows, seconds: pd.DataFrame, results: Sequence[SloResult],
                        counted: Sequence[Break]) -> list[SloResult]:
    """The judged SLO breaks again, without the seconds the generator was paused or saturated.

    A response in flight during a stall is measured that much slower, so a break that needs those seconds
    may be loadkit's doing, not the site's. The second before each is left out too (its requests may have
    been in flight when the stall began). Still broken: the scope's total without those seconds breaks, or
    a sustained break in the scope touches none of them. Empty when there were no such seconds.
    """
    disturbed = disturbed_seconds(seconds)
    if not disturbed:
        return []
    m = meas.frame
    left_out = set(disturbed) | {t - 1 for t in disturbed}
    clean = ~m["t"].isin(left_out)
    undisturbed: list[SloResult] = []
    for r in results:
        if is_probe(r.scope) or r.passed or r.slo.journey is not None:  # the probe scope is named as its hold phase
            continue
        phases_in = meas.judged if r.scope == RUN else {r.scope}
        inside = clean & m["phase"].isin(phases_in)
        if r.slo.endpoint is not None:
            inside &= m["endpoint"] == r.slo.endpoint
        agg = meas.by(pd.Series("in", index=m.index, name="scope").where(inside))
        row = agg.loc["in"] if "in" in agg.index else None
        requests = int(row["requests"]) if row is not None else 0
        clean_breaks = [b for b in counted if b.slo is r.slo and b.sustained
                        and wins.in_scope(int(b.start_s // WINDOW_S), r.scope)
                        and not left_out.intersection(range(int(b.start_s), math.ceil(b.end_s)))]
        broke = bool(clean_breaks) or (breaks_row(row, r.slo) and
                                       (requests >= MIN_WINDOW_REQUESTS or r.slo.metric == "error_rate"))
        undisturbed.append(SloResult(slo=r.slo, scope=r.scope, observed=metric_value(row, r.slo.metric),
                                     passed=not broke, first_break_s=None, requests=requests))
    return undisturbed


__all__ = ["SloJudgement", "first_second", "judge_slos", "undisturbed_results"]
