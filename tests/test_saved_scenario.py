"""The scenario saved in a run directory loads again into the same :class:`Scenario`.

``loadkit run`` saves the scenario with secrets redacted (``scenario.yaml``); analysis, verdict and reports
rebuild the typed scenario from it with :func:`loadkit.scenario.load_saved_scenario`. Whatever scenario
parses, its saved form must load again with the same values, or a report would silently lose a journey or
an SLO.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from loadkit.errors import DataError, ScenarioError
from loadkit.redaction import redacted_document
from loadkit.scenario import (
    SAVED_SCENARIO,
    Scenario,
    bundled_scenarios,
    load_saved_scenario,
    load_scenario,
    parse_scenario,
    saved_scenario,
)
from tests.test_scenario_fuzz import mutated

EVERY_SECTION: dict[str, Any] = {
    "name": "every-section",
    "description": "a scenario using each kind of field",
    "target": "https://shopper:hunter2@shop.example.test/",
    "allowed_hosts": ["api.example.test", "127.0.0.1:8081"],
    "headers": {"Authorization": "Bearer s3cret", "X-Env": "${HOME}", "Accept-Language": "en"},
    "request_timeout": "2500ms",
    "page_resources": "warm-cache",
    "traffic": {"audience": {"viewers": 2_000_000, "visit_share": "0.4%", "window": "20m"}, "baseline": "3/s",
                "ramp": "1m", "hold": "2m", "spacing": "poisson", "rate_scale": 0.5},
    "data": {"sku": {"range": [1, 10**12]}, "color": ["red", 2, 3.5], "city": {"csv": "cities.csv", "column": "name",
                                                                             "order": "sequential"}},
    "journeys": [
        {"name": "browse", "weight": 3, "steps": [
            {"get": "/products/{sku}?token=abc123&color={color}", "name": "product page"},
            {"think": "1s..4s"},
            {"get": "/cart", "extract": {"csrf": {"css": "input[name=csrf]", "attr": "value"},
                                         "item": {"regex": "item-(\\d+)"}, "total": {"json": "cart.total"}},
             "expect": {"status": [200, 203], "contains": "Cart", "json": {"ok": True, "cart.total": "*"}}},
            {"post": "/cart/{item}", "form": {"csrf": "{csrf}", "city": "{city}"},
             "headers": {"Authorization": "Bearer other"}},
            {"think": 0.5},
            {"get": "https://api.example.test/stock/{+item}", "follow_redirects": True},
        ]},
        {"name": "buy", "steps": [{"post": "/checkout", "json": {"items": [1, 2], "note": None}}]},
    ],
    "slos": [{"metric": "p95", "below": "800ms", "endpoint": "POST /checkout", "phase": "peak"},
             {"metric": "error_rate", "below": "0.5%"}, {"metric": "max", "below": 3}],
    "verdict": {"required_headroom": 2, "apdex_t": "300ms", "max_late_share": "5%"},
    "safety": {"max_rate": "600/m", "abort_when": {"error_rate": "50%", "for": "1m"}},
}

OTHER_SHAPES: list[dict[str, Any]] = [
    {"name": "steps", "traffic": {"profile": "steps", "start": "1/s", "step": "2/s", "step_duration": "10s",
                                  "steps": 3, "model": "users"}, "locustfile": "locustfile.py"},
    {"name": "points", "target": "demo", "traffic": {"profile": "points", "points": [[0, "1/s"], ["1m", "5/s"]]},
     "journeys": [{"name": "j", "steps": [{"get": "/{+path}"}]}], "data": {"path": ["a/b", "c"]}},
    {"name": "constant", "traffic": {"profile": "constant", "rate": 4, "duration": "30s"},
     "journeys": [{"name": "j", "steps": [{"delete": "/x"}, {"think": "2s"}, {"head": "/y"}]}]},
]


def save(scenario: Scenario, run_dir: Path) -> Path:
    """Write ``scenario.yaml`` as ``loadkit run`` does (loadkit/run/__init__.py)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(redacted_document(scenario), sort_keys=False, allow_unicode=True)
    (run_dir / SAVED_SCENARIO).write_text(text, encoding="utf-8")
    return run_dir


def assert_same_values(rebuilt: Scenario, original: Scenario) -> None:
    """What analysis, verdict and reports read is the same after the round trip."""
    assert redacted_document(rebuilt) == redacted_document(original)
    assert rebuilt.endpoints == original.endpoints
    assert rebuilt.traffic == original.traffic
    assert rebuilt.verdict == original.verdict and rebuilt.safety == original.safety
    assert [(s.name, s.limit) for s in rebuilt.slos] == [(s.name, s.limit) for s in original.slos]
    assert [[(s.method, s.think_range if s.method == "THINK" else s.endpoint) for s in j.steps]
            for j in rebuilt.journeys] == [[(s.method, s.think_range if s.method == "THINK" else s.endpoint)
                                            for s in j.steps] for j in original.journeys]
    assert [(j.name, j.weight) for j in rebuilt.journeys] == [(j.name, j.weight) for j in original.journeys]


@pytest.mark.parametrize("name", [name for name, _, _ in bundled_scenarios()])
def test_bundled_scenarios_load_back_from_a_run_directory(tmp_path: Path, name: str) -> None:
    original = load_scenario(name)
    assert_same_values(load_saved_scenario(save(original, tmp_path / "run")), original)


@pytest.mark.parametrize("document", [EVERY_SECTION, *OTHER_SHAPES], ids=lambda d: str(d["name"]))
def test_every_kind_of_field_loads_back_redacted(tmp_path: Path, document: dict[str, Any]) -> None:
    original = parse_scenario(document)
    run_dir = save(original, tmp_path / "run")
    rebuilt = load_saved_scenario(run_dir)
    assert_same_values(rebuilt, original)
    text = (run_dir / SAVED_SCENARIO).read_text(encoding="utf-8")
    assert "hunter2" not in text and "s3cret" not in text and "abc123" not in text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_whatever_parses_loads_back_from_its_saved_form(document: Any) -> None:
    try:
        original = parse_scenario(document)
    except ScenarioError:
        return
    saved = yaml.safe_load(yaml.safe_dump(redacted_document(original), sort_keys=False, allow_unicode=True))
    assert_same_values(saved_scenario(saved, "run/scenario.yaml"), original)


def test_a_missing_saved_scenario_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"scenario.yaml is missing"):
        load_saved_scenario(tmp_path)


def test_an_edited_saved_scenario_names_the_file_and_the_field(tmp_path: Path) -> None:
    run_dir = save(load_scenario("smoke"), tmp_path / "run")
    path = run_dir / SAVED_SCENARIO
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["slos"][0]["below"] = "soon"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_saved_scenario(run_dir)
    message = str(info.value)
    assert message.startswith(f"{path}: slos[0]: ") and "saved with the run" in message and "\n" not in message
    path.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(DataError, match="unreadable"):
        load_saved_scenario(run_dir)


def test_a_scenario_saved_by_an_earlier_loadkit_loads_again(tmp_path: Path) -> None:
    """Before targets had to be base URLs, a target could carry a query string (saved as ``?token=***``);
    before paths were URI templates, ``{?q}`` was literal text. Neither may be run today, but a run that
    used them can still be reported on."""
    document = {"name": "old", "target": "http://127.0.0.1:8080/?token=***",
                "traffic": {"profile": "constant", "rate": 2.0, "duration": 10.0},
                "journeys": [{"name": "j", "steps": [{"get": "/search{?q}"}, {"think": "1s..3s"}]}],
                "slos": [{"metric": "p95", "below": "800ms", "endpoint": "GET /search{?q}"}]}
    with pytest.raises(ScenarioError, match="target"):
        parse_scenario(document)
    (tmp_path / SAVED_SCENARIO).write_text(yaml.safe_dump(document), encoding="utf-8")
    rebuilt = load_saved_scenario(tmp_path)
    assert rebuilt.endpoints == ["GET /search{?q}"]
    assert rebuilt.slos[0].limit == 800.0 and rebuilt.journeys[0].think_seconds == 2.0
    with pytest.raises(ScenarioError, match=r"uses \{q\} before it is defined"):
        parse_scenario({**document, "target": "http://127.0.0.1:8080"})
