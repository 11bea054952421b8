"""The ``traffic:`` section: which load profile (burst, steps, search, constant, points) and its numbers.

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


# The windows held.py judges service levels over (held.WINDOW_S; tests/test_search.py keeps them equal):
# a search's levels and cool-downs are whole windows, so each window belongs to one level or one cool-down.
SEARCH_WINDOW_S = 5


class SearchTraffic(_TrafficBase):
    """A capacity search: levels step up until one breaks the service levels, then bisect between the
    last level that held and the first that broke, until the bracket is within ``precision``.

    The levels are decided as the run goes (run/searching.py; the bisection is loadkit/search.py), each
    judged by the verdict's own rule, with a cool-down at zero between them.
    """

    profile: Literal["search"]
    start: Rate = Field(gt=0, description="First level.")
    step: Rate | None = Field(None, gt=0, description="Increase per level while nothing broke (or give growth).")
    growth: float | None = Field(None, gt=1, description="Factor per level while nothing broke (default 2 "
                                                         "when step is not given).")
    level_duration: Duration = Field(10.0, description="Time at each level: whole 5 s windows.")
    cool_down: Duration = Field(5.0, description="Time at zero after each level, so a broken level's backlog "
                                                 "does not weigh on the next: whole 5 s windows.")
    precision: Percent = Field(0.10, description="Stop once (first broken - last good) / last good is at most "
                                                 "this, e.g. '5%'.")
    max_duration: Duration = Field(300.0, description="Longest the levels and cool-downs may take in all.")
    max_rate: Rate | None = Field(None, gt=0, description="Highest level to try (safety.max_rate caps it too).")
    required: Rate | None = Field(None, gt=0, description="The rate the site must carry: the verdict compares the "
                                  "bracket with it (x verdict.required_headroom). Without it the search measures "
                                  "and the verdict is at most at-risk.")

    @field_validator("level_duration", "cool_down")
    @classmethod
    def _whole_windows(cls, value: float) -> float:
        windows = value / SEARCH_WINDOW_S
        if value < SEARCH_WINDOW_S or abs(windows - round(windows)) > 1e-9:
            raise ValueError(f"must be whole {SEARCH_WINDOW_S}-second windows ({SEARCH_WINDOW_S}s, "
                             f"{2 * SEARCH_WINDOW_S}s, ...): service levels are judged over {SEARCH_WINDOW_S} s "
                             f"windows, and each must belong to one level")
        return value

    @field_validator("precision")
    @classmethod
    def _precision(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise ValueError("precision must be above 0% and at most 100%, e.g. '5%'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SearchTraffic:
        if self.step is not None and self.growth is not None:
            raise ValueError("give step (e.g. 10/s) or growth (e.g. 1.5), not both")
        if self.model != "arrivals":
            raise ValueError("a search runs arrivals (the open model): remove 'model: users'")
        if self.max_duration < self.level_duration + self.cool_down:
            raise ValueError(f"max_duration ({self.max_duration:g} s) must hold at least one level and its "
                             f"cool-down ({self.level_duration + self.cool_down:g} s)")
        if self.max_rate is not None and self.max_rate < self.start:
            raise ValueError(f"max_rate ({self.max_rate:g}/s) is below start ({self.start:g}/s)")
        return self


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
    | Annotated[SearchTraffic, Tag("search")] | Annotated[ConstantTraffic, Tag("constant")]
    | Annotated[PointsTraffic, Tag("points")],
    Discriminator(_profile_tag, custom_error_type="profile",
                  custom_error_message="profile must be one of burst, steps, search, constant, points"),
]


__all__ = ["SEARCH_WINDOW_S", "Audience", "BurstTraffic", "ConstantTraffic", "PointsTraffic", "SearchTraffic",
           "StepsTraffic", "Traffic"]
