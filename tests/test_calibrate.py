"""``loadkit calibrate`` and the load processes ``loadkit plan`` states from it.

The calibration test is real: the catch-all server in its own process, the scenario's visitors in
``loadkit calibrate``'s, the file written to a cache folder of the test's (LOADKIT_CACHE_DIR), then
``loadkit plan`` reading it.
"""

from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadkit.calibration import (Calibration, calibration_scenario, find_calibration, journeys_fingerprint,
                                 load_processes, processes_needed, save_calibration, this_machine)
from loadkit.calibration.derive import EXTRACTED_VALUE
from loadkit.calibration.store import FILE_NAME
from loadkit.calibration.target import PAGE, CatchAllServer
from loadkit.scenario import bundled_scenarios_dir, load_scenario, parse_scenario
from loadkit.traffic import build_plan
from tests.helpers import run_cli, write_scenario


def _smoke_with_peak(tmp_path: Path, peak: float) -> Path:
    """The bundled smoke scenario (the same journeys) at another peak, as a file of the test's."""
    doc = yaml.safe_load((bundled_scenarios_dir() / "smoke.yaml").read_text(encoding="utf-8"))
    doc["data"]["product"]["csv"] = str(bundled_scenarios_dir() / doc["data"]["product"]["csv"])
    doc["traffic"]["peak"] = f"{peak:g}/s"
    return write_scenario(tmp_path / f"smoke-{peak:g}.yaml", doc)


def _plan_json(spec: str, env: dict[str, str]) -> dict[str, Any]:
    done = run_cli("plan", spec, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout)["load_processes"])


@pytest.mark.integration
@pytest.mark.solo  # the calibration loads a core on purpose: beside other tests its figures would be theirs too
def test_calibrate_saves_a_rate_and_plan_states_the_processes_it_needs(tmp_path: Path) -> None:
    env = {"LOADKIT_CACHE_DIR": str(tmp_path / "cache")}
    done = run_cli("calibrate", "smoke", "--seconds", "4", env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "visitors/s at 70% of a core" in done.stdout and "saved to" in done.stdout
    saved = json.loads((tmp_path / "cache" / FILE_NAME).read_text(encoding="utf-8"))["calibrations"]
    assert len(saved) == 1
    entry = saved[0]
    assert entry["scenario"] == "smoke" and entry["journeys"] == journeys_fingerprint(load_scenario("smoke"))
    assert entry["machine"]["cores"] == os.cpu_count()
    assert entry["per_process_per_s"] > 20 and entry["cpu_ms_per_visit"] > 0
    # the smoke journeys are 2 or 4 requests (3:1): about 2.5 a visit, whatever the machine
    assert 2.0 <= entry["requests_per_visit"] <= 3.0
    per_process = entry["per_process_per_s"]

    # smoke's own peak (12/s with its headroom probe) is one process's work
    small = _plan_json("smoke", env)
    assert small["needed"] == 1 and small["warning"] is None
    assert small["per_process_per_s"] == per_process

    # the same journeys at a peak beyond this machine's cores: the processes, and the warning
    cores = os.cpu_count() or 1
    big_peak = per_process * (cores + 1.5) / 1.5  # smoke's headroom probe goes to 1.5x the peak
    big = _smoke_with_peak(tmp_path, big_peak)
    found = _plan_json(str(big), env)
    assert found["needed"] == math.ceil(found["peak_per_s"] / per_process) > cores
    assert "run workers on more machines" in found["warning"]
    text = run_cli("plan", str(big), env=env).stdout
    assert f"needs {found['needed']} (" in text and f"this machine has {cores} core" in text

    # the figure comes from the file: another rate saved there changes the count
    entry["per_process_per_s"] = 1.0
    (tmp_path / "cache" / FILE_NAME).write_text(json.dumps({"schema": 1, "calibrations": [entry]}),
                                               encoding="utf-8")
    assert _plan_json("smoke", env)["needed"] == 12


def test_plan_without_a_calibration_says_how_to_get_one(tmp_path: Path) -> None:
    env = {"LOADKIT_CACHE_DIR": str(tmp_path / "empty")}
    done = run_cli("plan", "tv-spot", env=env)
    assert done.returncode == 0, done.stderr
    assert "load processes: not calibrated on this machine; `loadkit calibrate tv-spot`" in done.stdout
    found = _plan_json("tv-spot", env)
    assert found["needed"] is None and found["per_process_per_s"] is None and "loadkit calibrate" in found["missing"]


def test_calibrate_refuses_a_locustfile_and_bad_seconds_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text("from locust import HttpUser, task\n", encoding="utf-8")
    spec = write_scenario(tmp_path / "lf.yaml", {"name": "lf", "locustfile": "tasks.py",
                                                 "traffic": {"profile": "constant", "rate": "1/s",
                                                             "duration": "5s"}})
    env = {"LOADKIT_CACHE_DIR": str(tmp_path / "cache")}
    done = run_cli("calibrate", str(spec), env=env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "locustfile" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("calibrate", "smoke", "--seconds", "1000", env=env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--seconds" in done.stderr
    assert not (tmp_path / "cache").exists()


def test_a_calibration_is_found_only_for_its_machine_and_journeys(tmp_path: Path) -> None:
    env = {"LOADKIT_CACHE_DIR": str(tmp_path)}
    smoke, tv = load_scenario("smoke"), load_scenario("tv-spot")
    machine = this_machine()
    cal = Calibration(scenario="smoke", journeys=journeys_fingerprint(smoke), machine=machine,
                      measured_at="2026-12-02T05:00:00Z", per_process_per_s=100.0, cpu_ms_per_visit=7.0,
                      measured_per_s=100.0, measured_cpu=0.7, requests_per_visit=2.5, seconds=5.0, limited_by="cpu")
    save_calibration(cal, env)
    save_calibration(cal, env)  # saved again: replaced, not repeated
    assert len(json.loads((tmp_path / FILE_NAME).read_text())["calibrations"]) == 1
    assert find_calibration(smoke, env, machine) == cal
    assert find_calibration(tv, env, machine) is None  # other journeys
    other = type(machine)(**{**machine.__dict__, "cores": machine.cores + 8})
    assert find_calibration(smoke, env, other) is None  # another machine
    # the traffic does not change a visit's cost: a faster smoke has the same calibration
    doc = smoke.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["traffic"]["peak"] = 500.0
    faster = parse_scenario(doc)
    assert journeys_fingerprint(faster) == journeys_fingerprint(smoke)
    view = load_processes(faster, build_plan(faster), "faster", env, machine)
    assert view.needed == processes_needed(750.0, 100.0) == 8  # the headroom probe, 1.5x 500/s
    assert view.lines[0].startswith("load processes: peak 750 visitors/s needs 8 (100/s per process")
    assert (view.warning is None) == (machine.cores >= 8)


@pytest.mark.parametrize("damage", [{"per_process_per_s": 0}, {"per_process_per_s": "fast"},
                                    {"cpu_ms_per_visit": None}, {"measured_cpu": float("nan")}, {"machine": "here"},
                                    {"limited_by": 3}])
def test_a_damaged_saved_calibration_is_measured_again_not_a_traceback(tmp_path: Path,
                                                                      damage: dict[str, Any]) -> None:
    tv = load_scenario("tv-spot")
    cal = Calibration(scenario="tv-spot", journeys=journeys_fingerprint(tv), machine=this_machine(),
                      measured_at="2026-12-02T05:00:00Z", per_process_per_s=100.0, cpu_ms_per_visit=7.0,
                      measured_per_s=100.0, measured_cpu=0.7, requests_per_visit=2.5, seconds=5.0, limited_by="cpu")
    env = {"LOADKIT_CACHE_DIR": str(tmp_path)}
    save_calibration(cal, env)
    assert find_calibration(tv, env) == cal
    doc = json.loads((tmp_path / FILE_NAME).read_text())
    doc["calibrations"][0].update(damage)  # edited by hand, or written by something else
    (tmp_path / FILE_NAME).write_text(json.dumps(doc))
    assert find_calibration(tv, env) is None
    view = load_processes(tv, build_plan(tv), "tv-spot", env)
    assert view.needed is None and "not calibrated on this machine" in view.lines[0]


def test_processes_needed_rounds_up() -> None:
    assert processes_needed(0.5, 350) == 1
    assert processes_needed(700, 350) == 2
    assert processes_needed(701, 350) == 3


def test_the_calibration_scenario_keeps_every_request_and_drops_waits_checks_and_other_hosts() -> None:
    doc = {"name": "x", "allowed_hosts": ["api.example.com"],
           "traffic": {"profile": "constant", "rate": "1/s", "duration": "5s"},
           "journeys": [{"name": "j", "steps": [
               {"get": "/p", "extract": {"token": {"regex": "t=(\\w+)"}}, "expect": {"status": 200}},
               {"think": "1s..3s"},
               {"post": "https://api.example.com/cart?x=1", "form": {"t": "{token}"}, "expect": {"status": 303}},
           ]}],
           "slos": [{"metric": "p95", "below": "1s"}]}
    derived = calibration_scenario(parse_scenario(doc), "http://127.0.0.1:9")
    steps = derived.journeys[0].steps
    assert [s.method for s in steps] == ["GET", "POST"]
    assert steps[1].path == "/cart?x=1"
    assert all(not s.extract and s.expect.status is None for s in steps)
    assert derived.target == "http://127.0.0.1:9" and derived.allowed_hosts == [] and not derived.slos
    assert derived.data["token"].values == [EXTRACTED_VALUE]  # type: ignore[union-attr]


def test_the_catch_all_server_answers_everything_including_pipelined_requests() -> None:
    with CatchAllServer() as server, socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        body = b"a=1&b=2"
        sock.sendall(b"POST /cart HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n" + body
                     + b"GET /anything?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                     + b"DELETE /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 3 and received.count(PAGE) == 3
    assert received.rstrip().endswith(PAGE.rstrip())


def test_a_capacity_search_is_said_to_run_in_one_process(tmp_path: Path) -> None:
    env = {"LOADKIT_CACHE_DIR": str(tmp_path)}
    search = parse_scenario({"name": "s", "traffic": {"profile": "search", "start": "5/s"},
                             "journeys": [{"name": "look", "steps": [{"get": "/"}]}]})
    machine = this_machine()
    assert "`loadkit calibrate s.yaml`" in load_processes(search, build_plan(search), "s.yaml", env, machine).lines[0]
    save_calibration(Calibration(scenario="s", journeys=journeys_fingerprint(search), machine=machine,
                                 measured_at="2026-12-02T05:00:00Z", per_process_per_s=900.0, cpu_ms_per_visit=0.8,
                                 measured_per_s=900.0, measured_cpu=0.7, requests_per_visit=1.0, seconds=5.0,
                                 limited_by="cpu"), env)
    view = load_processes(search, build_plan(search), "s.yaml", env, machine)
    assert view.needed is None and view.warning is None
    assert "one process starts up to 900/s on this machine (calibrated 2026-12-02)" in view.lines[0]
