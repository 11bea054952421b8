"""Scenario errors are not site failures: the rehearsal before the load, and scenario errors during it.

The integration tests run the CLI against the demo storefront on 127.0.0.1; the rest read synthetic run
directories (no load).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadkit.config import resolve
from loadkit.data import append_jsonl, load_run
from loadkit.analysis import analyze
from loadkit.redaction import redact_text
from loadkit.report import render_run_dir
from loadkit.scenario import parse_scenario
from loadkit.verdict import judge
from tests.helpers import read_summary, run_child, run_cli, write_scenario
from tests.synth import make_run_dir, scenario_doc

SECRET = "hunter2-s3cret"

MISSING_PAGE = {"name": "missing", "traffic": {"profile": "constant", "rate": "4/s", "duration": "4s"},
                "journeys": [{"name": "browse", "weight": 1, "steps": [{"get": "/"}, {"get": "/no-such-page"}]},
                             {"name": "look", "weight": 1, "steps": [{"get": "/products/kitchen-01"}]}],
                "slos": [{"metric": "p95", "below": "2s"}, {"metric": "error_rate", "below": "1%"}]}

RAISING_LOCUSTFILE = f'''
from locust import HttpUser, task


class Shopper(HttpUser):
    @task
    def look(self):
        self.client.get("/", name="home")
        raise ValueError("no basket at http://bob:{SECRET}@shop.test/cart?token={SECRET}")
'''


def _site(demo_factory: Any) -> Any:
    from loadkit.demo import DemoConfig

    return demo_factory(DemoConfig())


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("loadkit: error:")]


@pytest.mark.integration
def test_a_broken_step_stops_the_run_before_any_load(tmp_path: Path, demo_factory: Any) -> None:
    site = _site(demo_factory)
    doc = {**MISSING_PAGE, "journeys": [*MISSING_PAGE["journeys"], {"name": "buy", "steps": [
        {"get": "/products/kitchen-01", "extract": {"csrf": {"regex": 'data-none="([^"]+)"'}}},
        {"post": "/cart", "form": {"product": "kitchen-01", "csrf_token": "{csrf}"}}]},
        {"name": "check", "steps": [{"get": "/cart", "expect": {"contains": "Not on this page"}}]}]}
    scenario = write_scenario(tmp_path / "s.yaml", doc)
    out = tmp_path / "run"
    before = site.stats()["served"]
    result = run_cli("run", str(scenario), "--target", site.url, "--out", str(out), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    errors = _errors(result.stderr)
    assert "Traceback" not in result.stderr
    # one line per broken step: the journey, the step, what failed, the fix
    assert any("journey 'browse', step 2 (GET /no-such-page): the site answered 404" in e and "Fix:" in e
               for e in errors), errors
    assert any("journey 'buy', step 1 (GET /products/kitchen-01): nothing was extracted" in e and "Fix:" in e
               for e in errors), errors
    assert any("journey 'check', step 1 (GET /cart): the check failed (body does not contain 'Not on this page')"
               in e and "Fix:" in e for e in errors), errors
    assert errors[-1].count("no load was sent") == 1 and "--skip-rehearsal" in errors[-1]
    assert len(errors) == 4
    # the journey that works was walked too, and nothing else: one visitor each, no load
    assert site.stats()["served"] - before == 1 + 2 + 1 + 1 + 1  # preflight, browse, look, buy, check
    assert not out.exists()  # a refused run leaves no empty run directory behind


@pytest.mark.integration
def test_with_the_rehearsal_skipped_a_missing_page_is_a_scenario_error_not_the_sites(
        tmp_path: Path, demo_factory: Any) -> None:
    site = _site(demo_factory)
    scenario = write_scenario(tmp_path / "s.yaml", {**MISSING_PAGE, "rehearsal": False})  # the scenario's setting
    out = tmp_path / "run"
    before = site.stats()["served"]
    result = run_cli("run", str(scenario), "--target", site.url, "--out", str(out), timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_summary(out)
    errors = summary["scenario_errors"]
    browse_visits = summary["traffic"]["delivered_arrivals"] // 2  # the two journeys alternate
    assert errors["count"] == browse_visits == 8
    assert errors["by_step"] == [{"endpoint": "GET /no-such-page", "method": "GET", "kind": "http_404",
                                  "count": 8, "first_s": 0}]
    assert errors["sample"]["status"] == 404 and errors["rehearsal"] == {"ran": False}
    # never counted against the site: no failure, the error-rate SLO held, the verdict does not blame it
    assert summary["totals"]["failures"] == 0 and summary["totals"]["error_rate"] == 0
    assert all(slo["passed"] for slo in summary["slos"])
    assert summary["verdict"] == "survives"
    assert any(r.startswith("Not counted against the site: 8 scenario errors") for r in summary["reasons"])
    assert "GET /no-such-page" not in {e["name"] for e in summary["endpoints"]}
    # the site still saw every request: measured ones plus the scenario's 404s, plus the preflight
    assert site.stats()["served"] - before == summary["totals"]["requests"] + errors["count"] + 1
    html = (out / "report.html").read_text(encoding="utf-8")
    section = html[html.index('id="scenario-errors-title"'):html.index("<h2>Run details")]
    assert "GET /no-such-page" in section and "answered 404 (no such page)" in section
    assert "scenario errors (the scenario's, not counted against the site): 8" in result.stdout
    assert "| scenario errors | 8" in (out / "summary.md").read_text(encoding="utf-8")
    assert json.loads((out / "run.json").read_text())["rehearsal"] == {"ran": False}


@pytest.mark.integration
def test_a_locustfile_that_raises_is_a_scenario_error_with_a_redacted_traceback(
        tmp_path: Path, demo_factory: Any) -> None:
    site = _site(demo_factory)
    (tmp_path / "raising.py").write_text(RAISING_LOCUSTFILE, encoding="utf-8")
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "raising", "locustfile": "raising.py",
        "traffic": {"profile": "constant", "rate": "3/s", "duration": "3s"}})
    # at rest: the run stops before any load, naming the class and the task
    refused = run_cli("run", str(scenario), "--target", site.url, "--out", str(tmp_path / "refused"), timeout=60)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    errors = _errors(refused.stderr)
    assert len(errors) == 2 and "locustfile class 'Shopper', task Shopper.look: it raised ValueError" in errors[0]
    assert "raising.py:9" in errors[0] and SECRET not in refused.stderr
    assert not (tmp_path / "refused").exists()

    # the rehearsal skipped: every visit raises; the run is inconclusive with that reason, and the traceback,
    # redacted, is in the console, summary.json and report.html
    out = tmp_path / "run"
    result = run_cli("run", str(scenario), "--target", site.url, "--out", str(out), "--skip-rehearsal", timeout=90)
    assert result.returncode == 3, result.stdout + result.stderr
    summary = read_summary(out)
    assert summary["verdict"] == "inconclusive"
    assert summary["reasons"][0].startswith("Every visit hit a scenario error (9 in all; Shopper.look: ")
    assert not any("capacity" in r.lower() for r in summary["reasons"])
    errors_json = summary["scenario_errors"]
    assert errors_json["count"] == 9 and errors_json["every_visit"] is True
    assert errors_json["by_step"][0]["kind"] == "locustfile_exception"
    trace = errors_json["sample"]["traceback"]
    assert trace.startswith("Traceback") and 'raising.py", line 9, in look' in trace
    assert "ValueError: no basket at http://shop.test/cart?token=***" in trace
    assert "loadkit/run/" not in trace  # the user's frames, not loadkit's
    assert "traceback of one (redacted):" in result.stdout and "in look" in result.stdout
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Scenario errors" in html and "ValueError: no basket at http://shop.test/cart?token=***" in html
    for path in out.iterdir():  # run.log included
        assert SECRET not in path.read_text(encoding="utf-8", errors="replace"), path.name
    assert summary["totals"]["failures"] == 0 and summary["totals"]["requests"] == 9  # the site answered them


MARKOV_LOCUSTFILE = '''
from locust import HttpUser, MarkovTaskSet, transition, transitions


class Browse(MarkovTaskSet):
    @transition("category")
    def home(self):
        self.client.get("/")

    @transitions({"home": 50, "product": 1})
    def category(self):
        self.client.get("/category/kitchen")

    @transition("review")
    def product(self):
        self.client.get("/products/kitchen-01")

    @transition("home")
    def review(self):
        self.client.get("/products/kitchen-01/no-such-review")


class Shopper(HttpUser):
    tasks = [Browse]
'''


@pytest.mark.integration
def test_the_rehearsal_walks_a_markov_chain_to_its_rarely_reached_broken_step(
        tmp_path: Path, demo_factory: Any) -> None:
    """A visit reaches ``review`` once in 51 walks, and only through ``product``: the rehearsal walks the
    chain along its transitions to every task it can reach, so the broken page stops the run before any load."""
    site = _site(demo_factory)
    (tmp_path / "markov.py").write_text(MARKOV_LOCUSTFILE, encoding="utf-8")
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "markov", "locustfile": "markov.py",
        "traffic": {"profile": "constant", "rate": "3/s", "duration": "3s"}})
    before = site.stats()["served"]
    refused = run_cli("run", str(scenario), "--target", site.url, "--out", str(tmp_path / "refused"), timeout=60)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    errors = _errors(refused.stderr)
    assert len(errors) == 2, refused.stderr
    assert "locustfile class 'Shopper', task Shopper.Browse.review (/products/kitchen-01/no-such-review): " \
           "the site answered 404" in errors[0]
    # preflight, then home -> category -> product -> review, each once: nothing sent twice, no load
    assert site.stats()["served"] - before == 1 + 4
    assert not (tmp_path / "refused").exists()


def test_a_markov_tour_follows_transitions_to_every_reachable_task() -> None:
    code = '''
import json
from locust import MarkovTaskSet, transition, transitions
from loadkit.run.locustfile import markov_tour

class Star(MarkovTaskSet):  # a hub: each spoke is reached back through the hub
    @transitions(["a", "b", "c"])
    def hub(self): pass
    @transition("hub")
    def a(self): pass
    @transition("hub")
    def b(self): pass
    @transition("hub")
    def c(self): pass

class Loop(MarkovTaskSet):  # never comes back to its first task
    @transition("two")
    def one(self): pass
    @transition("two")
    def two(self): pass

print(json.dumps({"star": markov_tour(Star), "loop": markov_tour(Loop), "short": markov_tour(Star, limit=3)}))
'''
    out = run_child(code)
    assert out == {"star": ["hub", "a", "hub", "b", "hub", "c"], "loop": ["one", "two"], "short": ["hub", "a", "hub"]}


# --- no load below ---------------------------------------------------------------------------------


def test_skipping_the_rehearsal_goes_through_the_config_layers() -> None:
    doc = {"name": "s", "traffic": {"profile": "constant", "rate": "1/s", "duration": "1s"},
           "journeys": [{"name": "j", "steps": [{"get": "/"}]}]}
    flags = {"skip_rehearsal": None}
    assert resolve(flags, {}, parse_scenario(doc)).skip_rehearsal is False
    by_scenario = resolve(flags, {}, parse_scenario({**doc, "rehearsal": False}))
    assert by_scenario.skip_rehearsal is True and by_scenario.sources["skip_rehearsal"] == "scenario"
    by_env = resolve(flags, {"LOADKIT_SKIP_REHEARSAL": "0"}, parse_scenario({**doc, "rehearsal": False}))
    assert by_env.skip_rehearsal is False and by_env.sources["skip_rehearsal"] == "env"
    by_flag = resolve({"skip_rehearsal": True}, {"LOADKIT_SKIP_REHEARSAL": "0"}, parse_scenario(doc))
    assert by_flag.skip_rehearsal is True and by_flag.recorded()["skip_rehearsal"]["source"] == "flag"


def test_redact_text_strips_credentials_and_query_values_from_urls_in_free_text() -> None:
    text = f"GET http://bob:{SECRET}@h.test/x?token=abc failed; header {SECRET}"
    assert redact_text(text, [SECRET]) == "GET http://h.test/x?token=*** failed; header ***"


def _ok(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
    return [40.0] * max(1, int(round(rate))), {}


def test_scenario_errors_in_the_data_never_count_against_the_site(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(), _ok)
    append_jsonl(run / "scenario_errors.jsonl", [
        {"t": 3, "endpoint": "GET /gone", "method": "GET", "kind": "http_404", "count": 4,
         "samples": [{"t": 3, "status": 404, "url": "http://127.0.0.1:1/gone", "detail": "not found"}]},
        {"t": 9, "endpoint": "GET /gone", "method": "GET", "kind": "http_404", "count": 2}])
    before = analyze(load_run(make_run_dir(tmp_path / "plain", scenario_doc(), _ok)))
    analysis = analyze(load_run(run))
    assert analysis.totals == before.totals  # the site's figures are the same with or without them
    assert [r.passed for r in analysis.slo_results] == [r.passed for r in before.slo_results]
    errors = analysis.scenario_errors
    assert errors["count"] == 6 and errors["every_visit"] is False
    assert errors["by_step"][0] | {"words": None} == {"endpoint": "GET /gone", "method": "GET", "kind": "http_404",
                                                      "count": 6, "first_s": 3, "words": None}
    verdict = judge(analysis)
    assert verdict.verdict == judge(before).verdict
    assert verdict.reasons[-1] == ("Not counted against the site: 6 scenario errors (GET /gone answered 404 "
                                   "(no such page), 6 times).")


def test_a_run_where_every_visit_hit_a_scenario_error_is_inconclusive(tmp_path: Path) -> None:
    def nothing(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        return [], {}

    run = make_run_dir(tmp_path / "r", scenario_doc(), nothing)
    append_jsonl(run / "scenario_errors.jsonl", [
        {"t": 1, "endpoint": "Shopper.look", "method": "task", "kind": "locustfile_exception", "count": 5,
         "samples": [{"t": 1, "status": 0, "url": "", "detail": "ValueError: x",
                      "traceback": "Traceback (most recent call last):\nValueError: x\n"}]}])
    verdict = judge(analyze(load_run(run)))
    rendered = render_run_dir(run)  # every report shows them
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "Scenario errors" in html and "Traceback (most recent call last):\nValueError: x" in html
    assert read_summary(run)["scenario_errors"]["sample"]["traceback"].endswith("ValueError: x\n")
    assert rendered.verdict == verdict
    assert verdict.verdict == "inconclusive"
    assert verdict.reasons[0].startswith("Every visit hit a scenario error (5 in all; Shopper.look: the "
                                         "locustfile's code raised an exception)")
    assert not any("No request was measured" in r for r in verdict.reasons)
    assert verdict.headline.startswith("Inconclusive: the scenario itself failed on every visit")
