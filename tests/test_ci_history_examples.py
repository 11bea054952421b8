"""The history workflows (docs/ci/github-history.yml, gitlab-history.yml) checked offline (their CI schemas:
tests/test_ci_examples.py): they install loadkit from its own repository, call loadkit with arguments it
accepts, keep a bounded number of runs, and bring the earlier runs back on a clean machine."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import yaml

from loadkit.cli import build_parser

from .helpers import ROOT
from .test_ci_examples import DISTRIBUTION, REPOSITORY

EXAMPLES = ROOT / "docs" / "ci"


def _loadkit_calls(lines: list[str]) -> list[list[str]]:
    """Each loadkit command of the shell lines, as the CI would run it (the first night without the gate)."""
    calls = []
    for line in lines:
        for part in re.split(r";|\|\||&&|\bthen\b", line):
            part = part.strip()
            if part.startswith("loadkit "):
                part = re.sub(r"\$\(date[^)]*\)", "20261202-030000", part).replace("$gate", "--baseline latest-good")
                calls.append(shlex.split(re.sub(r"\$\{?([A-Z_]+)\}?", "value", part))[1:])
    return calls


def _check(lines: list[str]) -> None:
    installs = [line for line in lines if "pip install" in line]
    assert len(installs) == 1 and '"$LOADKIT_INSTALL"' in installs[0]
    calls = _loadkit_calls(lines)
    assert [c[0] for c in calls] == ["run", "history"]
    for args in calls:
        build_parser().parse_args(args)  # exits 2 on an argument loadkit does not take
    assert "--baseline" in calls[0] and "latest-good" in calls[0]
    assert any("head -n" in line and "rm -rf" in line for line in lines)  # a bounded number of runs


def test_github_history_workflow() -> None:
    workflow = yaml.safe_load((EXAMPLES / "github-history.yml").read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    assert {"workflow_dispatch", "schedule"} <= workflow["on"].keys()
    assert workflow["env"]["LOADKIT_INSTALL"].startswith(f"{DISTRIBUTION} @ git+{REPOSITORY}@")
    steps = workflow["jobs"]["rehearsal"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert uses.index("actions/cache/restore@v4") < uses.index("actions/cache/save@v4")
    _check([line for s in steps if "run" in s for line in s["run"].splitlines()])


def test_gitlab_history_workflow() -> None:
    job = yaml.safe_load((EXAMPLES / "gitlab-history.yml").read_text(encoding="utf-8"))["loadkit-rehearsal"]
    assert job["variables"]["LOADKIT_INSTALL"].startswith(f"{DISTRIBUTION} @ git+{REPOSITORY}@")
    assert job["cache"]["paths"] == ["history/"] and job["artifacts"]["paths"] == ["history/"]
    _check(list(job["script"]) + list(job["after_script"]))


def test_the_history_keeps_the_newest_runs(tmp_path: Path) -> None:
    """The pruning line of the workflows, run: of 65 run directories the newest 60 stay."""
    history = tmp_path / "history"
    for k in range(65):
        (history / f"202611{1 + k // 24:02d}-{k % 24:02d}0000").mkdir(parents=True)
    line = next(line for line in (EXAMPLES / "gitlab-history.yml").read_text().splitlines() if "head -n" in line)
    command = line.strip().lstrip("- ")
    subprocess.run(["bash", "-c", command], cwd=tmp_path, env={"KEEP_RUNS": "60", "PATH": "/usr/bin:/bin"},
                   check=True)
    kept = sorted(p.name for p in history.iterdir())
    assert len(kept) == 60 and kept[0] == "20261101-050000"
