"""The verdict: a pure function of the analysis and the scenario's policy.

- **fails**: an SLO broke at or below the planned peak (anywhere before the headroom probe), also when
  not all the planned load was delivered or the run was interrupted: less load that breaks the site is
  conclusive. A break that holds only with the seconds loadkit itself was paused or saturated counted
  is not the site's (inconclusive).
- **inconclusive**: the planned load was not delivered (late or dropped arrivals beyond the tolerance:
  a saturated generator, the machine pausing loadkit, or another cause, each with its own sentence) or
  the run was interrupted, and no SLO broke. Never "survives" or "at-risk" for load not delivered.
- **at-risk**: SLOs held up to the planned peak but broke in the headroom probe at or below
  required_headroom x the peak, or the site recovered slowly (or not at all) once the load fell. A break
  above that level (a visit_share range's high end) is the audience sentence's, not a lack of headroom.
- **survives**: SLOs held through the burst, the probe and the recovery.

A capacity search (``profile: search``) has no planned peak: its bracket is judged against its
``required`` rate x required_headroom, and without one it is a measurement, at most at-risk
(:func:`_judge_search`; docs/verdict.md, "Capacity search").

Every reason is a sentence a shop owner can read, carrying the endpoint, the metric, the observed value,
the limit and when it happened. Reasons are ranked: what broke first comes first. :func:`judge` takes
the decisions in that order, one named step each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from . import scenario_errors as scenario_faults
from .analysis import Analysis, SloResult
from .delivery import (
    METRIC_WORDS,
    disturbed_between,
    judged_levels_delivery,
    disturbed_only_sentence,
    lost_workers_sentence,
    undelivered_sentence,
    undisturbed_break,
)
from .failures import class_words, kind_words
from .held import PEAK, PROBE, RUN, Break
from .audience import audience_limit
from .business import journey_sentence, order_sentences, orders
from .scale import scale_sentence, what_to_scale
from .scenario import Business, VerdictPolicy
from .search import LOWEST_RATE, Bracket, UnjudgedKind, ended_words, ran_again_words, required_rate
from .traffic import PhaseName
from .units import format_clock, format_duration, format_metric, format_ms, format_percent
from .verdict_words import (capacity_figure, metric_words, plateau_sentence, rate_unit, scope_label,
                            search_sentence, slo_sentence)

VERDICTS = ("survives", "at-risk", "fails", "inconclusive")
_METRIC_WORDS = METRIC_WORDS


# The reason that opens a fails verdict's account of load not delivered (the delivery reasons follow it).
UNDELIVERED_STANDS = ("Not all of the planned load was delivered, but the site already broke its service levels "
                      "under the load it did receive, so the verdict stands:")


@dataclass(frozen=True)
class Verdict:
    """The answer and why."""

    verdict: str  # survives | at-risk | fails | inconclusive
    reasons: tuple[str, ...]
    headline: str

    @property
    def passed(self) -> bool:
        """True for survives and at-risk (the default exit code 0)."""
        return self.verdict in ("survives", "at-risk")


@dataclass(frozen=True)
class _Breaks:
    """What broke, sorted by when: judged SLO results (up to the planned peak), the probe's, and plateaus."""

    judged: list[SloResult]
    probe: list[SloResult]  # probe breaks at or below required_headroom x the peak: at-risk
    plateaus: list[Break]  # judged ones, and the probe's at or below the required level
    beyond: list[SloResult]  # probe breaks above the required level (a visit_share range's high end)

    @classmethod
    def of(cls, analysis: Analysis, policy: VerdictPolicy) -> _Breaks:
        failed = [r for r in analysis.slo_results if not r.passed]
        probe = [r for r in failed if r.scope == PROBE]
        return cls(judged=sorted((r for r in failed if r.scope != PROBE), key=_rank),
                   probe=sorted((r for r in probe if _within_required(analysis, policy, r)), key=_rank),
                   plateaus=[b for b in analysis.breaks if b.signal == "throughput plateau" and
                             (b.judged or b.offered_per_s <= required_level(analysis, policy) * 1.001)],
                   beyond=sorted((r for r in probe if not _within_required(analysis, policy, r)), key=_rank))


def required_level(analysis: Analysis, policy: VerdictPolicy) -> float:
    """The level the verdict tests: required_headroom x the planned peak (the probe may go higher, to a
    visit_share range's high end, but what breaks only up there is not a lack of headroom)."""
    return analysis.plan.planned_peak * policy.required_headroom


def _within_required(analysis: Analysis, policy: VerdictPolicy, result: SloResult) -> bool:
    """Whether a probe break began at or below the required level (by the rate offered when it began)."""
    if result.first_break_s is None:
        return True
    offered = next((b.offered_per_s for b in analysis.breaks
                    if b.slo == result.slo and b.start_s == result.first_break_s), None)
    if offered is None:
        offered = analysis.plan.rate(result.first_break_s)
    return offered <= required_level(analysis, policy) * 1.001


def judge(analysis: Analysis, policy: VerdictPolicy | None = None) -> Verdict:
    """Decide survives / at-risk / fails / inconclusive, with ranked reasons (docs/verdict.md's order)."""
    policy = policy or analysis.scenario.verdict
    if analysis.search is None:
        return _judge(analysis, policy)
    verdict = _judge_search(analysis, policy, analysis.search)
    # A capacity search is read for its bracket: it leads the reasons, whatever the verdict.
    bracket = search_sentence(analysis.search, rate_unit(analysis))
    return replace(verdict, reasons=(bracket, *(r for r in verdict.reasons if r != bracket)))


def _judge(analysis: Analysis, policy: VerdictPolicy) -> Verdict:
    if analysis.meta.aborted:
        return _aborted(analysis, policy)
    inconclusive = _not_delivered(analysis, policy) + _not_measured(analysis)
    broke = _Breaks.of(analysis, policy)
    failed = _fails(analysis, policy, broke, inconclusive)
    if failed is not None:
        return failed
    if (broke.judged or any(b.judged for b in broke.plateaus)) and not inconclusive:
        inconclusive.append(disturbed_only_sentence(analysis, broke.judged))
    if inconclusive:
        return _inconclusive(analysis, inconclusive)
    return _at_risk(analysis, policy, broke) or _survives(analysis, policy, broke)


def _judge_search(analysis: Analysis, policy: VerdictPolicy, search: Bracket) -> Verdict:
    """A capacity search has no planned peak: breaking a level is its purpose. Its bracket is judged
    against its ``required`` rate x required_headroom; without one it is a measurement, at most at-risk
    (docs/verdict.md, "Capacity search")."""
    if analysis.meta.aborted:
        return _aborted(analysis, policy)
    unit, headroom = rate_unit(analysis), policy.required_headroom
    need = required_rate(analysis.scenario, analysis.plan)
    good, broken = search.last_good_per_s, search.first_broken_per_s
    undelivered = _not_delivered(analysis, policy) + _not_measured(analysis)
    context = ran_again_words(search, unit) + _context(analysis, policy)
    evidence = _broke_first(analysis) + _search_scale(analysis, policy, need)
    if need is not None and broken is not None and broken <= need * 1.001:
        # A level at or below the required rate broke: conclusive even with less load delivered than planned.
        stands = [UNDELIVERED_STANDS, *undelivered] if undelivered else []
        return Verdict("fails", (f"A level of {broken:.3g} {unit} broke the service levels, at or below the "
                                 f"required {need:.3g} {unit}.", *evidence, *stands, *context),
                       f"Fails: the site broke its service levels at or below the required {need:.3g} {unit}.")
    if undelivered:
        return _inconclusive(analysis, undelivered)
    if need is None:
        if not (search.converged or search.ended_by in ("max_rate", "lowest_rate")):
            return Verdict("inconclusive", (_unfinished(search, None, unit), *context),
                           f"Inconclusive: the capacity search {_stopped(search)} before it found the capacity.")
        return Verdict("at-risk", ("No required rate was set (traffic.required), so the search measured the "
                                   "capacity without judging it: nothing here shows that the site carries the "
                                   "load it must.", *evidence, *context),
                       f"At risk: capacity measured ({capacity_words(search, unit)}), but not judged: the "
                       f"search states no required rate.")
    target = need * headroom
    if good is not None and good >= target * 0.999:
        return Verdict("survives", (f"A level of {good:.3g} {unit} held the service levels: the required "
                                    f"{need:.3g} {unit} with {headroom:g}x headroom ({target:.3g} {unit}).",
                                    *context),
                       f"Survives: the site kept its service levels at {headroom:g}x the required "
                       f"{need:.3g} {unit}.")
    if good is not None and good >= need * 0.999:
        return Verdict("at-risk", (f"A level of {good:.3g} {unit} held the service levels, at or above the "
                                   f"required {need:.3g} {unit} but below {headroom:g}x it ({target:.3g} {unit}).",
                                   *evidence, *context),
                       f"At risk: the site carried the required {need:.3g} {unit} with too little margin.")
    if search.converged:  # the bracket straddles the required rate, within the precision asked
        return Verdict("at-risk", (f"The required {need:.3g} {unit} lies within the bracket "
                                   f"({capacity_words(search, unit)}): the site's capacity is about the rate it "
                                   f"must carry, with no margin.", *evidence, *context),
                       f"At risk: the site's capacity is about the required {need:.3g} {unit}.")
    return Verdict("inconclusive", (f"The search ended before it showed whether the site carries the required "
                                    f"{need:.3g} {unit} ({capacity_words(search, unit)}).",
                                    _unfinished(search, target, unit), *context),
                   f"Inconclusive: the capacity search {_stopped(search)} before it reached the required "
                   f"{need:.3g} {unit}.")


def _stopped(search: Bracket) -> str:
    """How an unfinished search ended, for the headline."""
    return "stopped at a level it could not judge" if search.ended_by == "not_judged" else "ended"


_STALLED_FIX = "run it on a quieter or bigger machine: loadkit, not the site, was the limit"
_UNJUDGED_FIX: dict[UnjudgedKind, str] = {
    "too_few": "lengthen level_duration or start higher, so each level has enough requests to judge",
    "undelivered": _STALLED_FIX, "stalled": _STALLED_FIX, "analysis_failed": "see run.log, then run it again"}


def _unfinished(search: Bracket, target: float | None, unit: str = "visitors/s") -> str:
    """Why a search that decided nothing stopped, and what to change (``target``: required x headroom)."""
    level = search.not_judged
    if search.ended_by == "not_judged" and level is not None and level.not_judged is not None:
        # the kinds of analysis/levels.py, and the run's own (run/searching.py: its analysis failed)
        fix = _UNJUDGED_FIX[level.not_judged.kind]
        return f"The search could not go on: {ended_words(search, unit)}. To finish it, {fix}."
    if search.ended_by == "precision" and not search.converged:
        return ("The run's search converged as it ran, but judged again from the run directory its bracket is "
                "wider than the precision asked (requests still in flight when a level was judged finished "
                "later): run it again, or lengthen cool_down.")
    if search.ended_by == "max_rate":
        return ("Nothing broke up to the search's rate bound (max_rate or safety.max_rate), and that bound is "
                "below what the verdict needs: raise it" + (f" to at least {target:.3g}/s." if target else "."))
    if search.ended_by == "lowest_rate":
        return (f"Every level broke the service levels down to the lowest the search runs ({LOWEST_RATE:g}/s), "
                "still above the required rate.")
    if search.ended_by == "interrupted":
        return "The run was interrupted before the search's bracket met the precision asked."
    return ("The search reached its time bound (max_duration) before its bracket met the precision asked: "
            "give it more time, a larger precision or a closer start.")


def capacity_words(search: Bracket, unit: str) -> str:
    """A search's bracket in a few words: "between 48.8 and 52.5 visitors/s", "at least 80 visitors/s", or
    "capacity not measured" when no level was judged (not "at least 0")."""
    good, broken = search.last_good_per_s, search.first_broken_per_s
    if good is not None and broken is not None:
        return f"between {good:.3g} and {broken:.3g} {unit}"
    if broken is not None:
        return f"below {broken:.3g} {unit}"
    return f"at least {good:.3g} {unit}" if good is not None else "capacity not measured"


def _search_scale(analysis: Analysis, policy: VerdictPolicy, need: float | None) -> list[str]:
    """What to scale for a search's required rate (none without one: scale.py)."""
    if need is None:
        return []
    sentence = scale_sentence(what_to_scale(analysis), policy.required_headroom,
                              f"the required {need:.3g} {rate_unit(analysis)}")
    return [sentence] if sentence else []


def _aborted(analysis: Analysis, policy: VerdictPolicy) -> Verdict:
    """Decision 1: the safety abort fired."""
    how = "broke down so badly" if analysis.totals.collapse_errors else "turned visitors away so often"
    return Verdict("fails", (f"The load was aborted to protect the site: {analysis.meta.aborted}.",
                             *_context(analysis, policy)),
                   f"Fails: the site {how} that the load was stopped.")


def _not_delivered(analysis: Analysis, policy: VerdictPolicy) -> list[str]:
    """Why the planned load was not (all) delivered: an interruption, a lost worker, the scenario's
    safety.max_rate, late or dropped arrivals beyond the tolerance, or users not running."""
    traffic, meta, plan = analysis.traffic, analysis.meta, analysis.plan
    out: list[str] = []
    if meta.interrupted:
        out.append(f"The run was interrupted at {format_clock(meta.duration_s or 0)} of "
                   f"{format_clock(plan.duration)}; the results cover only that part.")
    planned = traffic.planned_arrivals
    lost = [str(w) for w in meta.lost_workers]
    if lost:  # the named cause of load not delivered: not the generator's capacity
        out.append(lost_workers_sentence(analysis, lost))
    if plan.model == "users":
        if traffic.delivered_share < 1 - policy.max_late_share and not lost:
            out.append(f"loadkit could not run the planned users: at most {traffic.peak_delivered_per_s:.0f} of "
                       f"{plan.planned_peak:.0f} were running; the load generator, not the site, was the limit.")
    elif planned and not meta.disk_full:  # a full disk stopped the load: its own reason says so
        missing = max(traffic.dropped_arrivals, planned - traffic.delivered_arrivals)
        late_or_dropped = traffic.dropped_arrivals + traffic.late_arrivals
        if analysis.search is not None:  # a search's levels not judged are set aside, their arrivals too
            planned, late_or_dropped, missing = judged_levels_delivery(analysis, planned, late_or_dropped, missing)
        max_rate = analysis.scenario.safety.max_rate
        # the level the verdict needs (required x peak), not a visit_share range's higher probe
        needed = required_level(analysis, policy) if plan.probe_level else plan.planned_peak
        # one arrival late or missing is tolerated however short the run (analysis/levels.py: the same rule
        # for a search's level): 2% of a 10-visitor smoke run is not even one visitor
        allowed = max(1.0, policy.max_late_share * planned)
        if max_rate is not None and max_rate < needed * (1 - policy.max_late_share):
            out.append(f"The scenario's safety.max_rate of {max_rate:.3g}/s held the load below the plan (peak "
                       f"{needed:.3g}/s): {traffic.delivered_arrivals} of {planned} planned visitors "
                       "started, so the plan was not tested.")
        elif (late_or_dropped > allowed or missing > allowed) and not lost:
            out.append(undelivered_sentence(analysis))
    return out


def _not_measured(analysis: Analysis) -> list[str]:
    """The scenario failed on every visit, nothing was measured, or the run stage said the run cannot be
    judged (a saturated generator, a full disk)."""
    out: list[str] = []
    scenario_failed = scenario_faults.inconclusive_reason(analysis.scenario_errors)
    if scenario_failed:  # the scenario's own errors, not the site's (docs/verdict.md)
        out.append(scenario_failed)
    elif not analysis.totals.requests:
        out.append("No request was measured, so nothing can be said about the site.")
    lost = {f"The load generator could not be trusted: {w}." for w in analysis.meta.lost_workers}
    out.extend(str(note) for note in analysis.meta.inconclusive_reasons if str(note) not in lost)  # older runs
    return out


def _fails(analysis: Analysis, policy: VerdictPolicy, broke: _Breaks, inconclusive: list[str]) -> Verdict | None:
    """Decision 2: an SLO broke, or the throughput plateaued, up to the planned peak, and the break is the
    site's (it holds without the seconds loadkit was paused or saturated). Stands whatever else happened."""
    conclusive = [r for r in broke.judged if undisturbed_break(analysis, r)]
    site_plateaus = [b for b in broke.plateaus if b.judged and not disturbed_between(analysis, b.start_s, b.end_s)]
    # One sentence per SLO: the judged scope that broke first speaks for it.
    reasons = _dedupe([slo_sentence(r, analysis) for r in _first_per_slo(conclusive)] +
                      [plateau_sentence(b, analysis) for b in site_plateaus])
    if not reasons or not analysis.totals.requests:
        return None
    totals = analysis.totals
    how = "broke down" if totals.collapse_errors else "broke its service levels"
    if not totals.collapse_errors and totals.shedding_errors:
        how = "turned visitors away or slowed past its service levels"
    # Less load than planned that already breaks the site is conclusive: fails stands.
    undelivered = [UNDELIVERED_STANDS, *inconclusive] if inconclusive else []
    return Verdict("fails", tuple(reasons + _broke_first(analysis) + _scale(analysis, policy) + undelivered +
                                  _context(analysis, policy)),
                   f"Fails: the site {how} at or below the planned peak.")


def _inconclusive(analysis: Analysis, reasons: list[str]) -> Verdict:
    """Decision 3: the load was not delivered, nothing was measured, or only loadkit's stalls broke it."""
    paused = len(reasons) == 1 and ("The machine paused loadkit" in reasons[0]
                                    or "the machine paused loadkit (" in reasons[0])
    scenario_failed = scenario_faults.inconclusive_reason(analysis.scenario_errors)
    headline = ("Inconclusive: the machine paused loadkit, so this run cannot judge the site." if paused else
                "Inconclusive: the scenario itself failed on every visit, so this run cannot judge the site."
                if scenario_failed and len(reasons) == 1 else
                "Inconclusive: the test could not deliver or finish the planned load.")
    return Verdict("inconclusive", tuple(reasons), headline)


def _at_risk(analysis: Analysis, policy: VerdictPolicy, broke: _Breaks) -> Verdict | None:
    """Decision 4: something broke in the headroom probe, or the site recovered slowly or not at all."""
    risk: list[str] = []
    cap = analysis.capacity
    probe_reasons = _dedupe([slo_sentence(r, analysis) for r in _first_per_slo(broke.probe)] +
                            [plateau_sentence(b, analysis) for b in broke.plateaus if not b.judged])
    if probe_reasons:
        cap_words = (f"it held up to about {cap.arrivals_per_s:.3g} {rate_unit(analysis)}, a headroom of "
                     f"{cap.headroom:.2f}x" if cap.found and cap.headroom is not None else "")
        risk.append(f"The site held at the planned peak but not at {policy.required_headroom:g}x of it "
                    + (f"({cap_words}, below the {policy.required_headroom:g}x required)." if cap_words else "."))
        risk.extend(probe_reasons)
    recovery = analysis.recovery
    if recovery.measured:
        if recovery.recovered is False:
            risk.append("After the load fell back to baseline, the site did not recover before the run ended.")
        elif (recovery.seconds or 0) > policy.recovery_within:
            risk.append(f"After the load fell back to baseline, the site took {format_duration(recovery.seconds or 0)} "
                        f"to recover (limit {format_duration(policy.recovery_within)}).")
    if not risk:
        return None
    headline = ("At risk: the site held at the planned peak with too little margin." if probe_reasons else
                "At risk: the site held at the planned peak but was slow to recover after it.")
    return Verdict("at-risk", tuple(risk + _broke_first(analysis) + _scale(analysis, policy) +
                                    _context(analysis, policy)), headline)


def _survives(analysis: Analysis, policy: VerdictPolicy, broke: _Breaks) -> Verdict:
    """Decision 5: everything held up to required_headroom x the peak; "with margin" only when a headroom
    probe ran. A break above that level (a visit_share range's high end) is told by the audience sentence."""
    held = len({r.slo.name for r in analysis.slo_results})
    probe = analysis.plan.probe_level
    unit = rate_unit(analysis)
    if probe and (broke.beyond or analysis.breaks):  # here only breaks above the required level remain
        probe = required_level(analysis, policy)
        where = f" and in the headroom probe up to {probe:.3g} {unit} ({policy.required_headroom:g}x the peak)."
    else:
        where = f" and in the headroom probe at {probe:.3g} {unit}." if probe else \
            "; no headroom probe ran, so the margin above the peak was not tested."
    survived = [f"All {held} service levels held up to the planned peak of {analysis.plan.planned_peak:.3g} {unit}"
                + where]
    headline = ("Survives: the site kept its service levels with margin." if probe else
                "Survives: the site kept its service levels up to the planned peak (margin not tested).")
    return Verdict("survives", tuple(survived + _context(analysis, policy)), headline)


def _rank(result: SloResult) -> tuple[float, int]:
    order = {RUN: 1, PEAK: 0}.get(result.scope, 2)
    return (result.first_break_s if result.first_break_s is not None else float("inf"), order)


def _first_per_slo(results: list[SloResult]) -> list[SloResult]:
    seen: set[str] = set()
    out = []
    for r in results:
        if r.slo.name not in seen:
            seen.add(r.slo.name)
            out.append(r)
    return out


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _broke_first(analysis: Analysis, limit: int = 3) -> list[str]:
    """One sentence naming what broke first, in order, with the same numbers as the tables."""
    parts = []
    for row in analysis.broke_first.to_dict("records")[:limit]:
        first = row["first_s"]
        if first is None or math.isnan(first):
            break
        if row["signal"] == "errors began":
            parts.append(f"{row['endpoint']} (errors from {format_clock(row['errors_began_s'])})")
        elif row["signal"] == "throughput plateau":
            parts.append(f"{row['endpoint']} (stopped keeping up from {format_clock(first)})")
        else:
            value = format_metric(row["metric"], row["observed"])
            limit_text = format_metric(row["metric"], row["limit"])
            worst = row.get("worst_endpoint")
            worst_words = f", worst: {worst}" if isinstance(worst, str) and worst else ""
            parts.append(f"{row['endpoint']} ({_METRIC_WORDS[row['metric']]} {value} against {limit_text} from "
                         f"{format_clock(first)}{worst_words})")
    if not parts:
        return []
    return [f"What broke first: {parts[0]}" + (f", then {', then '.join(parts[1:])}" if parts[1:] else "") + "."]


def _scale(analysis: Analysis, policy: VerdictPolicy) -> list[str]:
    """What to scale, ranked, with each endpoint's measured capacity and the factor (scale.py)."""
    sentence = scale_sentence(what_to_scale(analysis), policy.required_headroom)
    return [sentence] if sentence else []


def business_of(analysis: Analysis) -> Business | None:
    """The scenario's business block (None when it has none)."""
    return analysis.scenario.business


def journeys_context(analysis: Analysis) -> list[str]:
    """Journeys before endpoints: how many visits of each journey completed at the peak, and the orders."""
    if not analysis.journeys:
        return []
    business = business_of(analysis)
    out = [journey_sentence(analysis.journeys, business.orders if business else None)]
    placed = orders(business, analysis.journeys, analysis.plan)
    if placed is not None:
        out.extend(order_sentences(placed))
    return out


def _context(analysis: Analysis, policy: VerdictPolicy) -> list[str]:
    """Supporting facts after the main reasons: journeys and orders first, then peak figures, capacity,
    recovery."""
    out: list[str] = journeys_context(analysis)
    peak = analysis.phases[analysis.phases["phase"] == PhaseName.PEAK.value] if len(analysis.phases) else None
    if peak is not None and len(peak):
        row: dict[str, Any] = peak.iloc[0].to_dict()
        if row.get("p95") is not None and row.get("error_rate") is not None:
            out.append(f"At the peak: p95 {format_ms(row['p95'])}, error rate {format_percent(row['error_rate'])}.")
    totals = analysis.totals
    if totals.failures:
        shed, collapse = totals.shedding_errors, totals.collapse_errors
        if shed or collapse:
            out.append(f"Of {totals.failures:,} failed requests, {shed:,} were turned away politely (429, or 503 "
                       f"with Retry-After) and {collapse:,} were breakdowns (server errors, timeouts, dropped or "
                       "refused connections).")
    cap = analysis.capacity
    if analysis.search is not None:
        out.append(search_sentence(analysis.search, rate_unit(analysis)))
    elif cap.found and not cap.arrivals_per_s:
        below = f"below {cap.broke_at_per_s:.3g} {rate_unit(analysis)}" if cap.broke_at_per_s else \
            "below the lowest rate this run offered"
        out.append(f"Capacity: {below}; {cap.limited_by} broke the service levels at the lowest rate this run "
                   "offered.")
    elif cap.found:
        out.append(f"Capacity: about {cap.arrivals_per_s:.3g} {rate_unit(analysis)} before {cap.limited_by} "
                   f"broke the service levels (headroom {cap.headroom or 0:.2f}x the planned peak).")
    elif cap.arrivals_per_s:
        out.append(f"Capacity: at least {cap.arrivals_per_s:.3g} {rate_unit(analysis)} (the most this run tried).")
    limit = audience_limit(analysis)
    if limit is not None:
        out.append(limit.sentence())
    out.extend(scenario_faults.context_sentence(analysis.scenario_errors))
    return out


__all__ = ["UNDELIVERED_STANDS", "VERDICTS", "Verdict", "capacity_figure", "class_words", "judge", "kind_words",
           "metric_words", "scope_label", "search_sentence", "slo_sentence"]
