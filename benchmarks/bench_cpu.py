"""CPU per visit, side by side between source trees: the same constant plan against the same nginx.

    python benchmarks/bench_cpu.py --tree /path/to/other/checkout [--tree ...] [--runs 3] [--seconds 12]
        [--rate 5000] [--connections shared] [--requests 1]

Each run is a fresh ``loadkit run`` process; the trees take turns (this checkout first), so the machine's
noise falls on all of them alike. Reported per tree: the median CPU-seconds of the whole process (start-up
included, the same for every tree) and per visitor started, and the median arrival lateness p99. A change
to the run stage is compared with the commit before it by checking that commit out into a worktree
(``git worktree add /tmp/before HEAD~1``) and passing it as ``--tree``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import ROOT, loadkit_run, median, nginx, save


def plan(rate: float, seconds: int, connections: str, requests: int) -> dict:
    return {"name": "bench-cpu", "request_timeout": "10s", "connections": connections,
            "traffic": {"profile": "constant", "rate": f"{rate}/s", "duration": f"{seconds}s"},
            "journeys": [{"name": "visit", "steps": [{"get": "/"}] * requests}]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", action="append", default=[], help="another source tree (repeatable)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--rate", type=float, default=5000.0, help="visitors/s")
    parser.add_argument("--connections", choices=["new", "shared"], default="shared")
    parser.add_argument("--requests", type=int, default=1, help="requests per visit")
    args = parser.parse_args()
    trees = [ROOT, *(Path(t).resolve() for t in args.tree)]
    scenario = plan(args.rate, args.seconds, args.connections, args.requests)
    per: dict[str, dict[str, list[float]]] = {str(t): {"cpu_s": [], "cpu_us_per_visit": [], "lateness_p99_ms": []}
                                              for t in trees}
    with nginx() as url:
        for _ in range(args.runs):
            for tree in trees:
                s = loadkit_run(scenario, url, root=tree)
                visits = s["traffic"]["delivered_arrivals"]
                row = per[str(tree)]
                row["cpu_s"].append(s["_cpu_s"])
                row["cpu_us_per_visit"].append(s["_cpu_s"] / max(visits, 1) * 1e6)
                row["lateness_p99_ms"].append(s["traffic"]["lateness_p99_ms"])
                print(f"{tree}: cpu {s['_cpu_s']:.2f} s, {row['cpu_us_per_visit'][-1]:.0f} us/visit, "
                      f"lateness p99 {row['lateness_p99_ms'][-1]:.2f} ms", file=sys.stderr)
    out = {"rate_per_s": args.rate, "seconds": args.seconds, "connections": args.connections,
           "requests_per_visit": args.requests,
           "trees": {tree: {"runs": row, **{f"median_{k}": median(v) for k, v in row.items()}}
                     for tree, row in per.items()}}
    for tree, row in out["trees"].items():
        print(f"{tree}: median cpu {row['median_cpu_s']:.2f} s, {row['median_cpu_us_per_visit']:.0f} us/visit, "
              f"lateness p99 {row['median_lateness_p99_ms']:.2f} ms")
    save("cpu", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
