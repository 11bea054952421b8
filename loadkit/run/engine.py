"""The run stage: drive the plan through Locust's engine and write measurements to the run directory.

Open model (``model: arrivals``): one Locust user per load-generating process acts as the arrival
dispatcher; each planned arrival becomes a visitor greenlet that walks one journey and leaves.
Closed model (``model: users``): Locust's classic looping users, counted by a ``LoadTestShape`` that
follows the plan. Either way requests are measured through ``events.request`` by the recorder and
flushed to disk every couple of seconds, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gevent
import locust
from gevent.event import Event
from gevent.pool import Pool
from locust import LoadTestShape, User, constant, task
from locust.env import Environment
from locust.exception import StopUser

from .. import data as rundata
from ..scenario import CsvSource, ListSource, RangeSource, Scenario, expand_env, load_data_values
from ..traffic import Plan
from .arrivals import dispatch, drain
from .outcome import Progress, RunOutcome
from .recorder import Recorder
from .visitors import DataPool, VisitorFactory

FLUSH_EVERY_S = 2.0
PROGRESS_EVERY_S = 1.0
MAX_IN_FLIGHT = 20_000  # visitors in flight per process; beyond, arrivals are dropped (and counted)

log = logging.getLogger("loadkit.run")


@dataclass
class _Context:
    factory: VisitorFactory
    plan: Plan
    recorder: Recorder
    stop: Event
    pool: Pool
    finished: Event
    drain_s: float
    max_rate: float | None
    t0: float = 0.0
    load_s: float | None = None  # when the last arrival was dispatched (run clock)
    cut_short: int = 0


class _Dispatcher(User):
    """Open model: the one user per process that starts visitors at their planned times."""

    abstract = True
    wait_time = constant(0)

    @task
    def run_plan(self) -> None:
        ctx: _Context = self.environment.loadkit  # type: ignore[attr-defined]
        try:
            dispatch(ctx.plan.arrival_times(), ctx.t0, ctx.factory.visit, ctx.recorder, ctx.pool, ctx.stop,
                     ctx.max_rate)
            ctx.load_s = time.time() - ctx.t0
            ctx.cut_short = drain(ctx.pool, 0.5 if ctx.stop.is_set() else ctx.drain_s)
        finally:
            ctx.finished.set()
        raise StopUser()


class _Looper(User):
    """Closed model: a user that walks a journey, then another, until the shape removes it."""

    abstract = True
    wait_time = constant(0)

    @task
    def walk(self) -> None:
        ctx: _Context = self.environment.loadkit  # type: ignore[attr-defined]
        now = time.time() - ctx.t0
        ctx.recorder.on_arrival(now, now)
        ctx.factory.visit()


class _PlanShape(LoadTestShape):
    """Closed model: the plan's level at each moment is the number of users."""

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def tick(self) -> tuple[int, float] | None:
        t = self.get_run_time()
        if t > self.plan.duration:
            return None
        return max(0, round(self.plan.rate(t))), max(1.0, self.plan.max_level)


def _data_pool(scenario: Scenario, base_dir: Path, seed: int, worker_index: int, worker_count: int) -> DataPool:
    sequential = frozenset(name for name, src in scenario.data.items()
                           if isinstance(src, CsvSource | RangeSource | ListSource) and src.order == "sequential")
    return DataPool(values=load_data_values(scenario, base_dir), sequential=sequential,
                    rng=random.Random(seed * 7919 + worker_index), offset=worker_index, stride=worker_count)


def _setup_logging(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def execute(scenario: Scenario, plan: Plan, target: str, run_dir: Path, base_dir: Path,
            on_progress: Callable[[Progress], None] | None = None,
            late_threshold_s: float = 0.1) -> RunOutcome:
    """Run the plan against ``target`` in this process; write data files into ``run_dir`` as it goes."""
    handler = _setup_logging(run_dir)
    try:
        return _execute(scenario, plan, target, run_dir, base_dir, on_progress, late_threshold_s)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _execute(scenario: Scenario, plan: Plan, target: str, run_dir: Path, base_dir: Path,
             on_progress: Callable[[Progress], None] | None, late_threshold_s: float) -> RunOutcome:
    import psutil

    recorder = Recorder(late_threshold_s=late_threshold_s)
    headers = {k: expand_env(v, dict(os.environ)) for k, v in scenario.headers.items()}
    user_class: type[User] = type("LoadkitVisitor", (_Looper if plan.model == "users" else _Dispatcher,),
                                  {"abstract": False})
    shape = _PlanShape(plan) if plan.model == "users" else None
    env = Environment(user_classes=[user_class], shape_class=shape, host=target)
    env.events.request.add_listener(recorder.on_request)
    factory = VisitorFactory(scenario, target, env.events.request,
                             _data_pool(scenario, base_dir, plan.seed, 0, 1), headers, random.Random(plan.seed))
    stop = Event()
    ctx = _Context(factory=factory, plan=plan, recorder=recorder, stop=stop, pool=Pool(MAX_IN_FLIGHT),
                   finished=Event(), drain_s=min(30.0, scenario.request_timeout + 5.0),
                   max_rate=scenario.safety.max_rate)
    env.loadkit = ctx  # type: ignore[attr-defined]
    interrupted = Event()

    def on_signal() -> None:
        if interrupted.is_set():  # a second Ctrl-C: leave now, keep what is on disk
            os._exit(3)
        log.warning("interrupted: stopping the load")
        interrupted.set()
        stop.set()

    gevent.signal_handler(signal.SIGINT, on_signal)
    gevent.signal_handler(signal.SIGTERM, on_signal)

    proc = psutil.Process()
    proc.cpu_percent(None)
    cpu_max = 0.0

    def flush() -> None:
        metrics, arrivals, samples = recorder.flush()
        rundata.append_jsonl(run_dir / rundata.METRICS, metrics)
        rundata.append_jsonl(run_dir / rundata.ARRIVALS, arrivals)
        rundata.append_jsonl(run_dir / rundata.ERRORS, samples)

    abort = scenario.safety.abort_when
    aborted: list[str] = []
    bad_since: float | None = None

    def check_abort(elapsed: float) -> None:
        """safety.abort_when: stop the load when the error rate stays above the limit."""
        nonlocal bad_since
        if abort is None or aborted:
            return
        live = recorder.live_window(elapsed, seconds=1)
        rate = live["error_rate"]
        if rate is not None and rate > abort.error_rate:
            bad_since = elapsed if bad_since is None else bad_since
            if elapsed - bad_since >= abort.for_:
                aborted.append(f"error rate above {abort.error_rate:.0%} for {abort.for_:g} s "
                               f"from {bad_since:.0f} s into the run")
                log.warning("aborted to protect the site: %s", aborted[0])
                stop.set()
        elif rate is not None:
            bad_since = None

    def background() -> None:
        nonlocal cpu_max
        last_flush = time.monotonic()
        while True:
            gevent.sleep(PROGRESS_EVERY_S)
            elapsed = time.time() - ctx.t0
            cpu_max = max(cpu_max, proc.cpu_percent(None))
            if time.monotonic() - last_flush >= FLUSH_EVERY_S:
                flush()
                last_flush = time.monotonic()
            check_abort(elapsed)
            if plan.model == "users":
                recorder.on_users(elapsed, runner.user_count)
            if on_progress is not None:
                live = recorder.live_window(elapsed)
                on_progress(Progress(
                    elapsed_s=elapsed, total_s=plan.duration, phase=plan.phase_at(elapsed),
                    planned_per_s=plan.integral(int(elapsed) - 5, int(elapsed)) / 5, delivered_per_s=float(live["arrivals_per_s"] or 0),
                    rps=float(live["rps"] or 0), p95_ms=live["p95_ms"], error_rate=live["error_rate"],
                    in_flight=len(ctx.pool), requests=recorder.total_requests, failures=recorder.total_failures))

    runner = env.create_local_runner()
    ctx.t0 = time.time()
    recorder.start_clock(ctx.t0)
    log.info("run started: %s arrivals planned over %.0f s against %s", round(plan.total_arrivals),
             plan.duration, scenario.target or target)
    bg = gevent.spawn(background)
    try:
        if plan.model == "users":
            runner.start_shape()
            deadline = ctx.t0 + plan.duration + ctx.drain_s + 5
            while runner.state not in ("stopped", "stopping") and not stop.is_set() and time.time() < deadline:
                gevent.sleep(0.2)
            ctx.load_s = time.time() - ctx.t0
            runner.stop()
        else:
            runner.start(1, spawn_rate=1)
            ctx.finished.wait()
    finally:
        runner.quit()
        bg.kill()
        flush()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    duration = time.time() - ctx.t0
    notes = []
    if ctx.cut_short:
        notes.append(f"{ctx.cut_short} visitors were still in flight when the run ended and were stopped")
    log.info("run ended after %.1f s: %d requests, %d failures", duration, recorder.total_requests,
             recorder.total_failures)
    return RunOutcome(started_at=ctx.t0, duration_s=duration, load_s=min(ctx.load_s or duration, plan.duration),
                      interrupted=interrupted.is_set(),
                      cut_short=ctx.cut_short, workers=1, requests=recorder.total_requests,
                      failures=recorder.total_failures, started_arrivals=recorder.total_started,
                      dropped_arrivals=recorder.total_dropped, late_arrivals=recorder.total_late,
                      cpu_percent_max=cpu_max, notes=notes, aborted=aborted[0] if aborted else None)


def locust_version() -> str:
    """The Locust version in use."""
    return str(getattr(locust, "__version__", "unknown"))
