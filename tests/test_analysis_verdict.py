"""Analysis and verdict on synthetic run directories with known answers (pure: no load, no locust)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pandas import testing as pd_testing

from loadkit.analysis import analyze
from loadkit.data import load_run
from loadkit.traffic import build_plan
from loadkit.scenario import parse_scenario
from loadkit.verdict import judge
from tests.synth import make_run_dir, scenario_doc

CAPACITY = 24.0  # visitors/s at which the synthetic site starts to slow down


def healthy(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
    n = max(1, int(round(rate)))
    return [40.0 + (i % 10) for i in range(n)], {}


def saturating(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
    n = max(1, int(round(rate)))
    if rate <= CAPACITY:
        return [40.0 + (i % 10) for i in range(n)], {}
    slow = 40 + (rate - CAPACITY) * 200  # latency grows fast past capacity
    return [slow] * n, {}


def test_survives(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(), healthy)
    analysis = analyze(load_run(run))
    assert analysis.totals.requests == int(analysis.seconds["requests"].sum())
    assert analysis.totals.p95_ms == pytest.approx(49, rel=0.01)
    verdict = judge(analysis)
    assert verdict.verdict == "survives", verdict.reasons
    assert all(r.passed for r in analysis.slo_results)
    assert analysis.capacity.found is False
    assert analysis.recovery.recovered is True


def test_breaks_only_in_the_headroom_probe_is_at_risk(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(), saturating)  # peak 20 < 24 < probe 30
    analysis = analyze(load_run(run))
    verdict = judge(analysis)
    assert verdict.verdict == "at-risk", verdict.reasons
    assert "1.5x" in verdict.reasons[0]
    cap = analysis.capacity
    assert cap.found and cap.limited_by == "latency"
    assert 20 <= cap.arrivals_per_s <= CAPACITY + 1
    assert cap.headroom == pytest.approx(cap.arrivals_per_s / 20)


def test_breaks_at_the_peak_fails_with_endpoint_metric_and_time(tmp_path: Path) -> None:
    doc = scenario_doc(traffic={**scenario_doc()["traffic"], "peak": "40/s"})
    run = make_run_dir(tmp_path / "r", doc, saturating)
    analysis = analyze(load_run(run))
    verdict = judge(analysis)
    assert verdict.verdict == "fails"
    first = verdict.reasons[0]
    assert "p95 response time" in first or "p99 response time" in first
    assert "limit" in first and "first from 0:" in first
    assert any("POST /checkout" in r for r in verdict.reasons)
    broke = [r for r in analysis.slo_results if not r.passed and r.scope == "run"]
    assert broke and all(r.first_break_s is not None and 10 <= r.first_break_s <= 25 for r in broke)


def test_errors_fail_and_fast_failures_do_not_flatter_latency(tmp_path: Path) -> None:
    def erroring(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = max(2, int(round(rate)))
        if rate > 10 and endpoint == "POST /checkout":
            fails = n // 2
            return [1.0] * fails + [300.0] * (n - fails), {"http_503": fails}
        return [40.0] * n, {}

    analysis = analyze(load_run(make_run_dir(tmp_path / "r", scenario_doc(), erroring)))
    verdict = judge(analysis)
    assert verdict.verdict == "fails"
    assert any("error rate" in r for r in verdict.reasons)
    checkout = analysis.endpoints.set_index("endpoint").loc["POST /checkout"]
    assert checkout["ok_p50"] == pytest.approx(300, rel=0.01)  # successes only
    assert checkout["p50"] < checkout["ok_p50"]  # the fast 503s pull the all-request median down
    kinds = analysis.error_kinds
    assert list(kinds["kind"]) == ["http_503"]


def test_interrupted_run_is_inconclusive(tmp_path: Path) -> None:
    analysis = analyze(load_run(make_run_dir(tmp_path / "r", scenario_doc(), healthy, interrupted=True)))
    verdict = judge(analysis)
    assert verdict.verdict == "inconclusive"
    assert "interrupted" in verdict.reasons[0]


def test_undelivered_load_is_never_survives(tmp_path: Path) -> None:
    analysis = analyze(load_run(make_run_dir(tmp_path / "r", scenario_doc(), healthy, delivered_share=0.8)))
    assert analysis.traffic.delivered_arrivals < 0.85 * analysis.traffic.planned_arrivals
    assert judge(analysis).verdict == "inconclusive"


def test_a_lost_worker_is_named_as_the_cause_not_the_generators_capacity(tmp_path: Path) -> None:
    def hot(t: int, started: int) -> dict[str, Any]:  # the surviving worker busy: would read as saturated
        return {"hiccup_ms": 2.0, "cpu": 99.0}

    run = make_run_dir(tmp_path / "r", scenario_doc(), healthy, delivered_share=0.6, generator=hot)
    meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    meta.update(workers=2, lost_workers=["worker 1 lost at 30 s"],
                inconclusive_reasons=["The load generator could not be trusted: worker 1 lost at 30 s."])
    (run / "run.json").write_text(json.dumps(meta), encoding="utf-8")
    verdict = judge(analyze(load_run(run)))
    assert verdict.verdict == "inconclusive"
    lost = [r for r in verdict.reasons if "worker 1 lost at 30 s" in r]
    assert len(lost) == 1, verdict.reasons  # one sentence, also for runs that noted it the older way
    assert lost[0].startswith("loadkit lost a load worker (worker 1 lost at 30 s), so ")
    assert "planned visitors started" in lost[0] and "worker-N.log" in lost[0]
    assert not any("--workers" in r or "saturated" in r or "generator, not the site" in r for r in verdict.reasons), \
        verdict.reasons


def test_slow_recovery_is_at_risk(tmp_path: Path) -> None:
    doc = scenario_doc(verdict={"headroom_probe": False, "recovery_within": "5s"})
    plan = build_plan(parse_scenario(doc))
    recovery_start = next(p.start for p in plan.phases if p.name == "recovery")

    def lingering(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = max(1, int(round(rate)))
        slow = recovery_start <= t < recovery_start + 12
        return [450.0 if slow else 40.0] * n, {}

    analysis = analyze(load_run(make_run_dir(tmp_path / "r", doc, lingering)))
    assert analysis.recovery.recovered is True
    assert analysis.recovery.seconds >= 10
    verdict = judge(analysis)
    assert verdict.verdict == "at-risk"
    assert "to recover" in verdict.reasons[0]


def test_analysis_and_reports_never_import_locust() -> None:
    code = ("import sys, loadkit, loadkit.analysis, loadkit.verdict, loadkit.report, loadkit.cli; "
            "print('locust' in sys.modules, 'gevent' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_public_api_is_curated_and_cheap_to_import() -> None:
    code = ("import sys, types, loadkit; names = set(loadkit.__all__) - {'__version__'}; "
            "print('pandas' in sys.modules, 'locust' in sys.modules); "
            "print(all(not isinstance(getattr(loadkit, n), types.ModuleType) for n in names)); "
            "print(sorted(n for n in dir(loadkit) if not n.startswith('_') and "
            "not isinstance(getattr(loadkit, n), types.ModuleType)) == sorted(names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "True", "True"]


def test_what_broke_first_ranks_endpoints_and_names_them_in_the_reasons(tmp_path: Path) -> None:
    # checkout slows from 0:25 (ramp), errors on GET / begin at 0:35 (peak)
    def shape(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = max(2, int(round(rate)))
        if endpoint == "POST /checkout":
            return ([1500.0] * n if t >= 25 else [40.0] * n), {}
        fails = n // 2 if t >= 35 else 0
        return [5.0] * fails + [40.0] * (n - fails), ({"timeout": fails} if fails else {})

    analysis = analyze(load_run(make_run_dir(tmp_path / "r", scenario_doc(), shape)))
    rows = analysis.broke_first.to_dict("records")
    # Each SLO that broke, with the limit and value of its own row in the SLO table: checkout's p99, then
    # the all-requests p95 with checkout named as the endpoint furthest over it, both from 0:25.
    assert (rows[0]["endpoint"], rows[0]["metric"], rows[0]["slo_break_s"]) == ("POST /checkout", "p99", 25.0)
    assert (rows[1]["endpoint"], rows[1]["metric"], rows[1]["worst_endpoint"]) == ("all requests", "p95",
                                                                                  "POST /checkout")
    assert rows[1]["first_s"] == 25.0
    for row in rows[:2]:
        result = next(r for r in analysis.slo_results if r.slo.name == row["slo"] and not r.passed)
        assert (row["observed"], row["limit"]) == (result.observed, result.limit)
    # GET /'s errors from 0:35: the all-requests error rate broke then, and its own errors began then
    errors = next(r for r in rows if r["metric"] == "error_rate" and r["signal"] == "errors")
    assert (errors["first_s"], errors["worst_endpoint"]) == (35.0, "GET /")
    began = next(r for r in rows if r["signal"] == "errors began")
    assert (began["endpoint"], began["errors_began_s"]) == ("GET /", 35.0)
    verdict = judge(analysis)
    assert verdict.verdict == "fails"
    sentence = next(r for r in verdict.reasons if r.startswith("What broke first"))
    assert sentence.index("POST /checkout") < sentence.index("GET /")
    assert "from 0:25" in sentence and "from 0:35" in sentence
    # fast failures do not flatter latency: all-request p50 of GET / is pulled down, successful-only is not
    get = analysis.endpoints.set_index("endpoint").loc["GET /"]
    assert get["ok_p50"] == pytest.approx(40, rel=0.02)
    assert analysis.totals.collapse_errors == analysis.totals.failures > 0
    assert analysis.totals.shedding_errors == 0


def test_error_classes_and_apdex(tmp_path: Path) -> None:
    from loadkit.analysis import error_class

    assert [error_class(k) for k in ("http_429", "http_503_retry_after", "http_503", "http_500", "timeout",
                                     "connection_reset", "http_404", "check_failed", "tls")] == \
        ["shedding", "shedding", "collapse", "collapse", "collapse", "collapse", "other", "other", "other"]

    # per second and endpoint: 10 requests: 5 satisfied (100 ms), 2 tolerating (1 s), 1 frustrated (3 s),
    # 2 failed (shed with Retry-After)
    def shape(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        return [5.0, 5.0] + [100.0] * 5 + [1000.0] * 2 + [3000.0], {"http_503_retry_after": 2}

    doc = scenario_doc(verdict={**scenario_doc()["verdict"], "apdex_t": "500ms"})
    analysis = analyze(load_run(make_run_dir(tmp_path / "r", doc, shape)))
    assert analysis.totals.apdex == pytest.approx((5 + 2 / 2) / 10)
    assert analysis.totals.shedding_errors == analysis.totals.failures
    assert set(analysis.error_kinds["class"]) == {"shedding"}
    verdict = judge(analysis)
    assert any("turned away politely" in r for r in verdict.reasons)


def test_requests_done_are_counted_in_the_second_they_ended(tmp_path: Path) -> None:
    # GET / answers in 3 s; POST /checkout times out after 10 s in the peak. Started per second is the
    # plan's shape; completed and failed are the same requests moved to when they ended.
    def shape(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = max(1, int(round(rate)))
        if endpoint == "POST /checkout" and 30 <= t < 40:
            return [10_000.0] * n, {"timeout": n}
        return [3_000.0 if endpoint == "GET /" else 40.0] * n, {}

    analysis = analyze(load_run(make_run_dir(tmp_path / "r", scenario_doc(), shape)))
    s = analysis.seconds.set_index("t")
    get = analysis.endpoint_seconds[analysis.endpoint_seconds["endpoint"] == "GET /"].set_index("t")["requests"]
    post = analysis.endpoint_seconds[analysis.endpoint_seconds["endpoint"] == "POST /checkout"] \
        .set_index("t")[["requests", "failures"]]
    for t in range(31, 39):
        # completed in t: GET / requests started 3 s before, POST /checkout's that did not time out
        expected = get[t - 3] + (post.loc[t, "requests"] - post.loc[t, "failures"])
        assert s.loc[t, "completed"] == expected, t
        assert s.loc[t, "failed_done"] == (post.loc[t - 10, "failures"] if t >= 40 else 0)
    assert s.loc[42, "failed_done"] == post.loc[32, "failures"] > 0  # the timeouts, ten seconds on
    assert int(s["completed"].sum() + s["failed_done"].sum()) == analysis.totals.requests


def test_histogram_entries_counted_a_slice_at_a_time_give_the_same_figures(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-entry passes (requests by the second they ended, the latency distribution, grouped percentiles)
    walk the histogram entries in slices to bound memory; slices that cut rows anywhere change no figure."""
    import loadkit.aggregate as aggregate
    from loadkit.data import HistogramTable

    # rows without entries among rows with some: each entry belongs to the row it was written in
    table = aggregate.Exploded(HistogramTable.of([{}, {"i": [1, 2], "c": [1, 1]}, {}, {}, {"i": [3], "c": [2]},
                                                  {"i": [4, 5, 6], "c": [1, 1, 1]}, {}]))
    assert table.rows_of(slice(0, 6)).tolist() == [1, 1, 4, 5, 5, 5]
    assert table.rows_of(slice(2, 4)).tolist() == [4, 5]

    def shape(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = max(1, int(round(rate)))
        slow = 2_500.0 if endpoint == "GET /" else 40.0
        return [slow * (1 + (i % 7) / 10) for i in range(n)], ({"timeout": 1} if t % 11 == 0 else {})

    run = load_run(make_run_dir(tmp_path / "r", scenario_doc(), shape))
    whole = analyze(run)
    monkeypatch.setattr(aggregate, "_ENTRY_SLICE", 7)  # a prime, so slices end inside rows
    sliced = analyze(run)
    assert len(run.hist.idx) > 20 * 7
    pd_testing.assert_frame_equal(sliced.seconds, whole.seconds)
    pd_testing.assert_frame_equal(sliced.latency_distribution, whole.latency_distribution)
    pd_testing.assert_frame_equal(sliced.endpoints, whole.endpoints)
    assert whole.seconds["completed"].sum() > 0 and whole.latency_distribution["count"].sum() == whole.totals.requests


def test_an_endpoint_that_broke_on_response_time_is_scaled_by_at_least_its_factor(tmp_path: Path) -> None:
    """The rate a too-slow endpoint served is not one it can carry: the factor is a floor, and the sentence
    says so (a plain "x1.04" beside "a headroom of 1.18x, below 1.5x" read as a contradiction)."""
    from loadkit.scale import ScaleRow, what_to_scale

    def queueing(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        """Past CAPACITY it serves CAPACITY requests a second, each slower: no failure, only latency."""
        if rate <= CAPACITY:
            return healthy(t, endpoint, rate)
        return [40 + (rate - CAPACITY) * 200] * int(CAPACITY), {}

    run = make_run_dir(tmp_path / "r", scenario_doc(), queueing)
    analysis = analyze(load_run(run))
    rows = what_to_scale(analysis)
    assert rows and all(r.slow for r in rows)
    assert "needed: at least x" in rows[0].sentence() and "too slow at" in rows[0].sentence()
    assert any("needed: at least x" in r for r in judge(analysis).reasons)
    plain = ScaleRow(endpoint="POST /checkout", measured_per_s=8.0, needed_per_s=18.0, factor=2.25)
    assert plain.sentence() == "POST /checkout: 8/s measured, 18/s needed: x2.25"
