"""The calibrated rate (`loadkit calibrate`) against what `loadkit run` does with the same journeys.

    python benchmarks/bench_calibrate.py [--runs 1] [--seconds 10] [--step-s 3]

For each of bench_throughput.py's open-model journeys (one or five `GET /` a visit; a new connection per
visitor, or `connections: shared`), interleaved:
- `loadkit calibrate` (against its own catch-all server; a cache folder of the benchmark's): CPU per visit,
  and the per-process rate at 70% of a core;
- `loadkit run` of bench_throughput's ladder against nginx (steps of --step-s seconds from 2,000 to 14,750
  requests/s): per step, visitors started on time, the process's CPU share (its per-second CPU, from
  arrivals.jsonl) and CPU per visit; the ladder's maximum as bench_throughput counts it (the best step with
  98% of its visitors on time).
Compared: CPU per visit of the calibration vs the run's at the steps where its CPU was 40-90% of a core, and
the calibrated rate at 70% vs the run's highest step at or below 70% of a core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from harness import ROOT, loadkit_run, median, nginx, save

CASES = (("open_1", 1, "new"), ("open_5", 5, "new"), ("open_1_shared", 1, "shared"), ("open_5_shared", 5, "shared"))
STEPS = 18


def journey(requests: int) -> list[dict[str, object]]:
    return [{"name": "visit", "steps": [{"get": "/"}] * requests}]


def calibrate(requests: int, connections: str, seconds: float) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="loadkit-bench-calibrate-"))
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump({"name": "bench-calibrate", "connections": connections,
                                    "traffic": {"profile": "constant", "rate": "1/s", "duration": "10s"},
                                    "journeys": journey(requests)}, sort_keys=False))
    done = subprocess.run([sys.executable, "-m", "loadkit", "calibrate", str(path), "--seconds", str(seconds)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), LOADKIT_CACHE_DIR=str(folder / "cache")))
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    entry = json.loads((folder / "cache" / "calibration.json").read_text())["calibrations"][0]
    return {k: entry[k] for k in ("per_process_per_s", "cpu_ms_per_visit", "measured_per_s", "measured_cpu")}


def ladder(url: str, requests: int, connections: str, step_s: int) -> dict[str, object]:
    start, step = 2000 // requests, 750 // requests
    plan = {"name": "bench-open-max", "request_timeout": "10s", "connections": connections,
            "traffic": {"profile": "steps", "start": f"{start}/s", "step": f"{step}/s",
                        "step_duration": f"{step_s}s", "steps": STEPS},
            "journeys": journey(requests)}
    run = Path(loadkit_run(plan, url)["_run_dir"])
    rows = [json.loads(line) for line in (run / "arrivals.jsonl").read_text().splitlines()]
    by_sec: dict[int, dict[str, float]] = {}
    for row in rows:
        cell = by_sec.setdefault(row["t"], {"started": 0, "late": 0, "cpu": 0.0})
        cell["started"] += row["started"]
        cell["late"] += row["late"]
        cell["cpu"] = max(cell["cpu"], row.get("cpu") or 0.0)
    steps, best = [], 0.0
    for i in range(STEPS):
        rate = start + i * step
        secs = [by_sec[t] for t in range(i * step_s + 1, (i + 1) * step_s) if t in by_sec]
        if not secs:
            continue
        started = sum(c["started"] for c in secs)
        on_time = started - sum(c["late"] for c in secs)
        cpu = sum(c["cpu"] for c in secs) / 100
        steps.append({"rate": rate, "started_per_s": started / len(secs), "on_time": on_time / max(started, 1),
                      "cpu_share": cpu / len(secs), "cpu_ms_per_visit": 1000 * cpu / started if started else None})
        if on_time >= 0.98 * rate * len(secs):
            best = max(best, started / len(secs))
    return {"steps": steps, "max_visits_per_s": best}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--step-s", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict[str, object]]] = {name: [] for name, _, _ in CASES}
    with nginx() as url:
        for i in range(args.runs):
            for name, requests, connections in CASES:
                cal = calibrate(requests, connections, args.seconds)
                run = ladder(url, requests, connections, args.step_s)
                mid = [s for s in run["steps"] if 0.4 <= s["cpu_share"] <= 0.9 and s["cpu_ms_per_visit"]]  # type: ignore[union-attr,index]
                at70 = [s for s in run["steps"] if s["cpu_share"] <= 0.7 and s["on_time"] >= 0.98]  # type: ignore[union-attr,index]
                row = {"calibration": cal, "run": run,
                       "run_cpu_ms_per_visit_40_90": median([s["cpu_ms_per_visit"] for s in mid]) if mid else None,
                       "run_best_step_at_or_below_70pct": max((s["started_per_s"] for s in at70), default=None)}
                results[name].append(row)
                print(f"run {i + 1} {name}: calibrated {cal['cpu_ms_per_visit']:.3f} ms/visit, "
                      f"{cal['per_process_per_s']:.0f}/s at 70% (measured {cal['measured_per_s']:.0f}/s at "
                      f"{cal['measured_cpu']:.0%}); run: {row['run_cpu_ms_per_visit_40_90']} ms/visit at 40-90% CPU, "
                      f"best step <= 70% CPU {row['run_best_step_at_or_below_70pct']}/s, "
                      f"max {run['max_visits_per_s']:.0f}/s", file=sys.stderr)
    path = save("calibrate", {"results": results})
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
