"""loadkit's public API: one function per command, the same calls the command line makes.

``loadkit.cli`` parses arguments, calls one of these and prints what it returns; nothing else. Tests and
scripts call them directly::

    from loadkit import api
    from loadkit.config import Flags

    settings = api.settings("smoke", Flags(demo=True, rate_scale=0.5))
    result = api.run(settings)
    print(result.verdict.verdict, result.exit_code)

Settings go through the config layers (``loadkit/config.py``) for every command that reads a scenario:
``run``, ``plan`` and ``validate`` alike. User errors are :class:`~loadkit.errors.LoadkitError`. Only
:func:`run` and :func:`worker` start the run stage (and so gevent's monkey-patching).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Flags, RunConfig, read_locust_settings, resolve
from .errors import ExitCode, OutputError, UsageError
from .plan_description import describe_plan, plan_headline
from .scenario import (DEMO_TARGET, Scenario, bundled_scenarios, check_step_hosts, json_schema, load_data_values,
                       load_scenario, scenario_base_dir)
from .traffic import Plan, build_plan, plan_to_dict
from .units import format_duration

if TYPE_CHECKING:
    from .compare import Comparison
    from .demo import DemoConfig
    from .history import History
    from .report import Rendered
    from .run import Distribution, Progress, RunJob, RunOutcome
    from .verdict import Verdict

__all__ = ["NO_FLAGS", "CompareResult", "HistoryResult", "Listeners", "LogImport", "PlanView", "ReportResult",
           "RunResult", "RunSettings", "ScenarioListing", "Validation", "append_step_summary", "check_locustfile",
           "compare", "default_run_dir", "demo_site", "distribution", "history", "init_from_har", "init_from_logs",
           "plan", "publish", "publish_job_summary", "report", "run", "scenarios", "schema", "settings", "validate",
           "verdict_exit_code", "worker"]


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
             sends_load: bool = True) -> RunSettings:
    """Load the scenario ``spec`` and resolve its settings: defaults < scenario file < ``LOADKIT_*``
    (``environ``, default ``os.environ``) < ``flags``. ``sends_load=False`` for commands that send
    nothing (``plan``, ``validate``): then a missing target in CI is not an error."""
    env = os.environ if environ is None else environ
    scenario = load_scenario(spec)
    config = resolve(flags, env, scenario, read_locust_settings(Path.cwd(), env), sends_load=sends_load)
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


def run(run_settings: RunSettings, listeners: Listeners | None = None, baseline: str | None = None) -> RunResult:
    """Run the scenario, judge it and render its reports into the run directory.

    With no target in any layer, the embedded demo storefront is started on 127.0.0.1 for the run (the
    run stage never decides that). ``baseline``: a run directory, or ``latest-good``, to compare with.
    """
    from .baseline import find_baseline, gate
    from .report import render_run_dir
    from .run import prepare, run_scenario

    listeners = listeners or Listeners()
    found = find_baseline(baseline, run_settings.scenario.name, run_settings.run_dir.parent) if baseline else None
    job = prepare(_job(run_settings, listeners), run_settings.base_dir)  # refuses before anything starts
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
    from .publish import publish_run

    return publish_run(result.settings.run_dir, result.rendered.model.summary(), result.exit_code,
                       result.settings.config.upload, os.environ, say)


def distribution(config: RunConfig) -> Distribution:
    """Where the load comes from, as the settings say."""
    from .run import Distribution

    return Distribution(local_workers=config.local_workers, expect_workers=config.all_workers,
                        bind_host=config.bind, bind_port=config.port, worker_timeout=config.worker_timeout)


def _job(run_settings: RunSettings, listeners: Listeners) -> RunJob:
    from .run import RunJob, RunOptions
    from .run.export import ExportSettings

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
    from .demo import DemoSite

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
        from .report.markdown import render_job_summary

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

    from .config import DEFAULT_MASTER_PORT

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
    from .run.worker import run_worker

    return run_worker(host, port, parent_pid=parent_pid)


# --- plan, validate, scenarios, schema -------------------------------------------------------------


@dataclass(frozen=True)
class PlanView:
    """A scenario's traffic plan, as ``loadkit plan`` shows it."""

    settings: RunSettings

    @property
    def lines(self) -> list[str]:
        """The plan in words and a phase table."""
        return describe_plan(self.settings.scenario, self.settings.plan)

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON (``loadkit plan --json``)."""
        return plan_to_dict(self.settings.plan)


def plan(spec: str, flags: Flags = NO_FLAGS, environ: Mapping[str, str] | None = None) -> PlanView:
    """The traffic plan a run of ``spec`` would follow with these settings; sends nothing."""
    return PlanView(settings(spec, flags, environ, sends_load=False))


@dataclass(frozen=True)
class Validation:
    """A scenario that loads, with its data, and what it holds."""

    settings: RunSettings

    @property
    def line(self) -> str:
        """``ok: NAME: ...`` in one line."""
        scenario, plan_ = self.settings.scenario, self.settings.plan
        walkers = f"locustfile {scenario.locustfile}" if scenario.locustfile else f"{len(scenario.journeys)} journeys"
        return (f"ok: {scenario.name}: {walkers}, {len(scenario.endpoints)} endpoints, "
                f"{len(scenario.slos)} SLOs, {format_duration(plan_.duration)}, "
                f"peak {plan_.planned_peak:.3g}{' users' if plan_.model == 'users' else '/s'}")


def validate(spec: str, flags: Flags = NO_FLAGS, environ: Mapping[str, str] | None = None) -> Validation:
    """Load the scenario and its data, check its steps' hosts against the target the settings give and
    its locustfile compiles; sends nothing."""
    from .run.targets import check_loopback_only

    checked = settings(spec, flags, environ, sends_load=False)
    scenario, target = checked.scenario, checked.config.target
    load_data_values(scenario, checked.base_dir)
    known = target if target and target != DEMO_TARGET else None
    if known:
        check_step_hosts(scenario, known)  # absolute URLs written out
    if checked.config.loopback_only:
        check_loopback_only(scenario, known)
    if scenario.locustfile:
        check_locustfile(checked.base_dir / scenario.locustfile)
    return Validation(checked)


def check_locustfile(path: Path) -> None:
    """The locustfile exists and compiles (not imported: that would start gevent in this process)."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"locustfile {path}: cannot be read ({exc.strerror}).",
                         "give a path relative to the scenario file") from None
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise UsageError(f"locustfile {path}: line {exc.lineno}: {exc.msg}.", "fix the syntax error") from None


@dataclass(frozen=True)
class ScenarioListing:
    """A bundled scenario: its name, length (``?`` when it does not load), description and file."""

    name: str
    length: str
    description: str
    path: Path


def scenarios() -> list[ScenarioListing]:
    """The bundled scenarios, with their length."""
    from .errors import LoadkitError

    found = []
    for name, description, path in bundled_scenarios():
        try:
            length = format_duration(build_plan(load_scenario(name)).duration)
        except LoadkitError:  # a bundled file that does not load is a bug; list it rather than hide it
            length = "?"
        found.append(ScenarioListing(name=name, length=length, description=description, path=path))
    return found


def schema() -> dict[str, Any]:
    """The JSON Schema of scenario files."""
    return dict(json_schema())


# --- report, compare, history, init ---------------------------------------------------------------


@dataclass(frozen=True)
class ReportResult:
    """The reports rebuilt from a run directory, and the exit code of the run that wrote it."""

    rendered: Rendered
    exit_code: ExitCode


def report(run_dir: Path, strict: bool = False) -> ReportResult:
    """Rebuild every report of ``run_dir`` from its data files alone; the exit code is the run's (the
    verdict's), so a CI step can re-render and still gate on it."""
    from .report import render_run_dir

    rendered = render_run_dir(run_dir)
    if rendered.missing:
        code = ExitCode.OUT_OF_DISK
    else:
        code = verdict_exit_code(rendered.verdict.verdict, strict=strict,
                                 interrupted=bool(rendered.model.run.get("interrupted")))
    return ReportResult(rendered=rendered, exit_code=code)


@dataclass(frozen=True)
class CompareResult:
    """Two runs compared, and the HTML file written (with ``.md`` and ``.json`` beside it)."""

    comparison: Comparison
    html_path: Path
    markdown: str

    @property
    def exit_code(self) -> ExitCode:
        """1 when the new run regressed beyond noise."""
        return ExitCode.FAILS if self.comparison.regressions else ExitCode.SURVIVES


def compare(base_run_dir: Path, new_run_dir: Path, out: Path | None = None,
            min_change: float = 0.10) -> CompareResult:
    """Compare two run directories per endpoint and overall, against the runs' noise; write the comparison
    (``out``, default ``NEW_RUN_DIR/compare.html``, with ``.md`` and ``.json``) and add it to the CI job
    summary when there is one."""
    from .compare import compare_runs, comparison_dict
    from .data import load_run, write_json_atomic, write_text_atomic
    from .report.comparison import render_comparison_html, render_comparison_markdown

    comparison = compare_runs(load_run(base_run_dir), load_run(new_run_dir), min_change=min_change)
    html_path = out or new_run_dir / "compare.html"
    markdown = render_comparison_markdown(comparison)
    _make_parent(html_path)
    write_text_atomic(html_path, render_comparison_html(comparison))
    write_text_atomic(html_path.with_suffix(".md"), markdown)
    write_json_atomic(html_path.with_suffix(".json"), comparison_dict(comparison))
    append_step_summary(markdown[:4000], os.environ)
    return CompareResult(comparison=comparison, html_path=html_path, markdown=markdown)


@dataclass(frozen=True)
class HistoryResult:
    """Every run under a folder, and the page written."""

    history: History
    out: Path


def history(runs_dir: Path, out: Path | None = None, compare_last: int | None = None) -> HistoryResult:
    """Every run under ``runs_dir``, per scenario, with the changes between runs; write ``out`` (default
    ``DIR/history.html``) and ``history.json`` beside it."""
    from .data import write_json_atomic, write_text_atomic
    from .history import COMPARE_LAST, collect, history_dict, mark_changes
    from .report.history import render_history_html

    if not runs_dir.is_dir():
        raise UsageError(f"{runs_dir} is not a folder.", "pass the folder that holds your run directories "
                                                        "(e.g. reports/)")
    found = collect(runs_dir)
    if not found.run_count:
        raise UsageError(f"no run directory (with a summary.json) under {runs_dir}.",
                         "pass the folder your runs were written to (loadkit run --out, default reports/)")
    found = mark_changes(found, compare_last=compare_last if compare_last is not None else COMPARE_LAST)
    path = out or runs_dir / "history.html"
    _make_parent(path)
    write_text_atomic(path, render_history_html(found, path))
    write_json_atomic(path.with_name("history.json"), history_dict(found, path.parent))
    return HistoryResult(history=found, out=path)


def init_from_har(har: Path, out: Path | None = None, name: str | None = None) -> Path:
    """Write a scenario converted from a browser recording (``out``, default the recording's name with
    ``.yaml``); sends nothing. The file written is checked to load."""
    from .har import convert_har

    path = out or har.with_suffix(".yaml")
    _refuse_existing(path)
    return _write_scenario(path, convert_har(har, name))


@dataclass(frozen=True)
class LogImport:
    """Access logs to build a scenario from (``loadkit init --from-log``)."""

    files: tuple[Path, ...]
    log_format: str = "auto"  # auto, combined, common, alb, nginx-json, caddy, traefik, gcp, or json:...
    spike: str | None = None  # the spike to fit: HH:MM..HH:MM UTC, or ISO times
    target: str | None = None  # the site: written into the scenario, its form fields read (one GET per form)


def init_from_logs(logs: LogImport, out: Path | None = None, name: str | None = None) -> Path:
    """Write a scenario built from access logs (``out``, default the first log's name with ``.yaml``): journeys,
    think times, the everyday rate and a spike. Sends one GET per form post, only with a target."""
    from .logimport import convert_logs

    first = logs.files[0]
    path = out or first.with_name(first.name.split(".")[0] + ".yaml")
    _refuse_existing(path)
    return _write_scenario(path, convert_logs(list(logs.files), name, log_format=logs.log_format, spike=logs.spike,
                                              target=logs.target))


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise UsageError(f"{path} already exists.", "pass --out with a new file name")


def _write_scenario(path: Path, text: str) -> Path:
    """Write a scenario file after checking it loads."""
    import yaml

    from .data import write_text_atomic
    from .scenario import parse_scenario

    parse_scenario(yaml.safe_load(text), str(path))  # what is written must load
    write_text_atomic(path, text)
    return path


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {path.parent} ({exc.strerror}).",
                          "pass --out with a file in a writable folder") from None


def demo_site(config: DemoConfig, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve the demo storefront in the foreground until interrupted; ``announce`` hears its URL."""
    from .demo.server import serve

    try:
        serve(config, host, port, announce)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}).",
                         "pick another --port, or stop what uses it") from None
