"""Visits from requests, and journeys from visits.

**Visits.** Requests are grouped by the session cookie when the log has one, else by the visitor's address
and user agent; a visit ends after :data:`GAP_S` without a request (30 minutes, the common web analytics
rule), or at the cookie's change. Open visits are closed as the log's clock passes them, so memory holds
only the visits in progress.

**Journeys.** A visit's path is its sequence of endpoint templates with repeats of the same page in a row
folded into one step (three product pages in a row and one are the same journey; the step keeps the
visits' mean repeat count). Identical paths are counted; the most common ones (at most
:data:`MAX_JOURNEYS`, each at least :data:`MIN_SHARE` of visits) become journeys, most common first, and
every other visit is counted with the kept journey nearest to its path (edit distance over steps), so
weights add up to all visits.

**Think times.** The gaps between a visit's requests (not after a form post answered with a redirect: the
browser follows it at once) are pooled per journey. The scenario format pauses for a fixed time or a time
drawn uniformly from a range, so each journey's pauses are the range whose mean equals the measured mean
and whose spread matches the measured standard deviation as closely as a range starting at 0 or more
allows (``mean ± √3·sd``, clipped at 0 with the mean kept: ``0..2·mean``). The measured median and 90th
percentile are written beside it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

GAP_S = 30 * 60.0
MAX_STEPS = 25  # a visit's first requests; a longer one is cut (counted)
MAX_PATHS = 100_000  # distinct paths remembered; beyond, paths seen once are forgotten (counted)
MAX_JOURNEYS = 8
MIN_SHARE = 0.01
SWEEP_EVERY_S = 60.0


@dataclass(slots=True)
class Visit:
    """A visit in progress."""

    start: float
    last: float
    steps: list[tuple[str, float, int]] = field(default_factory=list)  # (endpoint key, time, status)
    robot: bool = False
    cut: bool = False


@dataclass
class PathStats:
    """Everything remembered about one folded path."""

    count: int = 0
    repeats: list[int] = field(default_factory=list)  # summed repeats per step
    gaps: Counter[float] = field(default_factory=Counter)  # think gaps, rounded to 0.1 s

    def add(self, repeats: list[int], gaps: list[float]) -> None:
        self.count += 1
        if not self.repeats:
            self.repeats = [0] * len(repeats)
        for i, r in enumerate(repeats):
            self.repeats[i] += r
        for g in gaps:
            self.gaps[round(g, 1)] += 1

    def merge(self, other: PathStats, with_repeats: bool = True) -> None:
        self.count += other.count
        if with_repeats:
            if not self.repeats:
                self.repeats = [0] * len(other.repeats)
            for i, r in enumerate(other.repeats):
                self.repeats[i] += r
        self.gaps.update(other.gaps)


class Sessions:
    """Groups records into visits and folds each closed visit into path statistics."""

    def __init__(self, on_visit: Callable[[float], None]) -> None:
        self.open: dict[str, Visit] = {}
        self.paths: dict[tuple[str, ...], PathStats] = {}
        self.on_visit = on_visit  # called with each counted visit's start time
        self.visits = 0
        self.robot_visits = 0
        self.cut_visits = 0
        self.forgotten = 0  # visits whose rare path was forgotten to bound memory
        self.robots: set[str] = set()  # visitor keys that asked for /robots.txt
        self.last_sweep = -math.inf

    def robot(self, key: str) -> None:
        """The visitor ``key`` asked for /robots.txt: it is a crawler."""
        if len(self.robots) < 1_000_000:
            self.robots.add(key)
        visit = self.open.get(key)
        if visit is not None:
            visit.robot = True

    def add(self, key: str, t: float, endpoint: str, status: int) -> None:
        """One kept request of visitor ``key`` at ``t``."""
        if t - self.last_sweep >= SWEEP_EVERY_S:
            self.sweep(t)
        visit = self.open.get(key)
        if visit is not None and t - visit.last > GAP_S:
            self._close(self.open.pop(key))
            visit = None
        if visit is None:
            visit = self.open[key] = Visit(start=t, last=t, robot=key in self.robots)
        visit.last = max(visit.last, t)
        if len(visit.steps) < MAX_STEPS:
            visit.steps.append((endpoint, t, status))
        else:
            visit.cut = True

    def sweep(self, now: float) -> None:
        """Close the visits idle for longer than the gap."""
        self.last_sweep = now
        idle = [k for k, v in self.open.items() if now - v.last > GAP_S]
        for key in idle:
            self._close(self.open.pop(key))

    def finish(self) -> None:
        """Close every visit still open (the log ended)."""
        for visit in self.open.values():
            self._close(visit)
        self.open.clear()

    def _close(self, visit: Visit) -> None:
        if visit.robot:
            self.robot_visits += 1
            return
        if not visit.steps:
            return
        self.visits += 1
        self.cut_visits += visit.cut
        self.on_visit(visit.start)
        folded: list[str] = []
        repeats: list[int] = []
        gaps: list[float] = []
        previous: tuple[str, float, int] | None = None
        for step in sorted(visit.steps, key=lambda s: s[1]):
            endpoint, t, _ = step
            if previous is not None and not (previous[0].startswith("POST ") and 300 <= previous[2] < 400):
                gaps.append(max(0.0, t - previous[1]))
            if folded and folded[-1] == endpoint:
                repeats[-1] += 1
            else:
                folded.append(endpoint)
                repeats.append(1)
            previous = step
        key = tuple(folded)
        stats = self.paths.get(key)
        if stats is None:
            if len(self.paths) >= MAX_PATHS:
                self._forget()
            stats = self.paths[key] = PathStats()
        stats.add(repeats, gaps)

    def _forget(self) -> None:
        """Bound memory: forget the paths seen only once (lossy counting); they are counted as forgotten."""
        rare = [k for k, s in self.paths.items() if s.count <= 1]
        for key in rare:
            del self.paths[key]
        self.forgotten += len(rare)


def edit_distance(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """Levenshtein distance over steps."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


@dataclass(frozen=True)
class Journey:
    """A journey to write: its steps (endpoint keys with repeats), weight and pause range."""

    steps: tuple[tuple[str, int], ...]
    visits: int  # visits counted with it (its own path and the nearest-path ones)
    own: int  # visits that walked exactly this path
    think: tuple[float, float] | None  # the pause range, or None (no gaps measured)
    gap_median: float
    gap_p90: float
    gap_mean: float


def think_range(gaps: Counter[float]) -> tuple[tuple[float, float] | None, float, float, float]:
    """(uniform range keeping the mean and the spread, median, p90, mean) of measured gaps."""
    n = sum(gaps.values())
    if not n:
        return None, 0.0, 0.0, 0.0
    mean = sum(g * c for g, c in gaps.items()) / n
    var = sum(c * (g - mean) ** 2 for g, c in gaps.items()) / n
    sd = math.sqrt(var)
    ordered = sorted(gaps.items())

    def quantile(q: float) -> float:
        seen = 0
        for g, c in ordered:
            seen += c
            if seen >= q * n:
                return g
        return ordered[-1][0]

    lo, hi = mean - math.sqrt(3) * sd, mean + math.sqrt(3) * sd
    if lo < 0:
        lo, hi = 0.0, 2 * mean
    return (round(lo, 1), round(hi, 1)), quantile(0.5), quantile(0.9), mean


def journeys(paths: dict[tuple[str, ...], PathStats], max_journeys: int = MAX_JOURNEYS,
             min_share: float = MIN_SHARE) -> tuple[list[Journey], int]:
    """The journeys to write (most common first) and how many visits were counted with a nearest path."""
    total = sum(s.count for s in paths.values())
    if not total:
        return [], 0
    ranked = sorted(paths.items(), key=lambda kv: (-kv[1].count, len(kv[0]), kv[0]))
    kept = [(k, s) for k, s in ranked[:max_journeys] if s.count >= min_share * total] or ranked[:1]
    merged = {k: PathStats(count=s.count, repeats=list(s.repeats), gaps=Counter(s.gaps)) for k, s in kept}
    moved = 0
    keys = [k for k, _ in kept]
    for key, stats in ranked:
        if key in merged:
            continue
        nearest = min(keys, key=lambda k: (edit_distance(key, k), -merged[k].count))
        merged[nearest].merge(stats, with_repeats=False)
        moved += stats.count
    out = []
    for key, own in kept:
        stats = merged[key]
        rng, median, p90, mean = think_range(stats.gaps)
        steps = tuple((endpoint, max(1, round(r / own.count))) for endpoint, r in zip(key, own.repeats, strict=False))
        out.append(Journey(steps, stats.count, own.count, rng, median, p90, mean))
    out.sort(key=lambda j: -j.visits)
    return out, moved
