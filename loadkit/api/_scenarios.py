"""The commands that read a scenario and send nothing: the plan, validation, the bundled scenarios, the
schema, and new scenarios from a browser recording or access logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..calibration import LoadProcesses, load_processes
from ..config import Flags
from ..errors import UsageError
from ..plan_description import describe_plan
from ..scenario import (DEMO_TARGET, bundled_scenarios, check_step_hosts, json_schema, load_data_values,
                        load_scenario)
from ..traffic import build_plan, plan_to_dict
from ..units import format_duration
from ._running import NO_FLAGS, RunSettings, settings

__all__ = ["LogImport", "PlanView", "ScenarioListing", "Validation", "check_locustfile", "init_from_har",
           "init_from_logs", "plan", "scenarios", "schema", "validate"]


# --- plan, validate, scenarios, schema -------------------------------------------------------------


@dataclass(frozen=True)
class PlanView:
    """A scenario's traffic plan, as ``loadkit plan`` shows it."""

    settings: RunSettings
    processes: LoadProcesses  # the load processes its peak needs, from this machine's calibration

    @property
    def lines(self) -> list[str]:
        """The plan in words and a phase table, then the load processes it needs (and a warning when this
        machine has too few cores for them)."""
        warning = self.processes.warning
        return [*describe_plan(self.settings.scenario, self.settings.plan), "", *self.processes.lines,
                *([f"warning: {warning}"] if warning else [])]

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON (``loadkit plan --json``): the plan, and ``load_processes``."""
        return {**plan_to_dict(self.settings.plan), "load_processes": self.processes.to_dict()}


def plan(spec: str, flags: Flags = NO_FLAGS, environ: Mapping[str, str] | None = None) -> PlanView:
    """The traffic plan a run of ``spec`` would follow with these settings, and the load processes its peak
    needs on this machine (from ``loadkit calibrate``); sends nothing."""
    checked = settings(spec, flags, environ, sends_load=False)
    return PlanView(checked, load_processes(checked.scenario, checked.plan, spec, environ))


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
    from ..run.targets import check_loopback_only

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
    from ..errors import LoadkitError

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




def init_from_har(har: Path, out: Path | None = None, name: str | None = None) -> Path:
    """Write a scenario converted from a browser recording (``out``, default the recording's name with
    ``.yaml``); sends nothing. The file written is checked to load."""
    from ..har import convert_har

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
    from ..logimport import convert_logs

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

    from ..data import write_text_atomic
    from ..scenario import parse_scenario

    parse_scenario(yaml.safe_load(text), str(path))  # what is written must load
    write_text_atomic(path, text)
    return path


