"""Run configuration, layered: defaults < scenario file < ``LOADKIT_*`` environment < command-line flags.

The result is one frozen object that says, for every setting, its value and where it came from; it is
recorded in the run directory (``config.json``, secrets redacted) so a run can be explained later.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .redaction import redact_url
from .scenario import Scenario

ENV_PREFIX = "LOADKIT_"


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise ValueError(f"expected a number above 0, got {text!r}")
    return value


def parse_workers(text: str) -> int:
    if text.strip() == "auto":
        return os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected a whole number or 'auto', got {text!r}") from None
    if value < 1:
        raise ValueError("expected at least 1 worker")
    return value


# setting -> (environment variable suffix, parser of the environment's text)
SETTINGS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "target": ("TARGET", str),
    "out": ("OUT", Path),
    "workers": ("WORKERS", parse_workers),
    "rate_scale": ("RATE_SCALE", parse_positive),
    "duration_scale": ("DURATION_SCALE", parse_positive),
    "strict": ("STRICT", parse_bool),
    "quiet": ("QUIET", parse_bool),
}
DEFAULTS: dict[str, Any] = {"target": None, "out": None, "workers": None, "rate_scale": 1.0,
                            "duration_scale": 1.0, "strict": False, "quiet": False}


@dataclass(frozen=True)
class RunConfig:
    """The resolved settings of one run, and the layer each came from."""

    target: str | None
    out: Path | None
    workers: int | None
    rate_scale: float
    duration_scale: float
    strict: bool
    quiet: bool
    sources: Mapping[str, str] = field(default_factory=dict)  # setting -> default|scenario|env|flag

    def recorded(self) -> dict[str, Any]:
        """For ``config.json``: values (secrets redacted) with their sources."""
        out: dict[str, Any] = {}
        for name in SETTINGS:
            value = getattr(self, name)
            if name == "target" and value:
                value = redact_url(value)
            out[name] = {"value": str(value) if isinstance(value, Path) else value, "source": self.sources[name]}
        return out


def resolve(flags: Mapping[str, Any], environ: Mapping[str, str], scenario: Scenario | None) -> RunConfig:
    """Layer the settings; ``flags`` holds None for every flag not given on the command line."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (suffix, parse) in SETTINGS.items():
        value, source = DEFAULTS[name], "default"
        if name == "target" and scenario is not None and scenario.target:
            value, source = scenario.target, "scenario"
        variable = ENV_PREFIX + suffix
        if environ.get(variable, "") != "":
            try:
                value, source = parse(environ[variable]), "env"
            except ValueError as exc:
                raise UsageError(f"{variable}={environ[variable]!r}: {exc}.",
                                 f"set {variable} to a valid value or unset it") from None
        if flags.get(name) is not None and flags.get(name) is not False:
            value, source = flags[name], "flag"
        values[name] = value
        sources[name] = source
    return RunConfig(**values, sources=sources)
