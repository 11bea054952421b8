"""The verdict's words for its figures, shared with every report: a failed SLO or a throughput plateau as
a sentence with its numbers, a scope in words, the capacity as the reports print it, a capacity search's
bracket. Pure functions of the analysis (or summary.json's ``capacity``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .analysis import Analysis, SloResult
from .delivery import METRIC_WORDS
from .held import PEAK, PROBE, RUN, Break
from .search import Bracket, ended_words
from .units import format_clock, format_metric

_METRIC_WORDS = METRIC_WORDS


def _value(result: SloResult, value: float | None = None) -> str:
    return format_metric(result.slo.metric, result.observed if value is None else value)


def _limit(result: SloResult) -> str:
    return format_metric(result.slo.metric, result.limit)


def metric_words(metric: str) -> str:
    """An SLO metric in words: ``p95`` -> ``p95 response time``."""
    return _METRIC_WORDS.get(metric, metric)


def capacity_figure(cap: Mapping[str, Any], unit: str = "/s") -> str:
    """The capacity as every report prints it (``~26.7/s``, ``>= 12/s`` or ``below 8/s``), from summary.json's
    ``capacity`` (rounded as it is written there)."""
    value, broke_at = cap.get("arrivals_per_s") or 0.0, cap.get("broke_at_per_s") or 0.0
    search = cap.get("search")
    if isinstance(search, Mapping):  # a capacity search: its bracket
        good, broken = search.get("last_good_per_s"), search.get("first_broken_per_s")
        if good and broken:
            return f"between {good:.3g}{unit} and {broken:.3g}{unit}"
        if broken:
            return f"below {broken:.3g}{unit}"
    if cap.get("found") and value > 0:
        return f"~{value:.3g}{unit}"
    if cap.get("found"):
        return f"below {broke_at:.3g}{unit}" if broke_at > 0 else "below the lowest rate offered"
    return f"≥ {value:.3g}{unit}" if value > 0 else "n/a"


def headroom_words(cap: Mapping[str, Any], unit: str = "/s") -> str:
    """The headroom beside the capacity figure, from summary.json's ``capacity``: "headroom 1.67x" (over the
    planned peak), for a capacity search "headroom 1.67x the required 30/s" (its last good level over its
    required rate), or "" when there is none (a search without a required rate)."""
    headroom = cap.get("headroom")
    if not isinstance(headroom, (int, float)) or isinstance(headroom, bool):
        return ""
    search = cap.get("search")
    if isinstance(search, Mapping):
        required = search.get("required_per_s")
        if not isinstance(required, (int, float)) or not required:
            return ""  # a summary written before headroom was read against the required rate
        return f"headroom {headroom:.2f}x the required {required:.3g}{unit}"
    return f"headroom {headroom:.2f}x"


def search_sentence(search: Bracket, unit: str = "visitors/s") -> str:
    """A capacity search's bracket in words, with what broke first at its first broken level: "Capacity
    between 72 and 75 visitors/s (within 4%; 5% asked; limited by latency): the search converged after 9
    levels." """
    good, broken = search.last_good_per_s, search.first_broken_per_s
    why, levels = ended_words(search, unit), f"{len(search.levels)} level{'s' if len(search.levels) != 1 else ''}"
    asked = f"{search.precision:.0%} asked"
    first = search.first_broken
    limited = [f"limited by {first.broke_by}"] if first is not None and first.broke_by else []
    if good is not None and broken is not None:
        within = "; ".join([f"within {search.width or 0:.0%}", asked, *limited])
        return f"Capacity between {good:.3g} and {broken:.3g} {unit} ({within}): {why} after {levels}."
    judged = "" if all(lv.judged for lv in search.levels) else " judged"
    if broken is not None:
        note = f" ({limited[0]})" if limited else ""
        return (f"Capacity below {broken:.3g} {unit}{note}: every level{judged} broke the service levels; {why} "
                f"after {levels}.")
    if good is None:
        return f"Capacity not measured: {why} after {levels}."
    return f"Capacity at least {good:.3g} {unit}: no level{judged} broke the service levels; {why} after {levels}."


def _scope_words(result: SloResult, analysis: Analysis) -> str:
    return scope_label(result.scope, analysis, levels=True)


def scope_label(scope: str, analysis: Analysis, levels: bool = False) -> str:
    """A scope in words, the same in every report; with ``levels``, with its planned level too."""
    plan, unit = analysis.plan, rate_unit(analysis)
    if scope == RUN:
        return f"up to the planned peak ({plan.planned_peak:.3g} {unit})" if levels else "up to the planned peak"
    if scope == PROBE:
        return f"in the headroom probe at up to {plan.probe_level or 0:.3g} {unit}" if levels else \
            "in the headroom probe"
    if scope == PEAK:
        return f"during the peak ({plan.planned_peak:.3g} {unit})" if levels else "during the peak"
    return f"during the {scope} phase"


def rate_unit(analysis: Analysis) -> str:
    """The plan's unit in words: ``visitors/s`` (open model) or ``users`` (closed)."""
    return "users" if analysis.plan.model == "users" else "visitors/s"


def slo_sentence(result: SloResult, analysis: Analysis) -> str:
    """A failed SLO as a sentence with its numbers."""
    what = _METRIC_WORDS[result.slo.metric]
    where = f"{result.slo.endpoint}" if result.slo.endpoint else \
        f"the {result.slo.journey} journey" if result.slo.journey else "all requests"
    if result.slo.metric == "success_rate":
        verb = "fell to"
        limit = f"at least {_limit(result)}"
    else:
        verb, limit = "reached", f"limit {_limit(result)}"
    if result.first_break_s is None:
        when = ""
    elif result.until_s is not None and not result.over_scope:
        when = f" from {format_clock(result.first_break_s)} to {format_clock(result.until_s)}"
    else:
        when = f", first from {format_clock(result.first_break_s)}"
    total = ""
    if not result.over_scope and result.scope_observed is not None:
        total = f"; {_value(result, result.scope_observed)} over the whole of it"
    if not result.over_scope:
        return (f"The {what} of {where} {verb} {_value(result)}{when} {_scope_words(result, analysis)} "
                f"({limit}{total}).")
    return (f"The {what} of {where} {verb} {_value(result)} {_scope_words(result, analysis)} "
            f"({limit}{when}).")


def plateau_sentence(b: Break, analysis: Analysis) -> str:
    """A throughput plateau as a sentence: when, at what load, and how far the endpoint fell behind."""
    share = f"{(1 - (b.observed or 0)) * 100:.0f}% fewer requests than its visitors asked for" \
        if b.observed is not None else "fewer requests than its visitors asked for"
    return (f"The site stopped keeping up with its visitors from {format_clock(b.start_s)} at about "
            f"{b.offered_per_s:.3g} {rate_unit(analysis)}: {b.endpoint} completed {share} "
            f"({'in the headroom probe' if not b.judged else 'at or below the planned peak'}).")

__all__ = ["capacity_figure", "headroom_words", "metric_words", "plateau_sentence", "rate_unit", "scope_label",
           "search_sentence", "slo_sentence"]
