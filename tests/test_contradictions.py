"""Pages that once contradicted themselves, as regression tests over summary.json and the rendered files.

Each case is a synthetic run directory (no load sent) shaped like a report that once said two things at
once: SURVIVES beside a capacity below the peak, "with margin" where no margin was tested, "what broke
first" under a green verdict, a limit in one table and another in the next.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadkit.report import render_run_dir
from tests.synth import make_run_dir, scenario_doc


def _render(path: Path, doc: dict[str, Any], shape: Any) -> dict[str, Any]:
    run = make_run_dir(path, doc, shape)
    render_run_dir(run)
    return dict(json.loads((run / "summary.json").read_text(encoding="utf-8")))


def _fast(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
    return [40.0 + (i % 10) for i in range(max(1, int(round(rate))))], {}


def test_a_slow_start_is_not_survives_beside_a_capacity_below_the_peak(tmp_path: Path) -> None:
    # Slow for the first ten seconds of four minutes: the run's total p95 held, two windows did not.
    def cold(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        return ([3000.0] * max(1, int(round(rate))), {}) if t < 10 else _fast(t, endpoint, rate)

    doc = scenario_doc(traffic={"profile": "constant", "rate": "20/s", "duration": "240s"},
                       slos=[{"metric": "p95", "below": "500ms"}, {"metric": "error_rate", "below": "1%"}])
    summary = _render(tmp_path / "r", doc, cold)
    cap = summary["capacity"]
    if cap["found"] or cap["arrivals_per_s"] < summary["traffic"]["peak_planned_per_s"]:
        assert summary["verdict"] == "fails", (summary["verdict"], cap)
    assert summary["verdict"] != "survives"


def test_no_margin_claimed_when_no_probe_ran(tmp_path: Path) -> None:
    doc = scenario_doc(traffic={"profile": "constant", "rate": "10/s", "duration": "30s"})
    summary = _render(tmp_path / "r", doc, _fast)
    assert summary["verdict"] == "survives"
    assert "margin" not in summary["headline"] or "not tested" in summary["headline"]
    assert summary["capacity"]["arrivals_per_s"] >= 10


def test_nothing_broke_first_under_a_green_verdict(tmp_path: Path) -> None:
    # A handful of errors in one window: over 1% of that window's requests, well under 1% of the run's.
    def blip(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        latencies, _ = _fast(t, endpoint, rate)
        return (latencies, {"http_500": 1}) if t == 31 and endpoint == "GET /" else (latencies, {})

    run = make_run_dir(tmp_path / "r", scenario_doc(), blip)
    render_run_dir(run)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["verdict"] == "survives"
    assert summary["broke_first"] == []
    assert "What broke first" not in (run / "report.html").read_text(encoding="utf-8")


def test_capacity_agrees_with_the_probe_that_held(tmp_path: Path) -> None:
    # A short probe, as in the smoke scenario: no 5-second window lies wholly inside its hold.
    doc = scenario_doc(verdict={"probe_ramp": "2s", "probe_hold": "4s", "recovery_within": "10s"})
    summary = _render(tmp_path / "r", doc, _fast)
    assert summary["verdict"] == "survives"
    probe = summary["traffic"]["probe_per_s"]
    assert any(f"headroom probe at {probe:.3g}" in r for r in summary["reasons"])
    assert not summary["capacity"]["found"] and summary["capacity"]["arrivals_per_s"] >= probe


def test_what_broke_first_uses_the_limit_of_the_slo_table(tmp_path: Path) -> None:
    # Checkout is slow from 0:25: over its own p99 limit (1 s) and over the all-requests p95 (500 ms).
    def slow_checkout(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = max(2, int(round(rate)))
        return ([1500.0] * n if t >= 25 and endpoint == "POST /checkout" else [40.0] * n), {}

    summary = _render(tmp_path / "r", scenario_doc(), slow_checkout)
    assert summary["verdict"] == "fails"
    failed = {(s["endpoint"], s["metric"]): s for s in summary["slos"] if not s["passed"]}
    for row in summary["broke_first"]:
        if row.get("endpoint") == "POST /checkout" and row.get("slo"):
            slo = failed[("POST /checkout", row["metric"])]
            assert row["limit"] == slo["threshold"] and row["observed"] == slo["observed"]


def test_a_break_in_the_probe_ramp_is_judged_in_the_probe(tmp_path: Path) -> None:
    # The site slows once the load passes 24/s: only in the probe's ramp and hold (peak 20, probe 30).
    def knee(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = max(1, int(round(rate)))
        return ([40.0] * n if rate <= 24 else [2000.0] * n), {}

    summary = _render(tmp_path / "r", scenario_doc(), knee)
    assert summary["verdict"] == "at-risk"
    probe = [s for s in summary["slos"] if s["phase"] == "probe" and not s["passed"]]
    assert probe and all(s["first_break_s"] < 55 for s in probe)  # the probe's hold starts at 0:55
    cap = summary["capacity"]
    assert cap["found"] and 1 <= cap["headroom"] < 1.5


def test_the_decay_shows_where_it_starts_and_ends(tmp_path: Path) -> None:
    summary = _render(tmp_path / "r", scenario_doc(), _fast)
    decay = next(p for p in summary["phases"] if p["phase"] == "decay")
    assert decay["level_from"] > decay["level_to"]


def _audience_doc(share: str, **traffic: Any) -> dict[str, Any]:
    # 547 k viewers x 0.1% over this shape compile to a peak of about 20/s above a 2/s baseline.
    base = scenario_doc()
    return {**base, "traffic": {**{k: v for k, v in base["traffic"].items() if k != "peak"},
                                "audience": {"viewers": 547_000, "visit_share": share, "window": "40s"},
                                **traffic}}


def test_a_break_reached_only_by_a_visit_share_range_is_not_at_risk(tmp_path: Path) -> None:
    # 0.1%..0.4%: the probe climbs to the high end's peak (~74/s); the site slows only above 50/s,
    # 2.5x the planned peak, beyond the 1.5x required: the high estimate breaks it, the headroom holds.
    def knee(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = max(1, int(round(rate)))
        return ([40.0] * n if rate <= 50 else [2000.0] * n), {}

    doc = {**_audience_doc("0.1%..0.4%"), "verdict": {"probe_ramp": "30s", "probe_hold": "10s",
                                                      "recovery_within": "10s"}}
    summary = _render(tmp_path / "r", doc, knee)
    peak, probe = summary["traffic"]["peak_planned_per_s"], summary["traffic"]["probe_per_s"]
    assert probe > 1.5 * peak * 1.5
    cap = summary["capacity"]
    assert cap["found"] and cap["headroom"] >= 1.5
    assert summary["verdict"] == "survives", summary["reasons"]
    assert not any("below the 1.5x required" in r for r in summary["reasons"])
    assert "the high estimate (0.4%) would break" in summary["audience"]["sentence"]


def test_a_max_rate_above_the_required_level_is_not_inconclusive(tmp_path: Path) -> None:
    # safety.max_rate between 1.5x the peak (~30/s) and the high end's peak (~74/s): the verdict's level
    # was within reach.
    summary = _render(tmp_path / "r", {**_audience_doc("0.1%..0.4%"), "safety": {"max_rate": "40/s"}}, _fast)
    assert summary["verdict"] != "inconclusive", summary["reasons"]


def test_no_audience_limit_for_an_inconclusive_run(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", _audience_doc("0.1%"), _fast, delivered_share=0.5)
    render_run_dir(run)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["verdict"] == "inconclusive"
    assert summary.get("audience") is None
    assert not any("The site survives" in r for r in summary["reasons"])


def test_the_audience_reads_capacity_in_real_visitors_whatever_the_rate_scale(tmp_path: Path) -> None:
    # rate_scale 0.5: the run sends half the moment's rates; the capacity it measured is real visitors/s at
    # the target, and the viewers are the scenario's real audience, so the share maps back through the
    # scenario's own (unscaled) baseline and peak.
    summary = _render(tmp_path / "r", _audience_doc("0.1%", rate_scale=0.5), _fast)
    assert summary["verdict"] == "survives"
    cap, peak_sent = summary["capacity"]["arrivals_per_s"], summary["traffic"]["peak_planned_per_s"]
    peak = peak_sent / 0.5
    expected = 0.001 * (cap / 1.5 - 2) / (peak - 2)
    assert summary["audience"]["max_share"] == pytest.approx(expected, rel=0.02)
