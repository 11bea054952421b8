"""The run stage, the only package that imports locust and gevent.

:func:`run_scenario` prepares the run directory, starts the demo storefront when there is no target,
checks the target answers (preflight), runs the load, and records the run's metadata. Analysis and
reports are separate stages that read the run directory.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from .. import data as rundata
from ..demo import DemoSite
from ..errors import DiskFullError, UsageError
from ..history import ci_context
from ..redaction import check_step_env, expand_env, redact_url, redacted_document
from ..scenario import DEMO_TARGET, Scenario, check_step_hosts, load_data_values, mean_visit_seconds, target_problem
from ..traffic import Plan, plan_to_dict
from .outcome import Progress, RunOutcome
from .preflight import preflight

__all__ = ["Distribution", "Progress", "RunOutcome", "run_scenario"]


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine's loopback (localhost, or every address it resolves to)."""
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return all(info[4][0].startswith("127.") or info[4][0] == "::1" for info in infos)


@dataclass(frozen=True)
class Distribution:
    """Where the load comes from: this process, local worker processes, and/or remote workers."""

    local_workers: int = 0  # worker processes to start on this machine (0: load from this process)
    expect_workers: int = 0  # workers in all (local ones included); more than local: wait for remote ones
    bind_host: str = "127.0.0.1"  # where the Locust master listens
    bind_port: int = 0  # 0: a free port
    worker_timeout: float = 60.0  # longest wait for the workers to connect

    @property
    def distributed(self) -> bool:
        """True when the load comes from Locust workers rather than this process."""
        return self.expect_workers > 0


def run_scenario(scenario: Scenario, plan: Plan, run_dir: Path, base_dir: Path, target: str | None = None,
                 on_progress: Callable[[Progress], None] | None = None,
                 on_status: Callable[[str], None] | None = None,
                 distribution: Distribution | None = None, config: dict[str, object] | None = None,
                 rehearse: bool = True) -> RunOutcome:
    """Run ``scenario`` following ``plan``; everything measured lands in ``run_dir``.

    ``target`` overrides the scenario's; with neither, the embedded demo storefront is started on
    127.0.0.1 for the run and stopped afterwards. ``distribution`` spreads the load over Locust workers.
    ``rehearse``: walk every journey once at rest before the load (``run/rehearsal.py``); a step that fails
    there stops the run (RehearsalError), and a refused run leaves no empty run directory behind.
    """
    dist = distribution or Distribution()
    say = on_status or (lambda _msg: None)
    target = (target or scenario.target or "").rstrip("/") or None
    if target == DEMO_TARGET:
        target = None
    if target is not None:
        problem = target_problem(target)
        if problem is not None:
            raise UsageError(f"target {problem[0]}.", problem[1])
        check_step_hosts(scenario, target)
    _check_loopback_only(scenario, target)
    # Everything that can refuse the run without sending anything comes before the run directory exists.
    data_values = load_data_values(scenario, base_dir)
    headers = {k: expand_env(v, dict(os.environ)) for k, v in scenario.headers.items()}
    check_step_env(scenario, dict(os.environ))
    with ExitStack() as stack:
        # A run refused before any load (the target does not answer, a step's host is not allowed) leaves
        # no empty run directory behind.
        stack.enter_context(rundata.prepared_run_dir(run_dir, disk_needed(scenario, plan, dist)))
        demo_url = None
        if target is None:
            say("starting the demo storefront on 127.0.0.1")
            demo = stack.enter_context(DemoSite())
            target = demo_url = demo.url
            check_step_hosts(scenario, target)
        check = preflight(target, headers, timeout=min(10.0, scenario.request_timeout), verify=scenario.verify_tls)
        say(f"preflight: {check.url} answered {check.status} in {check.ms:.0f} ms")
        # Imported only now: locust monkey-patches the process on import, and httpx (preflight, above)
        # must load its networking first.
        locustfile = _locustfile(scenario, base_dir)
        locust_users = None
        if locustfile is not None:
            from .locustfile import isolated_locust_events, load_user_classes

            stack.enter_context(isolated_locust_events())  # the file's listeners leave with the run
            locust_users = load_user_classes(locustfile, notice=say)
        rehearsal = _rehearse(scenario, target, data_values, headers, locust_users, say) if rehearse else \
            {"ran": False}
        rundata.write_text_atomic(run_dir / rundata.SCENARIO, _yaml(redacted_document(scenario)))
        rundata.write_json_atomic(run_dir / rundata.PLAN, plan_to_dict(plan))
        if config is not None:
            rundata.write_json_atomic(run_dir / "config.json", config)
        meta = {
            "scenario": scenario.name, "target": redact_url(target), "demo": demo_url is not None,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "t0": time.time(), "planned_duration_s": plan.duration, "duration_s": 0.0,
            "complete": False, "interrupted": False, "workers": max(1, dist.expect_workers), "model": plan.model,
            "loadkit_version": __version__, "locust_version": _locust_version(),
            "python_version": platform.python_version(), "machine": f"{platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} cores", "hostname": socket.gethostname(),
            "preflight": {"url": check.url, "status": check.status, "ms": round(check.ms, 1)},
            "ci": ci_context(os.environ),  # the commit and branch a CI job tested, for the run history
            "rehearsal": rehearsal,
        }
        rundata.write_json_atomic(run_dir / rundata.RUN_META, meta)
        rundata.hold_reserve(run_dir)  # room for run.json and summary.json should another writer fill the disk
        try:
            if dist.distributed:
                from .master import execute_distributed

                outcome = execute_distributed(scenario, plan, target, run_dir, data_values, headers,
                                              locustfile=locustfile, locust_users=locust_users,
                                              local_workers=dist.local_workers, expect_workers=dist.expect_workers,
                                              bind_host=dist.bind_host, bind_port=dist.bind_port,
                                              worker_timeout=dist.worker_timeout, on_progress=on_progress,
                                              on_status=say)
            else:
                from .engine import execute

                outcome = execute(scenario, plan, target, run_dir, data_values, headers, on_progress=on_progress,
                                  locust_users=locust_users)
        except BaseException:
            rundata.release_reserve(run_dir)  # no run to report: no room to keep
            raise
        problems = [outcome.saturated] if outcome.saturated else []  # lost workers: verdict.py names them
        disk = [f"The run cannot be judged: {outcome.disk_full}."] if outcome.disk_full else []
        meta.update({
            "t0": outcome.started_at, "duration_s": round(outcome.duration_s, 3), "load_s": round(outcome.load_s, 3),
            "complete": not outcome.interrupted and outcome.aborted is None and not outcome.disk_full,
            "interrupted": outcome.interrupted,
            "generator": {"cpu_percent_max": round(outcome.cpu_percent_max, 1), "cut_short": outcome.cut_short,
                          "cut_short_at": outcome.cut_short_at,
                          "started_arrivals": outcome.started_arrivals,
                          "dropped_arrivals": outcome.dropped_arrivals, "late_arrivals": outcome.late_arrivals},
            "notes": outcome.notes + ([] if scenario.verify_tls else [
                "TLS certificates were not checked (verify_tls: false): this run cannot vouch for the site's "
                "certificate."]),
            "verify_tls": scenario.verify_tls, "connections": scenario.connections,
            "aborted": outcome.aborted, "workers": outcome.workers,
            "lost_workers": outcome.lost_workers,
            "inconclusive_reasons": [f"The load generator could not be trusted: {p}." for p in problems] + disk,
            **({"disk_full": outcome.disk_full} if outcome.disk_full else {}),
        })
        try:
            rundata.write_json_atomic(run_dir / rundata.RUN_META, meta)
        except DiskFullError:
            outcome.disk_full = outcome.disk_full or "the disk of the run directory filled up at the end of the run"
            if rundata.release_reserve(run_dir):  # the space held for this write and summary.json
                meta["disk_full"] = outcome.disk_full
                try:
                    rundata.write_json_atomic(run_dir / rundata.RUN_META, meta)
                except DiskFullError:
                    pass  # the first run.json stays (complete: false): the reports say the run is incomplete
    return outcome


def _check_loopback_only(scenario: Scenario, target: str | None) -> None:
    """With ``LOADKIT_LOOPBACK_ONLY=1``, every host a step can reach (the target and ``allowed_hosts``) must
    be this machine (the demo storefront always is)."""
    if os.environ.get("LOADKIT_LOOPBACK_ONLY") != "1":
        return
    if target and not is_loopback(target):
        raise UsageError(f"target {redact_url(target)} is not on this machine and LOADKIT_LOOPBACK_ONLY=1.",
                         "point --target at 127.0.0.1, or unset LOADKIT_LOOPBACK_ONLY")
    for host in scenario.allowed_hosts:
        if not is_loopback(f"http://{host}"):
            raise UsageError(f"allowed_hosts lists {host}, which is not on this machine, and "
                             "LOADKIT_LOOPBACK_ONLY=1.", "remove it from allowed_hosts, or unset LOADKIT_LOOPBACK_ONLY")


def _rehearse(scenario: Scenario, target: str, data_values: Mapping[str, Sequence[Any]], headers: dict[str, str],
              locust_users: list[Any] | None, say: Callable[[str], None]) -> dict[str, Any]:
    """Walk every journey once at rest (RehearsalError when a step of the scenario is broken)."""
    from .rehearsal import rehearse

    what = "every task of the locustfile's classes" if locust_users else \
        f"{len(scenario.journeys)} {'journey' if len(scenario.journeys) == 1 else 'journeys'}"
    say(f"rehearsal: walking {what} once, one visitor at a time, before any load")
    done = rehearse(scenario, target, data_values, headers, locust_users)
    for failure in done.site_failures:
        say(f"rehearsal: {failure.line()} The load goes on: this counts against the site.")
    for note in done.stalled:
        say(f"rehearsal: {note}.")
    say(f"rehearsal: {done.visits} {'visit' if done.visits == 1 else 'visits'}, {done.requests} requests in "
        f"{done.seconds:.1f} s; every step of the scenario works at rest (these requests are not measured)")
    return done.to_dict()


def disk_needed(scenario: Scenario, plan: Plan, dist: Distribution) -> int:
    """Disk space the run needs, from its plan: its length, endpoints and highest request rate."""
    requests_per_visit = 1.0
    if scenario.journeys:
        total = sum(j.weight for j in scenario.journeys) or 1
        requests_per_visit = sum(j.weight * sum(1 for s in j.steps if s.method != "THINK")
                                 for j in scenario.journeys) / total
    rate = plan.max_level * requests_per_visit
    if plan.model == "users":  # each user walks journeys back to back
        rate /= max(0.1, mean_visit_seconds(scenario.journeys) if scenario.journeys else 1.0)
    endpoints = len(scenario.endpoints) or 10  # a locustfile's endpoints are known only once it runs
    return rundata.estimate_run_bytes(plan.duration, endpoints, rate, max(1, dist.expect_workers))


def _locustfile(scenario: Scenario, base_dir: Path) -> Path | None:
    if not scenario.locustfile:
        return None
    path = Path(scenario.locustfile)
    return path if path.is_absolute() else base_dir / path


def _locust_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("locust")
    except PackageNotFoundError:
        return "unknown"


def _yaml(document: dict[str, object]) -> str:
    import yaml

    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
