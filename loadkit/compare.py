"""Comparing two runs: did the site get slower, more error-prone or lose capacity?

Percentiles and error rates are compared per endpoint and over all requests, from the runs' merged
histograms, over the part of each run up to its planned peak (before any headroom probe). A change
counts only when it is larger than the runs' own noise: each run is resampled by blocks of seconds
(a bootstrap over its per-second histograms) to get a 95% interval for the change, and

- a percentile is a **regression** when the whole interval of new/base lies above ``1 + min_change``
  (10% slower at the least), an **improvement** when it lies below ``1 / (1 + min_change)``;
- an error rate is a regression when the whole interval of new - base lies above ``min_error_change``
  (0.5 percentage points);
- capacity (from each run's own analysis) is a regression when it fell by more than ``min_change``.

Anything else is "no change", or "uncertain" when the point estimate moved past the threshold but the
interval does not rule out noise.

Two capacity searches (``profile: search``) compare by what they found, not by their response times: each
chose its levels as it went and pushed past its site's limit on purpose, so their latencies were measured
at different loads. Their capacity change is the ratio of the last good levels, with the interval the two
brackets allow (the true capacities lie within them); a search and a planned run do not compare at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .aggregate import bucket_values_ms, dense_quantile
from .analysis import analyze
from .analysis.measurements import failure_counts, phase_of_seconds
from .data import RunData
from .errors import UsageError
from .traffic import judged_phases
from .verdict import judge

ALL = "all requests"
METRICS = ("p50", "p95", "p99")
QUANTILE = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
RESAMPLES = 400
MIN_REQUESTS = 20  # fewer requests than this on either side: not compared


@dataclass(frozen=True)
class Change:
    """One figure in both runs, and what the comparison decided."""

    endpoint: str
    metric: str  # p50 | p95 | p99 | error_rate | capacity
    base: float | None
    new: float | None
    low: float | None  # 95% interval of new/base (percentiles) or new - base (error rate)
    high: float | None
    decision: str  # regression | improvement | no change | uncertain | not compared

    @property
    def relative(self) -> float | None:
        """new / base - 1, when both exist and base is not zero."""
        if self.base is None or self.new is None or self.base == 0:
            return None
        return self.new / self.base - 1


@dataclass(frozen=True)
class Comparison:
    """The outcome of ``loadkit compare BASE NEW``."""

    base_name: str
    new_name: str
    base_verdict: str
    new_verdict: str
    changes: tuple[Change, ...]
    notes: tuple[str, ...]
    min_change: float
    min_error_change: float
    searches: bool = False  # two capacity searches: one capacity change, bounded by their brackets

    @property
    def regressions(self) -> tuple[Change, ...]:
        """The changes judged regressions."""
        return tuple(c for c in self.changes if c.decision == "regression")

    @property
    def improvements(self) -> tuple[Change, ...]:
        """The changes judged improvements."""
        return tuple(c for c in self.changes if c.decision == "improvement")


@dataclass(frozen=True)
class _Blocks:
    """One endpoint of one run: per block of seconds, a dense histogram plus requests and failures."""

    counts: np.ndarray  # blocks x buckets
    buckets: np.ndarray  # bucket index of each column
    requests: np.ndarray  # per block
    failures: np.ndarray  # per block


def _blocks(run: RunData, block_s: int) -> dict[str, _Blocks]:
    """Per endpoint (and over all requests), the judged part of a run cut into blocks of ``block_s``."""
    m = run.metrics
    if m.empty:
        return {}
    t = m["t"].to_numpy(dtype=np.int64)
    judged_row = np.isin(phase_of_seconds(run.plan, int(t.max()) + 1), list(judged_phases(run.plan)))[t]
    block = t // block_s
    n_fail = failure_counts(m["failures"])
    entry_row = run.hist.row
    out: dict[str, _Blocks] = {}
    endpoints = m["endpoint"].to_numpy()
    labels = [(ALL, judged_row)] + [(str(e), judged_row & (endpoints == e)) for e in sorted(set(endpoints))]
    for name, mask in labels:
        if not mask.any():
            continue
        blocks, block_pos = np.unique(block[mask], return_inverse=True)
        row_block = np.full(len(m), -1, dtype=np.int64)
        row_block[mask] = block_pos
        entry_block = row_block[entry_row]
        keep = entry_block >= 0
        buckets, bucket_pos = np.unique(run.hist.idx[keep], return_inverse=True)
        flat = entry_block[keep] * len(buckets) + bucket_pos
        counts = np.bincount(flat, weights=run.hist.cnt[keep],
                             minlength=len(blocks) * len(buckets)).reshape(len(blocks), len(buckets))
        requests = np.bincount(block_pos, weights=m["requests"].to_numpy()[mask], minlength=len(blocks))
        failures = np.bincount(block_pos, weights=n_fail[mask], minlength=len(blocks))
        out[name] = _Blocks(counts=counts, buckets=buckets.astype(np.int64), requests=requests, failures=failures)
    return out


def _on_buckets(b: _Blocks, buckets: np.ndarray) -> np.ndarray:
    """``b``'s counts laid out on a shared (sorted, superset) bucket axis."""
    dense = np.zeros((b.counts.shape[0], len(buckets)))
    dense[:, np.searchsorted(buckets, b.buckets)] = b.counts
    return dense


def _quantiles(counts: np.ndarray, values: np.ndarray, q: float) -> np.ndarray:
    """The q-quantile (ms) of each row of ``counts`` (rows are histograms over ``values``)."""
    return dense_quantile(np.cumsum(counts, axis=1), values, q)


def _weights(n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap weights: how often each block is drawn in each resample."""
    return rng.multinomial(n_blocks, np.full(n_blocks, 1.0 / n_blocks), size=RESAMPLES).astype(float)


def _decide_ratio(low: float, high: float, point: float, min_change: float) -> str:
    if low > 1 + min_change:
        return "regression"
    if high < 1 / (1 + min_change):
        return "improvement"
    if point > 1 + min_change or point < 1 / (1 + min_change):
        return "uncertain"
    return "no change"


def _decide_diff(low: float, high: float, point: float, min_diff: float) -> str:
    if low > min_diff:
        return "regression"
    if high < -min_diff:
        return "improvement"
    if abs(point) > min_diff:
        return "uncertain"
    return "no change"


def _compare_endpoint(name: str, base: _Blocks | None, new: _Blocks | None, rng: np.random.Generator,
                      min_change: float, min_error_change: float) -> list[Change]:
    if base is None or new is None or base.requests.sum() < MIN_REQUESTS or new.requests.sum() < MIN_REQUESTS:
        b_req = None if base is None else base.requests.sum()
        n_req = None if new is None else new.requests.sum()
        return [Change(name, "requests", b_req, n_req, None, None, "not compared")]
    buckets = np.union1d(base.buckets, new.buckets)
    values = bucket_values_ms(buckets)
    bc, nc = _on_buckets(base, buckets), _on_buckets(new, buckets)
    wb, wn = _weights(bc.shape[0], rng), _weights(nc.shape[0], rng)
    boot_b, boot_n = wb @ bc, wn @ nc
    changes = []
    for metric in METRICS:
        q = QUANTILE[metric]
        point_b = float(_quantiles(bc.sum(axis=0, keepdims=True), values, q)[0])
        point_n = float(_quantiles(nc.sum(axis=0, keepdims=True), values, q)[0])
        ratios = _quantiles(boot_n, values, q) / np.maximum(_quantiles(boot_b, values, q), 1e-6)
        low, high = (float(x) for x in np.percentile(ratios, [2.5, 97.5]))
        decision = _decide_ratio(low, high, point_n / max(point_b, 1e-6), min_change)
        changes.append(Change(name, metric, point_b, point_n, low, high, decision))
    rate_b = wb @ base.failures / np.maximum(wb @ base.requests, 1)
    rate_n = wn @ new.failures / np.maximum(wn @ new.requests, 1)
    point_b = float(base.failures.sum() / base.requests.sum())
    point_n = float(new.failures.sum() / new.requests.sum())
    low, high = (float(x) for x in np.percentile(rate_n - rate_b, [2.5, 97.5]))
    changes.append(Change(name, "error_rate", point_b, point_n, low, high,
                          _decide_diff(low, high, point_n - point_b, min_error_change)))
    return changes


def _capacity_change(b: Mapping[str, Any], n: Mapping[str, Any], min_change: float) -> Change:
    """Capacity from each run's own analysis (found, or "at least" what was tried)."""
    b_rate, n_rate = b.get("arrivals_per_s") or None, n.get("arrivals_per_s") or None
    if b_rate is None or n_rate is None or not (b.get("found") or n.get("found")):
        # neither run broke: both capacities are only "at least what was tried"
        return Change(ALL, "capacity", b_rate, n_rate, None, None, "not compared")
    ratio = n_rate / b_rate
    decision = "no change"
    if ratio < 1 / (1 + min_change) and n.get("found"):
        decision = "regression"  # the new run broke below what the base run held
    elif ratio > 1 + min_change and b.get("found"):
        decision = "improvement"
    return Change(ALL, "capacity", b_rate, n_rate, ratio, ratio, decision)


def _bounds(search: Mapping[str, Any]) -> tuple[float, float | None]:
    """The capacities a search's bracket allows: from its last good level (0 when none held) up to its first
    broken one (None: nothing broke, no upper bound)."""
    good, broken = search.get("last_good_per_s"), search.get("first_broken_per_s")
    return float(good or 0.0), (float(broken) if broken else None)


def _search_change(b: Mapping[str, Any], n: Mapping[str, Any], min_change: float) -> Change:
    """Two searches' capacities: the last good levels, with the interval of new/base the brackets allow
    (``low``, ``high``; None where a bracket is open). A regression when even the highest ratio the brackets
    allow is below 1 / (1 + min_change): the new search broke well below a level the base held."""
    (b_low, b_high), (n_low, n_high) = _bounds(b), _bounds(n)
    base, new = b.get("last_good_per_s"), n.get("last_good_per_s")
    low = n_low / b_high if b_high else None  # an open base bracket: nothing bounds the ratio from below
    high = n_high / b_low if n_high is not None and b_low > 0 else None
    if not (b_low or b_high) or not (n_low or n_high):
        decision = "not compared"  # a search that judged no level
    elif high is not None and high < 1 / (1 + min_change):
        decision = "regression"
    elif low is not None and low > 1 + min_change:
        decision = "improvement"
    elif base and new and not 1 / (1 + min_change) <= new / base <= 1 + min_change:
        decision = "uncertain"  # the last good levels moved, but the brackets overlap
    elif not (base and new) and b_high and n_high and not 1 / (1 + min_change) <= n_high / b_high <= 1 + min_change:
        decision = "uncertain"  # no level held on one side: its first broken level moved, the capacity is unknown
    else:
        decision = "no change"
    return Change(ALL, "capacity", float(base) if base else None, float(new) if new else None, low, high, decision)


def is_search(summary: Mapping[str, Any]) -> bool:
    """Whether a summary.json document is a capacity search's (its capacity has a ``search`` bracket)."""
    cap = summary.get("capacity")
    return isinstance(cap, Mapping) and isinstance(cap.get("search"), Mapping)


def compare_runs(base: RunData, new: RunData, *, min_change: float = 0.10, min_error_change: float = 0.005,
                 seed: int = 1, summaries: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None) -> Comparison:
    """Compare two run directories (read with :func:`loadkit.data.load_run`).

    Capacity and verdicts come from each run's analysis; ``summaries`` (the runs' saved summary.json
    documents, as the history passes them) supply both without analysing the runs again. Two capacity
    searches compare by their brackets alone; a search and a planned run raise :class:`UsageError`.
    """
    searches = (base.plan.profile == "search", new.plan.profile == "search")
    if searches[0] != searches[1]:
        search_dir, planned_dir = (base, new) if searches[0] else (new, base)
        raise UsageError(f"{search_dir.path.name} is a capacity search and {planned_dir.path.name} a run of a "
                         "planned load: a search has no planned peak, so their figures do not compare.",
                         "compare a search with another search, or a planned run with another planned run")
    if all(searches):
        return _compare_searches(base, new, min_change, min_error_change, summaries)
    notes: list[str] = []
    if base.meta.scenario != new.meta.scenario:
        notes.append(f"The runs come from different scenarios ({base.meta.scenario} and "
                     f"{new.meta.scenario}); figures are compared as they are.")
    if base.plan.segments != new.plan.segments:
        notes.append("The runs followed different traffic plans; only their parts up to the planned peak are "
                     "compared.")
    span = max(int(base.metrics["t"].max()) if not base.metrics.empty else 0,
               int(new.metrics["t"].max()) if not new.metrics.empty else 0)
    block_s = 5 if span >= 100 else 1  # blocks of seconds keep the resampling honest about autocorrelation
    base_blocks, new_blocks = _blocks(base, block_s), _blocks(new, block_s)
    rng = np.random.default_rng(seed)
    changes: list[Change] = []
    names = [ALL] + sorted((set(base_blocks) | set(new_blocks)) - {ALL})
    for name in names:
        changes += _compare_endpoint(name, base_blocks.get(name), new_blocks.get(name), rng, min_change,
                                     min_error_change)
    if summaries is not None:
        (base_cap, base_verdict), (new_cap, new_verdict) = ((dict(doc.get("capacity") or {}), str(doc.get("verdict")))
                                                            for doc in summaries)
    else:
        base_analysis, new_analysis = analyze(base), analyze(new)
        base_cap, new_cap = asdict(base_analysis.capacity), asdict(new_analysis.capacity)
        base_verdict, new_verdict = judge(base_analysis).verdict, judge(new_analysis).verdict
    changes.append(_capacity_change(base_cap, new_cap, min_change))
    return Comparison(base_name=base.path.name, new_name=new.path.name,
                      base_verdict=base_verdict, new_verdict=new_verdict,
                      changes=tuple(changes), notes=tuple(notes), min_change=min_change,
                      min_error_change=min_error_change)


def _compare_searches(base: RunData, new: RunData, min_change: float, min_error_change: float,
                      summaries: tuple[Mapping[str, Any], Mapping[str, Any]] | None) -> Comparison:
    """Two capacity searches: their brackets, and why their response times are left out."""
    if summaries is not None:
        docs = [dict(doc.get("capacity") or {}) for doc in summaries]
        found = [dict(d.get("search") or {}) for d in docs]
        verdicts = [str(doc.get("verdict")) for doc in summaries]
    else:
        from .analysis.summary import search_part

        analyses = [analyze(base), analyze(new)]
        found = [search_part(a.search) if a.search is not None else {} for a in analyses]
        verdicts = [judge(a).verdict for a in analyses]
    notes = ["Both runs are capacity searches: each chose its levels as it went and pushed past the site's "
             "limit on purpose, so their response times and error rates were measured at different loads and "
             "are not compared; the capacities they found are."]
    if base.meta.scenario != new.meta.scenario:
        notes.append(f"The runs come from different scenarios ({base.meta.scenario} and "
                     f"{new.meta.scenario}); their capacities are compared as they are.")
    required = [f.get("required_per_s") for f in found]
    if required[0] != required[1]:
        notes.append("The searches were judged against different required rates ("
                     + " and ".join(f"{r:.3g}/s" if isinstance(r, (int, float)) else "none" for r in required)
                     + "); their verdicts say so.")
    return Comparison(base_name=base.path.name, new_name=new.path.name, base_verdict=verdicts[0],
                      new_verdict=verdicts[1], changes=(_search_change(found[0], found[1], min_change),),
                      notes=tuple(notes), min_change=min_change, min_error_change=min_error_change, searches=True)


def comparison_dict(comparison: Comparison) -> dict[str, Any]:
    """The comparison as a JSON-ready document."""
    def num(value: float | None) -> float | None:
        return None if value is None or pd.isna(value) else round(float(value), 5)

    return {
        "base": comparison.base_name, "new": comparison.new_name,
        "base_verdict": comparison.base_verdict, "new_verdict": comparison.new_verdict,
        "regression": bool(comparison.regressions), "min_change": comparison.min_change,
        "min_error_change": comparison.min_error_change, "notes": list(comparison.notes),
        "changes": [{"endpoint": c.endpoint, "metric": c.metric, "base": num(c.base), "new": num(c.new),
                     "low": num(c.low), "high": num(c.high), "decision": c.decision} for c in comparison.changes],
    }


__all__ = ["Change", "Comparison", "compare_runs", "comparison_dict", "is_search"]
