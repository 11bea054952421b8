"""How many load processes a plan needs at its peak, from this machine's calibration (``loadkit plan``).
Pure: it reads the saved calibration and says what it means; it never invents a figure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..scenario import Scenario
from ..traffic import Plan
from .store import Calibration, Machine, find_calibration, processes_needed, this_machine

__all__ = ["LoadProcesses", "load_processes"]

SCALE_DOC = "docs/run-at-scale.md"


@dataclass(frozen=True)
class LoadProcesses:
    """The plan's peak against one load process's calibrated rate on this machine."""

    peak_per_s: float  # the plan's highest arrival rate, headroom probe included
    cores: int
    needed: int | None = None  # None: not estimated (see ``missing``)
    calibration: Calibration | None = None
    missing: str | None = None  # why there is no figure, and how to get one

    @property
    def warning(self) -> str | None:
        """A warning when this machine has fewer cores than the processes the peak needs."""
        if self.needed is None or self.needed <= self.cores:
            return None
        return (f"this machine has {self.cores} {'core' if self.cores == 1 else 'cores'}, and the peak needs "
                f"{self.needed} load processes: run workers on more machines (`loadkit run --master` with "
                f"`loadkit worker` on each; {SCALE_DOC})")

    @property
    def lines(self) -> list[str]:
        """What ``loadkit plan`` prints about it."""
        if self.needed is None or self.calibration is None:
            return [f"load processes: {self.missing}"]
        cal = self.calibration
        how = "" if self.needed == 1 else \
            f"; `loadkit run --workers {self.needed}`" if self.needed <= self.cores else ""
        caution = "" if cal.limited_by == "cpu" else \
            " (a cautious figure: the calibration could not raise the rate to that share of a core)"
        return [f"load processes: peak {_rate(self.peak_per_s)} visitors/s needs {self.needed} "
                f"({cal.per_process_per_s:,.0f}/s per process at {cal.cpu_target:.0%} of a core, calibrated on "
                f"this machine {cal.date}{caution}){how}"]

    def to_dict(self) -> dict[str, Any]:
        """The ``load_processes`` field of ``loadkit plan --json``."""
        cal = self.calibration
        return {"needed": self.needed, "peak_per_s": self.peak_per_s, "cores": self.cores,
                "per_process_per_s": cal.per_process_per_s if cal else None,
                "calibrated_at": cal.measured_at if cal else None,
                "limited_by": cal.limited_by if cal else None,
                "warning": self.warning, "missing": self.missing}


def load_processes(scenario: Scenario, plan: Plan, spec: str, environ: Mapping[str, str] | None = None,
                   machine: Machine | None = None) -> LoadProcesses:
    """The load processes ``plan`` needs at its peak on this machine, from its saved calibration.
    ``spec``: how the user named the scenario (for the command that calibrates it)."""
    machine = machine or this_machine()
    peak, cores = plan.max_level, machine.cores
    if scenario.locustfile:
        return LoadProcesses(peak, cores, missing="not estimated: `loadkit calibrate` measures a scenario's "
                                                  "journeys, not a locustfile's tasks")
    if plan.model == "users":
        return LoadProcesses(peak, cores, missing="not estimated for the closed model (its visits a second depend "
                                                  "on the site's response times)")
    found = find_calibration(scenario, environ, machine)
    if plan.profile == "search":  # its levels are chosen as it runs, in one process (no --workers)
        reach = f"one process starts up to {found.per_process_per_s:,.0f}/s on this machine (calibrated " \
                f"{found.date}): levels above that measure loadkit, not the site" if found else \
                f"`loadkit calibrate {spec}` measures how far one process reaches on this machine"
        return LoadProcesses(peak, cores, calibration=found,
                             missing=f"a capacity search runs in one load process; {reach}")
    if found is None:
        return LoadProcesses(peak, cores, missing=f"not calibrated on this machine; `loadkit calibrate {spec}` "
                                                  "measures one process's rate for these journeys (about 10 s, "
                                                  "against a local server on 127.0.0.1), then `loadkit plan` says "
                                                  "how many processes the peak needs")
    return LoadProcesses(peak, cores, needed=processes_needed(peak, found.per_process_per_s), calibration=found)


def _rate(per_s: float) -> str:
    """``1,800`` or ``12`` or ``0.8``: whole numbers once they are large."""
    return f"{per_s:,.0f}" if per_s >= 100 else f"{per_s:.3g}"
