"""The audience the site can take: the largest visit share of the scenario's viewers it survives with the
required headroom, from the measured capacity and the audience compiler.

The compiler makes the burst's visitors above baseline proportional to (peak - baseline) for a fixed shape
(ramp, hold, decay), so a peak the site can carry with headroom, ``capacity / required_headroom``, maps back
to a share of the same viewers: ``share x (capacity / headroom - baseline) / (planned peak - baseline)``,
everything in the run's own units (the plan as this run sent it), as the verdict's headroom reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .analysis import Analysis
from .scenario import BurstTraffic
from .units import format_percent


@dataclass(frozen=True)
class AudienceLimit:
    """The largest share of the viewers the site survives with the required headroom."""

    viewers: int
    planned_share: float
    max_share: float  # the largest share that keeps the planned peak x headroom within capacity
    at_least: bool  # nothing broke: the site took at least this much (the most the run offered)

    def sentence(self) -> str:
        """``Survives up to 0.25% of 1.2 M viewers (planned: 0.2%) with 1.5x headroom.``"""
        bound = "at least up to" if self.at_least else "up to"
        return (f"The site survives {bound} {format_percent(self.max_share)} of {_people(self.viewers)} viewers "
                f"visiting with the required headroom (planned: {format_percent(self.planned_share)}).")


def _people(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.3g} M"
    if n >= 1_000:
        return f"{n / 1_000:.3g} k"
    return str(n)


def audience_limit(analysis: Analysis) -> AudienceLimit | None:
    """The audience limit, when the scenario's traffic came from an audience (None otherwise)."""
    traffic = analysis.scenario.traffic
    if not isinstance(traffic, BurstTraffic) or traffic.audience is None or analysis.plan.model != "arrivals":
        return None
    cap = analysis.capacity
    plan = analysis.plan
    base = traffic.baseline * plan.rate_scale
    peak = plan.planned_peak
    if peak <= base or cap.arrivals_per_s <= 0:
        return None
    headroom = analysis.scenario.verdict.required_headroom
    carried = cap.arrivals_per_s / headroom
    share = traffic.audience.visit_share * max(0.0, carried - base) / (peak - base)
    return AudienceLimit(viewers=traffic.audience.viewers, planned_share=traffic.audience.visit_share,
                         max_share=share, at_least=not cap.found)


__all__ = ["AudienceLimit", "audience_limit"]
