"""The verdict against ground truth: demo storefronts whose capacity is set by their knobs.

Each test starts its storefronts with known capacity, runs real loadkit runs against them side by side
(in parallel, as separate processes), and checks what loadkit concluded against what the knobs imply.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadkit.demo import DemoConfig, DEFAULT_SERVICE_MS

from .helpers import read_summary, run_cli_parallel, write_scenario

pytestmark = [pytest.mark.integration, pytest.mark.timing]


def _service(**changes: float) -> dict[str, float]:
    return {**DEFAULT_SERVICE_MS, **changes}


def _probe_from(tmp_path: Path, start: float, steps: int) -> Path:
    """The bundled capacity probe (its journeys, data and SLOs) on a shorter ladder of 5/s steps."""
    bundled = importlib.resources.files("loadkit") / "scenarios"
    document = yaml.safe_load((bundled / "capacity-probe.yaml").read_text(encoding="utf-8"))
    document["traffic"].update(start=f"{start:g}/s", steps=steps)
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "products.csv").write_bytes((bundled / "data" / "products.csv").read_bytes())
    return write_scenario(tmp_path / f"probe-from-{start:g}.yaml", document)


@pytest.mark.timing(seconds=44)
def test_capacity_probe_finds_the_knob_derived_capacity_at_two_settings(demo_factory: Any, tmp_path: Path) -> None:
    # The bundled probe's buyers (30% of visitors) each place one order; the payment slots are the limit.
    settings = [DemoConfig(checkout_slots=4), DemoConfig(checkout_slots=2)]
    truths = [cfg.capacity_per_s("checkout") / 0.3 for cfg in settings]  # visitors/s: 53.3 and 26.7
    sites = [demo_factory(cfg) for cfg in settings]
    runs = [tmp_path / "four-slots", tmp_path / "two-slots"]
    # The ladder starts at 35/s (17.5/s at --rate-scale 0.5), well below both capacities, and climbs past
    # them in 5/s steps of 5 s: the steps below 35/s would only say again that the site held.
    probe = _probe_from(tmp_path, start=35, steps=8)
    results = run_cli_parallel(
        ("run", str(probe), "--target", sites[0].url, "--duration-scale", "0.5", "--out", str(runs[0]),
         "--quiet"),
        ("run", str(probe), "--target", sites[1].url, "--duration-scale", "0.5", "--rate-scale", "0.5",
         "--out", str(runs[1]), "--quiet"))
    for run_dir, truth, result in zip(runs, truths, results, strict=True):
        assert result.returncode in (0, 1), result.stderr
        capacity = read_summary(run_dir)["capacity"]
        assert capacity["found"], capacity
        assert capacity["arrivals_per_s"] == pytest.approx(truth, rel=0.10), (truth, capacity)
        assert capacity["limited_by"] in ("latency", "errors", "throughput plateau")


def _checkout_scenario(peak: float) -> dict[str, Any]:
    """Every visitor buys: product page, add to cart, checkout (the payment slots are the bottleneck)."""
    return {
        "name": f"buy-at-{peak:g}",
        "traffic": {"profile": "burst", "baseline": "2/s", "peak": f"{peak}/s", "lead_in": "5s", "ramp": "5s",
                    "hold": "10s", "decay": "2s", "decay_half_life": "1s", "recovery": "10s"},
        "journeys": [{"name": "buy", "steps": [
            {"get": "/products/kitchen-01", "extract": {"csrf": {"regex": "name=.csrf_token. value=.([^\"']+)"}}},
            {"post": "/cart", "form": {"product": "kitchen-01", "csrf_token": "{csrf}"}, "expect": {"status": 303}},
            {"post": "/checkout", "form": {"csrf_token": "{csrf}"}},
        ]}],
        "slos": [{"metric": "p95", "below": "400ms"}, {"endpoint": "POST /checkout", "metric": "p95", "below": "400ms"},
                 {"metric": "error_rate", "below": "1%"}],
        "verdict": {"probe_ramp": "3s", "probe_hold": "10s"},
    }


@pytest.mark.timing(seconds=48)
def test_verdicts_at_half_near_and_double_capacity(demo_factory: Any, tmp_path: Path) -> None:
    config = DemoConfig(checkout_slots=2, service_ms=_service(checkout=100.0))
    capacity = config.capacity_per_s("checkout")  # 20 orders/s = 20 visitors/s
    peaks = {"survives": 0.5 * capacity, "at-risk": 0.85 * capacity, "fails": 2 * capacity}
    commands, dirs = [], {}
    for expected, peak in peaks.items():
        site = demo_factory(config)
        scenario = write_scenario(tmp_path / f"{expected}.yaml", _checkout_scenario(peak))
        dirs[expected] = tmp_path / f"run-{expected}"
        commands.append(("run", str(scenario), "--target", site.url, "--out", str(dirs[expected]), "--quiet"))
    results = run_cli_parallel(*commands)
    for (expected, run_dir), result in zip(dirs.items(), results, strict=True):
        summary = read_summary(run_dir)
        assert summary["verdict"] == expected, (expected, summary["reasons"], result.stderr[-2000:])
        assert result.returncode == (1 if expected == "fails" else 0)
        if expected != "survives":
            # the reasons name the endpoint that broke first: the checkout
            assert any("POST /checkout" in r for r in summary["reasons"][:3]), summary["reasons"]
            assert summary["broke_first"][0]["endpoint"] == "POST /checkout", summary["broke_first"]
        else:
            assert all(b["first_s"] is None for b in summary["broke_first"]), summary["broke_first"]


def _overload_scenario() -> dict[str, Any]:
    """A short burst to 1.5x a product-page capacity of 40/s, then a long quiet recovery."""
    return {
        "name": "overload-then-quiet",
        "traffic": {"profile": "burst", "baseline": "2/s", "peak": "60/s", "lead_in": "6s", "ramp": "2s",
                    "hold": "6s", "decay": "1s", "decay_half_life": "0.5s", "recovery": "22s"},
        "journeys": [{"name": "look", "steps": [{"get": "/products/garden-02"}]}],
        "slos": [{"metric": "p95", "below": "5s"}, {"metric": "error_rate", "below": "100%"}],
        "verdict": {"headroom_probe": False, "recovery_within": "15s"},
    }


@pytest.mark.timing(seconds=39)
def test_recovery_is_found_when_the_site_recovers_and_not_when_it_stays_down(demo_factory: Any,
                                                                           tmp_path: Path) -> None:
    service = _service(product=50.0)
    recovers = demo_factory(DemoConfig(slots=2, service_ms=service, recovery_s=5.0))
    stays_down = demo_factory(DemoConfig(slots=2, service_ms=service, recovery_s=float("inf")))
    scenario = write_scenario(tmp_path / "overload.yaml", _overload_scenario())
    results = run_cli_parallel(
        ("run", str(scenario), "--target", recovers.url, "--out", str(tmp_path / "recovers"), "--quiet"),
        ("run", str(scenario), "--target", stays_down.url, "--out", str(tmp_path / "down"), "--quiet"))
    for result in results:
        assert result.returncode in (0, 1), result.stderr
    recovered = read_summary(tmp_path / "recovers")
    assert recovered["recovery"]["recovered"] is True, recovered["recovery"]
    assert 0 < recovered["recovery"]["seconds"] <= 15, recovered["recovery"]
    down = read_summary(tmp_path / "down")
    assert down["recovery"]["recovered"] is False, down["recovery"]
    assert down["verdict"] in ("at-risk", "fails")
    assert any("did not recover" in r for r in down["reasons"]), down["reasons"]
    assert stays_down.stats()["degraded"] is True
