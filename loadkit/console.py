"""What the console says about a finished run: the verdict line, its reasons, scenario errors, where the
report is, the baseline's judgement and a full disk. ``loadkit run``, ``loadkit report`` and loadkit's
Locust entry print the same lines."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ExitCode
from .scenario_errors import fix_sentences
from .units import format_clock

if TYPE_CHECKING:
    from .api import RunResult
    from .verdict import Verdict


def print_run_result(result: RunResult, quiet: bool) -> None:
    """A finished run on the console: the verdict, its reasons, where the report is, the baseline's
    judgement, a full disk (``loadkit run``, and loadkit's Locust entry)."""
    settings = result.settings
    rendered, verdict = result.rendered, result.verdict
    print(verdict_line(verdict))
    if not quiet:
        for reason in verdict.reasons:
            print(f"  - {reason}")
        for line in scenario_error_lines(rendered.analysis.scenario_errors):
            print(line)
        if "report.html" not in rendered.missing:
            print(f"report: {settings.run_dir / 'report.html'}")
    comparison = result.comparison
    if comparison is not None:
        print(f"baseline {result.baseline}: " + ("regression beyond noise: " + ", ".join(
            f"{c.metric} of {c.endpoint}" for c in comparison.regressions) if comparison.regressions else
            "no regression beyond noise"))
    if result.exit_code == ExitCode.OUT_OF_DISK:
        print(f"loadkit: error: {out_of_disk_message(settings.run_dir, rendered.missing, result.outcome.disk_full)}",
              file=sys.stderr)


def scenario_error_lines(summary: dict[str, Any]) -> list[str]:
    """The console's account of scenario errors: per step, then one sample's (redacted) traceback."""
    if not summary.get("count"):
        return []
    lines = [f"scenario errors (the scenario's, not counted against the site): {summary['count']:,}"]
    lines += [f"  - {r['endpoint']}: {r['words']}, {r['count']:,}x from {format_clock(r['first_s'])}"
              for r in summary["by_step"][:10]]
    lines += [f"  {sentence}" for sentence in fix_sentences(summary)]
    sample = summary.get("sample") or {}
    if sample.get("traceback"):
        lines.append("  traceback of one (redacted):")
        lines += ["    " + line for line in str(sample["traceback"]).rstrip().splitlines()]
    elif sample.get("detail"):
        lines.append(f"  for example: {sample.get('url') or sample['endpoint']}: {sample['detail']}")
    return lines


def out_of_disk_message(run_dir: Path, missing: Sequence[str], disk_full: str | None = None) -> str:
    """One line: what the full disk cost (the run's data, the reports not written) and the fix."""
    parts = [disk_full] if disk_full else []
    if missing:
        written = [name for name in ("summary.json", "report.html", "junit.xml", "summary.md") if name not in missing]
        parts.append(f"the disk is full: {', '.join(missing)} {'was' if len(missing) == 1 else 'were'} not written "
                     f"to {run_dir}" + (f" ({', '.join(written)} {'was' if len(written) == 1 else 'were'})"
                                        if written else ""))
        fix = f"free some disk space, then `loadkit report {run_dir}` writes every report"
    else:
        fix = "free some disk space (or pass --out on a disk with room) and run the scenario again"
    return "; ".join(parts) + f". Fix: {fix}"


def verdict_line(verdict: Verdict) -> str:
    """``FAILS: the site broke ...`` (the headline already starts with the verdict's word)."""
    words = verdict.headline.split(": ", 1)
    return f"{verdict.verdict.upper()}: {words[-1]}"


__all__ = ["out_of_disk_message", "print_run_result", "scenario_error_lines", "verdict_line"]
