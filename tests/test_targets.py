"""Where load may go: targets are base URLs given on purpose, steps stay on the target's host unless the
scenario allows more, credentials stay with the target, and a refused run leaves nothing behind."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from loadkit.config import LocustSetting, read_locust_settings, resolve
from loadkit.errors import ScenarioError, UsageError
from loadkit.scenario import (check_step_hosts, json_schema, literal_host, parse_scenario, target_problem,
                              url_host)
from loadkit.scenario.loading import saved_scenario
from loadkit.redaction import redact_text, redact_url
from loadkit.scenario.hosts import redacted
from tests.helpers import read_summary, run_cli, write_scenario

DOC: dict[str, Any] = {"name": "t", "traffic": {"profile": "constant", "rate": "2/s", "duration": "2s"},
                       "journeys": [{"name": "j", "steps": [{"get": "/"}]}]}
SCENARIO = parse_scenario(DOC)
NO_CI = {"CI": ""}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("loadkit: error:")]


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 to everything and remembers each request's path and headers."""

    seen: list[tuple[str, dict[str, str]]]

    def do_GET(self) -> None:  # the standard library's name
        self.server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))  # type: ignore[attr-defined]
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@contextmanager
def recording_server() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """A server on 127.0.0.1 (a free port) and the list of requests it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


# --- targets are base URLs with a scheme and a host ---------------------------------------------------


@pytest.mark.parametrize("value,fix", [
    ("127.0.0.1:8080", "did you mean http://127.0.0.1:8080?"),
    ("localhost", "did you mean http://localhost?"),
    ("ftp://shop.example.test", "https://shop.example.com"),
    ("http://shop.example.test/?token=s3cret", "use http://shop.example.test as the target"),
    ("http://shop.example.test/#top", "use http://shop.example.test as the target"),
])
def test_a_target_that_is_not_a_base_url_is_named_with_the_fix(value: str, fix: str) -> None:
    problem = target_problem(value)
    assert problem is not None and fix in problem[1]
    with pytest.raises(UsageError) as caught:
        resolve({"target": value}, NO_CI, SCENARIO)
    assert str(caught.value).startswith("--target ") and fix in str(caught.value)
    assert "s3cret" not in str(caught.value)  # the query's value is never repeated
    with pytest.raises(ScenarioError, match="target") as scenario_error:
        parse_scenario({**DOC, "target": value})
    assert "s3cret" not in str(scenario_error.value)


def test_base_urls_and_demo_are_targets() -> None:
    for value in ("http://127.0.0.1:8080", "https://user:pw@shop.example.test/shop/", "demo"):
        assert target_problem(value) is None
    assert parse_scenario({**DOC, "target": "demo"}).target == "demo"


@pytest.mark.parametrize("target", ["127.0.0.1:{port}", "localhost:{port}"])
def test_a_scheme_less_target_is_a_usage_error_and_creates_nothing(tmp_path: Path, target: str) -> None:
    out = tmp_path / "run"
    result = run_cli("run", "smoke", "--target", target.format(port=_closed_port()), "--out", str(out),
                     env=NO_CI, timeout=60)
    assert result.returncode == 2, result.stderr
    errors = _errors(result.stderr)
    assert len(errors) == 1 and "did you mean http://" in errors[0], result.stderr
    assert "UnsupportedProtocol" not in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_a_target_that_cannot_be_parsed_is_one_line_that_never_repeats_it() -> None:
    bad = "http://u:s3cret-pw@[::1/"  # the IPv6 bracket is never closed: the URL parser raises
    assert redacted(bad) == "(an invalid URL)" and redacted("http://u:pw@[::1]:8080/?t=x") == "http://[::1]:8080/?t=***"
    for args, env in ((("--target", bad), NO_CI), ((), {**NO_CI, "LOADKIT_TARGET": bad})):
        result = run_cli("validate", "smoke", *args, env=env, timeout=60)
        assert result.returncode == 2, result.stderr
        errors = _errors(result.stderr)
        assert len(errors) == 1 and "is not a valid URL" in errors[0] and "Fix: " in errors[0], result.stderr
        assert "Traceback" not in result.stderr and "s3cret" not in result.stderr + result.stdout
    problem = target_problem(bad)
    assert problem is not None and "s3cret" not in str(problem)
    with pytest.raises(ScenarioError, match="not a valid URL") as caught:
        parse_scenario({**DOC, "target": bad})
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/users/@alice/profile", "http://127.0.0.1:8000/@alice", "http://127.0.0.1:8000/a@b@c/d",
    "http://127.0.0.1:8000/p#section@2", "http://127.0.0.1:8000/users/@alice#to@x", "/users/@alice/profile",
    "users/@alice", "https://[::1]:8443/@me"])
def test_an_at_sign_in_a_path_or_fragment_is_data_not_credentials(url: str) -> None:
    """RFC 3986: only the authority's user-info ends in "@"; one in the path or the fragment stays as written."""
    assert redact_url(url) == url
    assert redacted(url) == url
    assert redact_text(f"GET {url} failed", []) == f"GET {url} failed"


@pytest.mark.parametrize("url,shown", [
    ("http://127.0.0.1:8000/search?q=a@b.c", "http://127.0.0.1:8000/search?q=***"),
    ("http://127.0.0.1:8000/users/@alice?to=bob@x.test#at@y", "http://127.0.0.1:8000/users/@alice?to=***#at@y"),
    ("http://127.0.0.1:8000/s?@flag", "http://127.0.0.1:8000/s?@flag"),  # a query key without a value
])
def test_a_query_with_an_at_sign_keeps_its_path_and_loses_only_its_values(url: str, shown: str) -> None:
    assert redact_url(url) == redacted(url) == shown


@pytest.mark.parametrize("url,shown", [
    ("http://user:s3cret@127.0.0.1:8000/users/@alice", "http://127.0.0.1:8000/users/@alice"),
    ("http://user:s3c@ret@127.0.0.1:8000/@a#b@c", "http://127.0.0.1:8000/@a#b@c"),  # an "@" in the password
    ("https://s3cret@[::1]:8443/x@y?k=s3cret", "https://[::1]:8443/x@y?k=***"),
    ("http:/user:s3cret@127.0.0.1/users/@alice", "http:/127.0.0.1/users/@alice"),  # its "//" left out
    ("user:s3cret@127.0.0.1:8080/users/@alice", "127.0.0.1:8080/users/@alice"),
])
def test_user_info_is_still_dropped_and_an_at_sign_after_it_kept(url: str, shown: str) -> None:
    assert redact_url(url) == redacted(url) == shown
    assert "s3c" not in redact_text(f"see {url} now", ["s3cret"])


def test_a_target_message_repeats_an_at_sign_path_as_written(tmp_path: Path) -> None:
    problem = target_problem("http://u:s3cret@127.0.0.1:8000/shop/@alice/?token=s3cret")
    assert problem is not None and "'http://127.0.0.1:8000/shop/@alice/?token=***'" in problem[0]
    assert "s3cret" not in str(problem)


@pytest.mark.parametrize("value", ["user:s3cret@127.0.0.1:8080", "user:s3cret@localhost",
                                   "http:/user:s3cret@127.0.0.1", "user:s3cret@shop.example.test?token=s3cret"])
def test_a_scheme_less_target_with_credentials_never_shows_them(value: str) -> None:
    """Without "//", urlsplit takes "user" for a scheme and sees no credentials: still, none is echoed."""
    problem = target_problem(value)
    assert problem is not None and "s3cret" not in str(problem)
    with pytest.raises(UsageError) as caught:
        resolve({"target": value}, NO_CI, SCENARIO)
    assert "s3cret" not in str(caught.value) and "user" not in str(caught.value)
    with pytest.raises(UsageError) as from_env:
        resolve({}, {**NO_CI, "LOADKIT_TARGET": value}, SCENARIO)
    assert "s3cret" not in str(from_env.value)
    with pytest.raises(ScenarioError, match="target") as scenario_error:
        parse_scenario({**DOC, "target": value})
    assert "s3cret" not in str(scenario_error.value)


def test_the_cli_never_echoes_a_scheme_less_targets_credentials() -> None:
    result = run_cli("validate", "smoke", "--target", "user:s3cret@127.0.0.1:8080", env=NO_CI, timeout=60)
    assert result.returncode == 2, result.stderr
    errors = _errors(result.stderr)
    assert len(errors) == 1 and "did you mean http://127.0.0.1:8080?" in errors[0], result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_a_target_with_a_query_string_sends_nothing(tmp_path: Path) -> None:
    with recording_server() as (url, seen):
        out = tmp_path / "run"
        result = run_cli("run", "smoke", "--target", url + "/?token=s3cret-token", "--out", str(out), timeout=60)
        assert result.returncode == 2, result.stderr
        errors = _errors(result.stderr)
        assert len(errors) == 1 and "query string" in errors[0] and f"use {url} as the target" in errors[0]
        assert "s3cret-token" not in result.stderr
        assert seen == [] and not out.exists()


# --- empty settings and CI -------------------------------------------------------------------------


@pytest.mark.parametrize("flags,env,named", [
    ({}, {"LOADKIT_TARGET": ""}, "LOADKIT_TARGET"),
    ({"target": ""}, {}, "--target"),
    ({"host": " "}, {}, "--host"),
    ({}, {"LOCUST_HOST": ""}, "LOCUST_HOST"),
    ({}, {"LOADKIT_OUT": ""}, "LOADKIT_OUT"),
    ({}, {"LOADKIT_WORKERS": ""}, "LOADKIT_WORKERS"),
])
def test_a_setting_given_but_empty_is_a_usage_error_naming_it(flags: dict[str, Any], env: dict[str, str],
                                                                  named: str) -> None:
    with pytest.raises(UsageError, match="empty") as caught:
        resolve(flags, {**NO_CI, **env}, SCENARIO)
    assert str(caught.value).startswith(named)


def test_in_ci_the_demo_storefront_must_be_asked_for() -> None:
    with pytest.raises(UsageError) as caught:
        resolve({}, {"CI": "true"}, SCENARIO)
    assert "--target" in str(caught.value) and "--demo" in str(caught.value)
    assert resolve({"demo": True}, {"CI": "true"}, SCENARIO).target == "demo"
    assert resolve({}, {"CI": "true"}, parse_scenario({**DOC, "target": "demo"})).target == "demo"
    assert resolve({}, {"CI": "true", "LOADKIT_TARGET": "http://127.0.0.1:1"}, SCENARIO).target \
        == "http://127.0.0.1:1"
    for outside in ({}, {"CI": ""}, {"CI": "false"}):  # a newcomer's machine: the demo is the default
        assert resolve({}, outside, SCENARIO).target is None


def test_empty_target_and_ci_without_target_exit_2_and_create_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    empty = run_cli("run", "smoke", "--out", str(out), env={**NO_CI, "LOADKIT_TARGET": ""}, timeout=60)
    assert empty.returncode == 2, empty.stderr
    assert len(_errors(empty.stderr)) == 1 and "LOADKIT_TARGET is set but empty" in empty.stderr
    flag = run_cli("run", "smoke", "--target", "", "--out", str(out), env=NO_CI, timeout=60)
    assert flag.returncode == 2 and "--target is set but empty" in flag.stderr, flag.stderr
    ci = run_cli("run", "smoke", cwd=tmp_path, env={"CI": "true"}, timeout=60)  # default run dir: ./reports
    assert ci.returncode == 2, ci.stderr
    errors = _errors(ci.stderr)
    assert len(errors) == 1 and "CI is set" in errors[0] and "--target" in errors[0] and "--demo" in errors[0]
    assert not out.exists() and not (tmp_path / "reports").exists()


# --- a refused run leaves no run directory -------------------------------------------------------


def test_a_refused_preflight_leaves_no_run_directory(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()  # a folder the user made stays, even empty
    for out in (tmp_path / "run", tmp_path / "kept"):
        result = run_cli("run", "smoke", "--target", f"http://127.0.0.1:{_closed_port()}", "--out", str(out),
                         timeout=60)
        assert result.returncode == 3 and "connection refused" in result.stderr, result.stderr
    default = run_cli("run", "smoke", "--target", f"http://127.0.0.1:{_closed_port()}", cwd=tmp_path, timeout=60)
    assert default.returncode == 3, default.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
    assert list((tmp_path / "kept").iterdir()) == []


# --- Locust's conventions ---------------------------------------------------------------------------


def test_locust_settings_are_read_from_the_working_folder_and_the_environment(tmp_path: Path) -> None:
    (tmp_path / "locust.conf").write_text("# Locust\n[locust]\nhost = http://127.0.0.1:7\nusers: 50\n"
                                          "spawn-rate 5\nheadless\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[tool.locust]\nhost = "http://127.0.0.1:6"\nrun-time = "1m"\n',
                                             encoding="utf-8")
    found = read_locust_settings(tmp_path, {"LOCUST_RUN_TIME": "2m", "PATH": "/bin"})
    assert [(s.label, s.value) for s in found] == [
        ("locust.conf: host", "http://127.0.0.1:7"), ("locust.conf: users", "50"),
        ("locust.conf: spawn-rate", "5"), ("locust.conf: headless", ""),
        ("pyproject.toml [tool.locust]: host", "http://127.0.0.1:6"),
        ("pyproject.toml [tool.locust]: run-time", "1m"), ("LOCUST_RUN_TIME", "2m")]
    config = resolve({}, NO_CI, SCENARIO, found)
    assert (config.target, config.sources["target"]) == ("http://127.0.0.1:6", "pyproject.toml")
    assert len(config.warnings) == 1
    for name in ("locust.conf: users", "spawn-rate", "headless", "run-time", "LOCUST_RUN_TIME",
                 "locust.conf: host (overridden by pyproject.toml [tool.locust]: host)"):
        assert name in config.warnings[0]


def test_the_layers_in_order_with_locust_host() -> None:
    files = [LocustSetting("locust.conf", "host", "http://127.0.0.1:1")]
    with_target = parse_scenario({**DOC, "target": "http://127.0.0.1:2"})
    steps: list[tuple[dict[str, Any], dict[str, str], Any, str]] = [
        ({}, {}, SCENARIO, "http://127.0.0.1:1"),  # locust.conf over the default
        ({}, {}, with_target, "http://127.0.0.1:2"),  # the scenario over Locust's files
        ({}, {"LOCUST_HOST": "http://127.0.0.1:3"}, with_target, "http://127.0.0.1:3"),
        ({}, {"LOCUST_HOST": "http://127.0.0.1:3", "LOADKIT_TARGET": "http://127.0.0.1:4"}, with_target,
         "http://127.0.0.1:4"),
        ({"host": "http://127.0.0.1:5"}, {"LOADKIT_TARGET": "http://127.0.0.1:4"}, with_target,
         "http://127.0.0.1:5"),
    ]
    for flags, env, scenario, expected in steps:
        assert resolve(flags, {**NO_CI, **env}, scenario, files).target == expected
    config = resolve({"target": "http://127.0.0.1:5"}, {**NO_CI, "LOCUST_HOST": "http://127.0.0.1:3"}, SCENARIO)
    assert config.warnings and "LOCUST_HOST (overridden by --target)" in config.warnings[0]


def test_locust_host_locust_conf_and_host_flag_reach_the_run(tmp_path: Path) -> None:
    port = _closed_port()  # preflight is refused there: it shows where the run went, and no load is sent
    env_run = run_cli("run", "smoke", "--out", str(tmp_path / "a"),
                      env={**NO_CI, "LOCUST_HOST": f"http://127.0.0.1:{port}", "LOCUST_USERS": "10"}, timeout=60)
    assert env_run.returncode == 3 and f"127.0.0.1:{port}" in env_run.stderr, env_run.stderr
    warnings = [ln for ln in env_run.stderr.splitlines() if ln.startswith("loadkit: warning:")]
    assert len(warnings) == 1 and "LOCUST_USERS" in warnings[0] and "LOCUST_HOST" not in warnings[0]
    (tmp_path / "locust.conf").write_text(f"host = http://127.0.0.1:{port}\nusers = 10\n", encoding="utf-8")
    conf_run = run_cli("run", "smoke", "--out", str(tmp_path / "b"), cwd=tmp_path, env={"CI": "true"},
                       timeout=60)
    assert conf_run.returncode == 3 and f"127.0.0.1:{port}" in conf_run.stderr, conf_run.stderr
    assert "locust.conf: users" in conf_run.stderr
    flag_run = run_cli("run", "smoke", "--host", f"http://127.0.0.1:{port}", "--out", str(tmp_path / "c"),
                       env={"CI": "true"}, timeout=60)
    assert flag_run.returncode == 3 and f"127.0.0.1:{port}" in flag_run.stderr, flag_run.stderr
    both = run_cli("run", "smoke", "--host", "http://127.0.0.1:1", "--target", "http://127.0.0.1:1", timeout=60)
    assert both.returncode == 2 and "not allowed with" in both.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locust.conf"]  # no run directory left


# --- absolute-URL steps: allowed hosts, loopback-only, credentials ---------------------------------


def _two_host_doc(other: str, **extra: Any) -> dict[str, Any]:
    return {"name": "hosts", "traffic": {"profile": "constant", "rate": "5/s", "duration": "2s"},
            "headers": {"X-Api-Key": "${HOSTS_TEST_KEY}", "X-Trace": "visible"},
            "journeys": [{"name": "j", "steps": [{"get": "/home"}, {"get": f"{other}/elsewhere"}]}], **extra}


def test_allowed_hosts_is_validated_and_in_the_schema() -> None:
    assert json_schema()["properties"]["allowed_hosts"]["type"] == "array"
    parse_scenario({**DOC, "allowed_hosts": ["api.example.test", "127.0.0.1:8081", "[::1]:9000"]})
    for bad in ("https://api.example.test", "api.example.test/v1", "host:99999", ""):
        with pytest.raises(ScenarioError, match="allowed_hosts"):
            parse_scenario({**DOC, "allowed_hosts": [bad]})


def test_a_literal_step_host_is_checked_against_the_target() -> None:
    scenario = parse_scenario(_two_host_doc("http://127.0.0.1:8081"))
    with pytest.raises(ScenarioError, match=r"journeys\[0\]\.steps\[1\].*allowed_hosts") as caught:
        check_step_hosts(scenario, "http://127.0.0.1:8080")
    assert "127.0.0.1:8081" in str(caught.value)
    check_step_hosts(scenario, "http://127.0.0.1:8081")  # it is the target
    check_step_hosts(parse_scenario(_two_host_doc("http://127.0.0.1:8081", allowed_hosts=["127.0.0.1:8081"])),
                     "http://127.0.0.1:8080")
    check_step_hosts(parse_scenario(_two_host_doc("http://127.0.0.1:8081", allowed_hosts=["127.0.0.1"])),
                     "http://127.0.0.1:8080")  # a host without a port: any port
    built = {**_two_host_doc("http://{host}"), "data": {"host": {"values": ["127.0.0.1"]}}}
    check_step_hosts(parse_scenario(built), "http://127.0.0.1:8080")  # built from values: checked per request


@pytest.mark.parametrize("url", ["http://[::1/x", "https://u:s3cret@[::1/x", "http://shop.test:99999/x",
                                 "http://shop.test:port/x"])
def test_a_malformed_step_url_is_one_scenario_error_naming_the_step(url: str) -> None:
    """urlsplit raises ValueError on these: the helpers never do, and the scenario names the step."""
    assert literal_host(url) is not None
    url_host(url)  # no exception: an unreadable host is no host
    with pytest.raises(ScenarioError, match=r"journeys\[0\]\.steps\[1\].*host part cannot be read") as caught:
        parse_scenario(_two_host_doc(url.removesuffix("/x")))
    assert "s3cret" not in str(caught.value) and "\n" not in str(caught.value)
    # a scenario read back without the checks of a new one (saved with a run) is still refused by name
    saved = saved_scenario(_two_host_doc(url.removesuffix("/x")), "scenario.yaml")
    with pytest.raises(ScenarioError, match=r"journeys\[0\]\.steps\[1\] \(j\).*host part cannot be read"):
        check_step_hosts(saved, "http://127.0.0.1:8080")


def test_the_cli_names_a_malformed_step_url_without_a_traceback(tmp_path: Path) -> None:
    doc = {**_two_host_doc("http://[::1"), "target": "http://127.0.0.1:8080"}
    result = run_cli("validate", str(write_scenario(tmp_path / "s.yaml", doc)), timeout=60)
    assert result.returncode == 2, result.stderr
    errors = _errors(result.stderr)
    assert len(errors) == 1 and "journeys[0].steps[1]" in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_an_ipv6_step_host_is_suggested_in_brackets() -> None:
    with pytest.raises(ScenarioError, match=r"add '\[::1\]:8081' to allowed_hosts"):
        check_step_hosts(parse_scenario(_two_host_doc("http://[::1]:8081")), "http://127.0.0.1:8080")


def test_validate_checks_literal_step_hosts_against_the_scenarios_target(tmp_path: Path) -> None:
    doc = {**_two_host_doc("http://127.0.0.1:8081"), "target": "http://127.0.0.1:8080"}
    result = run_cli("validate", str(write_scenario(tmp_path / "s.yaml", doc)), timeout=60)
    assert result.returncode == 2 and "journeys[0].steps[1]" in result.stderr and "allowed_hosts" in result.stderr
    allowed = run_cli("validate", str(write_scenario(tmp_path / "a.yaml", {**doc, "allowed_hosts": ["127.0.0.1"]})),
                      timeout=60)
    assert allowed.returncode == 0, allowed.stderr


def test_loopback_only_covers_the_allowed_hosts(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "s.yaml", _two_host_doc("http://shop.invalid",
                                                                 allowed_hosts=["shop.invalid"]))
    result = run_cli("run", str(scenario), "--target", f"http://127.0.0.1:{_closed_port()}", "--out",
                     str(tmp_path / "run"), env={"LOADKIT_LOOPBACK_ONLY": "1", "HOSTS_TEST_KEY": "k"}, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "allowed_hosts lists shop.invalid" in result.stderr and "LOADKIT_LOOPBACK_ONLY" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.integration
@pytest.mark.xdist_group("load")
def test_a_step_to_another_port_needs_allowed_hosts_and_never_gets_the_credentials(tmp_path: Path) -> None:
    secret = "key-7f3a9c1e"
    env = {**NO_CI, "HOSTS_TEST_KEY": secret}
    with recording_server() as (target, at_target), recording_server() as (other, at_other):
        with_creds = target.replace("http://", "http://shop:pa55word@")
        refused = run_cli("run", str(write_scenario(tmp_path / "refused.yaml", _two_host_doc(other))),
                          "--target", with_creds, "--out", str(tmp_path / "refused"), env=env, timeout=60)
        assert refused.returncode == 2, refused.stderr
        assert "not the target's host" in refused.stderr and "allowed_hosts" in refused.stderr
        assert at_target == [] and at_other == [] and not (tmp_path / "refused").exists()  # before any request

        port = other.rsplit(":", 1)[1]
        allowed = _two_host_doc(other, allowed_hosts=[f"127.0.0.1:{port}"])
        run = run_cli("run", str(write_scenario(tmp_path / "allowed.yaml", allowed)), "--target", with_creds,
                      "--out", str(tmp_path / "allowed"), env=env, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr

        # a host built from values is checked per request (path values are URL-quoted, so the port is literal)
        templated = {**_two_host_doc(f"http://{{host}}:{port}"), "data": {"host": {"values": ["127.0.0.1"]}}}
        other_before = len(at_other)
        blocked = run_cli("run", str(write_scenario(tmp_path / "templated.yaml", templated)), "--target",
                          with_creds, "--out", str(tmp_path / "templated"), env=env, timeout=60)
        other_after = len(at_other)

    assert all(path == "/elsewhere" for path, _ in at_other)
    for _, headers in at_other:
        assert "authorization" not in headers and "x-api-key" not in headers, headers
        assert headers.get("x-trace") == "visible"  # headers without secrets still go
    assert other_before == 1 + 10 and other_after == other_before  # rehearsal + load; the built URL never sent
    visits = [h for path, h in at_target if path == "/home"]
    assert len(visits) == 1 + 10 + 1  # the allowed run (rehearsal, 10 visitors); the templated one's rehearsal
    assert all(h.get("authorization", "").startswith("Basic ") and h.get("x-api-key") == secret for h in visits)
    assert secret not in json.dumps(read_summary(tmp_path / "allowed"))

    # the scenario's mistake, found by the rehearsal before the load: exit 2, nothing left behind
    assert blocked.returncode == 2, blocked.stdout + blocked.stderr
    assert "not in allowed_hosts" in blocked.stderr and "allowed_hosts:" in blocked.stderr
    assert not (tmp_path / "templated").exists()
