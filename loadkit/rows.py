"""The rows of ``metrics.jsonl`` and ``arrivals.jsonl``: one definition for the writer and the reader.

The run stage's recorder writes them (``run/recorder.py``), ``data.py`` reads them back, the tests'
synthesiser (``tests/synth.py``) writes known ones; docs/run-directory.md describes them field by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

Histogram = Mapping[str, Any]  # ``Histogram.to_dict()``: bucket indexes ``i``, counts ``c``, ``max``, ``sum`` (µs)


@dataclass(frozen=True)
class MetricsRow:
    """One (second, endpoint) of one load process and flush: a line of ``metrics.jsonl``.

    Rows with the same (``t``, ``endpoint``) from several flushes or workers are summed when read.
    """

    t: int  # whole seconds since the run's start (the requests' start time)
    endpoint: str  # templated: ``GET /products/{product}``
    method: str
    requests: int
    failures: Mapping[str, int]  # failure kind (loadkit/failures.py) -> count
    bytes: int
    hist: Histogram  # every request's latency
    ok_hist: Histogram  # successful requests' latency
    offsite_redirects: int = 0  # redirects to another host, not followed
    offsite_example: str | None = None  # one such location, redacted

    def to_json(self) -> dict[str, Any]:
        """The row as written (the off-site fields only when there were any)."""
        return {"t": self.t, "endpoint": self.endpoint, "method": self.method, "requests": self.requests,
                "failures": dict(self.failures), "bytes": self.bytes, "hist": self.hist, "ok_hist": self.ok_hist,
                **({"offsite_redirects": self.offsite_redirects, "offsite_example": self.offsite_example}
                   if self.offsite_redirects else {})}


@dataclass(frozen=True)
class ArrivalRow:
    """One planned second of one load process and flush: a line of ``arrivals.jsonl``.

    Rows of the same second are summed when read, except ``hiccup_ms`` and ``cpu``, which keep the largest.
    """

    t: int
    started: int  # arrivals planned in second t that started
    late: int  # ... more than 100 ms after their planned time
    dropped: int  # ... that could not start
    users: int  # running users (closed model)
    lateness: Histogram = field(default_factory=dict)  # µs
    hiccup_ms: float | None = None  # the longest stall of the process's event loop touching second t
    cpu: float | None = None  # the process's CPU share in second t, % of one core

    def to_json(self) -> dict[str, Any]:
        """The row as written (the hiccup meter's fields only when measured)."""
        return {"t": self.t, "started": self.started, "late": self.late, "dropped": self.dropped, "users": self.users,
                "lateness": self.lateness, **({"hiccup_ms": self.hiccup_ms} if self.hiccup_ms is not None else {}),
                **({"cpu": self.cpu} if self.cpu is not None else {})}


HISTOGRAM_FIELDS = ("hist", "ok_hist")
# The scalar columns of the metrics frame (the histograms are read into flat tables apart).
METRIC_COLUMNS = tuple(f.name for f in fields(MetricsRow) if f.name not in HISTOGRAM_FIELDS)
ARRIVAL_COLUMNS = tuple(f.name for f in fields(ArrivalRow))

__all__ = ["ARRIVAL_COLUMNS", "HISTOGRAM_FIELDS", "METRIC_COLUMNS", "ArrivalRow", "Histogram", "MetricsRow"]
