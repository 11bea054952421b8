"""Fidelity and accuracy of the open model, against servers of known behaviour on 127.0.0.1.

    python benchmarks/bench_fidelity.py [--runs 3] [--rate 2000] [--near-rate 3400] [--seconds 30]

1. Fidelity: a constant plan at a rate well inside one process's capacity; delivered arrivals per 10 s
   window vs the plan, and arrival lateness (planned vs actual start). Then again near capacity, at
   ``--near-rate`` against nginx (80% of the 4,250 one-request visits/s on new connections one process
   delivers there, docs/benchmarks.md), with nginx's own request count; nginx is light enough on CPU to
   leave the generator its core, which the Python 50 ms server is not. Near capacity each run also counts
   its seconds with a lateness p99 of 10 ms or more (the per-second series is saved), which tells a few
   late seconds from a generator that is late throughout.
2. Accuracy: a server that answers in exactly 50 ms; loadkit's p50/p95/p99 vs the server's own figures,
   and loadkit's request count vs the server's.
3. Coordinated omission: a server that stalls 2 s every 10 s. What arriving visitors really waited is
   known (a fifth of them arrive during a stall and wait for its end: p90 ~ 1 s, p99 ~ 1.9 s); loadkit's
   open model is compared with it and with plain Locust's closed model (users that wait for each answer).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx
import numpy as np

from harness import (lateness_by_second, loadkit_run, locust_run, median, nginx, plain_locustfile, python_server,
                     save)

CLOSED_LOCUSTFILE = plain_locustfile(0.1)


def constant(rate: float, seconds: int, name: str) -> dict:
    return {"name": name, "request_timeout": "10s",
            "traffic": {"profile": "constant", "rate": f"{rate}/s", "duration": f"{seconds}s"},
            "journeys": [{"name": "visit", "steps": [{"get": "/"}]}]}


def windows(run_dir: str, plan_rate: float, seconds: int) -> list[float]:
    """Delivered/planned ratio per 10 s window, from the run's arrivals file."""
    started = np.zeros(seconds + 1)
    for line in Path(run_dir, "arrivals.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["t"] <= seconds:
            started[row["t"]] += row["started"]
    return [float(started[w:w + 10].sum() / (plan_rate * 10)) for w in range(0, seconds - 9, 10)]


def nginx_requests(url: str) -> int:
    """Requests nginx has served so far, this one included (its stub_status page)."""
    return int(httpx.get(url + "/__status").text.splitlines()[2].split()[2])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=2000.0, help="fidelity and accuracy: arrivals/s (one request each)")
    parser.add_argument("--near-rate", type=float, default=3400.0, help="fidelity near capacity, against nginx")
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    out: dict = {}

    # 1b: fidelity near the generator's capacity, against nginx
    near = {"worst_window_error": [], "lateness_p99_ms": [], "late": [], "dropped": [], "count_diff": [],
            "seconds_over_10ms": []}
    by_second: list[dict[int, float]] = []  # each run's lateness p99 per second: is the tail a few seconds?
    with nginx() as url:
        for _ in range(args.runs):
            before = nginx_requests(url)
            s = loadkit_run(constant(args.near_rate, args.seconds, "fidelity-near-capacity"), url)
            served = nginx_requests(url) - before - 1 - 1  # less the second status request and the preflight
            near["worst_window_error"].append(max(abs(r - 1) for r in windows(s["_run_dir"], args.near_rate,
                                                                              args.seconds)))
            near["lateness_p99_ms"].append(s["traffic"]["lateness_p99_ms"])
            near["late"].append(s["traffic"]["late_arrivals"])
            near["dropped"].append(s["traffic"]["dropped_arrivals"])
            near["count_diff"].append(s["totals"]["requests"] - served)
            by_second.append(lateness_by_second(s["_run_dir"]))
            near["seconds_over_10ms"].append(sum(p99 >= 10 for p99 in by_second[-1].values()))
            print("near capacity run: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in near.items()), file=sys.stderr)
    out["fidelity_near_capacity"] = {"rate_per_s": args.near_rate, "seconds": args.seconds, "runs": near,
                                     "lateness_p99_ms_by_second": [{str(t): round(v, 2) for t, v in run.items()}
                                                                   for run in by_second],
                                     **{f"median_{k}": median(v) for k, v in near.items()}}

    # 1 + 2: fidelity and accuracy against the 50 ms server
    fid = {"worst_window_error": [], "lateness_p99_ms": [], "late": [], "dropped": []}
    acc = {"p50_diff_ms": [], "p95_diff_ms": [], "p99_diff_ms": [], "count_diff": []}
    with python_server("--delay", "50ms") as url:
        for _ in range(args.runs):
            httpx.post(url + "/__reset")
            s = loadkit_run(constant(args.rate, args.seconds, "fidelity"), url)
            server = httpx.get(url + "/__figures").json()
            ratios = windows(s["_run_dir"], args.rate, args.seconds)
            fid["worst_window_error"].append(max(abs(r - 1) for r in ratios))
            fid["lateness_p99_ms"].append(s["traffic"]["lateness_p99_ms"])
            fid["late"].append(s["traffic"]["late_arrivals"])
            fid["dropped"].append(s["traffic"]["dropped_arrivals"])
            for q in ("p50", "p95", "p99"):
                acc[f"{q}_diff_ms"].append(s["totals"][f"{q}_ms"] - server[f"{q}_ms"])
            acc["count_diff"].append(s["totals"]["requests"] - server["count"] + 1)  # the preflight's request
            print(f"fidelity run: worst 10 s window {fid['worst_window_error'][-1]:.2%}, lateness p99 "
                  f"{fid['lateness_p99_ms'][-1]:.2f} ms; p99 loadkit {s['totals']['p99_ms']:.2f} vs server "
                  f"{server['p99_ms']:.2f}", file=sys.stderr)
    out["fidelity"] = {"rate_per_s": args.rate, "seconds": args.seconds, "runs": fid,
                       "median_worst_window_error": median(fid["worst_window_error"]),
                       "median_lateness_p99_ms": median(fid["lateness_p99_ms"])}
    out["accuracy"] = {"runs": acc, **{f"median_{k}": median(v) for k, v in acc.items()}}

    # 3: coordinated omission
    co = {"truth_p90_ms": [], "truth_p99_ms": [], "loadkit_p90_ms": [], "loadkit_p99_ms": [],
          "locust_p90_ms": [], "locust_p99_ms": []}
    with python_server("--stall-every", "10s", "--stall-for", "2s") as url:
        for _ in range(args.runs):
            httpx.post(url + "/__reset")
            s = loadkit_run(constant(100, 30, "stall"), url)
            truth = httpx.get(url + "/__figures").json()  # the server saw every visitor arrive
            co["truth_p90_ms"].append(truth["p90_ms"])
            co["truth_p99_ms"].append(truth["p99_ms"])
            co["loadkit_p90_ms"].append(s["totals"]["p90_ms"])
            co["loadkit_p99_ms"].append(s["totals"]["p99_ms"])
            row = locust_run(CLOSED_LOCUSTFILE, url, 10, 30)
            co["locust_p90_ms"].append(float(row["90%"]))
            co["locust_p99_ms"].append(float(row["99%"]))
            print("co run: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in co.items()), file=sys.stderr)
    out["coordinated_omission"] = {"runs": co, **{f"median_{k}": median(v) for k, v in co.items()}}
    path = save("fidelity", out)
    print(json.dumps(out, indent=1, default=str)[:3000])
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
