"""The Locust user class that carries the plan, and the closed model's shape.

Open model (``model: arrivals``): one Locust user per load-generating process acts as the arrival
dispatcher; each planned arrival becomes a visitor greenlet that walks one journey and leaves.
Closed model (``model: users``): Locust's classic looping users, counted by a ``LoadTestShape`` that
follows the plan.
"""

from __future__ import annotations

import time

import gevent
from locust import LoadTestShape, User, constant, task
from locust.exception import StopUser

from ..traffic import Plan
from .arrivals import dispatch, drain
from .client import VisitorClient
from .context import LoadContext
from .visitors import VisitorFactory

__all__ = ["USER_CLASS_NAME", "PlanShape", "user_class"]

USER_CLASS_NAME = "LoadkitVisitor"  # the same name on the master and every worker


class _Visitor(User):
    """The one Locust user class; what it does follows the plan's model.

    Open model: one such user per load process is the arrival dispatcher, starting visitors at their
    planned times. Closed model: each user walks a journey, then another, until the shape removes it.
    """

    abstract = True
    wait_time = constant(0)
    _client: VisitorClient | None = None  # closed model: like a Locust user, one client (connection, cookies)

    def on_stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @task
    def work(self) -> None:
        ctx: LoadContext | None = getattr(self.environment, "loadkit", None)
        if ctx is None or ctx.stop.is_set():
            gevent.sleep(0.2)
        elif ctx.plan.model == "users":
            ctx.recorder.on_loop(time.time() - ctx.t0)
            if isinstance(ctx.factory, VisitorFactory):
                if self._client is None:
                    self._client = ctx.factory.new_client()
                ctx.factory.visit(client=self._client)
            else:
                ctx.factory.visit()
        elif ctx.dispatched:
            # A second dispatcher on this process (Locust rebalancing after a lost worker) must not
            # replay the plan: it idles until the run ends.
            gevent.sleep(1.0)
        else:
            self._dispatch(ctx)

    @staticmethod
    def _dispatch(ctx: LoadContext) -> None:
        ctx.dispatched = True
        try:
            times = ctx.search_times() if ctx.search_times is not None else \
                ctx.plan.arrival_times(ctx.worker_index, ctx.worker_count)
            dispatch(times, ctx.t0, ctx.factory.visit,
                     ctx.recorder, ctx.crew, ctx.stop,
                     ctx.max_rate / ctx.worker_count if ctx.max_rate else None)
            ctx.load_s = time.time() - ctx.t0
            ctx.cut_short = drain(ctx.crew, 0.5 if ctx.stop.is_set() else ctx.drain_s, ctx.take_stock)
        finally:
            ctx.finished.set()
        raise StopUser()


class PlanShape(LoadTestShape):
    """Closed model: the plan's level at each moment is the number of users."""

    # LoadTestShape's methods are unannotated in Locust (and a subclass's calls are not covered by
    # untyped_calls_exclude): the two calls below are typed by hand.
    def __init__(self, plan: Plan) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.plan = plan

    def tick(self) -> tuple[int, float] | None:
        t: float = self.get_run_time()  # type: ignore[no-untyped-call]
        if t > self.plan.duration:
            return None
        return max(0, round(self.plan.rate(t))), max(1.0, self.plan.max_level)


def user_class() -> type[User]:
    """The Locust user class, under the one name master and workers share."""
    return type(USER_CLASS_NAME, (_Visitor,), {"abstract": False, "__module__": __name__})
