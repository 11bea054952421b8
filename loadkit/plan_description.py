"""The traffic plan in words, for people: a one-phrase headline and a phase table (``loadkit plan``, the
first status line of ``loadkit run``). Sends nothing."""

from __future__ import annotations

from .scenario import Scenario, SearchTraffic, mean_visit_seconds
from .search import limits_of, required_rate
from .traffic import Plan
from .units import format_clock, format_duration

__all__ = ["describe_plan", "plan_headline"]


def plan_headline(plan: Plan) -> str:
    """The plan in one phrase: visitors and their peak rate (open model), or looping users (closed model)."""
    over = format_duration(plan.duration)
    if plan.model == "users":
        # the closed model has no arrival rate: its level is a number of users, each looping through visits
        lowest = min(min(s.r0, s.r1) for s in plan.segments) if plan.segments else 0.0
        users = f"{plan.planned_peak:.3g}" if lowest >= plan.planned_peak else f"up to {plan.planned_peak:.3g}"
        return (f"{users} looping users over {over} (closed model)"
                + (f", headroom probe {plan.probe_level:.3g} users" if plan.probe_level else ""))
    if plan.profile == "search" and plan.phases:
        first = plan.phases[0]
        return (f"a capacity search from {first.level:.3g}/s in levels of {format_duration(first.end - first.start)}, "
                "each judged before the next (levels decided as the run goes)")
    return (f"{plan.total_arrivals:.0f} visitors over {over}, peak {plan.planned_peak:.3g}/s"
            + (f", headroom probe {plan.probe_level:.3g}/s" if plan.probe_level else ""))


def describe_plan(scenario: Scenario, plan: Plan) -> list[str]:
    """The plan in words and a phase table."""
    unit = "users" if plan.model == "users" else "visitors/s"
    lines = [f"scenario {scenario.name}: {plan.profile} profile, "
             f"{'open model (arrivals)' if plan.model == 'arrivals' else 'closed model (looping users)'}",
             f"duration {format_duration(plan.duration)}; planned peak {plan.planned_peak:.3g} {unit}"]
    if plan.model == "arrivals":
        lines.append(f"visitors planned: {plan.total_arrivals:.0f}")
        if plan.expected_visitors is not None:
            lines.append(f"audience: {plan.expected_visitors:.0f} visitors expected from the moment "
                         "(the burst above baseline)")
        if scenario.journeys:
            mean_visit = mean_visit_seconds(scenario.journeys)
            lines.append(f"concurrent visitors at peak (Little's law, visits of ~{mean_visit:.1f} s plus the "
                         f"site's response times): ~{plan.planned_peak * mean_visit:.0f}")
    tr = scenario.traffic
    if isinstance(tr, SearchTraffic):
        lim = limits_of(scenario, plan.rate_scale / tr.rate_scale, plan.duration_scale)
        up = f"+{lim.step:.3g}/s" if lim.step is not None else f"x{lim.growth:g}"
        lines.append(f"search: only the first level is planned; then {up} a level while the service levels "
                     f"hold, then halfway between the last level that held and the first that broke, until "
                     f"they are within {lim.precision:.0%}")
        lines.append(f"each level {format_duration(lim.level_s)}, then {format_duration(lim.cool_down_s)} or more "
                     f"at zero; everything within {format_duration(lim.max_duration_s)}"
                     + (f"; no level above {lim.cap:.3g}/s" if lim.cap is not None else ""))
        need, headroom = required_rate(scenario, plan), scenario.verdict.required_headroom
        lines.append(f"verdict: the bracket against the required {need:.3g}/s with {headroom:g}x headroom "
                     f"({need * headroom:.3g}/s)" if need is not None else
                     "verdict: no required rate, so the search measures (at-risk at best; set required)")
    if plan.probe_level:
        lines.append(f"headroom probe: {plan.probe_level:.3g} {unit} "
                     f"({plan.probe_level / plan.planned_peak:.2g}x the planned peak)" if plan.planned_peak else "")
    lines.append("")
    lines.append(f"{'phase':<12}{'from':>7}{'to':>7}  {'level':>13}  {'visitors':>9}")
    for phase in plan.phases:
        # a phase whose level moves (ramp, decay) shows where it starts and ends
        start, end = plan.rate(phase.start + 1e-6), plan.rate(max(phase.start, phase.end - 1e-6))
        level = f"{start:.3g} -> {end:.3g}" if abs(start - end) > 0.01 * max(phase.level, 1e-9) else \
            f"{phase.level:.3g}"
        lines.append(f"{phase.name:<12}{format_clock(phase.start):>7}{format_clock(phase.end):>7}  "
                     f"{level:>13}  {plan.integral(phase.start, phase.end):>9.0f}")
    return lines
