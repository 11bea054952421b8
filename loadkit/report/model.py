"""The report's view model: everything every output shows, computed once from analysis and verdict.

``summary.json`` is this model's stable, scripted face (schema_version 1); the HTML, JUnit and Markdown
renderers read the same model, so the outputs never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import scenario_errors as scenario_faults
from ..analysis import PAUSE_MS, Analysis
from ..analysis import summary as summary_parts
from ..observed import ObservedSeries, cite
from ..run_meta import thawed_json
from ..units import format_clock
from ..verdict_words import headroom_words
from ..verdict import Verdict, business_of, capacity_figure, class_words, kind_words, metric_words, scope_label
from ..audience import audience_limit
from ..business import journey_sentence, order_sentences, orders
from ..scale import scale_table, what_to_scale

SCHEMA_VERSION = 1
MAX_ERROR_SAMPLES = 20


_num = summary_parts.number  # a JSON-safe rounded float (NaN and None become None)


@dataclass(frozen=True)
class SloRow:
    """One SLO over one scope, as every report shows it."""

    name: str
    endpoint: str | None
    metric: str
    threshold: float  # ms, or a fraction for error_rate
    observed: float | None
    passed: bool
    phase: str  # the scope's id: "run" (up to the planned peak), "peak", "probe" or a phase name
    first_break_s: float | None
    scope: str = ""  # the scope in words, the same in every report
    until_s: float | None = None  # ``observed`` covers the broken windows up to here (None: the whole scope)
    journey: str | None = None  # a journey SLO's journey (success_rate, p95_duration, ...)


@dataclass(frozen=True)
class EndpointRow:
    """Per-endpoint figures over the whole run."""

    name: str
    method: str
    requests: int
    failures: int
    error_rate: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    ok_p95_ms: float | None
    apdex: float | None = None


@dataclass(frozen=True)
class ReportModel:
    """Everything the reports show."""

    verdict: str
    headline: str
    reasons: tuple[str, ...]
    run: dict[str, Any]
    traffic: dict[str, Any]
    totals: dict[str, Any]
    endpoints: tuple[EndpointRow, ...]
    slos: tuple[SloRow, ...]
    capacity: dict[str, Any]
    recovery: dict[str, Any]
    phases: tuple[dict[str, Any], ...]
    error_kinds: tuple[dict[str, Any], ...]
    error_samples: tuple[dict[str, Any], ...]
    slos_defaulted: bool
    scenario: dict[str, Any]
    series: dict[str, list[Any]] = field(default_factory=dict)  # per-second curves for charts
    endpoint_series: dict[str, list[Any]] = field(default_factory=dict)
    latency_distribution: tuple[tuple[float, int], ...] = ()
    broke_first: tuple[dict[str, Any], ...] = ()
    apdex_t_ms: float = 500.0
    offsite_redirects: tuple[dict[str, Any], ...] = ()
    baseline: dict[str, Any] | None = None  # the comparison with a baseline run (loadkit run --baseline)
    capacity_figure: str = "n/a"  # the capacity as every report prints it: "~26.7/s", ">= 12/s", "below 8/s"
    scenario_errors: dict[str, Any] = field(default_factory=dict)  # loadkit/scenario_errors.py's summary
    observed: tuple[dict[str, Any], ...] = ()  # the site's own metrics (observe:), one entry per query
    observed_cited: str | None = None  # the site metric that peaked just before the first break, in words
    journeys: tuple[dict[str, Any], ...] = ()  # per journey: visits started, completed, failed (where), durations
    journey_line: str = ""  # the journeys at the peak in one sentence, which the reports lead with
    business: dict[str, Any] | None = None  # orders per phase and the value at risk (business.py)
    business_lines: tuple[str, ...] = ()
    audience: dict[str, Any] | None = None  # the largest visit share the site survives with the headroom
    scale: tuple[dict[str, Any], ...] = ()  # what to scale: per endpoint that broke, measured, needed, factor

    @property
    def headroom_words(self) -> str:
        """The headroom beside the capacity figure ("headroom 1.67x", a search's "headroom 1.67x the required
        30/s"), or "" when there is none."""
        return headroom_words(self.capacity, " users" if self.run.get("model") == "users" else "/s")

    def pauses(self) -> list[tuple[int, int]]:
        """Runs of seconds in which loadkit stalled for PAUSE_MS or more, as [start, end) seconds."""
        spans: list[tuple[int, int]] = []
        for t, ms in zip(self.series.get("t", []), self.series.get("hiccup_ms", []), strict=True):
            if ms is None or ms < PAUSE_MS:
                continue
            if spans and spans[-1][1] == t:
                spans[-1] = (spans[-1][0], t + 1)
            else:
                spans.append((t, t + 1))
        return spans

    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` document (schema_version 1)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "verdict": self.verdict,
            "headline": self.headline,
            "reasons": list(self.reasons),
            "run": self.run,
            "traffic": self.traffic,
            "totals": self.totals,
            "endpoints": [{"name": e.name, "method": e.method, "requests": e.requests, "failures": e.failures,
                           "error_rate": e.error_rate, "p50_ms": e.p50_ms, "p90_ms": e.p90_ms, "p95_ms": e.p95_ms,
                           "p99_ms": e.p99_ms, "max_ms": e.max_ms, "ok_p95_ms": e.ok_p95_ms, "apdex": e.apdex}
                          for e in self.endpoints],
            "slos": [{"name": s.name, "endpoint": s.endpoint, "metric": s.metric, "threshold": s.threshold,
                      "observed": s.observed, "passed": s.passed, "phase": s.phase, "scope": s.scope,
                      "first_break_s": s.first_break_s, "until_s": s.until_s,
                      **({"journey": s.journey} if s.journey else {})} for s in self.slos],
            "slos_defaulted": self.slos_defaulted,
            "capacity": {**self.capacity, "figure": self.capacity_figure},
            "recovery": self.recovery,
            "phases": list(self.phases),
            "errors": list(self.error_kinds),
            "broke_first": list(self.broke_first),
            "apdex_t_ms": self.apdex_t_ms,
            "offsite_redirects": list(self.offsite_redirects),
            **({"baseline": self.baseline} if self.baseline is not None else {}),
            "scenario_errors": scenario_faults.for_summary(self.scenario_errors),
            **({"observed": {"series": [{k: v for k, v in o.items() if k != "values"} for o in self.observed],
                             "cited": self.observed_cited}} if self.observed else {}),
            **({"journeys": list(self.journeys)} if self.journeys else {}),
            **({"business": self.business} if self.business is not None else {}),
            **({"scale": list(self.scale)} if self.scale else {}),
            **({"audience": self.audience} if self.audience is not None else {}),
        }


def _broke_words(row: dict[str, Any]) -> str:
    """What broke, as the citation of a site metric ends: "the p95 response time of POST /checkout broke"."""
    if row.get("signal") == "errors began":
        return f"errors began on {row['endpoint']}"
    if row.get("signal") == "throughput plateau":
        return f"{row['endpoint']} stopped keeping up with its visitors"
    return f"the {metric_words(str(row.get('metric')))} of {row['endpoint']} broke"


def observed_view(observed: tuple[ObservedSeries, ...], seconds: list[int],
                  broke: tuple[dict[str, Any], ...]) -> tuple[tuple[dict[str, Any], ...], str | None]:
    """The site's metrics for the reports (values on the run's seconds for the charts) and the sentence
    citing the one that peaked just before the first break, if one did."""
    view = []
    for s in observed:
        by_second: dict[int, float] = {}
        for t, v in s.points:
            by_second[int(t)] = v  # the last sample in a second stands for it
        known = sorted(by_second)
        for a, b in zip(known, known[1:], strict=False):  # joined between samples, as a scraper's graph is
            for t in range(a + 1, b):
                by_second[t] = by_second[a] + (by_second[b] - by_second[a]) * (t - a) / (b - a)
        peak = s.peak
        view.append({"name": s.name, "samples": len(s.points), "missing": s.missing, "error": s.error,
                     "series": s.series, "max": _num(peak[1], 6) if peak else None,
                     "max_at_s": _num(peak[0], 1) if peak else None,
                     "values": [by_second.get(t) for t in seconds]})
    first = next((row for row in broke if row.get("first_s") is not None), None)
    cited = cite(observed, float(first["first_s"])) if first is not None else None
    sentence = cited.sentence(_broke_words(first), format_clock(cited.at_s)) if cited and first else None
    return tuple(view), (sentence[0].upper() + sentence[1:] + ".") if sentence else None


def _audience(analysis: Analysis, verdict: Verdict) -> dict[str, Any] | None:
    # An inconclusive run (load not delivered, interrupted) measured no limit to name.
    if verdict.verdict == "inconclusive":
        return None
    limit = audience_limit(analysis)
    if limit is None:
        return None
    return {"viewers": limit.viewers, "planned_share": limit.planned_share, "max_share": round(limit.max_share, 8),
            "at_least": limit.at_least, "sentence": limit.sentence()}


def build_model(analysis: Analysis, verdict: Verdict, baseline: dict[str, Any] | None = None,
                observed: tuple[ObservedSeries, ...] = ()) -> ReportModel:
    """Assemble the view model from the analysis and the verdict (and the site's metrics, if recorded)."""
    run = summary_parts.run_part(analysis.meta, analysis.plan)
    traffic = summary_parts.traffic_part(analysis.traffic)
    totals = summary_parts.totals_part(analysis.totals)
    endpoints = tuple(EndpointRow(
        name=str(r["endpoint"]), method=str(r["method"]), requests=int(r["requests"]), failures=int(r["failures"]),
        error_rate=_num(r["error_rate"], 5), p50_ms=_num(r["p50"]), p90_ms=_num(r["p90"]), p95_ms=_num(r["p95"]),
        p99_ms=_num(r["p99"]), max_ms=_num(r["max"]), ok_p95_ms=_num(r["ok_p95"]), apdex=_num(r["apdex"]))
        for r in analysis.endpoints.to_dict("records"))
    slos = tuple(SloRow(name=r.slo.name, endpoint=r.slo.endpoint, metric=r.slo.metric,
                        threshold=_num(r.limit, 5) or 0.0,
                        observed=_num(r.observed, 5), passed=r.passed, phase=r.scope,
                        first_break_s=_num(r.first_break_s, 1), scope=scope_label(r.scope, analysis),
                        until_s=None if r.over_scope else _num(r.until_s, 1), journey=r.slo.journey)
                 for r in analysis.slo_results)
    business = business_of(analysis)
    placed = orders(business, analysis.journeys, analysis.plan)
    cap = summary_parts.capacity_part(analysis.capacity, analysis.search)
    rec = summary_parts.recovery_part(analysis.recovery)
    phases = tuple(summary_parts.phases_part(analysis.phases))
    unit = " users" if analysis.plan.model == "users" else "/s"
    error_kinds = tuple({"endpoint": r["endpoint"], "kind": r["kind"], "class": r["class"], "count": int(r["count"]),
                         "first_s": int(r["first_s"]), "kind_words": kind_words(str(r["kind"])),
                         "class_words": class_words(str(r["class"]))}
                        for r in analysis.error_kinds.to_dict("records"))
    # What broke first is the story of a site that broke: never beside a survives verdict.
    broke_first = () if verdict.verdict == "survives" else tuple(summary_parts.broke_first_part(analysis.broke_first))
    samples = tuple(analysis.error_samples[:MAX_ERROR_SAMPLES])
    s = analysis.seconds
    series = {
        "t": s["t"].tolist(), "planned": [_num(v, 2) for v in s["planned"]],
        "started": (s["users"] if analysis.plan.model == "users" else s["started"]).tolist(),
        "rps": s["requests"].tolist(),
        "completed": s["completed"].tolist(), "failed_done": s["failed_done"].tolist(),
        "p50": [_num(v, 1) for v in s["p50"]], "p95": [_num(v, 1) for v in s["p95"]],
        "p99": [_num(v, 1) for v in s["p99"]], "error_rate": [_num(v, 4) for v in s["error_rate"]],
        "failures": s["failures"].tolist(),
        "shedding": s["shedding"].tolist(), "collapse": s["collapse"].tolist(), "other": s["other"].tolist(),
        "apdex": [_num(v, 3) for v in s["apdex"]],
        "hiccup_ms": [_num(v, 1) for v in s["hiccup_ms"]], "cpu": [_num(v, 1) for v in s["cpu"]],
    }
    endpoint_series: dict[str, list[Any]] = {}
    es = analysis.endpoint_seconds
    for name, group in es.groupby("endpoint"):
        p95 = pd.Series(group["p95"].to_numpy(), index=group["t"].to_numpy()).reindex(s["t"])
        endpoint_series[str(name)] = [_num(v, 1) for v in p95]
    dist = tuple((float(ms), int(c)) for ms, c in zip(analysis.latency_distribution["ms"],
                                                      analysis.latency_distribution["count"], strict=True))
    observed_rows, observed_cited = observed_view(observed, [int(t) for t in series["t"]], broke_first)
    return ReportModel(verdict=verdict.verdict, headline=verdict.headline, reasons=verdict.reasons, run=run,
                       traffic=traffic, totals=totals, endpoints=endpoints, slos=slos, capacity=cap, recovery=rec,
                       phases=phases, error_kinds=error_kinds, error_samples=samples,
                       slos_defaulted=analysis.slos_defaulted, scenario=thawed_json(analysis.scenario_document),
                       series=series,
                       endpoint_series=endpoint_series, latency_distribution=dist, broke_first=broke_first,
                       apdex_t_ms=analysis.apdex_t_ms, capacity_figure=capacity_figure(cap, unit), baseline=baseline,
                       observed=observed_rows, observed_cited=observed_cited,
                       offsite_redirects=tuple(summary_parts.offsite_part(analysis.offsite)),
                       scenario_errors=analysis.scenario_errors,
                       journeys=tuple(j.to_dict() for j in analysis.journeys),
                       journey_line=journey_sentence(analysis.journeys, business.orders if business else None),
                       business=placed.to_dict() if placed is not None else None,
                       business_lines=tuple(order_sentences(placed)) if placed is not None else (),
                       audience=_audience(analysis, verdict),
                       scale=() if verdict.verdict == "survives" else
                       tuple(dict(r) for r in scale_table(what_to_scale(analysis))))
