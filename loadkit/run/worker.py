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
from dataclasses import replace
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
import locust
from locust import runners as locust_runners
from locust.runners import WorkerRunner
from locust.event import EventHook
from locust.env import Environment

from ..config import DEFAULT_MASTER_PORT
from ..errors import LoadkitError, RunError, ScenarioError, TargetError
from ..redaction import redact_url
from . import hiccups
from .client import Connections, VisitorClient
from .context import LoadContext, build_context
from .locustfile import fire_init, fire_quitting, load_user_classes
from .process import burst_tolerant_gc, cpu_sampler, drop_locust_request_stats
from .protocol import Data, Done, Hello, Ready, Refused, Setup, Start, Stop, listen, send
from .recorder import Recorder
from .supervisor import FLUSH_EVERY_S
from .targets import is_loopback
from .users import user_class

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


def locustfile_here(text: str, name: str | None, master_path: str | None) -> Path:
    """Where this worker imports the scenario's locustfile (``text``, called ``name`` on the master, at
    ``master_path`` there) from: the master's own path when this machine has the same file there (a local
    worker, or a load machine with the same checkout), so the modules next to it import too; otherwise the
    text the master sent, written to a folder of its own."""
    original = Path(master_path or "")
    try:
        if original.is_file() and original.read_text(encoding="utf-8") == text:
            return original
    except (OSError, UnicodeDecodeError):
        pass
    path = Path(tempfile.mkdtemp(prefix="loadkit-worker-")) / (name or "locustfile.py")
    path.write_text(text, encoding="utf-8")
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
    return Worker(master_host, master_port, parent_pid).serve()


class Worker:
    """A Locust worker carrying its share of a loadkit run: it takes the master's setup, starts on the
    master's clock, ships its rows every ``FLUSH_EVERY_S``, and leaves when the master goes silent."""

    def __init__(self, master_host: str, master_port: int, parent_pid: int | None,
                 runner: WorkerRunner | None = None) -> None:
        self.master = f"{master_host}:{master_port}"
        self.lost: list[str] = []  # why this worker left before the master ended the run
        self.leave = Event()
        self.silence = Silence()
        self.ctx: LoadContext | None = None
        self.shipper: gevent.Greenlet[..., None] | None = None
        if parent_pid is not None:
            die_with_parent(parent_pid, self.orphaned)
        self.recorder = Recorder()
        # Locust's global events, as under `locust --worker`: a locustfile imported later registers its
        # listeners there (this process serves one run, so nothing else hears them). ``runner``: the one
        # `locust --worker` made, with loadkit's entry as its locustfile (run/plugin.py).
        self.env = runner.environment if runner is not None else \
            Environment(user_classes=[user_class()], host="http://127.0.0.1", events=locust.events)
        self.env.events.request.add_listener(self.recorder.on_request)
        self.env.events.user_error.add_listener(self.recorder.on_user_error)  # a locustfile's exceptions
        log.info("connecting to the master at %s", self.master)
        try:  # Locust retries for a while (workers may start before their master), then gives up
            self.runner = runner if runner is not None else self.env.create_worker_runner(master_host, master_port)
        except ConnectionError:
            waited = locust_runners.CONNECT_TIMEOUT * (locust_runners.CONNECT_RETRY_COUNT + 1)
            raise RunError(f"no loadkit master answered at {self.master} within {waited:g} s.",
                           "start the master first (loadkit run SCENARIO --master --bind ADDRESS --expect-workers "
                           "N), and check the address, the port (--master-port) and firewalls") from None
        drop_locust_request_stats(self.env)
        self.sample_cpu = cpu_sampler()

    def serve(self) -> int:
        """Take part in the master's run until it ends (0), or leave when the master is gone (RunError)."""
        watchers = self.begin()
        with burst_tolerant_gc():
            self.runner.greenlet.join()
        fire_quitting(self.env)  # the runner stopped first (test_stop), as under `locust --worker`
        return self.finish(watchers)

    def begin(self) -> list[gevent.Greenlet[..., None]]:
        """Listen for the master's messages, say hello, watch the master; the watchers."""
        self.env.events.heartbeat_received.add_listener(self.silence.hear)
        listen(self.runner, Setup, self.on_setup)
        listen(self.runner, Start, self.on_start)
        listen(self.runner, Stop, self.on_stop)
        send(self.runner, Hello())  # now the master may send the scenario: this worker can read it
        return [gevent.spawn(self.watch_master), gevent.spawn(self.stop_and_leave)]

    def finish(self, watchers: list[gevent.Greenlet[..., None]]) -> int:
        """Once the runner has ended: 0, or RunError when this worker left a master that went silent."""
        if self.leave.is_set():
            watchers[1].join(timeout=5)
            raise RunError(f"this worker stopped its load and left: {self.lost[0]}.",
                           "the master's run is inconclusive (a lost worker); check the master's machine and the "
                           "network, then run again")
        gevent.killall(watchers)
        if self.shipper is not None:
            self.shipper.join(timeout=5)
        return 0

    # --- the master's messages ---

    def on_setup(self, setup: Setup, _node: str) -> None:
        """Take the scenario, or refuse it with one line (the master then stops the run before any load)."""
        self.silence.busy = True  # this blocks the message loop (a check of the target may take seconds)
        try:
            self.set_up(setup)
        except LoadkitError as error:
            log.error("cannot take the scenario: %s", error)
            send(self.runner, Refused(index=setup.index, problem=error.problem, fix=error.fix))
        except Exception as error:  # a fault of this worker's machine or of loadkit: stop the run, not hang it
            log.exception("setting up the run failed")
            send(self.runner, Refused(index=setup.index, problem=f"its set-up raised {type(error).__name__}: {error}",
                                      fix="see the worker's log (worker-N.log in the run directory for local "
                                      "workers)"))
        finally:
            self.silence.busy = False

    def set_up(self, setup: Setup) -> None:
        """Build this worker's job and load context from the setup."""
        job = setup.job()
        reach_target(job.target, job.headers, job.scenario.verify_tls, setup.master_hostname)
        if setup.locustfile:
            path = locustfile_here(setup.locustfile, setup.locustfile_name, setup.locustfile_path)
            job = replace(job, user_classes=tuple(self.user_classes(path, setup.locustfile_path)),
                          inputs=replace(job.inputs, locustfile=path))
            if job.closed_model:
                self.env.user_classes[:] = list(job.user_classes)  # the master spawns these by name
        self.env.host = job.target
        self.ctx = build_context(self.env, job, self.recorder)
        fire_init(self.env)  # once the locustfile is imported; the runner fires test_start on the first spawn
        log.info("worker %d of %d ready", job.share.index, job.share.count)
        send(self.runner, Ready(index=job.share.index))

    @staticmethod
    def user_classes(path: Path, master_path: str | None) -> list[Any]:
        """The locustfile's user classes; a file that imports its neighbours needs them on this machine."""
        try:
            return load_user_classes(path)
        except ScenarioError as error:
            if not master_path or str(path) == master_path:
                raise
            raise ScenarioError(error.problem, f"{error.fix}; a locustfile that imports files next to it needs "
                                f"its folder at {Path(master_path).parent} on every load machine (the same "
                                "checkout)") from None

    def on_start(self, start: Start, _node: str) -> None:
        """Start on the master's clock. The master's clock read ``master_now`` when it sent this: its t0 is
        shifted onto this machine's clock. It arrives before Locust's spawn message (one ordered
        connection), so before any arrival."""
        offset = start.master_now - time.time()
        ctx = self._ctx()
        ctx.t0 = start.t0 - offset
        self.recorder.start_clock(ctx.t0)
        self.shipper = gevent.spawn(self.ship)
        log.info("worker %d starts (clock offset to the master %.3f s)", ctx.worker_index, offset)

    def on_stop(self, _stop: Stop, _node: str) -> None:
        """End this share now."""
        if self.ctx is not None:
            self.ctx.stop.set()
            if self.ctx.plan.model == "users" or not self.ctx.dispatched:
                self.ctx.finished.set()

    def _ctx(self) -> LoadContext:
        if self.ctx is None:
            raise RunError("the master started the run before this worker was set up.", "run again")
        return self.ctx

    # --- shipping rows ---

    def ship(self) -> None:
        """Every ``FLUSH_EVERY_S`` until the share ends: the rows measured so far; then the end."""
        ctx = self._ctx()
        meter = hiccups.start(self.recorder, cpu_sampler())
        while not ctx.finished.is_set():
            ctx.finished.wait(FLUSH_EVERY_S)
            self.send_rows()
        meter.kill()
        self.send_rows(final=True)
        rec = self.recorder
        send(self.runner, Done(index=ctx.worker_index, load_s=ctx.load_s, cut_short=ctx.cut_short,
                               cut_short_at=ctx.cut_short_at,
                               started=rec.total_started, dropped=rec.total_dropped, late=rec.total_late,
                               requests=rec.total_requests))

    def send_rows(self, final: bool = False) -> None:
        """The rows measured since the last shipment (always on the last one)."""
        metrics, arrivals, samples = self.recorder.flush()
        scenario_errors = self.recorder.flush_scenario_errors()
        journeys = self.recorder.flush_journeys()
        if metrics or arrivals or samples or scenario_errors or journeys or final:
            send(self.runner, Data(metrics=metrics, arrivals=arrivals, samples=samples,
                                   scenario_errors=scenario_errors, journeys=journeys, cpu=self.sample_cpu(),
                                   in_flight=len(self.ctx.crew) if self.ctx is not None else 0))

    # --- leaving when the master is gone ---

    def orphaned(self) -> None:
        """The local ``loadkit run`` that started this worker has ended."""
        self.lost.append("the loadkit run that started it ended")
        self.leave.set()

    def watch_master(self) -> None:
        """Count the master's silence, one tick a second."""
        while not self.leave.is_set():
            gevent.sleep(1.0)
            if self.silence.tick() >= MASTER_SILENCE_S:
                self.lost.append(f"no word from the master at {self.master} for {MASTER_SILENCE_S} s")
                self.leave.set()

    def stop_and_leave(self) -> None:
        """The master is gone: stop sending now (no arrival starts, visitors in flight end mid-visit),
        then end the runner; nothing measured from here could reach anyone."""
        self.leave.wait()
        log.error("%s: stopping this worker's load", self.lost[0])
        try:
            if self.ctx is not None:
                self.ctx.stop.set()
            self.runner.stop()  # the dispatcher (open model) or the looping users (closed model)
            if self.ctx is not None:
                self.ctx.crew.kill(timeout=2)  # visitors in flight
        finally:
            if self.shipper is not None:
                self.shipper.kill(block=False)
            self.runner.greenlet.kill(block=True, timeout=2)
