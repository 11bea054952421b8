"""Catching up after a pause: Python's default garbage collection vs loadkit's, side by side, on nginx.

    python benchmarks/bench_burst.py [--runs 5] [--rate 7200] [--seconds 8] [--pause-ms 150]

One load process starts one-request visitors at ``--rate`` per second (``connections: shared``, the
generator's cheapest visit; pick a rate near the generator's capacity, docs/benchmarks.md), and 3 s in the
whole process stops for ``--pause-ms`` (as a machine that schedules something else does). The visitors due
meanwhile start late, all at once; the question is whether the generator then catches up. Each trial runs in
a fresh process, alternating the collector's default thresholds with loadkit's (``burst_tolerant_gc``).
Reported per setting (medians): time spent collecting, visitors started more than 100 ms late (the pause
alone makes some), seconds from the pause on whose p99 lateness reached 10 ms, and CPU per visit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

from harness import ROOT, median, nginx, save

ON_TIME_P99_MS = 10.0
PAUSE_AT_S = 3.0


def trial(url: str, mode: str, rate: float, seconds: float, pause_ms: float) -> dict[str, Any]:
    """One trial in this process (``mode``: ``default`` or ``loadkit``); returns its measurements."""
    from gevent import monkey

    monkey.patch_all()
    import contextlib
    import gc
    import random
    import resource
    import time

    import gevent
    from gevent.event import Event
    from locust.env import Environment

    from loadkit.histogram import Histogram
    from loadkit.run.arrivals import Crew, dispatch
    from loadkit.run.context import MAX_IN_FLIGHT
    from loadkit.run.process import burst_tolerant_gc
    from loadkit.run.recorder import Recorder
    from loadkit.run.visitors import DataPool, VisitorFactory
    from loadkit.scenario import parse_scenario

    env = Environment()
    recorder = Recorder()
    env.events.request.add_listener(recorder.on_request)
    scenario = parse_scenario({"name": "burst", "connections": "shared",
                               "traffic": {"profile": "constant", "rate": f"{rate}/s", "duration": f"{seconds}s"},
                               "journeys": [{"name": "visit", "steps": [{"get": "/"}]}]})
    factory = VisitorFactory(scenario, url, env.events.request, DataPool({}, frozenset(), random.Random(1)), {},
                             random.Random(2))
    collecting = [0.0]
    began = [0.0]

    def on_gc(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            collecting[0] += time.perf_counter() - began[0]

    gc.callbacks.append(on_gc)
    real_sleep = monkey.get_original("time", "sleep")

    def pause() -> None:
        gevent.sleep(PAUSE_AT_S)
        real_sleep(pause_ms / 1000)  # blocks the whole process, event loop included

    count = int(rate * seconds)
    times = [i / rate for i in range(count)]
    setting = burst_tolerant_gc() if mode == "loadkit" else contextlib.nullcontext()
    with setting:
        t0 = time.time()
        recorder.start_clock(t0)
        gevent.spawn(pause)
        before = resource.getrusage(resource.RUSAGE_SELF)
        crew = Crew(MAX_IN_FLIGHT)
        dispatch(times, t0, factory.visit, recorder, crew, Event())
        crew.join(timeout=30)
        after = resource.getrusage(resource.RUSAGE_SELF)
    gc.callbacks.remove(on_gc)
    _, arrivals, _ = recorder.flush()
    p99 = {row["t"]: Histogram.from_dict(row["lateness"]).percentile(0.99) / 1000 for row in arrivals}
    late_seconds = sum(ms >= ON_TIME_P99_MS for t, ms in p99.items() if t >= int(PAUSE_AT_S))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"gc_ms": collecting[0] * 1000, "late": recorder.total_late, "late_seconds": late_seconds,
            "cpu_us_per_visit": cpu / count * 1e6}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=7200)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--pause-ms", type=float, default=150)
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        print(json.dumps(trial(args.url, args.trial, args.rate, args.seconds, args.pause_ms)))
        return 0
    rows: dict[str, list[dict[str, Any]]] = {"default": [], "loadkit": []}
    with nginx() as url:
        for i in range(args.runs):
            for mode in rows:
                out = subprocess.run([sys.executable, __file__, "--trial", mode, "--url", url, "--rate", str(args.rate),
                                      "--seconds", str(args.seconds), "--pause-ms", str(args.pause_ms)],
                                     capture_output=True, text=True, check=True, timeout=120,
                                     env=dict(os.environ, PYTHONPATH=str(ROOT)))
                rows[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"run {i + 1}: " + "; ".join(f"{m} {r[-1]}" for m, r in rows.items()), file=sys.stderr)
    summary = {mode: {key: median([r[key] for r in runs]) for key in runs[0]} for mode, runs in rows.items()}
    path = save("burst", {"rate": args.rate, "seconds": args.seconds, "pause_ms": args.pause_ms, "runs": rows,
                          "medians": summary})
    for mode, s in summary.items():
        print(f"{mode:<8} collecting {s['gc_ms']:5.0f} ms, {s['late']:6.0f} visitors late, {s['late_seconds']:.0f} s "
              f"with p99 lateness >= {ON_TIME_P99_MS:.0f} ms, {s['cpu_us_per_visit']:.0f} us CPU/visit "
              f"(medians of {args.runs})")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
