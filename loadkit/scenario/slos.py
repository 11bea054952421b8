"""The ``slos:``, ``verdict:`` and ``safety:`` sections: what the site must keep up, how the verdict is
reached, and the rails that protect the site during the run."""

from __future__ import annotations

import math
import re
from functools import cached_property
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ..units import parse_duration, parse_percent
from .errors import FieldProblem
from .fields import Duration, FrozenModel, Percent, Rate


JOURNEY_METRICS = ("success_rate", "p50_duration", "p75_duration", "p90_duration", "p95_duration", "p99_duration",
                   "max_duration", "mean_duration")


class Slo(FrozenModel):
    """A service level: a metric that must stay below a limit (over the run, an endpoint, a phase), or, for a
    journey, a share of visits that must complete (``success_rate`` above a limit) or a visit duration."""

    metric: Literal["p50", "p75", "p90", "p95", "p99", "max", "mean", "error_rate", "success_rate", "p50_duration",
                    "p75_duration", "p90_duration", "p95_duration", "p99_duration", "max_duration", "mean_duration"]
    below: str | float | None = Field(None, description="Latency or visit-duration limit ('800ms', '8s') or error "
                                                        "rate limit ('1%').")
    above: str | float | None = Field(None, description="A journey's success_rate only: the share of its visits "
                                                        "that must complete ('99%').")
    endpoint: str | None = Field(None, description="Endpoint name; default: all requests.")
    journey: str | None = Field(None, description="A journey's name: the SLO is on its visits (success_rate, "
                                                  "p95_duration, ...), not on requests.")
    phase: str | None = Field(None, description="Only this phase (baseline, ramp, peak, decay, probe, ...).")

    # Parsed once, at validation (cached properties; ``below`` keeps what the user wrote, for names and the
    # saved scenario): analysis compares every second of every scope against the limit.
    @model_validator(mode="after")
    def _parse_limit(self) -> Slo:
        on_journey = self.metric in JOURNEY_METRICS
        if on_journey and self.journey is None:
            raise ValueError(f"the metric {self.metric} is a journey's: add journey: NAME")
        if self.journey is not None and not on_journey:
            raise ValueError(f"a journey SLO's metric is one of {', '.join(JOURNEY_METRICS)}, got {self.metric}")
        if self.journey is not None and self.endpoint is not None:
            raise ValueError("give endpoint or journey, not both")
        if self.metric == "success_rate":
            if self.above is None or self.below is not None:
                raise FieldProblem("above", "success_rate takes above: (the share of visits that must complete, "
                                            "e.g. 99%), not below:")
        elif self.above is not None:
            raise FieldProblem("above", f"{self.metric} takes below: (a limit), not above:")
        elif self.below is None:
            raise FieldProblem("below", f"this field is required: {self.metric} needs a limit (below: 800ms, or "
                                        "1% for error_rate)")
        self.limit  # noqa: B018 - parsed (and cached) here, where a bad value is the user's error
        return self

    @cached_property
    def limit(self) -> float:
        """Threshold in milliseconds (latency and duration metrics) or as a fraction (error_rate, success_rate)."""
        if self.metric == "success_rate":
            assert self.above is not None
            return parse_percent(self.above)
        assert self.below is not None
        if self.metric == "error_rate":
            return parse_percent(self.below)
        return parse_duration(self.below) * 1000.0

    @cached_property
    def name(self) -> str:
        """A unique, readable name: ``p95 < 800ms [POST /checkout]``, ``success_rate > 99% [journey buy]``."""
        scope = f" [{self.endpoint}]" if self.endpoint else f" [journey {self.journey}]" if self.journey else ""
        phase = f" during {self.phase}" if self.phase else ""
        if self.metric == "success_rate":
            return f"{self.metric} > {self.above}{scope}{phase}"
        return f"{self.metric} < {self.below}{scope}{phase}"


class Business(FrozenModel):
    """What an order is worth: the journey that places orders and an average order value (stated, not guessed)."""

    orders: str = Field(description="The journey whose completed visits are orders (e.g. buy).")
    order_value: str | float | None = Field(None, description="Average order value with its currency, e.g. "
                                                              "'42 EUR' (a number alone has no currency).")

    @field_validator("order_value")
    @classmethod
    def _value_parses(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_money(value)
        return value

    @property
    def amount(self) -> float | None:
        """The average order value's amount."""
        return None if self.order_value is None else parse_money(self.order_value)[0]

    @property
    def currency(self) -> str:
        """The average order value's currency ('' when none was given)."""
        return "" if self.order_value is None else parse_money(self.order_value)[1]


def parse_money(value: str | float) -> tuple[float, str]:
    """``'42 EUR'`` -> (42.0, 'EUR'); ``'€42.50'`` -> (42.5, '€'); a number has no currency."""
    if isinstance(value, bool):
        raise ValueError(f"expected an amount like '42 EUR', got {value!r}")
    if isinstance(value, int | float):
        amount, currency = float(value), ""
    else:
        match = re.fullmatch(r"\s*([^\d\s.,-]*)\s*(\d+(?:\.\d+)?)\s*([^\d\s.,-]*)\s*", value.replace("_", ""))
        if match is None or (match.group(1) and match.group(3)):
            raise ValueError(f"expected an amount like '42 EUR' or '42.50', got {value!r}")
        amount, currency = float(match.group(2)), match.group(1) or match.group(3)
    if amount <= 0 or math.isinf(amount):
        raise ValueError(f"an order value must be above 0, got {value!r}")
    return amount, currency


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


__all__ = ["JOURNEY_METRICS", "AbortWhen", "Business", "Safety", "Slo", "VerdictPolicy", "parse_money"]
