"""Faults, hostile targets and secrets: real runs against a misbehaving server on 127.0.0.1.

The server (tests/faultserver.py) scripts one fault per path; every run is a few seconds long and ends
on its own, whatever the target does.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .helpers import ROOT, read_summary, rehearsal_requests, run_cli, write_scenario

pytestmark = pytest.mark.integration


@contextmanager
def fault_server(*args: str) -> Iterator[str]:
    """Start tests/faultserver.py with ``args``; yields its URL."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "faultserver.py"), *args],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("listening "), line
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]


def _count(url: str) -> int:
    import httpx

    return int(httpx.get(f"{url}/__count", timeout=5, verify=False).json()["requests"])


def _journey(name: str, *steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "weight": 1, "steps": list(steps)}


def test_faults_are_classified_and_the_run_ends_on_schedule(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "faults.yaml", {
        "name": "faults", "request_timeout": "1s",
        "traffic": {"profile": "constant", "rate": "10/s", "duration": "5s"},
        "journeys": [
            _journey("ok", {"get": "/ok"}),
            _journey("hang", {"get": "/hang"}),
            _journey("reset", {"get": "/reset"}),
            _journey("slow", {"get": "/slow-body"}),
            _journey("flood", {"get": "/flood/{n}", "name": "GET /flood/{n}"}),
        ],
        "data": {"n": {"range": [1, 100000], "order": "sequential"}},
    })
    with fault_server() as url:
        before = _count(url)
        started = time.monotonic()
        result = run_cli("run", str(scenario), "--target", url, "--out", str(tmp_path / "run"), timeout=60)
        elapsed = time.monotonic() - started
        served = _count(url) - before
    assert result.returncode == 1, result.stderr  # the site fails: half its pages break
    assert "Traceback" not in result.stderr
    # plan + request timeout + start-up and reports, + the rehearsal (each journey once at rest: the hang's 1 s
    # timeout, the slow body's 0.6 s): finite timeouts
    assert elapsed < 5 + 1 + 12 + 2, elapsed
    summary = read_summary(tmp_path / "run")
    kinds = {(e["endpoint"], e["kind"]) for e in summary["errors"]}
    assert ("GET /hang", "timeout") in kinds
    assert any(ep == "GET /reset" and kind in ("connection_reset", "connection_error") for ep, kind in kinds), kinds
    assert ("GET /flood/{n}", "http_500") in kinds
    classes = {e["class"] for e in summary["errors"]}
    assert classes == {"collapse"}
    endpoints = {e["name"]: e for e in summary["endpoints"]}
    assert endpoints["GET /ok"]["failures"] == 0
    assert endpoints["GET /slow-body"]["failures"] == 0 and endpoints["GET /slow-body"]["p50_ms"] >= 500
    # unique URLs are one templated endpoint; error samples stay capped
    assert endpoints["GET /flood/{n}"]["requests"] == 10
    samples = (tmp_path / "run" / "errors.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(samples) <= 5 * 4
    # every request loadkit counted reached the server once (the preflight's one request and the rehearsal's
    # visits, one per journey at rest, are not load)
    assert summary["totals"]["requests"] == served - 1 - rehearsal_requests(tmp_path / "run")
    # hostile bodies stay inert: no script in the report, valid JUnit XML, plain Markdown
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert html.lower().count("<script") == 3  # the report's own three: data, uPlot, its script
    assert "</script><script>alert" not in html and "<img" not in html.lower()
    assert "&lt;/script&gt;&lt;script&gt;" in html  # shown as text
    ET.parse(tmp_path / "run" / "junit.xml")
    markdown = (tmp_path / "run" / "summary.md").read_text(encoding="utf-8")
    assert "<script" not in markdown and "<img" not in markdown


@pytest.mark.timing
def test_the_target_dying_mid_run_is_shown_with_its_time(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "dies.yaml", {
        "name": "dies", "request_timeout": "1s",
        "traffic": {"profile": "constant", "rate": "20/s", "duration": "8s"},
        "journeys": [_journey("ok", {"get": "/ok"})]})
    with fault_server("--die-after", "3") as url:
        result = run_cli("run", str(scenario), "--target", url, "--out", str(tmp_path / "run"), timeout=60)
    assert result.returncode == 1, result.stderr
    summary = read_summary(tmp_path / "run")
    refused = [e for e in summary["errors"] if e["kind"] in ("connection_refused", "connection_error",
                                                             "connection_reset")]
    assert refused and min(e["first_s"] for e in refused) in (2, 3, 4), summary["errors"]
    # what broke first names the endpoint (its own row, or as the worst under an all-requests SLO), and its
    # errors began in the second the errors table gives for its first failure
    first = summary["broke_first"][0]
    assert "GET /ok" in (first["endpoint"], first["worst_endpoint"]), summary["broke_first"]
    began = next(r for r in summary["broke_first"] if r["signal"] == "errors began")
    assert began["endpoint"] == "GET /ok"
    assert began["errors_began_s"] == min(e["first_s"] for e in summary["errors"] if e["endpoint"] == "GET /ok")
    assert summary["verdict"] == "fails"
    assert summary["totals"]["requests"] >= 150  # measuring went on after the target died


@pytest.mark.parametrize("connections", ["new", "shared"])
def test_a_dropped_request_is_one_request_on_the_server_and_one_failure(tmp_path: Path, connections: str) -> None:
    # /drop reads the request, then resets the connection before a byte of the answer: the case an HTTP
    # client is tempted to retry. loadkit never retries, so the site sees each request once.
    scenario = write_scenario(tmp_path / "drop.yaml", {
        "name": "drop", "request_timeout": "2s", "connections": connections,
        "traffic": {"profile": "constant", "rate": "50/s", "duration": "2s"},
        "journeys": [_journey("drop", {"get": "/drop"})]})
    with fault_server() as url:
        before = _count(url)
        result = run_cli("run", str(scenario), "--target", url, "--out", str(tmp_path / "run"), timeout=60)
        served = _count(url) - before
    assert result.returncode == 1, result.stderr
    summary = read_summary(tmp_path / "run")
    assert summary["totals"]["requests"] == 100 and summary["totals"]["failures"] == 100, summary["totals"]
    # neither the preflight's one request nor the rehearsal's visit at rest is load
    assert served - 1 - rehearsal_requests(tmp_path / "run") == 100
    assert [(e["endpoint"], e["kind"], e["count"]) for e in summary["errors"]] == \
        [("GET /drop", "connection_reset", 100)]


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    return cert, key


def test_a_bad_certificate_fails_unless_verification_is_explicitly_off(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    document = {"name": "tls", "request_timeout": "2s",
                "traffic": {"profile": "constant", "rate": "5/s", "duration": "2s"},
                "journeys": [_journey("ok", {"get": "/ok"})]}
    with fault_server("--tls", str(cert), str(key)) as url:
        strict = run_cli("run", str(write_scenario(tmp_path / "strict.yaml", document)), "--target", url, "--out",
                         str(tmp_path / "strict"), timeout=60)
        assert strict.returncode == 3
        errors = [ln for ln in strict.stderr.splitlines() if ln.startswith("loadkit: error:")]
        assert len(errors) == 1 and "certificate" in errors[0] and "verify_tls: false" in errors[0]
        assert not (tmp_path / "strict" / "metrics.jsonl").exists()
        relaxed = run_cli("run", str(write_scenario(tmp_path / "relaxed.yaml", {**document, "verify_tls": False})),
                          "--target", url, "--out", str(tmp_path / "relaxed"), timeout=60)
    assert relaxed.returncode == 0, relaxed.stderr
    summary = read_summary(tmp_path / "relaxed")
    assert summary["totals"]["failures"] == 0 and summary["totals"]["requests"] == 10
    assert summary["run"]["verify_tls"] is False
    assert any("TLS certificates were not checked" in n for n in summary["run"]["notes"])
    assert "NOT checked" in (tmp_path / "relaxed" / "report.html").read_text(encoding="utf-8")


def test_redirects_to_another_host_are_recorded_not_followed(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "redirects.yaml", {
        "name": "redirects", "traffic": {"profile": "constant", "rate": "5/s", "duration": "2s"},
        "journeys": [_journey("away", {"get": "/redirect-away", "follow_redirects": True}),
                     _journey("here", {"get": "/redirect-here", "follow_redirects": True,
                                       "expect": {"contains": "ok"}})]})
    with fault_server() as url:
        before = _count(url)
        result = run_cli("run", str(scenario), "--target", url, "--out", str(tmp_path / "run"), timeout=60)
        served = _count(url) - before
    assert result.returncode == 0, result.stderr
    summary = read_summary(tmp_path / "run")
    assert summary["totals"]["failures"] == 0  # no lookup of elsewhere.invalid was ever tried
    offsite = summary["offsite_redirects"]
    assert offsite == [{"endpoint": "GET /redirect-away", "count": 5, "example": "http://elsewhere.invalid/landing"}]
    here = next(e for e in summary["endpoints"] if e["name"] == "GET /redirect-here")
    assert here["requests"] == 10  # the redirect and the page it leads to, both on the target
    assert summary["totals"]["requests"] == served - 1 - rehearsal_requests(tmp_path / "run")
    assert "Redirects to other hosts" in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")


def test_secrets_never_reach_any_artifact(tmp_path: Path) -> None:
    token, password, query_secret = "tok-9f8e7d6c5b4a", "pw-s3cr3t-771", "qs-1234567890"
    scenario = write_scenario(tmp_path / "secrets.yaml", {
        "name": "secrets", "headers": {"Authorization": "Bearer ${API_TOKEN}"},
        "traffic": {"profile": "constant", "rate": "5/s", "duration": "2s"},
        "journeys": [_journey("leaky", {"get": f"/ok?token={query_secret}"},
                              {"get": f"/flood/1?token={query_secret}&page=2"})]})
    with fault_server() as url:
        target = url.replace("http://", f"http://shop:{password}@")
        result = run_cli("run", str(scenario), "--target", target, "--out", str(tmp_path / "run"),
                         env={"API_TOKEN": token}, timeout=60)
    assert result.returncode == 1, result.stderr  # the flood page fails: its URL lands in the error samples
    run_dir = tmp_path / "run"
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"report.html", "summary.json", "junit.xml", "summary.md", "errors.jsonl", "run.log", "scenario.yaml",
            "config.json", "run.json", "metrics.jsonl"} <= {p.name for p in files}
    assert (run_dir / "errors.jsonl").read_text(encoding="utf-8").strip()  # there is a sample to leak from
    for secret in (token, password, query_secret, "COOKIESECRET"):
        for path in files:
            assert secret not in path.read_text(encoding="utf-8", errors="replace"), (secret, path.name)
        assert secret not in result.stdout + result.stderr, secret


def test_max_rate_caps_delivered_arrivals(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "capped.yaml", {
        "name": "capped", "traffic": {"profile": "constant", "rate": "40/s", "duration": "4s"},
        "journeys": [_journey("ok", {"get": "/ok"})], "safety": {"max_rate": "10/s"}})
    with fault_server() as url:
        before = _count(url)
        result = run_cli("run", str(scenario), "--target", url, "--out", str(tmp_path / "run"), timeout=60)
        served = _count(url) - before - 1 - rehearsal_requests(tmp_path / "run")
    summary = read_summary(tmp_path / "run")
    traffic = summary["traffic"]
    assert traffic["delivered_arrivals"] == served
    assert 36 <= served <= 44, served  # 10/s for 4 s, not 40/s
    assert traffic["dropped_arrivals"] == traffic["planned_arrivals"] - served
    assert summary["verdict"] == "inconclusive"  # the plan was not delivered: never "survives"
    assert result.returncode == 3


def test_a_host_that_does_not_resolve_is_one_line_before_any_load(tmp_path: Path) -> None:
    result = run_cli("run", "smoke", "--target", "http://no-such-shop.invalid", "--out", str(tmp_path / "run"),
                     timeout=60)
    assert result.returncode == 3
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("loadkit: error:")]
    assert len(errors) == 1 and "does not resolve" in errors[0] and "Fix:" in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # a refused run leaves no empty run directory


def test_every_listening_socket_binds_loopback(tmp_path: Path, demo_factory: Any) -> None:
    site = demo_factory()
    assert site.url.startswith("http://127.0.0.1:")
    ss = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True)
    if ss.returncode != 0:
        pytest.skip("ss is not available to list listening sockets")
    port = site.url.rsplit(":", 1)[1]
    lines = [ln for ln in ss.stdout.splitlines() if re.search(rf":{port}\b", ln)]
    assert lines and all("127.0.0.1:" in ln for ln in lines), lines


def test_error_samples_json_is_bounded_for_a_flood_of_unique_failures(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "flood.yaml", {
        "name": "flood", "traffic": {"profile": "constant", "rate": "100/s", "duration": "3s"},
        "journeys": [_journey("flood", {"get": "/flood/{n}?x={n}"})],
        "data": {"n": {"range": [1, 1000000], "order": "sequential"}}})
    with fault_server() as url:
        run_cli("run", str(scenario), "--target", url, "--out", str(tmp_path / "run"), timeout=60)
    rows = [json.loads(ln) for ln in (tmp_path / "run" / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    assert 1 <= len(rows) <= 5
    summary = read_summary(tmp_path / "run")
    assert summary["totals"]["failures"] == 300
    assert len(summary["endpoints"]) == 1


@contextmanager
def small_filesystem(tmp_path: Path, options: str) -> Iterator[Path]:
    """A tiny tmpfs mounted for the test (needs root; skipped where mounting is not allowed)."""
    point = tmp_path / "fs"
    point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], capture_output=True)


@pytest.mark.parametrize("state", ["read-only", "full"])
def test_an_unwritable_output_folder_is_one_line_before_any_load(tmp_path: Path, state: str) -> None:
    options = "size=64k,ro" if state == "read-only" else "size=64k"
    with small_filesystem(tmp_path, options) as fs:
        if state == "full":
            (fs / "run").mkdir()
            handle = (fs / "filler").open("wb", buffering=0)  # fill every block
            try:
                while True:
                    handle.write(b"x" * 4096)
            except OSError:
                pass
            finally:
                handle.close()
        result = run_cli("run", "smoke", "--target", "http://127.0.0.1:9", "--out", str(fs / "run"), timeout=60)
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("loadkit: error:")]
    assert len(errors) == 1, result.stderr
    if state == "read-only":
        assert result.returncode == 2, result.stderr
        assert "cannot write the run directory" in errors[0] and "Read-only file system" in errors[0]
    else:  # out of disk has its own exit code, found before any load (docs/ci.md)
        assert result.returncode == 4, result.stderr
        assert "free on the disk" in errors[0] and "No load was sent" in errors[0]
    assert "Traceback" not in result.stderr


def test_the_client_speaks_http_as_a_browser_would(tmp_path: Path) -> None:
    """Compressed bodies are checked decoded; a cookie the site set goes back; credentials in the target
    URL become HTTP Basic; a JSON body says so in its headers."""
    contains = {"expect": {"contains": "compressed hello compressed hello"}}
    scenario = write_scenario(tmp_path / "protocol.yaml", {
        "name": "protocol",
        "traffic": {"profile": "constant", "rate": "4/s", "duration": "2s"},
        "journeys": [_journey(
            "browse",
            {"get": "/encoded/gzip", **contains}, {"get": "/encoded/deflate", **contains},
            {"get": "/encoded/br", **contains},
            {"get": "/ok"},
            {"post": "/echo", "json": {"item": "{n}"}, "expect": {"json": {
                "method": "POST", "headers.cookie": "sid=COOKIESECRET-4711",
                "headers.authorization": "Basic c2hvcDpzM2NyZXQtcGFzcw==",
                "headers.content-type": "application/json", "headers.accept-encoding": "gzip, deflate, br",
                "body": '{"item": "7"}'}}})],
        "data": {"n": {"values": ["7"]}}})
    with fault_server() as url:
        target = url.replace("http://", "http://shop:s3cret-pass@")
        result = run_cli("run", str(scenario), "--target", target, "--out", str(tmp_path / "run"), timeout=60)
        served = _count(url)
    assert result.returncode == 0, result.stderr + json.dumps(read_summary(tmp_path / "run")["errors"])
    summary = read_summary(tmp_path / "run")
    assert summary["totals"]["failures"] == 0
    assert summary["totals"]["requests"] == 8 * 5 == served - 1 - rehearsal_requests(tmp_path / "run")
    assert "s3cret-pass" not in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
