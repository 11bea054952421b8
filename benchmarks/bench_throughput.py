"""Throughput: loadkit vs plain Locust (FastHttpUser) on the same nginx, side by side, medians of runs.

    python benchmarks/bench_throughput.py [--runs 3] [--seconds 15] [--users 50]
    python benchmarks/bench_throughput.py --cases locustfile [--tree /path/to/other/checkout] [--runs 5]

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

``--cases locustfile``: loadkit running a ``locustfile:`` (the plain Locust file above: FastHttpUsers that
GET /), closed model (``--users`` users, steady requests/s and requests per CPU-second) and open model (a
constant ``--open-rate`` arrivals/s, CPU microseconds per visit), for this tree and each ``--tree``, taking
turns run by run (the per-request path of a locustfile, side by side before and after a change).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness import ROOT, MachineBusy, loadkit_run, locust_run, median, nginx, plain_locustfile, save, steady_rps

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


def with_locustfile(traffic: dict, folder: Path) -> dict:
    """A scenario running the plain locustfile (written into ``folder``) with ``traffic``."""
    path = folder / "plain_locustfile.py"
    path.write_text(PLAIN_LOCUSTFILE)
    return {"name": "bench-locustfile", "request_timeout": "10s", "locustfile": str(path), "traffic": traffic}


def locustfile_cases(args: argparse.Namespace) -> int:
    """The locustfile's per-request path, this tree and each --tree taking turns."""
    import tempfile

    trees = [ROOT, *(Path(t).resolve() for t in args.tree)]
    folder = Path(tempfile.mkdtemp(prefix="loadkit-bench-locustfile-"))
    closed_doc = with_locustfile({"model": "users", "profile": "constant", "rate": args.users,
                                  "duration": f"{args.seconds}s"}, folder)
    open_doc = with_locustfile({"profile": "constant", "rate": f"{args.open_rate}/s",
                                "duration": f"{args.seconds}s"}, folder)
    keys = ("closed_rps", "closed_req_per_cpu_s", "open_cpu_us_per_visit", "open_delivered", "open_lateness_p99_ms")
    per = {str(t): {k: [] for k in keys} for t in trees}
    with nginx() as url:
        for i in range(args.runs):
            for tree in trees if i % 2 == 0 else trees[::-1]:  # taking turns at going first
                row = per[str(tree)]
                s = loadkit_run(closed_doc, url, "--skip-rehearsal", root=tree)
                row["closed_rps"].append(rps(s))
                row["closed_req_per_cpu_s"].append(s["totals"]["requests"] / s["_cpu_s"])
                if "open" in args.models:
                    s = loadkit_run(open_doc, url, "--skip-rehearsal", root=tree)
                    visits = s["traffic"]["delivered_arrivals"]
                    row["open_cpu_us_per_visit"].append(s["_cpu_s"] / max(visits, 1) * 1e6)
                    row["open_delivered"].append(visits)
                    row["open_lateness_p99_ms"].append(s["traffic"]["lateness_p99_ms"])
                print(f"run {i + 1} {tree}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in row.items() if v),
                      file=sys.stderr)
    out = {"users": args.users, "open_rate_per_s": args.open_rate, "seconds": args.seconds,
           "trees": {tree: {"runs": row, **{f"median_{k}": median(v) for k, v in row.items() if v}}
                     for tree, row in per.items()}}
    for tree, row in out["trees"].items():
        print(f"{tree}: " + ", ".join(f"{k.removeprefix('median_')} {v:.1f}" for k, v in row.items()
                                      if k.startswith("median_")))
    print(f"saved {save('throughput-locustfile', out)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--cases", choices=["all", "locustfile"], default="all")
    parser.add_argument("--tree", action="append", default=[], help="another source tree (--cases locustfile)")
    parser.add_argument("--open-rate", type=float, default=1000.0, help="arrivals/s (--cases locustfile)")
    parser.add_argument("--models", default="closed,open", help="closed, open or both (--cases locustfile)")
    args = parser.parse_args()
    if args.cases == "locustfile":
        return locustfile_cases(args)
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
