"""Helpers shared by the tests: CLI runs in a subprocess, scenario files, summaries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def run_child(code: str, timeout: float = 60) -> dict[str, Any]:
    """Run Python ``code`` in a child process (the run stage's gevent stays out of the test process) and
    return the JSON object it printed last."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")))
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``python -m loadkit ARGS`` in a subprocess (the run stage monkey-patches its process)."""
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "loadkit", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def run_cli_parallel(*commands: tuple[str, ...], timeout: float = 240) -> list[subprocess.CompletedProcess[str]]:
    """Run several ``python -m loadkit`` commands at once (independent runs against separate targets)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    procs = [subprocess.Popen([sys.executable, "-m", "loadkit", *args], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for args in commands]
    results = []
    for args, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess([sys.executable, "-m", "loadkit", *args], proc.returncode,
                                                   out, err))
    return results


def write_scenario(path: Path, document: dict[str, Any]) -> Path:
    """Write a scenario document as YAML."""
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def rehearsal_requests(run_dir: Path) -> int:
    """Requests the rehearsal sent before the load (one visit per journey at rest; not measured), from run.json."""
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    return int((meta.get("rehearsal") or {}).get("requests", 0))


def read_summary(run_dir: Path) -> dict[str, Any]:
    """summary.json of a run directory."""
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
