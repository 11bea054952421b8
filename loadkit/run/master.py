"""Multi-process and distributed runs on Locust's master/worker engine.

The master (this process) generates no load. It waits (bounded) for the workers, sends each its
setup (scenario, plan, data, its index, the run's clock), starts one dispatcher user per worker through
Locust's runner (open model) or follows the plan's shape (closed model), writes the rows the workers
ship, and watches them: a worker that goes missing or never reports back makes the run inconclusive.
``--workers N`` starts N worker processes here; ``loadkit worker --master HOST[:PORT]`` joins from
another machine.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from locust import User
from locust.env import Environment

from ..errors import RunError
from ..redaction import redact_url
from ..scenario import Scenario, data_to_wire
from ..traffic import Plan, plan_to_dict
from .arrivals import drain_timeout
from .engine import PlanShape, Supervisor, setup_logging, user_class
from .locustfile import fire_init, fire_quitting, run_events
from .outcome import Progress, RunOutcome
from .recorder import Recorder
from .walking import merge_counts

log = logging.getLogger("loadkit.master")
START_DELAY_S = 1.0  # the run's clock starts this long after every worker is ready, so each hears it in time


def execute_distributed(scenario: Scenario, plan: Plan, target: str, run_dir: Path,
                        data_values: Mapping[str, Sequence[Any]], headers: dict[str, str], *, local_workers: int,
                        locustfile: Path | None = None, locust_users: list[type[User]] | None = None,
                        expect_workers: int, bind_host: str = "127.0.0.1", bind_port: int = 0,
                        worker_timeout: float = 60.0,
                        on_progress: Callable[[Progress], None] | None = None,
                        on_status: Callable[[str], None] | None = None) -> RunOutcome:
    """Run the plan across ``expect_workers`` Locust workers (``local_workers`` of them started here)."""
    handler = setup_logging(run_dir / "run.log")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        return _execute(scenario, plan, target, run_dir, data_values, headers, local_workers, expect_workers,
                        bind_host, bind_port, worker_timeout, on_progress, on_status or (lambda _m: None), procs,
                        locustfile, locust_users)
    finally:
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        logging.getLogger().removeHandler(handler)
        handler.close()


def _free_port(host: str) -> int:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _execute(scenario: Scenario, plan: Plan, target: str, run_dir: Path, data_values: Mapping[str, Sequence[Any]],
             headers: dict[str, str], local_workers: int, expect_workers: int, bind_host: str, bind_port: int,
             worker_timeout: float, on_progress: Callable[[Progress], None] | None, say: Callable[[str], None],
             procs: list[subprocess.Popen[bytes]], locustfile: Path | None,
             locust_users: list[type[User]] | None) -> RunOutcome:
    recorder = Recorder()
    classes = list(locust_users) if locust_users and plan.model == "users" else [user_class()]
    env = Environment(user_classes=classes, host=target, events=run_events(locust_users),
                      shape_class=PlanShape(plan) if plan.model == "users" else None)
    port = bind_port or _free_port(bind_host)
    runner = env.create_master_runner(master_bind_host=bind_host, master_bind_port=port)
    fire_init(env)  # as on a Locust master: the runner fires the rest (spawning_complete once all workers report)
    done: dict[str, dict[str, Any]] = {}
    ready: set[str] = set()
    # Workers that have registered loadkit's messages: Locust lets a worker's messages in while it is still
    # connecting, so a setup sent on its connection alone can arrive before the worker can read it.
    hello: set[str] = set()
    refused: list[dict[str, Any]] = []  # workers that could not take the scenario: index, problem, fix
    cpu: dict[str, float] = {}
    in_flight: dict[str, int] = {}
    index_of: dict[str, int] = {}

    sup = Supervisor(scenario=scenario, plan=plan, run_dir=run_dir, recorder=recorder, stop=Event(),
                     cpu=lambda: {f"worker {index_of.get(c, '?')}": v for c, v in cpu.items()},
                     users=lambda: runner.user_count, on_progress=on_progress,
                     in_flight=lambda: sum(in_flight.values()))

    def on_data(environment: Environment, msg: Any, **_: Any) -> None:
        data = msg.data
        sup.write(data["metrics"], data["arrivals"], data["samples"], data.get("scenario_errors"))
        recorder.ingest(data["metrics"], data["arrivals"])
        cpu[msg.node_id] = float(data.get("cpu", 0.0))
        in_flight[msg.node_id] = int(data.get("in_flight", 0))

    def on_ready(environment: Environment, msg: Any, **_: Any) -> None:
        ready.add(msg.node_id)

    def on_done(environment: Environment, msg: Any, **_: Any) -> None:
        done[msg.node_id] = msg.data

    def on_refused(environment: Environment, msg: Any, **_: Any) -> None:
        refused.append(msg.data)

    runner.register_message("loadkit_data", on_data)
    runner.register_message("loadkit_ready", on_ready)
    runner.register_message("loadkit_hello", lambda environment, msg, **_: hello.add(msg.node_id))
    runner.register_message("loadkit_done", on_done)
    runner.register_message("loadkit_refused", on_refused)

    for i in range(local_workers):
        log_file = (run_dir / f"worker-{i}.log").open("wb")
        # --parent-pid: the worker dies with this process, however it ends (even SIGKILL)
        procs.append(subprocess.Popen([sys.executable, "-m", "loadkit", "worker", "--master", f"{bind_host}:{port}",
                                       "--parent-pid", str(os.getpid())], stdout=log_file, stderr=subprocess.STDOUT))
        log_file.close()
    if local_workers < expect_workers:
        say(f"waiting for {expect_workers - local_workers} worker(s): "
            f"loadkit worker --master {bind_host}:{port}")
    deadline = time.monotonic() + worker_timeout
    while (runner.worker_count < expect_workers or len(hello) < expect_workers) and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        gevent.sleep(0.1)
    if runner.worker_count < expect_workers or len(hello) < expect_workers:
        runner.quit()
        raise RunError(f"only {min(runner.worker_count, len(hello))} of {expect_workers} workers connected to the "
                       f"master at "
                       f"{bind_host}:{port} within {worker_timeout:g} s; no load was sent.",
                       f"start them with `loadkit worker --master {bind_host}:{port}` (check firewalls and "
                       "--bind), or lower --expect-workers")

    clients = sorted(c.id for c in runner.clients.values() if c.id in hello)[:expect_workers]
    setup = {"scenario": scenario.model_dump(mode="json", by_alias=True, exclude_none=True),
             "plan": plan_to_dict(plan), "target": target, "headers": headers, "count": len(clients),
             "data": data_to_wire(data_values),  # a range travels as its bounds, not its values
             "locustfile": locustfile.read_text(encoding="utf-8") if locustfile else None,
             "locustfile_name": locustfile.name if locustfile else None,
             "locustfile_path": str(locustfile.resolve()) if locustfile else None,
             "master_hostname": socket.gethostname()}  # workers elsewhere check the target from there
    for index, client_id in enumerate(clients):
        index_of[client_id] = index
        runner.send_message("loadkit_setup", {**setup, "index": index}, client_id=client_id)
    while len(ready) < len(clients) and not refused and time.monotonic() < deadline + 30:
        gevent.sleep(0.05)
    if refused:
        runner.quit()
        first = refused[0]
        raise RunError(f"worker {first['index']} could not take the scenario: {first['problem'].rstrip('.')}; "
                       "no load was sent.",
                       first.get("fix") or "see the workers' logs (worker-N.log in the run directory for local "
                       "workers)")
    if len(ready) < len(clients):
        runner.quit()
        raise RunError(f"only {len(ready)} of {len(clients)} workers accepted the scenario; no load was sent.",
                       "see the workers' logs (worker-N.log in the run directory for local workers)")
    # The clock starts only now: a worker's set-up (its check of the target, from another machine) may
    # take a while, and a start fixed before it would find that worker already behind the plan.
    t0 = time.time() + START_DELAY_S
    for client_id in clients:
        runner.send_message("loadkit_start", {"t0": t0, "master_now": time.time()}, client_id=client_id)
    recorder.start_clock(t0)
    sup.install_signals()
    log.info("distributed run started on %d workers: %s arrivals planned over %.0f s against %s",
             len(clients), round(plan.total_arrivals), plan.duration, redact_url(target))
    gevent.sleep(max(0.0, t0 - time.time()))
    bg = gevent.spawn(sup.loop)
    lost: dict[str, float] = {}
    load_s: float | None = None
    try:
        if plan.model == "users":
            runner.start_shape()
        else:
            runner.start(len(clients), spawn_rate=len(clients))
        end_by = t0 + plan.duration + drain_timeout(scenario.request_timeout) + 15
        while time.time() < end_by:
            gevent.sleep(0.2)
            for client_id in clients:
                node = runner.clients.get(client_id)
                if client_id not in lost and client_id not in done and (node is None or node.state == "missing"):
                    lost[client_id] = time.time() - t0
                    log.warning("worker %d lost at %.0f s", index_of[client_id], lost[client_id])
            if sup.stop.is_set():
                break
            if plan.model == "users" and runner.state in ("stopped", "stopping"):
                break
            if plan.model != "users" and all(c in done or c in lost for c in clients):
                break
        load_s = time.time() - t0
        if len(done) + len(lost) < len(clients):
            runner.send_message("loadkit_stop", {})
            wait_until = time.time() + (3.0 if sup.stop.is_set() else 10.0)
            while len(done) + len(lost) < len(clients) and time.time() < wait_until:
                gevent.sleep(0.05)
        if plan.model != "users" and done:
            load_s = max((d.get("load_s") or 0.0) for d in done.values()) or load_s
    finally:
        runner.quit()
        fire_quitting(env)
        bg.kill()
        sup.flush()
        sup.restore_signals()
    notes = []
    outcome = sup.outcome(t0, load_s, sum(int(d.get("cut_short") or 0) for d in done.values()), len(clients),
                          notes)
    outcome.cut_short_at = merge_counts(d.get("cut_short_at") or [] for d in done.values())
    outcome.lost_workers = [f"worker {index_of[c]} lost at {t:.0f} s" for c, t in sorted(lost.items(),
                                                                                          key=lambda kv: kv[1])]
    outcome.lost_workers += [f"worker {index_of[c]} never reported the end of its share"
                             for c in clients if c not in done and c not in lost]
    return outcome
