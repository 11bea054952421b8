"""The package as users get it: a wheel installed outside the source tree, and the bundled scenarios in it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from loadkit.scenario import bundled_scenarios, bundled_scenarios_dir

from .helpers import ROOT, in_background, run_cli

# what `pip wheel` needs from a checkout; copied so the build leaves no build/ or *.egg-info in the tree
_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "loadkit")


def _clean_env() -> dict[str, str]:
    """The environment without PYTHONPATH, so nothing can import loadkit from the source tree, and without
    CI's and loadkit's own settings (this test is about the install, not about a CI job's target)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CI") and not k.startswith(("LOADKIT_", "GITHUB_"))}


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    for name in _SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    # Without build isolation the build needs no network: the test extras bring setuptools>=77.
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=240,
                          env=_clean_env(), preexec_fn=in_background)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp / "dist").glob("*.whl")
    return wheel


@pytest.mark.integration
def test_the_wheel_runs_bundled_scenarios_outside_the_source_tree(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    assert wheel.name.startswith("loadkit_burst-")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for bundled in ("tv-spot.yaml", "smoke.yaml", "capacity-probe.yaml", "data/products.csv"):
        assert f"loadkit/scenarios/{bundled}" in names, bundled
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "Name: loadkit-burst\n" in metadata and "License-Expression: MIT\n" in metadata

    # A fresh environment that sees the installed dependencies but not the source tree; loadkit itself
    # comes from the wheel alone.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120, preexec_fn=in_background)
    python, loadkit = venv / "bin" / "python", venv / "bin" / "loadkit"
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                           "--no-index", "--ignore-installed", str(wheel)],
                          capture_output=True, text=True, timeout=240, env=_clean_env(), preexec_fn=in_background)
    assert done.returncode == 0, done.stdout + done.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(loadkit), *args], cwd=elsewhere, env=_clean_env(), capture_output=True,
                              text=True, timeout=timeout)

    where = subprocess.run([str(python), "-c", "import loadkit; print(loadkit.__file__)"], cwd=elsewhere,
                           env=_clean_env(), capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    listed = run("scenarios")
    assert listed.returncode == 0, listed.stderr
    assert {"tv-spot", "smoke", "capacity-probe"} <= {line.split()[0] for line in listed.stdout.splitlines()[:3]}
    assert str(venv) in listed.stdout  # the files it points at are the installed ones

    planned = run("plan", "tv-spot")
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.startswith("scenario tv-spot:") and "headroom probe" in planned.stdout

    smoke = run("run", "smoke", "--demo", "--quiet", "--out", "run", timeout=180)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    summary = json.loads((elsewhere / "run" / "summary.json").read_text(encoding="utf-8"))
    assert summary["run"]["scenario"] == "smoke" and summary["run"]["complete"] is True
    assert summary["totals"]["requests"] > 0 and summary["totals"]["failures"] == 0  # products.csv was read


def test_bundled_scenarios_are_package_data() -> None:
    folder = bundled_scenarios_dir()
    assert folder == ROOT / "loadkit" / "scenarios"
    assert (folder / "data" / "products.csv").is_file()
    assert [name for name, _, _ in bundled_scenarios()] == ["capacity-probe", "smoke", "tv-spot"]
    assert all(description for _, description, _ in bundled_scenarios())


def test_scenarios_command_lists_names_lengths_and_descriptions(tmp_path: Path) -> None:
    result = run_cli("scenarios", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    smoke = next(line for line in lines if line.startswith("smoke "))
    assert "25 s" in smoke and "A small burst" in smoke
    assert lines[-1].startswith("files: ") and lines[-1].split()[1] == str(bundled_scenarios_dir())


def test_a_project_scenarios_folder_comes_before_the_bundled_ones(tmp_path: Path) -> None:
    own = tmp_path / "scenarios"
    own.mkdir()
    text = (bundled_scenarios_dir() / "smoke.yaml").read_text(encoding="utf-8")
    (own / "smoke.yaml").write_text(text.replace("name: smoke", "name: our-smoke"), encoding="utf-8")
    (own / "data").mkdir()
    shutil.copy2(bundled_scenarios_dir() / "data" / "products.csv", own / "data" / "products.csv")
    result = run_cli("validate", "smoke", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: our-smoke:")
