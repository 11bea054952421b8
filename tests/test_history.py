"""``loadkit history``: every run under a folder, per scenario, with the changes between runs (no load sent)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from loadkit.history import ci_context, collect, history_dict, mark_changes
from loadkit.report import render_run_dir
from loadkit.report.history import render_history_html
from tests.helpers import run_cli
from tests.synth import make_run_dir, scenario_doc


def _site(ms: float) -> Any:
    def shape(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = max(1, int(round(rate)))
        return [ms * (0.9 + 0.2 * ((i * 37 + t * 11) % 10) / 10) for i in range(n)], {}
    return shape


def _run(root: Path, name: str, started: str, ms: float, scenario: str = "checkout", *, interrupted: bool = False,
         commit: str | None = None) -> Path:
    doc = scenario_doc(name=scenario)
    run = make_run_dir(root / name, doc, _site(ms), interrupted=interrupted)
    meta = json.loads((run / "run.json").read_text())
    meta.update(started_at=started, scenario=scenario, ci={"commit": commit, "branch": "main"} if commit else {})
    (run / "run.json").write_text(json.dumps(meta))
    render_run_dir(run)
    return run


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "reports"
    _run(root, "a1", "2026-11-01T02:00:00+00:00", 40, commit="aaaaaaaaaaaa1")
    _run(root, "a2", "2026-11-02T02:00:00+00:00", 41, commit="aaaaaaaaaaaa2")   # noise: no change
    _run(root, "a3", "2026-11-03T02:00:00+00:00", 120, commit="aaaaaaaaaaaa3")  # three times slower
    _run(root, "nested/b1", "2026-11-01T03:00:00+00:00", 40, scenario="browse")
    _run(root, "b2", "2026-11-02T03:00:00+00:00", 40, scenario="browse", interrupted=True)
    damaged = root / "damaged"
    damaged.mkdir()
    (damaged / "summary.json").write_text("{not json")
    old = root / "old"  # an older summary: no schema_version, fewer fields
    old.mkdir()
    (old / "summary.json").write_text(json.dumps({"verdict": "survives", "run": {
        "scenario": "legacy", "started_at": "2025-01-01T00:00:00+00:00", "complete": True},
        "totals": {"p95_ms": 88.0}}))
    return root


def test_history_reads_every_run_and_marks_changes_beyond_noise(runs: Path) -> None:
    history = mark_changes(collect(runs))
    names = [s.name for s in history.scenarios]
    assert names == ["browse", "checkout", "legacy"]
    checkout = next(s for s in history.scenarios if s.name == "checkout")
    assert [r.path.name for r in checkout.runs] == ["a1", "a2", "a3"]
    assert [r.change for r in checkout.runs] == [None, "no change", "regression"]
    assert any(d.startswith("p95 of all requests: +") for d in checkout.runs[2].change_details)
    assert checkout.runs[2].commit == "aaaaaaaaaaaa3"
    browse = next(s for s in history.scenarios if s.name == "browse")
    assert browse.runs[1].interrupted and browse.runs[1].change == "not compared"
    legacy = next(s for s in history.scenarios if s.name == "legacy")
    assert legacy.runs[0].schema_version == 0 and legacy.runs[0].p95_ms == 88.0
    assert any(n.startswith("damaged: skipped") for n in history.notes)


def test_history_page_and_json(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "site" / "history.html"
    done = run_cli("history", str(runs), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "checkout: 3 runs; latest" in done.stdout and "regression against the run before" in done.stdout
    page = out.read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page and "<script" not in page
    assert 'href="../reports/a3/report.html"' in page  # relative links to each run's report
    doc = json.loads((out.parent / "history.json").read_text(encoding="utf-8"))
    assert doc["runs"] == 6
    checkout = next(s for s in doc["scenarios"] if s["name"] == "checkout")
    assert checkout["runs"][2]["change"] == "regression"
    assert checkout["runs"][2]["report"] == "../reports/a3/report.html"
    assert (out.parent / checkout["runs"][2]["report"]).is_file()


def test_history_usage_errors(tmp_path: Path) -> None:
    missing = run_cli("history", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = run_cli("history", str(tmp_path / "empty"))
    assert empty.returncode == 2 and "no run directory" in empty.stderr


def test_ci_context_reads_the_job_s_commit_and_branch() -> None:
    assert ci_context({}) == {}
    gh = ci_context({"GITHUB_SHA": "abc", "GITHUB_REF_NAME": "main", "GITHUB_SERVER_URL": "https://github.com",
                     "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "7"})
    assert gh == {"commit": "abc", "branch": "main", "job_url": "https://github.com/o/r/actions/runs/7"}
    assert ci_context({"CI_COMMIT_SHA": "def", "CI_COMMIT_REF_NAME": "dev"}) == {"commit": "def", "branch": "dev"}


def test_older_runs_are_listed_without_a_comparison(runs: Path) -> None:
    history = mark_changes(collect(runs), compare_last=1)
    checkout = next(s for s in history.scenarios if s.name == "checkout")
    assert [r.change for r in checkout.runs] == [None, "not compared", "regression"]
    html = render_history_html(history, runs / "history.html")
    assert "older than the newest 1 runs" in html
    assert history_dict(history, runs)["scenarios"][1]["runs"][0]["run_dir"] == "a1"


def test_history_page_in_a_browser(runs: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api")
    out = runs / "history.html"
    out.write_text(render_history_html(mark_changes(collect(runs)), out), encoding="utf-8")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_context(java_script_enabled=False).new_page()
        requests: list[str] = []
        problems: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text))
        page.goto(out.as_uri())
        assert requests == [out.as_uri()] and problems == []
        # three trends for each of two scenarios; the legacy run has a p95 only
        assert page.locator("svg.chart").count() == 7
        assert page.locator("svg.chart circle").count() >= 5
        assert page.locator("table.history tbody tr").count() == 6
        browser.close()


def test_journeys_reach_the_history_json_and_page(runs: Path, tmp_path: Path) -> None:
    for name, rate, p95 in (("a1", 0.99, 3200.0), ("a3", 0.62, 9100.0)):
        path = runs / name / "summary.json"
        summary = json.loads(path.read_text())
        summary["journeys"] = [{"name": "buy", "started": 100, "completed": int(rate * 100), "failed": 1,
                                "cut_short": 0, "success_rate": rate, "p95_ms": p95}]
        path.write_text(json.dumps(summary))
    history = collect(runs)
    doc = history_dict(history, tmp_path)
    checkout = next(s for s in doc["scenarios"] if s["name"] == "checkout")["runs"]
    assert [r["journeys"] for r in checkout] == [
        [{"name": "buy", "started": 100, "completed": 99, "success_rate": 0.99, "p95_ms": 3200.0}], [],
        [{"name": "buy", "started": 100, "completed": 62, "success_rate": 0.62, "p95_ms": 9100.0}]]
    html = render_history_html(history, tmp_path / "history.html")
    assert "checkout: journey buy: visits completed" in html
    assert "buy 62%" in html and "buy 99%" in html
