"""Per-second, per-endpoint measurements, fed by Locust's ``events.request``.

Everything is keyed by the run's own clock: seconds since the run's start, which the engine sets once.
:meth:`Recorder.flush` hands out what was measured since the previous flush and starts afresh; rows
for the same second and endpoint from several flushes (or several workers) are summed when read back,
which is exact because histograms merge by adding counts. The hiccup meter's stalls and the process's
CPU share (``hiccups.py``) ride on the arrival rows; those merge by taking the largest.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from ..histogram import Histogram
from ..redaction import redact_url, scrub
from ..rows import ArrivalRow, MetricsRow
from .kinds import RequestFailure, failure_kind, failure_status
from .scenario_errors import ScenarioErrors, is_scenario_kind

MAX_SAMPLES_PER_KIND = 5  # error samples kept per (endpoint, kind): the report shows a few, not thousands
MAX_SAMPLE_KINDS = 200  # distinct (endpoint, kind) pairs that keep samples; the rest are only counted
BODY_SNIPPET = 300
T = TypeVar("T")


@dataclass
class _Cell:
    requests: int = 0
    bytes: int = 0
    ok_max_us: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    hist: Histogram = field(default_factory=Histogram)
    fail_hist: Histogram = field(default_factory=Histogram)  # failures are rare: successes = hist - fail_hist
    offsite: int = 0  # redirects to another host, not followed
    offsite_example: str = ""

    def ok_hist(self) -> dict[str, object]:
        """The successful requests' histogram, as plain data."""
        counts = dict(self.hist.counts)
        for idx, n in self.fail_hist.counts.items():
            left = counts[idx] - n
            if left:
                counts[idx] = left
            else:
                del counts[idx]
        keys = sorted(counts)
        return {"i": keys, "c": [counts[k] for k in keys], "max": self.ok_max_us,
                "sum": self.hist.sum_us - self.fail_hist.sum_us}


@dataclass
class _ArrivalCell:
    started: int = 0
    late: int = 0
    dropped: int = 0
    users: int = 0  # closed model: looping users running in this second (the most seen)
    lateness: Histogram = field(default_factory=Histogram)
    hiccup_us: int = -1  # the longest stall of the event loop that touched this second (-1: not measured)
    cpu: float = -1.0  # this process's CPU share in this second, percent of one core (-1: not measured)


@dataclass
class _JourneyCell:
    """One journey's visits that started in one second: how each ended, and how long the completed ones took."""

    completed: int = 0
    cut_short: int = 0
    # (step number, failure kind, endpoint) -> visits; the endpoint is named only where the scenario cannot
    # (a locustfile's task: its steps are the requests it happened to make), else ''
    failed: Counter[tuple[int, str, str]] = field(default_factory=Counter)
    hist: Histogram = field(default_factory=Histogram)  # durations of the completed visits


LIVE_SECONDS = 15  # the live view looks this far back; older seconds are dropped


def _recent_slot(table: dict[int, T], sec: int, new: Callable[[], T]) -> T:
    """``table[sec]``, created when missing; seconds older than LIVE_SECONDS are dropped then."""
    slot = table.get(sec)
    if slot is None:
        slot = table[sec] = new()
        for old in [s for s in table if s < sec - LIVE_SECONDS]:
            del table[old]
    return slot


class Recorder:
    """Collects request results and arrival timings; thread-free, called from gevent greenlets."""

    def __init__(self, late_threshold_s: float = 0.1) -> None:
        self.t0 = time.time()
        self.late_threshold_s = late_threshold_s
        self._cells: dict[tuple[int, str, str], _Cell] = {}
        self._arrivals: dict[int, _ArrivalCell] = {}
        self._journeys: dict[tuple[int, str], _JourneyCell] = {}
        self._samples: list[dict[str, Any]] = []
        self._sample_counts: Counter[tuple[str, str]] = Counter()
        self.live: dict[int, list[int]] = {}  # second -> [requests, failures, visitors started]
        self._recent: dict[int, Histogram] = {}  # second -> all endpoints' latency, for the live view
        self.total_requests = 0
        self.total_failures = 0
        self.total_started = 0
        self.total_dropped = 0
        self.total_late = 0
        self.secrets: list[str] = []  # values never to write down (see redaction.secret_values)
        # Failures of the scenario, not the site (404/405 answers, a locustfile's exceptions): kept apart from
        # the measured requests, so they never count against the site.
        self.scenario_errors = ScenarioErrors(lambda: self.secrets)

    def start_clock(self, t0: float) -> None:
        """Set the run's start (epoch seconds); every key is seconds since then."""
        self.t0 = t0

    # --- events ----------------------------------------------------------------------------------

    def on_request(self, request_type: str, name: str, response_time: float, response_length: int,
                   exception: BaseException | None = None, start_time: float | None = None,
                   url: str | None = None, response: Any = None, **_: Any) -> None:
        """Locust ``events.request`` listener (the hot path: a few dictionary operations and one record)."""
        sec = int((start_time if start_time is not None else time.time()) - self.t0)
        if sec < 0:
            sec = 0
        kind = failure_kind(exception, response, url) if exception is not None else ""
        if exception is not None and is_scenario_kind(name, kind):
            self.scenario_errors.request(sec, name, request_type, kind, exception, response, url, response_time)
            return
        key = (sec, name, request_type)
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = _Cell()
        us = int(response_time * 1000)
        cell.requests += 1
        cell.bytes += response_length or 0
        cell.hist.record(us)
        live = self._live(sec)
        live[0] += 1
        self.total_requests += 1
        if exception is None:
            if us > cell.ok_max_us:
                cell.ok_max_us = us
            return
        cell.fail_hist.record(us)
        cell.failures[kind] += 1
        live[1] += 1
        self.total_failures += 1
        sample_key = (name, kind)
        if self._sample_counts[sample_key] < MAX_SAMPLES_PER_KIND and (
                sample_key in self._sample_counts or len(self._sample_counts) < MAX_SAMPLE_KINDS):
            self._sample_counts[sample_key] += 1
            detail = exception.detail if isinstance(exception, RequestFailure) else str(exception)
            status = failure_status(exception, response)
            self._samples.append({"t": sec, "endpoint": name, "method": request_type, "kind": kind,
                                  "status": status, "url": scrub(redact_url(url or ""), self.secrets),
                                  "detail": scrub(detail, self.secrets)[:BODY_SNIPPET],
                                  "ms": round(response_time, 3)})

    def on_journey(self, journey: str, start_s: float, duration_s: float, outcome: str, step: int,
                   endpoint: str = "") -> None:
        """A visit of ``journey`` that began at ``start_s`` (epoch) ended after ``duration_s``: ``completed``,
        ``cut_short`` (stopped when the run ended) or failed with a failure kind at step number ``step``
        (``endpoint``: that step's, when the scenario does not say it). Called once per visit, keyed by the
        second the visit began."""
        sec = max(0, int(start_s - self.t0))
        cell = self._journeys.get((sec, journey))
        if cell is None:
            cell = self._journeys[(sec, journey)] = _JourneyCell()
        if outcome == "completed":
            cell.completed += 1
            cell.hist.record(int(duration_s * 1_000_000))
        elif outcome == "cut_short":
            cell.cut_short += 1
        else:
            cell.failed[(step, outcome, endpoint)] += 1

    def on_user_error(self, user_instance: Any, exception: BaseException, tb: TracebackType | None,
                      **_: Any) -> None:
        """Locust ``events.user_error`` listener: a locustfile's code raised (a scenario error)."""
        self.scenario_errors.exception(max(0, int(time.time() - self.t0)), user_instance, exception, tb)

    def on_offsite_redirect(self, name: str, method: str, location: str) -> None:
        """A response of ``name`` redirected to another host; loadkit did not follow it."""
        sec = max(0, int(time.time() - self.t0))
        cell = self._cells.get((sec, name, method))
        if cell is None:
            cell = self._cells[(sec, name, method)] = _Cell()
        cell.offsite += 1
        if not cell.offsite_example:
            cell.offsite_example = scrub(redact_url(location), self.secrets)

    def on_arrival(self, planned_s: float, actual_s: float) -> None:
        """A visitor started (``actual_s``) for an arrival planned at ``planned_s`` (run clock)."""
        cell = self._arrival_cell(int(planned_s))
        cell.started += 1
        late = max(0.0, actual_s - planned_s)
        cell.lateness.record(int(late * 1_000_000))
        if late > self.late_threshold_s:
            cell.late += 1
            self.total_late += 1
        self.total_started += 1
        self._live(int(actual_s))[2] += 1

    def on_loop(self, now_s: float) -> None:
        """Closed model: a looping user began another journey (no plan, so no lateness)."""
        self._arrival_cell(int(now_s)).started += 1
        self.total_started += 1
        self._live(int(now_s))[2] += 1

    def on_dropped(self, planned_s: float) -> None:
        """An arrival that could not start (the generator was at its limit)."""
        self._arrival_cell(int(planned_s)).dropped += 1
        self.total_dropped += 1

    def on_users(self, now_s: float, count: int) -> None:
        """Closed model: ``count`` users were running at ``now_s`` (run clock)."""
        cell = self._arrival_cell(int(now_s))
        cell.users = max(cell.users, count)

    def on_hiccup(self, start_s: float, end_s: float, late_s: float) -> None:
        """The event loop stalled from ``start_s`` to ``end_s`` (run clock) for ``late_s`` seconds: the hiccup
        meter woke that much later than asked. Every second the stall touched keeps its longest stall."""
        us = int(late_s * 1_000_000)
        for sec in range(max(0, int(start_s)), max(0, int(end_s)) + 1):
            cell = self._arrival_cell(sec)
            if us > cell.hiccup_us:
                cell.hiccup_us = us

    def on_cpu(self, sec: int, percent: float) -> None:
        """This process used ``percent`` of one core during second ``sec`` (run clock)."""
        cell = self._arrival_cell(max(0, sec))
        cell.cpu = max(cell.cpu, percent)
        cell.hiccup_us = max(cell.hiccup_us, 0)  # measured, even if no stall was worth recording

    def ingest(self, metrics: list[dict[str, Any]], arrivals: list[dict[str, Any]]) -> None:
        """Count rows shipped by a worker into the live view and totals (the master's progress)."""
        for row in metrics:
            sec = int(row["t"])
            live = self._live(sec)
            failures = sum(row["failures"].values())
            live[0] += row["requests"]
            live[1] += failures
            self._recent_hist(sec).merge(Histogram.from_dict(row["hist"]))
            self.total_requests += row["requests"]
            self.total_failures += failures
        for row in arrivals:
            self._live(int(row["t"]))[2] += row["started"]
            self.total_started += row["started"]
            self.total_dropped += row["dropped"]
            self.total_late += row["late"]

    def _live(self, sec: int) -> list[int]:
        return _recent_slot(self.live, sec, lambda: [0, 0, 0])

    def _recent_hist(self, sec: int) -> Histogram:
        return _recent_slot(self._recent, sec, Histogram)

    def _arrival_cell(self, sec: int) -> _ArrivalCell:
        cell = self._arrivals.get(sec)
        if cell is None:
            cell = self._arrivals[sec] = _ArrivalCell()
        return cell

    # --- output ----------------------------------------------------------------------------------

    def flush_journeys(self) -> list[dict[str, Any]]:
        """Journey rows (per second a visit began and journey) since the last call; rows merge by adding."""
        cells, self._journeys = self._journeys, {}
        return [{"t": sec, "journey": name, "completed": c.completed, "cut_short": c.cut_short,
                 "failed": [{"step": step, "kind": kind, "count": n, **({"endpoint": endpoint} if endpoint else {})}
                            for (step, kind, endpoint), n in sorted(c.failed.items())],
                 "hist": c.hist.to_dict()}
                for (sec, name), c in sorted(cells.items())]

    def flush_scenario_errors(self) -> list[dict[str, Any]]:
        """Scenario-error rows (counts per second, endpoint and kind, with capped samples) since the last call."""
        return self.scenario_errors.flush()

    def flush(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """(metrics rows, arrival rows, error samples) measured since the last flush."""
        cells, self._cells = self._cells, {}
        arrivals, self._arrivals = self._arrivals, {}
        samples, self._samples = self._samples, []
        metrics = [MetricsRow(t=sec, endpoint=name, method=method, requests=c.requests, failures=c.failures,
                              bytes=c.bytes, hist=c.hist.to_dict(), ok_hist=c.ok_hist(), offsite_redirects=c.offsite,
                              offsite_example=c.offsite_example).to_json()
                   for (sec, name, method), c in sorted(cells.items())]
        for (sec, _, _), c in cells.items():
            self._recent_hist(sec).merge(c.hist)
        arrival_rows = [ArrivalRow(t=sec, started=a.started, late=a.late, dropped=a.dropped, users=a.users,
                                   lateness=a.lateness.to_dict(),
                                   hiccup_ms=round(a.hiccup_us / 1000, 1) if a.hiccup_us >= 0 else None,
                                   cpu=round(a.cpu, 1) if a.cpu >= 0 else None).to_json()
                        for sec, a in sorted(arrivals.items())]
        return metrics, arrival_rows, samples

    def live_window(self, now_s: float, seconds: int = 5) -> dict[str, float | None]:
        """Requests/s, arrivals/s, p95 (ms) and error rate over the last ``seconds`` full seconds."""
        hist = Histogram()
        requests = failures = started = 0
        end = int(now_s)
        window = range(end - seconds, end)
        for sec in window:
            live = self.live.get(sec)
            if live:
                requests += live[0]
                failures += live[1]
                started += live[2]
            recent = self._recent.get(sec)
            if recent is not None:
                hist.merge(recent)
        for (sec, _, _), cell in self._cells.items():  # not flushed yet
            if sec in window:
                hist.merge(cell.hist)
        p95 = hist.percentile(0.95)
        return {"rps": requests / seconds, "arrivals_per_s": started / seconds,
                "p95_ms": p95 / 1000 if p95 is not None else None,
                "error_rate": failures / requests if requests else None}
