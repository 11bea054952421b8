"""How much headroom on time does this machine give a load generator? loadkit against an ideal control.

    python benchmarks/bench_headroom.py [--runs 3] [--capacity 4250] [--shares 0.5,0.6,0.7,0.8] [--seconds 30]

Arrival lateness (planned vs actual start) depends on how much of its core a generator needs: a
generator at 80% of its capacity has 20% of its time left to absorb whatever slows it for a moment. This
benchmark separates loadkit's share of the lateness from the machine's. For each share of capacity, side
by side and alternating:

- **loadkit**: one process, one-request visits on new connections against nginx, a constant plan at
  ``share x --capacity`` visitors/s (4,250/s is one process's capacity for such visits on the benchmark
  machine, docs/benchmarks.md); its lateness p99 and its seconds with a lateness p99 of 10 ms or more.
- **the control**: an ideal generator with no network, no gevent and no loadkit: one thread, arrivals at
  the same rate on a fixed schedule, each a fixed piece of pure-Python work sized so the thread is busy
  ``share`` of the time, started as soon as it is due (sleeping until then) and served in order. On an
  undisturbed core its lateness is zero below 100%: any lateness it shows is the machine's (a core that
  slows or stops for a moment). It records the same figures, and how much slower than its fastest second
  its slowest second's work ran.

If the control is late where loadkit is, no single-threaded generator meets the target at that share on
this machine. Results: ``benchmarks/results/headroom.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable

from bench_fidelity import constant
from harness import lateness_by_second, loadkit_run, median, nginx, save


def control(rate: float, share: float, seconds: float) -> dict:
    """Run the ideal generator in this process; returns its lateness figures (see the module docstring)."""

    def work(n: int) -> int:
        total = 0
        for i in range(n):
            total += i * i
        return total

    # Size the work: the fastest of many timings is the undisturbed cost; refine it at the size used,
    # then on the schedule itself for a second (a warm interpreter runs the loop faster than a cold one).
    steps = 1000
    for _ in range(3):
        best = min(_timed(work, steps) for _ in range(200))
        steps = max(1, round(steps * share / rate / best))
    for _ in range(2):
        _, busy = _serve(work, steps, rate, 1.0)
        steps = max(1, round(steps * share / (sum(busy) / 1.0)))
    lateness, busy = _serve(work, steps, rate, seconds)
    period = 1.0 / rate
    per_second: dict[int, list[float]] = {}
    work_by_second: dict[int, float] = {}
    for i, (late, spent) in enumerate(zip(lateness, busy)):
        second = int(i * period)
        per_second.setdefault(second, []).append(late)
        work_by_second[second] = work_by_second.get(second, 0.0) + spent
    p99_by_second = {t: _p99(values) * 1000 for t, values in per_second.items()}
    cost_by_second = [work_by_second[t] / len(per_second[t]) for t in per_second]
    return {"lateness_p99_ms": _p99(lateness) * 1000, "seconds_over_10ms": sum(v >= 10 for v in p99_by_second.values()),
            "busy": sum(busy) / seconds, "slowest_second_vs_fastest": max(cost_by_second) / min(cost_by_second),
            "lateness_p99_ms_by_second": {str(t): round(v, 2) for t, v in p99_by_second.items()}}


def _serve(work: Callable[[int], object], steps: int, rate: float, seconds: float) -> tuple[list[float], list[float]]:
    """Serve arrivals at ``rate`` for ``seconds``, in order, each ``work(steps)``; returns each arrival's
    lateness and work time (seconds)."""
    period = 1.0 / rate
    lateness: list[float] = []
    busy: list[float] = []
    start = time.perf_counter() + 0.05
    end = start + seconds
    k = 0
    while (planned := start + k * period) < end:
        now = time.perf_counter()
        if now < planned:
            time.sleep(planned - now)
            now = time.perf_counter()
        lateness.append(now - planned)
        busy.append(_timed(work, steps))
        k += 1
    return lateness, busy


def _timed(work: Callable[[int], object], n: int) -> float:
    began = time.perf_counter()
    work(n)
    return time.perf_counter() - began


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.99 * (len(ordered) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--capacity", type=float, default=4250.0, help="one process's visitors/s at capacity")
    parser.add_argument("--shares", default="0.5,0.6,0.7,0.8", help="shares of capacity to run at")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--control", nargs=3, type=float, metavar=("RATE", "SHARE", "SECONDS"),
                        help=argparse.SUPPRESS)  # the control's own process
    args = parser.parse_args()
    if args.control:
        print(json.dumps(control(*args.control)))
        return 0

    shares = [float(s) for s in args.shares.split(",")]
    runs: dict[str, dict[str, list]] = {
        str(share): {"loadkit_lateness_p99_ms": [], "loadkit_seconds_over_10ms": [], "loadkit_cpu_share": [],
                     "control_lateness_p99_ms": [], "control_seconds_over_10ms": [], "control_busy": [],
                     "control_slowest_second_vs_fastest": []}
        for share in shares}
    series: list[dict] = []
    with nginx() as url:
        for run in range(args.runs):
            for share in shares:
                rate = share * args.capacity
                row = runs[str(share)]
                s = loadkit_run(constant(rate, args.seconds, "headroom"), url)
                by_second = lateness_by_second(s["_run_dir"])
                row["loadkit_lateness_p99_ms"].append(s["traffic"]["lateness_p99_ms"])
                row["loadkit_seconds_over_10ms"].append(sum(v >= 10 for v in by_second.values()))
                row["loadkit_cpu_share"].append(s["_cpu_s"] / args.seconds)  # start-up included
                done = subprocess.run([sys.executable, __file__, "--control", str(rate), str(share),
                                       str(args.seconds)], capture_output=True, text=True, check=True,
                                      timeout=args.seconds + 120)
                c = json.loads(done.stdout)
                row["control_lateness_p99_ms"].append(c["lateness_p99_ms"])
                row["control_seconds_over_10ms"].append(c["seconds_over_10ms"])
                row["control_busy"].append(c["busy"])
                row["control_slowest_second_vs_fastest"].append(c["slowest_second_vs_fastest"])
                series.append({"run": run, "share": share,
                               "loadkit": {str(t): round(v, 2) for t, v in by_second.items()},
                               "control": c["lateness_p99_ms_by_second"]})
                print(f"share {share:.0%} ({rate:.0f}/s): " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in row.items()),
                      file=sys.stderr)
    out = {"capacity_per_s": args.capacity, "seconds": args.seconds,
           "shares": {share: {"runs": row, **{f"median_{k}": median(v) for k, v in row.items()}}
                      for share, row in runs.items()},
           "lateness_p99_ms_by_second": series}
    path = save("headroom", out)
    for share, result in out["shares"].items():
        print(f"{float(share):.0%}: loadkit p99 {result['median_loadkit_lateness_p99_ms']:.2f} ms, "
              f"{result['median_loadkit_seconds_over_10ms']:.0f} late s; control p99 "
              f"{result['median_control_lateness_p99_ms']:.2f} ms, {result['median_control_seconds_over_10ms']:.0f} late s")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
