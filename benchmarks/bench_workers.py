"""`--workers 2` vs one process, and the machine's own ceiling for two load processes, side by side.

    python benchmarks/bench_workers.py [--runs 5] [--seconds 15] [--users 50]

On a machine whose cores the target shares, two load processes cannot deliver twice one process's
requests/s: the target needs CPU too, and two busy cores may each run slower than one. This benchmark
tells loadkit's cost of distribution from that ceiling, alternating in each run (closed model, one-request
journeys against nginx, requests/s over the steady seconds, 3 s in to 2 s before the end):

- one loadkit process with ``--users`` users;
- ``loadkit run --workers 2``: a Locust master and two workers sharing the same users and plan;
- two independent loadkit processes started together, each with half the users: the ideal split (no master,
  no coordination), the most two processes deliver here;
- plain Locust (FastHttpUser, no wait): one process, and two independent processes with half the users each.

``workers2 / one process`` is the issue's measure; ``ideal split / one process`` is the machine's ceiling for
it; ``workers2 / ideal split`` is what Locust's master/worker engine and loadkit's split of the plan cost.
Results: ``benchmarks/results/workers.json``.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from typing import Any

from bench_throughput import PLAIN_LOCUSTFILE, closed
from harness import loadkit_run, locust_run, median, nginx, save, steady_rps


def together(*calls: Callable[[], float]) -> float:
    """Run the calls at once, each in a thread (each starts its own process); the sum of their results."""
    results: list[float] = []
    errors: list[BaseException] = []

    def one(call: Callable[[], float]) -> None:
        try:
            results.append(call())
        except BaseException as error:  # re-raised below, in the benchmark's thread
            errors.append(error)

    threads = [threading.Thread(target=one, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(results)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    users, half, seconds = args.users, args.users // 2, args.seconds

    def loadkit(n: int, *flags: str) -> Callable[[], float]:
        return lambda: steady_rps(loadkit_run(closed(n, seconds), url, *flags)["_run_dir"], seconds)

    def locust(n: int) -> Callable[[], float]:
        return lambda: float(locust_run(PLAIN_LOCUSTFILE, url, n, seconds)["steady_rps"])

    rows: dict[str, list[float]] = {k: [] for k in ("loadkit_one_process", "loadkit_workers2",
                                                    "loadkit_two_independent", "locust_one_process",
                                                    "locust_two_independent")}
    with nginx() as url:
        plan: dict[str, Callable[[], Any]] = {
            "loadkit_one_process": loadkit(users),
            "loadkit_workers2": loadkit(users, "--workers", "2"),
            "loadkit_two_independent": lambda: together(loadkit(half), loadkit(users - half)),
            "locust_one_process": locust(users),
            "locust_two_independent": lambda: together(locust(half), locust(users - half)),
        }
        for i in range(args.runs):
            for name, call in plan.items():
                rows[name].append(call())
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in rows.items()), file=sys.stderr)
    med = {k: median(v) for k, v in rows.items()}
    ratios = {
        "loadkit_workers2_vs_one_process": med["loadkit_workers2"] / med["loadkit_one_process"],
        "loadkit_two_independent_vs_one_process": med["loadkit_two_independent"] / med["loadkit_one_process"],
        "loadkit_workers2_vs_two_independent": med["loadkit_workers2"] / med["loadkit_two_independent"],
        "locust_two_independent_vs_one_process": med["locust_two_independent"] / med["locust_one_process"],
        # per run, side by side: the ratio in each run, then its median
        "median_per_run_workers2_vs_one_process": median([w / o for w, o in zip(rows["loadkit_workers2"],
                                                                                 rows["loadkit_one_process"])]),
        "median_per_run_two_independent_vs_one_process": median(
            [t / o for t, o in zip(rows["loadkit_two_independent"], rows["loadkit_one_process"])]),
    }
    path = save("workers", {"users": users, "seconds": seconds, "runs": rows, "medians_rps": med, "ratios": ratios})
    for k, v in med.items():
        print(f"{k:<28} {v:>9.0f} req/s (median of {args.runs})")
    for k, v in ratios.items():
        print(f"{k:<46} {v:.2f}x")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
