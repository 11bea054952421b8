"""Run configuration, in layers; a later layer wins:

1. built-in defaults;
2. Locust's own config files in the working folder, for the settings that mean something to loadkit (only
   ``host``, as the target): ``locust.conf``, then ``pyproject.toml`` ``[tool.locust]``;
3. the scenario file (``target:``);
4. ``LOCUST_HOST`` in the environment;
5. ``LOADKIT_*`` environment variables;
6. command-line flags (``--host`` is ``--target`` under Locust's name; ``--demo`` asks for the demo storefront).

Every command that reads a scenario resolves its settings here: ``loadkit run``, and ``plan`` and
``validate`` too (so ``LOADKIT_RATE_SCALE=0.1 loadkit plan smoke`` shows the rate a run would send), and the
distribution's settings (``--master``, ``--expect-workers``, ``--bind``, ``--master-port``,
``--worker-timeout``) and ``LOADKIT_LOOPBACK_ONLY`` join the same layers.

Every other Locust setting found (``users``, ``LOCUST_RUN_TIME``, ...) is named in one warning line, never
silently ignored. A setting given but empty (``LOADKIT_TARGET=""``) is a usage error naming it, and so is a
run in CI (``CI`` set) that would fall back to the embedded demo storefront without ``--demo``.

The result is one frozen object that says, for every setting, its value and where it came from; it is
recorded in the run directory (``config.json``, secrets redacted) so a run can be explained later.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .publish import shown_url
from .redaction import redact_url
from .scenario import DEMO_TARGET, Scenario, target_problem
from .setting_values import (parse_bool, parse_count, parse_host, parse_linger, parse_listen, parse_otlp_url,
                             parse_port, parse_positive, parse_seconds, parse_upload_url, parse_workers)

ENV_PREFIX = "LOADKIT_"
DEFAULT_MASTER_PORT = 5557  # Locust's own default: where a distributed run's master listens, workers connect
# Read by Locust itself when loadkit imports it, so not "unused".
_LOCUST_IMPORT_VARIABLES = frozenset({"LOCUST_SKIP_MONKEY_PATCH", "LOCUST_SKIP_URLLIB3_PATCH",
                                      "LOCUST_PLAYWRIGHT"})


# setting -> (environment variable suffix, parser of the environment's text)
SETTINGS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "target": ("TARGET", str),
    "out": ("OUT", Path),
    "workers": ("WORKERS", parse_workers),
    "rate_scale": ("RATE_SCALE", parse_positive),
    "duration_scale": ("DURATION_SCALE", parse_positive),
    "strict": ("STRICT", parse_bool),
    "quiet": ("QUIET", parse_bool),
    "skip_rehearsal": ("SKIP_REHEARSAL", parse_bool),
    "upload": ("UPLOAD_URL", parse_upload_url),
    "loopback_only": ("LOOPBACK_ONLY", parse_bool),
    "master": ("MASTER", parse_bool),
    "expect_workers": ("EXPECT_WORKERS", parse_count),
    "bind": ("BIND", parse_host),
    "master_port": ("MASTER_PORT", parse_port),
    "worker_timeout": ("WORKER_TIMEOUT", parse_seconds),
    "prometheus": ("PROMETHEUS", parse_listen),
    "prometheus_linger": ("PROMETHEUS_LINGER", parse_linger),
    "otlp": ("OTLP_ENDPOINT", parse_otlp_url),
}
SECRET_SETTINGS = frozenset({"upload", "otlp"})  # shown and recorded without their query string and credentials
DEFAULTS: dict[str, Any] = {"target": None, "out": None, "workers": None, "rate_scale": 1.0,
                            "duration_scale": 1.0, "strict": False, "quiet": False, "skip_rehearsal": False,
                            "upload": None,
                            "loopback_only": False, "master": False, "expect_workers": None, "bind": "127.0.0.1",
                            "master_port": None, "worker_timeout": 60.0,
                            "prometheus": None, "prometheus_linger": 15.0, "otlp": None}


@dataclass(frozen=True)
class Flags:
    """The command line's settings: None for every flag not given (a lower layer then decides)."""

    target: str | None = None
    host: str | None = None  # --host, Locust's name for --target
    demo: bool | None = None
    out: Path | None = None
    workers: int | None = None
    rate_scale: float | None = None
    duration_scale: float | None = None
    strict: bool | None = None
    quiet: bool | None = None
    skip_rehearsal: bool | None = None
    upload: str | None = None
    loopback_only: bool | None = None
    master: bool | None = None
    expect_workers: int | None = None
    bind: str | None = None
    master_port: int | None = None
    worker_timeout: float | None = None
    prometheus: str | None = None
    prometheus_linger: float | None = None
    otlp: str | None = None


@dataclass(frozen=True)
class LocustSetting:
    """A setting found where Locust reads its configuration."""

    source: str  # "locust.conf", "pyproject.toml [tool.locust]", or "environment"
    name: str  # as written there: "host", "spawn-rate", "LOCUST_HOST"
    value: str

    @property
    def key(self) -> str:
        """Locust's option name: ``host``, ``spawn-rate`` (``LOCUST_SPAWN_RATE`` -> ``spawn-rate``)."""
        name = self.name.removeprefix("LOCUST_") if self.source == "environment" else self.name
        return name.lower().replace("_", "-").lstrip("-")

    @property
    def label(self) -> str:
        """How a message names it: ``LOCUST_HOST``, ``locust.conf: host``."""
        return self.name if self.source == "environment" else f"{self.source}: {self.name}"


def read_locust_settings(folder: Path, environ: Mapping[str, str]) -> list[LocustSetting]:
    """Locust settings in ``folder`` (``locust.conf``, ``pyproject.toml [tool.locust]``) and ``LOCUST_*``
    variables, lowest layer first. Files that cannot be read are Locust's business, not the run's: skipped."""
    found: list[LocustSetting] = []
    try:
        text = (folder / "locust.conf").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        # ConfigArgParse's syntax: "key = value", "key: value" or "key value"
        cut = min((i for i in (line.find("="), line.find(":"), line.find(" ")) if i > 0), default=len(line))
        key, value = line[:cut].strip(), line[cut:].lstrip("=: \t").strip()
        found.append(LocustSetting("locust.conf", key, value.strip("'\"")))
    try:
        with (folder / "pyproject.toml").open("rb") as handle:
            table = tomllib.load(handle).get("tool", {}).get("locust", {})
    except (OSError, tomllib.TOMLDecodeError):
        table = {}
    if isinstance(table, dict):
        for key, value in table.items():
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            found.append(LocustSetting("pyproject.toml [tool.locust]", str(key), shown))
    found += [LocustSetting("environment", name, value) for name, value in sorted(environ.items())
              if name.startswith("LOCUST_") and name not in _LOCUST_IMPORT_VARIABLES]
    return found


def in_ci(environ: Mapping[str, str]) -> bool:
    """Whether the ``CI`` variable says this is a CI job (GitHub Actions, GitLab CI and most others set it)."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class RunConfig:
    """The resolved settings of one run, and the layer each came from."""

    target: str | None  # a base URL, "demo" (the demo storefront asked for), or None (not given)
    out: Path | None
    workers: int | None
    rate_scale: float
    duration_scale: float
    strict: bool
    quiet: bool
    skip_rehearsal: bool  # the scenario's 'rehearsal: false', LOADKIT_SKIP_REHEARSAL, --skip-rehearsal
    upload: str | None = None  # a URL prefix the reports are PUT to after the run (loadkit/publish.py)
    loopback_only: bool = False  # every host a step can reach must be this machine
    master: bool = False  # a master for workers on other machines
    expect_workers: int | None = None  # workers in all, local ones included (None: --workers)
    bind: str = "127.0.0.1"  # where the master listens
    master_port: int | None = None  # None: DEFAULT_MASTER_PORT for --master, else a free port
    worker_timeout: float = 60.0  # longest wait for the workers to connect, in seconds
    prometheus: str | None = None  # [HOST:]PORT of the live scrape endpoint (docs/observability.md)
    prometheus_linger: float = 15.0  # seconds the endpoint stays up after the load, for a last scrape
    otlp: str | None = None  # an OTLP/HTTP endpoint for the live figures
    sources: Mapping[str, str] = field(default_factory=dict)  # setting -> default|scenario|env|flag|...
    warnings: tuple[str, ...] = ()  # one line each, for stderr

    @property
    def local_workers(self) -> int:
        """Worker processes to start on this machine (0: the load comes from this process)."""
        return self.workers or 0

    @property
    def all_workers(self) -> int:
        """Workers in all, local ones included (0: no workers)."""
        return self.expect_workers if self.expect_workers is not None else self.local_workers

    @property
    def port(self) -> int:
        """The port the master listens on (0: a free one)."""
        if self.master_port is not None:
            return self.master_port
        return DEFAULT_MASTER_PORT if self.master else 0

    def recorded(self) -> dict[str, Any]:
        """For ``config.json``: values (secrets redacted) with their sources."""
        out: dict[str, Any] = {}
        for name in SETTINGS:
            value = getattr(self, name)
            if name == "target" and value:
                value = redact_url(value)
            elif name in SECRET_SETTINGS and value:
                value = shown_url(value)
            out[name] = {"value": str(value) if isinstance(value, Path) else value, "source": self.sources[name]}
        return out


def _checked_target(value: str, where: str) -> str:
    if not value.strip():
        raise UsageError(f"{where} is set but empty.",
                         f"give {where} the site's base URL (https://shop.example.com), or leave it out")
    problem = target_problem(value)
    if problem is not None:
        raise UsageError(f"{where} {problem[0]}.", problem[1])
    return value.strip().rstrip("/")


def _resolve_target(flags: Mapping[str, Any], environ: Mapping[str, str], scenario: Scenario | None,
                    locust: Sequence[LocustSetting]) -> tuple[str | None, str, list[str]]:
    """(target, its source, Locust settings passed over): every layer that gives one is checked, so a
    mistyped lower layer is reported even when a higher one wins."""
    value: str | None = None
    source, label = "default", ""
    passed_over: list[str] = []
    layers: list[tuple[str, str, str]] = []  # (source, how messages name it, value)
    for setting in locust:
        if setting.key == "host" and setting.source != "environment":
            layers.append((setting.source.split()[0], setting.label, setting.value))
    if scenario is not None and scenario.target:
        layers.append(("scenario", "the scenario's target", scenario.target))
    for variable, layer in (("LOCUST_HOST", "LOCUST_HOST"), (ENV_PREFIX + "TARGET", "env")):
        if variable in environ:
            layers.append((layer, variable, environ[variable]))
    for flag in ("target", "host"):
        if flags.get(flag) is not None:
            layers.append(("flag", f"--{flag}", flags[flag]))
    if flags.get("demo"):
        layers.append(("flag", "--demo", DEMO_TARGET))
    for layer_source, where, given in layers:
        checked = _checked_target(given, where)
        if value is not None and label.startswith(("locust.conf", "pyproject.toml", "LOCUST_HOST")):
            passed_over.append(f"{label} (overridden by {where})")
        value, source, label = checked, layer_source, where
    return value, source, passed_over


def resolve(flags: Flags | Mapping[str, Any], environ: Mapping[str, str], scenario: Scenario | None,
            locust: Sequence[LocustSetting] = (), *, sends_load: bool = True) -> RunConfig:
    """Layer the settings (see the module's docstring); ``flags`` holds None for every flag not given on the
    command line, ``locust`` what :func:`read_locust_settings` found. ``sends_load=False`` (``plan``,
    ``validate``): no run follows, so a missing target in CI is not an error."""
    if isinstance(flags, Flags):
        flags = asdict(flags)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    target, target_source, passed_over = _resolve_target(flags, environ, scenario, locust)
    for name, (suffix, parse) in SETTINGS.items():
        if name == "target":
            values[name], sources[name] = target, target_source
            continue
        value, source = DEFAULTS[name], "default"
        if name == "skip_rehearsal" and scenario is not None and not scenario.rehearsal:
            value, source = True, "scenario"
        variable = ENV_PREFIX + suffix
        if variable in environ:
            if not environ[variable].strip():
                raise UsageError(f"{variable} is set but empty.", f"give {variable} a value, or unset it")
            try:
                value, source = parse(environ[variable]), "env"
            except ValueError as exc:
                given = environ[variable] if name not in SECRET_SETTINGS else shown_url(environ[variable])
                raise UsageError(f"{variable}={given!r}: {exc}.",
                                 f"set {variable} to a valid value or unset it") from None
        if flags.get(name) is not None and flags.get(name) is not False:
            value, source = flags[name], "flag"
        values[name] = value
        sources[name] = source
    _check_distribution(values)
    if target is None and in_ci(environ) and sends_load:
        raise UsageError("no target: CI is set, and a CI job that quietly judged the embedded demo storefront "
                         "would report on the wrong site.",
                         "pass --target https://your-site (or set LOADKIT_TARGET, or target: in the scenario); "
                         "for the demo storefront on purpose, pass --demo")
    unused = [s.label for s in locust if s.key != "host"] + passed_over
    warnings = (f"Locust settings found and not used: {', '.join(unused)} (loadkit reads only Locust's host, "
                "as the target; the scenario sets the load; see docs/ci.md).",) if unused else ()
    return RunConfig(**values, sources=sources, warnings=warnings)


def _check_distribution(values: Mapping[str, Any]) -> None:
    """The distribution settings must agree: a usage error naming the fix otherwise."""
    local = values["workers"] or 0
    expect = values["expect_workers"] if values["expect_workers"] is not None else local
    if values["master"] and expect < 1:
        raise UsageError("--master needs to know how many workers to wait for.", "add --expect-workers N")
    if expect < local:
        raise UsageError(f"--expect-workers {expect} is fewer than --workers {local}.",
                         "--expect-workers counts every worker, the local ones included")
    if expect > local and not values["master"]:
        raise UsageError("--expect-workers above --workers waits for workers on other machines.",
                         "add --master, and start them with `loadkit worker --master HOST:PORT`")


__all__ = ["DEFAULTS", "DEFAULT_MASTER_PORT", "ENV_PREFIX", "SECRET_SETTINGS", "SETTINGS", "Flags", "LocustSetting",
           "RunConfig", "in_ci", "parse_bool", "parse_count", "parse_host", "parse_linger", "parse_listen",
           "parse_otlp_url", "parse_port", "parse_positive", "parse_seconds", "parse_upload_url", "parse_workers",
           "read_locust_settings", "resolve"]
