"""The reports leave the machine: --upload (PUT to a URL prefix) and the verdict's short JSON
(stdout's last line, LOADKIT_TERMINATION_LOG). Real HTTP servers on 127.0.0.1 that accept PUT."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from loadkit.publish import (
    TERMINATION_LOG_MAX,
    file_url,
    fit_record,
    shown_url,
    upload_reports,
    verdict_record,
    write_termination_log,
)
from tests.helpers import read_summary, run_cli, write_scenario

SECRET = "X-Amz-Signature=deadbeefc0ffee"


@dataclass
class PutServer:
    """A server on 127.0.0.1 that stores what is PUT to it, or answers from a script of statuses."""

    statuses: list[int] = field(default_factory=list)  # answers to give first, in order; then 201
    received: dict[str, bytes] = field(default_factory=dict)  # path?query -> body
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    attempts: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def put_server() -> Iterator[PutServer]:
    state = PutServer()

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.attempts.append(self.path)
            status = state.statuses.pop(0) if state.statuses else 201
            if 200 <= status < 300:
                state.received[self.path] = body
                state.headers[self.path] = dict(self.headers)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _reports(folder: Path) -> Path:
    folder.mkdir()
    (folder / "report.html").write_text("<html>ok</html>", encoding="utf-8")
    (folder / "summary.json").write_text('{"verdict": "survives"}', encoding="utf-8")
    (folder / "summary.md").write_text("# ok", encoding="utf-8")  # no junit.xml: whichever exist
    return folder


def test_urls_keep_the_query_string_per_file_and_never_show_it() -> None:
    prefix = f"https://user:pa55word@bucket.example.test/runs/42?{SECRET}&X-Amz-Expires=600"
    assert file_url(prefix, "report.html") == \
        f"https://bucket.example.test/runs/42/report.html?{SECRET}&X-Amz-Expires=600"
    assert file_url("http://h/runs/", "summary.json") == "http://h/runs/summary.json"
    assert shown_url(prefix) == "https://bucket.example.test/runs/42"


def test_upload_puts_each_report_with_its_query_string_and_basic_credentials(tmp_path: Path,
                                                                              put_server: PutServer) -> None:
    run_dir = _reports(tmp_path / "run")
    host = put_server.url.replace("http://", "")
    done = upload_reports(run_dir, f"http://ci:s3cret@{host}/runs/7/?{SECRET}")
    assert not done.failed
    assert set(put_server.received) == {f"/runs/7/{name}?{SECRET}" for name in ("report.html", "summary.json",
                                                                                "summary.md")}
    assert put_server.received[f"/runs/7/report.html?{SECRET}"] == b"<html>ok</html>"
    headers = put_server.headers[f"/runs/7/summary.json?{SECRET}"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"ci:s3cret").decode()
    assert done.line() == f"uploaded report.html, summary.json, summary.md to {put_server.url}/runs/7/"


def test_upload_retries_a_busy_server_and_not_a_refusal(tmp_path: Path, put_server: PutServer) -> None:
    run_dir = _reports(tmp_path / "run")
    waits: list[float] = []
    put_server.statuses = [503, 429, 201, 403]  # report.html: 503, 429, then 201; summary.json: 403 (final)
    done = upload_reports(run_dir, f"{put_server.url}/r?{SECRET}", sleep=waits.append)
    assert [(f.name, f.ok, f.attempts) for f in done.files] == [("report.html", True, 3), ("summary.json", False, 1),
                                                                ("summary.md", True, 1)]
    assert waits == [1.0, 2.0]  # backoff before each retry
    line = done.line()
    assert "summary.json: HTTP 403 after 1 try" in line and "verdict stands" in line and SECRET not in line


def test_upload_to_nothing_gives_up_after_a_bounded_number_of_tries(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits: list[float] = []
    done = upload_reports(_reports(tmp_path / "run"), f"http://127.0.0.1:{port}/x?{SECRET}", sleep=waits.append)
    assert [f.attempts for f in done.files] == [4, 4, 4] and len(waits) == 9 and sum(waits) == 3 * 7.0
    assert "connection refused after 4 tries" in done.line() and SECRET not in done.line()


def test_the_termination_record_fits_in_4_kib_and_keeps_the_verdict(tmp_path: Path) -> None:
    summary = {"verdict": "fails", "headline": "FAILS: " + "the checkout broke ü " * 400,
               "capacity": {"found": True, "arrivals_per_s": 26.7, "requests_per_s": 80.1, "headroom": 0.8,
                            "limited_by": "p95 of POST /checkout", "figure": "~26.7/s"}}
    record = verdict_record(summary, 1, tmp_path / "deep" / "run")
    text = fit_record(record)
    assert len(text.encode()) <= TERMINATION_LOG_MAX
    back = json.loads(text)
    assert back["verdict"] == "fails" and back["exit_code"] == 1 and back["headline"].endswith("...")
    assert back["capacity"]["arrivals_per_s"] == 26.7 and back["run_dir"] == str(tmp_path / "deep" / "run")
    assert record["headline"] == summary["headline"]  # the caller's record is not shortened
    short = verdict_record({"verdict": "survives", "headline": "SURVIVES: fine", "capacity": {}}, 0, "r")
    assert fit_record(short) == json.dumps(short, separators=(",", ":"))
    path = tmp_path / "termination-log"
    assert write_termination_log(record, {"LOADKIT_TERMINATION_LOG": str(path)}) is None
    assert len(path.read_bytes()) <= TERMINATION_LOG_MAX
    problem = write_termination_log(record, {"LOADKIT_TERMINATION_LOG": str(tmp_path / "no" / "such" / "f")})
    assert problem is not None and "verdict stands" in problem


def _tiny(tmp_path: Path) -> Path:
    return write_scenario(tmp_path / "tiny.yaml", {
        "name": "tiny", "request_timeout": "5s",
        "traffic": {"profile": "constant", "rate": "5/s", "duration": "2s"},
        "journeys": [{"name": "home", "steps": [{"get": "/"}]}]})


@pytest.mark.integration
def test_a_run_uploads_its_reports_and_prints_its_verdict_as_json(tmp_path: Path, put_server: PutServer,
                                                                  demo_factory: Any) -> None:
    shop = demo_factory()
    out = tmp_path / "run"
    term = tmp_path / "termination-log"
    result = run_cli("run", str(_tiny(tmp_path)), "--target", shop.url, "--out", str(out),
                     env={"LOADKIT_UPLOAD_URL": f"http://ci:s3cret@127.0.0.1:{put_server.port}/runs/1?{SECRET}",
                          "LOADKIT_TERMINATION_LOG": str(term)})
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    summary = read_summary(out)
    assert record == {"verdict": summary["verdict"], "headline": summary["headline"], "exit_code": 0,
                      "capacity": record["capacity"], "run_dir": str(out)}
    assert json.loads(term.read_text(encoding="utf-8")) == record
    assert {p.split("?")[0] for p in put_server.received} == {f"/runs/1/{n}" for n in
                                                              ("report.html", "summary.json", "junit.xml",
                                                               "summary.md")}
    assert put_server.received[f"/runs/1/summary.json?{SECRET}"] == (out / "summary.json").read_bytes()
    assert f"uploaded report.html, summary.json, junit.xml, summary.md to {put_server.url}/runs/1" in result.stderr
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["upload"] == {"value": f"{put_server.url}/runs/1", "source": "env"}
    # the signature and the password reach no console line and no file of the run
    for secret in ("deadbeefc0ffee", "s3cret"):
        assert secret not in result.stdout + result.stderr
        assert not [p.name for p in out.iterdir() if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.integration
def test_a_failed_upload_is_one_line_and_keeps_the_verdicts_exit_code(tmp_path: Path, put_server: PutServer,
                                                                       demo_factory: Any) -> None:
    shop = demo_factory()
    put_server.statuses = [403] * 4  # every file refused
    out = tmp_path / "run"
    result = run_cli("run", str(_tiny(tmp_path)), "--target", shop.url, "--out", str(out),
                     "--upload", f"{put_server.url}/runs/2?{SECRET}")
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if "upload" in line]
    assert warnings == [(f"loadkit: warning: upload to {put_server.url}/runs/2 failed for 4 of 4 files "
                        "(report.html: HTTP 403 after 1 try, summary.json: HTTP 403 after 1 try, junit.xml: HTTP 403 "
                        "after 1 try, summary.md: HTTP 403 after 1 try); the reports are still in the run directory "
                        "and the verdict stands")]
    assert json.loads(result.stdout.strip().splitlines()[-1])["exit_code"] == 0
    assert "deadbeefc0ffee" not in result.stdout + result.stderr


def test_a_bad_upload_url_is_a_usage_error_that_does_not_quote_it(tmp_path: Path) -> None:
    result = run_cli("run", str(_tiny(tmp_path)), "--demo", env={"LOADKIT_UPLOAD_URL": f"ftp://h/x?{SECRET}"})
    assert result.returncode == 2
    assert "LOADKIT_UPLOAD_URL='ftp://h/x': the upload URL must start with http:// or https://" in result.stderr
    assert "deadbeef" not in result.stderr
    result = run_cli("run", str(_tiny(tmp_path)), "--demo", "--upload", f"ftp://h/x?{SECRET}")
    assert result.returncode == 2 and "deadbeef" not in result.stderr
