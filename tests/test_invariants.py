"""The verdict never contradicts the figures beside it: property tests over synthetic runs of many shapes.

Each example writes a run directory (tests/synth.py) for a site whose latency and errors follow a
generated shape (a capacity past which it slows or fails, a cold start, noise), judges it and builds the
report model, then checks the invariants docs/verdict.md lists. Pure: no load, no locust.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from loadkit.analysis import analyze
from loadkit.data import load_run
from loadkit.report.model import build_model
from loadkit.report.markdown import render_markdown
from loadkit.verdict import judge
from tests.synth import make_run_dir, scenario_doc

BURST = {"baseline": "2/s", "peak": "20/s", "lead_in": "10s", "ramp": "10s", "hold": "20s",
         "decay_half_life": "5s", "decay": "10s", "recovery": "20s"}
PROFILES: dict[str, dict[str, Any]] = {
    "burst": {"traffic": BURST},
    "burst-no-probe": {"traffic": BURST, "verdict": {"headroom_probe": False, "recovery_within": "10s"}},
    "constant": {"traffic": {"profile": "constant", "rate": "10/s", "duration": "30s"}},
    "steps": {"traffic": {"profile": "steps", "start": "4/s", "step": "4/s", "step_duration": "10s", "steps": 6}},
}


@dataclass(frozen=True)
class Site:
    """A synthetic site: fast below ``capacity`` visitors/s, slower (and maybe failing) above it."""

    capacity: float
    base_ms: float
    slope_ms: float  # extra ms per visitor/s over capacity
    cold_s: int  # the first seconds are slow (a cold site)
    cold_ms: float
    errors: str  # none | shed | collapse: failures past capacity
    checkout_factor: float  # POST /checkout is this much slower than GET /

    def __call__(self, t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = max(1, int(round(rate)))
        ms = self.base_ms * (self.checkout_factor if endpoint == "POST /checkout" else 1.0)
        if rate > self.capacity:
            ms += (rate - self.capacity) * self.slope_ms
        if t < self.cold_s:
            ms = max(ms, self.cold_ms)
        latencies = [ms * (0.8 + 0.4 * ((i * 7919 + t * 104729) % 100) / 100) for i in range(n)]
        failures: dict[str, int] = {}
        if rate > self.capacity and self.errors != "none":
            k = min(n, int(math.ceil(n * min(0.5, (rate - self.capacity) / max(rate, 1e-9)))))
            if k:
                failures = {"http_429" if self.errors == "shed" else "http_503": k}
                latencies = [1.0] * k + latencies[k:]
        return latencies, failures


sites = st.builds(Site, capacity=st.floats(1, 60), base_ms=st.floats(5, 400), slope_ms=st.floats(0, 300),
                  cold_s=st.sampled_from([0, 0, 3, 8, 15]), cold_ms=st.floats(100, 4000),
                  errors=st.sampled_from(["none", "shed", "collapse"]), checkout_factor=st.floats(1, 4))
slo_sets = st.builds(lambda p95, err, p99: [{"metric": "p95", "below": f"{p95}ms"},
                                            {"metric": "error_rate", "below": f"{err}%"},
                                            {"endpoint": "POST /checkout", "metric": "p99", "below": f"{p99}ms"}],
                     st.integers(50, 1500), st.sampled_from([0.5, 1, 5]), st.integers(100, 4000))


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?", text)]


# No shrinking: each example writes and analyses a whole run; the generated example is reported as is.
@settings(max_examples=60, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(profile=st.sampled_from(sorted(PROFILES)), site=sites, slos=slo_sets)
def test_the_page_never_contradicts_itself(tmp_path_factory: pytest.TempPathFactory, profile: str, site: Site,
                                           slos: list[dict[str, Any]]) -> None:
    doc = scenario_doc(**PROFILES[profile], slos=slos)
    if "verdict" not in PROFILES[profile]:
        doc["verdict"] = scenario_doc()["verdict"]
    run = make_run_dir(tmp_path_factory.mktemp("run"), doc, site)
    analysis = analyze(load_run(run))
    verdict = judge(analysis)
    model = build_model(analysis, verdict)
    plan, cap = analysis.plan, analysis.capacity
    peak, required = plan.planned_peak, float(doc.get("verdict", {}).get("required_headroom", 1.5))
    text = " ".join([verdict.headline, *verdict.reasons, render_markdown(model)])

    # One rule: an SLO result is failed exactly when its observed value is over its limit or a counted
    # break started in its scope, and the shown value always agrees with pass/fail.
    for r in analysis.slo_results:
        if r.passed:
            assert r.observed is None or r.requests < 5 or r.observed <= r.limit or \
                (r.slo.metric == "error_rate" and r.limit == 0 and r.observed == 0), r
        else:
            assert r.observed is not None and (r.observed > r.limit or (r.limit == 0 and r.observed >= 0)), r
            assert r.first_break_s is not None

    judged_fail = any(not r.passed and r.scope != "probe" for r in analysis.slo_results)
    if verdict.verdict == "survives":
        assert all(r.passed for r in analysis.slo_results)
        assert not analysis.breaks
        assert cap.found is False and cap.arrivals_per_s >= peak * (required if plan.probe_level else 1) * 0.999
        assert model.broke_first == ()
        assert not any(r.startswith("What broke first") for r in verdict.reasons)
    if cap.found and cap.arrivals_per_s < peak * 0.999:
        assert verdict.verdict in ("fails", "inconclusive"), (cap, verdict)
    if verdict.verdict == "fails":
        assert judged_fail or any(b.judged for b in analysis.breaks)
        assert cap.found and cap.arrivals_per_s < peak
    if judged_fail:
        assert verdict.verdict in ("fails", "inconclusive")
    if verdict.verdict == "at-risk" and cap.found:
        assert 1.0 <= cap.headroom < required
    # "with margin" only when a headroom probe ran; no negative or "< 0" figures anywhere
    if "with margin" in text:
        assert plan.probe_level
    assert "< 0" not in text and "below 0" not in text
    assert all(x >= 0 for x in _numbers(model.capacity_figure))
    assert cap.arrivals_per_s >= 0 and (cap.broke_at_per_s or 0) >= 0
    # What broke first carries the SLO table's numbers for the same SLO
    for row in model.broke_first:
        if row.get("slo"):
            slo = next(s for s in model.slos if s.name == row["slo"] and not s.passed and s.phase == row["scope"])
            assert (row["observed"], row["limit"]) == (slo.observed, slo.threshold)
            assert row["first_s"] == slo.first_break_s


def test_a_cold_first_window_alone_never_decides(tmp_path: Path) -> None:
    """The first requests to a cold site are slow for three seconds: shown, not a break."""
    site = Site(capacity=100, base_ms=40, slope_ms=0, cold_s=3, cold_ms=3000, errors="none", checkout_factor=1)
    analysis = analyze(load_run(make_run_dir(tmp_path / "r", scenario_doc(), site)))
    verdict = judge(analysis)
    assert verdict.verdict == "survives", verdict.reasons
    assert analysis.capacity.found is False


def test_a_slow_start_that_lasts_is_a_break(tmp_path: Path) -> None:
    """Slow for the first ten seconds of four minutes: two windows in a row count, although the run's
    total p95 held (the slow requests are 4% of all)."""
    site = Site(capacity=100, base_ms=40, slope_ms=0, cold_s=10, cold_ms=3000, errors="none", checkout_factor=1)
    doc = scenario_doc(traffic={"profile": "constant", "rate": "20/s", "duration": "240s"})
    analysis = analyze(load_run(make_run_dir(tmp_path / "r", doc, site)))
    verdict = judge(analysis)
    assert verdict.verdict == "fails", verdict.reasons
    p95 = next(r for r in analysis.slo_results if r.slo.metric == "p95" and r.scope == "run")
    assert p95.first_break_s == 0 and p95.until_s == 10 and not p95.over_scope
    assert p95.scope_observed is not None and p95.scope_observed < p95.limit
    assert p95.observed is not None and p95.observed > p95.limit
    assert "from 0:00 to 0:10" in verdict.reasons[0] and "over the whole of it" in verdict.reasons[0]
    assert analysis.capacity.found and analysis.capacity.arrivals_per_s < analysis.plan.planned_peak
