"""Paths as URI templates (RFC 6570): what goes on the wire for simple, reserved and hostile values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loadkit.demo import DemoConfig
from loadkit.errors import ScenarioError
from loadkit.scenario import parse_scenario, step_variables
from loadkit.uri import PathTemplate, template_variables

from .helpers import read_summary, run_cli, write_scenario


@pytest.mark.parametrize("value, simple, reserved", [
    ("books/non-fiction_5", "books%2Fnon-fiction_5", "books/non-fiction_5"),
    ("plain-value_1.~", "plain-value_1.~", "plain-value_1.~"),  # unreserved: never encoded
    ("../admin", "..%2Fadmin", "../admin"),  # one segment stays one segment; {+} keeps the dots (RFC 6570)
    ("a?b=1", "a%3Fb%3D1", "a?b=1"),
    ("top#frag", "top%23frag", "top"),  # a browser never sends the fragment
    ("two words", "two%20words", "two%20words"),
    ("ünïcode", "%C3%BCn%C3%AFcode", "%C3%BCn%C3%AFcode"),
    ("100%", "100%25", "100%25"),
    ("a%2Fb", "a%252Fb", "a%2Fb"),  # {+} passes percent-encoded triplets through; {} encodes the %
])
def test_simple_and_reserved_expansion(value: str, simple: str, reserved: str) -> None:
    assert PathTemplate("/c/{v}/").expand({"v": value}) == f"/c/{simple}/"
    assert PathTemplate("/c/{+v}").expand({"v": value}) == f"/c/{reserved}"


def test_query_values_and_operators() -> None:
    assert PathTemplate("/search?q={q}&page={n}").expand({"q": "tea & cake", "n": 2}) == \
        "/search?q=tea%20%26%20cake&page=2"
    assert PathTemplate("/search{?q,page}").expand({"q": "a b", "page": 3}) == "/search?q=a%20b&page=3"
    assert PathTemplate("/static/path").expand({}) == "/static/path"


def test_a_whole_path_from_a_variable() -> None:
    link = "/en-gb/catalogue/category/books/non-fiction_2/?sort=price#top"
    assert PathTemplate("{+link}").expand({"link": link}) == "/en-gb/catalogue/category/books/non-fiction_2/?sort=price"
    scenario = parse_scenario({"name": "t", "traffic": {"profile": "constant", "rate": "1/s", "duration": "1s"},
                               "journeys": [{"name": "j", "steps": [
                                   {"get": "/", "extract": {"link": {"css": "a", "text": "Books", "attr": "href"}}},
                                   {"get": "{+link}"}]}]})
    step = scenario.journeys[0].steps[1]
    assert step_variables(step) == {"link"} and step.endpoint == "GET {+link}"


def test_a_whole_path_needs_the_reserved_form_and_a_defined_variable() -> None:
    def load(path: str) -> None:
        parse_scenario({"name": "t", "traffic": {"profile": "constant", "rate": "1/s", "duration": "1s"},
                        "journeys": [{"name": "j", "steps": [{"get": path}]}], "data": {"link": {"values": ["/x"]}}})
    load("{+link}")
    with pytest.raises(ScenarioError, match=r"keeps its '/' only as \{\+var\}.*write \{\+link\}"):
        load("{link}")
    with pytest.raises(ScenarioError, match="must start with '/'"):
        load("products/1")
    with pytest.raises(ScenarioError, match=r"uses \{other\} before it is defined"):
        load("/p/{+other}")


def test_environment_references_are_not_template_variables() -> None:
    assert template_variables("/pay?token=${PAY_TOKEN}&id={id}") == {"id"}
    assert PathTemplate("/pay?token=${PAY_TOKEN}&id={id}", {"PAY_TOKEN": "s3/cr t"}).expand({"id": 7}) == \
        "/pay?token=s3%2Fcr%20t&id=7"


@pytest.mark.integration
def test_a_whole_link_and_an_environment_value_on_the_wire(tmp_path: Path, demo_factory: Any) -> None:
    """Against the demo shop: a category link taken whole from the home page (its '/' kept, not %2F), and a
    form value read from the environment (never written into the run directory)."""
    site = demo_factory(DemoConfig())
    before = site.stats()["by_page"]
    scenario = write_scenario(tmp_path / "links.yaml", {
        "name": "links", "csrf": "off",
        "traffic": {"profile": "constant", "rate": "3/s", "duration": "2s"},
        "journeys": [{"name": "j", "steps": [
            {"get": "/", "extract": {"garden": {"css": "a", "text": "Garden", "attr": "href"}}},
            {"get": "{+garden}", "expect": {"contains": "Garden"}},
            {"get": "/products/kitchen-01", "extract": {"csrf": {"css": "input[name=csrf_token]", "attr": "value"}}},
            {"post": "/cart", "form": {"product": "${LK_TEST_PRODUCT}", "csrf_token": "{csrf}"},
             "expect": {"status": 303}},
        ]}]})
    missing = run_cli("run", str(scenario), "--target", site.url, "--out", str(tmp_path / "missing"))
    assert missing.returncode == 2 and "reads ${LK_TEST_PRODUCT}" in missing.stderr
    result = run_cli("run", str(scenario), "--target", site.url, "--out", str(tmp_path / "run"),
                     env={"LK_TEST_PRODUCT": "garden-02"})
    assert result.returncode == 0, result.stderr
    summary = read_summary(tmp_path / "run")
    assert summary["totals"]["failures"] == 0, summary["errors"]
    endpoints = {e["name"]: e["requests"] for e in summary["endpoints"]}
    assert endpoints["GET {+garden}"] == 6
    after = site.stats()["by_page"]
    # (plus the rehearsal's one visit before the load)
    assert after["category"] - before.get("category", 0) == 6 + 1  # /category/garden, not /category%2Fgarden
    assert after["add_to_cart"] - before.get("add_to_cart", 0) == 6 + 1
    assert "garden-02" not in (tmp_path / "run" / "scenario.yaml").read_text()
