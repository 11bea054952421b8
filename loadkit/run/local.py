"""A run in one process: this process is the only load generator (no Locust master or workers).

Requests are measured through ``events.request`` by the recorder and flushed to disk every couple of
seconds by the supervisor, so an interrupted run keeps what it measured. Multi-process and distributed
runs (``master.py``, ``worker.py``) reuse the same pieces.
"""

from __future__ import annotations

import logging
import time

import gevent
from locust.env import Environment
from locust.runners import LocalRunner

from ..redaction import redact_url
from . import hiccups
from .context import LoadContext, build_context
from .job import RunJob
from .locustfile import fire_init, fire_quitting, run_events
from .outcome import RunOutcome
from .process import burst_tolerant_gc, cpu_sampler, drop_locust_request_stats, run_log
from ..traffic import Plan
from .recorder import Recorder
from .searching import SearchDriver
from .supervisor import Gauges, Supervisor
from .users import PlanShape, user_class

__all__ = ["execute"]

log = logging.getLogger("loadkit.run")


def execute(job: RunJob) -> RunOutcome:
    """Run ``job``'s plan against its target in this process; data files go into its run directory as the
    load goes."""
    with run_log(job.out / "run.log"), burst_tolerant_gc():
        return _execute(job)


def load_environment(job: RunJob, recorder: Recorder) -> Environment:
    """The Locust environment of a load process: loadkit's user class (or, closed model with a locustfile,
    the file's classes as they are, following the plan's shape), requests measured by ``recorder``."""
    users = list(job.user_classes)
    classes = users if users and job.closed_model else [user_class()]
    env = Environment(user_classes=classes, events=run_events(users or None),
                      shape_class=PlanShape(job.plan) if job.closed_model else None, host=job.target)
    env.events.request.add_listener(recorder.on_request)
    env.events.user_error.add_listener(recorder.on_user_error)  # a locustfile's exceptions: scenario errors
    return env


def _execute(job: RunJob) -> RunOutcome:
    recorder = Recorder()
    env = load_environment(job, recorder)
    ctx = build_context(env, job, recorder)
    runner = env.create_local_runner()
    drop_locust_request_stats(env)
    fire_init(env)  # the runner fires test_start, spawning_complete, test_stopping and test_stop
    sample_cpu = cpu_sampler()
    sup = Supervisor(job, recorder, ctx.stop, Gauges(cpu=lambda: {"this process": sample_cpu()},
                                                     users=lambda: runner.user_count,
                                                     in_flight=lambda: len(ctx.crew)))
    driver = _search(job, ctx, sup) if job.plan.profile == "search" else None
    sup.install_signals()
    ctx.t0 = time.time()
    recorder.start_clock(ctx.t0)
    sup.start_observing()
    log.info("run started: %s arrivals planned over %.0f s against %s", round(job.plan.total_arrivals),
             job.plan.duration, redact_url(job.target))
    bg = gevent.spawn(sup.loop)
    meter = hiccups.start(recorder, cpu_sampler())
    try:
        _carry(job, runner, ctx)
    finally:
        runner.stop()  # test_stopping, test_stop; then quitting, as `locust --run-time` orders them
        fire_quitting(env)
        runner.quit()
        bg.kill()
        meter.kill()
        sup.flush()
        sup.sync()
        sup.stop_observing()
        sup.restore_signals()
    outcome = sup.outcome(ctx.t0, ctx.load_s, ctx.cut_short, 1, [])
    outcome.cut_short_at = ctx.cut_short_at
    if driver is not None:
        outcome.search = driver.ended
    return outcome


def _search(job: RunJob, ctx: LoadContext, sup: Supervisor) -> SearchDriver:
    """A capacity search: the dispatcher walks its levels, decided one at a time (run/searching.py)."""
    def on_plan(plan: Plan) -> None:
        ctx.plan = plan
        if sup.live is not None:  # the live export's planned arrivals and phase follow the levels too
            sup.live.plan = plan

    driver = SearchDriver(job, ctx.crew, ctx.stop, sup.flush, lambda: ctx.t0, on_plan)
    ctx.search_times = driver.arrival_times
    sup.current_plan = lambda: ctx.plan
    return driver


def _carry(job: RunJob, runner: LocalRunner, ctx: LoadContext) -> None:
    """Carry the plan until it ends or the load is stopped."""
    if job.closed_model:
        runner.start_shape()
        deadline = ctx.t0 + job.plan.duration + ctx.drain_s + 5
        while runner.state not in ("stopped", "stopping") and not ctx.stop.is_set() and time.time() < deadline:
            gevent.sleep(0.2)
        ctx.load_s = time.time() - ctx.t0
        ctx.stop.set()
        runner.stop()
    else:
        runner.start(1, spawn_rate=1)
        ctx.finished.wait()
