"""What broke first: the counted breaks and the seconds errors began, ranked by time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..held import WINDOW_S, Break
from ..scenario import Slo
from .measurements import Measurements, metric_value, row_at
from .model import SloResult
from .scopes import PROBE, RUN
from .slos import first_second

COLUMNS = ["endpoint", "first_s", "signal", "slo", "metric", "worst_endpoint", "observed", "limit", "scope",
           "slo_break_s", "errors_began_s"]


def broke_first(meas: Measurements, counted: Sequence[Break], results: Sequence[SloResult],
                endpoints: Sequence[str], endpoint_seconds: pd.DataFrame) -> pd.DataFrame:
    """What broke first, from the counted breaks: one row per SLO (its first scope's row in the SLO
    table, with the same observed value and limit), one per throughput plateau, and per endpoint the
    second its errors began (the first second with a failure in the first window where more than 1% of its
    requests failed), earliest first."""
    rows = _break_rows(meas, counted, results, endpoints) + _errors_began(meas, endpoints, endpoint_seconds)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["first_s"] = frame["first_s"].where(frame["first_s"].notna(), frame["errors_began_s"])
    # At the same second, a broken service level speaks before the errors that came with it.
    frame["rank"] = [{"errors began": 2, "throughput plateau": 1}.get(s, 0) for s in frame["signal"]]
    frame = frame.sort_values(["first_s", "rank", "endpoint"], na_position="last").reset_index(drop=True)
    return frame.drop(columns="rank")


def _break_rows(meas: Measurements, counted: Sequence[Break], results: Sequence[SloResult],
                endpoints: Sequence[str]) -> list[dict[str, Any]]:
    """One row per SLO that broke and per endpoint whose throughput plateaued, in the breaks' order."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    ranked = sorted(results, key=lambda r: (r.first_break_s is None, r.first_break_s or 0))
    for b in counted:
        if b.slo is not None:
            slo = b.slo
            if slo.name in seen:
                continue
            seen.add(slo.name)
            result = next((r for r in ranked if r.slo.name == slo.name and not r.passed), None)
            first_s = result.first_break_s if result and result.first_break_s is not None else b.start_s
            rows.append({"endpoint": b.endpoint or "all requests", "first_s": first_s, "signal": b.signal,
                         "slo": slo.name, "metric": slo.metric,
                         "worst_endpoint": None if b.endpoint else _worst(meas, endpoints, slo, first_s),
                         "observed": result.observed if result else b.observed, "limit": slo.limit,
                         "scope": result.scope if result else RUN,
                         "slo_break_s": result.first_break_s if result else b.start_s, "errors_began_s": None})
        else:
            key = f"plateau {b.endpoint}"
            if key in seen:
                continue
            seen.add(key)
            rows.append({"endpoint": b.endpoint, "first_s": b.start_s, "signal": b.signal, "slo": None,
                         "metric": "throughput", "worst_endpoint": None, "observed": b.observed, "limit": 0.9,
                         "scope": PROBE if not b.judged else RUN, "slo_break_s": b.start_s,
                         "errors_began_s": None})
    return rows


def _errors_began(meas: Measurements, endpoints: Sequence[str],
                  endpoint_seconds: pd.DataFrame) -> list[dict[str, Any]]:
    """Per endpoint, the second its errors began (none for an endpoint that never passed 1% in a window)."""
    rows: list[dict[str, Any]] = []
    for endpoint in endpoints:
        win = meas.windows(endpoint)
        erring = win[(win["failures"] > 0) & (win["error_rate"] > 0.01)]
        if len(erring):
            began = first_second(endpoint_seconds[endpoint_seconds["endpoint"] == endpoint].set_index("t"),
                                 Slo(metric="error_rate", below=0.01), float(erring.index[0]) * WINDOW_S)
            rows.append({"endpoint": endpoint, "first_s": None, "signal": "errors began", "slo": None,
                         "metric": "error_rate", "worst_endpoint": None,
                         "observed": float(erring.iloc[0]["error_rate"]), "limit": 0.01,
                         "scope": None, "slo_break_s": None, "errors_began_s": began})
    return rows


def _worst(meas: Measurements, endpoints: Sequence[str], slo: Slo, t: float) -> str | None:
    """The endpoint furthest over an all-requests SLO in the window starting at ``t`` (None: none was)."""
    w = int(t // WINDOW_S)
    best: tuple[float, str] | None = None
    for endpoint in endpoints:
        value = metric_value(row_at(meas.windows(endpoint), w), slo.metric)
        if value is not None and value > slo.limit and (best is None or value > best[0]):
            best = (value, endpoint)
    return best[1] if best else None


__all__ = ["broke_first"]
