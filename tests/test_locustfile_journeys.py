"""A locustfile's tasks as journeys: each execution of a User class's task is a visit of ``Class.task``,
completed, failed at the request that failed (or where the task raised), or cut short by the run's end;
journey SLOs and ``business: {orders: ...}`` name them like a scenario's journeys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import read_summary, run_cli, write_scenario
from tests.test_faults import fault_server

pytestmark = pytest.mark.integration

LOCUSTFILE = '''
import time
from locust import HttpUser, SequentialTaskSet, constant, task


class Checkout(SequentialTaskSet):
    @task
    def product(self):
        self.client.get("/ok", name="product")

    @task
    def pay(self):
        self.client.get("/flood/pay", name="pay")  # 500: the purchase is lost

    @task
    def receipt(self):
        self.client.get("/ok", name="receipt")  # Locust goes on after a failed request; the visit has failed
        self.interrupt()  # the closed model: a pass ends here, and the user picks its next task


class Buyer(HttpUser):
    weight = 1
    wait_time = constant(0.05)
    tasks = [Checkout]


class Shopper(HttpUser):
    weight = 3
    wait_time = constant(0.05)

    @task
    def look(self):
        self.client.get("/ok", name="home")
        self.client.get("/ok", name="product")

    @task
    def oops(self):
        self.client.get("/ok", name="home")
        raise ValueError("a bug in the locustfile")

    @task
    def linger(self):
        self.client.get("/ok", name="home")
        time.sleep(60)  # still inside when the run ends
'''
NAMES = {"Buyer.Checkout", "Shopper.look", "Shopper.oops", "Shopper.linger"}


def _scenario(tmp_path: Path, traffic: dict[str, Any], **extra: Any) -> Path:
    (tmp_path / "shop_locustfile.py").write_text(LOCUSTFILE, encoding="utf-8")
    return write_scenario(tmp_path / "s.yaml", {
        "name": "locustfile-journeys", "locustfile": "shop_locustfile.py", "request_timeout": "1s",
        "traffic": traffic, **extra})


def _journeys(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {j["name"]: j for j in summary["journeys"]}


def _kind_of(out: Path, endpoint: str) -> str:
    """The failure kind the errors table counts for ``endpoint`` (metrics.jsonl)."""
    kinds = {kind for line in (out / "metrics.jsonl").read_text().splitlines() if line
             for row in [json.loads(line)] if row["endpoint"] == endpoint for kind in row["failures"]}
    assert len(kinds) == 1, kinds
    return kinds.pop()


def test_open_model_records_each_visit_as_the_journey_of_the_task_it_chose(tmp_path: Path) -> None:
    with fault_server() as url:
        scenario = _scenario(
            tmp_path, {"profile": "constant", "rate": "10/s", "duration": "3s"},
            slos=[{"journey": "Buyer.Checkout", "metric": "success_rate", "above": "99%"},
                  {"journey": "Shopper.look", "metric": "success_rate", "above": "99%"}],
            business={"orders": "Buyer.Checkout", "order_value": "10 EUR"})
        out = tmp_path / "run"
        result = run_cli("run", str(scenario), "--target", url, "--out", str(out), "--skip-rehearsal")
    assert result.returncode == 1, result.stdout + result.stderr
    summary = read_summary(out)
    journeys = _journeys(summary)
    assert set(journeys) == NAMES
    # one visit per arrival, each counted once, under the task it chose
    assert sum(j["started"] for j in journeys.values()) == summary["traffic"]["delivered_arrivals"] == 30
    look, oops, linger, checkout = (journeys[n] for n in ("Shopper.look", "Shopper.oops", "Shopper.linger",
                                                          "Buyer.Checkout"))
    assert look["completed"] == look["started"] > 0 and look["p50_ms"] is not None
    # the set's second request failed: every purchase failed there, though the set went on to its receipt
    assert checkout["failed"] == checkout["started"] > 0 and checkout["completed"] == 0
    assert checkout["failed_at"] == [{"step": 2, "endpoint": "pay", "kind": _kind_of(out, "pay"),
                                      "count": checkout["failed"]}]
    assert _kind_of(out, "pay") == "http_500"  # as a scenario's step would count it, not requests' HTTPError
    # the task raised after its first request: failed at the step after it, named after the code that raised
    assert oops["failed"] == oops["started"] > 0
    assert oops["failed_at"] == [{"step": 2, "endpoint": "Shopper.oops", "kind": "locustfile_exception",
                                  "count": oops["failed"]}]
    # still sleeping when the run ended: cut short, as the run counted them
    assert linger["cut_short"] == linger["started"] > 0 and linger["failed"] == linger["completed"] == 0
    assert summary["traffic"]["cut_short"] == linger["cut_short"]
    # journey SLOs and the orders name the tasks
    rows = {name: [s["passed"] for s in summary["slos"] if s.get("journey") == name] for name in NAMES}
    assert rows["Buyer.Checkout"] == [False] and rows["Shopper.look"] == [True]
    assert summary["verdict"] == "fails"
    moment = summary["business"]["moment"]
    assert moment["attempted"] == checkout["started"] and moment["lost"] == checkout["failed"]
    assert moment["value_at_risk"] == pytest.approx(10 * checkout["failed"])


def test_closed_model_records_each_execution_of_a_task(tmp_path: Path) -> None:
    with fault_server() as url:
        scenario = _scenario(tmp_path, {"model": "users", "profile": "constant", "rate": 4, "duration": "3s"})
        out = tmp_path / "run"
        result = run_cli("run", str(scenario), "--target", url, "--out", str(out), "--skip-rehearsal")
    assert result.returncode in (0, 1), result.stdout + result.stderr
    summary = read_summary(out)
    journeys = _journeys(summary)
    assert set(journeys) <= NAMES and sum(j["started"] for j in journeys.values()) > 4
    for name, j in journeys.items():
        assert j["started"] == j["completed"] + j["failed"] + j["cut_short"]
        if name == "Shopper.look":
            assert j["failed"] == 0
        elif name == "Shopper.oops":
            assert j["completed"] == 0 and {f["kind"] for f in j["failed_at"]} <= {"locustfile_exception"}
        elif name == "Buyer.Checkout":  # each pass (ended by self.interrupt()) is a visit, failed at pay
            assert j["completed"] == 0 and [f["endpoint"] for f in j["failed_at"]] in ([], ["pay"])
        else:
            assert j["completed"] == j["failed"] == 0
    # the users stopped inside a task are the run's cut-short visitors (a pass that had already failed at
    # pay stays failed); those asleep in linger, by class and task as the run counted them
    assert summary["traffic"]["cut_short"] >= sum(j["cut_short"] for j in journeys.values())
    lingering = sum(r["visitors"] for r in summary["traffic"]["cut_short_at"]
                    if (r["journey"], r["step"]) == ("Shopper", "linger"))
    assert lingering == journeys.get("Shopper.linger", {}).get("cut_short", 0)


def test_a_journey_the_locustfile_does_not_have_is_one_line(tmp_path: Path) -> None:
    with fault_server() as url:
        scenario = _scenario(tmp_path, {"profile": "constant", "rate": "1/s", "duration": "1s"},
                             business={"orders": "Buyer.checkout"})
        result = run_cli("run", str(scenario), "--target", url, "--out", str(tmp_path / "run"), "--skip-rehearsal")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "business.orders: 'Buyer.checkout' is not a task of the locustfile's User classes (its journeys: " \
           "Buyer.Checkout, Shopper.look, Shopper.oops, Shopper.linger)" in result.stderr


FAULTS_LOCUSTFILE = '''
from locust import FastHttpUser, HttpUser, constant, task

REFUSED = "http://127.0.0.1:{refused}/"  # nothing listens there


class Requests(HttpUser):
    wait_time = constant(0.05)

    @task
    def faults(self):
        self.client.get("/hang", name="requests hang", timeout=0.5)
        self.client.get("/drop", name="requests drop")
        self.client.get("/status/503", name="requests 503")
        self.client.get(REFUSED, name="requests refused")
        self.client.get("/nothing-here", name="requests 404")
        with self.client.get("/ok", name="requests check", catch_response=True) as response:
            response.failure("the page lacks its price")
        with self.client.get("/status/500", name="requests checked 500", catch_response=True) as response:
            response.failure("not the page")


class Fast(FastHttpUser):
    wait_time = constant(0.05)
    network_timeout = 0.5

    @task
    def faults(self):
        self.client.get("/hang", name="fast hang")
        self.client.get("/drop", name="fast drop")
        self.client.get("/status/503", name="fast 503")
        self.client.get(REFUSED, name="fast refused")
        self.client.get("/nothing-here", name="fast 404")
        with self.client.get("/ok", name="fast check", catch_response=True) as response:
            response.failure("the page lacks its price")
        with self.client.get("/status/500", name="fast checked 500", catch_response=True) as response:
            response.failure("not the page")
'''


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:  # a port the system just gave out and took back: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_locustfiles_failures_get_the_kinds_a_scenarios_would(tmp_path: Path) -> None:
    """HttpUser (requests) and FastHttpUser (geventhttpclient) report Locust's exceptions (HTTPError,
    LocustBadStatusCode, ReadTimeout, ...); each is counted under the kind a scenario's request gets in the
    same case, so the error classes, journeys and what to scale read alike."""
    (tmp_path / "faults.py").write_text(FAULTS_LOCUSTFILE.replace("{refused}", str(_closed_port())),
                                        encoding="utf-8")
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "locustfile-faults", "locustfile": "faults.py", "request_timeout": "1s",
        "traffic": {"model": "users", "profile": "constant", "rate": 2, "duration": "2s"}})
    out = tmp_path / "run"
    with fault_server() as url:
        result = run_cli("run", str(scenario), "--target", url, "--out", str(out), "--skip-rehearsal")
    assert result.returncode == 1, result.stdout + result.stderr
    summary = read_summary(out)
    kinds = {(e["endpoint"], e["kind"]) for e in summary["errors"]}
    for client in ("requests", "fast"):  # one user of each class
        assert {(endpoint, kind) for endpoint, kind in kinds if endpoint.startswith(client + " ")} == {
            (f"{client} hang", "timeout"), (f"{client} drop", "connection_reset"), (f"{client} 503", "http_503"),
            (f"{client} refused", "connection_refused"), (f"{client} check", "check_failed"),
            (f"{client} checked 500", "http_500")}, kinds
    # a 404 to the locustfile's own request is the scenario's error, as for a scenario's step
    assert {(s["endpoint"], s["kind"]) for s in summary["scenario_errors"]["by_step"]} == {
        ("requests 404", "http_404"), ("fast 404", "http_404")}
    # the error samples carry the status the answer had
    samples = [json.loads(line) for line in (out / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {s["status"] for s in samples if s["kind"] in ("http_500", "http_503")} == {500, 503}
    # each pass failed at its first request, the hang
    journeys = _journeys(summary)
    assert {f["kind"] for j in journeys.values() for f in j["failed_at"]} == {"timeout"}
