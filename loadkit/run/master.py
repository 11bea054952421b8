"""Multi-process and distributed runs on Locust's master/worker engine.

The master (this process) generates no load. It waits (bounded) for the workers, sends each its
setup (scenario, plan, data, its index, the run's clock), starts one dispatcher user per worker through
Locust's runner (open model) or follows the plan's shape (closed model), writes the rows the workers
ship, and watches them: a worker that goes missing or never reports back makes the run inconclusive.
``--workers N`` starts N worker processes here; ``loadkit worker --master HOST[:PORT]`` joins from
another machine. The messages are in ``run/protocol.py``.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack

import gevent
from gevent.event import Event
from locust.env import Environment
from locust.runners import MasterRunner

from ..errors import RunError
from ..redaction import redact_url
from .arrivals import drain_timeout
from .job import RunJob, Share
from .locustfile import fire_init, fire_quitting, run_events
from .outcome import RunOutcome
from .process import run_log
from .protocol import Data, Done, Hello, Ready, Refused, Setup, Start, Stop, listen, send
from .recorder import Recorder
from .supervisor import FLUSH_EVERY_S, PUBLISH_LAG_S, Gauges, Supervisor
from .users import PlanShape, user_class
from .walking import merge_counts

__all__ = ["execute_distributed"]

log = logging.getLogger("loadkit.master")
START_DELAY_S = 1.0  # the run's clock starts this long after every worker is ready, so each hears it in time
SET_UP_GRACE_S = 30.0  # beyond the connection timeout, how long the workers may take to set up
END_GRACE_S = 15.0  # beyond the plan and its drain, how long the master waits for the workers' end


def execute_distributed(job: RunJob) -> RunOutcome:
    """Run ``job``'s plan across ``job.distribution.expect_workers`` Locust workers (``local_workers`` of
    them started here)."""
    with run_log(job.out / "run.log"), ExitStack() as stack:
        procs: list[subprocess.Popen[bytes]] = []
        stack.callback(_reap, procs)
        return _MasterRun(job, procs).run()


def _reap(procs: list[subprocess.Popen[bytes]]) -> None:
    """Wait for the local workers to leave (killed after 5 s)."""
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _MasterRun:
    """One distributed run, seen from the master: connect, set up, start, watch, end."""

    def __init__(self, job: RunJob, procs: list[subprocess.Popen[bytes]]) -> None:
        self.job = job
        self.procs = procs  # local workers started here
        self.recorder = Recorder()
        dist = job.distribution
        users = list(job.user_classes)
        classes = users if users and job.closed_model else [user_class()]
        if dist.runner is not None:  # `locust -f` loadkit's entry: Locust made the master (run/plugin.py)
            self.runner: MasterRunner = dist.runner
            self.env = self.runner.environment
            self.env.user_classes[:] = classes
            self.env.host = job.target
            if job.closed_model:
                self.env.shape_class = PlanShape(job.plan)  # the entry's shape hands over to it
            self.address = (str(self.runner.master_bind_host), int(self.runner.master_bind_port))
        else:
            self.env = Environment(user_classes=classes, host=job.target, events=run_events(users or None),
                                   shape_class=PlanShape(job.plan) if job.closed_model else None)
            self.address = (dist.bind_host, dist.bind_port or _free_port(dist.bind_host))
            self.runner = self.env.create_master_runner(master_bind_host=self.address[0],
                                                        master_bind_port=self.address[1])
        fire_init(self.env)  # as on a Locust master: the runner fires the rest (spawning_complete once all report)
        # Workers that have registered loadkit's messages: Locust lets a worker's messages in while it is
        # still connecting, so a setup sent on its connection alone can arrive before the worker can read it.
        self.hello: set[str] = dist.hello if dist.hello is not None else set()
        self.ready: set[str] = set()
        self.refused: list[Refused] = []  # workers that could not take the scenario
        self.done: dict[str, Done] = {}
        self.lost: dict[str, float] = {}  # worker -> when it was lost (run clock)
        self.cpu: dict[str, float] = {}
        self.in_flight: dict[str, int] = {}
        self.index_of: dict[str, int] = {}
        self.clients: list[str] = []
        self.sup = Supervisor(job, self.recorder, Event(), Gauges(
            cpu=lambda: {f"worker {self.index_of.get(c, '?')}": v for c, v in self.cpu.items()},
            users=lambda: self.runner.user_count, in_flight=lambda: sum(self.in_flight.values())),
            publish_lag_s=PUBLISH_LAG_S + FLUSH_EVERY_S)
        if dist.hello is None:  # else the plugin already listens, into that same set
            listen(self.runner, Hello, lambda _m, node: self.hello.add(node))
        listen(self.runner, Ready, lambda _m, node: self.ready.add(node))
        listen(self.runner, Refused, lambda m, _node: self.refused.append(m))
        listen(self.runner, Done, self._on_done)
        listen(self.runner, Data, self._on_data)

    @property
    def where(self) -> str:
        """The master's address as workers write it."""
        return f"{self.address[0]}:{self.address[1]}"

    def _on_done(self, message: Done, node: str) -> None:
        self.done[node] = message

    def _on_data(self, message: Data, node: str) -> None:
        self.sup.write(message.metrics, message.arrivals, message.samples, message.scenario_errors,
                       message.journeys)
        self.recorder.ingest(message.metrics, message.arrivals)
        self.cpu[node] = float(message.cpu)
        self.in_flight[node] = int(message.in_flight)

    def run(self) -> RunOutcome:
        """Connect and set up the workers (no load is sent if one cannot take the scenario), then run."""
        deadline = self.connect()
        self.set_up(deadline)
        # The clock starts only now: a worker's set-up (its check of the target, from another machine) may
        # take a while, and a start fixed before it would find that worker already behind the plan.
        t0 = time.time() + START_DELAY_S
        for client_id in self.clients:
            send(self.runner, Start(t0=t0, master_now=time.time()), client_id)
        self.recorder.start_clock(t0)
        self.sup.start_observing()
        self.sup.install_signals()
        log.info("distributed run started on %d workers: %s arrivals planned over %.0f s against %s",
                 len(self.clients), round(self.job.plan.total_arrivals), self.job.plan.duration,
                 redact_url(self.job.target))
        gevent.sleep(max(0.0, t0 - time.time()))
        bg = gevent.spawn(self.sup.loop)
        load_s: float | None = None
        try:
            load_s = self.carry(t0)
        finally:
            self.runner.quit()
            fire_quitting(self.env)
            bg.kill()
            self.sup.flush()
            self.sup.sync()
            self.sup.stop_observing()
            self.sup.restore_signals()
        return self.outcome(t0, load_s)

    def connect(self) -> float:
        """Start the local workers and wait for every worker's hello; the deadline of the wait."""
        dist = self.job.distribution
        for i in range(dist.local_workers):
            log_file = (self.job.out / f"worker-{i}.log").open("wb")
            # --parent-pid: the worker dies with this process, however it ends (even SIGKILL)
            self.procs.append(subprocess.Popen([sys.executable, "-m", "loadkit", "worker", "--master", self.where,
                                                "--parent-pid", str(os.getpid())],
                                               stdout=log_file, stderr=subprocess.STDOUT))
            log_file.close()
        if dist.local_workers < dist.expect_workers:
            self.job.on_status(f"waiting for {dist.expect_workers - dist.local_workers} worker(s): "
                               f"loadkit worker --master {self.where}")
        deadline = time.monotonic() + dist.worker_timeout
        while not self._all_connected() and time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                break
            gevent.sleep(0.1)
        if not self._all_connected():
            self.runner.quit()
            raise RunError(f"only {min(self.runner.worker_count, len(self.hello))} of {dist.expect_workers} workers "
                           f"connected to the master at {self.where} within {dist.worker_timeout:g} s; no load was "
                           "sent.", f"start them with `loadkit worker --master {self.where}` (check firewalls and "
                           "--bind), or lower --expect-workers")
        return deadline

    def _all_connected(self) -> bool:
        expected = self.job.distribution.expect_workers
        return self.runner.worker_count >= expected and len(self.hello) >= expected

    def set_up(self, deadline: float) -> None:
        """Send each worker its share; RunError (before any load) when one refuses or stays silent."""
        expected = self.job.distribution.expect_workers
        self.clients = sorted(c.id for c in self.runner.clients.values() if c.id in self.hello)[:expected]
        hostname = socket.gethostname()  # workers elsewhere check the target from there
        for index, client_id in enumerate(self.clients):
            self.index_of[client_id] = index
            send(self.runner, Setup.of(self.job, Share(index, len(self.clients)), hostname), client_id)
        while len(self.ready) < len(self.clients) and not self.refused and \
                time.monotonic() < deadline + SET_UP_GRACE_S:
            gevent.sleep(0.05)
        logs = "see the workers' logs (worker-N.log in the run directory for local workers)"
        if self.refused:
            self.runner.quit()
            first = self.refused[0]
            raise RunError(f"worker {first.index} could not take the scenario: {first.problem.rstrip('.')}; "
                           "no load was sent.", first.fix or logs)
        if len(self.ready) < len(self.clients):
            self.runner.quit()
            raise RunError(f"only {len(self.ready)} of {len(self.clients)} workers accepted the scenario; no load "
                           "was sent.", logs)

    def carry(self, t0: float) -> float:
        """Start the load and watch the workers until the plan ends or the load is stopped; when the load
        ended (seconds on the run clock)."""
        job, runner = self.job, self.runner
        if job.closed_model:
            runner.start_shape()
        else:
            runner.start(len(self.clients), spawn_rate=len(self.clients))
        end_by = t0 + job.plan.duration + drain_timeout(job.scenario.request_timeout) + END_GRACE_S
        while time.time() < end_by:
            gevent.sleep(0.2)
            self.note_lost(t0)
            if self.sup.stop.is_set():
                break
            if job.closed_model and runner.state in ("stopped", "stopping"):
                break
            if not job.closed_model and self._settled():
                break
        load_s = time.time() - t0
        if not self._settled():
            send(runner, Stop())
            wait_until = time.time() + (3.0 if self.sup.stop.is_set() else 10.0)
            while not self._settled() and time.time() < wait_until:
                gevent.sleep(0.05)
        if not job.closed_model and self.done:
            load_s = max((d.load_s or 0.0) for d in self.done.values()) or load_s
        return load_s

    def note_lost(self, t0: float) -> None:
        """A worker Locust marks missing (or forgot) before it reported its end is lost."""
        for client_id in self.clients:
            node = self.runner.clients.get(client_id)
            if client_id not in self.lost and client_id not in self.done and (node is None or node.state == "missing"):
                self.lost[client_id] = time.time() - t0
                log.warning("worker %d lost at %.0f s", self.index_of[client_id], self.lost[client_id])

    def _settled(self) -> bool:
        """Every worker reported its end or was lost."""
        return all(c in self.done or c in self.lost for c in self.clients)

    def outcome(self, t0: float, load_s: float | None) -> RunOutcome:
        """The run's outcome, with the workers lost on the way."""
        cut_short = sum(d.cut_short for d in self.done.values())
        outcome = self.sup.outcome(t0, load_s, cut_short, len(self.clients), [])
        outcome.cut_short_at = merge_counts(d.cut_short_at for d in self.done.values())
        outcome.lost_workers = [f"worker {self.index_of[c]} lost at {t:.0f} s"
                                for c, t in sorted(self.lost.items(), key=lambda kv: kv[1])]
        outcome.lost_workers += [f"worker {self.index_of[c]} never reported the end of its share"
                                 for c in self.clients if c not in self.done and c not in self.lost]
        return outcome
