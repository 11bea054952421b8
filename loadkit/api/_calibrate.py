"""``loadkit calibrate``: one load process's rate for a scenario's journeys on this machine, measured
against a local catch-all server and saved for ``loadkit plan``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..calibration import (CPU_TARGET, Calibration, Machine, calibration_scenario, journeys_fingerprint,
                           save_calibration, this_machine)
from ..errors import RunError, UsageError
from ..scenario import load_scenario, scenario_base_dir
from ..traffic import build_plan

if TYPE_CHECKING:
    from ..run.calibrate import Measurement, Tick

__all__ = ["DEFAULT_SECONDS", "CalibrationResult", "calibrate"]

DEFAULT_SECONDS = 10.0
MIN_SECONDS, MAX_SECONDS = 3.0, 120.0
MIN_VISITS = 20  # fewer measured visits than this say nothing about one


def _silent(_message: str) -> None:
    """Say nothing."""


@dataclass(frozen=True)
class CalibrationResult:
    """A calibration measured and saved."""

    spec: str
    calibration: Calibration
    path: Path
    failed_visits: int  # visits that stopped at a failed step (their cost is less than a whole visit's)
    visits: int
    page_resources: bool  # the scenario fetches page resources, which the catch-all's page has none of

    @property
    def lines(self) -> list[str]:
        """What ``loadkit calibrate`` prints."""
        cal = self.calibration
        machine = cal.machine
        lines = [f"{cal.scenario}: one load process starts {cal.per_process_per_s:,.0f} visitors/s at "
                 f"{cal.cpu_target:.0%} of a core on this machine ({machine.hostname}, {machine.cores} "
                 f"{'core' if machine.cores == 1 else 'cores'}, {machine.cpu_model})",
                 f"  measured: {cal.measured_per_s:,.0f} visitors/s for {cal.seconds:.1f} s using "
                 f"{cal.measured_cpu:.0%} of a core: {cal.cpu_ms_per_visit:.3f} ms of CPU a visit, "
                 f"{cal.requests_per_visit:.1f} requests a visit (the journeys without think times, against "
                 "a catch-all server on 127.0.0.1)"]
        if cal.limited_by != "cpu":
            why = "visits showed strain (late, failing or piling up)" if cal.limited_by == "target" else \
                "the time ran out"
            lines.append(f"  a cautious figure: {why} before the process reached {cal.cpu_target:.0%} of a core, "
                         "and a visit's share of the fixed costs is larger at a lower rate")
        if self.failed_visits:
            lines.append(f"  {self.failed_visits:,} of {self.visits:,} visits stopped at a failed step: "
                         "their cost is less than a whole visit's")
        if self.page_resources:
            lines.append("  page resources are not in the figure (the calibration server's page links none): "
                         "each asset a page brings costs about as much as a request")
        lines.append(f"saved to {self.path}; `loadkit plan {self.spec}` now states the load processes its peak "
                     "needs")
        return lines


def calibrate(spec: str, seconds: float = DEFAULT_SECONDS, environ: Mapping[str, str] | None = None,
              on_status: Callable[[str], None] = _silent) -> CalibrationResult:
    """Measure one load process's sustainable rate for ``spec``'s journeys on this machine and save it.

    A catch-all server is started on 127.0.0.1 in a process of its own; the journeys (think times, checks
    and extractors taken out: :func:`loadkit.calibration.calibration_scenario`) run in this process at a
    rate raised toward ``CPU_TARGET`` of a core for ``seconds``, and the CPU per visit is read where the
    rate was held. Starts the run stage (gevent) in this process. Nothing is sent elsewhere.
    """
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise UsageError(f"--seconds {seconds:g} is out of range.",
                         f"give {MIN_SECONDS:g} to {MAX_SECONDS:g} seconds (default {DEFAULT_SECONDS:g})")
    scenario = load_scenario(spec)
    if scenario.locustfile:
        raise UsageError(f"scenario {scenario.name} walks a locustfile's tasks: `loadkit calibrate` measures "
                         "journeys written in the scenario (a locustfile's waits and checks are its own).",
                         "calibrate a scenario with journeys like your file's tasks")
    from ..calibration.target import CatchAllServer
    from ..run import RunJob, RunOptions, prepare

    machine = this_machine()
    with CatchAllServer() as server:
        derived = calibration_scenario(scenario, server.url)
        job = RunJob(scenario=derived, plan=build_plan(derived), target=server.url,
                     options=RunOptions(rehearse=False, loopback_only=True))
        job = prepare(job, scenario_base_dir(spec))  # data sources and headers, read as a run reads them
        on_status(f"calibrating {scenario.name} for {seconds:g} s: its journeys without think times against a "
                  f"catch-all server at {server.url}, the rate raised toward {CPU_TARGET:.0%} of a core")
        from ..run.calibrate import measure_visits

        def tick_news(tick: Tick) -> None:
            on_status(f"  {tick.rate:,.0f} visitors/s asked, {tick.started / tick.seconds:,.0f} started, "
                      f"CPU {tick.cpu_share:.0%}{' (measured)' if tick.held else ''}")

        measured = measure_visits(job, seconds, CPU_TARGET, tick_news)
    return _save(spec, scenario.name, journeys_fingerprint(scenario), machine, measured, seconds,
                 scenario.page_resources != "off", environ)


def _save(spec: str, name: str, fingerprint: str, machine: Machine, measured: Measurement, seconds: float,
          page_resources: bool, environ: Mapping[str, str] | None) -> CalibrationResult:
    """Turn the held ticks into a calibration, refuse one that measured nothing, and save it."""
    held = measured.held
    visits = sum(t.started for t in held)
    cpu_s = sum(t.cpu_s for t in held)
    wall = sum(t.seconds for t in held)
    ended = sum(measured.outcomes.values()) - measured.outcomes["cut_short"]
    failed = ended - measured.outcomes["completed"]
    if visits < MIN_VISITS or cpu_s <= 0 or wall <= 0:
        raise RunError(f"the calibration started only {visits} visits where it measured, too few to tell what "
                       "one costs.", f"calibrate for longer (--seconds {min(MAX_SECONDS, seconds * 2):g}) on a "
                                     "quieter machine")
    if ended and failed > ended / 2:
        kinds = [k for k, _ in measured.outcomes.most_common() if k not in ("completed", "cut_short")]
        raise RunError(f"{failed:,} of {ended:,} visits failed against the calibration server "
                       f"({', '.join(kinds[:3])}), so their cost is not a visit's.",
                       "check the scenario's steps with `loadkit validate`; steps whose URL comes whole from "
                       "a value naming another host cannot be calibrated")
    per_visit = cpu_s / visits
    share = cpu_s / wall
    found = Calibration(
        scenario=name, journeys=fingerprint, machine=machine,
        measured_at=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        per_process_per_s=round(CPU_TARGET / per_visit, 1), cpu_ms_per_visit=round(per_visit * 1000, 4),
        measured_per_s=round(visits / wall, 1), measured_cpu=round(share, 3),
        requests_per_visit=round(_requests_per_visit(measured), 2), seconds=round(wall, 2),
        limited_by="cpu" if share >= 0.8 * CPU_TARGET else "target" if measured.strained else "time")
    path = save_calibration(found, environ)
    return CalibrationResult(spec=spec, calibration=found, path=path, failed_visits=failed, visits=ended,
                             page_resources=page_resources)


def _requests_per_visit(measured: Measurement) -> float:
    """Requests a visit, over the whole calibration: a tick counts the visits that started in it and the
    requests that ended in it, so one tick's ratio drifts with the visits in flight; the whole run's does not."""
    started = sum(t.started for t in measured.ticks)
    return sum(t.requests for t in measured.ticks) / started if started else 0.0
