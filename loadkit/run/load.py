"""The run once the target answered: the locustfile imported, the rehearsal, the files that describe the
run, then the load itself, in this process (``local.py``) or across Locust workers (``master.py``).
Importing this module imports locust (and so gevent's monkey-patching)."""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import yaml

from .. import data as rundata
from ..redaction import redacted_document
from ..traffic import plan_from_dict, plan_to_dict
from .job import RunJob
from .locustfile import check_journey_names, isolated_locust_events, load_user_classes
from .meta import start_meta, write_end_meta
from .outcome import RunOutcome

__all__ = ["load"]


def load(job: RunJob, preflight_check: dict[str, Any]) -> RunOutcome:
    """Rehearse, record the scenario, plan, settings and ``run.json``, run the load, complete ``run.json``."""
    with ExitStack() as stack:
        if job.locustfile is not None:
            stack.enter_context(isolated_locust_events())  # the file's listeners leave with the run
            job = replace(job, user_classes=tuple(load_user_classes(job.locustfile, notice=job.on_status)))
            check_journey_names(job.scenario, list(job.user_classes))
        rehearsal = _rehearse(job) if job.options.rehearse else {"ran": False}
        run_dir = job.out
        rundata.write_text_atomic(run_dir / rundata.SCENARIO, _yaml(redacted_document(job.scenario)))
        rundata.write_json_atomic(run_dir / rundata.PLAN, plan_to_dict(job.plan))
        if job.options.config is not None:
            rundata.write_json_atomic(run_dir / "config.json", dict(job.options.config))
        meta = start_meta(job, preflight_check, rehearsal)
        rundata.write_json_atomic(run_dir / rundata.RUN_META, meta)
        rundata.hold_reserve(run_dir)  # room for run.json and summary.json should another writer fill the disk
        try:
            outcome = _execute(job)
        except BaseException:
            rundata.release_reserve(run_dir)  # no run to report: no room to keep
            raise
        if job.plan.profile == "search":  # its plan grew level by level: plan.json holds what ran
            saved = json.loads((run_dir / rundata.PLAN).read_text(encoding="utf-8"))
            meta["planned_duration_s"] = plan_from_dict(saved).duration
        write_end_meta(job, meta, outcome)
    return outcome


def _execute(job: RunJob) -> RunOutcome:
    if job.distribution.distributed:
        from .master import execute_distributed

        return execute_distributed(job)
    from .local import execute

    return execute(job)


def _rehearse(job: RunJob) -> dict[str, Any]:
    """Walk every journey once at rest (RehearsalError when a step of the scenario is broken)."""
    from .rehearsal import rehearse

    say, scenario = job.on_status, job.scenario
    what = "every task of the locustfile's classes" if job.user_classes else \
        f"{len(scenario.journeys)} {'journey' if len(scenario.journeys) == 1 else 'journeys'}"
    say(f"rehearsal: walking {what} once, one visitor at a time, before any load")
    done = rehearse(scenario, job.target, job.data_values, job.headers, list(job.user_classes) or None)
    for failure in done.site_failures:
        say(f"rehearsal: {failure.line()} The load goes on: this counts against the site.")
    for note in done.stalled:
        say(f"rehearsal: {note}.")
    say(f"rehearsal: {done.visits} {'visit' if done.visits == 1 else 'visits'}, {done.requests} requests in "
        f"{done.seconds:.1f} s; every step of the scenario works at rest (these requests are not measured)")
    return dict(done.to_dict())


def _yaml(document: dict[str, object]) -> str:
    return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
