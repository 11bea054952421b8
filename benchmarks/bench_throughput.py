"""Throughput: loadkit vs plain Locust (FastHttpUser) on the same nginx, side by side, medians of runs.

    python benchmarks/bench_throughput.py [--runs 3] [--seconds 15] [--users 50]

Requests/s are medians over each run's steady seconds (3 s in to 2 s before the end), for loadkit (its
metrics file) and plain Locust (its stats history) alike. Measures, in one run, interleaved:
- closed model: loadkit (model: users) vs plain Locust FastHttpUser, same user count, requests/s;
- open model at its maximum rate: arrivals pushed past what one process can start, requests/s delivered;
- --workers 2 vs one process (closed model), requests/s.
The target (nginx, one worker process) shares this machine's cores with the load generators.
"""

from __future__ import annotations

import argparse
import sys

from harness import loadkit_run, locust_run, median, nginx, save, steady_rps

PLAIN_LOCUSTFILE = """
from locust import FastHttpUser, constant, task


class Plain(FastHttpUser):
    wait_time = constant(0)

    @task
    def home(self):
        self.client.get("/")
"""


def closed(users: int, seconds: int) -> dict:
    return {"name": "bench-closed", "request_timeout": "10s",
            "traffic": {"model": "users", "profile": "constant", "rate": users, "duration": f"{seconds}s"},
            "journeys": [{"name": "home", "steps": [{"get": "/"}]}]}


def open_model(rate: float, seconds: int, requests_per_visit: int) -> dict:
    return {"name": "bench-open", "request_timeout": "10s",
            "traffic": {"profile": "constant", "rate": f"{rate}/s", "duration": f"{seconds}s"},
            "journeys": [{"name": "visit", "steps": [{"get": "/"}] * requests_per_visit}]}


def rps(summary: dict) -> float:
    """Median requests per second over the steady seconds of the run (ramp-up and shutdown left out)."""
    return steady_rps(summary["_run_dir"], summary["run"]["planned_duration_s"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--open-rate", type=float, default=3000.0, help="arrivals/s offered (past the max)")
    args = parser.parse_args()
    rows: dict[str, list[float]] = {k: [] for k in ("locust", "loadkit_closed", "loadkit_open_1", "loadkit_open_5",
                                                    "loadkit_closed_w2", "loadkit_closed_w1")}
    with nginx() as url:
        for i in range(args.runs):
            plain = locust_run(PLAIN_LOCUSTFILE, url, args.users, args.seconds)
            rows["locust"].append(float(plain["steady_rps"]))
            rows["loadkit_closed"].append(rps(loadkit_run(closed(args.users, args.seconds), url)))
            rows["loadkit_open_1"].append(rps(loadkit_run(open_model(args.open_rate, args.seconds, 1), url)))
            rows["loadkit_open_5"].append(rps(loadkit_run(open_model(args.open_rate / 5, args.seconds, 5), url)))
            rows["loadkit_closed_w1"].append(rps(loadkit_run(closed(args.users, args.seconds), url, "--workers", "1")))
            rows["loadkit_closed_w2"].append(rps(loadkit_run(closed(args.users, args.seconds), url, "--workers", "2")))
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in rows.items()), file=sys.stderr)
    med = {k: median(v) for k, v in rows.items()}
    ratios = {
        "closed_vs_locust": med["loadkit_closed"] / med["locust"],
        "open_1_request_visits_vs_locust": med["loadkit_open_1"] / med["locust"],
        "open_5_request_visits_vs_locust": med["loadkit_open_5"] / med["locust"],
        "workers2_vs_one_process": med["loadkit_closed_w2"] / med["loadkit_closed"],
        "workers2_vs_workers1": med["loadkit_closed_w2"] / med["loadkit_closed_w1"],
    }
    path = save("throughput", {"command": " ".join(["python", "benchmarks/bench_throughput.py", *sys.argv[1:]]),
                               "runs": rows, "medians_rps": med, "ratios": ratios})
    for k, v in med.items():
        print(f"{k:<22} {v:>9.0f} req/s (median of {args.runs})")
    for k, v in ratios.items():
        print(f"{k:<34} {v:.2f}x")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
