"""The calibration's load: a scenario's visitors started in this process at a rate raised until the process
uses about the planned share of a core, measuring its CPU (user + system) per visit.

The visitors, the crew of greenlets, the arrival dispatcher and the recorder are a run's own
(``local.py``): what a visit costs here is what it costs in a run. The rate is not planned ahead (a visit
costs from a tenth of a millisecond to several, so no fixed plan fits every scenario): every tick the
controller reads the process's CPU and raises the rate toward the target share, then holds it and
measures. It lowers the rate when the visits show strain (arrivals late, visits piling up, failures).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import gevent

from . import hiccups
from .arrivals import dispatch, drain
from .context import build_context
from .job import RunJob
from .local import load_environment
from .process import burst_tolerant_gc, cpu_sampler
from .recorder import Recorder

__all__ = ["Measurement", "Tick", "measure_visits"]

TICK_S = 0.5
START_RATE = 40.0  # visitors/s: cheap for any scenario, enough to read a first CPU share
MAX_RATE = 50_000.0


@dataclass(frozen=True)
class Tick:
    """What one tick of the calibration saw."""

    rate: float  # the rate asked for
    seconds: float
    cpu_s: float  # the process's CPU time (user + system)
    started: int  # visits started
    late: int  # of which more than 100 ms late
    requests: int
    failures: int
    in_flight: int  # visits not finished at the tick's end
    held: bool  # part of the measuring hold (not the ramp)

    @property
    def cpu_share(self) -> float:
        """The share of one core the process used."""
        return self.cpu_s / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Measurement:
    """The ticks of a calibration, and how its visits ended."""

    ticks: list[Tick] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)  # completed, or the failure kind that ended a visit
    strained: bool = False  # the rate was lowered for late arrivals, failures or visits piling up

    @property
    def held(self) -> list[Tick]:
        """The ticks the figure is read from: those held at the last rate, less the first (the change's
        own tick); at least the last two ticks."""
        if not self.ticks:
            return []
        final = self.ticks[-1].rate
        run: list[Tick] = []
        for tick in reversed(self.ticks):
            if not tick.held or tick.rate != final:
                break
            run.insert(0, tick)
        if len(run) >= 3:
            run = run[1:]
        return run if len(run) >= 2 else self.ticks[-2:]


class _Rate:
    """The controller's rate, read by the arrival times it generates."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.end = 0.0

    def times(self) -> Iterator[float]:
        t = 0.05
        while t < self.end:
            yield t
            t += 1.0 / self.rate


def measure_visits(job: RunJob, seconds: float, cpu_target: float,
                   on_tick: Callable[[Tick], None] | None = None) -> Measurement:
    """Start ``job``'s visitors at a rising rate for ``seconds``, aiming at ``cpu_target`` of a core; return
    every tick's figures. ``job.target`` must be the calibration server (nothing else is checked here)."""
    with burst_tolerant_gc():
        recorder = Recorder()
        env = load_environment(job, recorder)
        ctx = build_context(env, job, recorder)
        found = Measurement()
        factory = ctx.factory
        journey_seen = getattr(factory, "on_journey", None)

        def on_journey(journey: str, start: float, duration: float, outcome: str, step: int) -> None:
            found.outcomes[outcome] += 1
            if journey_seen is not None:
                journey_seen(journey, start, duration, outcome, step)

        if hasattr(factory, "on_journey"):
            factory.on_journey = on_journey
        control = _Rate(START_RATE)
        control.end = seconds
        t0 = time.time()
        ctx.t0 = t0
        recorder.start_clock(t0)
        dispatcher = gevent.spawn(dispatch, control.times(), t0, factory.visit, recorder, ctx.crew, ctx.stop, None)
        meter = hiccups.start(recorder, cpu_sampler())  # a run's fixed cost, so it is in the figure too
        try:
            _control(control, recorder, ctx.crew.__len__, seconds, cpu_target, found, on_tick)
        finally:
            meter.kill()
            ctx.stop.set()
            dispatcher.join(timeout=2)
            dispatcher.kill()
            drain(ctx.crew, 2.0)
    return found


def _control(control: _Rate, recorder: Recorder, in_flight: Callable[[], int], seconds: float,
             cpu_target: float, found: Measurement, on_tick: Callable[[Tick], None] | None) -> None:
    """Every tick: read the process's CPU and the visits, then raise, hold or lower the rate."""
    ramp_until = seconds * 0.55  # the rest of the time, at least, is the hold that is measured
    holding = False
    start = time.monotonic()
    last = (start, time.process_time(), 0, 0, 0, 0)
    while True:
        due = start + (len(found.ticks) + 1) * TICK_S
        if due > start + seconds:
            return
        gevent.sleep(max(0.0, due - time.monotonic()))
        recorder.flush()  # as a run's supervisor does: per-second cells do not pile up
        recorder.flush_scenario_errors()
        now = (time.monotonic(), time.process_time(), recorder.total_started, recorder.total_late,
               recorder.total_requests, recorder.total_failures)
        tick = Tick(rate=control.rate, seconds=now[0] - last[0], cpu_s=now[1] - last[1], started=now[2] - last[2],
                    late=now[3] - last[3], requests=now[4] - last[4], failures=now[5] - last[5],
                    in_flight=in_flight(), held=holding)
        last = now
        found.ticks.append(tick)
        if on_tick is not None:
            on_tick(tick)
        share = tick.cpu_share
        strained = (tick.late > 0.02 * max(tick.started, 1) or tick.failures > 0.05 * max(tick.requests, 1)
                    or tick.in_flight > max(50.0, control.rate * 0.25))
        if strained:  # back off, then hold and measure there
            control.rate = max(START_RATE / 4, control.rate * 0.7)
            found.strained = True
            holding = True
            continue
        if holding:
            continue
        if share >= cpu_target * 0.9 or time.monotonic() - start >= ramp_until:
            if share > cpu_target * 1.1:  # overshot: settle at the target
                control.rate *= cpu_target / share
            holding = True
            continue
        # Fixed costs (the meter, the loop's wakes) make the share at a low rate overstate a visit's cost, so
        # the step toward the target is taken whole, at least 1.25x and at most 4x a tick.
        control.rate = min(MAX_RATE, control.rate * min(4.0, max(1.25, cpu_target / max(share, 1e-3))))
