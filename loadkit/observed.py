"""The site's own metrics as the run recorded them (observed.jsonl), and what they say about a break.

Pure functions over the run directory: the report draws each series under the load curves, summary.json
lists them, and "what broke first" cites the one that rose with the load and peaked just before the
first break ("checkout_busy rose from 0 to 4 by 0:40, 2 s before POST /checkout's p95 broke").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

OBSERVED = "observed.jsonl"
CITE_WITHIN_S = 30.0  # a peak this long before a break may be named beside it
RISE_FACTOR = 1.5  # ... when it is at least this many times the series' first value (or rose from 0)
NEAR_PEAK = 0.95  # "reached" = the first sample at 95% of the highest value before the break


@dataclass(frozen=True)
class ObservedSeries:
    """One named query's samples: (run second, value) in time order, and the samples that had none."""

    name: str
    points: tuple[tuple[float, float], ...]
    missing: int
    error: str | None  # the first reason a sample had no value
    series: int  # the most series one sample returned (1 when the query was written to return one)

    @property
    def peak(self) -> tuple[float, float] | None:
        """(second, value) of the first sample at the series' highest value."""
        if not self.points:
            return None
        top = max(v for _, v in self.points)
        return next((t, v) for t, v in self.points if v == top)


@dataclass(frozen=True)
class Citation:
    """A series that rose with the load and peaked shortly before a break."""

    name: str
    first: float
    value: float
    at_s: float
    before_s: float

    def sentence(self, what_broke: str, fmt_time: str) -> str:
        """Plain words, e.g. "db_cpu rose from 12 to 98 by 0:40, 2 s before checkout's p95 broke"."""
        lead = "as" if self.before_s < 0.5 else f"{self.before_s:.0f} s before"
        return (f"the site's {self.name} rose from {number(self.first)} to {number(self.value)} by {fmt_time}, "
                f"{lead} {what_broke}")


def number(value: float) -> str:
    """Three significant digits, no exponent for everyday sizes: 0.123, 12.3, 98, 1,234."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def read_observed(run_dir: Path) -> tuple[ObservedSeries, ...]:
    """Every series in observed.jsonl, in the order the scenario named them (empty when absent).
    A damaged line (a run stopped mid-write) is skipped."""
    path = run_dir / OBSERVED
    if not path.exists():
        return ()
    points: dict[str, list[tuple[float, float]]] = {}
    missing: dict[str, int] = {}
    errors: dict[str, str] = {}
    widest: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            name, t, value = str(row["name"]), float(row["t"]), row.get("value")
        except (ValueError, KeyError, TypeError):
            continue
        points.setdefault(name, [])
        missing.setdefault(name, 0)
        widest[name] = max(widest.get(name, 1), int(row.get("series", 1)))
        if isinstance(value, (int, float)) and math.isfinite(value):
            points[name].append((t, float(value)))
        else:
            missing[name] += 1
            if row.get("error") and name not in errors:
                errors[name] = str(row["error"])
    return tuple(ObservedSeries(name, tuple(sorted(pts)), missing[name], errors.get(name), widest[name])
                 for name, pts in points.items())


def cite(series: tuple[ObservedSeries, ...], break_s: float) -> Citation | None:
    """The series that rose most with the load and reached its peak within ``CITE_WITHIN_S`` before the
    break at ``break_s`` (the run's second), or None when none did: the figures then stay in the chart
    only, never a guessed cause."""
    best: tuple[float, Citation] | None = None
    for s in series:
        before = [(t, v) for t, v in s.points if t <= break_s + 1.0]  # a sample in the break's own second counts
        if len(before) < 2:
            continue
        first = before[0][1]
        top = max(v for _, v in before)
        if top <= 0 or (first > 0 and top < RISE_FACTOR * first):
            continue
        at, value = next((t, v) for t, v in before if v >= NEAR_PEAK * top)
        lead = break_s - at
        if lead > CITE_WITHIN_S:
            continue
        rise = top / first if first > 0 else math.inf
        if best is None or rise > best[0]:
            best = (rise, Citation(s.name, first, value, at, max(0.0, lead)))
    return best[1] if best else None


__all__ = ["CITE_WITHIN_S", "OBSERVED", "Citation", "ObservedSeries", "cite", "number", "read_observed"]
