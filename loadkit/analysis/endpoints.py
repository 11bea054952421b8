"""Per-endpoint figures: over the run, per second, failure kinds, off-site redirects, latency distribution."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..aggregate import Exploded
from ..failures import error_class
from .measurements import Measurements


def endpoint_table(meas: Measurements, apdex_t_ms: float) -> pd.DataFrame:
    """Per endpoint over the whole run (index ``endpoint``): method, requests, failures, percentiles, apdex."""
    m = meas.frame
    endpoints = meas.by(m["endpoint"].rename("endpoint"), apdex_t_ms)
    methods = m.groupby("endpoint")["method"].first()
    endpoints.insert(0, "method", methods.reindex(endpoints.index))
    return endpoints


def endpoint_seconds(meas: Measurements) -> pd.DataFrame:
    """Per (second, endpoint): requests, failures, p95 and max, sorted by second then endpoint."""
    m, n_ep = meas.frame, meas.n_ep
    ep_sec = meas.by(pd.Series(m["t"].to_numpy() * n_ep + meas.ep_codes, name="key"), with_ok=False,
                     quantiles=("p95",))
    keys = ep_sec.index.to_numpy(dtype=np.int64)
    return pd.DataFrame({
        "t": keys // n_ep, "endpoint": np.asarray(meas.ep_names, dtype=object)[keys % n_ep] if len(keys) else [],
        "requests": ep_sec["requests"].to_numpy(), "failures": ep_sec["failures"].to_numpy(),
        "p95": ep_sec["p95"].to_numpy(), "max": ep_sec["max"].to_numpy()}).sort_values(["t", "endpoint"]) \
        .reset_index(drop=True)


def error_tables(meas: Measurements) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Failures per (second, kind) with their class, and per (endpoint, kind) with count, first second and
    class (most frequent first)."""
    m = meas.frame
    kinds = [(t, ep, kind, n) for t, ep, f in zip(m["t"], m["endpoint"], m["failures"], strict=True)
             if isinstance(f, dict) for kind, n in f.items()]
    kinds_df = pd.DataFrame(kinds, columns=["t", "endpoint", "kind", "count"])
    errors_by_kind = kinds_df.groupby(["t", "kind"], as_index=False)["count"].sum()
    errors_by_kind["class"] = [error_class(k) for k in errors_by_kind["kind"]]
    error_kinds = kinds_df.groupby(["endpoint", "kind"]).agg(count=("count", "sum"), first_s=("t", "min")) \
        .reset_index().sort_values(["count"], ascending=False).reset_index(drop=True)
    error_kinds["class"] = [error_class(k) for k in error_kinds["kind"]]
    return errors_by_kind, error_kinds


def offsite(m: pd.DataFrame) -> pd.DataFrame:
    """Per endpoint, redirects to another host that loadkit did not follow, with one example location."""
    if "offsite_redirects" not in m or not m["offsite_redirects"].any():
        return pd.DataFrame(columns=["endpoint", "count", "example"])
    rows = m[m["offsite_redirects"] > 0]
    return rows.groupby("endpoint").agg(count=("offsite_redirects", "sum"), example=("offsite_example", "first")) \
        .reset_index().sort_values("count", ascending=False).reset_index(drop=True)


def distribution(hist: Exploded) -> pd.DataFrame:
    """Requests per latency bucket over the whole run."""
    if len(hist.vocab) == 0 or len(hist.pos) == 0:
        return pd.DataFrame({"ms": [], "count": []})
    counts = hist.bucket_counts().astype(np.int64)  # a slice of entries at a time: 50 MB less at the peak
    keep = counts > 0
    return pd.DataFrame({"ms": hist.values[keep], "count": counts[keep]})


__all__ = ["distribution", "endpoint_seconds", "endpoint_table", "error_tables", "offsite"]
