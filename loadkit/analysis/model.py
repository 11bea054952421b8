"""The analysis's results: frozen, computed once from a run directory, read by the verdict and the reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import scenario_errors as scenario_faults
from ..held import Break
from ..scenario import Slo
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
class Analysis:
    """Everything the verdict and the reports need, computed from a run directory."""

    meta: dict[str, Any]
    scenario: dict[str, Any]
    plan: Plan
    seconds: pd.DataFrame  # per second: planned, started, dropped, late, requests, failures, rps, p50..max,
    # hiccup_ms (the longest stall of a load process's event loop), cpu (the busiest load process, % of a core)
    endpoints: pd.DataFrame  # per endpoint over the run: method, requests, failures, error_rate, p50..max
    endpoint_seconds: pd.DataFrame  # per (second, endpoint): requests, failures, p95
    errors_by_kind: pd.DataFrame  # per (second, kind): count
    error_kinds: pd.DataFrame  # per (endpoint, kind): count, first_s
    phases: pd.DataFrame  # per phase: start, end, level, planned, started, requests, error_rate, p95
    totals: dict[str, Any]
    traffic: dict[str, Any]
    slo_results: tuple[SloResult, ...]
    capacity: dict[str, Any]
    recovery: dict[str, Any]
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


__all__ = ["Analysis", "SloResult"]
