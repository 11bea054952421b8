"""Golden files: the rendered reports of a fixed synthetic run, compared whole with volatile parts scrubbed.

A change to a template, the view model or the analysis shows up here as a diff to review. After an
intended change, regenerate with ``LOADKIT_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py`` and
commit the new files in tests/golden/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from loadkit.report import render_run_dir
from tests.synth import make_run_dir, scenario_doc

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("LOADKIT_UPDATE_GOLDEN") == "1"


def shape(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
    n = max(1, int(round(rate)))
    slow = 40 + max(0.0, rate - 24) * 150
    failures = {"http_503_retry_after": n // 4} if rate > 26 and endpoint == "POST /checkout" else {}
    return [slow + i % 7 for i in range(n)], failures


def scrub(text: str) -> str:
    """Volatile or bulky parts out: script bodies (the vendored library is pinned by its own test),
    the policy's hashes, version strings."""
    text = re.sub(r"<script>.*?</script>", "<script>[script]</script>", text, flags=re.S)
    text = re.sub(r"'sha256-[A-Za-z0-9+/=]+'", "'sha256-[hash]'", text)
    text = re.sub(r"<style>.*?</style>", "<style>[style]</style>", text, flags=re.S)
    return re.sub(r"\bloadkit \d+\.\d+\.\d+\S*", "loadkit [version]", text)


@pytest.mark.parametrize("name", ["report.html", "summary.md", "junit.xml", "summary.json"])
def test_rendered_reports_match_the_golden_files(tmp_path: Path, name: str) -> None:
    run = make_run_dir(tmp_path / "run", scenario_doc(), shape)
    render_run_dir(run)
    actual = scrub((run / name).read_text(encoding="utf-8"))
    golden = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from tests/golden/{name} (LOADKIT_UPDATE_GOLDEN=1 to accept)"
