"""The report stage: view model, then report.html, summary.json, junit.xml and summary.md.

:func:`render` reads only the run directory, so ``loadkit report RUN_DIR`` rebuilds every report
at any time without re-running the load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..baseline import saved_comparison
from ..analysis import Analysis, analyze
from ..data import load_run, write_json_atomic, write_text_atomic
from ..verdict import Verdict, judge
from .gitlab import render_load_performance
from .html import render_html
from .junit import render_junit
from .markdown import render_markdown
from .model import ReportModel, build_model

__all__ = ["Rendered", "render", "render_run_dir", "ReportModel", "build_model"]


@dataclass(frozen=True)
class Rendered:
    """What rendering produced."""

    model: ReportModel
    verdict: Verdict
    analysis: Analysis
    files: tuple[Path, ...]


def render(analysis: Analysis, verdict: Verdict, run_dir: Path) -> Rendered:
    """Write every report for an analysed run into ``run_dir`` (atomically)."""
    model = build_model(analysis, verdict, saved_comparison(run_dir))
    documents = {"summary.json": model.summary(), "load-performance.json": render_load_performance(model)}
    texts = {"report.html": render_html(model), "junit.xml": render_junit(model),
             "summary.md": render_markdown(model)}
    for name, document in documents.items():
        write_json_atomic(run_dir / name, document)
    for name, text in texts.items():
        write_text_atomic(run_dir / name, text)
    return Rendered(model=model, verdict=verdict, analysis=analysis,
                    files=tuple(run_dir / name for name in (*documents, *texts)))


def render_run_dir(run_dir: Path) -> Rendered:
    """Analyse, judge and render a run directory from its data files alone."""
    analysis = analyze(load_run(run_dir))
    return render(analysis, judge(analysis), run_dir)
