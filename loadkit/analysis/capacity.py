"""Throughput plateaus, capacity and headroom (held.py's rule over the windows), and recovery."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..held import MIN_WINDOW_REQUESTS, WINDOW_S, Break, Capacity, Windows, breaks_row, plateau_breaks, plateau_flags
from ..held import capacity as held_capacity
from ..scenario import Scenario, SearchTraffic, Slo
from ..search import Bracket, Unjudged, bracket, level_outcomes, limits_of, required_rate, unjudged_of
from ..traffic import LEVEL_PREFIX, PhaseName, Plan
from .measurements import Measurements, row_at
from .model import Recovery


def capacity(meas: Measurements, wins: Windows, seconds: pd.DataFrame, endpoints: Sequence[str], visit_s: float,
             slo_flags: Sequence[np.ndarray], counted: list[Break]) -> Capacity:
    """Capacity from the counted breaks (throughput plateaus are added to ``counted``) and the windows that
    held: measured, and nothing broke in them."""
    n_windows = meas.n_windows
    started = seconds["started"].to_numpy()
    started_per_window = [float(started[w * WINDOW_S:(w + 1) * WINDOW_S].sum()) for w in range(n_windows)]
    reference = _throughput_reference(meas, endpoints, started_per_window)
    done = {endpoint: meas.windows(endpoint)["requests"].to_numpy(dtype=float) for endpoint in reference}
    plateaus = plateau_breaks(wins, done, reference, started_per_window, visit_s)
    counted.extend(plateaus)
    any_flag = plateau_flags(plateaus, n_windows)
    for flags in slo_flags:
        any_flag |= flags
    overall = meas.windows(None) if n_windows else pd.DataFrame({"requests": []})
    measured = overall["requests"].reindex(range(n_windows)).fillna(0).to_numpy() > 0
    held_windows = ~any_flag & measured  # a window held when it was measured and nothing broke in it

    def rps(w: int) -> float:
        row = row_at(overall, w)
        return float(row["requests"]) / WINDOW_S if row is not None else 0.0

    return held_capacity(wins, counted, held_windows, rps)


def _throughput_reference(meas: Measurements, endpoints: Sequence[str],
                          started: Sequence[float]) -> dict[str, float]:
    """Completed requests per arrival for each endpoint over the run's first phase (its lightest load)."""
    plan = meas.plan
    if not plan.phases or not endpoints:
        return {}
    first = plan.phases[0]
    ws = [w for w in range(int(first.start // WINDOW_S), int(first.end // WINDOW_S)) if w < len(started)]
    arrivals = sum(started[w] for w in ws)
    if arrivals < 20:
        return {}
    out = {}
    for endpoint in endpoints:
        requests = meas.windows(endpoint)["requests"].to_numpy(dtype=float)
        done = sum(requests[w] for w in ws if w < len(requests))
        if done > 0:
            out[endpoint] = done / arrivals
    return out


def recovery(meas: Measurements, slos: Sequence[Slo], endpoints: Sequence[str]) -> Recovery:
    """When, after the load fell back to baseline, the site was healthy again (and stayed so).

    A 5 s window is healthy when every SLO holds in it and each endpoint's p95 is within
    max(2x, +100 ms) of its own p95 before the burst (the baseline; with too few requests there, the
    baseline and the ramp), the error rate within one percentage point of that reference.
    """
    plan: Plan = meas.plan
    rec = next((p for p in plan.phases if p.name == PhaseName.RECOVERY.value), None)
    if rec is None:
        return Recovery(measured=False)
    reference = _recovery_reference(meas, endpoints)
    first_w = math.ceil(rec.start / WINDOW_S)
    last_w = math.floor(rec.end / WINDOW_S)
    ok_since: float | None = None
    checked = 0
    for w in range(first_w, last_w):
        overall = row_at(meas.windows(None), w)
        if overall is None or overall["requests"] == 0:
            continue
        checked += 1
        good = not any(breaks_row(row_at(meas.windows(s.endpoint), w), s) for s in slos)
        for endpoint, (ref_p95, ref_err) in reference.items():
            row = row_at(meas.windows(endpoint), w)
            if row is None or row["requests"] < 3:
                continue
            if row["p95"] > max(2 * ref_p95, ref_p95 + 100.0) or row["error_rate"] > ref_err + 0.01:
                good = False
        if good and ok_since is None:
            ok_since = w * WINDOW_S
        elif not good:
            ok_since = None
    if checked == 0:
        return Recovery(measured=False)
    return Recovery(measured=True, recovered=ok_since is not None,
                    seconds=None if ok_since is None else max(0.0, ok_since - rec.start), window_s=WINDOW_S)


def _recovery_reference(meas: Measurements, endpoints: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Each endpoint's p95 and error rate before the burst."""
    reference: dict[str, tuple[float, float]] = {}
    for endpoint in endpoints:
        # The baseline alone when it has enough requests: the ramp may already queue.
        for scope in ((PhaseName.BASELINE.value,), (PhaseName.BASELINE.value, PhaseName.RAMP.value)):
            row = meas.scope_row(scope, endpoint)
            if row is not None and row["requests"] >= MIN_WINDOW_REQUESTS:
                reference[endpoint] = (float(row["p95"]), float(row["error_rate"]))
                break
    return reference


def search_levels(plan: Plan) -> tuple[str, ...]:
    """A search plan's level phases (none for other plans)."""
    if plan.profile != "search":
        return ()
    return tuple(p.name for p in plan.phases if p.name.startswith(LEVEL_PREFIX))


def search_bracket(scenario: Scenario, plan: Plan, counted: Sequence[Break], interrupted: bool,
                   not_judged: Mapping[str, Unjudged] | None = None,
                   recorded: Mapping[str, Any] | None = None) -> Bracket | None:
    """A search's levels, each held or broken by the counted breaks (or not judged: ``not_judged``, per
    level, why), and the bracket they give (None for other profiles). ``recorded``: run.json's ``search``,
    the run's own account of why it stopped, which the bracket keeps (search.bracket); a level the run
    could not judge stays not judged, for the run's reason, even where the run directory reads otherwise."""
    tr = scenario.traffic
    if plan.profile != "search" or not isinstance(tr, SearchTraffic):
        return None
    limits = limits_of(scenario, rate_scale=plan.rate_scale / tr.rate_scale)
    levels = level_outcomes(plan, counted, not_judged)
    recorded = recorded or {}
    stopped_at = None
    if recorded.get("ended_by") == "not_judged" and isinstance(recorded.get("level"), int):
        n = int(recorded["level"])
        if 1 <= n <= len(levels):
            own = levels[n - 1].not_judged
            # the run's reason when it recorded its kind; a run from before kinds: the directory's, if any
            why = own if own is not None and "kind" not in recorded else \
                unjudged_of(recorded.get("kind"), recorded.get("reason"))
            stopped_at = replace(levels[n - 1], held=False, not_judged=why)
            levels[n - 1] = stopped_at
    ended = recorded.get("ended_by")
    return bracket(levels, limits, interrupted, stopped_at, required_rate(scenario, plan),
                   recorded_end=ended if isinstance(ended, str) else None)


def search_capacity(cap: Capacity, search: Bracket) -> Capacity:
    """held.py's capacity as a search reads it: the last good level (0 when every level broke), found when
    a level broke, limited by the first break of the first broken level judged (not the run's first break,
    which may lie in a level not judged), and the headroom over the required rate (None without one): a
    search has no planned peak to read it against."""
    good, broken = search.last_good_per_s, search.first_broken_per_s
    level = search.first_broken
    if broken is None or level is None:  # nothing judged broke (a break on a level not judged says nothing)
        return replace(cap, found=False, arrivals_per_s=good or 0.0, broke_at_per_s=None, limited_by=None,
                       broke_at_s=None, headroom=search.headroom)
    return replace(cap, found=True, arrivals_per_s=good or 0.0, broke_at_per_s=broken, limited_by=level.broke_by,
                   broke_at_s=level.broke_at_s, headroom=search.headroom)


__all__ = ["capacity", "recovery", "search_bracket", "search_capacity", "search_levels"]
