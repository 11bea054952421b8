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
    # every visitor placed its order, and so did the rehearsal's one visit before the load
    assert site.stats()["orders"] - before == summary["traffic"]["delivered_arrivals"] + 1 == 15 + 1
    off = write_scenario(tmp_path / "off.yaml", _buy_without_tokens("off"))
    refused = run_cli("run", str(off), "--target", site.url, "--out", str(tmp_path / "refused"))
    assert refused.returncode == 2  # at rest already: the scenario's mistake, no load sent
    assert "journey 'buy', step 2 (POST /cart): the site answered 403" in refused.stderr
    off_run = run_cli("run", str(off), "--target", site.url, "--out", str(tmp_path / "off"), "--skip-rehearsal")
    summary = read_summary(tmp_path / "off")
    kinds = {(e["endpoint"], e["kind"]) for e in summary["errors"]}
    assert ("POST /cart", "http_403") in kinds  # the shop rejects a form without its token
    assert off_run.returncode == 1


def test_css_and_json_checks(tmp_path: Path, demo_factory: Any) -> None:
    site = demo_factory(DemoConfig())
    scenario = write_scenario(tmp_path / "checks.yaml", {
        # "stats wrong" fails its check on purpose, at rest too: the rehearsal would stop the run before
        # the load (tests/test_rehearsal.py); here the load's counting of check failures is under test
        "name": "checks", "csrf": "off", "rehearsal": False,
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
        "data": {"product": {"csv": str(Path(__file__).resolve().parent.parent / "loadkit" / "scenarios" /
                                        "data" / "products.csv"), "column": "slug"}},
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


def _record_order(url: str, har: Path) -> None:
    """A real headless Chromium buys one item in the demo shop while Playwright records a HAR."""
    from .test_browser import CHROMIUM, sync_api

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                          "--disable-background-networking", "--disable-component-update"])
        context = browser.new_context(record_har_path=str(har), record_har_content="embed")
        page = context.new_page()
        page.goto(url + "/")
        page.goto(url + "/products/kitchen-01")
        page.click("text=Add to cart")
        page.wait_for_url("**/cart")
        page.click("text=Checkout")
        page.wait_for_load_state("load")
        assert "Thank you for your order" in page.content()
        context.close()
        browser.close()


def test_a_recorded_browser_visit_becomes_a_scenario_that_runs_clean(tmp_path: Path, demo_factory: Any) -> None:
    pytest.importorskip("playwright.sync_api")
    recorded = demo_factory(DemoConfig())
    har = tmp_path / "order.har"
    _record_order(recorded.url, har)
    out = tmp_path / "order.yaml"
    result = run_cli("init", "--from-har", str(har), "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert "/static/app.css" in text.split("\n\n")[0] or "static assets" in text  # listed, not loaded
    assert "{csrf_token}" in text and "extract:" in text  # the token the site handed out is extracted
    assert "sid=" not in text  # the session cookie is the cookie jar's business, never copied
    assert "post: /checkout" in text and "status: 303" in text
    # the scenario runs against a fresh shop with zero failures
    site = demo_factory(DemoConfig())
    before = site.stats()["orders"]
    run = run_cli("run", str(out), "--target", site.url, "--duration-scale", "0.12", "--out", str(tmp_path / "run"))
    summary = read_summary(tmp_path / "run")
    assert summary["totals"]["failures"] == 0, (summary["errors"], run.stderr[-1500:])
    assert summary["traffic"]["delivered_arrivals"] > 5
    # one order a visitor, plus one from the rehearsal's visit of the (one) journey before the load
    assert site.stats()["orders"] - before == summary["traffic"]["delivered_arrivals"] + 1
    # a second conversion never overwrites the first
    again = run_cli("init", "--from-har", str(har), "--out", str(out))
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.parametrize("mode, expected", [("off", 0), ("empty-cache", 10), ("warm-cache", 1)])
def test_page_resources_like_a_browser_with_an_empty_or_warm_cache(tmp_path: Path, demo_factory: Any, mode: str,
                                                                  expected: int) -> None:
    site = demo_factory(DemoConfig())
    before = site.stats()["by_page"].get("static", 0)
    scenario = write_scenario(tmp_path / "assets.yaml", {
        "name": "assets", "page_resources": mode,
        "traffic": {"profile": "constant", "rate": "5/s", "duration": "2s"},
        "journeys": [{"name": "look", "steps": [{"get": "/"}, {"get": "/products/kitchen-01"}]}]})
    result = run_cli("run", str(scenario), "--target", site.url, "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    summary = read_summary(tmp_path / "run")
    endpoints = {e["name"]: e for e in summary["endpoints"]}
    fetched = endpoints.get("asset: GET /static/app.css", {"requests": 0})["requests"]
    # empty cache: each of the 10 visitors loads the stylesheet once (both pages share it); warm cache:
    # the stylesheet is cacheable (max-age), so only the first visitor loads it
    assert fetched == expected
    # the site also served the rehearsal's one visit (before the load, not measured), its stylesheet included
    assert site.stats()["by_page"].get("static", 0) - before == expected + (mode != "off")
    assert summary["totals"]["failures"] == 0
