"""Why a run is inconclusive, and when it need not be: synthetic run directories with the generator's
per-second hiccups and CPU (pure: no load, no locust). The real runs are in test_paused_generator.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadkit.analysis import analyze
from loadkit.data import load_run
from loadkit.report import render_run_dir
from loadkit.verdict import judge
from tests.synth import healthy_generator, make_run_dir, scenario_doc

LATE_SECONDS = range(20, 30)  # inside the ramp and the peak


def fast(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
    """A site at 40-49 ms whatever the load."""
    n = max(1, int(round(rate)))
    return [40.0 + (i % 10) for i in range(n)], {}


def late_while(**health: float) -> Any:
    """Half the arrivals of LATE_SECONDS start late, with the generator's health there as given."""
    def generator(t: int, started: int) -> dict[str, Any]:
        if t in LATE_SECONDS:
            return {"late": started // 2, **health}
        return healthy_generator(t, started)
    return generator


def judged(tmp_path: Path, generator: Any, shape: Any = fast, **doc: Any) -> Any:
    run = make_run_dir(tmp_path / "r", scenario_doc(**doc), shape, generator=generator)
    analysis = analyze(load_run(run))
    return analysis, judge(analysis)


def test_per_second_hiccups_and_cpu_reach_the_analysis(tmp_path: Path) -> None:
    analysis, _ = judged(tmp_path, late_while(hiccup_ms=400.0, cpu=5.0))
    s = analysis.seconds.set_index("t")
    assert s.loc[25, "hiccup_ms"] == 400.0 and s.loc[25, "cpu"] == 5.0
    assert s.loc[5, "hiccup_ms"] == 2.0 and s.loc[5, "cpu"] == 10.0
    assert analysis.traffic.generator.hiccup_max_ms == 400.0
    assert analysis.traffic.generator.paused_seconds == len(LATE_SECONDS)
    assert analysis.traffic.generator.saturated_seconds == 0


def test_saturated_generator_is_inconclusive_and_asks_for_more_workers(tmp_path: Path) -> None:
    analysis, verdict = judged(tmp_path, late_while(hiccup_ms=300.0, cpu=99.0))
    assert verdict.verdict == "inconclusive", verdict.reasons
    reason = verdict.reasons[0]
    assert "99% of a CPU core (saturated)" in reason and "Use more --workers" in reason
    assert "paused" not in reason


def test_paused_machine_is_inconclusive_and_names_the_pauses_not_the_generator(tmp_path: Path) -> None:
    analysis, verdict = judged(tmp_path, late_while(hiccup_ms=400.0, cpu=5.0))
    assert verdict.verdict == "inconclusive", verdict.reasons
    reason = verdict.reasons[0]
    assert reason.startswith("The machine paused loadkit for up to 400 ms")
    assert verdict.headline == "Inconclusive: the machine paused loadkit, so this run cannot judge the site."
    assert "10 seconds with pauses of 50 ms or more, first at 0:20" in reason
    assert "at most 10% of a CPU core" in reason  # the late seconds and the next (0:30, a healthy one)
    assert "quieter machine or a dedicated runner" in reason
    assert "Use more --workers" not in reason and "generator, not the site" not in reason


def test_load_not_delivered_for_another_reason_is_neutral(tmp_path: Path) -> None:
    analysis, verdict = judged(tmp_path, late_while(hiccup_ms=3.0, cpu=20.0))
    assert verdict.verdict == "inconclusive", verdict.reasons
    reason = verdict.reasons[0]
    assert reason.startswith("loadkit could not deliver the planned load")
    assert "Neither a saturated load generator (at most 20% of a CPU core) nor pauses" in reason
    assert "--workers" not in reason and "paused" not in reason


def test_a_run_recorded_before_the_meter_keeps_a_neutral_sentence(tmp_path: Path) -> None:
    def late_only(t: int, started: int) -> dict[str, Any]:
        return {"late": started // 2} if t in LATE_SECONDS else {}

    analysis, verdict = judged(tmp_path, late_only)
    assert analysis.traffic.generator is None
    assert verdict.verdict == "inconclusive"
    assert verdict.reasons[0].startswith("loadkit could not deliver the planned load")


def test_fails_stands_when_the_delivered_load_already_broke_an_slo(tmp_path: Path) -> None:
    impossible = [{"metric": "p95", "below": "1ms"}]
    analysis, verdict = judged(tmp_path, late_while(hiccup_ms=400.0, cpu=5.0), slos=impossible)
    assert verdict.verdict == "fails", verdict.reasons
    assert verdict.reasons[0].startswith("The p95 response time of all requests reached")
    note = verdict.reasons.index(next(r for r in verdict.reasons if r.startswith("Not all of the planned load")))
    assert verdict.reasons[note + 1].startswith("The machine paused loadkit")  # why, after the note


def test_fails_stands_with_a_saturated_generator_when_the_site_broke_outside_its_busy_seconds(
        tmp_path: Path) -> None:
    analysis, verdict = judged(tmp_path, late_while(hiccup_ms=300.0, cpu=99.0),
                               slos=[{"metric": "p95", "below": "1ms"}])
    assert verdict.verdict == "fails", verdict.reasons
    assert any("Use more --workers" in r for r in verdict.reasons)


def test_an_interrupted_run_that_already_broke_an_slo_fails(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(slos=[{"metric": "p95", "below": "1ms"}]), fast,
                       interrupted=True, generator=healthy_generator)
    verdict = judge(analyze(load_run(run)))
    assert verdict.verdict == "fails", verdict.reasons
    assert any("interrupted" in r for r in verdict.reasons)
    # and one that held so far stays inconclusive
    run = make_run_dir(tmp_path / "held", scenario_doc(), fast, interrupted=True, generator=healthy_generator)
    assert judge(analyze(load_run(run))).verdict == "inconclusive"


def test_a_break_made_only_of_paused_seconds_does_not_blame_the_site(tmp_path: Path) -> None:
    # Every arrival on time, but in three seconds the machine stalled loadkit for 900 ms, and the
    # responses in flight then were measured that much slower: enough to break a p95 over the run.
    stalled = {22, 23, 24, 32, 33, 34, 42, 43, 44}

    def site(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = max(1, int(round(rate)))
        return ([900.0] * n if t in stalled else [40.0 + (i % 10) for i in range(n)]), {}

    def generator(t: int, started: int) -> dict[str, Any]:
        return {"hiccup_ms": 900.0, "cpu": 5.0} if t in stalled else healthy_generator(t, started)

    analysis, verdict = judged(tmp_path, generator, site)
    assert any(not r.passed and r.scope == "run" for r in analysis.slo_results)  # it did break, counted whole
    assert all(r.passed for r in analysis.undisturbed_slo_results)  # and held without those seconds
    assert verdict.verdict == "inconclusive", verdict.reasons
    assert "the machine paused loadkit (up to 900 ms, in 9 seconds)" in verdict.reasons[0]
    # the same slowness without pauses of the generator is the site's
    analysis, verdict = judged(tmp_path / "site", healthy_generator, site)
    assert verdict.verdict == "fails"


def test_pauses_are_marked_in_the_report_and_summary(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(), fast, generator=late_while(hiccup_ms=400.0, cpu=5.0))
    render_run_dir(run)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["traffic"]["hiccup_max_ms"] == 400.0 and summary["traffic"]["paused_seconds"] == 10
    html = (run / "report.html").read_text(encoding="utf-8")
    assert html.count('<rect class="pause"') == 1  # ten seconds in a row: one band, on the arrivals chart
    assert "loadkit paused 0:20-0:30" in html
    assert '"marks":[[20,30]]' in html  # the interactive chart draws the same band
    assert 'id="pauses"' in html and "10 seconds in which loadkit itself stalled for 50 ms or more" in html


def test_errors_in_paused_seconds_are_the_sites_answers(tmp_path: Path) -> None:
    # The site answers 503 to half the requests in the very seconds the machine stalled loadkit: a stall makes
    # answers late, never errors, so the error-rate break is the site's and the run fails.
    stalled = {22, 23, 24, 32, 33, 34}

    def site(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = max(2, int(round(rate)))
        return [40.0 + (i % 10) for i in range(n)], ({"http_503": n // 2} if t in stalled else {})

    def generator(t: int, started: int) -> dict[str, Any]:
        return {"hiccup_ms": 150.0, "cpu": 5.0} if t in stalled else healthy_generator(t, started)

    analysis, verdict = judged(tmp_path, generator, site, slos=[{"metric": "error_rate", "below": "1%"}])
    assert all(r.passed for r in analysis.undisturbed_slo_results)  # held without those seconds
    assert verdict.verdict == "fails", verdict.reasons
    assert verdict.reasons[0].startswith("The error rate of all requests reached"), verdict.reasons


def test_one_late_visitor_of_a_short_run_is_tolerated_and_two_are_not(tmp_path: Path) -> None:
    # A 2 s smoke run of 10 visitors: 2% of the plan is a fifth of a visitor, so a single visitor started late
    # by one stall of the machine would make any short run inconclusive. One is tolerated (as in a search's
    # level, analysis/levels.py); two of ten are 20% of the plan, and are not.
    smoke = {"traffic": {"profile": "constant", "rate": "5/s", "duration": "2s"},
             "journeys": [{"name": "j", "steps": [{"get": "/"}]}], "slos": [{"metric": "p95", "below": "500ms"}],
             "verdict": {"headroom_probe": False}}

    def late(n: int) -> Any:
        def generator(t: int, started: int) -> dict[str, Any]:
            return {"late": n, "hiccup_ms": 138.0, "cpu": 2.0} if t == 0 else healthy_generator(t, started)
        return generator

    one, verdict = judged(tmp_path / "one", late(1), **smoke)
    assert (one.traffic.planned_arrivals, one.traffic.late_arrivals) == (10, 1)
    assert verdict.verdict == "survives", verdict.reasons
    _, verdict = judged(tmp_path / "two", late(2), **smoke)
    assert verdict.verdict == "inconclusive", verdict.reasons
    assert verdict.reasons[0].startswith("The machine paused loadkit for up to 138 ms"), verdict.reasons
