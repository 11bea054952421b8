"""A capacity search's verdict (``profile: search``): it has no planned peak, so its bracket is judged against
its ``required`` rate x required_headroom, and without one it is a measurement, at most at-risk
(:func:`_judge_search`; docs/verdict.md, "Capacity search"). Also why an unfinished search stopped and what to
change, and its bracket in a few words (:func:`capacity_words`).
"""

from __future__ import annotations

from ..analysis import Analysis
from ..scale import scale_sentence, what_to_scale
from ..scenario import VerdictPolicy
from ..search import LOWEST_RATE, Bracket, UnjudgedKind, ended_words, ran_again_words, required_rate
from ..verdict_words import rate_unit
from .common import (UNDELIVERED_STANDS, Verdict, _aborted, _broke_first, _context, _inconclusive, _not_delivered,
                     _not_measured)


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


__all__ = ["capacity_words"]
