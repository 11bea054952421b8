"""loadkit as a Locust plugin: `locust -f <loadkit's entry>` runs a loadkit scenario with Locust's own
command line, and gives what `loadkit run` gives (one implementation: loadkit's master and worker attached
to the runners Locust made)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadkit.demo import DemoConfig
from tests.helpers import ROOT, read_summary, rehearsal_requests, run_cli, write_scenario

pytestmark = pytest.mark.integration

ENTRY = ROOT / "loadkit" / "run" / "locust_entry.py"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOADKIT_", "LOCUST_"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _locust(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "locust", "-f", str(ENTRY), *args], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=out, text=True)


def test_locustfile_path_names_the_entry() -> None:
    done = run_cli("locustfile-path")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == ENTRY


@pytest.mark.timing(seconds=25)
def test_locust_master_and_two_locust_workers_match_loadkit_run_with_two_workers(tmp_path: Path,
                                                                                   demo_factory: Any) -> None:
    service = {page: 0.0 for page in DemoConfig().service_ms}
    service["home"] = 5.0
    shop = demo_factory(DemoConfig(slots=8, service_ms=service))
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "plugin", "request_timeout": "5s",
        "traffic": {"profile": "constant", "rate": "20/s", "duration": "5s"},
        "journeys": [{"name": "j", "steps": [{"get": "/"}, {"get": "/products/kitchen-01"}]}],
        # a limit no site meets: the verdict is "fails", exit code 1 (Locust's own would be 0)
        "slos": [{"metric": "p95", "below": "1ms"}]})

    before = shop.stats()["served"]
    direct = run_cli("run", str(scenario), "--target", shop.url, "--workers", "2", "--out", str(tmp_path / "direct"),
                     env=_env())
    assert direct.returncode == 1, direct.stdout + direct.stderr
    served_direct = shop.stats()["served"] - before

    before = shop.stats()["served"]
    port = _free_port()
    out = tmp_path / "plugin"
    master = _locust("--master", "--headless", "--only-summary", "--master-bind-host", "127.0.0.1",
                     "--master-bind-port", str(port), "--expect-workers", "2", "--host", shop.url,
                     env=_env(LOADKIT_SCENARIO=str(scenario), LOADKIT_OUT=str(out)), log=tmp_path / "master.log")
    workers = [_locust("--worker", "--master-host", "127.0.0.1", "--master-port", str(port), env=_env(),
                       log=tmp_path / f"worker-{i}.log") for i in range(2)]
    stdout, _ = master.communicate(timeout=120)
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(tmp_path.glob("*.log")))
    assert master.returncode == 1, stdout + logs  # the verdict's exit code, through process_exit_code
    for worker in workers:
        worker.communicate(timeout=30)
        assert worker.returncode == 0, logs
    served_plugin = shop.stats()["served"] - before

    a, b = read_summary(tmp_path / "direct"), read_summary(out)
    assert a["verdict"] == b["verdict"] == "fails"
    assert a["run"]["workers"] == b["run"]["workers"] == 2
    assert a["traffic"]["planned_arrivals"] == b["traffic"]["planned_arrivals"] == 100
    assert a["traffic"]["delivered_arrivals"] == b["traffic"]["delivered_arrivals"] == 100
    assert a["totals"]["requests"] == b["totals"]["requests"] == 200
    assert [(e["name"], e["requests"]) for e in a["endpoints"]] == [(e["name"], e["requests"]) for e in b["endpoints"]]
    # the site saw the same: the load, the preflight and the rehearsal's visit
    assert served_direct == served_plugin == 200 + 1 + rehearsal_requests(out)
    for name in ("report.html", "summary.json", "junit.xml", "summary.md", "run.json", "metrics.jsonl"):
        assert (out / name).is_file(), name
    record = json.loads(stdout.strip().splitlines()[-1])
    assert record["verdict"] == "fails" and record["exit_code"] == 1 and record["run_dir"] == str(out)
    assert yaml.safe_load((out / "scenario.yaml").read_text())["name"] == "plugin"


def test_the_entry_without_a_scenario_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "locust", "-f", str(ENTRY), "--headless", "--host",
                           "http://127.0.0.1:9"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "loadkit: error: no scenario for loadkit's Locust entry. Fix: set LOADKIT_SCENARIO" in done.stderr


def test_the_entrys_own_options_reach_loadkit(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-scenario.yaml"
    done = subprocess.run([sys.executable, "-m", "locust", "-f", str(ENTRY), "--headless", "--host",
                           "http://127.0.0.1:9", "--loadkit-scenario", str(missing)], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "loadkit: error:" in done.stderr and str(missing) in done.stderr


@pytest.mark.parametrize("args, message", [
    (["--loadkit-rate-scale", "0"], "argument --loadkit-rate-scale: expected a number above 0, got '0'"),
    (["--loadkit-duration-scale", "-1"], "argument --loadkit-duration-scale: expected a number above 0, got '-1'"),
    (["--loadkit-out", ""], "argument --loadkit-out: is empty: give a folder"),
])
def test_the_entrys_options_parse_as_the_cli_s(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "locust", "-f", str(ENTRY), "--headless", *args], cwd=ROOT,
                          env=_env(LOADKIT_SCENARIO="smoke"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # no run started, no traceback


def test_locusts_host_is_a_flag_only_from_its_command_line(tmp_path: Path) -> None:
    """LOCUST_HOST (Locust puts it in options.host too) stays below LOADKIT_TARGET, as under `loadkit run`."""
    script = """
import json, sys
from argparse import Namespace
from loadkit.config import resolve
from loadkit.run import plugin

env = {"LOCUST_HOST": "http://127.0.0.1:7", "LOADKIT_TARGET": "http://127.0.0.1:8"}
out = {}
for name, argv in [("none", ["--headless"]), ("long", ["--host", "http://127.0.0.1:7"]),
                   ("eq", ["--host=http://127.0.0.1:7"]), ("short", ["-H", "http://127.0.0.1:7"])]:
    sys.argv = ["locust", *argv]
    config = resolve(plugin._flags(Namespace(host="http://127.0.0.1:7")), env, None)
    out[name] = [config.target, config.sources["target"]]
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["none"] == ["http://127.0.0.1:8", "env"]
    for name in ("long", "eq", "short"):
        assert seen[name] == ["http://127.0.0.1:7", "flag"], name


def test_a_host_from_locusts_config_files_is_the_one_locust_chose(tmp_path: Path) -> None:
    """Locust ranks its config files ~/.locust.conf < locust.conf < pyproject.toml < --config FILE, then
    LOCUST_HOST, then --host: under the entry, loadkit's target is the host Locust itself resolved."""
    script = """
import json, os, sys
from locust.argument_parser import get_parser
from loadkit import api
from loadkit.run import plugin

out = {}
cases = [("home", [], {}), ("conf", [], {}), ("config", ["--config", "other.conf"], {}),
         ("env", ["--config", "other.conf"], {"LOCUST_HOST": "http://127.0.0.1:4"}),
         ("flag", ["--config", "other.conf", "--host", "http://127.0.0.1:5"], {"LOCUST_HOST": "http://127.0.0.1:4"})]
for name, argv, extra in cases:
    if name == "conf":
        open("locust.conf", "w").write("host = http://127.0.0.1:2\\n")
    env = {**os.environ, **extra}
    os.environ.clear(); os.environ.update(env)
    sys.argv = ["locust", "-f", "x.py", *argv]
    options = get_parser().parse_args(sys.argv[1:])
    settings = api.settings("smoke", plugin._flags(options), env, sends_load=False,
                            locust=plugin._locust_file_host(options, sys.argv[1:], env))
    out[name] = [options.host, settings.config.target, settings.config.sources["target"]]
print(json.dumps(out))
"""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".locust.conf").write_text("host = http://127.0.0.1:1\n")
    (tmp_path / "other.conf").write_text("host = http://127.0.0.1:3\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=_env(HOME=str(home)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {"home": ("http://127.0.0.1:1", "locust.conf"), "conf": ("http://127.0.0.1:2", "locust.conf"),
                "config": ("http://127.0.0.1:3", "locust.conf"), "env": ("http://127.0.0.1:4", "LOCUST_HOST"),
                "flag": ("http://127.0.0.1:5", "flag")}
    for name, (host, source) in expected.items():
        assert seen[name] == [host, host, source], (name, seen[name])
