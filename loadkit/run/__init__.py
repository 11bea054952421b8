"""The run stage, the only package that imports locust and gevent (and only once a run starts).

The caller builds a :class:`RunJob` (``loadkit.api`` does: it resolves the settings and starts the demo
storefront when there is no target), :func:`prepare` reads and checks what the scenario brings (data,
headers, its locustfile's path) before anything starts, and :func:`run_scenario` prepares the run
directory, checks the target answers (preflight), walks every journey once at rest (rehearsal), runs the
load and records the run's metadata. Analysis and reports are separate stages that read the run directory.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from .. import data as rundata
from ..errors import UsageError
from ..redaction import check_step_env, expand_env
from ..scenario import DEMO_TARGET, check_step_hosts, load_data_values, mean_visit_seconds, target_problem
from .job import Distribution, RunInputs, RunJob, RunOptions, Share
from .outcome import Progress, RunOutcome
from .preflight import preflight
from .targets import check_loopback_only, is_loopback

__all__ = ["Distribution", "Progress", "RunInputs", "RunJob", "RunOptions", "RunOutcome", "Share", "is_loopback",
           "prepare", "run_scenario"]


def prepare(job: RunJob, base_dir: Path) -> RunJob:
    """``job`` with the scenario's inputs read and checked (data sources, headers, its locustfile's path,
    relative paths against ``base_dir``): everything that can refuse the run without sending anything.
    ``job.target`` may still be ``demo`` here: the caller starts the demo storefront once this passed."""
    scenario, target = job.scenario, job.target
    if job.plan.profile == "search" and job.distribution.distributed:
        raise UsageError("a capacity search (profile: search) runs its load from one process: its next level "
                         "depends on the last one.", "drop --workers (and loadkit worker); run the search alone")
    known = target if target != DEMO_TARGET else None
    if known is not None:
        problem = target_problem(known)
        if problem is not None:
            raise UsageError(f"target {problem[0]}.", problem[1])
        check_step_hosts(scenario, known)
    if job.options.loopback_only:
        check_loopback_only(scenario, known)
    data_values = load_data_values(scenario, base_dir)
    headers = {k: expand_env(v, dict(os.environ)) for k, v in scenario.headers.items()}
    check_step_env(scenario, dict(os.environ))
    locustfile = None
    if scenario.locustfile:
        path = Path(scenario.locustfile)
        locustfile = path if path.is_absolute() else base_dir / path
    return replace(job, target=target.rstrip("/"),
                   inputs=RunInputs(data_values=data_values, headers=headers, locustfile=locustfile))


def run_scenario(job: RunJob) -> RunOutcome:
    """Run a prepared ``job`` (see :func:`prepare`); everything measured lands in ``job.run_dir``.

    With ``job.options.rehearse``, every journey is walked once at rest before the load
    (``run/rehearsal.py``); a step that fails there stops the run (RehearsalError). A run refused before
    any load (the target does not answer, a step is broken) leaves no empty run directory behind.
    """
    if job.target == DEMO_TARGET:
        raise ValueError("start the demo storefront first: the run stage needs its URL as the target")
    check_step_hosts(job.scenario, job.target)  # a demo storefront's URL is known only now
    if job.options.loopback_only:
        check_loopback_only(job.scenario, job.target)
    with rundata.prepared_run_dir(job.out, disk_needed(job)):
        check = preflight(job.target, job.headers, timeout=min(10.0, job.scenario.request_timeout),
                          verify=job.scenario.verify_tls)
        job.on_status(f"preflight: {check.url} answered {check.status} in {check.ms:.0f} ms")
        # Imported only now: locust monkey-patches the process on import, and httpx (preflight, above)
        # must load its networking first.
        from .load import load

        return load(job, {"url": check.url, "status": check.status, "ms": round(check.ms, 1)})


def disk_needed(job: RunJob) -> int:
    """Disk space the run needs, from its plan: its length, endpoints and highest request rate."""
    scenario, plan = job.scenario, job.plan
    requests_per_visit = 1.0
    if scenario.journeys:
        total = sum(j.weight for j in scenario.journeys) or 1
        requests_per_visit = sum(j.weight * sum(1 for s in j.steps if s.method != "THINK")
                                 for j in scenario.journeys) / total
    rate = plan.max_level * requests_per_visit
    if plan.model == "users":  # each user walks journeys back to back
        rate /= max(0.1, mean_visit_seconds(scenario.journeys) if scenario.journeys else 1.0)
    endpoints = len(scenario.endpoints) or 10  # a locustfile's endpoints are known only once it runs
    return rundata.estimate_run_bytes(plan.duration, endpoints, rate, max(1, job.distribution.expect_workers))
