"""A planned run's verdict (a plan with a peak): the decisions in docs/verdict.md's order, one named step each
(:func:`_judge`): the safety abort, what broke up to the planned peak (fails), the load not delivered
(inconclusive), the headroom probe and the recovery (at-risk), and otherwise survives.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis import Analysis, SloResult
from ..delivery import disturbed_between, disturbed_only_sentence, undisturbed_break
from ..held import PEAK, PROBE, RUN, Break
from ..scale import scale_sentence, what_to_scale
from ..scenario import VerdictPolicy
from ..units import format_duration
from ..verdict_words import plateau_sentence, rate_unit, slo_sentence
from .common import (UNDELIVERED_STANDS, Verdict, _aborted, _broke_first, _context, _inconclusive, _not_delivered,
                     _not_measured, required_level)


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


def _within_required(analysis: Analysis, policy: VerdictPolicy, result: SloResult) -> bool:
    """Whether a probe break began at or below the required level (by the rate offered when it began)."""
    if result.first_break_s is None:
        return True
    offered = next((b.offered_per_s for b in analysis.breaks
                    if b.slo == result.slo and b.start_s == result.first_break_s), None)
    if offered is None:
        offered = analysis.plan.rate(result.first_break_s)
    return offered <= required_level(analysis, policy) * 1.001


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


def _scale(analysis: Analysis, policy: VerdictPolicy) -> list[str]:
    """What to scale, ranked, with each endpoint's measured capacity and the factor (scale.py)."""
    sentence = scale_sentence(what_to_scale(analysis), policy.required_headroom)
    return [sentence] if sentence else []
