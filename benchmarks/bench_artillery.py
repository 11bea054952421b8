"""A peer: Artillery (npm package ``artillery``) and loadkit run the same open-model burst on one nginx.

    npm install --prefix /tmp/artillery --ignore-scripts artillery   # once (its scripts fetch a browser)
    python benchmarks/bench_artillery.py [--artillery /tmp/artillery/node_modules/.bin/artillery] [--runs 3]

Both start the same arrivals (virtual users) per second, each making the same five GETs. Compared:
requests actually delivered per second (counted by nginx itself) and requests per CPU-second of the load
generator (user + system time of the generator's process tree).
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from harness import loadkit_run, median, nginx, save

STEPS = 5


def served(url: str) -> int:
    text = httpx.get(url + "/__status").text
    return int(re.search(r"\n\s*(\d+)\s+(\d+)\s+(\d+)", text).group(3))  # type: ignore[union-attr]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def artillery(binary: str, url: str, rate: float, seconds: int) -> float:
    folder = Path(tempfile.mkdtemp(prefix="artillery-bench-"))
    config = {"config": {"target": url, "phases": [{"duration": seconds, "arrivalRate": rate}],
                         "http": {"timeout": 10}},
              "scenarios": [{"flow": [{"get": {"url": "/"}} for _ in range(STEPS)]}]}
    (folder / "burst.yml").write_text(yaml.safe_dump(config))
    started = time.monotonic()
    subprocess.run([binary, "run", "--quiet", str(folder / "burst.yml")], capture_output=True, text=True,
                   timeout=seconds + 180, env={"PATH": "/usr/bin:/bin:/usr/local/bin", "ARTILLERY_DISABLE_TELEMETRY": "true",
                                               "HOME": str(folder)})
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artillery", default="/tmp/artillery/node_modules/.bin/artillery")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200.0, help="arrivals per second")
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {"artillery_rps": [], "artillery_req_per_cpu_s": [],
                                    "loadkit_rps": [], "loadkit_req_per_cpu_s": []}
    scenario = {"name": "peer", "request_timeout": "10s",
                "traffic": {"profile": "constant", "rate": f"{args.rate}/s", "duration": f"{args.seconds}s"},
                "journeys": [{"name": "visit", "steps": [{"get": "/"}] * STEPS}]}
    with nginx() as url:
        for _ in range(args.runs):
            before, cpu = served(url), children_cpu()
            artillery(args.artillery, url, args.rate, args.seconds)
            count, cpu_used = served(url) - before - 1, children_cpu() - cpu
            rows["artillery_rps"].append(count / args.seconds)
            rows["artillery_req_per_cpu_s"].append(count / cpu_used)
            before, cpu = served(url), children_cpu()
            loadkit_run(scenario, url)
            count, cpu_used = served(url) - before - 2, children_cpu() - cpu  # status probe + preflight
            rows["loadkit_rps"].append(count / args.seconds)
            rows["loadkit_req_per_cpu_s"].append(count / cpu_used)
            print(", ".join(f"{k} {v[-1]:.0f}" for k, v in rows.items()), file=sys.stderr)
    med = {k: median(v) for k, v in rows.items()}
    path = save("artillery", {"planned_rps": args.rate * STEPS, "runs": rows, "medians": med})
    for k, v in med.items():
        print(f"{k:<26} {v:>9.0f}")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
