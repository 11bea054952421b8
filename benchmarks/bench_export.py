"""What the live export costs the generator: requests/s with --prometheus (and a scraper) vs without.

    python benchmarks/bench_export.py [--runs 5] [--seconds 15] [--users 50]

Closed model, ``--users`` users with one-request journeys and no think time against nginx (one worker
process) on 127.0.0.1: the most requests one loadkit process sends, the measure most sensitive to any
extra work in the controlling process. Alternating, one run without export and one with
``--prometheus 127.0.0.1:PORT`` while a scraper reads /metrics every second (as a Prometheus at a 1 s
interval would: the worst case; 15 s is usual); medians of ``--runs`` pairs, steady seconds only. Also the
OTLP export to a local receiver that accepts and drops everything (``--otlp``). Bounded: every run stops
by its plan, each at most 120 s.
"""

from __future__ import annotations

import argparse
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness import _free_port as free_port
from harness import loadkit_run, median, nginx, save, steady_rps


def _scraper(port: int, stop: threading.Event, counts: list[int]) -> None:
    while not stop.wait(1.0):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                response.read()
            counts[0] += 1
        except OSError:
            pass


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # the OTLP/HTTP receiver: read, answer 200, keep nothing
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    scenario = {"name": "export", "traffic": {"model": "users", "profile": "constant", "rate": args.users,
                                              "duration": f"{args.seconds}s"},
                "journeys": [{"name": "one", "steps": [{"get": "/"}]}], "connections": "shared",
                "verdict": {"headroom_probe": False}}
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    rows: dict[str, list[float]] = {"off": [], "prometheus": [], "otlp": []}
    scrapes: list[int] = []
    with nginx() as url:
        for _ in range(args.runs):
            off = loadkit_run(scenario, url, timeout=120)
            rows["off"].append(steady_rps(off["_run_dir"], args.seconds))
            port = free_port()
            stop, counts = threading.Event(), [0]
            scraper = threading.Thread(target=_scraper, args=(port, stop, counts), daemon=True)
            scraper.start()
            try:
                on = loadkit_run(scenario, url, "--prometheus", f"127.0.0.1:{port}", "--prometheus-linger", "0s",
                                 timeout=120)
            finally:
                stop.set()
                scraper.join(timeout=5)
            rows["prometheus"].append(steady_rps(on["_run_dir"], args.seconds))
            scrapes.append(counts[0])
            otlp = loadkit_run(scenario, url, "--otlp", f"http://127.0.0.1:{sink.server_address[1]}", timeout=120)
            rows["otlp"].append(steady_rps(otlp["_run_dir"], args.seconds))
            print({k: round(v[-1]) for k, v in rows.items()}, "scrapes", counts[0], flush=True)
            time.sleep(1)
    sink.shutdown()
    result = {name: {"runs": [round(v) for v in values], "median_rps": round(median(values))}
              for name, values in rows.items()}
    for name in ("prometheus", "otlp"):
        ratios = [on / off for on, off in zip(rows[name], rows["off"], strict=True)]
        result[name]["ratio_per_pair_median"] = round(median(ratios), 3)
    result["scrapes_per_run"] = scrapes
    print(result)
    save("export", {"users": args.users, "seconds": args.seconds, "results": result})


if __name__ == "__main__":
    main()
