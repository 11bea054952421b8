"""Real storefront habits against the demo shop: CSRF tokens, CSS and JSON checks, data-driven pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loadkit.demo import DemoConfig

from .helpers import read_summary, run_cli, write_scenario

pytestmark = pytest.mark.integration


def _buy_without_tokens(csrf: str) -> dict[str, Any]:
    """Buy through the demo's checkout without one word about CSRF in the steps."""
    return {
        "name": f"csrf-{csrf}", "csrf": csrf,
        "traffic": {"profile": "constant", "rate": "5/s", "duration": "3s"},
        "journeys": [{"name": "buy", "steps": [
            {"get": "/products/{product}"},
            {"post": "/cart", "form": {"product": "{product}"}, "expect": {"status": 303}},
            {"get": "/cart", "expect": {"contains": "Your cart"}},
            {"post": "/checkout", "form": {}, "expect": {"contains": "Thank you for your order"}},
        ]}],
        "data": {"product": {"values": ["kitchen-01", "garden-02", "lighting-03"]}},
    }


def test_checkout_succeeds_only_with_automatic_csrf(tmp_path: Path, demo_factory: Any) -> None:
    site = demo_factory(DemoConfig())
    before = site.stats()["orders"]
    on = run_cli("run", str(write_scenario(tmp_path / "on.yaml", _buy_without_tokens("auto"))), "--target",
                 site.url, "--out", str(tmp_path / "on"))
    assert on.returncode == 0, on.stderr
    summary = read_summary(tmp_path / "on")
    assert summary["totals"]["failures"] == 0, summary["errors"]
    assert site.stats()["orders"] - before == summary["traffic"]["delivered_arrivals"] == 15
    off = run_cli("run", str(write_scenario(tmp_path / "off.yaml", _buy_without_tokens("off"))), "--target",
                  site.url, "--out", str(tmp_path / "off"))
    summary = read_summary(tmp_path / "off")
    kinds = {(e["endpoint"], e["kind"]) for e in summary["errors"]}
    assert ("POST /cart", "http_403") in kinds  # the shop rejects a form without its token
    assert off.returncode == 1


def test_css_and_json_checks(tmp_path: Path, demo_factory: Any) -> None:
    site = demo_factory(DemoConfig())
    scenario = write_scenario(tmp_path / "checks.yaml", {
        "name": "checks", "csrf": "off",
        "traffic": {"profile": "constant", "rate": "4/s", "duration": "2s"},
        "journeys": [{"name": "j", "steps": [
            {"get": "/products/{product}",
             "extract": {"token": {"css": "input[name=csrf_token]", "attr": "value"},
                         "price": {"css": "p.price"}}},
            {"post": "/cart", "form": {"product": "{product}", "csrf_token": "{token}"},
             "expect": {"status": 303}},
            {"get": "/__stats", "name": "stats ok", "expect": {"json": {"served": "*", "shed": 0}}},
            {"get": "/__stats", "name": "stats wrong", "expect": {"json": {"no.such.field": 1}}},
        ]}],
        "data": {"product": {"csv": str(Path(__file__).resolve().parent.parent / "scenarios" / "data" /
                                        "products.csv"), "column": "slug"}},
    })
    result = run_cli("run", str(scenario), "--target", site.url, "--out", str(tmp_path / "run"))
    summary = read_summary(tmp_path / "run")
    endpoints = {e["name"]: e for e in summary["endpoints"]}
    # every product page of the CSV is one templated endpoint
    assert endpoints["GET /products/{product}"]["requests"] == 8
    assert endpoints["GET /products/{product}"]["failures"] == 0
    assert endpoints["POST /cart"]["failures"] == 0  # the CSS-extracted token was accepted
    assert endpoints["stats ok"]["failures"] == 0
    assert endpoints["stats wrong"]["failures"] == 8
    kinds = {(e["endpoint"], e["kind"]) for e in summary["errors"]}
    assert kinds == {("stats wrong", "check_failed")}
    assert result.returncode == 1
