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
from typing import TYPE_CHECKING, Literal, get_args

from .scenario import Scenario, SearchTraffic

if TYPE_CHECKING:
    from .held import Break
    from .traffic import Plan

__all__ = ["ENDINGS", "LOWEST_RATE", "Bracket", "Level", "SearchLimits", "Unjudged", "UnjudgedKind", "bracket",
           "ended_words", "level_outcomes", "limits_of", "next_rate", "ran_again_words", "required_rate",
           "unjudged_of"]

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


# Why a level could not be judged: an SLO counted too few requests in it, loadkit did not deliver it, it
# broke only while loadkit stalled (analysis/levels.py), or the run's own judgement of it failed
# (run/searching.py). The advice the verdict gives follows from the kind, never from the words.
UnjudgedKind = Literal["too_few", "undelivered", "stalled", "analysis_failed"]
UNJUDGED_KINDS: tuple[UnjudgedKind, ...] = get_args(UnjudgedKind)


@dataclass(frozen=True)
class Unjudged:
    """Why a level could not be judged: its kind, and the clause the reports say ("it had 3 requests for
    p95 < 300ms, too few to judge (at least 5 are needed)")."""

    kind: UnjudgedKind
    words: str

    def __str__(self) -> str:
        return self.words


def unjudged_of(kind: object, words: object) -> Unjudged:
    """An :class:`Unjudged` from run.json's ``search`` (``kind``, ``reason``); a run that recorded no kind
    (or one unknown here) reads as its own judgement having failed."""
    known: UnjudgedKind = next((k for k in UNJUDGED_KINDS if k == kind), "analysis_failed")
    return Unjudged(known, str(words or "the run could not judge it"))


@dataclass(frozen=True)
class Level:
    """One level the search ran: its rate, when it started, and whether the service levels held."""

    rate: float
    start_s: float
    held: bool  # False too when the level was not judged
    not_judged: Unjudged | None = None  # why the level could not be judged (None: it was)
    broke_by: str | None = None  # a broken level: the signal of its first counted break (held.py's SIGNALS)
    broke_at_s: float | None = None  # ... and the second that break began (in the level or its cool-down)

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
    def first_broken(self) -> Level | None:
        """The judged level at :attr:`first_broken_per_s` (the first run, when two ran at that rate)."""
        return next((lv for lv in self.levels if lv.judged and not lv.held and lv.rate == self.first_broken_per_s),
                    None)

    @property
    def headroom(self) -> float | None:
        """The last good level / the required rate (None without either): the margin the search found."""
        if self.last_good_per_s is None or not self.required_per_s:
            return None
        return self.last_good_per_s / self.required_per_s


# Every reason a search stops for (Bracket.ended_by, run.json's ``search.ended_by``).
ENDINGS = ("precision", "max_rate", "lowest_rate", "max_duration", "interrupted", "not_judged")

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


def ran_again_words(search: Bracket, unit: str = "visitors/s") -> list[str]:
    """A sentence per level the search could not judge and ran again (run/searching.py), so that two
    levels at one rate read as what happened: "Level 1 (20 visitors/s) could not be judged (loadkit did not
    deliver it: ...), so it ran again: the bracket leaves it out." """
    last = len(search.levels) - 1
    return [f"Level {i + 1} ({lv.rate:.3g} {unit}) could not be judged ({lv.not_judged}), so it ran again: the "
            "bracket leaves it out." for i, lv in enumerate(search.levels)
            if lv.not_judged is not None and i < last and search.levels[i + 1].rate == lv.rate]


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
            stopped_at: Level | None = None, required_per_s: float | None = None,
            recorded_end: str | None = None) -> Bracket:
    """The bracket ``levels`` give (levels not judged left out), and why the search stopped.

    Why is the run's own account when it recorded one (``recorded_end``, run.json's ``search.ended_by``):
    the run's decision is what happened, and the levels after it never ran, whatever the levels judged
    again from disk would suggest. Otherwise it follows from the levels, the limits and whether the run
    stopped it (``interrupted``, also for the safety abort and a full disk); a level the run could not
    judge, which stopped it, is its own reason: ``stopped_at``, the level the run recorded, or else the
    last level when it cannot be judged from disk."""
    good, broken = _good_and_broken((lv.rate, lv.held) for lv in levels if lv.judged)
    width = width_of(good, broken)
    converged = width is not None and width <= limits.precision
    unjudged = stopped_at if stopped_at is not None else levels[-1] if levels and not levels[-1].judged else None
    if recorded_end in ENDINGS and (recorded_end != "not_judged" or unjudged is not None):
        ended_by = str(recorded_end)
    elif converged:
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


def level_outcomes(plan: Plan, breaks: Iterable[Break],
                   not_judged: Mapping[str, Unjudged] | None = None) -> list[Level]:
    """Each level of a search plan with whether it held: it broke when a counted break (held.py's rule,
    the one the verdict reads) began in it or in the cool-down after it, and the first such break names
    its signal and second. ``not_judged``: per level phase (``level-3``), why it could not be judged
    (analysis/levels.py); such a level neither held nor broke."""
    from .held import SIGNALS
    from .traffic import COOL_DOWN_PREFIX, LEVEL_PREFIX

    first: dict[str, Break] = {}
    for b in sorted(breaks, key=lambda b: (b.start_s, SIGNALS.index(b.signal))):
        if b.phase.startswith((LEVEL_PREFIX, COOL_DOWN_PREFIX)):
            first.setdefault(b.phase.removeprefix(COOL_DOWN_PREFIX).removeprefix(LEVEL_PREFIX), b)
    why = not_judged or {}
    out = []
    for p in plan.phases:
        if not p.name.startswith(LEVEL_PREFIX):
            continue
        brk = first.get(p.name.removeprefix(LEVEL_PREFIX))
        out.append(Level(rate=p.level, start_s=p.start, held=brk is None and p.name not in why,
                         not_judged=why.get(p.name), broke_by=brk.signal if brk else None,
                         broke_at_s=brk.start_s if brk else None))
    return out
