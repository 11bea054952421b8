"""Nothing cut short silently: visitors still walking when the plan ends are counted where they stood.

Real short runs against the demo storefront (and a locustfile against a counting server) whose journeys last
far longer than the plan: each visitor thinks for a minute at a known step, so when the plan and its drain
(``request_timeout`` + 5 s) end, every visitor is stopped at that step. run.json, summary.json, report.html
and summary.md must say how many, in which journey and at which step (or, for a locustfile, which class and
task).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadkit.demo import DemoConfig
from tests.countserver import CountingServer
from tests.helpers import read_summary, run_cli, write_scenario

pytestmark = pytest.mark.integration

# Two journeys, interleaved in exact proportion (uniform spacing): 2 visitors/s for 2 s is 4 visitors, two
# of each, each stopped at its minute of thought.
TWO_JOURNEYS = [
    {"name": "linger", "steps": [{"get": "/"}, {"think": "60s"}, {"get": "/cart"}]},
    {"name": "compare", "steps": [{"get": "/"}, {"get": "/cart"}, {"think": "60s"}, {"get": "/"}]},
]
EXPECTED = [{"journey": "compare", "step_index": 3, "step": "think 60s", "visitors": 2},
            {"journey": "linger", "step_index": 2, "step": "think 60s", "visitors": 2}]


def _scenario(tmp_path: Path, **traffic: Any) -> Path:
    return write_scenario(tmp_path / "long.yaml", {
        "name": "long-visits", "request_timeout": "1s",
        "traffic": {"profile": "constant", "rate": "2/s", "duration": "2s", "spacing": "uniform", **traffic},
        "journeys": TWO_JOURNEYS})


def _generator(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["generator"])


def test_visitors_cut_short_are_placed_by_journey_and_step(tmp_path: Path, demo_factory: Any) -> None:
    site = demo_factory(DemoConfig())
    out = tmp_path / "out"
    done = run_cli("run", str(_scenario(tmp_path)), "--target", site.url, "--out", str(out), "--quiet")
    summary = read_summary(out)
    assert summary["traffic"]["delivered_arrivals"] == 4, done.stderr
    assert summary["traffic"]["cut_short"] == 4
    assert summary["traffic"]["cut_short_at"] == EXPECTED
    assert summary["schema_version"] == 1
    assert _generator(out)["cut_short_at"] == EXPECTED  # the run directory keeps it: `loadkit report` rebuilds
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "4 visitors were still walking when the plan ended and its drain was over" in html
    assert "<td>linger</td><td>2. think 60s</td><td class=\"num\">2</td>" in html
    assert "<td>compare</td><td>3. think 60s</td><td class=\"num\">2</td>" in html
    md = (out / "summary.md").read_text(encoding="utf-8")
    assert "**4 visitors were stopped mid-journey**" in md
    assert "- linger, step 2 (think 60s): 2" in md and "- compare, step 3 (think 60s): 2" in md


def test_workers_report_theirs_to_the_master(tmp_path: Path, demo_factory: Any) -> None:
    site = demo_factory(DemoConfig())
    out = tmp_path / "out"
    done = run_cli("run", str(_scenario(tmp_path)), "--target", site.url, "--out", str(out), "--quiet",
                   "--workers", "2")
    summary = read_summary(out)
    assert summary["run"]["workers"] == 2, done.stderr
    assert summary["traffic"]["delivered_arrivals"] == 4
    # each worker walks its share of the plan; the master adds up where their visitors stood
    assert sum(r["visitors"] for r in summary["traffic"]["cut_short_at"]) == summary["traffic"]["cut_short"] == 4
    assert {(r["journey"], r["step_index"], r["step"]) for r in summary["traffic"]["cut_short_at"]} <= \
        {(r["journey"], r["step_index"], r["step"]) for r in EXPECTED}


@pytest.mark.parametrize("workers", [0, 2])
def test_looping_users_mid_journey_when_the_plan_ends(tmp_path: Path, demo_factory: Any, workers: int) -> None:
    site = demo_factory(DemoConfig())
    out = tmp_path / "out"
    scenario = write_scenario(tmp_path / "users.yaml", {
        "name": "long-users", "request_timeout": "1s",
        "traffic": {"model": "users", "profile": "constant", "rate": 2, "duration": "2s"},
        "journeys": [TWO_JOURNEYS[0]]})
    done = run_cli("run", str(scenario), "--target", site.url, "--out", str(out), "--quiet",
                   *(("--workers", str(workers)) if workers else ()))
    summary = read_summary(out)
    assert summary["traffic"]["cut_short_at"] == [
        {"journey": "linger", "step_index": 2, "step": "think 60s", "visitors": 2}], done.stderr
    assert summary["traffic"]["cut_short"] == 2
    assert "2 users were stopped mid-journey" in (out / "summary.md").read_text(encoding="utf-8")


LINGERING_LOCUSTFILE = '''
import time

from locust import HttpUser, task


class Shopper(HttpUser):
    @task
    def linger(self):
        self.client.get("/")
        time.sleep(60)
'''


def test_a_locustfile_visit_cut_short_names_its_class_and_task(tmp_path: Path) -> None:
    (tmp_path / "lingering.py").write_text(LINGERING_LOCUSTFILE, encoding="utf-8")
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "lingering", "locustfile": "lingering.py", "request_timeout": "1s",
        "traffic": {"profile": "constant", "rate": "2/s", "duration": "2s"}})
    out = tmp_path / "out"
    with CountingServer() as site:
        done = run_cli("run", str(scenario), "--target", site.url, "--out", str(out), "--quiet", "--skip-rehearsal")
    summary = read_summary(out)
    assert summary["traffic"]["cut_short_at"] == [
        {"journey": "Shopper", "step_index": None, "step": "linger", "visitors": 4}], done.stderr
    assert "- Shopper, task linger: 4" in (out / "summary.md").read_text(encoding="utf-8")


def test_a_run_stopped_early_says_so_where_its_visitors_stood(tmp_path: Path) -> None:
    """From disk alone (no load): an interrupted run's cut-short visitors, as run.json keeps them."""
    from loadkit.report import render_run_dir
    from tests.synth import make_run_dir, scenario_doc

    run = make_run_dir(tmp_path / "run", scenario_doc(), lambda t, endpoint, rate: ([40.0] * max(1, round(rate)), {}),
                       interrupted=True)
    meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    rows = [{"journey": "buy <now>", "step_index": 4, "step": "POST /checkout", "visitors": 3},
            {"journey": "browse", "step_index": 1, "step": "GET /", "visitors": 1}]
    meta["generator"] = {"cpu_percent_max": 12.0, "cut_short": 4, "cut_short_at": rows}
    (run / "run.json").write_text(json.dumps(meta), encoding="utf-8")
    render_run_dir(run)
    assert read_summary(run)["traffic"]["cut_short_at"] == rows
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "4 visitors were still walking when the run was stopped early" in html
    assert "<td>buy &lt;now&gt;</td><td>4. POST /checkout</td>" in html  # a journey's name is escaped
    md = (run / "summary.md").read_text(encoding="utf-8")
    assert "**4 visitors were stopped mid-journey** when the run was stopped early:" in md
    assert "- buy &lt;now&gt;, step 4 (POST /checkout): 3" in md
