"""The capacity search (profile: search): its decisions as pure functions, its validation, the plan it
records, and a real search against a demo storefront whose capacity follows from its knobs."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

from loadkit.analysis import analyze
from loadkit.baseline import LATEST_GOOD, find_baseline
from loadkit.compare import compare_runs
from loadkit.data import append_jsonl, load_run, write_json_atomic
from loadkit.demo import DemoConfig
from loadkit.errors import ScenarioError, UsageError
from loadkit.held import WINDOW_S
from loadkit.histogram import Histogram
from loadkit.history import read_entry
from loadkit.report import render_run_dir
from loadkit.scenario import SEARCH_WINDOW_S, parse_scenario
from loadkit.search import (LOWEST_RATE, Level, SearchLimits, Unjudged, bracket, limits_of, next_rate,
                            required_rate)
from loadkit.traffic import build_plan, plan_from_dict, plan_to_dict, search_plan
from loadkit.verdict import capacity_figure, judge, search_sentence

from . import synth
from .helpers import ROOT, read_summary, run_cli, write_scenario
from .test_summary_doc import key_paths, undocumented

JOURNEY = [{"name": "j", "steps": [{"get": "/"}]}]


def scenario(traffic: dict[str, Any], **extra: object) -> Any:
    return parse_scenario({"name": "t", "traffic": {"profile": "search", **traffic}, "journeys": JOURNEY, **extra})


def limits(**changes: Any) -> SearchLimits:
    base: dict[str, Any] = {"first": 10.0, "growth": 2.0, "step": None, "precision": 0.10, "cap": None,
                            "level_s": 5.0, "cool_down_s": 5.0, "max_duration_s": 90.0}
    return SearchLimits(**{**base, **changes})


def search(truth: float, lim: SearchLimits, max_levels: int = 50) -> list[tuple[float, bool]]:
    """Drive next_rate against a site that holds exactly up to ``truth``."""
    levels: list[tuple[float, bool]] = []
    rate = next_rate(levels, lim)
    while rate is not None and len(levels) < max_levels:
        levels.append((rate, rate <= truth))
        rate = next_rate(levels, lim)
    return levels


def test_the_window_a_search_aligns_to_is_the_one_the_rule_judges() -> None:
    assert SEARCH_WINDOW_S == WINDOW_S


def test_steps_up_by_growth_then_bisects_until_within_precision() -> None:
    levels = search(47.0, limits())
    assert [r for r, _ in levels[:4]] == [10, 20, 40, 80]
    assert levels[4][0] == pytest.approx(60)  # between 40 (held) and 80 (broke)
    found = bracket([Level(r, 0.0, h) for r, h in levels], limits())
    assert found.converged and found.ended_by == "precision"
    assert found.last_good_per_s is not None and found.first_broken_per_s is not None
    assert found.last_good_per_s <= 47.0 < found.first_broken_per_s
    assert found.width is not None and found.width <= 0.10


@pytest.mark.parametrize("truth", [0.7, 3.0, 9.99, 10.0, 33.3, 61.0, 250.0, 1234.5])
@pytest.mark.parametrize("precision", [0.01, 0.05, 0.2])
def test_the_bracket_always_holds_the_truth_and_meets_the_precision(truth: float, precision: float) -> None:
    lim = limits(precision=precision)
    levels = search(truth, lim)
    found = bracket([Level(r, 0.0, h) for r, h in levels], lim)
    assert found.converged, levels
    assert found.last_good_per_s is not None and found.first_broken_per_s is not None
    assert found.last_good_per_s <= truth < found.first_broken_per_s
    assert (found.first_broken_per_s - found.last_good_per_s) / found.last_good_per_s <= precision


def test_an_additive_step_and_the_rate_cap() -> None:
    lim = limits(first=5.0, growth=None, step=5.0, cap=18.0)
    levels = search(1000.0, lim)
    assert [r for r, _ in levels] == [5, 10, 15, 18]  # the cap is the last level: nothing broke up to it
    found = bracket([Level(r, 0.0, h) for r, h in levels], lim)
    assert not found.converged and found.ended_by == "max_rate"
    assert found.last_good_per_s == 18 and found.first_broken_per_s is None


def test_a_site_broken_at_the_first_level_is_searched_downwards() -> None:
    levels = search(2.0, limits(first=10.0))
    assert [r for r, _ in levels[:3]] == [10, 5, 2.5]
    assert levels[3] == (1.25, True)
    assert next_rate([(0.15, False)], limits()) is None  # below LOWEST_RATE: the site breaks at any load
    assert LOWEST_RATE > 0.15 / 2


def test_a_level_that_held_above_a_broken_one_is_noise() -> None:
    # 40 broke, then 50 held (a lucky level): the bracket stays below the lowest broken level
    found = bracket([Level(20, 0, True), Level(40, 10, False), Level(50, 20, True)], limits())
    assert (found.last_good_per_s, found.first_broken_per_s) == (20, 40)
    assert next_rate([(20, True), (40, False), (50, True)], limits()) == pytest.approx(30)


def test_an_unfinished_search_says_why_it_stopped() -> None:
    levels = [Level(10, 0, True), Level(20, 10, False)]
    assert bracket(levels, limits()).ended_by == "max_duration"
    assert bracket(levels, limits(), interrupted=True).ended_by == "interrupted"
    assert bracket([Level(10, 0, False)], limits()).ended_by == "max_duration"


def test_limits_apply_the_scales_and_safety_max_rate() -> None:
    sc = scenario({"start": "20/s", "step": "10/s", "max_rate": "100/s", "max_duration": "2m", "rate_scale": 0.5},
                  safety={"max_rate": "40/s"})
    lim = limits_of(sc, rate_scale=0.5, duration_scale=0.5)
    assert lim.first == pytest.approx(5) and lim.step == pytest.approx(2.5)
    assert lim.cap == pytest.approx(25)  # max_rate 100 x 0.25 is below safety.max_rate (absolute)
    assert lim.max_duration_s == pytest.approx(60)
    assert limits_of(scenario({"start": "50/s"}), 1.0).growth == 2.0  # neither step nor growth: doubling
    capped = limits_of(scenario({"start": "50/s"}, safety={"max_rate": "30/s"}))
    assert capped.first == 30 and capped.cap == 30


def test_the_plan_of_a_search_has_levels_and_cool_downs_and_survives_plan_json() -> None:
    sc = scenario({"start": "10/s", "level_duration": "10s", "cool_down": "5s"})
    first = build_plan(sc)
    assert [p.name for p in first.phases] == ["level-1", "cool-down-1"]
    assert first.duration == 15 and first.total_arrivals == pytest.approx(100)
    ran = search_plan(sc, [(0.0, 10.0), (15.0, 20.0), (35.0, 15.0)])  # the second cool-down was longer
    assert [(p.name, p.start, p.end, p.level) for p in ran.phases] == [
        ("level-1", 0, 10, 10), ("cool-down-1", 10, 15, 0), ("level-2", 15, 25, 20), ("cool-down-2", 25, 35, 0),
        ("level-3", 35, 45, 15), ("cool-down-3", 45, 50, 0)]
    assert ran.planned_peak == 20 and ran.rate(30) == 0
    assert plan_from_dict(json.loads(json.dumps(plan_to_dict(ran)))) == ran


@pytest.mark.parametrize(("traffic", "words"), [
    ({"start": "10/s", "level_duration": "7s"}, "whole 5-second windows"),
    ({"start": "10/s", "cool_down": "0s"}, "whole 5-second windows"),
    ({"start": "10/s", "precision": "0%"}, "precision must be above 0%"),
    ({"start": "10/s", "step": "5/s", "growth": 1.5}, "not both"),
    ({"start": "10/s", "growth": 1.0}, "greater than 1"),
    ({"start": "10/s", "max_duration": "10s", "level_duration": "10s"}, "at least one level"),
    ({"start": "10/s", "max_rate": "5/s"}, "below start"),
    ({"start": "10/s", "model": "users"}, "open model"),
    ({"start": "0/s"}, "greater than 0"),
    ({"start": "10/s", "levels": 3}, "levels"),
])
def test_validation_errors_name_the_field_and_the_fix(traffic: dict[str, Any], words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(traffic)
    assert words in str(info.value)
    assert "traffic" in str(info.value)


def test_the_bracket_in_words_and_as_the_figure() -> None:
    found = bracket([Level(40, 0, True), Level(80, 10, False), Level(60, 20, False), Level(50, 30, True),
                     Level(55, 40, False), Level(52.5, 50, True)], limits(precision=0.05))
    assert search_sentence(found, "visitors/s") == (
        "Capacity between 52.5 and 55 visitors/s (within 5%; 5% asked): the search converged after 6 levels.")
    cap = {"found": True, "arrivals_per_s": 52.5, "broke_at_per_s": 55,
           "search": {"last_good_per_s": 52.5, "first_broken_per_s": 55}}
    assert capacity_figure(cap) == "between 52.5/s and 55/s"


def test_levels_and_bracket_are_judged_from_the_run_directory(tmp_path: Path, monkeypatch: Any) -> None:
    # A search that ran 10, 20, 40, 80, 60, 50, 54/s against a site that holds up to 52/s. Each level is a
    # single 5 s window followed by an empty one: no break is sustained (two windows in a row), so the
    # levels break by their own merged totals (rule 3, each level a scope), as the run judged them.
    doc = {"name": "synthetic-search",
           "traffic": {"profile": "search", "start": "10/s", "level_duration": "5s", "cool_down": "5s",
                       "precision": "10%"},
           "journeys": [{"name": "j", "steps": [{"get": "/"}]}],
           "slos": [{"metric": "p95", "below": "300ms"}, {"metric": "error_rate", "below": "1%"}]}
    ran = [(0.0, 10.0), (10.0, 20.0), (20.0, 40.0), (30.0, 80.0), (40.0, 60.0), (50.0, 50.0), (60.0, 54.0)]
    monkeypatch.setattr(synth, "build_plan", lambda sc: search_plan(sc, ran))

    def shape(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        return [40.0 if rate <= 52 else 400.0] * round(rate), {}

    run_dir = synth.make_run_dir(tmp_path / "run", doc, shape)
    analysis = analyze(load_run(run_dir))
    assert analysis.search is not None
    assert [(lv.rate, lv.held) for lv in analysis.search.levels] == [
        (10, True), (20, True), (40, True), (80, False), (60, False), (50, True), (54, False)]
    assert (analysis.search.last_good_per_s, analysis.search.first_broken_per_s) == (50, 54)
    assert analysis.search.converged and analysis.search.ended_by == "precision"
    assert analysis.capacity.found and analysis.capacity.arrivals_per_s == 50  # held.py's capacity agrees
    render_run_dir(run_dir)
    summary = read_summary(run_dir)
    assert summary["reasons"][0] == ("Capacity between 50 and 54 visitors/s (within 8%; 10% asked; limited by "
                                     "latency): the search converged after 7 levels.")
    assert summary["capacity"]["figure"] == "between 50/s and 54/s"
    assert summary["capacity"]["search"]["levels"][3] == {"rate_per_s": 80.0, "start_s": 30.0, "held": False,
                                                          "not_judged": None}
    assert "between 50/s and 54/s" in (run_dir / "summary.md").read_text(encoding="utf-8")


def test_journey_slos_judge_the_levels_too(tmp_path: Path, monkeypatch: Any) -> None:
    # Requests are all fast; only the journey's success rate breaks, above 52 visitors/s (one visit in ten
    # fails there), and each level is one window: judged by its own total, as endpoint SLOs are.
    doc = {"name": "synthetic-search",
           "traffic": {"profile": "search", "start": "20/s", "level_duration": "5s", "cool_down": "5s",
                       "precision": "10%"},
           "journeys": [{"name": "j", "steps": [{"get": "/"}]}],
           "slos": [{"journey": "j", "metric": "success_rate", "above": "99%"}]}
    ran = [(0.0, 20.0), (10.0, 40.0), (20.0, 80.0), (30.0, 60.0), (40.0, 50.0), (50.0, 55.0)]
    monkeypatch.setattr(synth, "build_plan", lambda sc: search_plan(sc, ran))
    run_dir = synth.make_run_dir(tmp_path / "run", doc, lambda t, endpoint, rate: ([40.0] * round(rate), {}))
    plan = plan_from_dict(json.loads((run_dir / "plan.json").read_text(encoding="utf-8")))
    durations = Histogram()
    durations.record(40_000)
    rows = []
    for t in range(int(plan.duration)):
        visits = round(plan.rate(t + 0.5))
        failed = visits // 10 if plan.rate(t + 0.5) > 52 else 0
        rows.append({"t": t, "journey": "j", "completed": visits - failed, "cut_short": 0,
                     "failed": [{"step": 1, "kind": "http_503", "count": failed}] if failed else [],
                     "hist": durations.to_dict()})
    append_jsonl(run_dir / "journeys.jsonl", rows)
    found = analyze(load_run(run_dir)).search
    assert found is not None
    assert [lv.held for lv in found.levels] == [True, True, False, False, True, False]
    assert (found.last_good_per_s, found.first_broken_per_s, found.converged) == (50, 55, True)


# A site that holds up to 52 visitors/s, searched from 10/s: the levels of the synthetic run below.
CONVERGED = [(0.0, 10.0), (10.0, 20.0), (20.0, 40.0), (30.0, 80.0), (40.0, 60.0), (50.0, 50.0), (60.0, 54.0)]


def judged_search(tmp_path: Path, monkeypatch: Any, required: str | None, ran: list[tuple[float, float]] = CONVERGED,
                  **traffic: Any) -> tuple[Any, dict[str, Any]]:
    """A synthetic search run against a site that holds up to 52 visitors/s (above it p95 is 400 ms), its
    verdict and summary.json; the default verdict.required_headroom of 1.5."""
    tr: dict[str, Any] = {"profile": "search", "start": "10/s", "level_duration": "5s", "cool_down": "5s",
                          "precision": "10%", **traffic}
    if required is not None:
        tr["required"] = required
    doc = {"name": "synthetic-search", "traffic": tr, "journeys": [{"name": "j", "steps": [{"get": "/"}]}],
           "slos": [{"metric": "p95", "below": "300ms"}, {"metric": "error_rate", "below": "1%"}]}
    monkeypatch.setattr(synth, "build_plan", lambda sc: search_plan(sc, ran))
    run_dir = synth.make_run_dir(tmp_path / "run", doc,
                                 lambda t, endpoint, rate: ([40.0 if rate <= 52 else 400.0] * round(rate), {}))
    verdict = judge(analyze(load_run(run_dir)))
    render_run_dir(run_dir)
    summary = read_summary(run_dir)
    assert summary["verdict"] == verdict.verdict and summary["reasons"][0].startswith("Capacity ")
    return verdict, summary


@pytest.mark.parametrize(("required", "expected", "words"), [
    ("30/s", "survives", "at 1.5x the required 30 visitors/s"),  # last good 50 >= 30 x 1.5
    ("40/s", "at-risk", "required 40 visitors/s with too little margin"),  # 40 <= 50 < 60
    ("52/s", "at-risk", "capacity is about the required 52 visitors/s"),  # 50 < 52 < 54: straddles it
    ("54/s", "fails", "at or below the required 54 visitors/s"),  # the first broken level is 54
    ("60/s", "fails", "at or below the required 60 visitors/s"),
])
def test_a_search_is_judged_against_its_required_rate_with_headroom(
        tmp_path: Path, monkeypatch: Any, required: str, expected: str, words: str) -> None:
    verdict, summary = judged_search(tmp_path, monkeypatch, required)
    assert (verdict.verdict, verdict.passed) == (expected, expected != "fails")
    assert words in verdict.headline, verdict.headline
    assert "planned peak" not in " ".join((verdict.headline, *verdict.reasons))  # a search has none


def test_a_search_without_a_required_rate_measures_without_failing(tmp_path: Path, monkeypatch: Any) -> None:
    verdict, summary = judged_search(tmp_path, monkeypatch, None)
    assert verdict.verdict == "at-risk" and verdict.passed  # exit 0; 1 with --strict: no survival claimed
    assert "between 50 and 54 visitors/s" in verdict.headline and "no required rate" in verdict.headline
    assert not summary.get("scale")  # nothing to scale for: no required rate
    assert not any("What to scale" in r for r in summary["reasons"])


def test_an_unfinished_search_is_inconclusive_unless_its_bracket_decides(tmp_path: Path, monkeypatch: Any) -> None:
    # 10, 20, 40 held and 80 broke, then the time bound: the bracket 40-80 is far wider than 10%.
    short = CONVERGED[:4]
    verdict, _ = judged_search(tmp_path / "none", monkeypatch, None, short, max_duration="40s")
    assert verdict.verdict == "inconclusive" and "ended before" in verdict.headline
    verdict, _ = judged_search(tmp_path / "straddles", monkeypatch, "50/s", short, max_duration="40s")
    assert verdict.verdict == "inconclusive" and "required 50 visitors/s" in verdict.headline
    verdict, _ = judged_search(tmp_path / "enough", monkeypatch, "20/s", short, max_duration="40s")
    assert verdict.verdict == "survives"  # 40 held: the required 20/s with 1.5x headroom
    # Nothing broke up to max_rate (40/s): "at least 40", measured, not judged without a required rate.
    verdict, _ = judged_search(tmp_path / "capped", monkeypatch, None, CONVERGED[:3], max_rate="40/s")
    assert verdict.verdict == "at-risk" and "at least 40 visitors/s" in verdict.headline


def test_what_to_scale_for_a_search_is_for_its_required_rate(tmp_path: Path, monkeypatch: Any) -> None:
    # GET / served 60/s (the median second of the broken levels 80, 60 and 54, cool-downs and the 50/s level
    # that held left out); the required 60/s with 1.5x headroom needs 90/s, not the highest level's 80 x 1.5.
    verdict, summary = judged_search(tmp_path, monkeypatch, "60/s")
    assert summary["scale"] == [{"endpoint": "GET /", "measured_per_s": 60.0, "needed_per_s": 90.0,
                                 "factor": pytest.approx(90 / 60, abs=1e-3)}]
    assert any(r.startswith("What to scale, for the required 60 visitors/s with 1.5x headroom: GET /: 60/s "
                            "measured, 90/s needed") for r in verdict.reasons), verdict.reasons


def test_the_required_rate_follows_the_rate_scale() -> None:
    sc = scenario({"start": "10/s", "required": "40/s", "rate_scale": 0.5})
    assert required_rate(sc, build_plan(sc, rate_scale=0.5)) == pytest.approx(10.0)
    assert required_rate(scenario({"start": "10/s"}), build_plan(scenario({"start": "10/s"}))) is None


def test_a_search_with_workers_is_a_usage_error(tmp_path: Path) -> None:
    path = write_scenario(tmp_path / "s.yaml", {"name": "s", "traffic": {"profile": "search", "start": "5/s"},
                                                "journeys": JOURNEY})
    result = run_cli("run", str(path), "--workers", "2", "--target", "http://127.0.0.1:9", "--out",
                     str(tmp_path / "run"), timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "--workers" in errors[0] and "search" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.integration
@pytest.mark.timing(seconds=58)
def test_a_search_brackets_the_knob_derived_capacity_within_its_precision_and_time(
        demo_factory: Any, tmp_path: Path) -> None:
    # Product pages only: 4 slots of 80 ms each serve 50 pages/s, so 50 visitors/s is the true capacity.
    # Above it the queue grows by (rate - 50) a second; a p95 limit of 150 ms (the 80 ms page and ~70 ms of
    # queue) breaks within a 5 s level from about 2-3% over it, and below it nothing queues. Long pages keep
    # the truth the site's: a few ms of the shop's own delay on a busy machine take 1-2% of its capacity,
    # where with 40 ms pages they took the 2.5% that separate the last levels of the bracket.
    config = DemoConfig(slots=4, service_ms={"product": 80.0})
    truth = config.capacity_per_s("product")
    site = demo_factory(config)
    bound = 90.0
    document = {
        "name": "search",
        "traffic": {"profile": "search", "start": "15/s", "level_duration": "5s", "cool_down": "5s",
                    "precision": "10%", "max_duration": f"{bound:g}s", "required": "30/s"},
        "journeys": [{"name": "look", "steps": [{"get": "/products/kitchen-01"}]}],
        "slos": [{"metric": "p95", "below": "150ms"}, {"metric": "error_rate", "below": "1%"}],
    }
    run_dir = tmp_path / "run"
    began = time.monotonic()
    result = run_cli("run", str(write_scenario(tmp_path / "search.yaml", document)), "--target", site.url,
                     "--out", str(run_dir), timeout=bound + 60)
    took = time.monotonic() - began
    summary = read_summary(run_dir)
    # Within 10% of 50/s, the last good level is above 45/s: the required 30/s with 1.5x headroom.
    assert (result.returncode, summary["verdict"]) == (0, "survives"), (result.stderr, summary["reasons"])
    assert not undocumented(key_paths(summary))  # capacity.search is in docs/run-directory.md
    found = summary["capacity"]["search"]
    assert found["converged"] and found["ended_by"] == "precision", found
    assert found["last_good_per_s"] <= truth <= found["first_broken_per_s"], (truth, found)
    assert found["width"] <= 0.10
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert run["duration_s"] <= bound, run["duration_s"]
    assert run["search"] == {"ended_by": "precision", "level": len(found["levels"]), "reason": None}
    assert took <= bound + 30  # the run, its preflight and rehearsal, and the reports
    plan = json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))
    assert plan["duration_s"] <= bound
    levels = [p for p in plan["phases"] if p["name"].startswith("level-")]
    assert [lv["level"] for lv in levels] == [lv["rate_per_s"] for lv in found["levels"]]
    # The words every report uses, from the same summary.
    summary_md = (run_dir / "summary.md").read_text(encoding="utf-8")
    assert f"between {found['last_good_per_s']:.3g}/s and {found['first_broken_per_s']:.3g}/s" in summary_md
    assert summary["reasons"][0].startswith("Capacity between")  # a search is read for its bracket
    assert "Capacity between" in result.stdout
    # Re-rendered from disk alone, the bracket is the same.
    assert run_cli("report", str(run_dir)).returncode == 0
    assert read_summary(run_dir)["capacity"]["search"] == found


def test_a_search_broken_down_to_its_lowest_level_says_so_not_its_time_bound() -> None:
    # 1, 0.5, 0.25 and 0.125/s all broke; next_rate stops (0.0625 is below LOWEST_RATE) long before the
    # time bound, so "max_duration" would be a false reason.
    ran = [(1.0, False), (0.5, False), (0.25, False), (0.125, False)]
    lim = limits(first=1.0)
    assert next_rate(ran, lim) is None
    found = bracket([Level(r, 15.0 * i, h) for i, (r, h) in enumerate(ran)], lim)
    assert found.ended_by == "lowest_rate"
    sentence = search_sentence(found, "visitors/s")
    assert sentence.startswith("Capacity below 0.125 visitors/s: every level broke") and "max_duration" not in sentence
    assert bracket([Level(10, 0, False)], lim).ended_by == "max_duration"  # 5/s was still to try


def test_a_search_broken_at_every_level_without_a_required_rate_is_a_measurement(tmp_path: Path,
                                                                                monkeypatch: Any) -> None:
    # The synthetic run cannot deliver levels under 1/s (whole arrivals a second), so the verdict is given
    # the bracket of a search that broke at 1, 0.5, 0.25 and 0.125/s over an otherwise measured run.
    verdict, _ = judged_search(tmp_path, monkeypatch, None)
    analysis = analyze(load_run(tmp_path / "run"))
    lim = limits(first=1.0)
    floor = bracket([Level(r, 15.0 * i, False) for i, r in enumerate((1.0, 0.5, 0.25, 0.125))], lim)
    verdict = judge(dataclasses.replace(analysis, search=floor))
    assert verdict.verdict == "at-risk", verdict  # measured, as a converged search without required
    assert "below 0.125 visitors/s" in verdict.headline
    assert not any("max_duration" in r for r in verdict.reasons), verdict.reasons


def test_a_search_capped_below_its_required_rate_names_the_cap_not_the_time_bound(tmp_path: Path,
                                                                                 monkeypatch: Any) -> None:
    # 10, 20, 40 held and max_rate is 40/s: the required 60/s was never reached, and time was not the reason.
    verdict, _ = judged_search(tmp_path, monkeypatch, "60/s", CONVERGED[:3], max_rate="40/s")
    assert verdict.verdict == "inconclusive"
    assert not any("max_duration" in r for r in verdict.reasons), verdict.reasons
    assert any("rate bound" in r and "at least 90/s" in r for r in verdict.reasons), verdict.reasons


def test_a_search_stopped_by_the_safety_abort_says_the_run_stopped_it(tmp_path: Path, monkeypatch: Any) -> None:
    judged_search(tmp_path, monkeypatch, None, CONVERGED[:4], max_duration="40s")
    meta_path = tmp_path / "run" / "run.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.update(complete=False, aborted="error rate above 50% for 10 s")
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    analysis = analyze(load_run(tmp_path / "run"))
    assert analysis.search is not None and analysis.search.ended_by == "interrupted"
    verdict = judge(analysis)
    assert verdict.verdict == "fails"  # the abort decides, as for any plan
    assert "safety abort" in verdict.reasons[0] and "max_duration" not in verdict.reasons[0], verdict.reasons


@pytest.mark.parametrize("slo", [{"metric": "p95", "below": "300ms"},
                                 {"journey": "j", "metric": "p95_duration", "below": "300ms"}])
def test_a_break_of_the_whole_runs_total_is_not_credited_to_the_first_level(
        tmp_path: Path, monkeypatch: Any, slo: dict[str, Any]) -> None:
    # Too few requests a window for any window to break (4 < MIN_WINDOW_REQUESTS): level 3 breaks by its own
    # total (8 slow requests); the run's total breaks too, but that says nothing about level 1, which held.
    ran = [(0.0, 1.0), (15.0, 2.0), (30.0, 4.0)]
    doc = {"name": "sparse-search", "traffic": {"profile": "search", "start": "1/s", "level_duration": "10s",
                                               "cool_down": "5s"},
           "journeys": [{"name": "j", "steps": [{"get": "/"}]}], "slos": [slo]}
    monkeypatch.setattr(synth, "build_plan", lambda sc: search_plan(sc, ran))

    def sparse(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        if rate > 3:
            return ([900.0], {}) if t % 5 else ([], {})
        return ([40.0], {}) if rate and t % 2 == 0 else ([], {})

    run_dir = synth.make_run_dir(tmp_path / "run", doc, sparse)
    if "journey" in slo:  # one visit per request, as long as it
        rows = []
        for level_start, rate in ran:
            for t in range(int(level_start), int(level_start) + 10):
                ms, _ = sparse(t, "GET /", rate)
                if ms:
                    h = Histogram()
                    h.record(int(ms[0] * 1000))
                    rows.append({"t": t, "journey": "j", "completed": 1, "cut_short": 0, "failed": [],
                                 "hist": h.to_dict()})
        append_jsonl(run_dir / "journeys.jsonl", rows)
    analysis = analyze(load_run(run_dir))
    assert analysis.search is not None
    assert [(lv.rate, lv.held) for lv in analysis.search.levels] == [(1.0, True), (2.0, True), (4.0, False)]
    assert (analysis.search.last_good_per_s, analysis.search.first_broken_per_s) == (2.0, 4.0)


def search_run(tmp_path: Path, monkeypatch: Any, ran: list[tuple[float, float]], shape: synth.Shape,
               generator: synth.Generator | None = None, required: str | None = None,
               **traffic: Any) -> tuple[Path, Any, dict[str, Any]]:
    """A synthetic search run over ``ran`` ((start, rate) per level, 5 s levels and cool-downs), its
    verdict and its rendered summary.json."""
    tr: dict[str, Any] = {"profile": "search", "start": f"{ran[0][1]:g}/s", "level_duration": "5s",
                          "cool_down": "5s", "precision": "10%", **traffic}
    if required is not None:
        tr["required"] = required
    doc = {"name": "synthetic-search", "traffic": tr, "journeys": [{"name": "j", "steps": [{"get": "/"}]}],
           "slos": [{"metric": "p95", "below": "300ms"}, {"metric": "error_rate", "below": "1%"}]}
    monkeypatch.setattr(synth, "build_plan", lambda sc: search_plan(sc, ran))
    run_dir = synth.make_run_dir(tmp_path / "run", doc, shape, generator=generator)
    verdict = judge(analyze(load_run(run_dir)))
    render_run_dir(run_dir)
    return run_dir, verdict, read_summary(run_dir)


def everything_said(run_dir: Path, summary: dict[str, Any]) -> str:
    """The reasons and every report's text (report.html holds the scenario too), to check what none may say."""
    return "\n".join([*summary["reasons"], json.dumps(summary["capacity"]),
                      (run_dir / "summary.md").read_text(encoding="utf-8"),
                      (run_dir / "report.html").read_text(encoding="utf-8"),
                      (run_dir / "junit.xml").read_text(encoding="utf-8")])


def test_a_level_with_too_few_requests_to_judge_ends_the_search_and_says_so(tmp_path: Path,
                                                                            monkeypatch: Any) -> None:
    # The site is slow at any load: 4/s and 2/s broke; 1/s sent a request every other second, 3 in the
    # level, too few for a p95 (5 are needed). Before, that level "held" (the bracket read 1-2/s) or, when
    # the run could not judge it, the search "reached its time bound".
    def slow(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        if rate >= 2:
            return [900.0] * round(rate), {}
        return ([900.0] if rate and t % 2 == 0 else []), {}

    run_dir, verdict, summary = search_run(tmp_path, monkeypatch, [(0.0, 4.0), (10.0, 2.0), (20.0, 1.0)], slow)
    found = summary["capacity"]["search"]
    assert [(lv["rate_per_s"], lv["held"]) for lv in found["levels"]] == [(4.0, False), (2.0, False), (1.0, None)]
    assert found["levels"][2]["not_judged"] == ("it had 3 requests for p95 < 300ms, too few to judge (at least 5 "
                                                "are needed)")
    assert found["ended_by"] == "not_judged" and not found["converged"]
    assert (found["last_good_per_s"], found["first_broken_per_s"]) == (None, 2.0)  # 1/s is neither
    assert found["ended_because"] == ("level 3 (1 visitors/s) could not be judged: it had 3 requests for p95 < "
                                      "300ms, too few to judge (at least 5 are needed), so the search stopped there")
    assert summary["reasons"][0] == (
        "Capacity below 2 visitors/s (limited by latency): every level judged broke the service levels; level 3 "
        "(1 visitors/s) could not be judged: it had 3 requests for p95 < 300ms, too few to judge (at least 5 are "
        "needed), so the search stopped there after 3 levels.")
    assert verdict.verdict == "inconclusive" and "a level it could not judge" in verdict.headline
    assert any("lengthen level_duration" in r for r in verdict.reasons), verdict.reasons
    said = everything_said(run_dir, summary)
    assert "(max_duration)" not in said and "time bound" not in said and '"ended_by": "max_duration"' not in said
    assert "could not be judged" in (run_dir / "summary.md").read_text(encoding="utf-8")
    assert not undocumented(key_paths(summary))


@pytest.mark.parametrize("slo", [{"metric": "p95", "below": "1s"},
                                 {"journey": "j", "metric": "p95_duration", "below": "1s"}])
def test_the_only_level_so_far_is_not_judged_on_too_few_requests_either(tmp_path: Path, monkeypatch: Any,
                                                                       slo: dict[str, Any]) -> None:
    # What the run sees after its first level: that level is also the highest, the plan's peak phase, whose
    # SLO rows are shown; it must still be found too sparse (2 requests), not read as held.
    ran = [(0.0, 0.4)]
    doc = {"name": "sparse", "traffic": {"profile": "search", "start": "0.4/s", "level_duration": "5s",
                                         "cool_down": "5s"},
           "journeys": [{"name": "j", "steps": [{"get": "/"}]}], "slos": [slo]}
    monkeypatch.setattr(synth, "build_plan", lambda sc: search_plan(sc, ran))
    run_dir = synth.make_run_dir(tmp_path / "run", doc, lambda t, e, rate: ([40.0] if t in (1, 3) else [], {}))
    if "journey" in slo:
        h = Histogram()
        h.record(40_000)
        append_jsonl(run_dir / "journeys.jsonl", [{"t": t, "journey": "j", "completed": 1, "cut_short": 0,
                                                   "failed": [], "hist": h.to_dict()} for t in (1, 3)])
    found = analyze(load_run(run_dir)).search
    assert found is not None and found.ended_by == "not_judged"
    (level,) = found.levels
    what = "visits" if "journey" in slo else "requests"
    assert level.not_judged is not None and level.not_judged.words.startswith(f"it had 2 {what} for p95"), level
    assert level.not_judged.kind == "too_few"


def test_a_level_broken_only_while_the_generator_paused_is_not_judged(tmp_path: Path, monkeypatch: Any) -> None:
    # 10 and 20/s held; at 40/s the site is fine (40 ms) but the machine paused loadkit for 400 ms in two of
    # the level's seconds, and those responses read 340 ms: over the 300 ms limit only by the pause.
    def paused(t: int, started: int) -> dict[str, Any]:
        return {"hiccup_ms": 400.0 if t in (22, 23) else 2.0, "cpu": 10.0}

    def site(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        return [340.0 if t in (22, 23) else 40.0] * round(rate), {}

    run_dir, verdict, summary = search_run(tmp_path, monkeypatch, [(0.0, 10.0), (10.0, 20.0), (20.0, 40.0)],
                                           site, generator=paused, required="10/s")
    found = summary["capacity"]["search"]
    assert [lv["held"] for lv in found["levels"]] == [True, True, None]
    assert "only while the machine paused loadkit for up to 400 ms" in found["levels"][2]["not_judged"]
    search = analyze(load_run(run_dir)).search
    assert search is not None and search.levels[2].not_judged is not None
    assert search.levels[2].not_judged.kind == "stalled"  # the kind chooses the advice, not the words
    assert found["ended_by"] == "not_judged" and found["last_good_per_s"] == 20.0
    assert found["first_broken_per_s"] is None  # the paused level broke nothing the site can be blamed for
    assert summary["capacity"]["figure"] == "≥ 20/s"
    # 20/s held: the required 10/s with 1.5x headroom, whatever the level that could not be judged
    assert verdict.verdict == "survives", verdict
    assert "level 3 (40 visitors/s) could not be judged" in summary["reasons"][0]
    said = everything_said(run_dir, summary)
    assert "(max_duration)" not in said and "time bound" not in said


def test_a_level_loadkit_did_not_deliver_is_not_judged(tmp_path: Path, monkeypatch: Any) -> None:
    # 40/s held by its requests, but 60 of its 200 visitors started late: the load was not what it says.
    def late(t: int, started: int) -> dict[str, Any]:
        return {"hiccup_ms": 2.0, "cpu": 99.0 if 20 <= t < 25 else 10.0, "late": 12 if 20 <= t < 25 else 0}

    run_dir, verdict, summary = search_run(tmp_path, monkeypatch, [(0.0, 10.0), (10.0, 20.0), (20.0, 40.0)],
                                           lambda t, e, rate: ([40.0] * round(rate), {}), generator=late)
    found = summary["capacity"]["search"]
    assert [lv["held"] for lv in found["levels"]] == [True, True, None]
    assert found["levels"][2]["not_judged"] == ("loadkit did not deliver it: 60 of 200 planned visitors started "
                                                "late or not at all (loadkit's own CPU was saturated (99% of a "
                                                "core))")
    search = analyze(load_run(run_dir)).search
    assert search is not None and search.levels[2].not_judged is not None
    assert search.levels[2].not_judged.kind == "undelivered"
    assert found["ended_by"] == "not_judged"
    assert verdict.verdict == "inconclusive"  # the load was not delivered (rule 3), and the reasons say why
    assert "level 3 (40 visitors/s) could not be judged: loadkit did not deliver it" in verdict.reasons[0]
    # what to do follows from why; the level's late arrivals, set aside with it, are not told twice
    assert "run it on a quieter or bigger machine: loadkit, not the site, was the limit" in verdict.reasons[1]
    assert not any(r.startswith("loadkit could not deliver the planned load") for r in verdict.reasons)


def test_the_run_s_own_account_names_a_level_it_could_not_judge(tmp_path: Path, monkeypatch: Any) -> None:
    # The run's analysis of level 4 failed (run.json's search says so); from disk the level reads as broken,
    # but the search stopped because of the failure, not its time bound.
    run_dir, _, _ = search_run(tmp_path, monkeypatch, CONVERGED[:4],
                               lambda t, e, rate: ([40.0 if rate <= 52 else 400.0] * round(rate), {}))
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    meta["search"] = {"ended_by": "not_judged", "level": 4, "reason": "loadkit's analysis of it failed (OSError: x)"}
    write_json_atomic(run_dir / "run.json", meta)
    analysis = analyze(load_run(run_dir))
    assert analysis.search is not None and analysis.search.ended_by == "not_judged"
    assert [lv.judged for lv in analysis.search.levels] == [True, True, True, False]
    assert (analysis.search.last_good_per_s, analysis.search.first_broken_per_s) == (40, None)
    verdict = judge(analysis)
    assert verdict.verdict == "inconclusive"
    assert "level 4 (80 visitors/s) could not be judged: loadkit's analysis of it failed" in verdict.reasons[0]
    assert any("see run.log" in r for r in verdict.reasons), verdict.reasons
    # Any other account leaves the reason to the levels (older runs have none).
    meta["search"] = {"ended_by": "max_duration", "level": 4, "reason": None}
    write_json_atomic(run_dir / "run.json", meta)
    assert analyze(load_run(run_dir)).search.ended_by == "max_duration"  # type: ignore[union-attr]


def record_search(run_dir: Path, **search: Any) -> None:
    """Write ``search`` as run.json's ``search``: the run's own account of why it stopped."""
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    meta["search"] = {"reason": None, **search}
    write_json_atomic(run_dir / "run.json", meta)


def test_the_run_s_recorded_end_is_why_the_report_says_the_search_stopped(tmp_path: Path,
                                                                           monkeypatch: Any) -> None:
    # Judged again from disk, level 3 (40/s) broke only while loadkit paused, so it reads as not judged;
    # the run judged it otherwise and ended at its time bound: the levels after it never ran.
    def paused(t: int, started: int) -> dict[str, Any]:
        return {"hiccup_ms": 400.0 if t in (22, 23) else 2.0, "cpu": 10.0}

    run_dir, _, _ = search_run(tmp_path / "paused", monkeypatch, [(0.0, 10.0), (10.0, 20.0), (20.0, 40.0)],
                               lambda t, e, rate: ([340.0 if t in (22, 23) else 40.0] * round(rate), {}),
                               generator=paused)
    record_search(run_dir, ended_by="max_duration", level=3)
    found = analyze(load_run(run_dir)).search
    assert found is not None and found.ended_by == "max_duration" and found.not_judged is None
    assert [lv.judged for lv in found.levels] == [True, True, False]  # the levels are still judged from disk
    render_run_dir(run_dir)
    summary = read_summary(run_dir)
    assert summary["capacity"]["search"]["ended_because"] == "the search reached its time bound (max_duration)"
    assert "could not be judged" not in "\n".join(summary["reasons"])
    # The run converged on its own judgement; from disk the bracket (40-80/s) is wider than the precision.
    run_dir, _, _ = search_run(tmp_path / "wider", monkeypatch, CONVERGED[:4],
                               lambda t, e, rate: ([40.0 if rate <= 52 else 400.0] * round(rate), {}))
    record_search(run_dir, ended_by="precision", level=4)
    analysis = analyze(load_run(run_dir))
    assert analysis.search is not None and analysis.search.ended_by == "precision"
    assert not analysis.search.converged and analysis.search.width == pytest.approx(1.0)
    verdict = judge(analysis)
    assert verdict.verdict == "inconclusive"
    assert any("converged as it ran, but judged again from the run directory" in r for r in verdict.reasons)
    assert not any("time bound" in r for r in verdict.reasons), verdict.reasons


@pytest.mark.parametrize(("ran", "paused_at"), [(CONVERGED, ()), ([(0.0, 10.0), (10.0, 20.0), (20.0, 40.0)], (12, 13))],
                         ids=["a-later-lower-level", "a-level-not-judged"])
def test_what_limited_a_search_is_the_first_break_of_its_first_broken_level(
        tmp_path: Path, monkeypatch: Any, ran: list[tuple[float, float]], paused_at: tuple[int, ...]) -> None:
    # The run's first break is not the bracket's: in the bisection, 80/s broke on latency (from 30 s) before
    # 54/s broke on errors (from 60 s); in the short search, 20/s broke on latency only while loadkit paused
    # (not judged) before 40/s broke on errors (from 20 s). Either way the capacity is limited by errors, at
    # the last level run: the first broken level judged.
    def site(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        if rate > 55 or t in paused_at:
            return [400.0 if rate > 55 else 340.0] * round(rate), {}
        return [40.0] * round(rate), ({"http_503": 5} if rate == ran[-1][1] else {})

    def paused(t: int, started: int) -> dict[str, Any]:
        return {"hiccup_ms": 400.0 if t in paused_at else 2.0, "cpu": 10.0}

    run_dir, verdict, summary = search_run(tmp_path, monkeypatch, ran, site, generator=paused)
    cap, (start, rate) = summary["capacity"], ran[-1]
    assert (cap["found"], cap["limited_by"]) == (True, "errors"), cap
    assert start <= cap["broke_at_s"] < start + 10, cap  # in the level or its cool-down
    analysis = analyze(load_run(run_dir))
    assert analysis.search is not None
    assert [lv.judged for lv in analysis.search.levels] == [i != 1 or not paused_at for i in range(len(ran))]
    assert analysis.breaks[0].signal == "latency"  # the run's first break, which held.py's capacity names
    level = analysis.search.first_broken
    assert level is not None and level.rate == analysis.search.first_broken_per_s == rate
    assert (level.broke_by, level.broke_at_s) == (cap["limited_by"], cap["broke_at_s"])
    assert "limited by errors" in summary["reasons"][0] and "latency" not in summary["reasons"][0]
    row = next(line for line in (run_dir / "summary.md").read_text(encoding="utf-8").splitlines()
               if line.startswith("| capacity |"))
    assert "(errors)" in row, row
    assert "limited by errors" in (run_dir / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("required", [None, "30/s"])
def test_a_search_that_found_its_capacity_says_what_limited_it_in_every_report(
        tmp_path: Path, monkeypatch: Any, required: str | None) -> None:
    # Latency broke above 52/s. Without a required rate there is no headroom to show, but still the limit.
    _, summary = judged_search(tmp_path, monkeypatch, required)
    assert (summary["capacity"]["found"], summary["capacity"]["limited_by"]) == (True, "latency")
    run_dir = tmp_path / "run"
    row = next(line for line in (run_dir / "summary.md").read_text(encoding="utf-8").splitlines()
               if line.startswith("| capacity |"))
    assert row.startswith("| capacity | between 50/s and 54/s (latency"), row
    assert ("headroom 1.67x the required 30/s" in row) == (required is not None), row
    assert "limited by latency" in (run_dir / "report.html").read_text(encoding="utf-8")
    assert "limited by latency" in summary["reasons"][0]  # what the console prints, first of the reasons


@pytest.mark.parametrize(("kind", "advice"), [("too_few", "lengthen level_duration"),
                                              ("undelivered", "run it on a quieter or bigger machine"),
                                              ("stalled", "run it on a quieter or bigger machine"),
                                              ("analysis_failed", "see run.log")])
def test_the_advice_for_a_level_not_judged_follows_its_kind_not_its_words(
        tmp_path: Path, monkeypatch: Any, kind: str, advice: str) -> None:
    # The run could not judge level 4 (from disk it reads as broken) and recorded why; the words are the
    # same for every kind: only the kind may choose the advice.
    run_dir, _, _ = search_run(tmp_path, monkeypatch, CONVERGED[:4],
                               lambda t, e, rate: ([40.0 if rate <= 52 else 400.0] * round(rate), {}))
    record_search(run_dir, ended_by="not_judged", level=4, kind=kind, reason="it had 4 requests")
    analysis = analyze(load_run(run_dir))
    assert analysis.search is not None and analysis.search.not_judged is not None
    assert analysis.search.not_judged.not_judged == Unjudged(kind, "it had 4 requests")  # type: ignore[arg-type]
    said = " ".join(judge(analysis).reasons)
    assert ("level 4 (80 visitors/s) could not be judged: it had 4 requests, so the search stopped there. To "
            f"finish it, {advice}") in said, said


@pytest.mark.parametrize(("required", "headroom", "words"), [
    ("30/s", 50 / 30, "headroom 1.67x the required 30/s"),  # the last good level 50 over the required 30
    ("40/s", 50 / 40, "headroom 1.25x the required 40/s"),
    (None, None, None),  # a measurement: nothing to read a headroom against
])
def test_a_search_s_headroom_is_its_last_good_level_over_its_required_rate(
        tmp_path: Path, monkeypatch: Any, required: str | None, headroom: float | None, words: str | None) -> None:
    _, summary = judged_search(tmp_path, monkeypatch, required)
    cap = summary["capacity"]
    assert cap["arrivals_per_s"] == cap["search"]["last_good_per_s"] == 50.0
    assert cap["search"]["required_per_s"] == (float(required.removesuffix("/s")) if required else None)
    if headroom is None:
        assert cap["headroom"] is None
    else:
        assert cap["headroom"] == pytest.approx(headroom, abs=1e-3)
    run_dir = tmp_path / "run"
    summary_md = (run_dir / "summary.md").read_text(encoding="utf-8")
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    row = next(line for line in summary_md.splitlines() if line.startswith("| capacity |"))
    if words is None:
        assert "headroom" not in row, row
        assert "capacity, headroom" not in html
    else:
        assert words in row and f"capacity, {words}" in html, row
    # the highest level run (80/s) is no reference: 50 / 80 = 0.62 appears nowhere
    assert "0.62x" not in summary_md and "0.62x" not in html


def searched(path: Path, monkeypatch: Any, ran: list[tuple[float, float]], truth: float,
             required: str | None = "30/s") -> Path:
    """A rendered synthetic search run at ``path`` against a site that holds up to ``truth`` visitors/s."""
    tr: dict[str, Any] = {"profile": "search", "start": "10/s", "level_duration": "5s", "cool_down": "5s",
                          "precision": "10%", **({"required": required} if required else {})}
    doc = {"name": "synthetic-search", "traffic": tr, "journeys": [{"name": "j", "steps": [{"get": "/"}]}],
           "slos": [{"metric": "p95", "below": "300ms"}, {"metric": "error_rate", "below": "1%"}]}
    monkeypatch.setattr(synth, "build_plan", lambda sc: search_plan(sc, ran))
    run_dir = synth.make_run_dir(path, doc, lambda t, e, rate: ([40.0 if rate <= truth else 400.0] * round(rate), {}))
    render_run_dir(run_dir)
    return run_dir


# A site that holds up to 42 visitors/s, searched as CONVERGED was: 40 held, 45 broke.
SLOWER = [*CONVERGED[:6], (60.0, 45.0)]


def test_two_searches_compare_by_the_capacities_they_found(tmp_path: Path, monkeypatch: Any) -> None:
    base = searched(tmp_path / "base", monkeypatch, CONVERGED, 52)  # 50-54/s
    rerun = searched(tmp_path / "rerun", monkeypatch, CONVERGED, 52.5)  # the same bracket
    slower = searched(tmp_path / "slower", monkeypatch, SLOWER, 42)  # 40-45/s
    same = compare_runs(load_run(base), load_run(rerun))
    assert [(c.metric, c.decision) for c in same.changes] == [("capacity", "no change")]
    worse = compare_runs(load_run(base), load_run(slower))
    (cap,) = worse.changes  # response times measured at different levels are not compared
    assert (cap.endpoint, cap.base, cap.new, cap.decision) == ("all requests", 50, 40, "regression")
    assert (cap.low, cap.high) == (pytest.approx(40 / 54), pytest.approx(45 / 50))  # what the brackets allow
    assert any("capacity searches" in n and "not compared" in n for n in worse.notes), worse.notes
    better = compare_runs(load_run(slower), load_run(base))
    assert [c.decision for c in better.changes] == ["improvement"]
    # The saved summaries (as the history passes them) decide the same.
    docs = (read_summary(base), read_summary(slower))
    assert compare_runs(load_run(base), load_run(slower), summaries=docs).changes == worse.changes
    # Through the command line: exit 1 on the regression, and no figure a search does not have.
    done = run_cli("compare", str(base), str(slower))
    assert done.returncode == 1, done.stderr
    assert "regression: capacity of all requests: 50 -> 40" in done.stdout
    compared = (slower / "compare.md").read_text(encoding="utf-8")
    assert "| all requests | capacity | 50/s | 40/s | -20% (the brackets allow -26% to -10%) |" in compared
    assert "| p95 |" not in compared and "planned peak" not in compared
    assert json.loads((slower / "compare.json").read_text(encoding="utf-8"))["regression"] is True


def test_a_search_with_an_open_bracket_is_not_called_a_regression(tmp_path: Path, monkeypatch: Any) -> None:
    # Nothing broke up to max_rate 40/s ("at least 40"): against 50-54, the new capacity may be anything
    # from 40 up, so only the last good levels moved: uncertain, not a regression.
    base = searched(tmp_path / "base", monkeypatch, CONVERGED, 52)
    capped = searched(tmp_path / "capped", monkeypatch, CONVERGED[:3], 52)
    (cap,) = compare_runs(load_run(base), load_run(capped)).changes
    assert (cap.base, cap.new, cap.low, cap.high, cap.decision) == (50, 40, pytest.approx(40 / 54), None,
                                                                    "uncertain")


def test_a_search_and_a_planned_run_do_not_compare(tmp_path: Path, monkeypatch: Any) -> None:
    search_dir = searched(tmp_path / "search", monkeypatch, CONVERGED, 52)
    monkeypatch.undo()
    planned = synth.make_run_dir(tmp_path / "planned", synth.scenario_doc(),
                                 lambda t, e, rate: ([40.0] * round(rate), {}))
    render_run_dir(planned)
    for args in ((search_dir, planned), (planned, search_dir)):
        done = run_cli("compare", *map(str, args))
        assert done.returncode == 2, done.stdout
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "a capacity search" in lines[0] and "planned" in lines[0], done.stderr
        assert "Traceback" not in done.stderr
    assert not (planned / "compare.html").exists() and not (search_dir / "compare.html").exists()


def test_history_over_search_runs_shows_their_brackets_and_compares_what_they_found(
        tmp_path: Path, monkeypatch: Any) -> None:
    root = tmp_path / "runs"
    searched(root / "1-base", monkeypatch, CONVERGED, 52)
    searched(root / "2-slower", monkeypatch, SLOWER, 42)
    monkeypatch.undo()
    planned = synth.make_run_dir(root / "3-planned", synth.scenario_doc(name="synthetic-search"),
                                 lambda t, e, rate: ([40.0] * round(rate), {}))
    render_run_dir(planned)
    done = run_cli("history", str(root))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    doc = json.loads((root / "history.json").read_text(encoding="utf-8"))
    (scenario,) = doc["scenarios"]
    base, slower, mixed = scenario["runs"]
    assert base["capacity"] == {"arrivals_per_s": 50.0, "found": True, "headroom": pytest.approx(50 / 30, abs=1e-3),
                                "figure": "between 50/s and 54/s"}
    assert slower["capacity"]["figure"] == "between 40/s and 45/s"
    assert slower["change"] == "regression"
    assert slower["change_details"][0].startswith("capacity of all requests: -20% (the brackets allow -26% to -10%)")
    assert not any("p95" in d for d in slower["change_details"])
    assert mixed["change"] == "not compared"
    assert "capacity search" in mixed["change_details"][0]
    page = (root / "history.html").read_text(encoding="utf-8")
    assert "between 50/s and 54/s" in page and "between 40/s and 45/s" in page
    # Searches alone: their trend is the capacity found, not response times measured past their limit.
    (planned / "summary.json").unlink()
    assert run_cli("history", str(root)).returncode == 0
    page = (root / "history.html").read_text(encoding="utf-8")
    assert "capacity found (last good level" in page and "p95 response time (all requests)" not in page


def test_history_reads_a_search_summary_from_before_headroom_had_a_required_rate(tmp_path: Path,
                                                                                   monkeypatch: Any) -> None:
    run_dir = searched(tmp_path / "old", monkeypatch, CONVERGED, 52)
    summary = read_summary(run_dir)
    del summary["capacity"]["search"]["required_per_s"]
    summary["capacity"]["headroom"] = 0.625  # 50 / the highest level run, as such summaries had it
    write_json_atomic(run_dir / "summary.json", summary)
    entry = read_entry(run_dir)
    assert entry.search and entry.headroom is None and entry.capacity_figure == "between 50/s and 54/s"


@pytest.mark.integration
def test_a_real_search_stops_at_a_level_too_sparse_to_judge_and_records_why(demo_factory: Any,
                                                                             tmp_path: Path) -> None:
    # 0.4 visitors/s for 5 s: 2 requests, too few for a p95 (5 are needed). The run stops the search after
    # its first level, says why in run.json, and no report says it reached its time bound.
    site = demo_factory(DemoConfig())
    document = {"name": "sparse-search",
                "traffic": {"profile": "search", "start": "0.4/s", "level_duration": "5s", "cool_down": "5s",
                            "max_duration": "60s"},
                "journeys": [{"name": "look", "steps": [{"get": "/"}]}],
                "slos": [{"metric": "p95", "below": "1s"}]}
    run_dir = tmp_path / "run"
    result = run_cli("run", str(write_scenario(tmp_path / "s.yaml", document)), "--target", site.url,
                     "--out", str(run_dir), timeout=90)
    assert result.returncode == 3, (result.stdout, result.stderr)  # inconclusive: nothing was measured
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert run["search"]["ended_by"] == "not_judged" and run["search"]["level"] == 1, run["search"]
    assert "too few to judge" in run["search"]["reason"] and run["search"]["kind"] == "too_few"
    assert run["duration_s"] < 30, run["duration_s"]  # the search did not go on to its time bound
    summary = read_summary(run_dir)
    found = summary["capacity"]["search"]
    assert found["ended_by"] == "not_judged" and [lv["held"] for lv in found["levels"]] == [None]
    assert summary["reasons"][0].startswith("Capacity not measured: level 1 (0.4 visitors/s) could not be judged")
    assert "time bound" not in "\n".join(summary["reasons"]) and "could not be judged" in result.stdout


@pytest.mark.integration
def test_a_level_lost_to_a_pause_of_loadkit_runs_again_and_the_search_goes_on(demo_factory: Any,
                                                                               tmp_path: Path) -> None:
    # The run process is stopped (SIGSTOP) for 0.8 s inside its first level: 16 of its 100 visitors start
    # late, so loadkit did not deliver the level and cannot judge it. The level runs again at the same rate,
    # holds, and the search ends at its rate bound, as if the pause had not happened; every report shows the
    # level it could not judge.
    import os
    import signal
    import subprocess
    import sys

    site = demo_factory(DemoConfig())
    document = {"name": "paused-search",
                "traffic": {"profile": "search", "start": "20/s", "max_rate": "20/s", "level_duration": "5s",
                            "cool_down": "5s", "max_duration": "60s", "required": "10/s"},
                "journeys": [{"name": "look", "steps": [{"get": "/"}]}],
                "slos": [{"metric": "p95", "below": "1s"}]}
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "loadkit", "run", str(write_scenario(tmp_path / "s.yaml", document)),
                             "--target", site.url, "--out", str(run_dir)], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (run_dir / "arrivals.jsonl").exists() and time.monotonic() < deadline:  # the first flush, at 2 s
            time.sleep(0.05)
        proc.send_signal(signal.SIGSTOP)
        time.sleep(0.8)
        proc.send_signal(signal.SIGCONT)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 0, (stdout, stderr)
    said = stdout + stderr
    assert "search: level 1 could not be judged: loadkit did not deliver it" in said, said
    assert "running 20/s again" in said, said
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert run["search"] == {"ended_by": "max_rate", "level": 2, "reason": None}, run["search"]
    summary = read_summary(run_dir)
    found = summary["capacity"]["search"]
    assert [(lv["rate_per_s"], lv["held"]) for lv in found["levels"]] == [(20.0, None), (20.0, True)], found
    assert "did not deliver" in found["levels"][0]["not_judged"], found["levels"][0]
    assert found["last_good_per_s"] == 20.0 and found["ended_by"] == "max_rate"
    assert summary["verdict"] == "survives", summary["reasons"]
    assert any(r.startswith("Level 1 (20 visitors/s) could not be judged (loadkit did not deliver it")
               and r.endswith("so it ran again: the bracket leaves it out.") for r in summary["reasons"])


def test_a_search_s_baseline_must_be_a_search_and_is_refused_before_the_load(tmp_path: Path,
                                                                             monkeypatch: Any) -> None:
    runs = tmp_path / "reports"
    earlier = searched(runs / "1-search", monkeypatch, CONVERGED, 52)  # survives: 50/s held, 30/s required
    monkeypatch.undo()
    planned = synth.make_run_dir(runs / "2-planned", synth.scenario_doc(name="synthetic-search"),
                                 lambda t, e, rate: ([40.0] * round(rate), {}))
    render_run_dir(planned)
    assert read_summary(planned)["verdict"] == "survives"  # the newer survivor, but of a planned load
    assert find_baseline(LATEST_GOOD, "synthetic-search", runs, search=True) == earlier
    assert find_baseline(LATEST_GOOD, "synthetic-search", runs, search=False) == planned
    with pytest.raises(UsageError, match="is a planned load and this scenario is a capacity search"):
        find_baseline(str(planned), "synthetic-search", runs, search=True)
    # On the command line: one line, exit 2, before anything is sent (nothing listens on port 9).
    path = write_scenario(tmp_path / "s.yaml", {"name": "synthetic-search", "journeys": JOURNEY,
                                                "traffic": {"profile": "search", "start": "5/s"}})
    done = run_cli("run", str(path), "--baseline", str(planned), "--target", "http://127.0.0.1:9",
                   "--out", str(runs / "3-new"), timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "--baseline" in errors[0] and "capacity search" in errors[0], done.stderr
    assert "Traceback" not in done.stderr and not (runs / "3-new").exists()
