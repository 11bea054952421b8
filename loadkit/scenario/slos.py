"""The ``slos:``, ``verdict:`` and ``safety:`` sections: what the site must keep up, how the verdict is
reached, and the rails that protect the site during the run."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from ..units import parse_duration, parse_percent
from .fields import Duration, FrozenModel, Percent, Rate


class Slo(FrozenModel):
    """A service level: a metric that must stay below a limit (over the run, an endpoint, a phase)."""

    metric: Literal["p50", "p75", "p90", "p95", "p99", "max", "mean", "error_rate"]
    below: str | float = Field(description="Latency limit ('800ms', '2s') or error rate limit ('1%').")
    endpoint: str | None = Field(None, description="Endpoint name; default: all requests.")
    phase: str | None = Field(None, description="Only this phase (baseline, ramp, peak, decay, probe, ...).")

    # Parsed once, at validation (cached properties; ``below`` keeps what the user wrote, for names and the
    # saved scenario): analysis compares every second of every scope against the limit.
    @model_validator(mode="after")
    def _parse_limit(self) -> Slo:
        self.limit  # noqa: B018 - parsed (and cached) here, where a bad value is the user's error
        return self

    @cached_property
    def limit(self) -> float:
        """Threshold in milliseconds (latency metrics) or as a fraction (error_rate)."""
        if self.metric == "error_rate":
            return parse_percent(self.below)
        return parse_duration(self.below) * 1000.0

    @cached_property
    def name(self) -> str:
        """A unique, readable name: ``p95 < 800ms [POST /checkout]``."""
        scope = f" [{self.endpoint}]" if self.endpoint else ""
        phase = f" during {self.phase}" if self.phase else ""
        return f"{self.metric} < {self.below}{scope}{phase}"


class VerdictPolicy(FrozenModel):
    """How the verdict is reached."""

    required_headroom: float = Field(1.5, ge=1.0, description="Capacity / planned peak needed to survive.")
    headroom_probe: bool = Field(True, description="End a burst with a probe at required_headroom x peak.")
    probe_ramp: Duration = Field(10.0, description="Time from baseline up to the probe level.")
    probe_hold: Duration = Field(20.0, gt=0, description="Time held at the probe level.")
    recovery_within: Duration = Field(30.0, description="After the load falls, the site must be back to "
                                                        "its baseline latency and error rate within this.")
    max_late_share: Percent = Field(0.02, description="Share of arrivals late or missing beyond which the "
                                                      "run is inconclusive.")
    apdex_t: Duration = Field(0.5, gt=0, description="Apdex threshold T: a successful response within T "
                                                     "satisfies, within 4T is tolerated, slower or failed "
                                                     "frustrates.")


class AbortWhen(FrozenModel):
    """Stop the load to protect the site when errors stay high."""

    error_rate: Percent
    for_: Duration = Field(30.0, alias="for")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Safety(FrozenModel):
    """Rails that protect the site under test."""

    max_rate: Rate | None = Field(None, description="Never start more arrivals per second than this.")
    abort_when: AbortWhen | None = None


__all__ = ["AbortWhen", "Safety", "Slo", "VerdictPolicy"]
