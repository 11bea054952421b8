import json

import pytest

from loadkit.errors import ScenarioError
from loadkit.redaction import redacted_document
from loadkit.scenario import json_schema, load_scenario, parse_scenario

from tests.helpers import run_cli, write_scenario

GOOD = {"name": "ok", "traffic": {"peak": "10/s"}, "journeys": [{"name": "j", "steps": [{"get": "/"}]}]}


def test_bundled_scenarios_are_valid() -> None:
    for name in ("tv-spot", "smoke", "capacity-probe"):
        sc = load_scenario(name)
        assert sc.name == name
        assert sc.slos


def test_endpoint_names_are_templated() -> None:
    sc = load_scenario("smoke")
    assert "GET /products/{product}" in sc.endpoints
    assert "POST /checkout" in sc.endpoints


def _with(path: str, value: object) -> dict:
    doc = json.loads(json.dumps(GOOD))
    node = doc
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    last = keys[-1]
    node[int(last) if last.isdigit() else last] = value
    return doc


@pytest.mark.parametrize("doc,field", [
    (_with("traffic.peak", "fast"), "traffic.peak"),
    (_with("traffic.ramp", "ten seconds"), "traffic.ramp"),
    (_with("journeys", []), "journeys"),
    (_with("journeys.0.steps.0", {"get": "/", "post": "/x"}), "journeys[0].steps[0]"),
    (_with("journeys.0.steps.0", {"fetch": "/"}), "journeys[0].steps[0].fetch"),
    (_with("slos", [{"metric": "p42", "below": "1s"}]), "slos[0].metric"),
    (_with("slos", [{"metric": "p95", "below": "soon"}]), "slos[0]"),
    (_with("traffic.profile", "zigzag"), "traffic"),
    (_with("target", "ftp://example.test"), "target"),
    ({"traffic": {"peak": "1/s"}, "journeys": GOOD["journeys"]}, "name"),
    (_with("journeys.0.steps.0", {"get": "/{missing}"}), "{missing}"),
])
def test_malformed_scenarios_name_the_field(doc: dict, field: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc, "bad.yaml")
    message = str(info.value)
    assert message.startswith("bad.yaml: ")
    assert field in message
    assert "\n" not in message
    assert "Fix:" in message


def test_schema_exports_the_format() -> None:
    schema = json_schema()
    assert schema["title"] == "loadkit scenario"
    assert {"name", "traffic", "journeys", "slos"} <= set(schema["properties"])


def test_secrets_are_redacted_in_the_saved_scenario() -> None:
    doc = dict(GOOD, target="https://user:hunter2@shop.example.test/",
               headers={"Authorization": "Bearer s3cr3t", "X-Trace": "visible", "X-Api-Key": "${API_KEY}"})
    saved = json.dumps(redacted_document(parse_scenario(doc)))
    for secret in ("hunter2", "s3cr3t"):
        assert secret not in saved
    assert "${API_KEY}" in saved
    assert "visible" in saved


@pytest.mark.parametrize("content,needle", [
    ("name: x\ntraffic: {peak: 10/s\n", "YAML syntax error"),
    ("- just\n- a list\n", "mapping"),
    ("name: x\ntraffic: {peak: 10/s}\njourneys: [{name: j, steps: [{get: /}]}]\nslos: [{metric: p95}]\n",
     "slos[0].below"),
])
def test_cli_reports_bad_scenarios_in_one_line(tmp_path, content: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    for command in ("validate", "run", "plan"):
        result = run_cli(command, str(path), timeout=60)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert needle in lines[0]
        assert str(path) in lines[0]
        assert "Traceback" not in result.stderr


def test_cli_unknown_scenario_name() -> None:
    result = run_cli("validate", "no-such-scenario", timeout=60)
    assert result.returncode == 2
    assert "tv-spot" in result.stderr  # the fix lists the bundled names


def test_cli_validate_and_plan_send_nothing(tmp_path) -> None:
    path = write_scenario(tmp_path / "s.yaml", dict(GOOD, target="http://127.0.0.1:9"))
    result = run_cli("validate", str(path), timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("ok: ok:")
    plan = run_cli("plan", str(path), "--json", timeout=60)
    assert plan.returncode == 0
    assert json.loads(plan.stdout)["planned_peak"] == 10
