"""Grouped latency statistics over a run's flat histogram tables (the numeric core of the analysis).

Every metrics row carries a sparse histogram; :class:`Exploded` prepares a table of them once, and
:func:`aggregate` computes requests, failures, percentiles (from merged histograms, never averaged),
error rate and Apdex for any grouping of the rows: per second, per endpoint, per window, per scope.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .data import HistogramTable
from .histogram import SUB_BUCKETS

QUANTILES = {"p50": 0.50, "p75": 0.75, "p90": 0.90, "p95": 0.95, "p99": 0.99}
_NB = 1 << 16  # bucket-index space, larger than any index the histogram produces


def bucket_values_ms(idx: np.ndarray) -> np.ndarray:
    """Vectorised :func:`loadkit.histogram.bucket_value`, in milliseconds."""
    idx = idx.astype(np.int64)
    shift = np.maximum(idx // SUB_BUCKETS - 1, 0)
    small = idx < 2 * SUB_BUCKETS
    sub = idx - shift * SUB_BUCKETS
    low = np.where(small, idx, sub << shift)
    width = np.where(small, 1, 1 << shift)
    return (low + (width - 1) / 2) / 1000.0


def dense_quantile(cum: np.ndarray, values: np.ndarray, q: float) -> np.ndarray:
    """The q-quantile of each row of ``cum``, cumulative counts over the bucket ``values`` (ms): the value of
    the bucket holding the ceil(q x n)-th sample. The one percentile rule (the analysis and the comparison)."""
    rank = np.maximum(1, np.ceil(q * cum[:, -1] - 1e-9))
    at = np.minimum((cum < rank[:, None]).sum(axis=1), len(values) - 1)
    return np.asarray(values[at])


_DENSE_CELLS = 2_000_000  # groups x buckets laid out densely at once (16 MB of float64)
_ENTRY_SLICE = 1 << 19  # histogram entries handled at once


class Exploded:
    """A run's histogram table prepared for grouping: each entry's bucket as a position in the
    (sorted) set of buckets that occur at all, so that per-group histograms can be laid out densely."""

    def __init__(self, table: HistogramTable) -> None:
        self.table = table
        self.cnt = table.cnt
        self.max_us, self.sum_us = table.max_us, table.sum_us
        present = np.zeros(_NB, dtype=bool)
        present[table.idx] = True
        self.vocab = np.flatnonzero(present)
        self.values = bucket_values_ms(self.vocab)
        self.pos = (np.cumsum(present, dtype=np.int32) - 1)[table.idx] if len(table.idx) else \
            np.zeros(0, dtype=np.int32)
        self.starts = np.cumsum(table.lens) - table.lens  # each row's first entry

    def entry_slices(self) -> Iterator[slice]:
        """The entries a slice at a time: an hour's per-entry arrays take tens of MB each (3.3 million
        entries at 1,000 requests/s), a slice's a few MB."""
        for e0 in range(0, len(self.pos), _ENTRY_SLICE):
            yield slice(e0, min(len(self.pos), e0 + _ENTRY_SLICE))

    def rows_of(self, entries: slice) -> np.ndarray:
        """The row of each entry in ``entries``."""
        # side="right": of rows starting at the same entry, the empty ones come first
        return np.searchsorted(self.starts, np.arange(entries.start, entries.stop), side="right") - 1

    def bucket_counts(self) -> np.ndarray:
        """Samples per bucket of ``vocab`` over every row."""
        counts = np.zeros(len(self.vocab))
        for entries in self.entry_slices():
            counts += np.bincount(self.pos[entries], weights=self.cnt[entries], minlength=len(self.vocab))
        return counts

    @classmethod
    def of(cls, hists: Sequence[dict[str, Any]]) -> Exploded:
        """From ``Histogram.to_dict()`` documents."""
        return cls(HistogramTable.of(list(hists)))

    def stats(self, groups: np.ndarray, n_groups: int, quantiles: Sequence[str] = tuple(QUANTILES)) -> pd.DataFrame:
        """Latency stats (ms) per group; ``groups[row]`` is a row's group (-1 leaves it out).

        Groups are laid out as dense (group x bucket) count matrices, a chunk of groups at a time, so
        memory stays bounded whatever the number of groups.
        """
        out = pd.DataFrame(index=pd.RangeIndex(n_groups))
        k = max(1, len(self.vocab))
        g = self.table.per_entry(groups.astype(np.int64 if n_groups * max(1, len(self.vocab)) >= 2**31
                                              else np.int32))
        totals = np.zeros(n_groups)
        cols = {name: np.full(n_groups, np.nan) for name in quantiles}
        chunk = max(1, _DENSE_CELLS // k)
        for lo in range(0, n_groups, chunk):
            hi = min(n_groups, lo + chunk)
            flat_counts = np.zeros((hi - lo) * k)
            for e0 in range(0, len(g), _ENTRY_SLICE):  # slices of entries keep temporaries small
                gs = g[e0:e0 + _ENTRY_SLICE]
                sel = (gs >= lo) & (gs < hi)
                if sel.any():
                    flat = (gs[sel] - lo) * k + self.pos[e0:e0 + _ENTRY_SLICE][sel]
                    flat_counts += np.bincount(flat, weights=self.cnt[e0:e0 + _ENTRY_SLICE][sel],
                                               minlength=len(flat_counts))
            cum = flat_counts.reshape(hi - lo, k)
            np.cumsum(cum, axis=1, out=cum)
            tot = cum[:, -1]
            totals[lo:hi] = tot
            for name, col in cols.items():
                col[lo:hi] = np.where(tot > 0, dense_quantile(cum, self.values, QUANTILES[name])
                                      if len(self.values) else np.nan, np.nan)
        row_keep = groups >= 0
        gmax = np.zeros(n_groups)
        np.maximum.at(gmax, groups[row_keep], self.max_us[row_keep] / 1000.0)
        gsum = np.bincount(groups[row_keep], weights=self.sum_us[row_keep], minlength=n_groups)
        has = totals > 0
        for name, col in cols.items():
            out[name] = np.where(has, np.minimum(col, gmax), np.nan)
        out["max"] = np.where(has, gmax, np.nan)
        out["mean"] = np.where(has, gsum / np.maximum(totals, 1) / 1000.0, np.nan)
        out["count"] = totals.astype(np.int64)
        return out

    def count_at_most(self, groups: np.ndarray, n_groups: int, limit_ms: float) -> np.ndarray:
        """Samples per group whose latency is at most ``limit_ms``."""
        last = np.searchsorted(self.values, limit_ms, side="right")
        g = self.table.per_entry(groups.astype(np.int32))
        out = np.zeros(n_groups)
        for e0 in range(0, len(g), _ENTRY_SLICE):
            gs = g[e0:e0 + _ENTRY_SLICE]
            keep = (gs >= 0) & (self.pos[e0:e0 + _ENTRY_SLICE] < last)
            out += np.bincount(gs[keep], weights=self.cnt[e0:e0 + _ENTRY_SLICE][keep], minlength=n_groups)
        return out.astype(np.int64)


def aggregate(frame: pd.DataFrame, hist: Exploded, ok_hist: Exploded, labels: pd.Series,
               apdex_t_ms: float | None = None, with_ok: bool = True,
               quantiles: Sequence[str] = tuple(QUANTILES)) -> pd.DataFrame:
    """Requests, failures, error rate, bytes and latency stats per label (rows with NaN label are left out).

    With ``apdex_t_ms``, also the Apdex score: (satisfied + tolerating / 2) / requests, where a success
    within T satisfies, within 4T is tolerated, and anything slower or failed frustrates.
    ``with_ok=False`` skips success-only percentiles, ``quantiles`` limits the percentiles computed
    (the others are NaN), where nobody reads them.
    """
    codes, uniques = pd.factorize(labels, sort=True)
    n = len(uniques)
    base = pd.DataFrame({"requests": np.bincount(codes[codes >= 0], weights=frame["requests"].to_numpy()[codes >= 0],
                                                 minlength=n),
                         "failures": np.bincount(codes[codes >= 0], weights=frame["n_fail"].to_numpy()[codes >= 0],
                                                 minlength=n),
                         "bytes": np.bincount(codes[codes >= 0], weights=frame["bytes"].to_numpy()[codes >= 0],
                                              minlength=n)})
    lat = hist.stats(codes, n, quantiles).reindex(columns=[*QUANTILES, "max", "mean", "count"])
    ok = ok_hist.stats(codes, n, ("p50", "p95", "p99")).add_prefix("ok_")[["ok_p50", "ok_p95", "ok_p99"]] \
        if with_ok else \
        pd.DataFrame(np.nan, index=lat.index, columns=["ok_p50", "ok_p95", "ok_p99"])
    result = pd.concat([base, lat.drop(columns="count"), ok], axis=1)
    result["error_rate"] = np.where(result["requests"] > 0, result["failures"] / result["requests"].clip(lower=1),
                                    np.nan)
    if apdex_t_ms is not None:
        satisfied = ok_hist.count_at_most(codes, n, apdex_t_ms)
        tolerating = ok_hist.count_at_most(codes, n, 4 * apdex_t_ms) - satisfied
        result["apdex"] = np.where(result["requests"] > 0,
                                   (satisfied + tolerating / 2) / result["requests"].clip(lower=1), np.nan)
    result.index = pd.Index(uniques, name=labels.name)
    return result




__all__ = ["QUANTILES", "Exploded", "aggregate", "bucket_values_ms", "dense_quantile"]
