import math

import pytest

from loadkit.scenario import load_scenario, parse_scenario
from loadkit.traffic import build_plan, judged_phases

JOURNEY = [{"name": "j", "steps": [{"get": "/"}]}]


def scenario(traffic: dict, **extra: object):
    return parse_scenario({"name": "t", "traffic": traffic, "journeys": JOURNEY, **extra})


def test_burst_shape_and_phases() -> None:
    plan = build_plan(scenario({"baseline": "2/s", "peak": "20/s", "lead_in": "10s", "ramp": "10s", "hold": "20s",
                                "decay_half_life": "5s", "decay": "15s", "recovery": "10s"}))
    names = [p.name for p in plan.phases]
    assert names == ["baseline", "ramp", "peak", "decay", "probe-ramp", "probe", "recovery"]
    assert plan.rate(5) == pytest.approx(2)
    assert plan.rate(15) == pytest.approx(11)
    assert plan.rate(30) == pytest.approx(20)
    assert plan.rate(45) == pytest.approx(2 + 18 * 0.5)  # one half-life into the decay
    assert plan.probe_level == pytest.approx(30)
    assert plan.planned_peak == pytest.approx(20)
    assert judged_phases(plan) == ("baseline", "ramp", "peak", "decay")
    # integral: baseline 20 + ramp 110 + hold 400 + decay + probe ramp + probe hold + recovery
    decay = 2 * 15 + 18 * 5 / math.log(2) * (1 - 2 ** -3)
    probe_ramp = (2 + 18 * 2 ** -3 + 30) / 2 * 10
    assert plan.total_arrivals == pytest.approx(20 + 110 + 400 + decay + probe_ramp + 30 * 20 + 20)


def test_audience_compiler_integral_equals_expected_visitors() -> None:
    traffic = {"baseline": "1/s", "audience": {"viewers": 1_500_000, "visit_share": "0.4%", "window": "15m"},
               "ramp": "45s", "hold": "2m", "decay_half_life": "3m"}
    plan = build_plan(scenario(traffic, verdict={"headroom_probe": False}))
    burst = [p for p in plan.phases if p.name in ("ramp", "peak", "decay")]
    above_baseline = plan.integral(burst[0].start, burst[-1].end) - 1.0 * (burst[-1].end - burst[0].start)
    assert above_baseline == pytest.approx(6000, rel=1e-6)
    assert burst[-1].end - burst[0].start == pytest.approx(900)
    assert plan.expected_visitors == pytest.approx(6000)


def test_rate_scale_and_duration_scale() -> None:
    sc = scenario({"profile": "constant", "rate": "10/s", "duration": "20s"})
    plan = build_plan(sc, rate_scale=0.5, duration_scale=2)
    assert plan.duration == pytest.approx(40)
    assert plan.rate(10) == pytest.approx(5)


@pytest.mark.parametrize("spacing", ["uniform", "poisson"])
def test_arrival_times_follow_the_integral(spacing: str) -> None:
    plan = build_plan(scenario({"baseline": "3/s", "peak": "40/s", "lead_in": "5s", "ramp": "5s", "hold": "10s",
                                "decay_half_life": "3s", "recovery": "5s", "spacing": spacing}))
    times = list(plan.arrival_times())
    assert times == sorted(times)
    assert all(0 <= t <= plan.duration for t in times)
    if spacing == "uniform":
        assert len(times) == round(plan.total_arrivals)
        for t_end in (7.0, 15.0, 30.0):  # cumulative count tracks the integral within one arrival
            assert abs(sum(1 for t in times if t < t_end) - plan.integral(0, t_end)) <= 1
    else:
        assert len(times) == pytest.approx(plan.total_arrivals, rel=0.1)


def test_workers_split_the_plan_exactly() -> None:
    plan = build_plan(scenario({"profile": "steps", "start": "5/s", "step": "5/s", "step_duration": "4s",
                                "steps": 3}))
    whole = list(plan.arrival_times())
    parts = [list(plan.arrival_times(i, 3)) for i in range(3)]
    assert sorted(t for p in parts for t in p) == whole
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1


def test_bundled_scenarios_plan() -> None:
    tv = build_plan(load_scenario("tv-spot"))
    assert tv.duration <= 180
    assert tv.probe_level == pytest.approx(1.5 * tv.planned_peak)
    smoke = build_plan(load_scenario("smoke"))
    assert smoke.duration <= 30
    probe = build_plan(load_scenario("capacity-probe"))
    assert [p.level for p in probe.phases] == pytest.approx([10 + 5 * i for i in range(16)])


def test_the_start_banner_speaks_of_users_for_the_closed_model() -> None:
    from loadkit.plan_description import plan_headline

    closed = build_plan(scenario({"model": "users", "profile": "constant", "rate": 5, "duration": "20s"}))
    assert plan_headline(closed) == "5 looping users over 20 s (closed model)"
    ramp = build_plan(scenario({"model": "users", "profile": "points", "points": [[0, 1], ["10s", 8]]}))
    assert plan_headline(ramp).startswith("up to 8 looping users over 10 s")
    opened = build_plan(scenario({"profile": "constant", "rate": "5/s", "duration": "20s"}))
    assert plan_headline(opened) == "100 visitors over 20 s, peak 5/s"
