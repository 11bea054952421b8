"""``analyze``: a run directory's data -> an :class:`Analysis`, stage by stage.

Percentiles always come from merged histograms (never averages of percentiles). SLOs are observed over
the judged part of the run (everything before the headroom probe), over the peak, over the probe, and
over any phase an SLO names; the time an SLO first broke comes from 5-second windows.
"""

from __future__ import annotations

import math

from .. import scenario_errors as scenario_faults
from ..data import RunData
from ..held import SIGNALS, Windows
from ..run_meta import thawed_json
from ..scenario import Scenario, Slo, mean_visit_seconds
from ..journeys import judge_slos as judge_journey_slos
from ..journeys import read_journeys
from ..journeys import summarize as summarize_journeys
from . import endpoints as per_endpoint
from .broke_first import broke_first
from .capacity import capacity, recovery, search_bracket, search_capacity, search_levels
from .levels import unjudged_levels
from .measurements import Measurements
from .model import Analysis, SloResult
from .scopes import default_scopes, peak_phase, phase_table
from .seconds import per_second
from .slos import judge_slos, undisturbed_results
from .totals import totals, traffic

DEFAULT_SLOS = (Slo(metric="p95", below="1s"), Slo(metric="error_rate", below="1%"))


def slos_of(scenario: Scenario) -> tuple[tuple[Slo, ...], bool]:
    """The scenario's endpoint SLOs (journey SLOs are judged over visits, by journeys.py), or loadkit's
    defaults (True) when it sets no SLO at all."""
    if not scenario.slos:
        return DEFAULT_SLOS, True
    return tuple(s for s in scenario.slos if s.journey is None), False


def journey_slos_of(scenario: Scenario) -> tuple[Slo, ...]:
    """The scenario's journey SLOs (success_rate, pNN_duration)."""
    return tuple(s for s in scenario.slos if s.journey is not None)


def journey_steps(scenario: Scenario) -> dict[str, list[str]]:
    """Per journey, the endpoint of each step ('' for a think step)."""
    return {j.name: [step.endpoint if step.method != "THINK" else "" for step in j.steps] for j in scenario.journeys}


def visit_seconds(scenario: Scenario) -> float:
    """A visit's mean length (1 s for a scenario without journeys: a locustfile's)."""
    return mean_visit_seconds(scenario.journeys) if scenario.journeys else 1.0


def analyze(run: RunData) -> Analysis:
    """Compute curves, phase figures, SLO observations, capacity and recovery from a run directory."""
    plan = run.plan
    duration = float(run.meta.duration_s or plan.duration)
    span = max(1, math.ceil(min(duration, plan.duration + 60)))
    slos, defaulted = slos_of(run.scenario)
    apdex_t = run.scenario.verdict.apdex_t * 1000.0

    meas = Measurements(run, plan, span)
    errors_by_kind, error_kinds = per_endpoint.error_tables(meas)
    seconds = per_second(meas, run, errors_by_kind, apdex_t)
    endpoints = per_endpoint.endpoint_table(meas, apdex_t)
    endpoint_seconds = per_endpoint.endpoint_seconds(meas)
    ep_list = [str(e) for e in endpoints.index]

    # The one rule (held.py): sustained window breaks, scopes, capacity.
    visit_s = visit_seconds(run.scenario)
    wins = Windows(plan, meas.n_windows, visit_s)
    # A search's levels are scopes too: each is judged as the run judged it (run/searching.py).
    levels = search_levels(plan)
    judged = judge_slos(meas, wins, slos, seconds, endpoint_seconds, levels)
    # Journey SLOs: the same rule, windows and scopes, over visits instead of requests.
    journey_data = read_journeys(run.journeys)
    journey_slos = journey_slos_of(run.scenario)
    peak = peak_phase(plan)
    if journey_slos and not journey_data.empty:
        outcomes, journey_breaks, journey_flags, journey_levels = judge_journey_slos(
            journey_data, journey_slos, plan, wins, default_scopes(plan), span, peak, levels)
        judged.levels.extend(journey_levels)
        judged.results.extend(SloResult(slo=o.slo, scope=o.scope, observed=o.observed, passed=o.passed,
                                        first_break_s=o.first_break_s, requests=o.requests, until_s=o.until_s,
                                        over_scope=o.over_scope, scope_observed=o.scope_observed)
                              for o in outcomes)
        judged.counted.extend(journey_breaks)
        judged.flags.extend(journey_flags)
    counted = judged.counted
    cap = capacity(meas, wins, seconds, ep_list, visit_s, judged.flags, counted)
    counted.sort(key=lambda b: (b.start_s, SIGNALS.index(b.signal)))
    # A search the run stopped (Ctrl-C, the safety abort, a full disk) ended there, whatever its limits say.
    stopped = bool(run.meta.interrupted or run.meta.aborted or run.meta.disk_full)
    not_judged = unjudged_levels(plan, judged.levels, counted, seconds,
                                 run.scenario.verdict.max_late_share) if levels else {}
    search = search_bracket(run.scenario, plan, counted, stopped, not_judged, run.meta.search)
    if search is not None:  # capacity is the search's last good level, its headroom over the required rate
        cap = search_capacity(cap, search)
    undisturbed = undisturbed_results(meas, wins, seconds, judged.results, counted)

    started = int(seconds["started"].sum())
    return Analysis(meta=run.meta, scenario=run.scenario, plan=plan, seconds=seconds.reset_index(),
                    endpoints=endpoints.reset_index(), endpoint_seconds=endpoint_seconds,
                    errors_by_kind=errors_by_kind, error_kinds=error_kinds, phases=phase_table(meas, seconds),
                    totals=totals(meas, seconds, apdex_t), traffic=traffic(meas, run, seconds, duration),
                    slo_results=tuple(judged.results), capacity=cap, search=search,
                    recovery=recovery(meas, slos, ep_list),
                    latency_distribution=per_endpoint.distribution(meas.hist), error_samples=tuple(run.errors),
                    broke_first=broke_first(meas, counted, judged.results, ep_list, endpoint_seconds),
                    apdex_t_ms=apdex_t, offsite=per_endpoint.offsite(meas.frame), slos_defaulted=defaulted,
                    breaks=tuple(counted), undisturbed_slo_results=tuple(undisturbed),
                    scenario_errors=scenario_faults.summarize(run.scenario_errors, thawed_json(run.meta.rehearsal),
                                                              started, int(seconds["requests"].sum())),
                    scenario_document=run.scenario_document,
                    journeys=summarize_journeys(journey_data, plan, span, peak, journey_steps(run.scenario)))


__all__ = ["DEFAULT_SLOS", "analyze", "journey_slos_of", "journey_steps", "slos_of", "visit_seconds"]
