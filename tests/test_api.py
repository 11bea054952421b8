"""The command line is a thin layer over loadkit.api: each command makes one API call with typed arguments
(checked in-process, the API function patched, as coverage.py's command-line tests do); the settings of
`plan`, `validate`, the loopback rule and the distribution go through the config layers; the master/worker
messages survive their encoding."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from loadkit import api, cli
from loadkit.config import Flags, resolve
from loadkit.errors import ExitCode, UsageError
from loadkit.scenario import parse_scenario
from tests.helpers import run_cli, write_scenario

DOC: dict[str, Any] = {"name": "c", "traffic": {"peak": "5/s"}, "journeys": [{"name": "j", "steps": [{"get": "/"}]}]}


def _patched(name: str, result: Any = None) -> Any:
    return mock.patch.object(api, name, autospec=True, return_value=result)


# --- each command, the API call it makes ---------------------------------------------------------


def test_run_resolves_its_settings_then_runs_them_through_the_api() -> None:
    settings = SimpleNamespace(scenario=SimpleNamespace(name="smoke"), headline="161 visitors",
                               config=SimpleNamespace(warnings=(), quiet=True), run_dir=Path("out"))
    verdict = SimpleNamespace(verdict="survives", headline="Survives: fine", reasons=[])
    result = SimpleNamespace(settings=settings, rendered=SimpleNamespace(missing=()), verdict=verdict,
                             comparison=None, exit_code=ExitCode.SURVIVES)  # api.RunResult's fields the CLI reads
    with _patched("settings", settings) as resolve_, _patched("run", result) as run_, \
            _patched("publish", '{"verdict":"survives"}') as publish:
        code = cli.main(["run", "smoke", "--demo", "--rate-scale", "0.5", "--workers", "2", "--quiet",
                         "--master", "--expect-workers", "3", "--bind", "0.0.0.0", "--worker-timeout", "90s",
                         "--loopback-only", "--baseline", "latest-good"])
    assert code == ExitCode.SURVIVES
    resolve_.assert_called_once_with("smoke", Flags(demo=True, rate_scale=0.5, workers=2, quiet=True, master=True,
                                                    expect_workers=3, bind="0.0.0.0", worker_timeout=90.0,
                                                    loopback_only=True))
    (given, listeners), kwargs = run_.call_args
    assert given is settings and kwargs == {"baseline": "latest-good"}
    assert isinstance(listeners, api.Listeners) and listeners.on_progress is None  # quiet: no progress view
    publish.assert_called_once()


@pytest.mark.parametrize(("argv", "call", "args", "kwargs"), [
    (["plan", "smoke", "--rate-scale", "0.1"], "plan", ("smoke", Flags(rate_scale=0.1)), {}),
    (["plan", "smoke", "--duration-scale", "2", "--json"], "plan", ("smoke", Flags(duration_scale=2.0)), {}),
    (["validate", "smoke"], "validate", ("smoke", Flags()), {}),
    (["validate", "smoke", "--target", "http://127.0.0.1:9"], "validate",
     ("smoke", Flags(target="http://127.0.0.1:9")), {}),
    (["report", "runs/a", "--strict"], "report", (Path("runs/a"),), {"strict": True}),
    (["compare", "runs/a", "runs/b", "--min-change", "20%"], "compare", (Path("runs/a"), Path("runs/b")),
     {"out": None, "min_change": 0.2}),
    (["history", "runs", "--compare-last", "5"], "history", (Path("runs"),), {"out": None, "compare_last": 5}),
    (["init", "--from-har", "shop.har", "--name", "shop"], "init_from_har", (Path("shop.har"),),
     {"out": None, "name": "shop"}),
    (["init", "--from-log", "a.log", "b.log.gz", "--spike", "10:00..10:30"], "init_from_logs",
     (api.LogImport(files=(Path("a.log"), Path("b.log.gz")), spike="10:00..10:30"),), {"out": None, "name": None}),
    (["calibrate", "smoke", "--seconds", "5"], "calibrate", ("smoke", 5.0), {"on_status": cli._say}),
    (["scenarios"], "scenarios", (), {}),
    (["schema"], "schema", (), {}),
    (["worker", "--master", "10.0.0.5:5560"], "worker", ("10.0.0.5:5560",), {"parent_pid": None}),
    (["worker"], "worker", (None,), {"parent_pid": None}),
])
def test_each_command_makes_one_api_call(argv: list[str], call: str, args: tuple[Any, ...],
                                         kwargs: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    result: Any = {} if call == "schema" else mock.MagicMock(**{"to_dict.return_value": {}})  # printed as JSON
    with _patched(call, result) as patched:
        cli.main(argv)
    patched.assert_called_once_with(*args, **kwargs)


def test_the_exit_code_is_the_apis() -> None:
    rendered = SimpleNamespace(verdict=SimpleNamespace(verdict="fails", headline="Fails: broke"), files=(),
                               missing=())
    with _patched("report", api.ReportResult(rendered=rendered, exit_code=ExitCode.FAILS)):  # type: ignore[arg-type]
        assert cli.main(["report", "runs/a"]) == ExitCode.FAILS


def test_a_user_error_from_the_api_is_one_line_and_its_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with mock.patch.object(api, "plan", autospec=True, side_effect=UsageError("no such thing.", "do that")):
        assert cli.main(["plan", "smoke"]) == ExitCode.USAGE
    assert capsys.readouterr().err == "loadkit: error: no such thing. Fix: do that\n"


# --- settings through the layers, for commands that send nothing -----------------------------------


def test_plan_shows_the_rate_a_run_would_send(tmp_path: Path) -> None:
    environ = {"LOADKIT_RATE_SCALE": "0.1"}
    view = api.plan("smoke", environ=environ)
    run_settings = api.settings("smoke", Flags(demo=True), environ=environ)
    assert view.settings.plan.planned_peak == run_settings.plan.planned_peak == pytest.approx(0.8)
    assert view.settings.config.sources["rate_scale"] == "env"
    assert api.plan("smoke", Flags(rate_scale=0.5), environ).settings.plan.planned_peak == pytest.approx(4.0)
    shown = run_cli("plan", "smoke", env=environ)
    assert shown.returncode == 0, shown.stderr
    assert "planned peak 0.8 visitors/s" in shown.stdout  # was 8: plan ignored LOADKIT_*
    checked = run_cli("validate", "smoke", env=environ)
    assert checked.returncode == 0 and checked.stdout.rstrip().endswith("peak 0.8/s"), checked.stdout


def test_plan_and_validate_send_nothing_so_ci_needs_no_target() -> None:
    assert api.plan("smoke", environ={"CI": "true"}).settings.config.target is None
    with pytest.raises(UsageError, match="no target"):
        api.settings("smoke", environ={"CI": "true"})  # a run would


def test_validate_checks_steps_against_the_target_the_layers_give(tmp_path: Path) -> None:
    path = write_scenario(tmp_path / "s.yaml", {**DOC, "journeys": [
        {"name": "j", "steps": [{"get": "http://127.0.0.1:7000/page"}]}]})
    assert api.validate(str(path), environ={"LOADKIT_TARGET": "http://127.0.0.1:7000"}).line.startswith("ok: c")
    with pytest.raises(Exception, match="127.0.0.1:7000"):
        api.validate(str(path), environ={"LOADKIT_TARGET": "http://127.0.0.1:8000"})
    with pytest.raises(Exception, match="127.0.0.1:7000"):
        api.validate(str(path), Flags(target="http://127.0.0.1:8000"), environ={})


def test_loopback_only_is_a_setting_of_the_layers(tmp_path: Path) -> None:
    scenario = parse_scenario({**DOC, "allowed_hosts": ["shop.invalid"]})
    assert resolve({}, {}, scenario).loopback_only is False
    by_env = resolve({}, {"LOADKIT_LOOPBACK_ONLY": "1"}, scenario)
    assert by_env.loopback_only is True and by_env.recorded()["loopback_only"] == {"value": True, "source": "env"}
    assert resolve({"loopback_only": True}, {}, scenario).sources["loopback_only"] == "flag"
    with pytest.raises(UsageError, match="LOADKIT_LOOPBACK_ONLY"):
        resolve({}, {"LOADKIT_LOOPBACK_ONLY": "maybe"}, scenario)
    path = write_scenario(tmp_path / "s.yaml", {**DOC, "allowed_hosts": ["shop.invalid"]})
    with pytest.raises(UsageError, match="allowed_hosts lists shop.invalid"):
        api.validate(str(path), environ={"LOADKIT_LOOPBACK_ONLY": "true"})
    with pytest.raises(UsageError, match="allowed_hosts lists shop.invalid"):
        api.validate(str(path), Flags(loopback_only=True), environ={})
    api.validate(str(path), environ={})


def test_the_distribution_is_a_setting_of_the_layers() -> None:
    scenario = parse_scenario(DOC)
    env = {"LOADKIT_MASTER": "1", "LOADKIT_EXPECT_WORKERS": "3", "LOADKIT_BIND": "0.0.0.0",
           "LOADKIT_WORKER_TIMEOUT": "2m"}
    config = resolve({}, env, scenario)
    assert (config.master, config.all_workers, config.bind, config.port, config.worker_timeout) == \
        (True, 3, "0.0.0.0", 5557, 120.0)
    assert {config.sources[k] for k in ("master", "expect_workers", "bind", "worker_timeout")} == {"env"}
    flagged = resolve({"master_port": 6000, "workers": 1}, env, scenario)
    assert (flagged.port, flagged.local_workers, flagged.sources["master_port"]) == (6000, 1, "flag")
    dist = api.distribution(flagged)
    assert (dist.local_workers, dist.expect_workers, dist.bind_host, dist.bind_port, dist.worker_timeout) == \
        (1, 3, "0.0.0.0", 6000, 120.0)
    assert api.distribution(resolve({}, {}, scenario)).distributed is False
    with pytest.raises(UsageError, match="--expect-workers above --workers"):
        resolve({}, {"LOADKIT_EXPECT_WORKERS": "2"}, scenario)
    with pytest.raises(UsageError, match="LOADKIT_MASTER_PORT"):
        resolve({}, {"LOADKIT_MASTER_PORT": "70000"}, scenario)


def test_a_worker_finds_its_master_in_the_environment() -> None:
    with pytest.raises(UsageError, match="master's address"):
        api.worker(None, environ={})
    with pytest.raises(UsageError, match="LOADKIT_MASTER_HOST 'shop:x'"):
        api.worker(None, environ={"LOADKIT_MASTER_HOST": "shop:x"})
    # a stand-in for loadkit.run.worker: importing the real one would monkey-patch this process with gevent
    serve = mock.Mock(return_value=0)
    with mock.patch.dict(sys.modules, {"loadkit.run.worker": SimpleNamespace(run_worker=serve)}):
        assert api.worker(None, environ={"LOADKIT_MASTER_HOST": "10.0.0.5"}) == 0
        assert api.worker("[::1]:6000", environ={"LOADKIT_MASTER_HOST": "10.0.0.5"}) == 0
    assert serve.call_args_list == [mock.call("10.0.0.5", 5557, parent_pid=None), mock.call("::1", 6000,
                                                                                            parent_pid=None)]


# --- the master/worker protocol ------------------------------------------------------------------


def test_the_api_and_the_protocol_leave_this_process_unpatched() -> None:
    import socket

    import loadkit.run.protocol  # noqa: F401 - imported for what importing it does (nothing gevent)

    assert "locust" not in sys.modules and socket.socket.__module__ == "socket"


def test_every_message_survives_its_encoding_and_a_newer_peers_extra_field() -> None:
    from loadkit.run import protocol

    messages: list[protocol.Message] = [
        protocol.Hello(), protocol.Ready(index=2), protocol.Refused(index=1, problem="no route.", fix="fix it"),
        protocol.Start(t0=100.5, master_now=99.5), protocol.Stop(),
        protocol.Data(metrics=[{"s": 1}], arrivals=[], samples=[], scenario_errors=[], cpu=12.5, in_flight=3),
        protocol.Done(index=0, load_s=20.0, cut_short=2, cut_short_at=[{"journey": "j", "visitors": 2}],
                      started=10, dropped=0, late=1, requests=30)]
    names = set()
    for message in messages:
        wire = protocol.encode(message)
        assert protocol.decode(type(message), {**wire, "from_a_newer_version": 1}) == message
        names.add(message.name)
    assert names == {"loadkit_hello", "loadkit_ready", "loadkit_refused", "loadkit_start", "loadkit_stop",
                     "loadkit_data", "loadkit_done"}


def test_the_setup_message_carries_the_job_and_the_workers_share(tmp_path: Path) -> None:
    from loadkit.run import RunInputs, RunJob, Share, protocol
    from loadkit.traffic import build_plan

    scenario = parse_scenario({**DOC, "data": {"n": {"range": [1, 1_000_000]}}})
    job = RunJob(scenario=scenario, plan=build_plan(scenario), target="http://127.0.0.1:9", run_dir=tmp_path,
                 inputs=RunInputs(data_values={"n": range(1, 1_000_001), "city": ["a", "b"]},
                                  headers={"X-Token": "s3cret"}))
    setup = protocol.Setup.of(job, Share(1, 3), "master-host")
    assert setup.data["n"] == {"range": [1, 1_000_000]}  # a range travels as its bounds, never its values
    again = protocol.decode(protocol.Setup, protocol.encode(setup))
    assert again == setup and again.master_hostname == "master-host"
    worker_job = again.job()
    assert worker_job.share == Share(1, 3) and worker_job.run_dir is None
    assert (worker_job.scenario, worker_job.target, worker_job.headers) == (scenario, job.target, job.headers)
    assert worker_job.data_values["n"] == range(1, 1_000_001) and list(worker_job.data_values["city"]) == ["a", "b"]
    assert worker_job.plan.total_arrivals == job.plan.total_arrivals
