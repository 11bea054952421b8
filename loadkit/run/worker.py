"""A load-generating worker: Locust's WorkerRunner plus loadkit's share of the plan.

Started by ``loadkit run --workers N`` on this machine, or by ``loadkit worker --master HOST[:PORT]`` on
another. The master sends the scenario, the plan, the data and this worker's index in a ``loadkit_setup``
message (the worker answers ``loadkit_ready``, or ``loadkit_refused`` with the reason), then, once every
worker is ready, the run's start time (``loadkit_start``); the worker keys its measurements by the master's
run clock (corrected for the two machines' clock offset) and ships them to the master every couple of
seconds (``loadkit_data``), then says ``loadkit_done``.

A worker never loads the site for a master that is gone: one that hears nothing from its master (Locust's
heartbeat answers, every second) for ``MASTER_SILENCE_S`` stops its load and leaves, where Locust waits
60 s; a local worker also dies with the process that started it (``die_with_parent``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
import locust
from locust import runners as locust_runners
from locust.event import EventHook
from locust.env import Environment

from ..config import DEFAULT_MASTER_PORT
from ..errors import LoadkitError, RunError, ScenarioError, TargetError
from ..redaction import redact_url
from ..scenario import data_from_wire, parse_scenario
from ..traffic import plan_from_dict
from . import hiccups, is_loopback
from .client import Connections, VisitorClient
from .engine import (FLUSH_EVERY_S, LoadContext, build_context, burst_tolerant_gc, cpu_sampler, drop_locust_request_stats,
                     user_class)
from .locustfile import fire_init, fire_quitting, load_user_classes
from .recorder import Recorder

log = logging.getLogger("loadkit.worker")
# Seconds of silence from the master after which a worker stops its load and leaves. The master answers
# each of the worker's heartbeats (one a second); Locust's own limit is 60 s, far too long for a load tool:
# a master killed with SIGKILL would leave its workers loading the site, recorded by nobody, for a minute.
MASTER_SILENCE_S = 5
PARENT_CHECK_S = 0.5  # how often a local worker looks for its parent (where the kernel cannot signal it)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Silence:
    """The master's silence counted in the worker's own one-second ticks, not wall time: a pause of the
    whole machine (a suspended VM, a stalled container) is one tick, not a gap as long as the pause, and the
    master's answers queued meanwhile are read before the next. Ticks while the worker sets up (its message
    loop blocked, answers unread) do not count."""

    def __init__(self) -> None:
        self.heard = True
        self.busy = False
        self.quiet = 0

    def hear(self, **_: Any) -> None:
        """The master spoke (a listener for Locust's ``heartbeat_received``)."""
        self.heard = True

    def tick(self) -> int:
        """One second passed: the seconds of silence so far."""
        self.quiet = 0 if self.heard or self.busy else self.quiet + 1
        self.heard = False
        return self.quiet


def die_with_parent(parent_pid: int, on_orphaned: Callable[[], object]) -> None:
    """A local worker ends with the ``loadkit run`` that started it, however that ends (even SIGKILL).
    On Linux the kernel sends this process SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``);
    elsewhere, or if that call fails, a greenlet checks every ``PARENT_CHECK_S`` that the parent is still
    ours and calls ``on_orphaned`` when it is not. Nothing this worker measures could reach anyone then."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # an unusual libc: the watchdog below still holds
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:  # the parent died before prctl took effect: caught at once
            gevent.sleep(PARENT_CHECK_S)
        on_orphaned()

    gevent.spawn(watch)


def locustfile_here(data: dict[str, Any]) -> Path:
    """Where this worker imports the scenario's locustfile from: the master's own path when this machine
    has the same file there (a local worker, or a load machine with the same checkout), so the modules
    next to it import too; otherwise the text the master sent, written to a folder of its own."""
    original = Path(data.get("locustfile_path") or "")
    try:
        if original.is_file() and original.read_text(encoding="utf-8") == data["locustfile"]:
            return original
    except (OSError, UnicodeDecodeError):
        pass
    path = Path(tempfile.mkdtemp(prefix="loadkit-worker-")) / (data.get("locustfile_name") or "locustfile.py")
    path.write_text(data["locustfile"], encoding="utf-8")
    return path


def reach_target(target: str, headers: dict[str, str], verify_tls: bool, master_hostname: str | None) -> None:
    """On a machine other than the master's, check the target answers from here before any load (the
    master's preflight saw it from the master only). A worker that cannot reach it would otherwise report
    every request as failed, and the site would get the blame; TargetError instead, in one line. The check
    is one GET through the visitors' own client (httpx cannot start once gevent has patched the process)."""
    if master_hostname == socket.gethostname():
        return  # the master checked from this machine
    client = VisitorClient(Connections(target, shared=False, verify_tls=verify_tls, timeout=10.0, pool_size=1),
                           EventHook())  # an event nobody listens to: the check is not part of the run's data
    try:
        answer = client.send("GET", "/", headers)
    finally:
        client.pool.close()
    if answer.status_code:
        return  # any HTTP answer will do: the run measures it
    fix = ("a loopback target (localhost, 127.0.0.1, ::1) is on the master's machine only: give --target an address "
           "every load machine can reach" if is_loopback(target) else
           "check that this machine can reach the site (DNS, firewall, proxy), or run the worker elsewhere")
    raise TargetError(f"from {socket.gethostname()}, target {redact_url(target)} did not answer "
                      f"({type(answer.error).__name__}: {answer.error}).", fix)


def run_worker(master_host: str, master_port: int = DEFAULT_MASTER_PORT, parent_pid: int | None = None) -> int:
    """Serve the master until it ends the run; returns a process exit code. ``parent_pid``: a local
    worker's ``loadkit run`` process, which this worker does not outlive. Raises RunError when the master
    goes silent (or the parent ends) and the worker stopped its load."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lost: list[str] = []  # why this worker left before the master ended the run
    leave = Event()

    def orphaned() -> None:
        lost.append("the loadkit run that started it ended")
        leave.set()

    if parent_pid is not None:
        die_with_parent(parent_pid, orphaned)
    recorder = Recorder()
    # Locust's global events, as under `locust --worker`: a locustfile imported later registers its listeners
    # there (this process serves one run, so nothing else hears them)
    env = Environment(user_classes=[user_class()], host="http://127.0.0.1", events=locust.events)
    env.events.request.add_listener(recorder.on_request)
    env.events.user_error.add_listener(recorder.on_user_error)  # a locustfile's exceptions: scenario errors
    log.info("connecting to the master at %s:%d", master_host, master_port)
    try:  # Locust retries for a while (workers may start before their master), then gives up
        runner = env.create_worker_runner(master_host, master_port)
    except ConnectionError:
        waited = locust_runners.CONNECT_TIMEOUT * (locust_runners.CONNECT_RETRY_COUNT + 1)
        raise RunError(f"no loadkit master answered at {master_host}:{master_port} within {waited:g} s.",
                       "start the master first (loadkit run SCENARIO --master --bind ADDRESS --expect-workers N), "
                       "and check the address, the port (--master-port) and firewalls") from None
    drop_locust_request_stats(env)
    sample_cpu = cpu_sampler()
    state: dict[str, Any] = {"ctx": None, "shipper": None}

    def send_rows(final: bool = False) -> None:
        metrics, arrivals, samples = recorder.flush()
        scenario_errors = recorder.flush_scenario_errors()
        if metrics or arrivals or samples or scenario_errors or final:
            ctx = state["ctx"]
            runner.send_message("loadkit_data", {"metrics": metrics, "arrivals": arrivals, "samples": samples,
                                                 "scenario_errors": scenario_errors,
                                                 "cpu": sample_cpu(),
                                                 "in_flight": len(ctx.crew) if ctx is not None else 0})

    def ship() -> None:
        ctx: LoadContext = state["ctx"]
        meter = hiccups.start(recorder, cpu_sampler())
        while not ctx.finished.is_set():
            ctx.finished.wait(FLUSH_EVERY_S)
            send_rows()
        meter.kill()
        send_rows(final=True)
        runner.send_message("loadkit_done", {"index": ctx.worker_index, "load_s": ctx.load_s,
                                             "cut_short": ctx.cut_short, "cut_short_at": ctx.cut_short_at,
                                             "started": recorder.total_started,
                                             "dropped": recorder.total_dropped, "late": recorder.total_late,
                                             "requests": recorder.total_requests})

    def on_setup(environment: Environment, msg: Any, **_: Any) -> None:
        silence.busy = True  # this blocks the message loop (a check of the target may take seconds)
        try:
            set_up(environment, msg.data)
        except LoadkitError as error:  # the master stops the run with this one line
            log.error("cannot take the scenario: %s", error)
            runner.send_message("loadkit_refused", {"index": msg.data.get("index"), "problem": error.problem,
                                                    "fix": error.fix})
        except Exception as error:  # a fault of this worker's machine or of loadkit: stop the run, not hang it
            log.exception("setting up the run failed")
            runner.send_message("loadkit_refused", {"index": msg.data.get("index"),
                                                    "problem": f"its set-up raised {type(error).__name__}: {error}",
                                                    "fix": "see the worker's log (worker-N.log in the run "
                                                    "directory for local workers)"})
        finally:
            silence.busy = False

    def set_up(environment: Environment, data: dict[str, Any]) -> None:
        scenario = parse_scenario(data["scenario"], "scenario from the master")
        plan = plan_from_dict(data["plan"])
        reach_target(data["target"], data["headers"], scenario.verify_tls, data.get("master_hostname"))
        locust_users = None
        if data.get("locustfile"):
            path = locustfile_here(data)
            try:
                locust_users = load_user_classes(path)
            except ScenarioError as error:
                if not data.get("locustfile_path") or str(path) == data["locustfile_path"]:
                    raise
                raise ScenarioError(error.problem, f"{error.fix}; a locustfile that imports files next to it "
                                    f"needs its folder at {Path(data['locustfile_path']).parent} on every load "
                                    "machine (the same checkout)") from None
            if plan.model == "users":
                environment.user_classes[:] = locust_users  # the master spawns these by name
        ctx = build_context(environment, scenario, plan, data["target"], data_from_wire(data["data"]),
                            data["headers"], recorder, worker_index=data["index"], worker_count=data["count"],
                            locust_users=locust_users)
        environment.host = data["target"]
        environment.loadkit = ctx  # type: ignore[attr-defined]
        state["ctx"] = ctx
        fire_init(environment)  # once the locustfile is imported; the runner fires test_start on the first spawn
        log.info("worker %d of %d ready", ctx.worker_index, ctx.worker_count)
        runner.send_message("loadkit_ready", {"index": ctx.worker_index})

    def on_start(environment: Environment, msg: Any, **_: Any) -> None:
        # The master's clock said msg.data["master_now"] when it sent this: shift its t0 onto this machine's
        # clock. It arrives before Locust's spawn message (one ordered connection), so before any arrival.
        offset = msg.data["master_now"] - time.time()
        ctx: LoadContext = state["ctx"]
        ctx.t0 = msg.data["t0"] - offset
        recorder.start_clock(ctx.t0)
        state["shipper"] = gevent.spawn(ship)
        log.info("worker %d starts (clock offset to the master %.3f s)", ctx.worker_index, offset)

    def on_stop(environment: Environment, msg: Any, **_: Any) -> None:
        ctx = state["ctx"]
        if ctx is not None:
            ctx.stop.set()
            if ctx.plan.model == "users" or not ctx.dispatched:
                ctx.finished.set()

    def watch_master() -> None:
        while not leave.is_set():
            gevent.sleep(1.0)
            if silence.tick() >= MASTER_SILENCE_S:
                lost.append(f"no word from the master at {master_host}:{master_port} for {MASTER_SILENCE_S} s")
                leave.set()

    def stop_and_leave() -> None:
        """The master is gone: stop sending now (no arrival starts, visitors in flight end mid-visit),
        then end the runner; nothing measured from here could reach anyone."""
        leave.wait()
        log.error("%s: stopping this worker's load", lost[0])
        ctx: LoadContext | None = state["ctx"]
        try:
            if ctx is not None:
                ctx.stop.set()
            runner.stop()  # the dispatcher (open model) or the looping users (closed model)
            if ctx is not None:
                ctx.crew.kill(timeout=2)  # visitors in flight
        finally:
            if state["shipper"] is not None:
                state["shipper"].kill(block=False)
            runner.greenlet.kill(block=True, timeout=2)

    silence = Silence()
    env.events.heartbeat_received.add_listener(silence.hear)
    runner.register_message("loadkit_setup", on_setup)
    runner.register_message("loadkit_start", on_start)
    runner.register_message("loadkit_stop", on_stop)
    runner.send_message("loadkit_hello")  # now the master may send the scenario: this worker can read it
    watchers = [gevent.spawn(watch_master), gevent.spawn(stop_and_leave)]
    with burst_tolerant_gc():
        runner.greenlet.join()
    fire_quitting(env)  # the runner stopped first (test_stop), as under `locust --worker`
    if leave.is_set():
        watchers[1].join(timeout=5)
        raise RunError(f"this worker stopped its load and left: {lost[0]}.",
                       "the master's run is inconclusive (a lost worker); check the master's machine and the "
                       "network, then run again")
    gevent.killall(watchers)
    shipper = state["shipper"]
    if shipper is not None:
        shipper.join(timeout=5)
    return 0
