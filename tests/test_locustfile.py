"""A scenario that brings its own locustfile: its users walk, loadkit shapes, measures and judges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadkit.demo import DemoConfig
from tests.helpers import read_summary, rehearsal_requests, run_cli, write_scenario

pytestmark = pytest.mark.integration

LOCUSTFILE = '''
from locust import FastHttpUser, HttpUser, LoadTestShape, SequentialTaskSet, task


class Shopper(FastHttpUser):
    weight = 3

    @task
    def look(self):
        self.client.get("/", name="home")
        self.client.get("/products/garden-02", name="product page")


class Checkout(SequentialTaskSet):
    @task
    def product(self):
        self.client.get("/products/kitchen-03", name="product page")

    @task
    def cart(self):
        self.client.get("/cart", name="cart")


class Buyer(HttpUser):
    weight = 1
    tasks = [Checkout]


class Ramp(LoadTestShape):  # loadkit's traffic wins; the run says so
    def tick(self):
        return (100, 100)
'''


def _scenario(tmp_path: Path, traffic: dict[str, Any]) -> Path:
    (tmp_path / "shop_locustfile.py").write_text(LOCUSTFILE, encoding="utf-8")
    return write_scenario(tmp_path / "s.yaml", {
        "name": "own-locustfile", "locustfile": "shop_locustfile.py", "traffic": traffic,
        "slos": [{"endpoint": "product page", "metric": "p95", "below": "500ms"}]})


@pytest.fixture
def shop(demo_factory: Any) -> Any:
    service = {page: 0.0 for page in DemoConfig().service_ms}
    service["product"] = 5.0
    return demo_factory(DemoConfig(slots=8, service_ms=service))


def test_open_model_runs_one_pass_per_arrival(tmp_path: Path, shop: Any) -> None:
    before = shop.stats()["served"]
    out = tmp_path / "run"
    scenario = _scenario(tmp_path, {"profile": "constant", "rate": "10/s", "duration": "6s"})
    assert run_cli("validate", str(scenario), timeout=60).returncode == 0
    result = run_cli("run", str(scenario), "--target", shop.url, "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_summary(out)
    assert summary["traffic"]["delivered_arrivals"] == 60
    names = {e["name"] for e in summary["endpoints"]}
    assert names == {"home", "product page", "cart"}
    # each visit is two requests, whichever user class walked it
    # plus the preflight and the rehearsal (each task of each class once, at rest: look's two requests,
    # Checkout's product and cart)
    assert summary["totals"]["requests"] == 120 == shop.stats()["served"] - before - 1 - rehearsal_requests(out)
    assert rehearsal_requests(out) == 4
    assert summary["slos"][0]["endpoint"] == "product page" and summary["slos"][0]["passed"]
    assert "the locustfile's Ramp (a LoadTestShape) is not used" in result.stderr
    assert result.stderr.count("(a LoadTestShape) is not used") == 1  # said once, not by the log as well


def test_closed_model_runs_the_classes_as_they_are(tmp_path: Path, shop: Any) -> None:
    out = tmp_path / "run"
    scenario = _scenario(tmp_path, {"model": "users", "profile": "constant", "rate": 3, "duration": "4s"})
    result = run_cli("run", str(scenario), "--target", shop.url, "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_summary(out)
    assert summary["traffic"]["peak_delivered_per_s"] == 3
    assert "3 looping users over 4.0 s (closed model)" in result.stderr  # the banner speaks of users
    assert summary["totals"]["requests"] > 20


THINKING_LOCUSTFILE = '''
import json, os, time
from locust import HttpUser, SequentialTaskSet, TaskSet, constant, task


def product(walk):
    walk.user.times.append(time.monotonic())
    walk.client.get("/products/kitchen-03", name="product page")


def cart(walk):
    walk.user.times.append(time.monotonic())
    walk.client.get("/cart", name="cart")


class Reviews(TaskSet):
    @task
    def read(self):
        self.client.get("/products/garden-02", name="reviews")


class Walk(SequentialTaskSet):
    wait_time = constant(0.4)
    tasks = [product, Reviews, cart]


class Thinker(HttpUser):
    tasks = [Walk]

    def on_start(self):
        self.times = []

    def on_stop(self):
        with open(os.environ["VISIT_LOG"], "a") as log:
            log.write(json.dumps(self.times) + "\\n")
'''


def test_open_model_walks_a_sequence_with_its_think_time_and_nested_sets_once(tmp_path: Path, shop: Any) -> None:
    (tmp_path / "thinking.py").write_text(THINKING_LOCUSTFILE, encoding="utf-8")
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "thinking", "locustfile": "thinking.py",
        "traffic": {"profile": "constant", "rate": "5/s", "duration": "3s"}})
    before = shop.stats()["served"]
    out, log = tmp_path / "run", tmp_path / "visits.jsonl"
    result = run_cli("run", str(scenario), "--target", shop.url, "--out", str(out), env={"VISIT_LOG": str(log)})
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_summary(out)
    # every visit: product page, one pass of the nested set (one request), cart; then it leaves
    assert summary["traffic"]["delivered_arrivals"] == 15
    assert summary["totals"]["requests"] == 45 == shop.stats()["served"] - before - 1 - rehearsal_requests(out)
    assert {e["name"] for e in summary["endpoints"]} == {"product page", "reviews", "cart"}
    rehearsal, *visits = [json.loads(line) for line in log.read_text().splitlines()]
    # the rehearsal walked each task once before the load, without the set's waits
    assert rehearsal_requests(out) == 3 and len(rehearsal) == 2 and rehearsal[1] - rehearsal[0] < 0.78
    assert len(visits) == 15
    # two waits of the set's wait_time (0.4 s) between the first step and the last
    assert all(len(times) == 2 and times[1] - times[0] >= 0.78 for times in visits)


def test_a_broken_locustfile_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("from locust import HttpUser\nclass A(HttpUser:\n", encoding="utf-8")
    scenario = write_scenario(tmp_path / "s.yaml", {"name": "bad", "locustfile": "bad.py",
                                                     "traffic": {"peak": "1/s"}})
    result = run_cli("validate", str(scenario), timeout=60)
    assert result.returncode == 2
    assert "bad.py: line 2" in result.stderr and len(result.stderr.strip().splitlines()) == 1


OVERLOAD_LOCUSTFILE = '''
from locust import FastHttpUser, HttpUser, task


class Requests(HttpUser):
    @task
    def look(self):
        self.client.get("/products/kitchen-03", name="product page")


class Fast(FastHttpUser):
    @task
    def look(self):
        self.client.get("/products/garden-02", name="product page")
'''


def test_an_overloaded_site_reads_as_for_a_scenario(tmp_path: Path, demo_factory: Any) -> None:
    """One slot of 100 ms serves 10 product pages/s; 24 visitors/s, each one page, overload it and it sheds
    (503 with Retry-After). Whichever Locust client asked (HttpUser, FastHttpUser), the errors are of the kind
    a scenario's would be (not the exception's class name), and what to scale names the page, with the
    requests per visitor the run measured."""
    service = {page: 0.0 for page in DemoConfig().service_ms}
    service["product"] = 100.0
    shop = demo_factory(DemoConfig(slots=1, service_ms=service, queue_timeout_ms=200.0))
    (tmp_path / "overload.py").write_text(OVERLOAD_LOCUSTFILE, encoding="utf-8")
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "overload", "locustfile": "overload.py",
        "traffic": {"profile": "constant", "rate": "24/s", "duration": "3s"},
        "slos": [{"metric": "error_rate", "below": "1%"}]})
    out = tmp_path / "run"
    result = run_cli("run", str(scenario), "--target", shop.url, "--out", str(out), "--quiet")
    assert result.returncode == 1, result.stdout + result.stderr
    summary = read_summary(out)
    assert summary["verdict"] == "fails"
    assert {(e["endpoint"], e["kind"], e["class"]) for e in summary["errors"]} == \
        {("product page", "http_503_retry_after", "shedding")}
    assert any("were turned away politely" in r for r in summary["reasons"])
    # each client's visits failed with that kind too
    assert {j["name"]: {f["kind"] for f in j["failed_at"]} for j in summary["journeys"]} == \
        {"Requests.look": {"http_503_retry_after"}, "Fast.look": {"http_503_retry_after"}}
    # what to scale: the page's requests per visitor as measured (one), x the planned 24/s x 1.5 headroom;
    # it served no more than the shop's 10 pages/s
    assert [row["endpoint"] for row in summary["scale"]] == ["product page"]
    row = summary["scale"][0]
    assert summary["endpoints"][0]["requests"] == summary["traffic"]["delivered_arrivals"]
    assert row["needed_per_s"] == pytest.approx(24 * 1.5)
    assert 0 < row["measured_per_s"] <= DemoConfig(slots=1, service_ms=service).capacity_per_s("product") * 1.1
    assert any(r.startswith("What to scale, for the planned peak with 1.5x headroom: product page: ")
               for r in summary["reasons"])


BAD_REQUESTS_LOCUSTFILE = '''
import requests
from locust import FastHttpUser, HttpUser, task


class Requests(HttpUser):
    visits = 0

    @task
    def look(self):
        self.client.get("/products/kitchen-03", name="product page")
        Requests.visits += 1
        mistake = Requests.visits % 4  # one visit in four is clean (the first), the others each build one wrong
        if mistake == 1:  # requests refuses a header value with a line break; Locust reports the failure
            self.client.get("/products/kitchen-03", headers={"X-Note": "a\\nb"}, name="bad header")
        elif mistake == 2:  # a custom client (Locust's documented pattern) reports requests' error: no host
            try:
                requests.get("/products/kitchen-03", timeout=1)
            except requests.RequestException as error:
                self.environment.events.request.fire(request_type="GET", name="custom client", response_time=0,
                                                     response_length=0, exception=error, response=None,
                                                     url="/products/kitchen-03", context={})
        elif mistake == 3:  # a relative URL with no host set: requests raises before anything is sent
            self.client.base_url = ""
            self.client.get("/cart", name="no host")


class Fast(FastHttpUser):
    visits = 0

    @task
    def look(self):
        self.client.get("/products/garden-02", name="product page")
        Fast.visits += 1
        mistake = Fast.visits % 3
        if mistake == 1:  # geventhttpclient looks the empty host up, and reports the failure
            self.client.get("http:///cart", name="empty host")
        elif mistake == 2:  # glued to the port: geventhttpclient raises before anything is sent
            self.client.get("products/garden-02", name="no slash")
'''


RAISED_REQUESTS_LOCUSTFILE = '''
from locust import FastHttpUser, HttpUser, task


class NoHost(HttpUser):
    @task
    def look(self):
        self.client.base_url = ""
        self.client.get("/cart")


class Glued(FastHttpUser):
    @task
    def look(self):
        self.client.get("products/garden-02")
'''


def test_a_request_the_locustfile_built_wrong_is_its_scenario_error_not_the_sites(tmp_path: Path,
                                                                                  shop: Any) -> None:
    """Requests that could not even be built (no host or scheme, a malformed URL or header), whether the client
    reported them (HttpUser's InvalidHeader, a custom client's MissingSchema, FastHttpUser's lookup of an empty
    host) or raised them (HttpUser's MissingSchema, FastHttpUser's unreadable port), sent nothing to the site:
    they are the locustfile's scenario errors (invalid_request), never the site's failures, and the report
    says so in one sentence with the fix."""
    (tmp_path / "bad_requests.py").write_text(BAD_REQUESTS_LOCUSTFILE, encoding="utf-8")
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "bad-requests", "locustfile": "bad_requests.py",
        "traffic": {"profile": "constant", "rate": "6/s", "duration": "3s"},
        "slos": [{"metric": "error_rate", "below": "1%"}]})
    before = shop.stats()["served"]
    out = tmp_path / "run"
    # the rehearsal would stop this run at rest (a test of its own below): skipped, the load shows the kinds
    result = run_cli("run", str(scenario), "--target", shop.url, "--out", str(out), "--skip-rehearsal")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_summary(out)
    assert summary["verdict"] == "survives", summary["reasons"]
    visits = summary["traffic"]["delivered_arrivals"]
    assert visits == 18
    # the site saw the product pages only, and failed none of them
    assert summary["totals"]["failures"] == 0 and summary["errors"] == []
    assert {e["name"] for e in summary["endpoints"]} == {"product page"}
    assert summary["totals"]["requests"] == visits == shop.stats()["served"] - before - 1
    started = {j["name"]: j["started"] for j in summary["journeys"]}
    r, f = started["Requests.look"], started["Fast.look"]
    assert r + f == visits and r >= 4 and f >= 3  # the run's seed chose the classes: each mistake made
    # each visit but every fourth (Requests) or third (Fast) built one request wrong, in turn
    by_step = {(row["endpoint"], row["kind"]): row["count"] for row in summary["scenario_errors"]["by_step"]}
    assert by_step == {("bad header", "invalid_request"): (r + 3) // 4,
                       ("custom client", "invalid_request"): (r + 2) // 4,
                       ("Requests.look", "invalid_request"): (r + 1) // 4,  # raised: named after the task
                       ("empty host", "invalid_request"): (f + 2) // 3,
                       ("Fast.look", "invalid_request"): (f + 1) // 3}, by_step
    assert summary["scenario_errors"]["every_visit"] is False  # the product pages were measured
    # the visits that built a request wrong failed there, of the locustfile's kind
    assert {j["name"]: {(e["endpoint"], e["kind"]) for e in j["failed_at"]} for j in summary["journeys"]} == {
        "Requests.look": {("bad header", "invalid_request"), ("custom client", "invalid_request"),
                          ("Requests.look", "invalid_request")},
        "Fast.look": {("empty host", "invalid_request"), ("Fast.look", "invalid_request")}}
    # the errors are listed as the locustfile's, and one sentence says it is at fault, with the fix
    listed = [r for r in summary["reasons"] if r.startswith("Not counted against the site: ")]
    assert len(listed) == 1 and "bad header sent nothing: the locustfile built the request wrong" in listed[0]
    fault = [r for r in summary["reasons"] if "is at fault" in r]
    assert fault == ["The locustfile, not the site, is at fault for the requests it built wrong (no host or scheme, "
                     "or a malformed URL or header), which sent nothing: correct them in the locustfile, with paths "
                     "that start with / (the host is the target's)."], summary["reasons"]
    reasons = "\n".join(summary["reasons"])
    for name in ("MissingSchema", "InvalidHeader", "InvalidURL", "gaierror", "ValueError", "connection failed",
                 "did not resolve", "breakdown"):
        assert name not in reasons
    html = (out / "report.html").read_text()
    assert "sent nothing: the locustfile built the request wrong" in html and fault[0].replace("'", "&#39;") in html
    assert f"  {fault[0]}" in result.stdout and "  - bad header: sent nothing: the locustfile built" in result.stdout


def test_the_rehearsal_stops_a_locustfile_that_builds_its_requests_wrong(tmp_path: Path, shop: Any) -> None:
    (tmp_path / "bad_requests.py").write_text(BAD_REQUESTS_LOCUSTFILE, encoding="utf-8")
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "bad-requests", "locustfile": "bad_requests.py",
        "traffic": {"profile": "constant", "rate": "6/s", "duration": "3s"}})
    out = tmp_path / "run"
    result = run_cli("run", str(scenario), "--target", shop.url, "--out", str(out), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if "locustfile class" in line]
    # each class's first request built wrong: reported (HttpUser's header) or raised (FastHttpUser's port)
    assert any("'Requests', task Requests.look (bad header): the locustfile built a request that could not be "
               "sent" in line for line in lines), result.stderr
    assert any("'Fast', task Fast.look (empty host): the locustfile built a request that could not be sent"
               in line for line in lines), result.stderr
    assert all("correct that request in the locustfile: a path starts with /" in line for line in lines), lines
    # raised by the client: the locustfile's line that made the request is named, not the client's own
    (tmp_path / "raised.py").write_text(RAISED_REQUESTS_LOCUSTFILE, encoding="utf-8")
    raised = write_scenario(tmp_path / "raised.yaml", {
        "name": "raised", "locustfile": "raised.py", "traffic": {"profile": "constant", "rate": "6/s",
                                                                   "duration": "3s"}})
    result = run_cli("run", str(raised), "--target", shop.url, "--out", str(out), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    port = shop.url.rsplit(":", 1)[1]
    lines = [line for line in result.stderr.splitlines() if "locustfile class" in line]
    assert len(lines) == 2, result.stderr
    assert "'NoHost', task NoHost.look: the locustfile built a request that could not be sent (Invalid URL " \
        "'/cart': No scheme supplied." in lines[0] and "(raised.py:9) at rest" in lines[0], lines
    assert "'Glued', task Glued.look: the locustfile built a request that could not be sent (Port could not be " \
        f"cast to integer value as '{port}products') (raised.py:15) at rest" in lines[1], lines
    assert all("correct that request in the locustfile: a path starts with /" in line for line in lines), lines
    assert not out.exists()
    assert "connection failed" not in result.stderr and "did not resolve" not in result.stderr
    assert not out.exists()
