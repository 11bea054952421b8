"""Synthetic run directories: known inputs for analysis, verdict and report tests (no load sent)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from loadkit.data import append_jsonl, write_json_atomic
from loadkit.histogram import Histogram
from loadkit.redaction import redacted_document
from loadkit.rows import ArrivalRow, MetricsRow
from loadkit.scenario import parse_scenario
from loadkit.traffic import build_plan, plan_to_dict

# (second, endpoint) -> (latencies in ms, failures by kind)
Shape = Callable[[int, str, float], tuple[list[float], dict[str, int]]]
# (second, visitors started) -> fields merged into that second's arrival row: late, dropped, and the
# generator's health as the run stage records it (hiccup_ms: longest stall, cpu: percent of one core)
Generator = Callable[[int, int], dict[str, Any]]


def healthy_generator(t: int, started: int) -> dict[str, Any]:
    """A generator that kept up: a 2 ms stall at most, 10% of a core."""
    return {"hiccup_ms": 2.0, "cpu": 10.0}


def make_run_dir(path: Path, scenario_doc: dict[str, Any], shape: Shape, *, interrupted: bool = False,
                 delivered_share: float = 1.0, requests_per_arrival: int = 1,
                 generator: Generator | None = None) -> Path:
    """Write a run directory whose every second follows ``shape(t, endpoint, planned_rate)``;
    ``generator(t, started)`` adds late and dropped arrivals and the generator's hiccups and CPU."""
    path.mkdir(parents=True, exist_ok=True)
    scenario = parse_scenario(scenario_doc)
    plan = build_plan(scenario)
    (path / "scenario.yaml").write_text(yaml.safe_dump(redacted_document(scenario)), encoding="utf-8")
    write_json_atomic(path / "plan.json", plan_to_dict(plan))
    duration = plan.duration / 2 if interrupted else plan.duration
    write_json_atomic(path / "run.json", {
        "scenario": scenario.name, "target": "http://127.0.0.1:1", "started_at": "2026-01-01T00:00:00+00:00",
        "duration_s": duration, "complete": not interrupted, "interrupted": interrupted, "workers": 1,
        "model": plan.model, "loadkit_version": "test", "locust_version": "test", "demo": False})
    metrics, arrivals = [], []
    for t in range(int(duration)):
        planned = plan.integral(t, t + 1)
        started = round(planned * delivered_share)
        lateness = Histogram()
        for _ in range(started):
            lateness.record(500)
        health = generator(t, started) if generator else {}
        arrivals.append(ArrivalRow(t=t, started=started, late=int(health.get("late", 0)),
                                   dropped=int(health.get("dropped", 0)), users=0, lateness=lateness.to_dict(),
                                   hiccup_ms=health.get("hiccup_ms"), cpu=health.get("cpu")).to_json())
        for endpoint in scenario.endpoints:
            latencies, failures = shape(t, endpoint, planned)
            hist, ok = Histogram(), Histogram()
            n_fail = sum(failures.values())
            for i, ms in enumerate(latencies):
                hist.record(int(ms * 1000))
                if i >= n_fail:
                    ok.record(int(ms * 1000))
            metrics.append(MetricsRow(t=t, endpoint=endpoint, method=endpoint.split()[0], requests=len(latencies),
                                      failures=failures, bytes=100 * len(latencies), hist=hist.to_dict(),
                                      ok_hist=ok.to_dict()).to_json())
    # two flushes for the same keys: the reader must sum them
    half = len(metrics) // 2
    append_jsonl(path / "metrics.jsonl", metrics[:half])
    append_jsonl(path / "metrics.jsonl", metrics[half:])
    append_jsonl(path / "arrivals.jsonl", arrivals)
    append_jsonl(path / "errors.jsonl", [])
    return path


def scenario_doc(**overrides: Any) -> dict[str, Any]:
    """A small burst scenario with two endpoints and three SLOs."""
    doc: dict[str, Any] = {
        "name": "synthetic",
        "traffic": {"baseline": "2/s", "peak": "20/s", "lead_in": "10s", "ramp": "10s", "hold": "20s",
                    "decay_half_life": "5s", "decay": "10s", "recovery": "20s"},
        "journeys": [{"name": "j", "steps": [{"get": "/"}, {"post": "/checkout"}]}],
        "slos": [{"metric": "p95", "below": "500ms"}, {"metric": "error_rate", "below": "1%"},
                 {"endpoint": "POST /checkout", "metric": "p99", "below": "1s"}],
        "verdict": {"probe_ramp": "5s", "probe_hold": "10s", "recovery_within": "10s"},
    }
    doc.update(overrides)
    return doc


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)
