"""The verdict: a pure function of the analysis and the scenario's policy.

- **fails**: an SLO broke at or below the planned peak (anywhere before the headroom probe), also when
  not all the planned load was delivered or the run was interrupted: less load that breaks the site is
  conclusive. A break that holds only with the seconds loadkit itself was paused or saturated counted
  is not the site's (inconclusive).
- **inconclusive**: the planned load was not delivered (late or dropped arrivals beyond the tolerance:
  a saturated generator, the machine pausing loadkit, or another cause, each with its own sentence) or
  the run was interrupted, and no SLO broke. Never "survives" or "at-risk" for load not delivered.
- **at-risk**: SLOs held up to the planned peak but broke in the headroom probe, or the site recovered
  slowly (or not at all) once the load fell.
- **survives**: SLOs held through the burst, the probe and the recovery.

Every reason is a sentence a shop owner can read, carrying the endpoint, the metric, the observed value,
the limit and when it happened. Reasons are ranked: what broke first comes first.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import numpy as np

from . import scenario_errors as scenario_faults
from .analysis import PAUSE_MS, SATURATED_CPU, Analysis, SloResult
from .held import Break
from .scenario import VerdictPolicy
from .units import format_clock, format_duration, format_metric, format_ms, format_percent, parse_rate

VERDICTS = ("survives", "at-risk", "fails", "inconclusive")
_METRIC_WORDS = {"p50": "median (p50) response time", "p75": "p75 response time", "p90": "p90 response time",
                 "p95": "p95 response time", "p99": "p99 response time", "max": "slowest response time",
                 "mean": "average response time", "error_rate": "error rate"}


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


def _value(result: SloResult, value: float | None = None) -> str:
    return format_metric(result.slo.metric, result.observed if value is None else value)


def _limit(result: SloResult) -> str:
    return format_metric(result.slo.metric, result.limit)


def metric_words(metric: str) -> str:
    """An SLO metric in words: ``p95`` -> ``p95 response time``."""
    return _METRIC_WORDS.get(metric, metric)


def capacity_figure(cap: dict[str, Any], unit: str = "/s") -> str:
    """The capacity as every report prints it: ``~26.7/s``, ``>= 12/s`` or ``below 8/s``."""
    value, broke_at = cap.get("arrivals_per_s") or 0.0, cap.get("broke_at_per_s") or 0.0
    if cap.get("found") and value > 0:
        return f"~{value:.3g}{unit}"
    if cap.get("found"):
        return f"below {broke_at:.3g}{unit}" if broke_at > 0 else "below the lowest rate offered"
    return f"≥ {value:.3g}{unit}" if value > 0 else "n/a"


_KIND_WORDS = {"timeout": "timed out", "connection_timeout": "connection timed out",
               "network_timeout": "response timed out", "connection_reset": "connection reset by the site",
               "connection_refused": "connection refused", "connection_error": "connection failed",
               "dns": "host name did not resolve", "tls": "TLS (certificate) error",
               "check_failed": "a check on the page failed", "extract_failed": "a value to extract was missing",
               "http_503_retry_after": "HTTP 503 with Retry-After (shedding load)", "http_429": "HTTP 429 Too Many "
               "Requests", "error": "request failed"}
_CLASS_WORDS = {"shedding": "turned away politely", "collapse": "breakdown", "other": "other"}


def kind_words(kind: str) -> str:
    """A failure kind in words: ``http_503`` -> ``HTTP 503 Service Unavailable``."""
    if kind in _KIND_WORDS:
        return _KIND_WORDS[kind]
    if kind.startswith("http_") and kind[5:8].isdigit():
        code = int(kind[5:8])
        try:
            return f"HTTP {code} {HTTPStatus(code).phrase}"
        except ValueError:
            return f"HTTP {code}"
    return kind.replace("_", " ")


def class_words(cls: str) -> str:
    """An error class in words."""
    return _CLASS_WORDS.get(cls, cls)


def _scope_words(result: SloResult, analysis: Analysis) -> str:
    return scope_label(result.scope, analysis, levels=True)


def scope_label(scope: str, analysis: Analysis, levels: bool = False) -> str:
    """A scope in words, the same in every report; with ``levels``, with its planned level too."""
    plan, unit = analysis.plan, _unit(analysis)
    if scope == "run":
        return f"up to the planned peak ({plan.planned_peak:.3g} {unit})" if levels else "up to the planned peak"
    if scope == "probe":
        return f"in the headroom probe at up to {plan.probe_level or 0:.3g} {unit}" if levels else \
            "in the headroom probe"
    if scope == "peak":
        return f"during the peak ({plan.planned_peak:.3g} {unit})" if levels else "during the peak"
    return f"during the {scope} phase"


def _unit(analysis: Analysis) -> str:
    return "users" if analysis.plan.model == "users" else "visitors/s"


def slo_sentence(result: SloResult, analysis: Analysis) -> str:
    """A failed SLO as a sentence with its numbers."""
    what = _METRIC_WORDS[result.slo.metric]
    where = f"{result.slo.endpoint}" if result.slo.endpoint else "all requests"
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
        return (f"The {what} of {where} reached {_value(result)}{when} {_scope_words(result, analysis)} "
                f"(limit {_limit(result)}{total}).")
    return (f"The {what} of {where} reached {_value(result)} {_scope_words(result, analysis)} "
            f"(limit {_limit(result)}{when}).")


def _plateau_sentence(b: Break, analysis: Analysis) -> str:
    share = f"{(1 - (b.observed or 0)) * 100:.0f}% fewer requests than its visitors asked for" \
        if b.observed is not None else "fewer requests than its visitors asked for"
    return (f"The site stopped keeping up with its visitors from {format_clock(b.start_s)} at about "
            f"{b.offered_per_s:.3g} {_unit(analysis)}: {b.endpoint} completed {share} "
            f"({'in the headroom probe' if not b.judged else 'at or below the planned peak'}).")


def judge(analysis: Analysis, policy: VerdictPolicy | None = None) -> Verdict:
    """Decide survives / at-risk / fails / inconclusive, with ranked reasons."""
    policy = policy or VerdictPolicy.model_validate(analysis.scenario.get("verdict") or {})
    traffic, meta = analysis.traffic, analysis.meta
    if meta.get("aborted"):
        collapse = analysis.totals.get("collapse_errors", 0)
        how = "broke down so badly" if collapse else "turned visitors away so often"
        return Verdict("fails", (f"The load was aborted to protect the site: {meta['aborted']}.",
                                 *_context(analysis, policy)),
                       f"Fails: the site {how} that the load was stopped.")
    inconclusive: list[str] = []
    if meta.get("interrupted"):
        inconclusive.append(f"The run was interrupted at {format_clock(meta.get('duration_s') or 0)} of "
                            f"{format_clock(analysis.plan.duration)}; the results cover only that part.")
    planned = traffic["planned_arrivals"]
    lost = [str(w) for w in meta.get("lost_workers") or []]
    if lost:  # the named cause of load not delivered: not the generator's capacity
        inconclusive.append(_lost_workers_sentence(analysis, lost))
    if analysis.plan.model == "users":
        if traffic["delivered_share"] < 1 - policy.max_late_share and not lost:
            inconclusive.append(
                f"loadkit could not run the planned users: at most {traffic['peak_delivered_per_s']:.0f} of "
                f"{analysis.plan.planned_peak:.0f} were running; the load generator, not the site, was the "
                "limit.")
    elif planned and not meta.get("disk_full"):  # a full disk stopped the load: its own reason says so
        missing = max(traffic["dropped_arrivals"], planned - traffic["delivered_arrivals"])
        max_rate = _max_rate(analysis)
        if max_rate is not None and max_rate < analysis.plan.max_level * (1 - policy.max_late_share):
            inconclusive.append(
                f"The scenario's safety.max_rate of {max_rate:.3g}/s held the load below the plan (peak "
                f"{analysis.plan.max_level:.3g}/s): {traffic['delivered_arrivals']} of {planned} planned visitors "
                "started, so the plan was not tested.")
        elif (traffic["dropped_arrivals"] + traffic["late_arrivals"] > policy.max_late_share * planned or
              missing > max(1.0, policy.max_late_share * planned)) and not lost:
            inconclusive.append(_undelivered(analysis))
    measured = analysis.totals["requests"] > 0
    scenario_failed = scenario_faults.inconclusive_reason(analysis.scenario_errors)
    if scenario_failed:  # the scenario's own errors, not the site's (docs/verdict.md)
        inconclusive.append(scenario_failed)
    elif not measured:
        inconclusive.append("No request was measured, so nothing can be said about the site.")
    for note in meta.get("inconclusive_reasons", []):
        if str(note) not in {f"The load generator could not be trusted: {w}." for w in lost}:  # older runs
            inconclusive.append(str(note))

    judged_failures = sorted((r for r in analysis.slo_results if not r.passed and r.scope != "probe"),
                             key=_rank)
    probe_failures = sorted((r for r in analysis.slo_results if not r.passed and r.scope == "probe"), key=_rank)
    plateaus = [b for b in analysis.breaks if b.signal == "throughput plateau"]
    # A break that needs the seconds loadkit was paused or saturated may be loadkit's doing: only the
    # breaks that remain without those seconds are the site's.
    conclusive = [r for r in judged_failures if _undisturbed_break(analysis, r)]
    site_plateaus = [b for b in plateaus if b.judged and not _disturbed_between(analysis, b.start_s, b.end_s)]
    # One sentence per SLO: the judged scope that broke first speaks for it.
    reasons = _dedupe([slo_sentence(r, analysis) for r in _first_per_slo(conclusive)] +
                      [_plateau_sentence(b, analysis) for b in site_plateaus])
    if reasons and measured:
        how = "broke down" if analysis.totals.get("collapse_errors") else "broke its service levels"
        if not analysis.totals.get("collapse_errors") and analysis.totals.get("shedding_errors"):
            how = "turned visitors away or slowed past its service levels"
        # Less load than planned that already breaks the site is conclusive: fails stands.
        undelivered = (["Not all of the planned load was delivered, but the site already broke its service "
                        "levels under the load it did receive, so the verdict stands:"] + inconclusive
                       if inconclusive else [])
        return Verdict("fails", tuple(reasons + _broke_first(analysis) + undelivered + _context(analysis, policy)),
                       f"Fails: the site {how} at or below the planned peak.")
    if (judged_failures or any(b.judged for b in plateaus)) and not inconclusive:
        inconclusive.append(_disturbed_only(analysis, judged_failures))
    if inconclusive:
        paused = len(inconclusive) == 1 and ("The machine paused loadkit" in inconclusive[0]
                                             or "the machine paused loadkit (" in inconclusive[0])
        headline = ("Inconclusive: the machine paused loadkit, so this run cannot judge the site." if paused else
                    "Inconclusive: the scenario itself failed on every visit, so this run cannot judge the site."
                    if scenario_failed and len(inconclusive) == 1 else
                    "Inconclusive: the test could not deliver or finish the planned load.")
        return Verdict("inconclusive", tuple(inconclusive), headline)

    risk: list[str] = []
    cap = analysis.capacity
    probe_reasons = _dedupe([slo_sentence(r, analysis) for r in _first_per_slo(probe_failures)] +
                            [_plateau_sentence(b, analysis) for b in plateaus if not b.judged])
    if probe_reasons:
        headroom = cap.get("headroom")
        cap_words = (f"it held up to about {cap['arrivals_per_s']:.3g} {_unit(analysis)}, a headroom of "
                     f"{headroom:.2f}x" if cap.get("found") and headroom is not None else "")
        risk.append(f"The site held at the planned peak but not at {policy.required_headroom:g}x of it "
                    + (f"({cap_words}, below the {policy.required_headroom:g}x required)." if cap_words else "."))
        risk.extend(probe_reasons)
    recovery = analysis.recovery
    if recovery.get("measured"):
        if recovery.get("recovered") is False:
            risk.append("After the load fell back to baseline, the site did not recover before the run ended.")
        elif (recovery.get("seconds") or 0) > policy.recovery_within:
            risk.append(f"After the load fell back to baseline, the site took {format_duration(recovery['seconds'])} "
                        f"to recover (limit {format_duration(policy.recovery_within)}).")
    if risk:
        headline = ("At risk: the site held at the planned peak with too little margin." if probe_reasons else
                    "At risk: the site held at the planned peak but was slow to recover after it.")
        return Verdict("at-risk", tuple(risk + _broke_first(analysis) + _context(analysis, policy)), headline)

    held = len({r.slo.name for r in analysis.slo_results})
    probe = analysis.plan.probe_level
    survived = [f"All {held} service levels held up to the planned peak of {analysis.plan.planned_peak:.3g} "
                f"{_unit(analysis)}" + (f" and in the headroom probe at {probe:.3g} {_unit(analysis)}." if probe else
                                        "; no headroom probe ran, so the margin above the peak was not tested.")]
    headline = ("Survives: the site kept its service levels with margin." if probe else
                "Survives: the site kept its service levels up to the planned peak (margin not tested).")
    return Verdict("survives", tuple(survived + _context(analysis, policy)), headline)


def _undisturbed_break(analysis: Analysis, result: SloResult) -> bool:
    """Whether ``result`` (a judged break) also breaks without the seconds loadkit was paused or saturated."""
    if not analysis.undisturbed_slo_results:
        return True  # no such seconds (or a run recorded before they were measured)
    stall = analysis.traffic.get("hiccup_max_ms") or 0.0
    if result.slo.metric != "error_rate" and result.observed is not None and result.observed - stall > result.limit:
        return True  # even if every response had been slowed by the longest stall, the limit is broken
    for clean in analysis.undisturbed_slo_results:
        if clean.slo.name == result.slo.name and clean.scope == result.scope:
            return not clean.passed
    return True


def _disturbed_between(analysis: Analysis, start_s: float, end_s: float) -> bool:
    """Whether loadkit was paused or saturated in some second of [start_s, end_s) or the second before."""
    s = analysis.seconds
    if "hiccup_ms" not in s:
        return False
    inside = s[(s["t"] >= int(start_s) - 1) & (s["t"] < end_s)]
    return bool(((inside["hiccup_ms"] >= PAUSE_MS) | (inside["cpu"] >= SATURATED_CPU)).any())


def _late_share(analysis: Analysis, flag: Any) -> float:
    """Share of the late and dropped arrivals planned in seconds where ``flag(second, next second)`` holds."""
    s = analysis.seconds
    missing = (s["late"] + s["dropped"]).to_numpy(dtype=float)
    total = missing.sum()
    if total <= 0:
        return 0.0
    hits = sum(missing[i] for i in range(len(s)) if missing[i] and flag(i, min(i + 1, len(s) - 1)))
    return float(hits / total)


def _undelivered(analysis: Analysis) -> str:
    """Why the planned arrivals did not start on time: (a) a saturated generator, (b) the machine paused
    loadkit, (c) something else. The per-second CPU and hiccups (run/hiccups.py) tell them apart."""
    traffic, s = analysis.traffic, analysis.seconds
    planned, late, dropped = traffic["planned_arrivals"], traffic["late_arrivals"], traffic["dropped_arrivals"]
    what = (f"{traffic['delivered_arrivals']} of {planned} planned visitors started ({late} late, {dropped} could "
            "not start)")
    cpu = s["cpu"].to_numpy(dtype=float) if "cpu" in s else None
    hiccup = s["hiccup_ms"].to_numpy(dtype=float) if "hiccup_ms" in s else None
    if cpu is None or hiccup is None or (np.isnan(cpu).all() and np.isnan(hiccup).all()):
        # A run recorded before loadkit measured its CPU every second: only the run's busiest moment.
        busiest = float((analysis.meta.get("generator") or {}).get("cpu_percent_max") or 0.0)
        if busiest >= SATURATED_CPU:
            return _saturated_sentence(what, busiest)
        return _other_sentence(what, None)
    cpu, hiccup = np.nan_to_num(cpu), np.nan_to_num(hiccup)

    def hot(i: int, j: int) -> bool:
        return bool(max(cpu[i], cpu[j]) >= SATURATED_CPU)

    def paused(i: int, j: int) -> bool:
        return bool(max(hiccup[i], hiccup[j]) >= PAUSE_MS and not hot(i, j))

    saturated_share, paused_share = _late_share(analysis, hot), _late_share(analysis, paused)
    # the CPU of the seconds the late arrivals were planned in (and the next, when they started)
    missing = (s["late"] + s["dropped"]).to_numpy() > 0
    near = missing | np.concatenate(([False], missing[:-1]))
    cpu_late = float(cpu[near].max()) if near.any() else float(cpu.max())
    if saturated_share + paused_share >= 0.5 and saturated_share >= paused_share:
        return _saturated_sentence(what, cpu_late)
    if saturated_share + paused_share >= 0.5:
        return (f"The machine paused loadkit for up to {format_ms(float(hiccup.max()))} "
                f"({_paused_seconds_words(hiccup)}) while loadkit used at most {cpu_late:.0f}% of a CPU core, "
                f"so {what}. Neither the site nor loadkit's capacity was the limit and more --workers would not "
                "help: run on a quieter machine or a dedicated runner.")
    return _other_sentence(what, cpu_late)


def _lost_workers_sentence(analysis: Analysis, lost: list[str]) -> str:
    """A lost worker is the cause: its share of the plan stopped when it did, whatever the CPU said."""
    traffic = analysis.traffic
    if analysis.plan.model == "users":
        what = (f"at most {traffic['peak_delivered_per_s']:.0f} of {analysis.plan.planned_peak:.0f} planned users "
                "were running")
    else:
        what = f"{traffic['delivered_arrivals']} of {traffic['planned_arrivals']} planned visitors started"
    return (f"loadkit lost a load worker ({'; '.join(lost)}), so {what}: the worker's share of the plan was not "
            "sent after it went. The lost worker, not the site, is why the plan was not delivered: see why it ended "
            "in its log (worker-N.log in the run directory for a local worker) or on its machine, then run again.")


def _saturated_sentence(what: str, cpu: float) -> str:
    return (f"loadkit could not deliver the planned load: {what} while its load generator ran at up to "
            f"{cpu:.0f}% of a CPU core (saturated); the load generator, not the site, was the limit. Use more "
            "--workers, a bigger machine, or a lower --rate-scale.")


def _other_sentence(what: str, cpu: float | None) -> str:
    why = (f" Neither a saturated load generator (at most {cpu:.0f}% of a CPU core) nor pauses of the machine "
           "explain it." if cpu is not None else "")
    return (f"loadkit could not deliver the planned load: {what}.{why} The results do not test the planned "
            "load; run.log may say more.")


def _paused_seconds_words(hiccup: np.ndarray) -> str:
    seconds = [i for i, v in enumerate(hiccup) if v >= PAUSE_MS]
    if not seconds:
        return "no single pause reached 50 ms"
    return (f"{len(seconds)} second{'s' if len(seconds) != 1 else ''} with pauses of {PAUSE_MS:.0f} ms or more, "
            f"first at {format_clock(seconds[0])}")


def _disturbed_only(analysis: Analysis, failures: list[SloResult]) -> str:
    """Every judged break needs the seconds loadkit was paused or saturated: the site cannot be blamed."""
    traffic = analysis.traffic
    names = ", ".join(dict.fromkeys(f"{_METRIC_WORDS[r.slo.metric]} of {r.slo.endpoint or 'all requests'}"
                                    for r in failures)) or "site's throughput"
    causes = []
    if traffic.get("paused_seconds"):
        causes.append(f"the machine paused loadkit (up to {format_ms(traffic['hiccup_max_ms'] or 0.0)}, in "
                      f"{traffic['paused_seconds']} seconds)")
    if traffic.get("saturated_seconds"):
        causes.append(f"loadkit's own CPU was saturated ({traffic['saturated_seconds']} seconds at "
                      f"{SATURATED_CPU:.0f}% of a core or more)")
    return (f"The {names} broke only when counting the seconds in which {' and '.join(causes) or 'loadkit stalled'}; "
            "without those seconds the service levels held, so this run cannot tell the site's slowness from "
            "the machine's. Run on a quieter machine or a dedicated runner"
            + (", or with more --workers." if traffic.get("saturated_seconds") else "."))


def _max_rate(analysis: Analysis) -> float | None:
    """The scenario's ``safety.max_rate`` in arrivals/s, if it set one."""
    raw = (analysis.scenario.get("safety") or {}).get("max_rate")
    return None if raw is None else parse_rate(raw)


def _rank(result: SloResult) -> tuple[float, int]:
    order = {"run": 1, "peak": 0}.get(result.scope, 2)
    return (result.first_break_s if result.first_break_s is not None else float("inf"), order)


def _first_per_slo(results: list[SloResult]) -> list[SloResult]:
    seen: set[str] = set()
    out = []
    for r in results:
        if r.slo.name not in seen:
            seen.add(r.slo.name)
            out.append(r)
    return out


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _broke_first(analysis: Analysis, limit: int = 3) -> list[str]:
    """One sentence naming what broke first, in order, with the same numbers as the tables."""
    parts = []
    for row in analysis.broke_first.to_dict("records")[:limit]:
        first = row["first_s"]
        if first is None or first != first:
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


def _context(analysis: Analysis, policy: VerdictPolicy) -> list[str]:
    """Supporting facts after the main reasons: peak figures, capacity, recovery."""
    out: list[str] = []
    peak = analysis.phases[analysis.phases["phase"] == "peak"] if len(analysis.phases) else None
    if peak is not None and len(peak):
        row: dict[str, Any] = peak.iloc[0].to_dict()
        if row.get("p95") is not None and row.get("error_rate") is not None:
            out.append(f"At the peak: p95 {format_ms(row['p95'])}, error rate {format_percent(row['error_rate'])}.")
    totals = analysis.totals
    if totals.get("failures"):
        shed, collapse = totals.get("shedding_errors", 0), totals.get("collapse_errors", 0)
        if shed or collapse:
            out.append(f"Of {totals['failures']:,} failed requests, {shed:,} were turned away politely (429, or 503 "
                       f"with Retry-After) and {collapse:,} were breakdowns (server errors, timeouts, dropped or "
                       "refused connections).")
    cap = analysis.capacity
    if cap.get("found") and not cap.get("arrivals_per_s"):
        below = f"below {cap['broke_at_per_s']:.3g} {_unit(analysis)}" if cap.get("broke_at_per_s") else \
            "below the lowest rate this run offered"
        out.append(f"Capacity: {below}; {cap['limited_by']} broke the service levels at the lowest rate this run "
                   "offered.")
    elif cap.get("found"):
        out.append(f"Capacity: about {cap['arrivals_per_s']:.3g} {_unit(analysis)} before {cap['limited_by']} "
                   f"broke the service levels (headroom {cap['headroom']:.2f}x the planned peak).")
    elif cap.get("arrivals_per_s"):
        out.append(f"Capacity: at least {cap['arrivals_per_s']:.3g} {_unit(analysis)} (the most this run tried).")
    out.extend(scenario_faults.context_sentence(analysis.scenario_errors))
    return out
