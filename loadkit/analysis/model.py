"""The analysis's results: frozen, computed once from a run directory, read by the verdict and the reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pandas as pd

from .. import scenario_errors as scenario_faults
from ..held import Break, Capacity
from ..run_meta import RunMeta
from ..search import Bracket
from ..scenario import Scenario, Slo
from ..journeys import JourneyResult
from ..traffic import Plan


@dataclass(frozen=True)
class SloResult:
    """One SLO observed over one scope."""

    slo: Slo
    scope: str  # "run" (everything before the probe), "peak", "probe" (its ramp and hold) or a phase name
    observed: float | None
    passed: bool
    first_break_s: float | None  # start of the first counted break in the scope (None: held)
    requests: int
    until_s: float | None = None  # end of the sustained broken windows that ``observed`` covers
    over_scope: bool = True  # ``observed`` is the scope's merged total (False: the broken windows')
    scope_observed: float | None = None  # the scope's merged total, whatever ``observed`` shows

    @property
    def limit(self) -> float:
        """The SLO's threshold (ms, or a fraction for error_rate)."""
        return self.slo.limit


@dataclass(frozen=True)
class Totals:
    """The run's requests, latency (ms), errors and Apdex: ``totals`` in summary.json."""

    requests: int
    failures: int
    error_rate: float
    rps_peak: float  # highest 5-second mean of requests per second
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    ok_p50_ms: float | None  # successful requests only
    ok_p95_ms: float | None
    ok_p99_ms: float | None
    bytes: int
    apdex: float | None
    shedding_errors: int  # failures by class (loadkit/failures.py)
    collapse_errors: int
    other_errors: int


@dataclass(frozen=True)
class GeneratorHealth:
    """The load generator's pauses and CPU over the run (the hiccup meter, run/hiccups.py)."""

    hiccup_max_ms: float | None  # the longest stall of a load process's event loop
    paused_seconds: int  # seconds with a stall of PAUSE_MS or more
    generator_cpu_max: float | None  # the busiest load process's busiest second, % of a core
    saturated_seconds: int  # seconds at SATURATED_CPU or more


@dataclass(frozen=True)
class Traffic:
    """What traffic was planned and delivered: ``traffic`` in summary.json."""

    planned_arrivals: int | None  # None in the closed model (the plan is a number of users)
    delivered_arrivals: int  # visitors started (closed model: journeys begun)
    peak_planned_per_s: float
    probe_per_s: float | None
    peak_delivered_per_s: float  # highest 5-second mean of started visitors before the probe (users: the most)
    probe_delivered_per_s: float | None
    late_arrivals: int
    dropped_arrivals: int
    lateness_p99_ms: float | None
    lateness_max_ms: float | None
    delivered_share: float
    model: str  # arrivals | users
    cut_short: int  # visitors still walking when the plan and its drain ended, stopped mid-journey
    # where they stood: {journey, step_index, step, visitors} (frozen JSON), most first (an older run.json: none)
    cut_short_at: tuple[Mapping[str, Any], ...] = ()
    generator: GeneratorHealth | None = None  # None: a run recorded before loadkit measured it


@dataclass(frozen=True)
class Recovery:
    """When the site was healthy again after the load fell: ``recovery`` in summary.json."""

    measured: bool  # False: the plan has no recovery phase, or nothing was measured in it
    recovered: bool | None = None
    seconds: float | None = None  # from the recovery phase's start to the first window that stayed healthy
    window_s: int | None = None  # the windows' length (when measured)


@dataclass(frozen=True)
class Analysis:
    """Everything the verdict and the reports need, computed from a run directory."""

    meta: RunMeta
    scenario: Scenario
    plan: Plan
    seconds: pd.DataFrame  # per second: planned, started, dropped, late, requests, failures, rps, p50..max,
    # hiccup_ms (the longest stall of a load process's event loop), cpu (the busiest load process, % of a core)
    endpoints: pd.DataFrame  # per endpoint over the run: method, requests, failures, error_rate, p50..max
    endpoint_seconds: pd.DataFrame  # per (second, endpoint): requests, failures, p95
    errors_by_kind: pd.DataFrame  # per (second, kind): count
    error_kinds: pd.DataFrame  # per (endpoint, kind): count, first_s
    phases: pd.DataFrame  # per phase: start, end, level, planned, started, requests, error_rate, p95
    totals: Totals
    traffic: Traffic
    slo_results: tuple[SloResult, ...]
    capacity: Capacity
    recovery: Recovery
    latency_distribution: pd.DataFrame  # ms, count (all requests)
    error_samples: tuple[dict[str, Any], ...]
    broke_first: pd.DataFrame  # per endpoint, ranked: slo_break_s, slo, observed, limit, errors_began_s
    apdex_t_ms: float
    offsite: pd.DataFrame  # per endpoint: redirects to another host (not followed), an example location
    slos_defaulted: bool = False
    breaks: tuple[Break, ...] = ()  # counted breaks (held.py's rule), earliest first
    # The run and peak SLO results again, over the seconds the generator was neither paused nor saturated
    # (and the second before each such second); empty when there were no such seconds.
    undisturbed_slo_results: tuple[SloResult, ...] = ()
    # the scenario's own errors, apart from the site's (loadkit/scenario_errors.py): count, by_step, sample
    scenario_errors: dict[str, Any] = field(default_factory=scenario_faults.empty)
    # scenario.yaml as saved (secrets redacted): the report shows it as written
    scenario_document: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # per journey: visits started, completed, failed (at which step, which kind), cut short; durations
    journeys: tuple[JourneyResult, ...] = ()
    search: Bracket | None = None  # a capacity search's levels and bracket (profile: search)


__all__ = ["Analysis", "Capacity", "GeneratorHealth", "Recovery", "SloResult", "Totals", "Traffic"]
