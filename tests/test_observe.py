"""The site's own metrics beside the load: Prometheus queries sampled into observed.jsonl, drawn in the
report and cited by "what broke first"; loadkit's live figures out on a Prometheus endpoint and over OTLP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadkit.data import load_run
from loadkit.analysis import analyze
from loadkit.observed import cite, number, read_observed
from loadkit.report import render_run_dir
from loadkit.report.text import md_text
from loadkit.verdict import judge
from tests.synth import make_run_dir, scenario_doc

CAPACITY = 24.0


def saturating(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
    over = max(0.0, rate - CAPACITY)
    return [40.0 + 60.0 * over] * int(rate), {}


def _write_observed(run: Path, rows: list[dict[str, Any]]) -> None:
    with (run / "observed.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def _busy_slots(first_break_s: float) -> list[dict[str, Any]]:
    """A pool that fills up 4 s before the break; a flat queue metric; one query that always failed."""
    rows = []
    for i in range(0, 60, 2):
        t = float(i)
        busy = 1.0 if t < first_break_s - 12 else min(4.0, 1.0 + (t - (first_break_s - 12)) / 2)
        rows.append({"t": t, "name": "checkout_busy", "value": busy})
        rows.append({"t": t, "name": "queue_flat", "value": 3.0})
        rows.append({"t": t, "name": "broken", "value": None, "error": "HTTP 400: parse error"})
    return rows


def test_a_site_metric_that_peaked_before_the_break_is_cited_and_drawn(tmp_path: Path) -> None:
    doc = scenario_doc(traffic={**scenario_doc()["traffic"], "peak": "40/s"})
    run = make_run_dir(tmp_path / "r", doc, saturating)
    analysis = analyze(load_run(run))
    verdict = judge(analysis)
    assert verdict.verdict == "fails"
    first = min(r.first_break_s for r in analysis.slo_results if r.first_break_s is not None)
    _write_observed(run, _busy_slots(first))
    rendered = render_run_dir(run)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    series = {s["name"]: s for s in summary["observed"]["series"]}
    assert series["checkout_busy"]["max"] == 4.0 and series["checkout_busy"]["samples"] == 30
    assert series["broken"]["samples"] == 0 and series["broken"]["missing"] == 30
    assert series["broken"]["error"] == "HTTP 400: parse error"
    cited = summary["observed"]["cited"]
    assert cited is not None and cited.startswith("The site's checkout_busy rose from 1 to 4 by 0:")
    assert "before" in cited and "broke" in cited, cited
    assert "queue_flat" not in cited  # flat: never named as the cause
    html = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="site-cause"' in html and 'id="chart-site-0"' in html and "checkout_busy" in html
    # the query that never answered has no chart (an empty one reads as a flat metric), only its error
    assert 'id="chart-site-1"' in html and 'id="chart-site-2"' not in html and "HTTP 400: parse error" in html
    assert md_text(cited) in (run / "summary.md").read_text(encoding="utf-8")
    assert rendered.model.observed_cited == cited


def test_without_observe_the_summary_has_no_observed_field(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(), saturating)
    render_run_dir(run)
    assert "observed" not in json.loads((run / "summary.json").read_text(encoding="utf-8"))


def test_citation_rules(tmp_path: Path) -> None:
    run = tmp_path
    _write_observed(run, [{"t": 0, "name": "a", "value": 10}, {"t": 10, "name": "a", "value": 11},
                          {"t": 0, "name": "late", "value": 1}, {"t": 50, "name": "late", "value": 9},
                          {"t": 0, "name": "early", "value": 1}, {"t": 5, "name": "early", "value": 9},
                          {"t": 40, "name": "early", "value": 9},
                          {"t": 0, "name": "zero", "value": 0}, {"t": 38, "name": "zero", "value": 2}])

    with (run / "observed.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"t": 3, "name": "a", "val\n')  # a run stopped mid-write
    series = read_observed(run)
    assert [s.name for s in series] == ["a", "late", "early", "zero"]
    # a: rose only 10% (not a cause); late: peaked after the break; early: reached its peak 35 s before
    # (beyond 30 s); zero: rose from 0 two seconds before the break
    cited = cite(series, 40.0)
    assert cited is not None and cited.name == "zero" and cited.before_s == 2.0
    assert cite(series[:3], 40.0) is None
    assert [number(v) for v in (0.12345, 12.345, 98.0, 1234.5, 0)] == ["0.123", "12.3", "98", "1,234", "0"]


# --- live figures out ---------------------------------------------------------------------------------

def _plan() -> Any:
    from loadkit.scenario import parse_scenario
    from loadkit.traffic import build_plan

    doc = {"name": "live", "traffic": {"profile": "constant", "rate": "10/s", "duration": "10s"},
           "journeys": [{"name": "j", "steps": [{"get": "/"}]}]}
    return build_plan(parse_scenario(doc))


def _rows(sec: int, requests: int, failures: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from loadkit.histogram import Histogram

    hist = Histogram()
    for i in range(requests):
        hist.record(20_500 + 1000 * i)  # 20.5 ms, 21.5 ms, ... (away from the bucket bounds)
    metrics = [{"t": sec, "endpoint": "GET /", "method": "GET", "requests": requests,
                "failures": {"http_503": failures} if failures else {}, "bytes": 0, "hist": hist.to_dict()}]
    arrivals = [{"t": sec, "started": requests, "late": 0, "dropped": 0, "users": 0, "cpu": 12.5}]
    return metrics, arrivals


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("run_id", "scenario")))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_scrape_endpoint_publishes_whole_seconds_only() -> None:
    from loadkit.run.export import ExportSettings, LiveExport

    export = LiveExport(ExportSettings(prometheus="127.0.0.1:0"), "run-1", "live", _plan())
    export.start()
    try:
        assert export.bound is not None and export.bound[0] == "127.0.0.1"
        url = f"http://127.0.0.1:{export.bound[1]}/metrics"
        for sec, (n, f) in enumerate([(10, 0), (10, 2), (7, 7)]):
            export.add(*_rows(sec, n, f))
        export.publish(complete_through=1)  # second 2 is still going
        seen = _scrape(url)
        assert seen[("loadkit_second", ())] == 1
        assert seen[("loadkit_requests_total", (("endpoint", "GET /"), ("method", "GET")))] == 20
        assert seen[("loadkit_failures_total", (("endpoint", "GET /"), ("kind", "http_503"), ("method", "GET")))] == 2
        assert seen[("loadkit_arrivals_started_total", ())] == 20
        assert seen[("loadkit_arrivals_planned_total", ())] == 20  # 10/s for seconds 0 and 1
        assert seen[("loadkit_phase", (("phase", "steady"),))] == 1
        buckets = {dict(k[1])["le"]: v for k, v in seen.items() if k[0] == "loadkit_request_duration_seconds_bucket"}
        assert buckets["0.025"] == 10 and buckets["0.05"] == 20 and buckets["+Inf"] == 20  # 20.5..29.5 ms twice
        export.close(linger=False)
        assert _scrape_fails(url)
    finally:
        export.close(linger=False)


def _scrape_fails(url: str) -> bool:
    try:
        _scrape(url)
    except OSError:
        return True
    return False


def test_close_publishes_the_last_seconds() -> None:
    from loadkit.run.export import ExportSettings, LiveExport

    export = LiveExport(ExportSettings(), "run-1", "live", _plan())
    export.add(*_rows(0, 5))
    export.add(*_rows(9, 3))
    export.publish(complete_through=0)
    assert export.totals.second == 0 and sum(export.totals.requests.values()) == 5
    export.close()
    assert export.totals.second == 9 and sum(export.totals.requests.values()) == 8


def test_the_otlp_url_gets_its_path_and_keeps_its_query() -> None:
    from loadkit.run.export import otlp_metrics_url

    assert otlp_metrics_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/metrics"
    assert otlp_metrics_url("https://u:p@h/otlp/?token=abc") == "https://u:p@h/otlp/v1/metrics?token=abc"
    assert otlp_metrics_url("http://h/v1/metrics") == "http://h/v1/metrics"


def test_a_taken_port_is_a_one_line_usage_error() -> None:
    import socket

    from loadkit.errors import UsageError
    from loadkit.run.export import ExportSettings, LiveExport, parse_bind

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(UsageError, match="cannot listen there"):
            LiveExport(ExportSettings(prometheus=f"127.0.0.1:{port}"), "r", "s", _plan()).start()
    assert parse_bind("9646") == ("127.0.0.1", 9646)
    assert parse_bind("[::1]:9646") == ("::1", 9646)
    with pytest.raises(UsageError, match="--prometheus 9646"):
        parse_bind("http://x")


def test_otlp_export_reaches_a_receiver_with_the_expected_names() -> None:
    """A small OTLP/HTTP receiver (protobuf, as the OpenTelemetry Collector's otlphttp receiver takes it)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    from loadkit.run.export import ExportSettings, LiveExport

    received: list[ExportMetricsServiceRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportMetricsServiceRequest()
            request.ParseFromString(body)
            received.append(request)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        export = LiveExport(ExportSettings(otlp=f"http://127.0.0.1:{server.server_address[1]}", otlp_interval_s=60),
                            "run-7", "live", _plan())
        export.start()
        export.add(*_rows(0, 10, 1))
        export.add(*_rows(1, 10))
        export.publish(complete_through=1)
        export.close()  # the last batch goes out at close, whatever the interval
    finally:
        server.shutdown()
        server.server_close()
    names: set[str] = set()
    values: dict[str, float] = {}
    attributes: dict[str, str] = {}
    for request in received:
        for rm in request.resource_metrics:
            attributes.update({a.key: a.value.string_value for a in rm.resource.attributes})
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    names.add(metric.name)
                    points = metric.sum.data_points if metric.HasField("sum") else metric.gauge.data_points
                    values[metric.name] = sum(p.as_int or p.as_double for p in points)
    assert {"loadkit.requests", "loadkit.failures", "loadkit.arrivals.started", "loadkit.arrivals.planned",
            "loadkit.second", "loadkit.request.duration.p95", "loadkit.generator.cpu"} <= names
    assert values["loadkit.requests"] == 20 and values["loadkit.failures"] == 1
    assert attributes["loadkit.run_id"] == "run-7" and attributes["service.name"] == "loadkit"


# --- a real run beside a real Prometheus ----------------------------------------------------------------

def _buy_scenario(prometheus: str) -> dict[str, Any]:
    """Every visitor buys; one payment slot of 100 ms (10 orders/s) against a peak of 20 visitors/s."""
    return {
        "name": "observed-buy",
        "traffic": {"profile": "burst", "baseline": "2/s", "peak": "20/s", "lead_in": "4s", "ramp": "2s",
                    "hold": "8s", "decay": "1s", "decay_half_life": "0.5s", "recovery": "3s"},
        "journeys": [{"name": "buy", "steps": [
            {"get": "/products/kitchen-01", "extract": {"csrf": {"regex": "name=.csrf_token. value=.([^\"']+)"}}},
            {"post": "/cart", "form": {"product": "kitchen-01", "csrf_token": "{csrf}"}, "expect": {"status": 303}},
            {"post": "/checkout", "form": {"csrf_token": "{csrf}"}}]}],
        "slos": [{"endpoint": "POST /checkout", "metric": "p95", "below": "300ms"}],
        "verdict": {"headroom_probe": False},
        "observe": {"prometheus": prometheus, "every": "1s", "queries": {
            "checkout_queue": 'max(demo_queue_length{pool="checkout"})',
            "checkout_busy": 'max(demo_busy_slots{pool="checkout"})',
            "broken": "nope("}},
    }


def _raw(prom: Any, selector: str) -> dict[tuple[tuple[str, str], ...], dict[float, float]]:
    """Every scraped sample of a selector in the last 10 minutes: {labels: {timestamp: value}}."""
    result = prom.api("query", query=f"{selector}[10m]")["result"]
    return {tuple(sorted((k, v) for k, v in r["metric"].items() if k in ("endpoint", "method", "kind"))):
            {float(ts): float(v) for ts, v in r["values"]} for r in result}


@pytest.mark.integration
def test_a_real_prometheus_scrapes_the_run_and_the_shop_and_the_report_cites_the_shop(
        demo_factory: Any, tmp_path: Path) -> None:
    from loadkit.demo import DemoConfig, DEFAULT_SERVICE_MS
    from tests.helpers import run_cli, write_scenario
    from tests.promserver import PROMETHEUS, Prometheus, free_port

    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus); .ci/run installs it")
    shop = demo_factory(DemoConfig(checkout_slots=1, service_ms={**DEFAULT_SERVICE_MS, "checkout": 100.0}))
    shop_host = shop.url.split("//", 1)[1].rstrip("/")
    port = free_port()
    with Prometheus({"shop": [shop_host], "loadkit": [f"127.0.0.1:{port}"]}, paths={"shop": "/__metrics"}) as prom:
        prom.wait_for('demo_slots{pool="checkout"}')
        scenario = write_scenario(tmp_path / "buy.yaml", _buy_scenario(prom.url))
        out = tmp_path / "run"
        result = run_cli("run", str(scenario), "--target", shop.url, "--out", str(out), "--quiet",
                         "--prometheus", f"127.0.0.1:{port}", "--prometheus-linger", "3s")
        assert result.returncode in (0, 1, 3), result.stdout + result.stderr  # 3: a busy machine paused it
        seconds = _raw(prom, f'loadkit_second{{run_id="{out.name}"}}')
        products = _raw(prom, f'loadkit_requests_total{{run_id="{out.name}", endpoint="GET /products/kitchen-01"}}')
        every = _raw(prom, f'loadkit_requests_total{{run_id="{out.name}"}}')
    # loadkit's own figures, per second, from its data file
    per_second: dict[str, dict[int, int]] = {}
    for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        per_second.setdefault(row["endpoint"], {})
        per_second[row["endpoint"]][row["t"]] = per_second[row["endpoint"]].get(row["t"], 0) + row["requests"]
    (second_series,) = seconds.values()
    (product_series,) = products.values()
    assert len(second_series) >= 10, second_series  # scraped every second through the run
    # at every scrape, the product page's count is exactly loadkit's for seconds 0..loadkit_second
    for ts, value in product_series.items():
        s = int(second_series[ts])
        assert value == sum(n for t, n in per_second["GET /products/kitchen-01"].items() if t <= s), (ts, s)
    # the last scrape (the endpoint lingers after the load) has every request of the run
    for labels, samples in every.items():
        endpoint = dict(labels)["endpoint"]
        assert samples[max(samples)] == sum(per_second[endpoint].values()), endpoint
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["verdict"] in ("fails", "at-risk", "inconclusive"), summary["reasons"]
    series = {s["name"]: s for s in summary["observed"]["series"]}
    assert series["checkout_queue"]["max"] >= 2 and series["checkout_busy"]["max"] == 1
    assert series["broken"]["samples"] == 0 and "parse error" in series["broken"]["error"]
    cited = summary["observed"]["cited"]
    assert cited and "checkout_" in cited and "broke" in cited, (cited, summary["broke_first"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="chart-site-0"' in html and 'id="site-cause"' in html


@pytest.mark.integration
def test_every_scrape_during_a_run_matches_the_data_files_through_its_second(demo_factory: Any,
                                                                              tmp_path: Path) -> None:
    """A scraper polling every 20 ms through a real run: each scrape's count is exactly metrics.jsonl's for the
    seconds up to the scrape's ``loadkit_second``. The pages take 80 ms, so a second published at the flush
    just after it ended would miss the requests that started in its last 80 ms."""
    import threading

    from loadkit.demo import DemoConfig, DEFAULT_SERVICE_MS
    from tests.helpers import run_cli, write_scenario
    from tests.promserver import free_port

    shop = demo_factory(DemoConfig(service_ms={**DEFAULT_SERVICE_MS, "home": 80.0}))
    port = free_port()
    scenario = write_scenario(tmp_path / "home.yaml", {
        "name": "scraped", "traffic": {"profile": "constant", "rate": "40/s", "duration": "9s"},
        "journeys": [{"name": "home", "steps": [{"get": "/"}]}], "verdict": {"headroom_probe": False}})
    out = tmp_path / "run"
    scrapes: list[tuple[int, float]] = []
    done = threading.Event()

    def scrape() -> None:
        while not done.wait(0.02):
            try:
                seen = _scrape(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                continue  # not listening yet, or gone
            second = seen.get(("loadkit_second", ()))
            if second is not None and second >= 0:
                scrapes.append((int(second), seen.get(("loadkit_requests_total",
                                                       (("endpoint", "GET /"), ("method", "GET"))), 0.0)))

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    try:
        result = run_cli("run", str(scenario), "--target", shop.url, "--out", str(out), "--quiet",
                         "--prometheus", f"127.0.0.1:{port}", "--prometheus-linger", "0.5s")
    finally:
        done.set()
        scraper.join(timeout=5)
    assert result.returncode in (0, 1, 3), result.stdout + result.stderr
    per_second: dict[int, int] = {}
    for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        per_second[row["t"]] = per_second.get(row["t"], 0) + row["requests"]
    assert len({s for s, _ in scrapes}) >= 4, scrapes  # several seconds were published while the load ran
    wrong = [(s, n, sum(v for t, v in per_second.items() if t <= s)) for s, n in scrapes
             if n != sum(v for t, v in per_second.items() if t <= s)]
    assert not wrong, wrong[:5]  # (second, scraped, metrics.jsonl's)


def test_the_grafana_dashboard_reads_only_series_loadkit_exports() -> None:
    import re

    dashboard = json.loads((Path(__file__).resolve().parents[1] / "docs" / "grafana" /
                            "loadkit-dashboard.json").read_text(encoding="utf-8"))
    exported = {"loadkit_second", "loadkit_phase", "loadkit_arrivals_planned_total", "loadkit_arrivals_started_total",
                "loadkit_arrivals_late_total", "loadkit_arrivals_dropped_total", "loadkit_requests_total",
                "loadkit_failures_total", "loadkit_request_duration_seconds_bucket", "loadkit_users",
                "loadkit_generator_cpu_percent", "loadkit_generator_pause_seconds"}
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\bloadkit_[a-z_]+", e)}
    assert used and used <= exported, used - exported


@pytest.mark.integration
def test_in_a_distributed_run_the_master_exports_the_merged_figures(demo_factory: Any, tmp_path: Path) -> None:
    """Two local workers: the master's endpoint ends with every request the workers sent, by endpoint."""
    import threading

    from loadkit.demo import DemoConfig
    from tests.helpers import run_cli, write_scenario
    from tests.promserver import free_port

    shop = demo_factory(DemoConfig())
    port = free_port()
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "export-workers", "traffic": {"profile": "constant", "rate": "20/s", "duration": "6s"},
        "journeys": [{"name": "look", "steps": [{"get": "/"}, {"get": "/products/kitchen-01"}]}]})
    last: dict[str, Any] = {}
    done = threading.Event()

    def scrape() -> None:
        while not done.is_set():
            try:
                last["seen"] = _scrape(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                pass
            done.wait(0.5)

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    out = tmp_path / "run"
    try:
        result = run_cli("run", str(scenario), "--target", shop.url, "--workers", "2", "--out", str(out), "--quiet",
                         "--prometheus", f"127.0.0.1:{port}", "--prometheus-linger", "2s")
    finally:
        done.set()
        scraper.join(timeout=5)
    # the verdict is not this test's business (a busy machine may make it inconclusive); the figures are
    assert result.returncode in (0, 1, 3), result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    seen = last["seen"]
    for endpoint in summary["endpoints"]:
        key = ("loadkit_requests_total", (("endpoint", endpoint["name"]), ("method", endpoint["method"])))
        assert seen[key] == endpoint["requests"] > 0, endpoint
    assert seen[("loadkit_arrivals_started_total", ())] == summary["traffic"]["delivered_arrivals"] == 120
    assert seen[("loadkit_arrivals_planned_total", ())] == pytest.approx(120)
