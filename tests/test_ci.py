"""Gating a launch in CI: exit codes, job summaries, GitLab's report, configuration layers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadkit.config import resolve
from loadkit.demo import DemoConfig
from loadkit.errors import UsageError
from loadkit.report import render_run_dir
from loadkit.scenario import parse_scenario
from tests.helpers import read_summary, run_cli, write_scenario
from tests.synth import make_run_dir, scenario_doc

SCENARIO = parse_scenario({"name": "c", "target": "http://127.0.0.1:1/", "traffic": {"peak": "5/s"},
                           "journeys": [{"name": "j", "steps": [{"get": "/"}]}]})


def test_flags_beat_environment_beats_scenario_beats_defaults() -> None:
    config = resolve({"target": None, "rate_scale": None}, {}, SCENARIO)
    assert config.target == "http://127.0.0.1:1" and config.sources["target"] == "scenario"
    assert config.rate_scale == 1.0 and config.sources["rate_scale"] == "default"
    env = {"LOADKIT_TARGET": "http://127.0.0.1:2", "LOADKIT_RATE_SCALE": "0.5", "LOADKIT_STRICT": "true"}
    config = resolve({}, env, SCENARIO)
    assert (config.target, config.rate_scale, config.strict) == ("http://127.0.0.1:2", 0.5, True)
    assert config.sources["target"] == config.sources["rate_scale"] == "env"
    config = resolve({"target": "http://127.0.0.1:3", "rate_scale": 0.25}, env, SCENARIO)
    assert (config.target, config.rate_scale) == ("http://127.0.0.1:3", 0.25)
    assert config.sources["target"] == "flag" and config.sources["strict"] == "env"


def test_a_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(UsageError, match="LOADKIT_RATE_SCALE"):
        resolve({}, {"LOADKIT_RATE_SCALE": "fast"}, SCENARIO)


def test_recorded_config_redacts_credentials() -> None:
    config = resolve({"target": "https://user:hunter2@shop.example.test/"}, {}, SCENARIO)
    recorded = json.dumps(config.recorded())
    assert "hunter2" not in recorded
    assert config.recorded()["target"]["source"] == "flag"


def test_gitlab_load_performance_report(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(),
                       lambda t, e, r: ([30.0] * max(1, int(r)), {"http_503": 1} if t == 5 else {}))
    render_run_dir(run)
    doc = json.loads((run / "load-performance.json").read_text())
    metrics = doc["metrics"]
    assert metrics["http_reqs"]["count"] == read_summary(run)["totals"]["requests"]
    assert metrics["http_reqs"]["rate"] > 0
    assert metrics["http_req_waiting"]["p(95)"] == pytest.approx(30, rel=0.01)
    assert metrics["checks"]["fails"] == 2 and metrics["checks"]["passes"] == metrics["http_reqs"]["count"] - 2
    assert "not time to first byte" in doc["loadkit"]["note"]


@pytest.mark.integration
def test_a_failing_slo_fails_the_job_and_fills_the_step_summary(tmp_path: Path, demo_factory: Any) -> None:
    # a home page of 600 ms against a limit of 1 ms: broken by more than any stall of a busy machine, so the
    # break is the site's whatever else runs (docs/verdict.md), and the job fails
    shop = demo_factory(DemoConfig(service_ms={**DemoConfig().service_ms, "home": 600.0}))
    summary_file = tmp_path / "step-summary.md"
    summary_file.write_text("earlier step\n")
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "impossible", "traffic": {"profile": "constant", "rate": "5/s", "duration": "3s"},
        "journeys": [{"name": "j", "steps": [{"get": "/", "name": "home | `page` <b>"}]}],
        "slos": [{"metric": "p50", "below": "1ms"}]})
    out = tmp_path / "run"
    result = run_cli("run", str(scenario), "--out", str(out),
                     env={"LOADKIT_TARGET": shop.url, "GITHUB_STEP_SUMMARY": str(summary_file)})
    assert result.returncode == 1, result.stdout + result.stderr
    text = summary_file.read_text()
    assert text.startswith("earlier step\n")  # appended, not overwritten
    assert "**fails**" in text and len(text) < 4200
    assert "<b>" not in text
    config = json.loads((out / "config.json").read_text())
    assert config["target"]["source"] == "env"
    assert read_summary(out)["verdict"] == "fails"


def test_exit_codes_follow_the_verdict() -> None:
    from loadkit.api import verdict_exit_code

    assert verdict_exit_code("at-risk", strict=False, interrupted=False) == 0
    assert verdict_exit_code("at-risk", strict=True, interrupted=False) == 1
    assert verdict_exit_code("fails", strict=False, interrupted=False) == 1
    assert verdict_exit_code("survives", strict=True, interrupted=False) == 0
    assert verdict_exit_code("inconclusive", strict=False, interrupted=False) == 3
    assert verdict_exit_code("survives", strict=False, interrupted=True) == 3
