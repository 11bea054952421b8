"""Why the planned load was not delivered, in the verdict's words (docs/verdict.md, decision 3).

A lost worker is named as the cause whatever else happened; otherwise the late and dropped arrivals are
weighed by the second they were planned in (and the next) against the hiccup meter's per-second data: a
saturated load generator, the machine pausing loadkit, or neither.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .analysis import PAUSE_MS, SATURATED_CPU, Analysis, SloResult
from .traffic import LEVEL_PREFIX
from .units import SHARE_METRICS, format_clock, format_ms

METRIC_WORDS = {"p50": "median (p50) response time", "p75": "p75 response time", "p90": "p90 response time",
                "p95": "p95 response time", "p99": "p99 response time", "max": "slowest response time",
                "mean": "average response time", "error_rate": "error rate",
                "success_rate": "share of visits completed", "p50_duration": "median (p50) visit duration",
                "p75_duration": "p75 visit duration", "p90_duration": "p90 visit duration",
                "p95_duration": "p95 visit duration", "p99_duration": "p99 visit duration",
                "max_duration": "longest visit", "mean_duration": "average visit duration"}


def disturbed_between(analysis: Analysis, start_s: float, end_s: float) -> bool:
    """Whether loadkit was paused or saturated in some second of [start_s, end_s) or the second before."""
    s = analysis.seconds
    if "hiccup_ms" not in s:
        return False
    inside = s[(s["t"] >= int(start_s) - 1) & (s["t"] < end_s)]
    return bool(((inside["hiccup_ms"] >= PAUSE_MS) | (inside["cpu"] >= SATURATED_CPU)).any())


def undisturbed_break(analysis: Analysis, result: SloResult) -> bool:
    """Whether ``result`` (a judged break) also breaks without the seconds loadkit was paused or saturated.
    An error rate or a share of visits completed always does: a paused loadkit measures the site's answers
    late, it does not make the site answer with an error (docs/verdict.md: only a latency break is weighed)."""
    if result.slo.metric in SHARE_METRICS:
        return True
    if not analysis.undisturbed_slo_results:
        return True  # no such seconds (or a run recorded before they were measured)
    health = analysis.traffic.generator
    stall = (health.hiccup_max_ms if health is not None else None) or 0.0
    if result.slo.metric not in SHARE_METRICS and result.observed is not None and \
            result.observed - stall > result.limit:
        return True  # even if every response had been slowed by the longest stall, the limit is broken
    for clean in analysis.undisturbed_slo_results:
        if clean.slo.name == result.slo.name and clean.scope == result.scope:
            return not clean.passed
    return True


def judged_levels_delivery(analysis: Analysis, planned: int, late_or_dropped: int,
                           missing: int) -> tuple[int, int, int]:
    """A search's arrivals without those of its levels not judged (planned, late or dropped, missing): such a
    level is set aside with its reason (analysis/levels.py), often loadkit's own shortfall, and the search
    ran it again; its arrivals say nothing of the levels that decided."""
    search, s = analysis.search, analysis.seconds
    if search is None:
        return planned, late_or_dropped, missing
    levels = [p for p in analysis.plan.phases if p.name.startswith(LEVEL_PREFIX)]
    for phase, level in zip(levels, search.levels, strict=False):
        if level.not_judged is None:
            continue
        inside = s[(s["t"] >= phase.start) & (s["t"] < phase.end)]
        level_planned = round(analysis.plan.integral(phase.start, phase.end))
        started = int(inside["started"].sum())
        planned -= level_planned
        late_or_dropped -= int(inside["late"].sum() + inside["dropped"].sum())
        missing -= max(0, level_planned - started)
    return max(planned, 0), max(late_or_dropped, 0), max(missing, 0)


def _late_share(analysis: Analysis, flag: Callable[[int, int], bool]) -> float:
    """Share of the late and dropped arrivals planned in seconds where ``flag(second, next second)`` holds."""
    s = analysis.seconds
    missing = (s["late"] + s["dropped"]).to_numpy(dtype=float)
    total = missing.sum()
    if total <= 0:
        return 0.0
    hits = sum(missing[i] for i in range(len(s)) if missing[i] and flag(i, min(i + 1, len(s) - 1)))
    return float(hits / total)


def undelivered_sentence(analysis: Analysis) -> str:
    """Why the planned arrivals did not start on time: (a) a saturated generator, (b) the machine paused
    loadkit, (c) something else. The per-second CPU and hiccups (run/hiccups.py) tell them apart."""
    traffic, s = analysis.traffic, analysis.seconds
    planned, late, dropped = traffic.planned_arrivals, traffic.late_arrivals, traffic.dropped_arrivals
    what = (f"{traffic.delivered_arrivals} of {planned} planned visitors started ({late} late, {dropped} could "
            "not start)")
    cpu = s["cpu"].to_numpy(dtype=float) if "cpu" in s else None
    hiccup = s["hiccup_ms"].to_numpy(dtype=float) if "hiccup_ms" in s else None
    if cpu is None or hiccup is None or (np.isnan(cpu).all() and np.isnan(hiccup).all()):
        # A run recorded before loadkit measured its CPU every second: only the run's busiest moment.
        busiest = analysis.meta.cpu_percent_max
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


def lost_workers_sentence(analysis: Analysis, lost: Sequence[str]) -> str:
    """A lost worker is the cause: its share of the plan stopped when it did, whatever the CPU said."""
    traffic = analysis.traffic
    if analysis.plan.model == "users":
        what = (f"at most {traffic.peak_delivered_per_s:.0f} of {analysis.plan.planned_peak:.0f} planned users "
                "were running")
    else:
        what = f"{traffic.delivered_arrivals} of {traffic.planned_arrivals} planned visitors started"
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


def disturbed_only_sentence(analysis: Analysis, failures: Sequence[SloResult]) -> str:
    """Every judged break needs the seconds loadkit was paused or saturated: the site cannot be blamed."""
    health = analysis.traffic.generator
    paused_s = health.paused_seconds if health is not None else 0
    saturated_s = health.saturated_seconds if health is not None else 0
    names = ", ".join(dict.fromkeys(f"{METRIC_WORDS[r.slo.metric]} of {r.slo.endpoint or 'all requests'}"
                                    for r in failures)) or "site's throughput"
    causes = []
    if paused_s:
        stall = (health.hiccup_max_ms if health is not None else None) or 0.0
        causes.append(f"the machine paused loadkit (up to {format_ms(stall)}, in {paused_s} seconds)")
    if saturated_s:
        causes.append(f"loadkit's own CPU was saturated ({saturated_s} seconds at "
                      f"{SATURATED_CPU:.0f}% of a core or more)")
    return (f"The {names} broke only when counting the seconds in which {' and '.join(causes) or 'loadkit stalled'}; "
            "without those seconds the service levels held, so this run cannot tell the site's slowness from "
            "the machine's. Run on a quieter machine or a dedicated runner"
            + (", or with more --workers." if saturated_s else "."))


__all__ = ["METRIC_WORDS", "disturbed_between", "disturbed_only_sentence", "judged_levels_delivery",
           "lost_workers_sentence", "undelivered_sentence", "undisturbed_break"]
