"""The capacity search's decisions, as pure functions: the next level, and the bracket the levels give.

A search (``profile: search``) steps its level up (``growth`` x or ``+ step``) while the service levels
hold; once a level broke them, it bisects between the last level that held and the first that broke,
until (first broken - last good) / last good is at most ``precision``. It stops there, at its rate bound
(``max_rate`` or ``safety.max_rate``: nothing broke up to it), when every level broke down to
:data:`LOWEST_RATE`, when the next level and its cool-down would not end within ``max_duration``, or when a
level could not be judged (too few requests for an SLO, or load loadkit did not deliver: analysis/levels.py):
the next level would be a guess.
The run stage (run/searching.py) asks :func:`next_rate` after each level, judged by the verdict's own
rule (:func:`level_outcomes` over the analysis's counted breaks); the analysis gives the same levels to
:func:`bracket` for the report. Nothing here sends a request or reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .scenario import Scenario, SearchTraffic

if TYPE_CHECKING:
    from .held import Break
    from .traffic import Plan

__all__ = ["LOWEST_RATE", "Bracket", "Level", "SearchLimits", "bracket", "ended_words", "level_outcomes",
           "limits_of", "next_rate", "required_rate"]

# Below this many arrivals per second a search that broke at its first level stops going down: the site
# breaks at any load worth measuring.
LOWEST_RATE = 0.1


@dataclass(frozen=True)
class SearchLimits:
    """A search's numbers with the run's scales applied: what :func:`next_rate` needs."""

    first: float  # the first level
    growth: float | None  # factor per level while nothing broke ...
    step: float | None  # ... or increase per level
    precision: float  # (broken - good) / good to reach
    cap: float | None  # the highest level allowed (max_rate, safety.max_rate)
    level_s: float
    cool_down_s: float
    max_duration_s: float  # the levels and cool-downs end within this


@dataclass(frozen=True)
class Level:
    """One level the search ran: its rate, when it started, and whether the service levels held."""

    rate: float
    start_s: float
    held: bool  # False too when the level was not judged
    not_judged: str | None = None  # why the level could not be judged (None: it was)

    @property
    def judged(self) -> bool:
        """Whether the level was judged (held or broke); a level that was not is left out of the bracket."""
        return self.not_judged is None


@dataclass(frozen=True)
class Bracket:
    """What a search found: the last good and the first broken level, and why it stopped."""

    last_good_per_s: float | None  # the highest level that held below the first broken one
    first_broken_per_s: float | None  # the lowest level that broke
    precision: float  # requested
    width: float | None  # (first broken - last good) / last good, when both are known
    converged: bool  # width <= precision
    ended_by: str  # "precision" | "max_rate" | "lowest_rate" | "max_duration" | "interrupted" | "not_judged"
    levels: tuple[Level, ...]
    required_per_s: float | None = None  # the rate the site must carry (``required`` x the rate scale)
    not_judged: Level | None = None  # with ended_by "not_judged": the level that stopped the search

    @property
    def headroom(self) -> float | None:
        """The last good level / the required rate (None without either): the margin the search found."""
        if self.last_good_per_s is None or not self.required_per_s:
            return None
        return self.last_good_per_s / self.required_per_s


_ENDED_BY = {"max_duration": "the search reached its time bound (max_duration)",
             "interrupted": "the run stopped before the search did (interrupted, the safety abort or a full disk)",
             "max_rate": "nothing broke up to the search's rate bound (max_rate or safety.max_rate)",
             "lowest_rate": f"the search stopped going down (it runs no level below {LOWEST_RATE:g}/s)",
             "precision": "the search converged"}


def ended_words(search: Bracket, unit: str = "visitors/s") -> str:
    """Why the search stopped, in plain words ("the search converged"; "level 4 (80 visitors/s) could not be
    judged: it had 3 requests for p95 < 300ms, too few to judge (...), so the search stopped there")."""
    lv = search.not_judged
    if search.ended_by == "not_judged" and lv is not None:
        number = search.levels.index(lv) + 1 if lv in search.levels else len(search.levels)
        return (f"level {number} ({lv.rate:.3g} {unit}) could not be judged: {lv.not_judged}, so the search "
                "stopped there")
    return _ENDED_BY.get(search.ended_by, f"the search stopped ({search.ended_by})")


def limits_of(scenario: Scenario, rate_scale: float = 1.0, duration_scale: float = 1.0) -> SearchLimits:
    """A search scenario's limits for a run at ``rate_scale`` (its rates) and ``duration_scale`` (its time
    bound only: levels and cool-downs stay whole windows). ``safety.max_rate`` caps the levels."""
    tr = scenario.traffic
    if not isinstance(tr, SearchTraffic):
        raise ValueError("not a search scenario")
    scale = tr.rate_scale * rate_scale
    caps = [c for c in (tr.max_rate * scale if tr.max_rate is not None else None, scenario.safety.max_rate)
            if c is not None]
    cap = min(caps) if caps else None
    first = tr.start * scale if cap is None else min(tr.start * scale, cap)
    growth = tr.growth if tr.growth is not None or tr.step is not None else 2.0
    return SearchLimits(first=first, growth=growth, step=tr.step * scale if tr.step is not None else None,
                        precision=tr.precision, cap=cap, level_s=tr.level_duration, cool_down_s=tr.cool_down,
                        max_duration_s=max(tr.level_duration + tr.cool_down, tr.max_duration * duration_scale))


def required_rate(scenario: Scenario, plan: Plan) -> float | None:
    """The rate a search's site must carry (``required``) at the scale ``plan`` ran, or None when the
    scenario is not a search or states no required rate (a measurement)."""
    tr = scenario.traffic
    if not isinstance(tr, SearchTraffic) or tr.required is None:
        return None
    return tr.required * plan.rate_scale  # plan.rate_scale already includes the scenario's own


def _good_and_broken(levels: Iterable[tuple[float, bool]]) -> tuple[float | None, float | None]:
    """The highest held rate below the lowest broken one (a level that held above a broken one is noise,
    as in the capacity rule of held.py), and the lowest broken rate."""
    levels = list(levels)
    broken = min((rate for rate, held in levels if not held), default=None)
    good = max((rate for rate, held in levels if held and (broken is None or rate < broken)), default=None)
    return good, broken


def width_of(good: float | None, broken: float | None) -> float | None:
    """(broken - good) / good, when both are known."""
    if good is None or broken is None or good <= 0:
        return None
    return (broken - good) / good


def next_rate(levels: Sequence[tuple[float, bool]], limits: SearchLimits) -> float | None:
    """The next level after ``levels`` ((rate, held) each, in the order run), or None when the search is
    done: the bracket is within the precision, nothing broke up to the cap, or the site broke even below
    :data:`LOWEST_RATE`."""
    if not levels:
        return limits.first
    good, broken = _good_and_broken(levels)
    if broken is None:  # stepping up
        assert good is not None
        if limits.cap is not None and good >= limits.cap * 0.999:
            return None
        up = good + limits.step if limits.step is not None else good * (limits.growth or 2.0)
        return min(up, limits.cap) if limits.cap is not None else up
    if good is None:  # even the lowest level broke: halve it until one holds
        down = broken / 2
        return down if down >= LOWEST_RATE else None
    width = width_of(good, broken)
    if width is not None and width <= limits.precision:
        return None
    return (good + broken) / 2


def bracket(levels: Sequence[Level], limits: SearchLimits, interrupted: bool = False,
            stopped_at: Level | None = None, required_per_s: float | None = None) -> Bracket:
    """The bracket ``levels`` give (levels not judged left out), and why the search stopped.

    Why follows from the levels, the limits and whether the run stopped it (``interrupted``, also for the
    safety abort and a full disk); a level the run could not judge, which stopped it, is its own reason:
    the last level when judged again from disk, or ``stopped_at``, the level the run recorded (run.json's
    ``search``) when the run's judgement itself failed."""
    good, broken = _good_and_broken((lv.rate, lv.held) for lv in levels if lv.judged)
    width = width_of(good, broken)
    converged = width is not None and width <= limits.precision
    unjudged = levels[-1] if levels and not levels[-1].judged else stopped_at
    if converged:
        ended_by = "precision"
    elif interrupted:
        ended_by = "interrupted"
    elif unjudged is not None:
        ended_by = "not_judged"
    elif broken is None and good is not None and limits.cap is not None and good >= limits.cap * 0.999:
        ended_by = "max_rate"
    elif good is None and broken is not None and broken / 2 < LOWEST_RATE:  # next_rate's floor
        ended_by = "lowest_rate"
    else:
        ended_by = "max_duration"
    return Bracket(last_good_per_s=good, first_broken_per_s=broken, precision=limits.precision, width=width,
                   converged=converged, ended_by=ended_by, levels=tuple(levels), required_per_s=required_per_s,
                   not_judged=unjudged if ended_by == "not_judged" else None)


def level_outcomes(plan: Plan, breaks: Iterable[Break], not_judged: Mapping[str, str] | None = None) -> list[Level]:
    """Each level of a search plan with whether it held: it broke when a counted break (held.py's rule,
    the one the verdict reads) began in it or in the cool-down after it. ``not_judged``: per level phase
    (``level-3``), why it could not be judged (analysis/levels.py); such a level neither held nor broke."""
    from .traffic import COOL_DOWN_PREFIX, LEVEL_PREFIX

    broke = {b.phase.removeprefix(COOL_DOWN_PREFIX).removeprefix(LEVEL_PREFIX) for b in breaks
             if b.phase.startswith((LEVEL_PREFIX, COOL_DOWN_PREFIX))}
    why = not_judged or {}
    return [Level(rate=p.level, start_s=p.start, held=p.name.removeprefix(LEVEL_PREFIX) not in broke
                  and p.name not in why, not_judged=why.get(p.name))
            for p in plan.phases if p.name.startswith(LEVEL_PREFIX)]
