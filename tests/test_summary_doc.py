"""docs/run-directory.md is summary.json's contract: every field a summary.json holds is documented there.

A synthetic run directory that exercises every optional part (journeys with a business block, an audience,
a break in the headroom probe, the site's own metrics, scenario errors, the rehearsal, an off-site redirect,
a baseline comparison) is rendered; every key path of its summary.json, and of the golden one (a real
run's), must name a row of the field tables in the doc's summary.json section.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from loadkit.baseline import gate
from loadkit.data import append_jsonl, write_json_atomic
from loadkit.histogram import Histogram
from loadkit.report import render_run_dir
from loadkit.scenario import parse_scenario
from loadkit.traffic import build_plan

from .synth import make_run_dir, scenario_doc

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "run-directory.md"
GOLDEN = ROOT / "tests" / "golden" / "summary.json"
CAPACITY = 30.0


def _saturating(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
    """Fine up to CAPACITY arrivals/s, then slower and failing: the headroom probe breaks."""
    over = max(0.0, rate - CAPACITY)
    n = int(rate)
    failures = {"http_503": min(n, int(over))} if over >= 1 else {}
    return [40.0 + 60.0 * over] * n, failures


def _scenario() -> dict[str, Any]:
    base = scenario_doc()
    traffic = {k: v for k, v in base["traffic"].items() if k not in ("peak", "decay")}
    traffic["audience"] = {"viewers": 1_000_000, "visit_share": "0.08%", "window": "60s"}
    return scenario_doc(
        traffic=traffic,
        business={"orders": "j", "order_value": "42 EUR"},
        slos=[*base["slos"], {"journey": "j", "metric": "success_rate", "above": "99%"}])


def _journeys(run: Path, seconds: int) -> None:
    """Five completed visits a second; one failed visit in each second of the probe beyond capacity."""
    plan = build_plan(parse_scenario(_scenario()))
    durations = Histogram()
    for _ in range(5):
        durations.record(250_000)
    rows = [{"t": t, "journey": "j", "completed": 5, "cut_short": 1 if t == seconds - 1 else 0,
             "failed": [{"step": 2, "kind": "http_503", "count": 1}] if plan.rate(t) > CAPACITY + 1 else [],
             "hist": durations.to_dict()} for t in range(seconds)]
    append_jsonl(run / "journeys.jsonl", rows)


def _extras(run: Path) -> None:
    """What a real run adds beside the metrics: run.json's outcome, errors, the site's metrics."""
    meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    meta.update({
        "python_version": "3.11.0", "machine": "Linux x86_64, 2 cores", "verify_tls": True, "connections": "new",
        "preflight": {"url": "http://127.0.0.1:1/", "status": 200, "ms": 3.2},
        "rehearsal": {"ran": True, "visits": 1, "requests": 2, "seconds": 0.1, "broken_steps": [],
                      "site_failures_at_rest": [], "not_rehearsed": []},
        "generator": {"cpu_percent_max": 20.0, "cut_short": 1, "started_arrivals": 100, "dropped_arrivals": 0,
                      "late_arrivals": 0, "cut_short_at": [{"journey": "j", "step_index": 2,
                                                             "step": "POST /checkout", "visitors": 1}]},
        "notes": ["a note"]})
    write_json_atomic(run / "run.json", meta)
    seconds = int(meta["duration_s"])
    _journeys(run, seconds)
    append_jsonl(run / "errors.jsonl", [{"t": 40, "endpoint": "POST /checkout", "method": "POST",
                                         "kind": "http_503", "status": 503, "url": "http://127.0.0.1:1/checkout",
                                         "detail": "busy", "ms": 12.0}])
    append_jsonl(run / "scenario_errors.jsonl", [{
        "t": 3, "endpoint": "GET /gone", "method": "GET", "kind": "http_404", "count": 2,
        "samples": [{"t": 3, "status": 404, "url": "http://127.0.0.1:1/gone", "detail": "Not found", "ms": 1.0}]}])
    hist = Histogram()
    hist.record(1000)
    append_jsonl(run / "metrics.jsonl", [{"t": 5, "endpoint": "GET /", "method": "GET", "requests": 1,
                                          "failures": {}, "bytes": 10, "hist": hist.to_dict(),
                                          "ok_hist": hist.to_dict(), "offsite_redirects": 1,
                                          "offsite_example": "https://elsewhere.test/"}])
    append_jsonl(run / "observed.jsonl", [{"t": float(t), "name": "db_cpu", "value": 10.0 + t}
                                          for t in range(0, seconds, 2)])


def _rich_summary(tmp_path: Path) -> dict[str, Any]:
    base = make_run_dir(tmp_path / "base", _scenario(), _saturating)
    render_run_dir(base)
    run = make_run_dir(tmp_path / "new", _scenario(), _saturating)
    _extras(run)
    gate(base, run)
    render_run_dir(run)
    summary: dict[str, Any] = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    return summary


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every object key's dotted path: list items as ``name[]`` (``journeys[].phases.peak.started``)."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, child in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            paths.add(path)
            paths |= key_paths(child, path)
    elif isinstance(value, list):
        for child in value:
            paths |= key_paths(child, prefix + "[]")
    return paths


def documented_paths() -> list[str]:
    """The field column of the tables in the doc's summary.json section (several paths to a cell)."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## summary.json"):]
    nxt = section.find("\n## ", 3)
    section = section if nxt < 0 else section[:nxt]
    paths = []
    for line in section.splitlines():
        if line.startswith("| `"):
            paths += re.findall(r"`([^`]+)`", line.split("|")[1])
    return paths


def _pattern(doc_path: str) -> re.Pattern[str]:
    """``<name>`` matches any one key; a trailing ``.*`` documents every key below (the same fields as a
    row the description names)."""
    out = []
    for part in re.split(r"(<[a-z_]+>)", doc_path.removesuffix(".*")):
        out.append(r"[^.\[\]]+" if part.startswith("<") else re.escape(part))
    tail = r"(\..+)?" if doc_path.endswith(".*") else ""
    return re.compile("".join(out) + tail)


def undocumented(paths: set[str]) -> list[str]:
    """The paths no documented field matches."""
    patterns = [_pattern(p) for p in documented_paths()]
    return sorted(p for p in paths if not any(pat.fullmatch(p) for pat in patterns))


def test_the_rich_synthetic_run_covers_the_optional_parts(tmp_path: Path) -> None:
    summary = _rich_summary(tmp_path)
    for part in ("journeys", "business", "audience", "scale", "observed", "baseline"):
        assert part in summary, part
    assert summary["capacity"]["found"] and summary["scenario_errors"]["count"] == 2
    assert summary["offsite_redirects"] and summary["slos"][-1]["journey"] == "j"
    assert summary["scenario_errors"]["rehearsal"]["ran"] is True


def test_every_field_of_summary_json_is_documented(tmp_path: Path) -> None:
    paths = key_paths(_rich_summary(tmp_path)) | key_paths(json.loads(GOLDEN.read_text(encoding="utf-8")))
    paths.add("missing_files")  # written only when the disk had no room for some reports
    missing = undocumented(paths)
    assert not missing, f"summary.json fields missing from docs/run-directory.md: {missing}"


def test_the_check_catches_an_undocumented_field() -> None:
    assert undocumented({"verdict", "capacity.found", "journeys[].phases.peak.started"}) == []
    assert undocumented({"capacity.some_new_field", "no_such_part"}) == ["capacity.some_new_field", "no_such_part"]
