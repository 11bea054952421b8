"""A mergeable latency histogram with log-linear buckets (HDR-style), in fixed memory.

Values are microseconds. Below 256 µs every value has its own bucket; above, each power of two is cut
into 128 equal buckets, so a bucket is never wider than 1/128 of its lower bound and the midpoint
reported for it is within 0.4% of any value it holds (the design asks for <= 1%). One hour fits in
about 4,200 buckets whatever the number of samples. Merging is adding counts, so per-second, per-worker
histograms combine into exact run-wide percentiles; nothing averages percentiles.
"""

from __future__ import annotations

from collections.abc import Mapping

SUB_BUCKETS = 128
_SUB_BITS = 7  # log2(SUB_BUCKETS)
MAX_US = 3_600_000_000  # one hour; larger values are clamped (and still counted)


def bucket_index(us: int) -> int:
    """Bucket of a value in microseconds (values < 1 go to bucket 0)."""
    if us <= 0:
        return 0
    if us > MAX_US:
        us = MAX_US
    shift = us.bit_length() - (_SUB_BITS + 1)
    if shift <= 0:
        return us
    return shift * SUB_BUCKETS + (us >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """Lowest value and width (µs) of a bucket."""
    if index < 2 * SUB_BUCKETS:
        return index, 1
    shift = index // SUB_BUCKETS - 1
    sub = index - shift * SUB_BUCKETS
    return sub << shift, 1 << shift


def bucket_value(index: int) -> float:
    """The value reported for a bucket: its midpoint, in microseconds."""
    low, width = bucket_bounds(index)
    return low + (width - 1) / 2


class Histogram:
    """Counts per bucket; add values, merge histograms, read percentiles."""

    __slots__ = ("counts", "total", "max_us", "sum_us")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0
        self.max_us = 0
        self.sum_us = 0

    def record(self, us: int) -> None:
        """Add one value in microseconds."""
        idx = bucket_index(us)
        self.counts[idx] = self.counts.get(idx, 0) + 1
        self.total += 1
        self.sum_us += us
        if us > self.max_us:
            self.max_us = us

    def merge(self, other: Histogram) -> None:
        """Add another histogram's counts into this one."""
        for idx, n in other.counts.items():
            self.counts[idx] = self.counts.get(idx, 0) + n
        self.total += other.total
        self.sum_us += other.sum_us
        self.max_us = max(self.max_us, other.max_us)

    def percentile(self, q: float) -> float | None:
        """Value (µs) at quantile ``q`` in [0, 1]; None when empty. The maximum is exact."""
        return percentile_of(self.counts, q, self.max_us)

    def to_dict(self) -> dict[str, object]:
        """Compact plain data: sorted bucket indexes and their counts."""
        keys = sorted(self.counts)
        return {"i": keys, "c": [self.counts[k] for k in keys], "max": self.max_us, "sum": self.sum_us}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Histogram:
        """Inverse of :meth:`to_dict`."""
        hist = cls()
        for idx, n in zip(data["i"], data["c"], strict=True):  # type: ignore[call-overload]
            hist.counts[int(idx)] = hist.counts.get(int(idx), 0) + int(n)
        hist.total = sum(hist.counts.values())
        hist.max_us = int(data.get("max", 0))  # type: ignore[call-overload]
        hist.sum_us = int(data.get("sum", 0))  # type: ignore[call-overload]
        return hist


def percentile_of(counts: Mapping[int, int], q: float, max_us: int | None = None) -> float | None:
    """Quantile ``q`` (0..1) of a bucket->count mapping, in microseconds; None when empty.

    The rank is ``ceil(q * n)`` (nearest-rank), so p100 is the largest bucket; when ``max_us`` is given,
    a result above it is clamped to it (the maximum is recorded exactly).
    """
    total = sum(counts.values())
    if total == 0:
        return None
    rank = max(1, -(-int(q * total * 1_000_000) // 1_000_000))  # ceil without float surprises
    seen = 0
    for idx in sorted(counts):
        seen += counts[idx]
        if seen >= rank:
            value = bucket_value(idx)
            return min(value, float(max_us)) if max_us else value
    return float(max_us) if max_us else None
