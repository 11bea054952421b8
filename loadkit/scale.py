"""What to scale, by how much: for each endpoint that broke, its own measured capacity and the factor it must
grow by to carry the planned peak with the required headroom.

Pure arithmetic over the analysis and the scenario, nothing guessed:

- **needed** = the planned peak (arrivals/s, as this run planned them, the verdict's headroom too) x the
  endpoint's requests per arrival (from the journeys' weights and steps, as the plan sends them; a
  ``locustfile:`` scenario's are not known before the run: the endpoint's requests the run measured / the
  visitors that started) x ``required_headroom``; for a capacity search, which has no planned peak, its
  ``required`` rate stands for the peak, and without one there is nothing to scale for (no rows);
- **measured** = the most successful requests per second the endpoint completed while it was saturated
  (the median second of the stretches in which it broke: a site shedding or queueing past its limit serves
  at that limit), or, when it never got that far, the busiest second in which it held;
- **factor** = needed / measured, shown only when above 1.

An endpoint named by "what broke first" (an SLO's own endpoint, the worst endpoint of an all-requests SLO,
a throughput plateau, or the step a broken journey's visits failed at) is a
candidate; the rows are ranked by factor, largest first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .analysis import Analysis
from .scenario import Journey
from .search import required_rate
from .traffic import COOL_DOWN_PREFIX


@dataclass(frozen=True)
class ScaleRow:
    """One endpoint that broke: what it carried, what the planned peak with headroom needs, the factor."""

    endpoint: str
    measured_per_s: float  # successful requests per second it completed at its limit
    needed_per_s: float  # requests per second at the planned peak x required_headroom
    factor: float  # needed / measured
    slow: bool = False  # it broke on response time: ``measured`` was served too slowly, so the factor is a floor

    def sentence(self) -> str:
        """``POST /checkout: 4/s measured, 9/s needed: x2.25``; for an endpoint that broke on response time,
        ``at least x1.04 (too slow at 17/s)``: a rate served over the limit is not one it can carry."""
        factor = f"at least x{self.factor:.2f} (too slow at {self.measured_per_s:.3g}/s)" if self.slow \
            else f"x{self.factor:.2f}"
        return f"{self.endpoint}: {self.measured_per_s:.3g}/s measured, {self.needed_per_s:.3g}/s needed: {factor}"

    def to_dict(self) -> dict[str, Any]:
        """summary.json's ``scale`` entry."""
        return {"endpoint": self.endpoint, "measured_per_s": round(self.measured_per_s, 3),
                "needed_per_s": round(self.needed_per_s, 3), "factor": round(self.factor, 3)}


def requests_per_arrival(journeys: Sequence[Journey]) -> dict[str, float]:
    """Per endpoint, the requests one arriving visitor sends on average (journey weights x steps)."""
    total = sum(j.weight for j in journeys)
    out: dict[str, float] = {}
    if total <= 0:
        return out
    for journey in journeys:
        for step in journey.steps:
            if step.method != "THINK":
                out[step.endpoint] = out.get(step.endpoint, 0.0) + journey.weight / total
    return out


def measured_requests_per_arrival(analysis: Analysis) -> dict[str, float]:
    """Per endpoint, the requests one arriving visitor sent on average over the run: its requests / the visitors
    that started (a locustfile's tasks make whatever requests their code makes; only the run can count them)."""
    started = analysis.traffic.delivered_arrivals
    if started <= 0 or not len(analysis.endpoints):
        return {}
    endpoints = analysis.endpoints
    return {str(name): float(n) / started for name, n in zip(endpoints["endpoint"], endpoints["requests"], strict=True)
            if n}


def _broken_endpoints(analysis: Analysis) -> dict[str, list[tuple[float, float, str]]]:
    """Endpoints that broke, each with the spans (seconds) and signals of the counted breaks that name it."""
    spans: dict[str, list[tuple[float, float, str]]] = {}
    failed_at = {j.name: j.failures[0].endpoint for j in analysis.journeys if j.failures}
    worst = {str(row["slo"]): row.get("worst_endpoint") for row in analysis.broke_first.to_dict("records")
             if row.get("slo")}
    for b in analysis.breaks:
        name = b.endpoint
        if name is not None and name.startswith("journey "):
            name = failed_at.get(name.removeprefix("journey "))
        elif name is None and b.slo is not None:  # an all-requests SLO: the endpoint furthest over it
            named = worst.get(b.slo.name)
            name = named if isinstance(named, str) and named else None
        if name:
            spans.setdefault(name, []).append((b.start_s, b.end_s, b.signal))
    return spans


def what_to_scale(analysis: Analysis) -> list[ScaleRow]:
    """The endpoints that broke, ranked by how much they must grow (see the module's rules)."""
    scenario = analysis.scenario
    per_arrival = (requests_per_arrival(scenario.journeys) if scenario.journeys
                   else measured_requests_per_arrival(analysis))
    if not per_arrival or analysis.plan.model != "arrivals":
        return []
    headroom = analysis.scenario.verdict.required_headroom
    peak = analysis.plan.planned_peak  # as the verdict's headroom reads it: the plan this run sent
    if analysis.plan.profile == "search":
        # A search has no planned peak (its highest level is where it broke): its required rate, if any.
        required = required_rate(analysis.scenario, analysis.plan)
        if required is None:
            return []
        peak = required
    es = analysis.endpoint_seconds
    plan = analysis.plan
    load_end = plan.duration
    # The recovery at baseline after the load, and a search's cool-downs at zero, say nothing of a limit.
    judged = {p.name for p in plan.phases if p.name != "recovery" and not p.name.startswith(COOL_DOWN_PREFIX)}

    def in_load(t: int) -> bool:
        return plan.phase_at(t + 0.5) in judged
    rows = []
    for endpoint, spans in _broken_endpoints(analysis).items():
        if endpoint not in per_arrival:
            continue
        mine = es[es["endpoint"] == endpoint]
        ok = dict(zip(mine["t"].astype(int), (mine["requests"] - mine["failures"]).astype(float), strict=True))
        broken = sorted({t for start, end, _ in spans for t in range(int(start), math.ceil(min(end, load_end)))
                         if in_load(t)})
        at_limit = [ok.get(t, 0.0) for t in broken]
        measured = float(np.median(at_limit)) if at_limit else 0.0
        held = [v for t, v in ok.items() if t not in set(broken) and t < load_end]
        measured = max(measured, max(held, default=0.0)) if not at_limit else measured
        needed = peak * per_arrival[endpoint] * headroom
        if measured <= 0 or needed <= measured:
            continue
        rows.append(ScaleRow(endpoint=endpoint, measured_per_s=measured, needed_per_s=needed,
                             factor=needed / measured, slow=any(signal == "latency" for *_, signal in spans)))
    return sorted(rows, key=lambda r: -r.factor)


def scale_sentence(rows: Sequence[ScaleRow], headroom: float, target: str = "the planned peak") -> str:
    """The verdict's evidence: "What to scale, for the planned peak with 1.5x headroom: POST /checkout: 4/s
    measured, 9/s needed: x2.25; ..." (``target`` names the rate: a search's "the required 40/s")."""
    if not rows:
        return ""
    return (f"What to scale, for {target} with {headroom:g}x headroom: "
            + "; ".join(r.sentence() for r in rows) + ".")


def scale_table(rows: Sequence[ScaleRow]) -> list[Mapping[str, Any]]:
    """summary.json's ``scale`` list."""
    return [r.to_dict() for r in rows]


__all__ = ["ScaleRow", "measured_requests_per_arrival", "requests_per_arrival", "scale_sentence", "scale_table",
           "what_to_scale"]
