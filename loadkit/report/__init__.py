"""The report stage: view model, then report.html, summary.json, junit.xml and summary.md.

:func:`render` reads only the run directory, so ``loadkit report RUN_DIR`` rebuilds every report
at any time without re-running the load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..baseline import saved_comparison
from ..analysis import Analysis, analyze
from ..data import load_run, release_reserve, write_json_atomic, write_text_atomic
from ..errors import DiskFullError
from ..observed import read_observed
from ..verdict import Verdict, judge
from .gitlab import render_load_performance
from .html import render_html
from .junit import render_junit
from .markdown import render_markdown
from .model import ReportModel, build_model

__all__ = ["REPORT_FILES", "Rendered", "ReportModel", "build_model", "render", "render_run_dir"]


# Written in this order, most important first: when the disk fills, the verdict for scripts survives first.
REPORT_FILES = ("summary.json", "report.html", "junit.xml", "summary.md", "load-performance.json")


@dataclass(frozen=True)
class Rendered:
    """What rendering produced."""

    model: ReportModel
    verdict: Verdict
    analysis: Analysis
    files: tuple[Path, ...]  # the reports written
    missing: tuple[str, ...] = ()  # the reports the disk had no room for (names, in REPORT_FILES order)


def render(analysis: Analysis, verdict: Verdict, run_dir: Path) -> Rendered:
    """Write every report for an analysed run into ``run_dir`` (atomically), in :data:`REPORT_FILES` order.

    A report the disk has no room for is skipped and the rest are still tried (a smaller one may fit); the
    skipped ones are returned in ``missing`` and, when it fits, listed in summary.json as ``missing_files``.
    Other write errors are raised.
    """
    model = build_model(analysis, verdict, saved_comparison(run_dir), read_observed(run_dir))
    summary = model.summary()
    writers: dict[str, Callable[[Path], None]] = {
        "summary.json": lambda path: write_json_atomic(path, summary),
        "report.html": lambda path: write_text_atomic(path, render_html(model)),
        "junit.xml": lambda path: write_text_atomic(path, render_junit(model)),
        "summary.md": lambda path: write_text_atomic(path, render_markdown(model)),
        "load-performance.json": lambda path: write_json_atomic(path, render_load_performance(model)),
    }
    written: list[str] = []
    missing: list[str] = []
    for name in REPORT_FILES:
        try:
            writers[name](run_dir / name)
            written.append(name)
        except DiskFullError:
            if name == "summary.json" and release_reserve(run_dir):  # the space a run holds for its verdict
                try:
                    writers[name](run_dir / name)
                    written.append(name)
                    continue
                except DiskFullError:
                    pass
            missing.append(name)
    if missing and "summary.json" in written:
        try:
            write_json_atomic(run_dir / "summary.json", {**summary, "missing_files": missing})
        except DiskFullError:
            if release_reserve(run_dir):
                try:
                    write_json_atomic(run_dir / "summary.json", {**summary, "missing_files": missing})
                except DiskFullError:
                    pass  # the first summary.json stays; the command still names the missing files
    release_reserve(run_dir)  # a run's reserve is not part of its directory
    return Rendered(model=model, verdict=verdict, analysis=analysis,
                    files=tuple(run_dir / name for name in written), missing=tuple(missing))


def render_run_dir(run_dir: Path) -> Rendered:
    """Analyse, judge and render a run directory from its data files alone."""
    analysis = analyze(load_run(run_dir))
    return render(analysis, judge(analysis), run_dir)
