"""The ``traffic:`` section: which load profile (burst, steps, constant, points) and its numbers.

The plan these describe (rates over time, phases, arrival times) is computed in ``loadkit/traffic.py``.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from .fields import Duration, FrozenModel, Percent, Rate


class Audience(FrozenModel):
    """Marketing numbers: how many people see the moment, what share visits, over what window."""

    viewers: int = Field(gt=0, description="People who see the mention (TV viewers, mailing list).")
    visit_share: Percent = Field(description="Share of viewers who visit the site, e.g. '0.4%', or a range "
                                             "'0.1%..0.4%' (the plan's peak from the low end, its headroom "
                                             "probe at least the high end's peak).")
    visit_share_high: Percent | None = Field(None, description="The high estimate of the share (set by a "
                                                               "'low..high' visit_share).")
    window: Duration = Field(description="Time within which those visitors arrive (ramp + hold + decay).")

    @model_validator(mode="before")
    @classmethod
    def _share_range(cls, data: Any) -> Any:
        """``visit_share: 0.1%..0.4%``: an uncertain estimate, low end and high end."""
        if isinstance(data, dict) and isinstance(data.get("visit_share"), str) and ".." in data["visit_share"]:
            low, high = data["visit_share"].split("..", 1)
            data = {**data, "visit_share": low.strip(), "visit_share_high": high.strip()}
        return data

    @model_validator(mode="after")
    def _range_ordered(self) -> Audience:
        if self.visit_share_high is not None and self.visit_share_high < self.visit_share:
            raise ValueError("a visit_share range goes from the low estimate to the high one ('0.1%..0.4%')")
        return self

    @field_validator("visit_share")
    @classmethod
    def _share_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("visit_share must be above 0%")
        return value

    @property
    def visitors(self) -> float:
        """Expected visitors caused by the moment."""
        return self.viewers * self.visit_share


class _TrafficBase(FrozenModel):
    model: Literal["arrivals", "users"] = Field(
        "arrivals", description="arrivals: open model (visitors arrive on schedule, run one journey, leave); "
        "users: closed model (N looping users).")
    rate_scale: float = Field(1.0, gt=0, description="Run this fraction of the planned load (0.1 = 10%).")
    spacing: Literal["uniform", "poisson"] = Field(
        "uniform", description="How arrivals are spaced within each moment: evenly, or at random (Poisson).")
    seed: int = Field(1, description="Seed for journey choice, data draws and Poisson spacing.")


class BurstTraffic(_TrafficBase):
    """A viral burst: baseline -> ramp -> hold at peak -> exponential decay (-> headroom probe)."""

    profile: Literal["burst"] = "burst"
    baseline: Rate = Field(1.0, description="Everyday traffic before and after the moment.")
    peak: Rate | None = Field(None, description="Peak arrivals per second; or give audience.")
    audience: Audience | None = None
    lead_in: Duration = Field(15.0, description="Time at baseline before the ramp.")
    ramp: Duration = Field(30.0, description="Time from baseline to peak.")
    hold: Duration = Field(60.0, description="Time at peak.")
    decay_half_life: Duration = Field(30.0, gt=0, description="Half-life of the decay back to baseline.")
    decay: Duration | None = Field(None, description="Length of the decay (default: three half-lives, "
                                                     "or the rest of the audience window).")
    recovery: Duration = Field(20.0, description="Time at baseline at the end, to see the site recover.")

    @model_validator(mode="after")
    def _peak_or_audience(self) -> BurstTraffic:
        if (self.peak is None) == (self.audience is None):
            raise ValueError("give exactly one of 'peak' (e.g. 120/s) or 'audience' "
                             "({viewers, visit_share, window})")
        if self.peak is not None and self.peak < self.baseline:
            raise ValueError(f"peak ({self.peak:g}/s) is below baseline ({self.baseline:g}/s)")
        if self.audience is not None and self.audience.window <= self.ramp + self.hold:
            raise ValueError("audience.window must be longer than ramp + hold")
        return self


class StepsTraffic(_TrafficBase):
    """A capacity probe: the rate steps up level by level."""

    profile: Literal["steps"]
    start: Rate = Field(description="First level.")
    step: Rate = Field(description="Increase per level.")
    step_duration: Duration = Field(gt=0, description="Time at each level.")
    steps: int = Field(gt=0, le=1000, description="Number of levels.")


class ConstantTraffic(_TrafficBase):
    """A steady rate for a while."""

    profile: Literal["constant"]
    rate: Rate
    duration: Duration = Field(gt=0)


class PointsTraffic(_TrafficBase):
    """A custom curve: [time, rate] points joined by straight lines."""

    profile: Literal["points"]
    points: list[tuple[Duration, Rate]] = Field(min_length=2)

    @field_validator("points")
    @classmethod
    def _increasing(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if points[0][0] != 0:
            raise ValueError("the first point must be at time 0s")
        if any(b[0] <= a[0] for a, b in pairwise(points)):
            raise ValueError("point times must increase")
        return points


def _profile_tag(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("profile", "burst"))
    return str(getattr(value, "profile", "burst"))


Traffic = Annotated[
    Annotated[BurstTraffic, Tag("burst")] | Annotated[StepsTraffic, Tag("steps")]
    | Annotated[ConstantTraffic, Tag("constant")] | Annotated[PointsTraffic, Tag("points")],
    Discriminator(_profile_tag, custom_error_type="profile",
                  custom_error_message="profile must be one of burst, steps, constant, points"),
]


__all__ = ["Audience", "BurstTraffic", "ConstantTraffic", "PointsTraffic", "StepsTraffic", "Traffic"]
