"""The baseline gate: a new run compared with a chosen earlier one (``loadkit run --baseline``).

The baseline is a run directory, or ``latest-good``: the newest run of the same scenario whose verdict
was survives, found among the run directories beside the new one (the folder ``--out`` writes into,
``reports/`` by default). The comparison uses :func:`loadkit.compare.compare_runs`, the statistics of
``loadkit compare``, and is saved in the new run directory as ``baseline.json`` (with ``baseline.md``),
which every report of the run then shows; a regression beyond noise makes the run exit 1.
"""

from __future__ import annotations

import json
from pathlib import Path

from .compare import Comparison, compare_runs, comparison_dict
from .data import load_run, write_json_atomic, write_text_atomic
from .errors import UsageError
from .history import read_entry

LATEST_GOOD = "latest-good"
BASELINE_FILE = "baseline.json"


def find_baseline(spec: str, scenario: str, search_dir: Path, search: bool = False) -> Path:
    """The baseline run directory for ``spec`` (a path, or ``latest-good``); a usage error when there is none.
    ``search``: the new run is a capacity search, which compares only with another (compare.py): checked
    here, before the load, not after it."""
    if spec != LATEST_GOOD:
        path = Path(spec)
        if not (path / "summary.json").is_file():
            raise UsageError(f"--baseline {spec} is not a run directory (no summary.json there).",
                             f"pass a folder written by loadkit run, or --baseline {LATEST_GOOD}")
        try:
            baseline_search = read_entry(path).search
        except ValueError:
            return path  # unreadable: the comparison says so after the run, as before
        if baseline_search != search:
            kinds = ("a capacity search", "a planned load") if search else ("a planned load", "a capacity search")
            raise UsageError(f"--baseline {spec} is {kinds[1]} and this scenario is {kinds[0]}: their figures do "
                             "not compare.", "pass an earlier run of the same kind, or leave out --baseline")
        return path
    good = []
    for summary in search_dir.glob("*/summary.json") if search_dir.is_dir() else []:
        try:
            entry = read_entry(summary.parent)
        except ValueError:
            continue
        if entry.scenario == scenario and entry.verdict == "survives" and entry.complete and entry.search == search:
            good.append((entry.started_at, str(entry.path), entry.path))
    if not good:
        raise UsageError(f"no earlier run of {scenario} that survived under {search_dir}.",
                         "run once without --baseline first, or pass --baseline RUN_DIR")
    return max(good)[2]


def gate(baseline_dir: Path, run_dir: Path, min_change: float = 0.10) -> Comparison:
    """Compare ``run_dir`` with ``baseline_dir`` and save the comparison in ``run_dir``."""
    from .report.comparison import render_comparison_markdown

    comparison = compare_runs(load_run(baseline_dir), load_run(run_dir), min_change=min_change)
    document = comparison_dict(comparison)
    document["baseline_dir"] = str(baseline_dir)
    write_json_atomic(run_dir / BASELINE_FILE, document)
    write_text_atomic(run_dir / "baseline.md", render_comparison_markdown(comparison))
    return comparison


def saved_comparison(run_dir: Path) -> dict[str, object] | None:
    """The baseline comparison saved in a run directory, if any (the reports show it)."""
    try:
        document = json.loads((run_dir / BASELINE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None


__all__ = ["BASELINE_FILE", "LATEST_GOOD", "find_baseline", "gate", "saved_comparison"]
