"""The run commands: settings resolved through the config layers, the run (the caller of the run stage,
and the one that decides about the demo storefront), publishing its reports, and a worker's serving."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import DEFAULT_MASTER_PORT, Flags, LocustSetting, RunConfig, read_locust_settings, resolve
from ..errors import ExitCode, UsageError
from ..plan_description import plan_headline
from ..scenario import DEMO_TARGET, Scenario, SearchTraffic, load_scenario, scenario_base_dir
from ..traffic import Plan, build_plan

if TYPE_CHECKING:
    from ..compare import Comparison
    from ..report import Rendered
    from ..run import Distribution, Progress, RunJob, RunOutcome
    from ..verdict import Verdict

__all__ = ["NO_FLAGS", "Listeners", "RunResult", "RunSettings", "append_step_summary", "default_run_dir",
           "distribution", "locustfile_path", "publish", "publish_job_summary", "run", "settings", "verdict_exit_code",
           "worker"]


# --- settings ------------------------------------------------------------------------------------

NO_FLAGS = Flags()  # nothing given on the command line: the lower layers decide


@dataclass(frozen=True)
class RunSettings:
    """A scenario and everything resolved about running it (the config layers applied), before anything
    starts."""

    spec: str  # as given: a path, or a bundled scenario's name
    scenario: Scenario
    plan: Plan
    config: RunConfig
    base_dir: Path  # the scenario's folder: relative data paths and locustfiles are found there
    run_dir: Path

    @property
    def headline(self) -> str:
        """The plan in one phrase (the first line ``loadkit run`` prints)."""
        return plan_headline(self.plan)


def settings(spec: str, flags: Flags = NO_FLAGS, environ: Mapping[str, str] | None = None, *,
             sends_load: bool = True, locust: Sequence[LocustSetting] = ()) -> RunSettings:
    """Load the scenario ``spec`` and resolve its settings: defaults < scenario file < ``LOADKIT_*``
    (``environ``, default ``os.environ``) < ``flags``. ``sends_load=False`` for commands that send
    nothing (``plan``, ``validate``): then a missing target in CI is not an error. ``locust``: Locust
    settings Locust itself read from a file other than the working folder's (under the plugin: a
    ``--config`` file, which Locust ranks above those, or ``~/.locust.conf`` when they give none), so
    above the working folder's files in the config layers."""
    env = os.environ if environ is None else environ
    scenario = load_scenario(spec)
    config = resolve(flags, env, scenario, [*read_locust_settings(Path.cwd(), env), *locust],
                     sends_load=sends_load)
    return RunSettings(spec=spec, scenario=scenario,
                       plan=build_plan(scenario, rate_scale=config.rate_scale, duration_scale=config.duration_scale),
                       config=config, base_dir=scenario_base_dir(spec),
                       run_dir=config.out or default_run_dir(scenario))


def default_run_dir(scenario: Scenario, now: datetime | None = None) -> Path:
    """``reports/<scenario>-<UTC yyyymmdd-HHMMSS>``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return Path("reports") / f"{scenario.name}-{stamp}"


# --- run -----------------------------------------------------------------------------------------


def _silent(_message: str) -> None:
    """Say nothing."""


@dataclass(frozen=True)
class Listeners:
    """Who hears about a run while it goes: one-line news, and progress once a second."""

    on_status: Callable[[str], None] = _silent
    on_progress: Callable[[Progress], None] | None = None


@dataclass(frozen=True)
class RunResult:
    """A finished run: its outcome, the reports rendered from its directory, the baseline comparison."""

    settings: RunSettings
    outcome: RunOutcome
    rendered: Rendered
    baseline: Path | None = None
    comparison: Comparison | None = None

    @property
    def verdict(self) -> Verdict:
        """The verdict on the site."""
        return self.rendered.verdict

    @property
    def exit_code(self) -> ExitCode:
        """The command's exit code: the verdict's (design.md), a full disk's, or 1 for a regression."""
        if self.rendered.missing or self.outcome.disk_full:
            return ExitCode.OUT_OF_DISK
        code = verdict_exit_code(self.verdict.verdict, strict=self.settings.config.strict,
                                 interrupted=self.outcome.interrupted)
        if code == ExitCode.SURVIVES and self.comparison is not None and self.comparison.regressions:
            return ExitCode.FAILS  # the site held its service levels but got worse than its baseline
        return code


def run(run_settings: RunSettings, listeners: Listeners | None = None, baseline: str | None = None,
        distribution: Distribution | None = None) -> RunResult:
    """Run the scenario, judge it and render its reports into the run directory.

    With no target in any layer, the embedded demo storefront is started on 127.0.0.1 for the run (the
    run stage never decides that). ``baseline``: a run directory, or ``latest-good``, to compare with.
    ``distribution``: where the load comes from, when not from the settings (Locust's own command line,
    under loadkit's Locust entry: run/plugin.py).
    """
    from ..baseline import find_baseline, gate
    from ..report import render_run_dir
    from ..run import prepare, run_scenario

    listeners = listeners or Listeners()
    search = isinstance(run_settings.scenario.traffic, SearchTraffic)
    found = find_baseline(baseline, run_settings.scenario.name, run_settings.run_dir.parent,
                          search) if baseline else None
    job = _job(run_settings, listeners)
    if distribution is not None:
        job = replace(job, distribution=distribution)
    job = prepare(job, run_settings.base_dir)  # refuses before anything starts
    job.options.export.check()
    with _target(job.target, listeners.on_status) as (target, demo):
        outcome = run_scenario(replace(job, target=target, options=replace(job.options, demo=demo)))
    run_dir = run_settings.run_dir
    comparison = gate(found, run_dir) if found is not None and not outcome.interrupted else None
    rendered = render_run_dir(run_dir)
    publish_job_summary(rendered.model, os.environ)
    return RunResult(settings=run_settings, outcome=outcome, rendered=rendered, baseline=found,
                     comparison=comparison)


def publish(result: RunResult, say: Callable[[str], None] = _silent) -> str:
    """Send a finished run's reports on (``--upload``, ``LOADKIT_TERMINATION_LOG``; never raises for the
    network or the file; ``say`` hears one line each); returns the verdict's JSON line."""
    from ..publish import publish_run

    return publish_run(result.settings.run_dir, result.rendered.model.summary(), result.exit_code,
                       result.settings.config.upload, os.environ, say)


def locustfile_path() -> Path:
    """The locustfile that makes Locust run a loadkit scenario: ``locust -f "$(loadkit locustfile-path)"``
    (``run/locust_entry.py``; the plugin is ``run/plugin.py``)."""
    return Path(__file__).resolve().parent.parent / "run" / "locust_entry.py"


def distribution(config: RunConfig) -> Distribution:
    """Where the load comes from, as the settings say."""
    from ..run import Distribution

    return Distribution(local_workers=config.local_workers, expect_workers=config.all_workers,
                        bind_host=config.bind, bind_port=config.port, worker_timeout=config.worker_timeout)


def _job(run_settings: RunSettings, listeners: Listeners) -> RunJob:
    from ..run import RunJob, RunOptions
    from ..run.export import ExportSettings

    config = run_settings.config
    return RunJob(scenario=run_settings.scenario, plan=run_settings.plan, target=config.target or DEMO_TARGET,
                  run_dir=run_settings.run_dir, distribution=distribution(config),
                  options=RunOptions(rehearse=not config.skip_rehearsal, config=config.recorded(),
                                     loopback_only=config.loopback_only,
                                     export=ExportSettings(prometheus=config.prometheus, otlp=config.otlp,
                                                           linger_s=config.prometheus_linger)),
                  on_status=listeners.on_status, on_progress=listeners.on_progress)


@contextmanager
def _target(target: str, say: Callable[[str], None]) -> Iterator[tuple[str, bool]]:
    """The run's target, and whether it is the demo storefront, started here (and stopped after) when the
    settings name no site."""
    if target != DEMO_TARGET:
        yield target, False
        return
    from ..demo import DemoSite

    say("starting the demo storefront on 127.0.0.1")
    with DemoSite() as demo:
        yield demo.url, True


def verdict_exit_code(verdict: str, *, strict: bool, interrupted: bool) -> ExitCode:
    """0 survives (and at-risk unless strict), 1 fails (or at-risk when strict), 3 inconclusive/interrupted."""
    if interrupted or verdict == "inconclusive":
        return ExitCode.INCONCLUSIVE
    if verdict == "fails" or (verdict == "at-risk" and strict):
        return ExitCode.FAILS
    return ExitCode.SURVIVES


def publish_job_summary(model: object, environ: Mapping[str, str]) -> None:
    """Append the short Markdown verdict to ``$GITHUB_STEP_SUMMARY`` when CI provides one."""
    if environ.get("GITHUB_STEP_SUMMARY"):
        from ..report.markdown import render_job_summary

        append_step_summary(render_job_summary(model), environ)  # type: ignore[arg-type]


def append_step_summary(markdown: str, environ: Mapping[str, str]) -> None:
    """Append Markdown to the CI job summary file, if there is one; a failure is a warning, not an error."""
    import sys

    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    except OSError as exc:
        print(f"loadkit: warning: cannot append to GITHUB_STEP_SUMMARY ({exc.strerror})", file=sys.stderr)


# --- worker --------------------------------------------------------------------------------------


def worker(master: str | None, parent_pid: int | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Generate load for a master (``HOST[:PORT]``; else ``LOADKIT_MASTER_HOST``) until it ends the run;
    the process's exit code."""
    from urllib.parse import urlsplit

    env = os.environ if environ is None else environ
    address = master if master is not None else env.get("LOADKIT_MASTER_HOST")
    where = "--master" if master is not None else "LOADKIT_MASTER_HOST"
    if not address or not address.strip():
        raise UsageError("the worker needs its master's address.",
                         "pass --master HOST[:PORT] (or set LOADKIT_MASTER_HOST)")
    parts = urlsplit("//" + address.strip())
    try:
        port = parts.port or DEFAULT_MASTER_PORT
    except ValueError:
        raise UsageError(f"{where} {address!r}: the port is not a number from 1 to 65535.",
                         f"write HOST or HOST:PORT ([::1]:{DEFAULT_MASTER_PORT} for IPv6)") from None
    host = parts.hostname
    if not host:
        raise UsageError(f"{where} {address!r}: no host.", "write HOST or HOST:PORT")
    from ..run.worker import run_worker

    return run_worker(host, port, parent_pid=parent_pid)


