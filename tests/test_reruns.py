"""The suite's one rerun rule (tests/reruns.py), run by a pytest of its own over a few tests written here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.reruns import recorded_pauses

ROOT = Path(__file__).resolve().parents[1]

INNER = '''
import json, os, pathlib, pytest

def _pause(tmp_path, ms):
    run = tmp_path / "run"
    run.mkdir()
    (run / "arrivals.jsonl").write_text(json.dumps({"t": 3, "hiccup_ms": ms}) + "\\n")

def test_paused_then_fine(tmp_path):
    tries = pathlib.Path(os.environ["TRIES"])
    n = int(tries.read_text()) + 1 if tries.exists() else 1
    tries.write_text(str(n))
    _pause(tmp_path, 120)
    assert n >= 2

def test_paused_every_time(tmp_path):
    _pause(tmp_path, 300)
    assert False, "still broken"

def test_fails_with_no_pause(tmp_path):
    _pause(tmp_path, 20)
    assert False

def test_no_runs_at_all(tmp_path):
    assert False
'''


def test_a_test_that_failed_while_paused_runs_once_more_and_nothing_else_does(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("from tests.conftest import (_runs_dir, pytest_report_teststatus,"
                                          " pytest_runtest_protocol, pytest_terminal_summary)\n")
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(PYTHONPATH=str(ROOT), TRIES=str(tmp_path / "tries"))
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
                             "-W", "ignore::pytest.PytestUnknownMarkWarning", "test_inner.py"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "3 failed, 1 passed, 2 rerun" in out, out
    assert "test_inner.py::test_paused_then_fine: the machine paused loadkit: run at 3 s: 120 ms" in out
    assert (tmp_path / "tries").read_text() == "2"
    for name in ("test_paused_every_time", "test_fails_with_no_pause", "test_no_runs_at_all"):
        assert f"FAILED test_inner.py::{name}" in out, out


def test_recorded_pauses_reads_every_run_and_skips_cut_lines(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "arrivals.jsonl").write_text('{"t": 1, "hiccup_ms": 49.9}\n{"t": 2, "hiccup_ms": 50}\n'
                                                   '{"t": 3, "hi')
    (tmp_path / "b" / "c").mkdir(parents=True)
    (tmp_path / "b" / "c" / "arrivals.jsonl").write_text('{"t": 0, "hiccup_ms": null}\n{"t": 9, "hiccup_ms": 412.4}\n')
    assert recorded_pauses(tmp_path) == ["a at 2 s: 50 ms", "b/c at 9 s: 412 ms"]
