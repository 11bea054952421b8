"""Calibrations saved per machine: how many visitors per second one load process sustains for a scenario's
journeys, measured by ``loadkit calibrate`` and read back by ``loadkit plan``. Pure: no load, no gevent.

A calibration is only good for the machine and the journeys it was measured with, so each is keyed by a
fingerprint of both: the machine (host name, CPU model, cores, Python and loadkit versions) and the
journeys with what changes a visit's cost (their steps, ``connections``, ``csrf``, ``page_resources``).
The rate, the duration and the data drawn do not change a visit's cost, and are left out.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import OutputError
from ..scenario import Scenario

__all__ = ["CACHE_ENV", "CPU_TARGET", "FILE_NAME", "Calibration", "Machine", "cache_dir", "find_calibration",
           "journeys_fingerprint", "processes_needed", "save_calibration", "this_machine"]

CACHE_ENV = "LOADKIT_CACHE_DIR"  # where calibrations are kept (default: $XDG_CACHE_HOME/loadkit, ~/.cache/loadkit)
FILE_NAME = "calibration.json"
SCHEMA = 1
# The share of one core a load process is planned to use. docs/benchmarks.md ("How much headroom on time
# this machine gives a generator"): arrivals stay on time (lateness p99 < 10 ms) up to about 70% of a
# process's capacity on a shared 2-core VM; beyond, the machine's slow moments make them late.
CPU_TARGET = 0.70


@dataclass(frozen=True)
class Machine:
    """What a calibration is only good for: this machine, as loadkit sees it."""

    hostname: str
    cpu_model: str
    cores: int
    python: str
    loadkit: str

    @property
    def fingerprint(self) -> str:
        """A short stable hash of the fields."""
        return _digest(asdict(self))


def this_machine() -> Machine:
    """The machine this process runs on."""
    return Machine(hostname=socket.gethostname(), cpu_model=_cpu_model(), cores=os.cpu_count() or 1,
                   python=platform.python_version(), loadkit=__version__)


def _cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform module says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def journeys_fingerprint(scenario: Scenario) -> str:
    """A short stable hash of what a visit of ``scenario`` costs its load process."""
    return _digest({"journeys": [j.model_dump(mode="json", by_alias=True, exclude_none=True)
                                 for j in scenario.journeys],
                    "connections": scenario.connections, "csrf": scenario.csrf,
                    "page_resources": scenario.page_resources})


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Calibration:
    """One measurement: a load process's sustainable rate for one scenario's journeys on one machine."""

    scenario: str  # the scenario's name, for people (the key is the fingerprint)
    journeys: str  # journeys_fingerprint
    machine: Machine
    measured_at: str  # ISO 8601, UTC
    per_process_per_s: float  # visitors a second one process starts at CPU_TARGET of a core
    cpu_ms_per_visit: float  # the process's CPU (user + system) per visit at the measured rate
    measured_per_s: float  # the rate it was measured at
    measured_cpu: float  # the share of one core it used there
    requests_per_visit: float
    seconds: float  # how long the measurement lasted
    limited_by: str  # "cpu": raised to near CPU_TARGET; "target" or "time": stopped lower (a cautious figure)
    cpu_target: float = CPU_TARGET

    @property
    def date(self) -> str:
        """The day it was measured (``2026-12-02``)."""
        return self.measured_at[:10]

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as saved."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`; ValueError or TypeError for an entry that is not one."""
        fields = dict(data)
        fields["machine"] = Machine(**fields["machine"])
        found = cls(**fields)
        # A hand-edited or damaged entry must not reach the arithmetic and formatting of ``loadkit plan``.
        numbers = (found.per_process_per_s, found.cpu_ms_per_visit, found.measured_per_s, found.measured_cpu,
                   found.requests_per_visit, found.seconds, found.cpu_target)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in numbers) \
                or found.per_process_per_s <= 0 or found.cpu_target <= 0 \
                or not all(isinstance(v, str) for v in (found.scenario, found.journeys, found.measured_at,
                                                         found.limited_by)):
            raise ValueError("not a calibration")
        return found


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where calibrations are kept: ``LOADKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/loadkit``, else
    ``~/.cache/loadkit``."""
    env = os.environ if environ is None else environ
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "loadkit"


def _read(path: Path) -> list[dict[str, Any]]:
    """The saved entries; none when the file is missing, unreadable or of another schema (a stale cache is
    measured again rather than trusted)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        return []
    entries = document.get("calibrations")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def find_calibration(scenario: Scenario, environ: Mapping[str, str] | None = None,
                     machine: Machine | None = None) -> Calibration | None:
    """The saved calibration of ``scenario``'s journeys on this machine, if any."""
    machine = machine or this_machine()
    key = journeys_fingerprint(scenario)
    for entry in _read(cache_dir(environ) / FILE_NAME):
        try:
            found = Calibration.from_dict(entry)
        except (TypeError, KeyError, ValueError):  # not a calibration: measured again rather than trusted
            continue
        if found.journeys == key and found.machine == machine:
            return found
    return None


def save_calibration(found: Calibration, environ: Mapping[str, str] | None = None) -> Path:
    """Keep ``found`` (replacing the one of the same journeys and machine); returns the file."""
    from ..data import write_json_atomic

    path = cache_dir(environ) / FILE_NAME
    kept = [e for e in _read(path)
            if not (e.get("journeys") == found.journeys and e.get("machine") == asdict(found.machine))]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"schema": SCHEMA, "calibrations": [*kept, found.to_dict()]})
    except OSError as exc:
        raise OutputError(f"cannot save the calibration to {path} ({exc.strerror}).",
                          f"set {CACHE_ENV} to a folder you can write") from None
    return path


def processes_needed(peak_per_s: float, per_process_per_s: float) -> int:
    """Load processes that carry ``peak_per_s`` visitors a second at ``per_process_per_s`` each (at least 1)."""
    if per_process_per_s <= 0:
        raise ValueError("a calibrated rate is positive")
    return max(1, math.ceil(peak_per_s / per_process_per_s - 1e-9))
