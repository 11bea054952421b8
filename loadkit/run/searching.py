"""A capacity search while it runs (``profile: search``): one level at a time, each judged before the next.

A search cannot be planned ahead: the next level depends on whether the last one kept the service
levels. The dispatcher (``users.py``) walks :meth:`SearchDriver.arrival_times`, which yields a level's
arrivals, then, while the rate is zero (the cool-down), waits for the level's visitors to finish, writes
the data and the plan so far to the run directory and judges the level with the analysis the verdict
uses (``analysis.analyze`` over the run directory, whose bracket holds ``search.level_outcomes``: the same
rule, not a second one). A level that cannot be judged (analysis/levels.py) runs again when loadkit's own
stall or shortfall is why (``RUN_AGAIN``, at most ``MAX_RERUNS`` times); otherwise it stops the search, and
:attr:`SearchDriver.ended` (run.json's ``search``) says why the search stopped, whatever the reason.
:func:`loadkit.search.next_rate` names the next level, which starts on the next whole window
after the cool-down. The plan on disk (``plan.json``) always holds the levels run so far, so an
interrupted search keeps its plan, and ``loadkit report`` re-judges the levels from disk alone.

The analysis runs on a thread of gevent's pool: it takes a few hundred milliseconds of CPU, and on the
event loop it would stall the visitors still in flight and show as a pause of the generator.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path

import gevent
from gevent.event import Event

from .. import data as rundata
from ..scenario import SEARCH_WINDOW_S, SearchTraffic
from ..search import Level, SearchLimits, Unjudged, bracket, limits_of, next_rate
from ..traffic import Plan, level_times, plan_to_dict, search_plan
from .arrivals import Crew
from .job import RunJob

__all__ = ["SearchDriver"]

log = logging.getLogger("loadkit.run")

# A level loadkit could not judge because it stalled or did not deliver the level runs again, at the same
# rate, while max_duration leaves room: the machine's pause, not the site, cost the level, and the next
# one would be a guess. At most this many times a search (each costs a level and its cool-down). A level
# with too few requests would have too few again, and a failed analysis would fail again: those stop it.
RUN_AGAIN = frozenset({"stalled", "undelivered"})
MAX_RERUNS = 2


def judge_levels(run_dir: Path) -> list[Level]:
    """Every level of the search recorded in ``run_dir`` so far, held, broken or not judged (pure: reads
    disk): the analysis's own levels, as the report shows them."""
    from ..analysis import analyze

    analysis = analyze(rundata.load_run(run_dir))
    return list(analysis.search.levels) if analysis.search is not None else []


@dataclass
class SearchDriver:
    """The levels of a search: which ran, how each went, and the plan they make."""

    job: RunJob
    crew: Crew
    stop: Event
    flush: Callable[[], None]  # writes what the recorder holds to the data files (the supervisor's flush)
    t0: Callable[[], float]  # the run's clock, set once the load starts
    on_plan: Callable[[Plan], None]  # the plan grew: the load process's context and the supervisor read it
    judge: Callable[[Path], list[Level]] = judge_levels
    starts: list[tuple[float, float]] = field(default_factory=list)  # (start, rate) of each level
    outcomes: list[tuple[float, bool]] = field(default_factory=list)  # (rate, held) of each judged level
    # why the search stopped, for run.json's ``search``: {ended_by, level, reason}, and with ended_by
    # "not_judged" the reason's ``kind`` (search.UnjudgedKind) (None: still running)
    ended: dict[str, Any] | None = None
    reruns: int = 0  # levels run again because loadkit could not judge them (at most MAX_RERUNS)

    @property
    def limits(self) -> SearchLimits:
        """The search's numbers at this run's scales."""
        plan, tr = self.job.plan, self.job.scenario.traffic
        assert isinstance(tr, SearchTraffic)
        return limits_of(self.job.scenario, plan.rate_scale / tr.rate_scale, plan.duration_scale)

    def plan(self) -> Plan:
        """The plan of the levels decided so far (each followed by its cool-down)."""
        plan = self.job.plan
        return search_plan(self.job.scenario, self.starts, plan.rate_scale / self._scenario_scale(),
                           plan.duration_scale)

    def _scenario_scale(self) -> float:
        tr = self.job.scenario.traffic
        assert isinstance(tr, SearchTraffic)
        return tr.rate_scale

    def arrival_times(self) -> Iterator[float]:
        """Planned arrival times, level after level, until the search is done or the run stops."""
        limits = self.limits
        rate: float | None = limits.first
        start = 0.0
        while rate is not None:
            self.starts.append((start, rate))
            plan = self.plan()
            self._publish(plan)
            n = len(self.starts)
            self._say(f"search: level {n} at {rate:.3g}/s from {start:.0f} s")
            self.ended = {"ended_by": "interrupted", "level": n, "reason": None}  # until the level is judged
            yield from level_times(plan, start, rate, limits.level_s, n)
            end = start + limits.level_s
            if self.stop.wait(max(0.0, self.t0() + end - time.time())):
                return
            # The cool-down: the level's visitors finish (a broken site's may not, within it), then the
            # level is judged over what was measured.
            self.crew.join(timeout=max(0.0, self.t0() + end + limits.cool_down_s - 1.0 - time.time()))
            if self.stop.is_set():
                return
            judged = self._judged(n)
            elapsed = time.time() - self.t0()
            start = SEARCH_WINDOW_S * math.ceil(max(end + limits.cool_down_s, elapsed) / SEARCH_WINDOW_S - 1e-9)
            if isinstance(judged, Unjudged):
                if self._runs_again(n, rate, judged, start + limits.level_s + limits.cool_down_s
                                    <= limits.max_duration_s):
                    continue
                return
            held = judged
            self.outcomes.append((rate, held))
            rate = next_rate(self.outcomes, limits)
            words = "held" if held else "broke the service levels"
            if rate is not None and start + limits.level_s + limits.cool_down_s > limits.max_duration_s:
                self.ended = {"ended_by": "max_duration", "level": n, "reason": None}
                self._say(f"search: level {n} {words}; the next level would end after max_duration "
                          f"({limits.max_duration_s:g} s): done")
                return
            if rate is None:  # the bracket met the precision, the rate bound or the lowest rate
                found = bracket([Level(r, 0.0, h) for r, h in self.outcomes], limits)
                self.ended = {"ended_by": found.ended_by, "level": n, "reason": None}
            self._say(f"search: level {n} {words}" + (f"; next {rate:.3g}/s" if rate is not None else "; done"))

    def _say(self, line: str) -> None:
        """News for the person running it, and for run.log."""
        log.info("%s", line)
        self.job.on_status(line)

    def _publish(self, plan: Plan) -> None:
        """The plan so far, to the load process and to disk (an interrupted search keeps it)."""
        self.on_plan(plan)
        # in a thread: the write waits for the disk, and the load's event loop must not
        gevent.get_hub().threadpool.apply(rundata.write_json_atomic, (self.job.out / rundata.PLAN, plan_to_dict(plan)))

    def _runs_again(self, n: int, rate: float, why: Unjudged, room: bool) -> bool:
        """Level ``n`` could not be judged: whether it runs again (``RUN_AGAIN``, while there are reruns
        left and ``room`` before max_duration), or else the search stops and :attr:`ended` says why."""
        if why.kind in RUN_AGAIN and self.reruns < MAX_RERUNS and room:
            self.reruns += 1
            log.warning("search: level %d (%.3g/s) could not be judged: %s; it runs again", n, rate, why)
            self.job.on_status(f"search: level {n} could not be judged: {why}; running {rate:.3g}/s again")
            return True
        self.ended = {"ended_by": "not_judged", "level": n, "reason": why.words, "kind": why.kind}
        log.error("search: level %d (%.3g/s) could not be judged: %s; the search stops here", n, rate, why)
        self.job.on_status(f"search: level {n} could not be judged: {why}; done")
        return False

    def _judged(self, n: int) -> bool | Unjudged:
        """Whether level ``n`` held, judged from the run directory, or why it could not be judged."""
        self.flush()
        try:
            levels = gevent.get_hub().threadpool.apply(self.judge, (self.job.out,))
        except Exception as exc:  # noqa: BLE001 - the search stops; the run and its reports go on
            # The reports and the status line say it in words; the error itself, a bug's, goes to run.log.
            log.error("search: the analysis of level %d raised %s: %s", n, type(exc).__name__, exc)
            return Unjudged("analysis_failed", "loadkit's analysis of it failed (run.log has the error)")
        if len(levels) < n:
            return Unjudged("analysis_failed", "it is missing from the plan on disk")
        return levels[n - 1].not_judged or levels[n - 1].held
