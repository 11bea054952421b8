"""The audience the site can take: the largest visit share of the scenario's viewers it survives with the
required headroom, from the measured capacity and the audience compiler.

The compiler makes the burst's visitors above baseline proportional to (peak - baseline) for a fixed shape
(ramp, hold, decay), so a peak the site can carry with headroom, ``capacity / required_headroom``, maps back
to a share of the same viewers: ``share x (capacity / headroom - baseline) / (planned peak - baseline)``.

One meaning of ``rate_scale`` everywhere: capacity is measured in real visitors/s at the target, whatever
fraction of the moment the run sent, and the viewers are the scenario's real audience. So the baseline and
the peak here are the scenario's own (unscaled: the plan's divided by its rate_scale), as business.py scales
measured purchases by 1 / the share sent to name the real audience's orders.
"""

from __future__ import annotations

from dataclasses import dataclass

from .analysis import Analysis
from .scenario import BurstTraffic
from .units import format_clock, format_percent


@dataclass(frozen=True)
class AudienceLimit:
    """The largest share of the viewers the site survives with the required headroom."""

    viewers: int
    planned_share: float
    max_share: float  # the largest share that keeps the planned peak x headroom within capacity
    at_least: bool  # nothing broke: the site took at least this much (the most the run offered)
    high_share: float | None = None  # the high end of a visit_share range
    high_breaks: str | None = None  # what broke first, and when, had the high estimate come true
    high_reached: bool = True  # the run offered the high estimate's (real) peak, or broke below it

    def sentence(self) -> str:
        """``The site survives up to 0.25% of 1.2 M viewers visiting with the required headroom (planned:
        0.1%); the high estimate (0.4%) would break POST /checkout at 0:42.``"""
        bound = "at least up to" if self.at_least else "up to"
        text = (f"The site survives {bound} {format_percent(self.max_share)} of {_people(self.viewers)} viewers "
                f"visiting with the required headroom (planned: {format_percent(self.planned_share)})")
        if self.high_share is not None:
            high = format_percent(self.high_share)
            text += (f"; the high estimate ({high}) would break {self.high_breaks}" if self.high_breaks else
                     f"; the high estimate ({high}) held" if self.high_reached else
                     f"; the high estimate ({high}) was not reached by this run")
        return text + "."


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
    # the scenario's own rates: capacity is real visitors/s at the target whatever rate_scale the run used
    scale = plan.rate_scale if plan.rate_scale > 0 else 1.0
    base = traffic.baseline
    peak = plan.planned_peak / scale
    if peak <= base or cap.arrivals_per_s <= 0:
        return None
    headroom = analysis.scenario.verdict.required_headroom
    carried = cap.arrivals_per_s / headroom
    share = traffic.audience.visit_share * max(0.0, carried - base) / (peak - base)
    high = traffic.audience.visit_share_high
    high_breaks, high_reached = None, True
    if high is not None:
        high_peak = base + (peak - base) * high / traffic.audience.visit_share
        first = next((b for b in analysis.breaks if b.offered_per_s <= high_peak * 1.001), None) \
            if cap.found else None
        if first is not None:
            high_breaks = f"{first.endpoint or 'the service levels'} at {format_clock(first.start_s)}"
        else:  # "held" only when the run offered that much
            high_reached = plan.max_level >= high_peak * 0.999
    return AudienceLimit(viewers=traffic.audience.viewers, planned_share=traffic.audience.visit_share,
                         max_share=share, at_least=not cap.found, high_share=high, high_breaks=high_breaks,
                         high_reached=high_reached)


__all__ = ["AudienceLimit", "audience_limit"]
