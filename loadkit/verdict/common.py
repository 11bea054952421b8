"""What every verdict shares, a planned run's and a capacity search's: the :class:`Verdict` itself, decision 1
(the safety abort), the reasons for decision 3 (the load not delivered, nothing measured) and its verdict, and
the sentences that follow the main reasons (what broke first, journeys and orders, the peak, capacity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .. import scenario_errors as scenario_faults
from ..analysis import Analysis
from ..delivery import METRIC_WORDS, judged_levels_delivery, lost_workers_sentence, undelivered_sentence
from ..audience import audience_limit
from ..business import journey_sentence, order_sentences, orders
from ..scenario import Business, VerdictPolicy
from ..traffic import PhaseName
from ..units import format_clock, format_metric, format_ms, format_percent
from ..verdict_words import rate_unit, search_sentence

VERDICTS = ("survives", "at-risk", "fails", "inconclusive")
_METRIC_WORDS = METRIC_WORDS


# The reason that opens a fails verdict's account of load not delivered (the delivery reasons follow it).
UNDELIVERED_STANDS = ("Not all of the planned load was delivered, but the site already broke its service levels "
                      "under the load it did receive, so the verdict stands:")


@dataclass(frozen=True)
class Verdict:
    """The answer and why."""

    verdict: str  # survives | at-risk | fails | inconclusive
    reasons: tuple[str, ...]
    headline: str

    @property
    def passed(self) -> bool:
        """True for survives and at-risk (the default exit code 0)."""
        return self.verdict in ("survives", "at-risk")


def required_level(analysis: Analysis, policy: VerdictPolicy) -> float:
    """The level the verdict tests: required_headroom x the planned peak (the probe may go higher, to a
    visit_share range's high end, but what breaks only up there is not a lack of headroom)."""
    return analysis.plan.planned_peak * policy.required_headroom


def _aborted(analysis: Analysis, policy: VerdictPolicy) -> Verdict:
    """Decision 1: the safety abort fired."""
    how = "broke down so badly" if analysis.totals.collapse_errors else "turned visitors away so often"
    return Verdict("fails", (f"The load was aborted to protect the site: {analysis.meta.aborted}.",
                             *_context(analysis, policy)),
                   f"Fails: the site {how} that the load was stopped.")


def _not_delivered(analysis: Analysis, policy: VerdictPolicy) -> list[str]:
    """Why the planned load was not (all) delivered: an interruption, a lost worker, the scenario's
    safety.max_rate, late or dropped arrivals beyond the tolerance, or users not running."""
    traffic, meta, plan = analysis.traffic, analysis.meta, analysis.plan
    out: list[str] = []
    if meta.interrupted:
        out.append(f"The run was interrupted at {format_clock(meta.duration_s or 0)} of "
                   f"{format_clock(plan.duration)}; the results cover only that part.")
    planned = traffic.planned_arrivals
    lost = [str(w) for w in meta.lost_workers]
    if lost:  # the named cause of load not delivered: not the generator's capacity
        out.append(lost_workers_sentence(analysis, lost))
    if plan.model == "users":
        if traffic.delivered_share < 1 - policy.max_late_share and not lost:
            out.append(f"loadkit could not run the planned users: at most {traffic.peak_delivered_per_s:.0f} of "
                       f"{plan.planned_peak:.0f} were running; the load generator, not the site, was the limit.")
    elif planned and not meta.disk_full:  # a full disk stopped the load: its own reason says so
        missing = max(traffic.dropped_arrivals, planned - traffic.delivered_arrivals)
        late_or_dropped = traffic.dropped_arrivals + traffic.late_arrivals
        if analysis.search is not None:  # a search's levels not judged are set aside, their arrivals too
            planned, late_or_dropped, missing = judged_levels_delivery(analysis, planned, late_or_dropped, missing)
        max_rate = analysis.scenario.safety.max_rate
        # the level the verdict needs (required x peak), not a visit_share range's higher probe
        needed = required_level(analysis, policy) if plan.probe_level else plan.planned_peak
        # one arrival late or missing is tolerated however short the run (analysis/levels.py: the same rule
        # for a search's level): 2% of a 10-visitor smoke run is not even one visitor
        allowed = max(1.0, policy.max_late_share * planned)
        if max_rate is not None and max_rate < needed * (1 - policy.max_late_share):
            out.append(f"The scenario's safety.max_rate of {max_rate:.3g}/s held the load below the plan (peak "
                       f"{needed:.3g}/s): {traffic.delivered_arrivals} of {planned} planned visitors "
                       "started, so the plan was not tested.")
        elif (late_or_dropped > allowed or missing > allowed) and not lost:
            out.append(undelivered_sentence(analysis))
    return out


def _not_measured(analysis: Analysis) -> list[str]:
    """The scenario failed on every visit, nothing was measured, or the run stage said the run cannot be
    judged (a saturated generator, a full disk)."""
    out: list[str] = []
    scenario_failed = scenario_faults.inconclusive_reason(analysis.scenario_errors)
    if scenario_failed:  # the scenario's own errors, not the site's (docs/verdict.md)
        out.append(scenario_failed)
    elif not analysis.totals.requests:
        out.append("No request was measured, so nothing can be said about the site.")
    lost = {f"The load generator could not be trusted: {w}." for w in analysis.meta.lost_workers}
    out.extend(str(note) for note in analysis.meta.inconclusive_reasons if str(note) not in lost)  # older runs
    return out


def _inconclusive(analysis: Analysis, reasons: list[str]) -> Verdict:
    """Decision 3: the load was not delivered, nothing was measured, or only loadkit's stalls broke it."""
    paused = len(reasons) == 1 and ("The machine paused loadkit" in reasons[0]
                                    or "the machine paused loadkit (" in reasons[0])
    scenario_failed = scenario_faults.inconclusive_reason(analysis.scenario_errors)
    headline = ("Inconclusive: the machine paused loadkit, so this run cannot judge the site." if paused else
                "Inconclusive: the scenario itself failed on every visit, so this run cannot judge the site."
                if scenario_failed and len(reasons) == 1 else
                "Inconclusive: the test could not deliver or finish the planned load.")
    return Verdict("inconclusive", tuple(reasons), headline)


def _broke_first(analysis: Analysis, limit: int = 3) -> list[str]:
    """One sentence naming what broke first, in order, with the same numbers as the tables."""
    parts = []
    for row in analysis.broke_first.to_dict("records")[:limit]:
        first = row["first_s"]
        if first is None or math.isnan(first):
            break
        if row["signal"] == "errors began":
            parts.append(f"{row['endpoint']} (errors from {format_clock(row['errors_began_s'])})")
        elif row["signal"] == "throughput plateau":
            parts.append(f"{row['endpoint']} (stopped keeping up from {format_clock(first)})")
        else:
            value = format_metric(row["metric"], row["observed"])
            limit_text = format_metric(row["metric"], row["limit"])
            worst = row.get("worst_endpoint")
            worst_words = f", worst: {worst}" if isinstance(worst, str) and worst else ""
            parts.append(f"{row['endpoint']} ({_METRIC_WORDS[row['metric']]} {value} against {limit_text} from "
                         f"{format_clock(first)}{worst_words})")
    if not parts:
        return []
    return [f"What broke first: {parts[0]}" + (f", then {', then '.join(parts[1:])}" if parts[1:] else "") + "."]


def business_of(analysis: Analysis) -> Business | None:
    """The scenario's business block (None when it has none)."""
    return analysis.scenario.business


def journeys_context(analysis: Analysis) -> list[str]:
    """Journeys before endpoints: how many visits of each journey completed at the peak, and the orders."""
    if not analysis.journeys:
        return []
    business = business_of(analysis)
    out = [journey_sentence(analysis.journeys, business.orders if business else None)]
    placed = orders(business, analysis.journeys, analysis.plan)
    if placed is not None:
        out.extend(order_sentences(placed))
    return out


def _context(analysis: Analysis, policy: VerdictPolicy) -> list[str]:
    """Supporting facts after the main reasons: journeys and orders first, then peak figures, capacity,
    recovery."""
    out: list[str] = journeys_context(analysis)
    peak = analysis.phases[analysis.phases["phase"] == PhaseName.PEAK.value] if len(analysis.phases) else None
    if peak is not None and len(peak):
        row: dict[str, Any] = peak.iloc[0].to_dict()
        if row.get("p95") is not None and row.get("error_rate") is not None:
            out.append(f"At the peak: p95 {format_ms(row['p95'])}, error rate {format_percent(row['error_rate'])}.")
    totals = analysis.totals
    if totals.failures:
        shed, collapse = totals.shedding_errors, totals.collapse_errors
        if shed or collapse:
            out.append(f"Of {totals.failures:,} failed requests, {shed:,} were turned away politely (429, or 503 "
                       f"with Retry-After) and {collapse:,} were breakdowns (server errors, timeouts, dropped or "
                       "refused connections).")
    cap = analysis.capacity
    if analysis.search is not None:
        out.append(search_sentence(analysis.search, rate_unit(analysis)))
    elif cap.found and not cap.arrivals_per_s:
        below = f"below {cap.broke_at_per_s:.3g} {rate_unit(analysis)}" if cap.broke_at_per_s else \
            "below the lowest rate this run offered"
        out.append(f"Capacity: {below}; {cap.limited_by} broke the service levels at the lowest rate this run "
                   "offered.")
    elif cap.found:
        out.append(f"Capacity: about {cap.arrivals_per_s:.3g} {rate_unit(analysis)} before {cap.limited_by} "
                   f"broke the service levels (headroom {cap.headroom or 0:.2f}x the planned peak).")
    elif cap.arrivals_per_s:
        out.append(f"Capacity: at least {cap.arrivals_per_s:.3g} {rate_unit(analysis)} (the most this run tried).")
    limit = audience_limit(analysis)
    if limit is not None:
        out.append(limit.sentence())
    out.extend(scenario_faults.context_sentence(analysis.scenario_errors))
    return out


__all__ = ["UNDELIVERED_STANDS", "VERDICTS", "Verdict", "business_of", "journeys_context", "required_level"]
