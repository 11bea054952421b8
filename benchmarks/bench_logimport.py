"""``loadkit init --from-log`` at scale: a million log lines converted, time and peak memory.

Writes synthetic combined-format logs with a known truth (tests/loggen.py: the 60/25/10/5 journey mix,
log-normal pauses, a spike, assets, bots, malformed lines, planted secrets), gzip-compressed, of about a
quarter and of about a full million lines, then converts each with ``loadkit init --from-log`` in a fresh
process and reads that process's peak resident memory. Memory that stays flat from 0.25 M to 1 M lines
shows the stream is bounded. Target: under a minute and under 300 MB for 1 M lines.
The ``import_only_rss_mb`` figure is the CLI's own footprint (Python, pandas, yaml) before any log is read.

    python benchmarks/bench_logimport.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from harness import ROOT, save

sys.path.insert(0, str(ROOT))

from tests import loggen

# VmHWM, not getrusage's ru_maxrss: the latter survives exec, so it would report the parent's peak (the
# generator's) when that was higher
CHILD = """
import sys
from loadkit.cli import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read()
print("peak_rss_kb", status.split("VmHWM:")[1].split()[0])
raise SystemExit(code)
"""


def convert(log: Path, out: Path) -> tuple[float, float, str]:
    """Seconds, peak MB and the scenario text of one conversion in a fresh process."""
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, "init", "--from-log", str(log), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    rss_kb = int(done.stdout.split("peak_rss_kb")[1].split()[0])
    return seconds, rss_kb / 1024, out.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = []
    idle = subprocess.run([sys.executable, "-c", "import loadkit.cli, loadkit.logimport, loadkit.har, loadkit.data; "
                           "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        for hours in (14.0, 56.0):  # about 0.3 and 1 million lines
            paths, truth = loggen.generate(Path(tmp) / f"access-{hours:g}h.log", hours=hours, baseline=0.55,
                                           peak=20.0, gz=True, seed=1)
            times, peaks = [], []
            text = ""
            for _ in range(args.runs):
                seconds, peak_mb, text = convert(paths[0], Path(tmp) / "out.yaml")
                times.append(seconds)
                peaks.append(peak_mb)
            document = yaml.safe_load(text)
            total = sum(truth.visits.values())
            results.append({
                "lines": truth.lines, "log_hours": hours, "gz_mb": round(paths[0].stat().st_size / 2**20, 1),
                "seconds": [round(t, 1) for t in times], "median_s": round(statistics.median(times), 1),
                "lines_per_s": round(truth.lines / statistics.median(times)),
                "peak_rss_mb": [round(p) for p in peaks],
                "weights": {j["name"]: j["weight"] for j in document["journeys"]},
                "truth": {k: round(100 * n / total, 1) for k, n in truth.visits.items()},
                "peak": document["traffic"]["peak"], "decay_half_life": document["traffic"]["decay_half_life"],
                "planted_secrets_found": sum(1 for s in loggen.SECRETS if s in text) + text.upper().count("PLANTED"),
            })
            print(json.dumps(results[-1]), flush=True)
    result = {"import_only_rss_mb": round(int(idle.stdout) / 1024), "sizes": results}
    print(json.dumps(result, indent=2))
    print("saved", save("bench_logimport", result))


if __name__ == "__main__":
    main()
