"""A/A pairs: how often does ``loadkit compare`` call two runs of the same scenario against the same site
different? Each pair runs the scenario once in one process and once with ``--workers 2`` (the issue's
case), or twice in one process (``--same``), against one demo storefront, then compares them. Every
change flagged is a false positive.

    python benchmarks/bench_aa.py --pairs 8
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness import ROOT, loadkit_run, save

sys.path.insert(0, str(ROOT))

from loadkit.compare import compare_runs  # noqa: E402
from loadkit.data import load_run  # noqa: E402
from loadkit.demo import DemoConfig, DemoSite  # noqa: E402

SCENARIO = {"name": "aa", "traffic": {"profile": "constant", "rate": "20/s", "duration": "15s"},
            "journeys": [{"name": "look", "steps": [{"get": "/"}, {"get": "/products/kitchen-01"},
                                                    {"get": "/category/kitchen"}]}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--same", action="store_true", help="both runs in one process (no --workers)")
    args = parser.parse_args()
    site = DemoSite(DemoConfig()).start()
    flagged: list[list[str]] = []
    compared = 0
    try:
        for k in range(args.pairs):
            one = loadkit_run(SCENARIO, site.url)
            other = loadkit_run(SCENARIO, site.url) if args.same else loadkit_run(SCENARIO, site.url, "--workers", "2")
            first, second = (one, other) if k % 2 == 0 else (other, one)  # alternate which is the base
            comparison = compare_runs(load_run(Path(first["_run_dir"])), load_run(Path(second["_run_dir"])))
            compared += sum(1 for c in comparison.changes if c.decision != "not compared")
            flagged.append([f"{c.metric} of {c.endpoint}: {c.decision} ({c.new}/{c.base})"
                            for c in comparison.changes if c.decision in ("regression", "improvement")])
            print(k, flagged[-1], flush=True)
    finally:
        site.stop()
    pairs_flagged = sum(1 for f in flagged if f)
    result = {"pairs": args.pairs, "mode": "same" if args.same else "one process vs --workers 2",
              "figures_compared": compared, "figures_flagged": sum(len(f) for f in flagged),
              "pairs_with_a_flag": pairs_flagged, "flags": flagged}
    print(json.dumps(result, indent=1))
    save("bench_aa" + ("_same" if args.same else "_workers"), result)


if __name__ == "__main__":
    main()
