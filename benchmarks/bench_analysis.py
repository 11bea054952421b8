"""Analysis and rendering at scale: a synthetic 1-hour run at 1,000 requests/s over 20 endpoints.

Writes a run directory the way ``loadkit run`` does (one row per second and endpoint with its
histograms), then times ``loadkit report RUN_DIR`` (analysis, verdict and every report) in a fresh
process, and reads that process's peak memory (VmHWM). Targets: < 5 s, < 300 MB, report.html < 400 KB.

    python benchmarks/bench_analysis.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import ROOT, machine, save

sys.path.insert(0, str(ROOT))

from loadkit.data import append_jsonl, write_json_atomic  # noqa: E402
from loadkit.histogram import Histogram  # noqa: E402
from loadkit.redaction import redacted_document  # noqa: E402
from loadkit.scenario import parse_scenario  # noqa: E402
from loadkit.traffic import build_plan, plan_to_dict  # noqa: E402

ENDPOINTS = 20
SECONDS = 3600
RATE = 1000  # requests/s over all endpoints


def scenario_document() -> dict[str, object]:
    """One hour at a constant arrival rate, 20 one-request journeys."""
    return {
        "name": "hour-at-1000",
        "target": "http://127.0.0.1:8080",
        "traffic": {"profile": "constant", "rate": f"{RATE}/s", "duration": f"{SECONDS}s"},
        "journeys": [{"name": f"j{i}", "steps": [{"get": f"/endpoint/{i}"}]} for i in range(ENDPOINTS)],
        "slos": [{"metric": "p95", "below": "800ms"}, {"metric": "error_rate", "below": "1%"}],
    }


def write_run_dir(path: Path, seed: int = 1) -> Path:
    """A complete run directory with realistic latency spread (lognormal, slower later) and rare errors."""
    import yaml

    path.mkdir(parents=True, exist_ok=True)
    scenario = parse_scenario(scenario_document())
    plan = build_plan(scenario)
    (path / "scenario.yaml").write_text(yaml.safe_dump(redacted_document(scenario)), encoding="utf-8")
    write_json_atomic(path / "plan.json", plan_to_dict(plan))
    write_json_atomic(path / "run.json", {
        "scenario": scenario.name, "target": "http://127.0.0.1:8080", "started_at": "2026-01-01T00:00:00+00:00",
        "duration_s": float(SECONDS), "load_s": float(SECONDS), "complete": True, "interrupted": False,
        "workers": 1, "model": "arrivals", "loadkit_version": "bench", "locust_version": "bench", "demo": False})
    rng = np.random.default_rng(seed)
    per = RATE // ENDPOINTS
    lateness = Histogram()
    lateness.record(300)
    lateness_dict = lateness.to_dict()
    batch: list[dict[str, object]] = []
    arrivals = []
    for t in range(SECONDS):
        arrivals.append({"t": t, "started": RATE, "late": 0, "dropped": 0, "lateness": lateness_dict})
        for e in range(ENDPOINTS):
            base_ms = 20 + 5 * e + 10 * math.sin(t / 300)
            samples = rng.lognormal(math.log(base_ms), 0.5, per)
            fails = int(rng.random() < 0.02)
            hist, ok = Histogram(), Histogram()
            for i, ms in enumerate(samples):
                us = int(ms * 1000)
                hist.record(us)
                if i >= fails:
                    ok.record(us)
            batch.append({"t": t, "endpoint": f"GET /endpoint/{e}", "method": "GET", "requests": per,
                          "failures": {"http_500": fails} if fails else {}, "bytes": 512 * per,
                          "hist": hist.to_dict(), "ok_hist": ok.to_dict()})
        if len(batch) >= 2000:
            append_jsonl(path / "metrics.jsonl", batch)
            batch = []
    append_jsonl(path / "metrics.jsonl", batch)
    append_jsonl(path / "arrivals.jsonl", arrivals)
    append_jsonl(path / "errors.jsonl", [{"t": 10, "endpoint": "GET /endpoint/3", "kind": "http_500", "status": 500,
                                          "url": "http://127.0.0.1:8080/endpoint/3", "detail": "boom"}])
    return path


def time_report(run_dir: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``loadkit report RUN_DIR`` in a fresh process.

    The peak is the child's VmHWM, not getrusage's ru_maxrss: the latter survives exec, so it would report this
    process's peak (the generator's) whenever that was higher.
    """
    code = ("import sys, time\n"
            "t = time.perf_counter()\n"
            "from loadkit.cli import main\n"
            f"rc = main(['report', {str(run_dir)!r}])\n"
            "elapsed = time.perf_counter() - t\n"
            "hwm = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
            "print('RESULT', elapsed, int(hwm) / 1024)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT"))
    _, elapsed, rss = line.split()
    return float(elapsed), float(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loadkit-bench-analysis-") as folder:
        run_dir = Path(folder) / "hour"
        started = time.perf_counter()
        write_run_dir(run_dir)
        generated = time.perf_counter() - started
        data_mb = sum(f.stat().st_size for f in run_dir.iterdir()) / 1e6
        results = [time_report(run_dir) for _ in range(args.runs)]
        sizes = {f.name: f.stat().st_size for f in run_dir.iterdir() if f.suffix in (".html", ".json", ".md", ".xml")}
    seconds = statistics.median(r[0] for r in results)
    rss = statistics.median(r[1] for r in results)
    summary = {
        "benchmark": "analysis", "machine": machine(), "rows": SECONDS * ENDPOINTS, "data_mb": round(data_mb, 1),
        "generate_s": round(generated, 1), "report_s_runs": [round(r[0], 2) for r in results],
        "peak_rss_mb_runs": [round(r[1], 1) for r in results], "report_s_median": round(seconds, 2),
        "peak_rss_mb_median": round(rss, 1), "report_html_kb": round(sizes.get("report.html", 0) / 1024, 1),
        "files_bytes": sizes,
    }
    save("analysis", summary)
    print(json.dumps(summary, indent=2))
    print(f"report: {seconds:.2f} s (target < 5 s), peak memory {rss:.0f} MB (target < 300 MB), "
          f"report.html {summary['report_html_kb']} KB (target < 400 KB)")


if __name__ == "__main__":
    main()
