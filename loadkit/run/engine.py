"""The run stage's core: Locust users that carry the plan, and a run in one process.

Open model (``model: arrivals``): one Locust user per load-generating process acts as the arrival
dispatcher; each planned arrival becomes a visitor greenlet that walks one journey and leaves.
Closed model (``model: users``): Locust's classic looping users, counted by a ``LoadTestShape`` that
follows the plan. Either way requests are measured through ``events.request`` by the recorder and
flushed to disk every couple of seconds, so an interrupted run keeps what it measured.
Multi-process and distributed runs (``master.py``, ``worker.py``) reuse these pieces.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from locust import LoadTestShape, User, constant, task
from locust.env import Environment
from locust.exception import StopUser

from .. import data as rundata
from ..errors import DiskFullError
from ..redaction import redact_url, secret_values
from ..scenario import CsvSource, ListSource, RangeSource, Scenario
from ..traffic import Plan
from . import hiccups
from .arrivals import Crew, dispatch, drain, drain_timeout
from .locustfile import LocustfileVisitors, fire_init, fire_quitting, run_events
from .outcome import Progress, RunOutcome
from .recorder import Recorder
from .browser import cache_dns
from .client import VisitorClient
from .visitors import DataPool, VisitorFactory

FLUSH_EVERY_S = 2.0
PROGRESS_EVERY_S = 1.0
MAX_IN_FLIGHT = 20_000  # visitors in flight per process; beyond, arrivals are dropped (and counted)
SATURATED_CPU = 95.0  # a load process at or above this CPU share for SATURATED_FOR_S is saturated
SATURATED_FOR_S = 5
USER_CLASS_NAME = "LoadkitVisitor"  # the same name on the master and every worker
# Python's cyclic collector makes a young-generation pass after every 700 new container objects still alive.
# Steady load leaves few (a visit's objects die by reference counting), but a burst of late visitors (after
# a pause of the machine, say) keeps thousands of greenlets, frames and sockets alive at once: the collector
# then walks them again and again, the generator falls further behind and the burst grows. After a 150 ms
# pause near the generator's capacity (benchmarks/bench_burst.py, 10,000 visitors/s with the crew of reused
# greenlets, medians of 3): 1,547 ms collecting and 44,664 visitors late with the default; 151 ms and 13,756
# with this. Well below capacity (7,200/s) both recover; the default then collects 162 ms against 5.
LOAD_GC_THRESHOLD = (10_000, 10, 10)

log = logging.getLogger("loadkit.run")


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

    def take_stock(self) -> None:
        """Note the visits in flight, and where each stands, as the cut-short ones (the run is ending;
        once: a second stop finds the visitors the first one is stopping)."""
        if self.stock_taken:
            return
        self.stock_taken = True
        self.cut_short_at = self.factory.walking.counts()
        self.cut_short = sum(row["visitors"] for row in self.cut_short_at)


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
            dispatch(ctx.plan.arrival_times(ctx.worker_index, ctx.worker_count), ctx.t0, ctx.factory.visit,
                     ctx.recorder, ctx.crew, ctx.stop,
                     ctx.max_rate / ctx.worker_count if ctx.max_rate else None)
            ctx.load_s = time.time() - ctx.t0
            ctx.cut_short = drain(ctx.crew, 0.5 if ctx.stop.is_set() else ctx.drain_s, ctx.take_stock)
        finally:
            ctx.finished.set()
        raise StopUser()


class PlanShape(LoadTestShape):
    """Closed model: the plan's level at each moment is the number of users."""

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def tick(self) -> tuple[int, float] | None:
        t = self.get_run_time()
        if t > self.plan.duration:
            return None
        return max(0, round(self.plan.rate(t))), max(1.0, self.plan.max_level)


def user_class() -> type[User]:
    """The Locust user class, under the one name master and workers share."""
    return type(USER_CLASS_NAME, (_Visitor,), {"abstract": False, "__module__": __name__})


def build_context(env: Environment, scenario: Scenario, plan: Plan, target: str, data_values: Mapping[str, Sequence[Any]],
                  headers: dict[str, str], recorder: Recorder, worker_index: int = 0,
                  worker_count: int = 1, locust_users: list[type[User]] | None = None) -> LoadContext:
    """Prepare a process to carry its share (``worker_index`` of ``worker_count``) of the plan.

    ``locust_users``: the classes of the scenario's locustfile, which then walk the journeys.
    """
    sequential = frozenset(name for name, src in scenario.data.items()
                           if isinstance(src, CsvSource | RangeSource | ListSource) and src.order == "sequential")
    pool = DataPool(values=data_values, sequential=sequential,
                    rng=random.Random(plan.seed * 7919 + worker_index), offset=worker_index, stride=worker_count)
    rng = random.Random(plan.seed * 104729 + worker_index)
    recorder.secrets = secret_values(scenario, target, headers)
    cache_dns()
    factory: VisitorFactory | LocustfileVisitors = (
        LocustfileVisitors(locust_users, env, target, rng) if locust_users
        else VisitorFactory(scenario, target, env.events.request, pool, headers, rng))
    if isinstance(factory, VisitorFactory):
        factory.on_offsite = recorder.on_offsite_redirect
    ctx = LoadContext(factory=factory, plan=plan, recorder=recorder, stop=Event(), crew=Crew(MAX_IN_FLIGHT),
                     finished=Event(), drain_s=drain_timeout(scenario.request_timeout),
                     max_rate=scenario.safety.max_rate, worker_index=worker_index, worker_count=worker_count)
    if plan.model == "users":  # Locust stops the looping users when the shape ends: count them before
        env.events.test_stopping.add_listener(lambda **_: ctx.take_stock())
    return ctx


def drop_locust_request_stats(env: Environment) -> None:
    """Detach Locust's own per-request statistics (the runner's ``events.request`` listener).

    loadkit's recorder measures every request into exact, mergeable per-second histograms; Locust's
    rounded statistics would be computed for nothing, on the hottest path of the run.
    """
    handlers = getattr(env.events.request, "_handlers", [])
    for handler in list(handlers):
        if getattr(handler, "__qualname__", "") == "Runner.__init__.<locals>.on_request":
            env.events.request.remove_listener(handler)


def cpu_sampler() -> Callable[[], float]:
    """This process's CPU share (percent of one core) since the previous call.

    Locust's own monitor samples every 10 s, too coarse to catch a generator pinned for a few seconds.
    """
    import psutil

    process = psutil.Process()
    process.cpu_percent(None)
    return lambda: float(process.cpu_percent(None))


@contextmanager
def burst_tolerant_gc() -> Iterator[None]:
    """While the load runs, collect cyclic garbage less often (``LOAD_GC_THRESHOLD``); restored after."""
    before = gc.get_threshold()
    gc.set_threshold(*LOAD_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)


class _QuietFileHandler(logging.FileHandler):
    """A log file that drops a record it cannot write (a full disk) instead of printing a traceback: the
    run reports the full disk itself."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's naming)
        pass


def setup_logging(path: Path) -> logging.Handler:
    """Send log records (loadkit's and Locust's) to ``path``."""
    handler = _QuietFileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


@dataclass
class Supervisor:
    """What the controlling process does every second: flush data, report progress, watch health.

    ``cpu`` returns each load process's current CPU share; ``users`` the running users (closed model).
    """

    scenario: Scenario
    plan: Plan
    run_dir: Path
    recorder: Recorder
    stop: Event
    cpu: Callable[[], dict[str, float]]
    users: Callable[[], int]
    on_progress: Callable[[Progress], None] | None
    in_flight: Callable[[], int]
    aborted: str | None = None
    interrupted: Event = field(default_factory=Event)
    cpu_max: float = 0.0
    saturated: str | None = None
    disk_full: str | None = None  # why the data files stopped growing
    _hot: dict[str, float] = field(default_factory=dict)
    _bad_since: float | None = None

    def flush(self) -> None:
        """Append what the recorder holds to the data files."""
        metrics, arrivals, samples = self.recorder.flush()
        self.write(metrics, arrivals, samples, self.recorder.flush_scenario_errors())

    def write(self, metrics: list[dict[str, Any]], arrivals: list[dict[str, Any]],
              samples: list[dict[str, Any]], scenario_errors: list[dict[str, Any]] | None = None) -> None:
        """Append rows to the data files. When the disk is full, stop the load: what it measured could no
        longer be recorded, and load nobody records is load nobody planned."""
        if self.disk_full is not None:
            return
        try:
            rundata.append_jsonl(self.run_dir / rundata.METRICS, metrics)
            rundata.append_jsonl(self.run_dir / rundata.ARRIVALS, arrivals)
            rundata.append_jsonl(self.run_dir / rundata.ERRORS, samples)
            rundata.append_jsonl(self.run_dir / rundata.SCENARIO_ERRORS, scenario_errors or [])
        except DiskFullError:
            elapsed = max(0.0, time.time() - self.recorder.t0) if self.recorder.t0 else 0.0
            self.disk_full = (f"the disk of the run directory filled up {elapsed:.0f} s into the run: the load was "
                              "stopped and what it measured from then on is missing")
            log.error("%s", self.disk_full)
            self.stop.set()

    def loop(self) -> None:
        """Every second until killed."""
        last_flush = time.monotonic()
        while True:
            gevent.sleep(PROGRESS_EVERY_S)
            elapsed = time.time() - self.recorder.t0
            self.watch_cpu(elapsed)
            if time.monotonic() - last_flush >= FLUSH_EVERY_S:
                self.flush()
                last_flush = time.monotonic()
            self.check_abort(elapsed)
            if self.plan.model == "users":
                self.recorder.on_users(elapsed, self.users())
            if self.on_progress is not None:
                live = self.recorder.live_window(elapsed)
                self.on_progress(Progress(
                    elapsed_s=elapsed, total_s=self.plan.duration, phase=self.plan.phase_at(elapsed),
                    planned_per_s=self.plan.integral(int(elapsed) - 5, int(elapsed)) / 5,
                    delivered_per_s=float(live["arrivals_per_s"] or 0), rps=float(live["rps"] or 0),
                    p95_ms=live["p95_ms"], error_rate=live["error_rate"], in_flight=self.in_flight(),
                    requests=self.recorder.total_requests, failures=self.recorder.total_failures))

    def watch_cpu(self, elapsed: float) -> None:
        """Note the busiest load process; a process pinned near 100% CPU is a saturated generator."""
        for name, pct in self.cpu().items():
            self.cpu_max = max(self.cpu_max, pct)
            if pct >= SATURATED_CPU:
                since = self._hot.setdefault(name, elapsed)
                if elapsed - since >= SATURATED_FOR_S and self.saturated is None:
                    self.saturated = (f"{name} ran at or above {SATURATED_CPU:.0f}% CPU from {since:.0f} s into "
                                      "the run (saturated), so visitors may have started late")
                    log.warning(self.saturated)
            else:
                self._hot.pop(name, None)

    def check_abort(self, elapsed: float) -> None:
        """safety.abort_when: stop the load when the error rate stays above the limit."""
        abort = self.scenario.safety.abort_when
        if abort is None or self.aborted:
            return
        rate = self.recorder.live_window(elapsed, seconds=1)["error_rate"]
        if rate is None:
            return
        if rate > abort.error_rate:
            self._bad_since = elapsed if self._bad_since is None else self._bad_since
            if elapsed - self._bad_since >= abort.for_:
                self.aborted = (f"error rate above {abort.error_rate:.0%} for {abort.for_:g} s "
                                f"from {self._bad_since:.0f} s into the run")
                log.warning("aborted to protect the site: %s", self.aborted)
                self.stop.set()
        else:
            self._bad_since = None

    def install_signals(self) -> None:
        """SIGINT/SIGTERM stop the load; a second SIGINT leaves at once, keeping what is on disk."""
        def on_signal() -> None:
            if self.interrupted.is_set():
                os._exit(3)
            log.warning("interrupted: stopping the load")
            self.interrupted.set()
            self.stop.set()

        gevent.signal_handler(signal.SIGINT, on_signal)
        gevent.signal_handler(signal.SIGTERM, on_signal)

    @staticmethod
    def restore_signals() -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def outcome(self, t0: float, load_s: float | None, cut_short: int, workers: int,
                notes: list[str]) -> RunOutcome:
        """The run's outcome once the load has stopped."""
        duration = time.time() - t0
        rec = self.recorder
        if cut_short:
            notes.append(f"{cut_short} visitors were still in flight when the run ended and were stopped")
        log.info("run ended after %.1f s: %d requests, %d failures", duration, rec.total_requests,
                 rec.total_failures)
        return RunOutcome(started_at=t0, duration_s=duration, load_s=min(load_s or duration, self.plan.duration),
                          interrupted=self.interrupted.is_set(), cut_short=cut_short, workers=workers,
                          requests=rec.total_requests, failures=rec.total_failures,
                          started_arrivals=rec.total_started, dropped_arrivals=rec.total_dropped,
                          late_arrivals=rec.total_late, cpu_percent_max=self.cpu_max, notes=notes,
                          aborted=self.aborted, saturated=self.saturated, disk_full=self.disk_full)


def execute(scenario: Scenario, plan: Plan, target: str, run_dir: Path, data_values: Mapping[str, Sequence[Any]],
            headers: dict[str, str], on_progress: Callable[[Progress], None] | None = None,
            locust_users: list[type[User]] | None = None) -> RunOutcome:
    """Run the plan against ``target`` in this process; write data files into ``run_dir`` as it goes."""
    handler = setup_logging(run_dir / "run.log")
    try:
        with burst_tolerant_gc():
            return _execute(scenario, plan, target, run_dir, data_values, headers, on_progress, locust_users)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _execute(scenario: Scenario, plan: Plan, target: str, run_dir: Path, data_values: Mapping[str, Sequence[Any]],
             headers: dict[str, str], on_progress: Callable[[Progress], None] | None,
             locust_users: list[type[User]] | None) -> RunOutcome:
    recorder = Recorder()
    # Closed model with a locustfile: Locust runs its classes as they are, following the plan's shape.
    classes = list(locust_users) if locust_users and plan.model == "users" else [user_class()]
    env = Environment(user_classes=classes, events=run_events(locust_users),
                      shape_class=PlanShape(plan) if plan.model == "users" else None, host=target)
    env.events.request.add_listener(recorder.on_request)
    env.events.user_error.add_listener(recorder.on_user_error)  # a locustfile's exceptions: scenario errors
    ctx = build_context(env, scenario, plan, target, data_values, headers, recorder, locust_users=locust_users)
    env.loadkit = ctx  # type: ignore[attr-defined]
    runner = env.create_local_runner()
    drop_locust_request_stats(env)
    fire_init(env)  # the runner fires test_start, spawning_complete, test_stopping and test_stop
    sample_cpu = cpu_sampler()
    sup = Supervisor(scenario=scenario, plan=plan, run_dir=run_dir, recorder=recorder, stop=ctx.stop,
                     cpu=lambda: {"this process": sample_cpu()},
                     users=lambda: runner.user_count, on_progress=on_progress, in_flight=lambda: len(ctx.crew))
    sup.install_signals()
    ctx.t0 = time.time()
    recorder.start_clock(ctx.t0)
    log.info("run started: %s arrivals planned over %.0f s against %s", round(plan.total_arrivals),
             plan.duration, redact_url(target))
    bg = gevent.spawn(sup.loop)
    meter = hiccups.start(recorder, cpu_sampler())
    try:
        if plan.model == "users":
            runner.start_shape()
            deadline = ctx.t0 + plan.duration + ctx.drain_s + 5
            while runner.state not in ("stopped", "stopping") and not ctx.stop.is_set() and time.time() < deadline:
                gevent.sleep(0.2)
            ctx.load_s = time.time() - ctx.t0
            ctx.stop.set()
            runner.stop()
        else:
            runner.start(1, spawn_rate=1)
            ctx.finished.wait()
    finally:
        runner.stop()  # test_stopping, test_stop; then quitting, as `locust --run-time` orders them
        fire_quitting(env)
        runner.quit()
        bg.kill()
        meter.kill()
        sup.flush()
        sup.restore_signals()
    outcome = sup.outcome(ctx.t0, ctx.load_s, ctx.cut_short, 1, [])
    outcome.cut_short_at = ctx.cut_short_at
    return outcome
