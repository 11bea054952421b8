"""Traffic plans: profiles as pure functions of time, the audience compiler, and arrival schedules.

A :class:`Plan` is a chain of segments, each a closed-form curve of planned arrivals per second (open
model) or planned users (closed model). Arrival times are found by inverting the curve's integral, so the
number of arrivals up to any time equals the planned integral (rounded), whatever the spacing.
Nothing here sends a request or reads a clock.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from .scenario import BurstTraffic, ConstantTraffic, PointsTraffic, Scenario, SearchTraffic, StepsTraffic
from .search import limits_of

LN2 = math.log(2.0)


@dataclass(frozen=True)
class Segment:
    """A piece of the plan: linear from ``r0`` to ``r1``, or an exponential decay from ``r0`` to ``floor``."""

    start: float
    end: float
    r0: float
    r1: float
    half_life: float | None = None  # set for an exponential decay toward ``r1`` (the floor)

    @property
    def length(self) -> float:
        """Seconds the segment lasts."""
        return self.end - self.start

    def rate(self, t: float) -> float:
        """Planned rate at absolute time ``t`` (inside the segment)."""
        tau = min(max(t - self.start, 0.0), self.length)
        if self.half_life:
            return self.r1 + (self.r0 - self.r1) * math.exp(-LN2 * tau / self.half_life)
        if self.length <= 0:
            return self.r0
        return self.r0 + (self.r1 - self.r0) * tau / self.length

    def integral(self, tau: float) -> float:
        """Planned arrivals from the segment's start to ``start + tau``."""
        tau = min(max(tau, 0.0), self.length)
        if self.half_life:
            lam = LN2 / self.half_life
            return self.r1 * tau + (self.r0 - self.r1) * (1 - math.exp(-lam * tau)) / lam
        if self.length <= 0:
            return 0.0
        slope = (self.r1 - self.r0) / self.length
        return self.r0 * tau + slope * tau * tau / 2

    def invert(self, n: float) -> float:
        """Offset ``tau`` into the segment at which ``integral(tau) == n`` (0 <= n <= total)."""
        if n <= 0:
            return 0.0
        if not self.half_life:
            slope = (self.r1 - self.r0) / self.length if self.length > 0 else 0.0
            if abs(slope) < 1e-12:
                return n / self.r0 if self.r0 > 0 else self.length
            disc = self.r0 * self.r0 + 2 * slope * n
            return min(self.length, max(0.0, (-self.r0 + math.sqrt(max(disc, 0.0))) / slope))
        lo, hi = 0.0, self.length  # the integral is increasing: bisection is safe and exact enough
        for _ in range(60):
            mid = (lo + hi) / 2
            if self.integral(mid) < n:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2


class PhaseName(StrEnum):
    """The phases a plan is made of (a steps profile's are ``step-1``, ``step-2``, ...: see :func:`step_phase`)."""

    BASELINE = "baseline"
    RAMP = "ramp"
    PEAK = "peak"
    DECAY = "decay"
    PROBE_RAMP = "probe-ramp"  # the headroom probe: its ramp ...
    PROBE = "probe"  # ... and its hold at required_headroom x the peak
    RECOVERY = "recovery"
    STEADY = "steady"  # a constant profile
    CUSTOM = "custom"  # a points profile


PROBE_PHASES = frozenset({PhaseName.PROBE_RAMP.value, PhaseName.PROBE.value})


def step_phase(i: int) -> str:
    """The name of a steps profile's ``i``-th step (from 1)."""
    return f"step-{i}"


LEVEL_PREFIX = "level-"
COOL_DOWN_PREFIX = "cool-down-"


def level_phase(i: int) -> str:
    """The name of a search's ``i``-th level (from 1)."""
    return f"{LEVEL_PREFIX}{i}"


def cool_down_phase(i: int) -> str:
    """The name of the cool-down after a search's ``i``-th level."""
    return f"{COOL_DOWN_PREFIX}{i}"


@dataclass(frozen=True)
class Phase:
    """A named stretch of the plan (baseline, ramp, peak, decay, probe, recovery, step-3, ...)."""

    name: str
    start: float
    end: float
    level: float  # highest planned rate (or users) in the phase


@dataclass(frozen=True)
class Plan:
    """The planned traffic of a run."""

    model: str  # "arrivals" (open) or "users" (closed)
    profile: str
    segments: tuple[Segment, ...]
    phases: tuple[Phase, ...]
    planned_peak: float  # the highest planned level the site must survive (the probe excluded)
    probe_level: float | None = None
    spacing: str = "uniform"
    seed: int = 1
    expected_visitors: float | None = None  # from the audience compiler: the burst's integral above baseline
    rate_scale: float = 1.0  # the fraction of the moment's rates this plan runs (scenario x --rate-scale)
    duration_scale: float = 1.0  # the fraction of the moment's length this plan runs (--duration-scale)

    @property
    def sample_share(self) -> float:
        """The share of the real moment's visitors this plan sends: rate_scale x duration_scale."""
        return self.rate_scale * self.duration_scale

    @property
    def duration(self) -> float:
        """Total planned seconds."""
        return self.segments[-1].end if self.segments else 0.0

    @property
    def max_level(self) -> float:
        """Highest planned level anywhere, probe included."""
        return max(max(s.r0, s.r1) for s in self.segments)

    def rate(self, t: float) -> float:
        """Planned arrivals per second (or users) at time ``t``; 0 outside the plan."""
        if t < 0 or t > self.duration:
            return 0.0
        for seg in self.segments:
            if t <= seg.end:
                return seg.rate(t)
        return 0.0

    def integral(self, t0: float, t1: float) -> float:
        """Planned arrivals between ``t0`` and ``t1``."""
        return self._cumulative(t1) - self._cumulative(t0)

    def _cumulative(self, t: float) -> float:
        total = 0.0
        for seg in self.segments:
            if t <= seg.start:
                break
            total += seg.integral(min(t, seg.end) - seg.start)
        return total

    @property
    def total_arrivals(self) -> float:
        """Planned arrivals over the whole plan."""
        return self._cumulative(self.duration)

    def phase_at(self, t: float) -> str:
        """Name of the phase that contains ``t``."""
        for phase in self.phases:
            if phase.start <= t < phase.end:
                return phase.name
        return self.phases[-1].name if self.phases else "run"

    def arrival_times(self, worker_index: int = 0, worker_count: int = 1) -> Iterator[float]:
        """Planned arrival times (seconds from the run's start), in order, for one of ``worker_count`` workers.

        Every worker walks the same global schedule and keeps the arrivals ``k`` with
        ``k % worker_count == worker_index``, so together they deliver exactly the plan.
        """
        rng = random.Random(self.seed)
        k = 0
        target = 0.5 if self.spacing == "uniform" else rng.expovariate(1.0)
        done = 0.0  # integral of all segments before the current one
        for seg in self.segments:
            seg_total = seg.integral(seg.length)
            while target <= done + seg_total:
                if k % worker_count == worker_index:
                    yield seg.start + seg.invert(target - done)
                k += 1
                target += 1.0 if self.spacing == "uniform" else rng.expovariate(1.0)
            done += seg_total


def _chain(pieces: list[tuple[str, float, float, float, float | None]]
           ) -> tuple[tuple[Segment, ...], tuple[Phase, ...]]:
    """Build segments and phases from (phase, length, r0, r1, half_life) pieces; zero lengths are skipped."""
    segments: list[Segment] = []
    phases: list[Phase] = []
    t = 0.0
    for name, length, r0, r1, half_life in pieces:
        if length <= 0:
            continue
        segments.append(Segment(t, t + length, r0, r1, half_life))
        phases.append(Phase(name, t, t + length, max(r0, r1)))
        t += length
    return tuple(segments), tuple(phases)


def compile_audience_peak(traffic: BurstTraffic, decay: float) -> float:
    """The peak rate whose burst (above baseline) integrates to the audience's expected visitors.

    visitors = (peak - baseline) * (ramp / 2 + hold + half_life / ln2 * (1 - 2 ** (-decay / half_life)))
    """
    assert traffic.audience is not None
    h = traffic.decay_half_life
    shape = traffic.ramp / 2 + traffic.hold + h / LN2 * (1 - 2 ** (-decay / h))
    return traffic.baseline + traffic.audience.visitors / shape


def build_plan(scenario: Scenario, rate_scale: float = 1.0, duration_scale: float = 1.0) -> Plan:
    """Compile a scenario's traffic section into a :class:`Plan`.

    ``rate_scale`` multiplies every rate (on top of the scenario's own ``rate_scale``);
    ``duration_scale`` multiplies every length of time, half-lives included.
    """
    tr = scenario.traffic
    scale = tr.rate_scale * rate_scale
    ds = duration_scale
    common = dict(model=tr.model, profile=tr.profile, spacing=tr.spacing, seed=tr.seed, rate_scale=scale,
                  duration_scale=ds)
    if isinstance(tr, BurstTraffic):
        if tr.audience is not None:
            decay = tr.decay if tr.decay is not None else tr.audience.window - tr.ramp - tr.hold
            peak = compile_audience_peak(tr, decay)
            visitors: float | None = tr.audience.visitors * scale * ds
        else:
            decay = tr.decay if tr.decay is not None else 3 * tr.decay_half_life
            peak = tr.peak or 0.0
            visitors = None
        base, peak = tr.baseline * scale, peak * scale
        h = tr.decay_half_life * ds
        end_of_decay = base + (peak - base) * 2 ** (-decay / tr.decay_half_life)
        pieces: list[tuple[str, float, float, float, float | None]] = [
            (PhaseName.BASELINE.value, tr.lead_in * ds, base, base, None),
            (PhaseName.RAMP.value, tr.ramp * ds, base, peak, None),
            (PhaseName.PEAK.value, tr.hold * ds, peak, peak, None),
            (PhaseName.DECAY.value, decay * ds, peak, base, h),
        ]
        probe = None
        policy = scenario.verdict
        if policy.headroom_probe:
            probe = peak * policy.required_headroom
            if tr.audience is not None and tr.audience.visit_share_high is not None:
                # an uncertain estimate: the probe reaches at least the high end's peak
                high = base + (peak - base) * tr.audience.visit_share_high / tr.audience.visit_share
                probe = max(probe, high)
            pieces += [(PhaseName.PROBE_RAMP.value, policy.probe_ramp * ds, end_of_decay, probe, None),
                       (PhaseName.PROBE.value, policy.probe_hold * ds, probe, probe, None)]
        pieces.append((PhaseName.RECOVERY.value, tr.recovery * ds, base, base, None))
        segments, phases = _chain(pieces)
        return Plan(segments=segments, phases=phases, planned_peak=peak, probe_level=probe,
                    expected_visitors=visitors, **common)  # type: ignore[arg-type]
    if isinstance(tr, StepsTraffic):
        pieces = []
        for i in range(tr.steps):
            level = (tr.start + i * tr.step) * scale
            pieces.append((step_phase(i + 1), tr.step_duration * ds, level, level, None))
        segments, phases = _chain(pieces)
        return Plan(segments=segments, phases=phases, planned_peak=max(p.level for p in phases),
                    **common)  # type: ignore[arg-type]
    if isinstance(tr, SearchTraffic):
        # Only the first level is known before the run: the search decides the next ones as it goes
        # (run/searching.py), and records the plan it ran (search_plan) in plan.json.
        # --duration-scale shortens its time bound (search.limits_of), never its levels.
        return search_plan(scenario, [(0.0, limits_of(scenario, rate_scale).first)], rate_scale, ds)
    if isinstance(tr, ConstantTraffic):
        segments, phases = _chain([(PhaseName.STEADY.value, tr.duration * ds, tr.rate * scale, tr.rate * scale, None)])
        return Plan(segments=segments, phases=phases, planned_peak=tr.rate * scale, **common)  # type: ignore[arg-type]
    assert isinstance(tr, PointsTraffic)
    pieces = [(PhaseName.CUSTOM.value, (b[0] - a[0]) * ds, a[1] * scale, b[1] * scale, None)
              for a, b in pairwise(tr.points)]
    segments, _ = _chain(pieces)
    phases = (Phase(PhaseName.CUSTOM.value, 0.0, segments[-1].end, max(max(s.r0, s.r1) for s in segments)),)
    return Plan(segments=segments, phases=phases, planned_peak=phases[0].level, **common)  # type: ignore[arg-type]


def search_plan(scenario: Scenario, levels: list[tuple[float, float]], rate_scale: float = 1.0,
                duration_scale: float = 1.0) -> Plan:
    """The plan of a search that ran ``levels`` ((start, rate) each, in order): each level lasts
    ``level_duration``, then the rate is zero until the next level starts (``cool-down-N``); the last
    level is followed by a cool-down of ``cool_down``. Levels start on whole windows, so gaps are too.
    ``duration_scale`` is recorded: it shortens the search's time bound (search.limits_of), not its levels."""
    tr = scenario.traffic
    assert isinstance(tr, SearchTraffic)
    segments: list[Segment] = []
    phases: list[Phase] = []
    for i, (start, rate) in enumerate(levels):
        end = start + tr.level_duration
        next_start = levels[i + 1][0] if i + 1 < len(levels) else end + tr.cool_down
        segments += [Segment(start, end, rate, rate), Segment(end, next_start, 0.0, 0.0)]
        phases += [Phase(level_phase(i + 1), start, end, rate), Phase(cool_down_phase(i + 1), end, next_start, 0.0)]
    return Plan(model=tr.model, profile=tr.profile, segments=tuple(segments), phases=tuple(phases),
                planned_peak=max(rate for _, rate in levels), spacing=tr.spacing, seed=tr.seed,
                rate_scale=tr.rate_scale * rate_scale, duration_scale=duration_scale)


def level_times(plan: Plan, start: float, rate: float, length: float, index: int) -> Iterator[float]:
    """Arrival times of one search level (``rate`` from ``start`` for ``length`` seconds), spaced as the
    plan says; Poisson draws are seeded per level, so a search replays when its levels do."""
    one = Plan(model=plan.model, profile=plan.profile, segments=(Segment(start, start + length, rate, rate),),
               phases=(), planned_peak=rate, spacing=plan.spacing, seed=plan.seed * 1000 + index)
    return one.arrival_times()


def is_probe(phase: str) -> bool:
    """Whether a phase is part of the headroom probe (its ramp or its hold)."""
    return phase in PROBE_PHASES


def judged_phases(plan: Plan) -> tuple[str, ...]:
    """Phases in which SLOs decide survives/fails: everything up to the headroom probe."""
    names: list[str] = []
    for phase in plan.phases:
        if is_probe(phase.name):
            break
        names.append(phase.name)
    return tuple(names)


def plan_to_dict(plan: Plan) -> dict[str, object]:
    """Plain data for ``plan.json`` in the run directory."""
    return {
        "model": plan.model,
        "profile": plan.profile,
        "duration_s": plan.duration,
        "planned_peak": plan.planned_peak,
        "probe_level": plan.probe_level,
        "total_planned": plan.total_arrivals,
        "expected_visitors": plan.expected_visitors,
        "rate_scale": plan.rate_scale,
        "duration_scale": plan.duration_scale,
        "spacing": plan.spacing,
        "seed": plan.seed,
        "segments": [vars(s) for s in plan.segments],
        "phases": [vars(p) for p in plan.phases],
    }


def plan_from_dict(data: dict[str, object]) -> Plan:
    """Inverse of :func:`plan_to_dict`."""
    return Plan(
        model=str(data["model"]), profile=str(data["profile"]),
        segments=tuple(Segment(**s) for s in data["segments"]),  # type: ignore[attr-defined]
        phases=tuple(Phase(**p) for p in data["phases"]),  # type: ignore[attr-defined]
        planned_peak=float(data["planned_peak"]),  # type: ignore[arg-type]
        probe_level=data.get("probe_level"),  # type: ignore[arg-type]
        spacing=str(data.get("spacing", "uniform")), seed=int(data.get("seed", 1)),  # type: ignore[call-overload]
        expected_visitors=data.get("expected_visitors"),  # type: ignore[arg-type]
        rate_scale=float(data.get("rate_scale", 1.0)),  # type: ignore[arg-type]
        duration_scale=float(data.get("duration_scale", 1.0)),  # type: ignore[arg-type]
    )
