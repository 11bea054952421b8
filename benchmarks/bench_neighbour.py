"""A busy neighbour: how often a run turns inconclusive when another process hogs loadkit's CPU core.

    python benchmarks/bench_neighbour.py [--runs 5] [--nice 0] [--pauses 0] [--tree DIR] [--name neighbour]

Each trial starts a CPU hog (``python -c 'while 1: pass'``) pinned to core 0 and runs ``loadkit run``
pinned to the same core (``taskset -c 0``, at ``--nice``), 10 s at 20 visitors/s against a fast local
server (tests/faultserver.py, ``/sleep/5``: every answer takes 5 ms, so a p95 below 1 ms is impossible),
then stops the hog. ``--nice 19`` runs loadkit at the lowest priority (a CI runner beside busy
neighbours); ``--pauses N`` also stops the loadkit process (SIGSTOP) for 400 ms N times, 1.5 s apart, once
its first rows are on disk (a machine that schedules something else). Two SLOs alternate: an impossible one (p95 below 1 ms: the site fails at any load it
gets) and an easy one (p95 below 1 s). ``--tree`` runs the loadkit of another checkout (a worktree of an
older commit) for a before/after comparison; the server always comes from this one. Reported per SLO:
each run's verdict and exit code, late arrivals, the longest hiccup and the generator's busiest second
(when the tree measures them), and the first reason's opening words. Bounded: at most 20 runs, each
stopped after 120 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from harness import ROOT, save

SLOS = {"impossible": "1ms", "easy": "1s"}


def trial(tree: Path, url: str, slo: str, nice: int, pauses: int, out: Path) -> dict[str, Any]:
    """One run beside a pinned hog; returns what it found."""
    scenario = out.with_suffix(".yaml")
    scenario.write_text(yaml.safe_dump({
        "name": "neighbour", "traffic": {"profile": "constant", "rate": "20/s", "duration": "10s"},
        "journeys": [{"name": "j", "steps": [{"get": "/sleep/5"}]}],
        "slos": [{"metric": "p95", "below": slo}]}), encoding="utf-8")
    hog = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while 1: pass"])
    try:
        env = dict(os.environ, PYTHONPATH=str(tree))
        proc = subprocess.Popen(["taskset", "-c", "0", "nice", "-n", str(nice), sys.executable, "-m", "loadkit",
                                 "run", str(scenario), "--target", url, "--out", str(out), "--quiet"],
                                cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while pauses and not (out / "arrivals.jsonl").exists() and proc.poll() is None and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(pauses):
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGSTOP)
            time.sleep(0.4)
            proc.send_signal(signal.SIGCONT)
            time.sleep(1.1)
        try:
            returncode = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:  # too starved to finish: recorded, and the next trial runs
            proc.kill()
            proc.wait()
            return {"exit": None, "verdict": "did not finish in 120 s"}
    finally:
        hog.kill()
        hog.wait()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    traffic = summary["traffic"]
    return {"exit": returncode, "verdict": summary["verdict"], "late": traffic["late_arrivals"],
            "dropped": traffic["dropped_arrivals"], "planned": traffic["planned_arrivals"],
            "lateness_max_ms": traffic.get("lateness_max_ms"), "hiccup_max_ms": traffic.get("hiccup_max_ms"),
            "paused_seconds": traffic.get("paused_seconds"), "generator_cpu_max": traffic.get("generator_cpu_max"),
            "p95_ms": summary["totals"]["p95_ms"],
            "reason": " ".join(summary["reasons"][0].split()[:12]) if summary["reasons"] else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per SLO (at most 10)")
    parser.add_argument("--nice", type=int, default=0, help="loadkit's niceness beside the hog")
    parser.add_argument("--pauses", type=int, default=0, help="stop loadkit for 400 ms this many times (at most 5)")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the loadkit checkout to run")
    parser.add_argument("--name", default="neighbour", help="results/NAME.json")
    args = parser.parse_args()
    runs = max(1, min(10, args.runs))
    server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "faultserver.py")], stdout=subprocess.PIPE,
                              text=True)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in SLOS}
    try:
        line = server.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("listening "), line
        url = line.split()[1]
        with tempfile.TemporaryDirectory(prefix="bench-neighbour-") as tmp:
            for i in range(runs):
                for name, slo in SLOS.items():
                    row = trial(args.tree.resolve(), url, slo, args.nice, max(0, min(5, args.pauses)),
                                Path(tmp) / f"{name}-{i}")
                    results[name].append(row)
                    print(name, json.dumps(row), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    tally = {name: dict(Counter(f"{r['verdict']} (exit {r['exit']})" for r in rows)) for name, rows in results.items()}
    print(json.dumps(tally, indent=1))
    head = subprocess.run(["git", "-C", str(args.tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    save(args.name, {"tree_commit": head, "nice": args.nice, "pauses": args.pauses, "runs_per_slo": runs, "tally": tally, "runs": results})


if __name__ == "__main__":
    main()
