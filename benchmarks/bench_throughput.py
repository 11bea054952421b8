"""Throughput: loadkit vs plain Locust (FastHttpUser) on the same nginx, side by side, medians of runs.

    python benchmarks/bench_throughput.py [--runs 3] [--seconds 15] [--users 50]

Requests/s are medians over each run's steady seconds (3 s in to 2 s before the end), for loadkit (its
metrics file) and plain Locust (its stats history) alike. Measures, in one run, interleaved:
- closed model: loadkit (model: users) vs plain Locust FastHttpUser, same user count, requests/s;
- open model at its maximum rate: a ladder of arrival rates in one run (visits of 1 and of 5 requests, each
  visitor with a new connection, then with `connections: shared`); the best step that started >= 98% of
  its visitors on time, requests/s;
- --workers 2 vs one process (closed model), requests/s; and, for these closed-model runs, how busy the
  machine was over the steady seconds (/proc/stat) and requests per CPU-second of loadkit's processes
  (start-up included), which tells whether the machine or loadkit set the limit.
The target (nginx, one worker process) shares this machine's cores with the load generators.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness import MachineBusy, loadkit_run, locust_run, median, nginx, plain_locustfile, save, steady_rps

PLAIN_LOCUSTFILE = plain_locustfile(0)


def closed(users: int, seconds: int) -> dict:
    return {"name": "bench-closed", "request_timeout": "10s",
            "traffic": {"model": "users", "profile": "constant", "rate": users, "duration": f"{seconds}s"},
            "journeys": [{"name": "home", "steps": [{"get": "/"}]}]}


STEPS = 18  # the ladder climbs from 2,000 to 14,750 requests/s, beyond what one process delivers here


def open_max(url: str, requests_per_visit: int, step_s: int = 5, connections: str = "new") -> float:
    """The open model's highest sustained rate: a ladder of arrival rates in one run; the best step that
    started >= 98% of its visitors on time (within 100 ms) counts, in requests/s delivered."""
    start, step = 2000 // requests_per_visit, 750 // requests_per_visit
    plan = {"name": "bench-open-max", "request_timeout": "10s", "connections": connections,
            "traffic": {"profile": "steps", "start": f"{start}/s", "step": f"{step}/s",
                        "step_duration": f"{step_s}s", "steps": STEPS},
            "journeys": [{"name": "visit", "steps": [{"get": "/"}] * requests_per_visit}]}
    summary = loadkit_run(plan, url)
    run = Path(summary["_run_dir"])
    started: dict[int, int] = {}
    late: dict[int, int] = {}
    requests: dict[int, int] = {}
    for line in (run / "arrivals.jsonl").read_text().splitlines():
        row = json.loads(line)
        started[row["t"]] = started.get(row["t"], 0) + row["started"]
        late[row["t"]] = late.get(row["t"], 0) + row["late"]
    for line in (run / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        requests[row["t"]] = requests.get(row["t"], 0) + row["requests"]
    best = 0.0
    for i in range(STEPS):
        rate = start + i * step
        seconds = range(i * step_s + 1, (i + 1) * step_s)  # the first second of a step is a transition
        on_time = sum(started.get(t, 0) - late.get(t, 0) for t in seconds)
        if on_time >= 0.98 * rate * len(seconds):
            best = max(best, sum(requests.get(t, 0) for t in seconds) / len(seconds))
    return best


def rps(summary: dict) -> float:
    """Median requests per second over the steady seconds of the run (ramp-up and shutdown left out)."""
    return steady_rps(summary["_run_dir"], summary["run"]["planned_duration_s"])


def closed_run(url: str, users: int, seconds: int, rows: dict[str, list[float]], name: str, *args: str) -> None:
    """A closed-model run: its steady requests/s, the machine's busy share meanwhile (percent of all cores)
    and requests per CPU-second of loadkit's processes, appended to ``rows``."""
    busy = MachineBusy(3, seconds - 2)  # loadkit starts in well under 3 s; the same steady window as rps()
    summary = loadkit_run(closed(users, seconds), url, *args)
    rows[name].append(rps(summary))
    rows[f"{name}_machine_busy_pct"].append(100 * (busy.result() or float("nan")))
    rows[f"{name}_req_per_cpu_s"].append(summary["totals"]["requests"] / summary["_cpu_s"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    closed_names = ("loadkit_closed", "loadkit_closed_w1", "loadkit_closed_w2")
    rows: dict[str, list[float]] = {k: [] for k in ("locust", "loadkit_open_1", "loadkit_open_5",
                                                    "loadkit_open_1_shared", "loadkit_open_5_shared")}
    rows.update({f"{name}{part}": [] for name in closed_names for part in ("", "_machine_busy_pct", "_req_per_cpu_s")})
    with nginx() as url:
        for i in range(args.runs):
            plain = locust_run(PLAIN_LOCUSTFILE, url, args.users, args.seconds)
            rows["locust"].append(float(plain["steady_rps"]))
            closed_run(url, args.users, args.seconds, rows, "loadkit_closed")
            rows["loadkit_open_1"].append(open_max(url, 1))
            rows["loadkit_open_5"].append(open_max(url, 5))
            rows["loadkit_open_1_shared"].append(open_max(url, 1, connections="shared"))
            rows["loadkit_open_5_shared"].append(open_max(url, 5, connections="shared"))
            closed_run(url, args.users, args.seconds, rows, "loadkit_closed_w1", "--workers", "1")
            closed_run(url, args.users, args.seconds, rows, "loadkit_closed_w2", "--workers", "2")
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in rows.items()), file=sys.stderr)
    med = {k: median(v) for k, v in rows.items()}
    ratios = {
        "closed_vs_locust": med["loadkit_closed"] / med["locust"],
        "open_1_request_visits_vs_locust": med["loadkit_open_1"] / med["locust"],
        "open_5_request_visits_vs_locust": med["loadkit_open_5"] / med["locust"],
        "open_1_request_visits_shared_vs_locust": med["loadkit_open_1_shared"] / med["locust"],
        "open_5_request_visits_shared_vs_locust": med["loadkit_open_5_shared"] / med["locust"],
        "workers2_vs_one_process": med["loadkit_closed_w2"] / med["loadkit_closed"],
        "workers2_vs_workers1": med["loadkit_closed_w2"] / med["loadkit_closed_w1"],
    }
    path = save("throughput", {"runs": rows, "medians_rps": med, "ratios": ratios})
    for k, v in med.items():
        unit = "% of the machine's CPU" if k.endswith("_pct") else "" if k.endswith("_cpu_s") else " req/s"
        print(f"{k:<36} {v:>9.0f}{unit} (median of {args.runs})")
    for k, v in ratios.items():
        print(f"{k:<34} {v:.2f}x")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
