"""``loadkit compare``: noise-aware decisions, from synthetic run directories and from real runs."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from loadkit.compare import compare_runs
from loadkit.data import load_run
from loadkit.demo import DEFAULT_SERVICE_MS, DemoConfig

from .helpers import run_cli, write_scenario
from .synth import make_run_dir

DOC = {"name": "steady", "traffic": {"profile": "constant", "rate": "20/s", "duration": "30s"},
       "journeys": [{"name": "look", "steps": [{"get": "/"}, {"get": "/products/{id}"}]}],
       "data": {"id": {"values": ["a", "b"]}}}


def _lognormal(factor: float, seed: int, fail_share: float = 0.0) -> Any:
    rng = random.Random(seed)

    def shape(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = int(rate)
        fails = sum(1 for _ in range(n) if rng.random() < fail_share)
        return [rng.lognormvariate(3, 0.4) * factor for _ in range(n)], ({"http_500": fails} if fails else {})
    return shape


def test_reruns_of_the_same_distribution_are_not_flagged(tmp_path: Path) -> None:
    base = load_run(make_run_dir(tmp_path / "base", DOC, _lognormal(1.0, 1)))
    for seed in range(2, 7):
        rerun = load_run(make_run_dir(tmp_path / f"rerun-{seed}", DOC, _lognormal(1.0, seed)))
        comparison = compare_runs(base, rerun)
        assert not comparison.regressions, [c for c in comparison.regressions]
        assert not comparison.improvements


def test_a_two_times_slower_run_is_a_regression_everywhere(tmp_path: Path) -> None:
    base = load_run(make_run_dir(tmp_path / "base", DOC, _lognormal(1.0, 1)))
    slow = load_run(make_run_dir(tmp_path / "slow", DOC, _lognormal(2.0, 2)))
    comparison = compare_runs(base, slow)
    flagged = {(c.endpoint, c.metric) for c in comparison.regressions}
    for endpoint in ("all requests", "GET /", "GET /products/{id}"):
        for metric in ("p50", "p95"):
            assert (endpoint, metric) in flagged
    p50 = next(c for c in comparison.changes if c.endpoint == "all requests" and c.metric == "p50")
    assert p50.relative == pytest.approx(1.0, abs=0.15)
    assert p50.low is not None and p50.low > 1.1
    # and the other way round it is an improvement, not a regression
    back = compare_runs(slow, base)
    assert not back.regressions and back.improvements


def test_error_rate_increase_beyond_noise_is_a_regression(tmp_path: Path) -> None:
    base = load_run(make_run_dir(tmp_path / "base", DOC, _lognormal(1.0, 1, fail_share=0.0)))
    failing = load_run(make_run_dir(tmp_path / "failing", DOC, _lognormal(1.0, 2, fail_share=0.05)))
    comparison = compare_runs(base, failing)
    errors = next(c for c in comparison.changes if c.endpoint == "all requests" and c.metric == "error_rate")
    assert errors.decision == "regression"
    assert errors.new == pytest.approx(0.05, abs=0.02)


def test_compare_cli_writes_html_markdown_and_json_and_escapes_names(tmp_path: Path) -> None:
    hostile = dict(DOC, journeys=[{"name": "x", "steps": [{"get": "/a</td><script>alert(1)</script>",
                                                            "name": "<img src=x onerror=alert(1)>|*"}]}])
    base = make_run_dir(tmp_path / "base", hostile, _lognormal(1.0, 1))
    slow = make_run_dir(tmp_path / "slow", hostile, _lognormal(3.0, 2))
    out = tmp_path / "out" / "cmp.html"
    step_summary = tmp_path / "step-summary.md"
    result = run_cli("compare", str(base), str(slow), "--out", str(out), env={"GITHUB_STEP_SUMMARY": str(step_summary)})
    assert result.returncode == 1, result.stderr
    assert "loadkit compare" in step_summary.read_text(encoding="utf-8")
    assert "Regression" in result.stdout
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html and "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    markdown = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "<img" not in markdown and "\\|" in markdown
    document = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert document["regression"] is True
    same = run_cli("compare", str(base), str(base))
    assert same.returncode == 0, same.stdout
    assert (base / "compare.html").exists()


def test_compare_cli_rejects_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    result = run_cli("compare", str(tmp_path), str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.integration
@pytest.mark.timing(seconds=46)
def test_a_two_times_slower_storefront_fails_the_baseline_gate_and_compare_and_a_rerun_passes_both(
        demo_factory: Any, tmp_path: Path) -> None:
    """`loadkit run --baseline latest-good`: a rerun passes; a two times slower storefront exits 1, and the
    report, summary.json and summary.md carry the comparison. `loadkit compare` of the same runs agrees."""
    scenario = write_scenario(tmp_path / "steady.yaml", {
        "name": "steady", "traffic": {"profile": "constant", "rate": "20/s", "duration": "12s"},
        "journeys": [{"name": "look", "steps": [{"get": "/"}, {"get": "/products/kitchen-01"}]}]})
    reports = tmp_path / "reports"
    # Pages of 100-125 ms rather than the defaults' 20-25 ms: a busy machine adds tens of ms to a few of a
    # short run's responses, which would double the p95 of 25 ms pages (a regression the gate rightly
    # sees) but is noise beside 100 ms ones; two times slower is two times slower either way.
    normal = demo_factory(DemoConfig(service_ms={page: 5 * ms for page, ms in DEFAULT_SERVICE_MS.items()}))
    slower = demo_factory(DemoConfig(service_ms={page: 10 * ms for page, ms in DEFAULT_SERVICE_MS.items()}))
    nothing = run_cli("run", str(scenario), "--target", normal.url, "--out", str(reports / "0"), "--baseline",
                      "latest-good", "--quiet")
    assert nothing.returncode == 2 and "no earlier run of steady" in nothing.stderr  # before any load
    assert not (reports / "0").exists()
    # one run at a time: load generators on two cores pause each other, and a run whose generator was
    # paused is rightly inconclusive
    first = run_cli("run", str(scenario), "--target", normal.url, "--out", str(reports / "1"), "--quiet")
    assert first.returncode == 0, first.stderr
    rerun = run_cli("run", str(scenario), "--target", normal.url, "--out", str(reports / "2"), "--quiet",
                    "--baseline", "latest-good")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "no regression beyond noise" in rerun.stdout
    slow = run_cli("run", str(scenario), "--target", slower.url, "--out", str(reports / "3"), "--quiet",
                   "--baseline", str(reports / "1"))
    assert slow.returncode == 1, slow.stdout + slow.stderr
    summary = json.loads((reports / "3" / "summary.json").read_text(encoding="utf-8"))
    assert summary["verdict"] == "survives" and summary["baseline"]["regression"] is True
    regressions = {(c["endpoint"], c["metric"]) for c in summary["baseline"]["changes"]
                   if c["decision"] == "regression"}
    assert ("GET /", "p50") in regressions
    assert "regression beyond noise" in (reports / "3" / "summary.md").read_text(encoding="utf-8")
    assert 'id="baseline-changes"' in (reports / "3" / "report.html").read_text(encoding="utf-8")
    # re-rendering keeps the comparison, and exits as the run did: 1 for the regression beyond noise
    assert run_cli("report", str(reports / "3")).returncode == 1
    assert "baseline" in json.loads((reports / "3" / "summary.json").read_text(encoding="utf-8"))
    # `loadkit compare` of the same runs: the slower storefront is flagged on every endpoint, the rerun is not
    flagged = run_cli("compare", str(reports / "1"), str(reports / "3"))
    assert flagged.returncode == 1, flagged.stdout
    document = json.loads((reports / "3" / "compare.json").read_text(encoding="utf-8"))
    regressions = {(c["endpoint"], c["metric"]) for c in document["changes"] if c["decision"] == "regression"}
    assert {("all requests", "p50"), ("GET /", "p50"), ("GET /products/kitchen-01", "p50")} <= regressions
    same = run_cli("compare", str(reports / "1"), str(reports / "2"))
    assert same.returncode == 0, same.stdout
    document = json.loads((reports / "2" / "compare.json").read_text(encoding="utf-8"))
    assert document["regression"] is False
