"""The commands over run directories already written (reports, comparisons, the history), and the demo
storefront in the foreground."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ExitCode, OutputError, UsageError
from ._running import append_step_summary, verdict_exit_code

if TYPE_CHECKING:
    from ..compare import Comparison
    from ..demo import DemoConfig
    from ..history import History
    from ..report import Rendered

__all__ = ["CompareResult", "HistoryResult", "ReportResult", "compare", "demo_site", "history", "report"]


# --- report, compare, history, init ---------------------------------------------------------------


@dataclass(frozen=True)
class ReportResult:
    """The reports rebuilt from a run directory, and the exit code of the run that wrote it."""

    rendered: Rendered
    exit_code: ExitCode


def report(run_dir: Path, strict: bool | None = None, environ: Mapping[str, str] | None = None) -> ReportResult:
    """Rebuild every report of ``run_dir`` from its data files alone; the exit code is the one ``loadkit run``
    gave (the verdict's, 1 for a regression against the saved baseline comparison), so a CI step can
    re-render and still gate on it. ``strict``: None reads ``LOADKIT_STRICT`` (``environ``, default
    ``os.environ``), as ``run`` does."""
    from ..report import render_run_dir

    if strict is None:
        strict = _strict_from(os.environ if environ is None else environ)
    rendered = render_run_dir(run_dir)
    if rendered.missing:
        code = ExitCode.OUT_OF_DISK
    else:
        code = verdict_exit_code(rendered.verdict.verdict, strict=strict,
                                 interrupted=bool(rendered.model.run.get("interrupted")))
        if code == ExitCode.SURVIVES and _regressed(rendered.model.baseline):
            code = ExitCode.FAILS  # as under run: the site held its service levels but got worse than its baseline
    return ReportResult(rendered=rendered, exit_code=code)


def _strict_from(environ: Mapping[str, str]) -> bool:
    """``LOADKIT_STRICT`` through the config layers' own parser (set but empty or not a boolean: a usage error)."""
    from ..config import ENV_PREFIX, SETTINGS

    variable = ENV_PREFIX + SETTINGS["strict"][0]
    if variable not in environ:
        return False
    if not environ[variable].strip():
        raise UsageError(f"{variable} is set but empty.", f"give {variable} a value, or unset it")
    try:
        return bool(SETTINGS["strict"][1](environ[variable]))
    except ValueError as exc:
        raise UsageError(f"{variable}={environ[variable]!r}: {exc}.",
                         f"set {variable} to a valid value or unset it") from None


def _regressed(baseline: Mapping[str, object] | None) -> bool:
    """Whether the saved baseline comparison (baseline.json) found a regression beyond noise."""
    if not baseline:
        return False
    changes = baseline.get("changes")
    return bool(baseline.get("regression")) or (
        isinstance(changes, list) and any(isinstance(c, dict) and c.get("decision") == "regression"
                                          for c in changes))


@dataclass(frozen=True)
class CompareResult:
    """Two runs compared, and the HTML file written (with ``.md`` and ``.json`` beside it)."""

    comparison: Comparison
    html_path: Path
    markdown: str

    @property
    def exit_code(self) -> ExitCode:
        """1 when the new run regressed beyond noise."""
        return ExitCode.FAILS if self.comparison.regressions else ExitCode.SURVIVES


def compare(base_run_dir: Path, new_run_dir: Path, out: Path | None = None,
            min_change: float = 0.10) -> CompareResult:
    """Compare two run directories per endpoint and overall, against the runs' noise; write the comparison
    (``out``, default ``NEW_RUN_DIR/compare.html``, with ``.md`` and ``.json``) and add it to the CI job
    summary when there is one."""
    from ..compare import compare_runs, comparison_dict
    from ..data import load_run, write_json_atomic, write_text_atomic
    from ..report.comparison import render_comparison_html, render_comparison_markdown
    from ..report.markdown import MAX_JOB_SUMMARY, cap_utf8

    comparison = compare_runs(load_run(base_run_dir), load_run(new_run_dir), min_change=min_change)
    html_path = out or new_run_dir / "compare.html"
    markdown = render_comparison_markdown(comparison)
    _make_parent(html_path)
    write_text_atomic(html_path, render_comparison_html(comparison))
    write_text_atomic(html_path.with_suffix(".md"), markdown)
    write_json_atomic(html_path.with_suffix(".json"), comparison_dict(comparison))
    append_step_summary(cap_utf8(markdown, MAX_JOB_SUMMARY), os.environ)
    return CompareResult(comparison=comparison, html_path=html_path, markdown=markdown)


@dataclass(frozen=True)
class HistoryResult:
    """Every run under a folder, and the page written."""

    history: History
    out: Path


def history(runs_dir: Path, out: Path | None = None, compare_last: int | None = None) -> HistoryResult:
    """Every run under ``runs_dir``, per scenario, with the changes between runs; write ``out`` (default
    ``DIR/history.html``) and ``history.json`` beside it."""
    from ..data import write_json_atomic, write_text_atomic
    from ..history import COMPARE_LAST, collect, history_dict, mark_changes
    from ..report.history import render_history_html

    if not runs_dir.is_dir():
        raise UsageError(f"{runs_dir} is not a folder.", "pass the folder that holds your run directories "
                                                        "(e.g. reports/)")
    found = collect(runs_dir)
    if not found.run_count:
        raise UsageError(f"no run directory (with a summary.json) under {runs_dir}.",
                         "pass the folder your runs were written to (loadkit run --out, default reports/)")
    found = mark_changes(found, compare_last=compare_last if compare_last is not None else COMPARE_LAST)
    path = out or runs_dir / "history.html"
    _make_parent(path)
    write_text_atomic(path, render_history_html(found, path))
    write_json_atomic(path.with_name("history.json"), history_dict(found, path.parent))
    return HistoryResult(history=found, out=path)


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {path.parent} ({exc.strerror}).",
                          "pass --out with a file in a writable folder") from None


def demo_site(config: DemoConfig, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve the demo storefront in the foreground until interrupted; ``announce`` hears its URL."""
    from ..demo.server import serve

    try:
        serve(config, host, port, announce)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}).",
                         "pick another --port, or stop what uses it") from None
