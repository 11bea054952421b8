"""``loadkit history`` at scale: 500 runs of three scenarios under one folder.

Writes one synthetic run directory the way ``loadkit run`` does (tests/synth.py, a 95-second burst),
copies it 500 times with their own start times and figures (as a season of nightly CI runs), then times
``loadkit history DIR`` in a fresh process and reads the page's size. Targets: a few seconds, a few
hundred KB.

    python benchmarks/bench_history.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, save

sys.path.insert(0, str(ROOT))

from loadkit.report import render_run_dir  # noqa: E402
from tests.synth import make_run_dir, scenario_doc  # noqa: E402

SCENARIOS = ("tv-spot", "smoke", "capacity-probe")


def build(root: Path, count: int) -> None:
    """``count`` run directories under ``root``, spread over three scenarios, a day apart."""
    def shape(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        return [40.0 + (i % 10) for i in range(max(1, int(round(rate))))], {}

    template = make_run_dir(root / "_template", scenario_doc(), shape)
    render_run_dir(template)
    for k in range(count):
        run = root / f"run-{k:04d}"
        shutil.copytree(template, run)
        scenario = SCENARIOS[k % len(SCENARIOS)]
        for name in ("run.json", "summary.json"):
            doc = json.loads((run / name).read_text())
            meta = doc if name == "run.json" else doc["run"]
            meta["scenario"] = scenario
            meta["started_at"] = f"2026-{1 + k // 60 % 12:02d}-{1 + k // 3 % 20:02d}T{k % 24:02d}:00:00+00:00"
            if name == "summary.json":
                doc["totals"]["p95_ms"] = 45 + (k % 7)
            (run / name).write_text(json.dumps(doc))
    shutil.rmtree(template)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "reports"
        build(root, args.count)
        times, sizes = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "loadkit", "history", str(root)], cwd=ROOT,
                                  capture_output=True, text=True, timeout=600)
            times.append(time.perf_counter() - start)
            assert done.returncode == 0, done.stderr
            sizes.append((root / "history.html").stat().st_size)
        result = {"runs_in_history": args.count, "seconds": [round(t, 2) for t in times],
                  "median_s": round(statistics.median(times), 2), "page_kb": round(sizes[-1] / 1024),
                  "json_kb": round((root / "history.json").stat().st_size / 1024)}
    print(json.dumps(result, indent=2))
    print("saved", save("bench_history", result))


if __name__ == "__main__":
    main()
