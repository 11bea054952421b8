"""Journeys as results, orders lost, what to scale, the audience the site can take, and the capacity search:
real runs against the demo storefront, whose knobs give the truth, and pure unit checks of the arithmetic."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from loadkit.demo import DemoConfig
from loadkit.scenario import parse_scenario

from .helpers import read_summary, run_cli, write_scenario

BUY = {"name": "buy", "steps": [
    {"get": "/products/{product}", "extract": {"csrf": {"regex": 'name=.csrf_token. value=.([^\'"]+)'}}},
    {"post": "/cart", "form": {"product": "{product}", "csrf_token": "{csrf}"}, "expect": {"status": 303}},
    {"post": "/checkout", "name": "POST /checkout", "form": {"csrf_token": "{csrf}"}},
]}
BROWSE = {"name": "browse", "weight": 1, "steps": [{"get": "/"}, {"get": "/products/{product}"}]}
PRODUCTS = ["kitchen-01", "garden-02", "lighting-03", "textiles-04"]


def _shop(demo_factory: Any, checkout_slots: int, checkout_ms: float = 250.0, queue_timeout_ms: float = 300.0) -> Any:
    service = {"home": 5.0, "category": 5.0, "search": 5.0, "product": 5.0, "cart": 5.0, "add_to_cart": 5.0,
               "checkout": checkout_ms, "static": 0.0}
    return demo_factory(DemoConfig(slots=64, checkout_slots=checkout_slots, service_ms=service,
                                   queue_timeout_ms=queue_timeout_ms))


def _scenario(tmp_path: Path, traffic: dict[str, Any], **extra: Any) -> Path:
    doc: dict[str, Any] = {"name": "shop", "traffic": traffic, "journeys": [BUY, BROWSE],
                           "data": {"product": PRODUCTS}, **extra}
    return write_scenario(tmp_path / "shop.yaml", doc)


def test_journey_slo_and_business_parse() -> None:
    scenario = parse_scenario({
        "name": "s", "traffic": {"profile": "constant", "rate": "1/s", "duration": "1s"}, "journeys": [BUY],
        "data": {"product": PRODUCTS},
        "slos": [{"journey": "buy", "metric": "success_rate", "above": "99%"},
                 {"journey": "buy", "metric": "p95_duration", "below": "8s"}],
        "business": {"orders": "buy", "order_value": "42 EUR"}})
    assert [s.limit for s in scenario.slos] == [0.99, 8000.0]
    assert scenario.business is not None and (scenario.business.amount, scenario.business.currency) == (42.0, "EUR")


@pytest.mark.parametrize(("slo", "words"), [
    ({"journey": "buy", "metric": "success_rate", "below": "1%"}, "success_rate takes above"),
    ({"metric": "success_rate", "above": "99%"}, "add journey"),
    ({"journey": "pay", "metric": "success_rate", "above": "99%"}, "not a journey"),
    ({"journey": "buy", "metric": "p95", "below": "1s"}, "journey SLO's metric"),
])
def test_journey_slo_mistakes_are_named(slo: dict[str, Any], words: str) -> None:
    from loadkit.errors import ScenarioError

    with pytest.raises(ScenarioError, match=words):
        parse_scenario({"name": "s", "traffic": {"profile": "constant", "rate": "1/s", "duration": "1s"},
                        "journeys": [BUY], "data": {"product": PRODUCTS}, "slos": [slo]})


def test_order_arithmetic_is_shown() -> None:
    from loadkit.business import OrderFigures

    lost = OrderFigures(label="moment", attempted=100, completed=88, lost=12, cut_short=0, scale=10.0,
                        order_value=42.0, currency="EUR")
    assert lost.value_at_risk == pytest.approx(5040.0)
    assert lost.arithmetic() == ("12 lost x 10 (the run sent 10% of the moment's visitors) = 120 orders x 42 EUR = "
                                 "5,040 EUR")


@pytest.mark.timing
def test_orders_lost_match_the_shops_refused_checkouts(tmp_path: Path, demo_factory: Any) -> None:
    """1 payment slot of 250 ms takes 4 orders/s; 6 buyers/s for 4 s lose about a third of theirs. Every purchase
    the report counts as lost is a checkout the shop refused, exactly, and the journey SLO breaks."""
    shop = _shop(demo_factory, checkout_slots=1)
    path = _scenario(tmp_path, {"profile": "constant", "rate": "24/s", "duration": "4s", "rate_scale": 0.5},
                     slos=[{"journey": "buy", "metric": "success_rate", "above": "99%"},
                           {"journey": "buy", "metric": "p95_duration", "below": "8s"},
                           {"metric": "p95", "below": "5s"}],
                     business={"orders": "buy", "order_value": "42 EUR"})
    out = tmp_path / "run"
    done = run_cli("run", str(path), "--target", shop.url, "--out", str(out), "--quiet")
    assert done.returncode in (0, 1), done.stderr
    stats = shop.stats()
    refused = stats["by_page"]["checkout"] - stats["orders"]  # checkouts the shop did not turn into orders
    summary = read_summary(out)
    buy = next(j for j in summary["journeys"] if j["name"] == "buy")
    browse = next(j for j in summary["journeys"] if j["name"] == "browse")
    assert buy["cut_short"] == 0 and browse["failed"] == 0
    assert buy["failed"] == refused > 0
    assert buy["completed"] + 1 == stats["orders"]  # the rehearsal's one visit placed an order before the load
    assert buy["failed_at"][0]["endpoint"] == "POST /checkout" and buy["failed_at"][0]["step"] == 3
    assert buy["failed_at"][0]["kind"] == "http_503_retry_after"
    assert buy["p95_ms"] is not None and buy["p95_ms"] > 250
    business = summary["business"]
    moment = business["moment"]
    assert moment["lost"] == refused and moment["attempted"] == buy["started"]
    # rate_scale 0.5: the run sent half the moment; each lost purchase stands for two
    assert business["scale"] == pytest.approx(2.0)
    assert moment["lost_scaled"] == pytest.approx(2 * refused)
    assert moment["value_at_risk"] == pytest.approx(2 * refused * 42)
    assert f"{refused} lost x 2" in moment["arithmetic"] and "EUR" in moment["arithmetic"]
    # the journey SLO is judged like the others, and the verdict says so
    rows = [s for s in summary["slos"] if s.get("journey") == "buy" and s["metric"] == "success_rate"]
    assert rows and not rows[0]["passed"]
    assert summary["verdict"] == "fails"
    assert any("share of visits completed of the buy journey" in r for r in summary["reasons"])
    assert any(r.startswith("Journeys up to the planned peak:") and "purchases completed" in r
               for r in summary["reasons"])
    junit = ET.parse(out / "junit.xml").getroot()
    names = [c.get("name") or "" for c in junit.iter("testcase")]
    assert any("success_rate > 99% [journey buy]" in n for n in names)
    md = (out / "summary.md").read_text(encoding="utf-8")
    assert "| journey | visits |" in md and "**Orders**" in md
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.index('id="journeys"') < html.index('id="figures"')
    rows_on_disk = [json.loads(line) for line in (out / "journeys.jsonl").read_text().splitlines() if line]
    assert sum(sum(f["count"] for f in r["failed"]) for r in rows_on_disk if r["journey"] == "buy") == refused


def test_journeys_add_up_across_workers(tmp_path: Path, demo_factory: Any) -> None:
    """Two worker processes each record their visits; the master's journeys.jsonl adds them up to every
    visitor that started, each counted once."""
    shop = _shop(demo_factory, checkout_slots=8)
    path = _scenario(tmp_path, {"profile": "constant", "rate": "10/s", "duration": "3s"})
    out = tmp_path / "run"
    done = run_cli("run", str(path), "--target", shop.url, "--out", str(out), "--quiet", "--workers", "2")
    assert done.returncode == 0, done.stderr
    summary = read_summary(out)
    journeys = {j["name"]: j for j in summary["journeys"]}
    assert sum(j["started"] for j in journeys.values()) == summary["traffic"]["delivered_arrivals"] == 30
    assert journeys["buy"]["completed"] == journeys["buy"]["started"] > 0 and journeys["buy"]["failed"] == 0
    assert journeys["buy"]["p50_ms"] is not None


@pytest.mark.timing
def test_what_to_scale_names_checkout_with_the_factor_its_knobs_imply(tmp_path: Path, demo_factory: Any) -> None:
    """2 payment slots of 250 ms take 8 orders/s. 12 visitors/s, half of them buying, need 6 checkouts/s, and
    with 1.5x headroom 9/s: checkout must grow x1.125; at 24 visitors/s (18/s needed) x2.25. The pages are
    far from their limits, so checkout is the only thing named."""
    shop = _shop(demo_factory, checkout_slots=2)
    path = _scenario(tmp_path, {"profile": "constant", "rate": "24/s", "duration": "8s"},
                     slos=[{"endpoint": "POST /checkout", "metric": "error_rate", "below": "1%"}])
    out = tmp_path / "run"
    done = run_cli("run", str(path), "--target", shop.url, "--out", str(out), "--quiet")
    assert done.returncode == 1, done.stderr
    summary = read_summary(out)
    knobs = DemoConfig(checkout_slots=2).capacity_per_s("checkout")  # 8/s
    needed = 24 * 0.5 * 1.5
    assert [row["endpoint"] for row in summary["scale"]] == ["POST /checkout"]
    row = summary["scale"][0]
    assert row["needed_per_s"] == pytest.approx(needed)
    assert row["factor"] == pytest.approx(needed / knobs, rel=0.10)
    assert any(r.startswith("What to scale, for the planned peak with 1.5x headroom: POST /checkout:")
               for r in summary["reasons"])


def test_the_audience_the_site_can_take_follows_from_capacity_and_the_compiler() -> None:
    """The compiler's visitors are proportional to (peak - baseline): a site that carries 30/s, with 1.5x
    headroom, carries a peak of 20/s, i.e. (20 - 2) / (planned peak - 2) of the planned share."""
    from types import SimpleNamespace

    from loadkit.audience import audience_limit
    from loadkit.held import Capacity
    from loadkit.traffic import build_plan

    scenario = parse_scenario({
        "name": "tv", "journeys": [BUY], "data": {"product": PRODUCTS},
        "traffic": {"profile": "burst", "baseline": "2/s", "ramp": "20s", "hold": "40s", "decay_half_life": "12s",
                    "audience": {"viewers": 1_200_000, "visit_share": "0.2%", "window": "90s"}}})
    plan = build_plan(scenario)
    capacity = Capacity(found=True, arrivals_per_s=30.0, requests_per_s=90.0, limited_by="errors", broke_at_s=50.0,
                        broke_at_per_s=32.0, headroom=30.0 / plan.planned_peak, tested_up_to_per_s=60.0)
    limit = audience_limit(SimpleNamespace(scenario=scenario, plan=plan, capacity=capacity))  # type: ignore[arg-type]
    assert limit is not None
    assert limit.max_share == pytest.approx(0.002 * (20 - 2) / (plan.planned_peak - 2))
    # the compiler agrees: that share's audience compiles to a peak the site carries with 1.5x headroom
    smaller = parse_scenario({**scenario.model_dump(mode="json", by_alias=True, exclude_none=True),
                              "traffic": {**scenario.traffic.model_dump(mode="json", exclude_none=True),
                                          "audience": {"viewers": 1_200_000, "visit_share": limit.max_share,
                                                       "window": "90s"}}})
    assert build_plan(smaller).planned_peak * 1.5 == pytest.approx(30.0, rel=1e-6)
    assert limit.sentence().startswith("The site survives up to 0.")
    assert "of 1.2 M viewers" in limit.sentence()


@pytest.mark.timing(seconds=37)
def test_the_audience_stated_after_a_real_burst_is_the_one_the_knobs_imply(tmp_path: Path, demo_factory: Any) -> None:
    """2 payment slots of 250 ms take 8 orders/s; half the visitors buy, so the shop carries 16 visitors/s. A
    burst from 100,000 viewers (0.1%..0.12% visit) peaks at 14.4/s and its probe ramps slowly (0.2/s per second)
    up to 1.25x that, through 16/s. The largest share stated must be the one the knobs imply, within 10%:
    the compiler's peak is baseline + visitors / shape, and a site carrying C visitors/s takes a peak of C / 1.25
    with the required headroom, i.e. ``share x (C / 1.25 - baseline) / (peak - baseline)`` of the viewers."""
    shop = _shop(demo_factory, checkout_slots=2, queue_timeout_ms=100.0)
    viewers, share, baseline, headroom = 100_000, 0.001, 1.0, 1.25
    ramp, hold, decay, half_life = 3.0, 5.0, 1.0, 20.0
    path = _scenario(tmp_path, {
        "profile": "burst", "spacing": "uniform", "baseline": f"{baseline:g}/s", "lead_in": "1s", "ramp": f"{ramp:g}s",
        "hold": f"{hold:g}s", "decay_half_life": f"{half_life:g}s", "recovery": "0s",
        "audience": {"viewers": viewers, "visit_share": "0.1%..0.12%", "window": f"{ramp + hold + decay:g}s"}},
        verdict={"required_headroom": headroom, "probe_ramp": "20s", "probe_hold": "5s"},
        slos=[{"endpoint": "POST /checkout", "metric": "error_rate", "below": "1%"}])
    out = tmp_path / "run"
    done = run_cli("run", str(path), "--target", shop.url, "--out", str(out), "--quiet")
    assert done.returncode in (0, 1), done.stderr
    summary = read_summary(out)
    # the knobs: checkouts/s the payment slots take, over the buyers' share of the visitors (weights 1:1)
    capacity = DemoConfig(checkout_slots=2).capacity_per_s("checkout") / 0.5  # 16 visitors/s
    # the compiler: visitors = (peak - baseline) x (ramp / 2 + hold + half_life / ln 2 x (1 - 2^(-decay / half_life)))
    shape = ramp / 2 + hold + half_life / math.log(2) * (1 - 2 ** (-decay / half_life))
    peak = baseline + viewers * share / shape
    implied = share * (capacity / headroom - baseline) / (peak - baseline)
    assert summary["verdict"] == "at-risk", summary["reasons"]  # the peak held; 1.25x of it did not
    assert summary["capacity"]["found"], summary["capacity"]
    audience = summary["audience"]
    assert not audience["at_least"]
    assert audience["max_share"] == pytest.approx(implied, rel=0.10), (implied, summary["capacity"])
    assert any(r.startswith("The site survives up to ") and "of 100 k viewers" in r for r in summary["reasons"])


def test_an_uncertain_visit_share_probes_its_high_end() -> None:
    """visit_share: 0.1%..0.4%: the planned peak comes from the low end, the headroom probe reaches at least
    the high end's peak."""
    from loadkit.traffic import build_plan

    def plan_for(share: str) -> Any:
        return build_plan(parse_scenario({
            "name": "tv", "journeys": [BUY], "data": {"product": PRODUCTS},
            "traffic": {"profile": "burst", "baseline": "2/s", "ramp": "20s", "hold": "40s",
                        "decay_half_life": "12s", "audience": {"viewers": 1_200_000, "visit_share": share,
                                                                 "window": "90s"}}}))

    ranged, low, high = plan_for("0.1%..0.4%"), plan_for("0.1%"), plan_for("0.4%")
    assert ranged.planned_peak == pytest.approx(low.planned_peak)
    assert ranged.probe_level == pytest.approx(high.planned_peak)
    from loadkit.errors import ScenarioError

    with pytest.raises(ScenarioError, match="low estimate to the high one"):
        plan_for("0.4%..0.1%")
