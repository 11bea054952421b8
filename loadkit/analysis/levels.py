"""Which levels of a capacity search cannot be judged, and why, in words (docs/verdict.md, "Capacity search").

A level is judged by held.py's rule like any scope, but the rule needs something to judge: a level **cannot
be judged** when

- it held, yet an SLO counted too few requests (or visits) in it to be judged at all: fewer than
  ``MIN_WINDOW_REQUESTS`` for a latency metric, none for a share (error rate, success rate). "Held" would
  claim a service level nobody measured;
- it held, but loadkit did not deliver it: more of its planned arrivals started late or not at all than
  ``verdict.max_late_share`` allows (the verdict's own tolerance for a whole run);
- it broke, but only where loadkit itself stalled: every break that began in the level touches a second in
  which the machine paused loadkit or its CPU was saturated, and a latency break is not over its limit by
  more than the longest stall (as the verdict weighs a planned run's breaks, delivery.py). Breaks that
  began in the cool-down after the level, and share breaks (errors), stand.

The run stage stops the search at such a level (run/searching.py): choosing the next level would be a guess.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..held import MIN_WINDOW_REQUESTS, Break, ScopeResult
from ..search import Unjudged
from ..traffic import LEVEL_PREFIX, Plan, cool_down_phase
from ..units import SHARE_METRICS, format_ms
from .seconds import PAUSE_MS, SATURATED_CPU


def unjudged_levels(plan: Plan, level_results: Sequence[ScopeResult], counted: Sequence[Break],
                    seconds: pd.DataFrame, max_late_share: float) -> dict[str, Unjudged]:
    """Per level phase (``level-3``) that cannot be judged, why: its kind and a clause ("it had 3 requests
    for p95 < 300ms, too few to judge (at least 5 are needed)"). ``level_results``: every SLO over each level (held.py's
    scope results); ``seconds``: the analysis's per-second table, indexed by second."""
    out: dict[str, Unjudged] = {}
    for phase in plan.phases:
        if not phase.name.startswith(LEVEL_PREFIX):
            continue
        inside = seconds[(seconds.index >= phase.start) & (seconds.index < phase.end)]
        number = phase.name.removeprefix(LEVEL_PREFIX)
        own = {phase.name, cool_down_phase(int(number))} if number.isdigit() else {phase.name}
        breaks = [b for b in counted if b.phase in own]
        if breaks:
            why = _stalled_breaks(breaks, seconds, phase.end)
        else:
            why = _undelivered(inside, plan.integral(phase.start, phase.end), max_late_share) or \
                _too_few(level_results, phase.name)
        if why:
            out[phase.name] = why
    return out


def _stalls(rows: pd.DataFrame) -> tuple[float, float]:
    """The longest pause (ms) and the highest CPU (% of a core) of some seconds (0 where not measured)."""
    hiccup = np.nan_to_num(rows["hiccup_ms"].to_numpy(dtype=float)) if "hiccup_ms" in rows else np.zeros(1)
    cpu = np.nan_to_num(rows["cpu"].to_numpy(dtype=float)) if "cpu" in rows else np.zeros(1)
    return float(hiccup.max(initial=0.0)), float(cpu.max(initial=0.0))


def _stall_words(pause_ms: float, cpu: float) -> str:
    causes = []
    if pause_ms >= PAUSE_MS:
        causes.append(f"the machine paused loadkit for up to {format_ms(pause_ms)}")
    if cpu >= SATURATED_CPU:
        causes.append(f"loadkit's own CPU was saturated ({cpu:.0f}% of a core)")
    return " and ".join(causes)


def _stalled_breaks(breaks: Sequence[Break], seconds: pd.DataFrame, level_end: float) -> Unjudged | None:
    """Why a broken level cannot be judged: each of its breaks needs the seconds loadkit stalled (None: one
    of them is the site's)."""
    worst = (0.0, 0.0)
    for b in breaks:
        if b.start_s >= level_end or b.slo is not None and b.slo.metric in SHARE_METRICS:
            return None  # a break after the level's arrivals, or failed requests: the site's
        rows = seconds[(seconds.index >= int(b.start_s) - 1) & (seconds.index < math.ceil(b.end_s))]
        pause_ms, cpu = _stalls(rows)
        if pause_ms < PAUSE_MS and cpu < SATURATED_CPU:
            return None
        if b.slo is not None and b.observed is not None and b.observed - pause_ms > b.slo.limit:
            return None  # over the limit even had every response waited out the longest pause
        worst = (max(worst[0], pause_ms), max(worst[1], cpu))
    return Unjudged("stalled", f"it broke its service levels only while {_stall_words(*worst)}, so the break "
                    "may be loadkit's, not the site's")


def _undelivered(inside: pd.DataFrame, planned: float, max_late_share: float) -> Unjudged | None:
    """Why a level that held was not delivered: too many of its arrivals late or missing (None: delivered)."""
    if inside.empty or planned <= 0:
        return None
    missing = int(inside["late"].sum() + inside["dropped"].sum())
    if missing <= max(1.0, max_late_share * planned):
        return None
    stalls = _stall_words(*_stalls(inside))
    return Unjudged("undelivered", f"loadkit did not deliver it: {missing} of {planned:.0f} planned visitors "
                    "started late or not at all" + (f" ({stalls})" if stalls else ""))


def _too_few(level_results: Sequence[ScopeResult], level: str) -> Unjudged | None:
    """Why a level that held cannot be judged: an SLO counted too few requests in it (None: every SLO had
    enough)."""
    for r in level_results:
        if r.scope != level:
            continue
        needed = 1 if r.slo.metric in SHARE_METRICS else MIN_WINDOW_REQUESTS
        if r.requests < needed:
            what = "visits" if r.slo.journey is not None else "requests"
            return Unjudged("too_few", f"it had {r.requests} {what} for {r.slo.name}, too few to judge (at least "
                            f"{needed} are needed)")
    return None


__all__ = ["unjudged_levels"]
