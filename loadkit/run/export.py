"""Live metrics out: the run's per-second figures on a Prometheus scrape endpoint and/or over OTLP.

Fed by the controlling process with the same rows it appends to metrics.jsonl and arrivals.jsonl (one
call per flush, never per request), so what a dashboard shows is what the report will say. A second is
published once it is complete (by the first flush at least ``PUBLISH_LAG_S`` after it ended, run/supervisor.py):
a scrape that reads ``loadkit_second = s`` sees exactly the requests and arrivals of seconds 0..s as
metrics.jsonl holds them (a request slower than that lag joins its second in a later flush). Off unless
asked; both libraries are imported only then. Labels: ``run_id`` and ``scenario`` on every series, so the
figures line up with the site's own.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..config import parse_listen
from ..errors import UsageError
from ..histogram import Histogram, bucket_value
from ..publish import shown_url
from ..traffic import Plan

log = logging.getLogger("loadkit")

# Prometheus histogram buckets for request durations, in seconds (the upper bound of each bucket).
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DEFAULT_PROMETHEUS_HOST = "127.0.0.1"


@dataclass(frozen=True)
class ExportSettings:
    """Where the live figures go. ``prometheus`` is ``host:port`` (host defaults to 127.0.0.1)."""

    prometheus: str | None = None
    otlp: str | None = None
    linger_s: float = 0.0  # the scrape endpoint stays up this long after the load, for a last scrape
    otlp_interval_s: float = 5.0

    @property
    def enabled(self) -> bool:
        """Whether any export was asked for."""
        return bool(self.prometheus or self.otlp)

    def check(self) -> None:
        """Refuse, before anything starts, an endpoint that cannot listen or an OTLP export without its
        package (a usage error naming the fix)."""
        if self.prometheus:
            host, port = parse_bind(self.prometheus)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((host, port))
                except OSError as exc:
                    raise UsageError(f"--prometheus {host}:{port}: cannot listen there ({exc.strerror or exc}); "
                                     "choose another port") from None
        if self.otlp:
            try:
                import opentelemetry.exporter.otlp.proto.http.metric_exporter  # noqa: F401
            except ImportError:
                raise UsageError("--otlp needs the OpenTelemetry SDK: pip install 'loadkit-burst[otlp]'") from None


def parse_bind(value: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); a one-line usage error otherwise."""
    try:
        text = parse_listen(value)  # the one rule for what --prometheus accepts
    except ValueError:
        raise UsageError(f"--prometheus {value!r} is not a port or host:port; write e.g. --prometheus 9646 "
                         "or --prometheus 127.0.0.1:9646") from None
    host, _, port = text.rpartition(":")
    return host.strip("[]") or DEFAULT_PROMETHEUS_HOST, int(port)


def otlp_metrics_url(endpoint: str) -> str:
    """The OTLP/HTTP metrics URL of an endpoint: ``/v1/metrics`` added to its path (unless there), the
    query string kept after it."""
    parts = urlsplit(endpoint.strip())
    path = parts.path.rstrip("/")
    if not path.endswith("/v1/metrics"):
        path += "/v1/metrics"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


@dataclass
class _Totals:
    """Cumulative figures published so far (the state a scrape reads)."""

    second: int = -1
    requests: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    failures: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    hists: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    last_second_hist: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    started: int = 0
    late: int = 0
    dropped: int = 0
    planned: float = 0.0
    users: int = 0
    cpu: float = 0.0
    hiccup_ms: float = 0.0
    phase: str = ""


class LiveExport:
    """Publishes complete seconds to the endpoints asked for; ``close()`` publishes the rest."""

    def __init__(self, settings: ExportSettings, run_id: str, scenario: str, plan: Plan) -> None:
        self.settings = settings
        self.labels = {"run_id": run_id, "scenario": scenario}
        self.plan = plan
        self.totals = _Totals()
        self._lock = threading.Lock()
        self._pending_metrics: list[Mapping[str, Any]] = []
        self._pending_arrivals: list[Mapping[str, Any]] = []
        self._server: Any = None
        self._server_thread: Any = None
        self._meter_provider: Any = None
        self._otlp: dict[str, Any] = {}
        self._otlp_sent: _Totals = _Totals()
        self.bound: tuple[str, int] | None = None

    # --- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the scrape endpoint and/or the OTLP pipeline (before the load starts)."""
        if self.settings.prometheus:
            self._start_prometheus(*parse_bind(self.settings.prometheus))
        if self.settings.otlp:
            self._start_otlp(self.settings.otlp)

    def close(self, linger: bool = True) -> None:
        """Publish every second still pending, send OTLP's last batch, keep the scrape endpoint up for
        ``linger_s`` so a scraper reads the final values, then shut it."""
        self.publish(None)
        if self._meter_provider is not None:
            try:
                self._meter_provider.force_flush(timeout_millis=5000)
                self._meter_provider.shutdown()
            except Exception as exc:  # noqa: BLE001 - a failing collector never harms the run
                log.warning("OTLP export: the last batch was not sent (%s)", exc)
            self._meter_provider = None
        if self._server is not None:
            if linger and self.settings.linger_s > 0:
                time.sleep(self.settings.linger_s)
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- input -----------------------------------------------------------------------------------

    def add(self, metrics: Sequence[Mapping[str, Any]], arrivals: Sequence[Mapping[str, Any]]) -> None:
        """Rows just written to the data files (any seconds; published once their second is complete)."""
        with self._lock:
            self._pending_metrics.extend(metrics)
            self._pending_arrivals.extend(arrivals)

    def publish(self, complete_through: int | None) -> None:
        """Fold the pending rows of seconds <= ``complete_through`` (all of them when None) into the totals."""
        with self._lock:
            keep_m: list[Mapping[str, Any]] = []
            keep_a: list[Mapping[str, Any]] = []
            last_hist: dict[tuple[str, str], Histogram] = {}
            newest = self.totals.second
            for row in self._pending_metrics:
                t = int(row["t"])
                if complete_through is not None and t > complete_through:
                    keep_m.append(row)
                    continue
                key = (str(row["endpoint"]), str(row["method"]))
                self.totals.requests[key] += int(row["requests"])
                for kind, n in dict(row.get("failures") or {}).items():
                    self.totals.failures[(key[0], key[1], str(kind))] += int(n)
                hist = Histogram.from_dict(row["hist"])
                self.totals.hists.setdefault(key, Histogram()).merge(hist)
                if complete_through is None or t == complete_through:
                    last_hist.setdefault(key, Histogram()).merge(hist)
                newest = max(newest, t)
            for row in self._pending_arrivals:
                t = int(row["t"])
                if complete_through is not None and t > complete_through:
                    keep_a.append(row)
                    continue
                self.totals.started += int(row.get("started", 0))
                self.totals.late += int(row.get("late", 0))
                self.totals.dropped += int(row.get("dropped", 0))
                if t >= newest:
                    self.totals.users = int(row.get("users", 0))
                    self.totals.cpu = float(row.get("cpu", 0.0) or 0.0)
                    self.totals.hiccup_ms = float(row.get("hiccup_ms", 0.0) or 0.0)
                newest = max(newest, t)
            self._pending_metrics, self._pending_arrivals = keep_m, keep_a
            if complete_through is not None:
                newest = max(newest, complete_through)
            if newest >= 0 and self.plan.model == "arrivals":  # visitors planned in seconds 0..newest
                self.totals.planned = self.plan.integral(0.0, min(newest + 1.0, self.plan.duration))
            if newest >= 0:
                self.totals.second = newest
                self.totals.phase = self.plan.phase_at(newest + 0.5)
            if last_hist:
                self.totals.last_second_hist = last_hist
        if self._otlp:
            self._send_otlp()

    # --- Prometheus ------------------------------------------------------------------------------

    def _start_prometheus(self, host: str, port: int) -> None:
        try:
            from prometheus_client import CollectorRegistry
            from prometheus_client.exposition import start_http_server
        except ImportError as exc:  # a broken install: prometheus_client is a dependency
            raise UsageError("--prometheus needs the prometheus_client package: pip install prometheus_client") from exc
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        try:
            self._server, self._server_thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise UsageError(f"--prometheus {host}:{port}: cannot listen there ({exc.strerror or exc}); choose "
                             "another port") from exc
        self.bound = (host, int(self._server.server_address[1]))
        log.info("live metrics on http://%s:%d/metrics", host if ":" not in host else f"[{host}]", self.bound[1])

    def snapshot(self) -> Iterator[Any]:
        """The published totals as Prometheus metric families (read by a scrape)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        base = list(self.labels)
        values = list(self.labels.values())
        with self._lock:
            totals = self.totals
            second = GaugeMetricFamily("loadkit_second", "The newest whole second of the run these figures include.",
                                       labels=base)
            second.add_metric(values, totals.second)
            yield second
            phase = GaugeMetricFamily("loadkit_phase", "1 for the plan's phase in loadkit_second.",
                                      labels=[*base, "phase"])
            if totals.phase:
                phase.add_metric([*values, totals.phase], 1)
            yield phase
            for name, doc, value in (
                    ("loadkit_arrivals_planned", "Visitors the plan asked for.", totals.planned),
                    ("loadkit_arrivals_started", "Visitors started.", totals.started),
                    ("loadkit_arrivals_late", "Visitors started more than the lateness limit after their time.",
                     totals.late),
                    ("loadkit_arrivals_dropped", "Visitors never started.", totals.dropped)):
                counter = CounterMetricFamily(name, doc, labels=base)
                counter.add_metric(values, value)
                yield counter
            requests = CounterMetricFamily("loadkit_requests", "Requests ended, by endpoint.",
                                           labels=[*base, "endpoint", "method"])
            for (endpoint, method), n in sorted(totals.requests.items()):
                requests.add_metric([*values, endpoint, method], n)
            yield requests
            failures = CounterMetricFamily("loadkit_failures", "Failed requests, by endpoint and kind.",
                                           labels=[*base, "endpoint", "method", "kind"])
            for (endpoint, method, kind), n in sorted(totals.failures.items()):
                failures.add_metric([*values, endpoint, method, kind], n)
            yield failures
            durations = HistogramMetricFamily("loadkit_request_duration_seconds",
                                              "Request durations, by endpoint (loadkit's histogram, bucketed).",
                                              labels=[*base, "endpoint", "method"])
            for (endpoint, method), hist in sorted(totals.hists.items()):
                durations.add_metric([*values, endpoint, method], _buckets(hist), sum_value=hist.sum_us / 1e6)
            yield durations
            for name, doc, value in (
                    ("loadkit_users", "Running users (closed model) at loadkit_second.", float(totals.users)),
                    ("loadkit_generator_cpu_percent", "The busiest load process's CPU share, percent.", totals.cpu),
                    ("loadkit_generator_pause_seconds", "The longest pause of the load process in the second.",
                     totals.hiccup_ms / 1000)):
                gauge = GaugeMetricFamily(name, doc, labels=base)
                gauge.add_metric(values, value)
                yield gauge

    # --- OTLP ------------------------------------------------------------------------------------

    def _start_otlp(self, endpoint: str) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.resources import Resource
        except ImportError as exc:
            raise UsageError("--otlp needs the OpenTelemetry SDK: pip install 'loadkit-burst[otlp]'") from exc
        url = otlp_metrics_url(endpoint)
        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=url, timeout=5),
                                               export_interval_millis=self.settings.otlp_interval_s * 1000)
        resource = Resource.create({"service.name": "loadkit", "loadkit.run_id": self.labels["run_id"],
                                    "loadkit.scenario": self.labels["scenario"]})
        self._meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        meter = self._meter_provider.get_meter("loadkit")
        self._otlp = {
            "requests": meter.create_counter("loadkit.requests", unit="{request}", description="Requests ended."),
            "failures": meter.create_counter("loadkit.failures", unit="{request}", description="Failed requests."),
            "planned": meter.create_counter("loadkit.arrivals.planned", unit="{visitor}"),
            "started": meter.create_counter("loadkit.arrivals.started", unit="{visitor}"),
            "late": meter.create_counter("loadkit.arrivals.late", unit="{visitor}"),
            "dropped": meter.create_counter("loadkit.arrivals.dropped", unit="{visitor}"),
            "second": meter.create_gauge("loadkit.second", unit="s"),
            "p95": meter.create_gauge("loadkit.request.duration.p95", unit="s",
                                      description="p95 of the requests of the newest whole second, by endpoint."),
            "p99": meter.create_gauge("loadkit.request.duration.p99", unit="s"),
            "cpu": meter.create_gauge("loadkit.generator.cpu", unit="%"),
        }
        log.info("live metrics over OTLP to %s", shown_url(url))  # no credentials, no query string

    def _send_otlp(self) -> None:
        """Counters get the increase since the last call; gauges the newest second's value."""
        inst, sent, base = self._otlp, self._otlp_sent, self.labels
        with self._lock:
            totals = self.totals
            for key, n in totals.requests.items():
                if n > sent.requests[key]:
                    inst["requests"].add(n - sent.requests[key], {**base, "endpoint": key[0], "method": key[1]})
                    sent.requests[key] = n
            for fkey, n in totals.failures.items():
                if n > sent.failures[fkey]:
                    inst["failures"].add(n - sent.failures[fkey], {**base, "endpoint": fkey[0], "method": fkey[1],
                                                                   "kind": fkey[2]})
                    sent.failures[fkey] = n
            for name in ("planned", "started", "late", "dropped"):
                delta = getattr(totals, name) - getattr(sent, name)
                if delta > 0:
                    inst[name].add(delta, base)
                    setattr(sent, name, getattr(totals, name))
            inst["second"].set(totals.second, {**base, "phase": totals.phase})
            inst["cpu"].set(totals.cpu, base)
            for key, hist in totals.last_second_hist.items():
                for q, name in ((0.95, "p95"), (0.99, "p99")):
                    value = hist.percentile(q)
                    if value is not None:
                        inst[name].set(value / 1e6, {**base, "endpoint": key[0], "method": key[1]})


def _buckets(hist: Histogram) -> list[tuple[str, float]]:
    """Cumulative counts per upper bound (by each loadkit bucket's midpoint, within 0.4% of its values)."""
    bounds_us = [b * 1e6 for b in LATENCY_BUCKETS_S]
    counts = [0] * (len(bounds_us) + 1)
    for index, n in hist.counts.items():
        value = bucket_value(index)
        slot = next((i for i, b in enumerate(bounds_us) if value <= b), len(bounds_us))
        counts[slot] += n
    out: list[tuple[str, float]] = []
    running = 0
    for bound, n in zip([*(_le(b) for b in LATENCY_BUCKETS_S), "+Inf"], counts, strict=True):
        running += n
        out.append((bound, float(running)))
    return out


def _le(bound: float) -> str:
    return repr(float(bound)) if not math.isinf(bound) else "+Inf"


class _Collector:
    """prometheus_client's custom-collector protocol over a LiveExport."""

    def __init__(self, export: LiveExport) -> None:
        self.export = export

    def collect(self) -> Iterable[Any]:
        return self.export.snapshot()
