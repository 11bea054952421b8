"""The per-second frame: planned and started arrivals, requests and latency, the generator's health."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..aggregate import Exploded
from ..data import RunData
from ..failures import ERROR_CLASSES
from ..held import WINDOW_S
from .measurements import Measurements
from .model import GeneratorHealth

# A second in which the load generator's event loop stalled this long (the hiccup meter, run/hiccups.py)
# is a pause: arrivals due then start late and responses in flight are measured that much slower.
PAUSE_MS = 50.0
# A load process at or above this share of one core in a second was saturated in it: its own queue adds
# to every response time it measures and delays the arrivals it starts.
SATURATED_CPU = 85.0


def per_second(meas: Measurements, run: RunData, errors_by_kind: pd.DataFrame, apdex_t_ms: float) -> pd.DataFrame:
    """One row per second of the run (index ``t``): phase, planned, started, late, dropped, users, hiccup_ms,
    cpu, requests, failures, bytes, percentiles, error_rate, apdex, rps, completed, failed_done and the
    failures of each error class."""
    m, plan, span = meas.frame, meas.plan, meas.span
    per_sec = meas.by(m["t"].rename("t"), apdex_t_ms).reindex(range(span))
    per_sec.index.name = "t"
    seconds = pd.DataFrame(index=pd.RangeIndex(span, name="t"))
    seconds["phase"] = meas.phase_of_second
    seconds["planned"] = [plan.integral(t, t + 1) for t in range(span)]
    seconds = _with_arrivals(seconds, run.arrivals)
    seconds = seconds.join(per_sec[["requests", "failures", "bytes", "p50", "p90", "p95", "p99", "max",
                                    "ok_p95", "error_rate", "apdex"]])
    seconds[["requests", "failures", "bytes"]] = seconds[["requests", "failures", "bytes"]].fillna(0).astype(int)
    seconds["rps"] = seconds["requests"].astype(float)
    # Requests are keyed by the second they started (latency without coordinated omission); the chart
    # of what the site got done counts each one in the second it ended: completed, or failed (a timeout
    # when it timed out).
    t_rows = m["t"].to_numpy(dtype=np.int64)
    ended_all = _by_end_second(meas.hist, t_rows, span)
    seconds["completed"] = _by_end_second(meas.ok_hist, t_rows, span).astype(int)
    seconds["failed_done"] = np.maximum(ended_all - seconds["completed"].to_numpy(), 0).astype(int)
    by_class = errors_by_kind.pivot_table(index="t", columns="class", values="count", aggfunc="sum")
    for cls in ERROR_CLASSES:
        column = by_class[cls] if cls in by_class.columns else pd.Series(dtype=float)
        seconds[cls] = column.reindex(seconds.index).fillna(0).astype(int)
    return seconds


def _with_arrivals(seconds: pd.DataFrame, a: pd.DataFrame) -> pd.DataFrame:
    """``seconds`` with the arrivals' counts (summed over flushes and workers) and the hiccup meter's."""
    if not a.empty:
        a = a.assign(users=a["users"].fillna(0))
        arr = a.groupby("t").agg(started=("started", "sum"), late=("late", "sum"), dropped=("dropped", "sum"),
                                 users=("users", "max"))
    else:
        arr = pd.DataFrame(columns=["started", "late", "dropped", "users"])
    seconds = seconds.join(arr.reindex(seconds.index).fillna(0).astype(int))
    # Stalls and CPU merge by the largest (several flushes, several workers); NaN where not measured
    # (runs recorded before the hiccup meter existed).
    for column in ("hiccup_ms", "cpu"):
        values = pd.to_numeric(a[column], errors="coerce") if not a.empty and column in a else None
        seconds[column] = (values.groupby(a["t"]).max().reindex(seconds.index).astype(float)
                           if values is not None else np.nan)
    return seconds


def _by_end_second(hist: Exploded, t: np.ndarray, span: int) -> np.ndarray:
    """Requests per second they ended in: each histogram bucket moved from its row's start second by its
    latency (a request starting within second t and taking d ends around t + 0.5 + d).

    The delay is computed once per bucket that occurs and the entries are counted a slice at a time: per-entry
    temporaries for the whole run took 230 MB on an hour at 1,000 requests/s (docs/benchmarks.md).
    """
    if len(hist.pos) == 0 or span <= 0:
        return np.zeros(span, dtype=np.int64)
    delay = np.floor(0.5 + hist.values / 1000.0).astype(np.int64)  # whole seconds, per bucket of hist.vocab
    counts = np.zeros(span)
    for entries in hist.entry_slices():
        end = t[hist.rows_of(entries)] + delay[hist.pos[entries]]
        counts += np.bincount(np.clip(end, 0, span - 1), weights=hist.cnt[entries], minlength=span)
    return np.asarray(np.rint(counts).astype(np.int64))


def disturbed_seconds(seconds: pd.DataFrame) -> list[int]:
    """Seconds in which a load process paused (a stall of PAUSE_MS or more) or was saturated."""
    hiccup = seconds["hiccup_ms"].to_numpy(dtype=float)
    cpu = seconds["cpu"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = (hiccup >= PAUSE_MS) | (cpu >= SATURATED_CPU)
    return [int(t) for t in seconds.index[bad]]


def generator_health(seconds: pd.DataFrame) -> GeneratorHealth | None:
    """The load generator's pauses and CPU over the run (None for a run that did not measure them)."""
    hiccup, cpu = seconds["hiccup_ms"], seconds["cpu"]
    if hiccup.isna().all() and cpu.isna().all():
        return None  # a run recorded before loadkit measured these
    return GeneratorHealth(hiccup_max_ms=float(hiccup.max()) if hiccup.notna().any() else None,
                           paused_seconds=int((hiccup >= PAUSE_MS).sum()),
                           generator_cpu_max=float(cpu.max()) if cpu.notna().any() else None,
                           saturated_seconds=int((cpu >= SATURATED_CPU).sum()))


def rolling_max(seconds: pd.DataFrame, column: str, phases: set[str]) -> float:
    """Highest 5-second mean of ``column`` over seconds inside ``phases``."""
    values = seconds[column].where(seconds["phase"].isin(phases))
    best = values.rolling(WINDOW_S, min_periods=WINDOW_S).mean().max()
    if pd.isna(best):
        best = values.max()
    return 0.0 if pd.isna(best) else float(best)


__all__ = ["PAUSE_MS", "SATURATED_CPU", "disturbed_seconds", "generator_health", "per_second", "rolling_max"]
