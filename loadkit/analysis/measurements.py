"""A run's metrics rows with their histograms, grouped on demand: per second, window, scope or span.

Rows of the same (second, endpoint) from several flushes or workers are merged by grouping; percentiles
always come from merged histograms (never averages of percentiles).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..aggregate import QUANTILES, Exploded, aggregate
from ..data import RunData
from ..held import RUN, WINDOW_S
from ..scenario import Slo
from ..traffic import Plan, judged_phases

AFTER = "after"  # the phase of a second past the analysed span


def metric_value(row: pd.Series | None, metric: str) -> float | None:
    """An SLO metric from an aggregated row (None: nothing measured)."""
    if row is None or row.get("requests", 0) == 0:
        return None
    value = row["error_rate"] if metric == "error_rate" else row[metric]
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def row_at(frame: pd.DataFrame, key: object) -> pd.Series | None:
    """``frame.loc[key]``, or None when the key is not there."""
    return frame.loc[key] if key in frame.index else None


def phase_of_seconds(plan: Plan, n: int) -> np.ndarray:
    """The plan's phase of each second ``0 .. n-1`` (read at its middle)."""
    return np.array([plan.phase_at(t + 0.5) for t in range(n)], dtype=object)


def failure_counts(failures: pd.Series) -> np.ndarray:
    """Failed requests per metrics row (its ``failures``: kind -> count)."""
    return np.array([sum(f.values()) if isinstance(f, dict) else 0 for f in failures], dtype=np.int64)


def _empty_metrics() -> pd.DataFrame:
    return pd.DataFrame({"t": pd.Series(dtype=np.int64), "endpoint": pd.Series(dtype=str),
                         "method": pd.Series(dtype=str), "requests": pd.Series(dtype=np.int64),
                         "failures": pd.Series(dtype=object), "bytes": pd.Series(dtype=np.int64),
                         "offsite_redirects": pd.Series(dtype=np.int64), "offsite_example": pd.Series(dtype=str)})


class Measurements:
    """The metrics frame (``frame``: one row per (second, endpoint) and flush, with ``n_fail`` and ``phase``),
    its two histogram tables, and the groupings every part of the analysis asks for."""

    def __init__(self, run: RunData, plan: Plan, span: int) -> None:
        m = run.metrics.copy() if not run.metrics.empty else _empty_metrics()
        m["t"] = m["t"].astype(np.int64)
        m["n_fail"] = failure_counts(m["failures"])
        self.plan = plan
        self.span = span
        self.hist = Exploded(run.hist)
        self.ok_hist = Exploded(run.ok_hist)
        self.phase_of_second = phase_of_seconds(plan, span)
        m["phase"] = [self.phase_of_second[t] if t < span else AFTER for t in m["t"]]
        self.frame = m
        self.judged = set(judged_phases(plan))
        self.ep_codes, self.ep_names = pd.factorize(m["endpoint"], sort=True)
        self.n_ep = max(1, len(self.ep_names))
        self.n_windows = max(int(m["t"].max()) // WINDOW_S + 1 if len(m) else 0,
                             math.ceil(plan.duration / WINDOW_S))
        self._windows: dict[str | None, pd.DataFrame] = {}
        self._windows_by_endpoint: pd.DataFrame | None = None

    def by(self, labels: pd.Series, apdex_t_ms: float | None = None, with_ok: bool = True,
           quantiles: Sequence[str] = tuple(QUANTILES)) -> pd.DataFrame:
        """:func:`loadkit.aggregate.aggregate` over these rows, grouped by ``labels``."""
        return aggregate(self.frame, self.hist, self.ok_hist, labels, apdex_t_ms, with_ok=with_ok,
                         quantiles=quantiles)

    def _inside(self, inside: pd.Series, name: str, with_ok: bool = True) -> pd.Series | None:
        labels = np.full(len(self.frame), None, dtype=object)  # rows outside are left out (None)
        labels[np.asarray(inside, dtype=bool)] = "in"
        agg = self.by(pd.Series(labels, index=self.frame.index, name=name), with_ok=with_ok)
        return row_at(agg, "in")

    def scope_row(self, scope: str | tuple[str, ...], endpoint: str | None) -> pd.Series | None:
        """Aggregate over a scope ("run", a phase name, or several phases) and optionally one endpoint."""
        m = self.frame
        if scope == RUN:
            inside = m["phase"].isin(self.judged)
        elif isinstance(scope, tuple):
            inside = m["phase"].isin(scope)
        else:
            inside = m["phase"] == scope
        if endpoint is not None:
            inside &= m["endpoint"] == endpoint
        return self._inside(inside, "scope")

    def span_row(self, t0: int, t1: int, endpoint: str | None) -> pd.Series | None:
        """Aggregate over seconds [t0, t1) for all requests or one endpoint."""
        m = self.frame
        inside = (m["t"] >= t0) & (m["t"] < t1)
        if endpoint is not None:
            inside &= m["endpoint"] == endpoint
        return self._inside(inside, "span", with_ok=False)

    def span_value(self, slo: Slo, first_w: int, last_w: int) -> float | None:
        """The SLO's metric over windows ``first_w`` to ``last_w`` (inclusive)."""
        return metric_value(self.span_row(first_w * WINDOW_S, (last_w + 1) * WINDOW_S, slo.endpoint), slo.metric)

    def windows(self, endpoint: str | None) -> pd.DataFrame:
        """5 s windows (every one, empty ones with zero requests) over all requests or one endpoint."""
        if endpoint not in self._windows:
            m = self.frame
            if endpoint is None:
                agg = self.by((m["t"] // WINDOW_S).rename("w"), with_ok=False)
            else:
                both = self._by_endpoint_windows()
                code = self.ep_names.get_loc(endpoint) if endpoint in self.ep_names else -1
                keys = both.index.to_numpy(dtype=np.int64)
                agg = both[keys % self.n_ep == code]
                agg.index = keys[keys % self.n_ep == code] // self.n_ep
            agg.index = agg.index.astype(np.int64)
            agg = agg.reindex(range(self.n_windows))
            agg[["requests", "failures"]] = agg[["requests", "failures"]].fillna(0)
            self._windows[endpoint] = agg
        return self._windows[endpoint]

    def _by_endpoint_windows(self) -> pd.DataFrame:
        """Every endpoint's windows in one pass over the histograms (split by :meth:`windows`)."""
        if self._windows_by_endpoint is None:
            key = pd.Series((self.frame["t"].to_numpy() // WINDOW_S) * self.n_ep + self.ep_codes, name="key")
            self._windows_by_endpoint = self.by(key, with_ok=False)
        return self._windows_by_endpoint


__all__ = ["AFTER", "Measurements", "failure_counts", "metric_value", "phase_of_seconds", "row_at"]
