"""A load process's share of the run: the visitors' factory, the data pool, the stop and end signals.

:func:`build_context` prepares it on every load-generating process (the single process of a local run,
each worker of a distributed one); the Locust user class (``run/users.py``) reads it from the environment.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gevent.event import Event
from locust.env import Environment

from ..redaction import secret_values
from ..scenario import CsvSource, ListSource, RangeSource
from ..traffic import Plan
from .arrivals import Crew, drain_timeout
from .browser import cache_dns
from .job import RunJob
from .locustfile_visitors import LocustfileVisitors
from .recorder import Recorder
from .visitors import DataPool, VisitorFactory

__all__ = ["MAX_IN_FLIGHT", "LoadContext", "build_context"]

MAX_IN_FLIGHT = 20_000  # visitors in flight per process; beyond, arrivals are dropped (and counted)


@dataclass
class LoadContext:
    """Everything a load-generating process needs to carry its share of the plan."""

    factory: VisitorFactory | LocustfileVisitors
    plan: Plan
    recorder: Recorder
    stop: Event
    crew: Crew
    finished: Event
    drain_s: float
    max_rate: float | None
    worker_index: int = 0
    worker_count: int = 1
    t0: float = 0.0
    load_s: float | None = None  # when the last arrival was dispatched (run clock)
    cut_short: int = 0
    cut_short_at: list[dict[str, Any]] = field(default_factory=list)  # where they stood (walking.py)
    stock_taken: bool = False
    dispatched: bool = False
    # a capacity search (profile: search): the arrival times, level after level (run/searching.py)
    search_times: Callable[[], Iterator[float]] | None = None

    def take_stock(self) -> None:
        """Note the visits in flight, and where each stands, as the cut-short ones (the run is ending;
        once: a second stop finds the visitors the first one is stopping)."""
        if self.stock_taken:
            return
        self.stock_taken = True
        self.cut_short_at = self.factory.walking.counts()
        self.cut_short = sum(row["visitors"] for row in self.cut_short_at)


def build_context(env: Environment, job: RunJob, recorder: Recorder) -> LoadContext:
    """Prepare this process to carry ``job.share`` of the plan, and attach it to ``env`` (where the user
    class finds it). With a locustfile, its classes (``job.user_classes``) walk the journeys."""
    scenario, plan, share = job.scenario, job.plan, job.share
    sequential = frozenset(name for name, src in scenario.data.items()
                           if isinstance(src, CsvSource | RangeSource | ListSource) and src.order == "sequential")
    pool = DataPool(values=job.data_values, sequential=sequential,
                    rng=random.Random(plan.seed * 7919 + share.index), offset=share.index, stride=share.count)
    rng = random.Random(plan.seed * 104729 + share.index)
    recorder.secrets = secret_values(scenario, job.target, job.headers)
    cache_dns()
    factory: VisitorFactory | LocustfileVisitors = (
        LocustfileVisitors(list(job.user_classes), env, job.target, rng) if job.user_classes
        else VisitorFactory(scenario, job.target, env.events.request, pool, job.headers, rng))
    if isinstance(factory, VisitorFactory):
        factory.on_offsite = recorder.on_offsite_redirect
        factory.on_journey = recorder.on_journey
    else:  # a locustfile: each execution of a class's task is a visit of its journey (Class.task)
        factory.journeys.on_journey = recorder.on_journey
        env.events.request.add_listener(factory.journeys.on_request)
        if job.closed_model:  # Locust runs the classes' tasks itself
            factory.journeys.record_tasks(factory.classes, factory.walking)
    ctx = LoadContext(factory=factory, plan=plan, recorder=recorder, stop=Event(), crew=Crew(MAX_IN_FLIGHT),
                      finished=Event(), drain_s=drain_timeout(scenario.request_timeout),
                      max_rate=scenario.safety.max_rate, worker_index=share.index, worker_count=share.count)
    if job.closed_model:  # Locust stops the looping users when the shape ends: count them before
        env.events.test_stopping.add_listener(lambda **_: ctx.take_stock())
    env.loadkit = ctx  # type: ignore[attr-defined]
    return ctx
