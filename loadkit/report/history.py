"""Rendering a run history: ``history.html``, one self-contained page (same stylesheet and policy as the
reports: no script, no network, readable anywhere), charts drawn as inline SVG."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

from markupsafe import Markup

from ..history import History, RunEntry, ScenarioHistory
from ..units import format_ms, format_percent
from .charts import PALETTE
from .html import _ENV, _css, content_security_policy

VERDICT_COLOURS = {"survives": "#16a34a", "at-risk": "#d97706", "fails": "#dc2626", "inconclusive": "#64748b"}
CHART_POINTS = 200  # the newest runs drawn in a chart; the tables list every run


def trend_chart(title: str, runs: Sequence[RunEntry], values: Sequence[float | None], unit: str,
                width: int = 920, height: int = 200) -> str:
    """One figure over a scenario's runs (the newest ``CHART_POINTS``), each point coloured by its verdict."""
    runs, values = runs[-CHART_POINTS:], values[-CHART_POINTS:]
    shown = [v for v in values if v is not None and not math.isnan(v)]
    if not shown:
        return f'<p class="muted">{escape(title)}: no data.</p>'
    left, right, top, bottom = 64, 12, 26, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max(shown) * 1.1 or 1.0
    n = len(values)

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / top_value)

    def fmt(v: float) -> str:
        return format_percent(v) if unit == "%" else format_ms(v) if unit == "ms" else f"{v:.3g}{unit}"

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for k in range(5):
        v = top_value * k / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e2e8f0"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="tick">{escape(fmt(v))}</text>')
    path = " ".join(f'{"M" if i == 0 or values[i - 1] is None else "L"}{x(i):.1f},{y(v):.1f}'
                    for i, v in enumerate(values) if v is not None)
    parts.append(f'<path d="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="1.5"/>')
    for i, (run, value) in enumerate(zip(runs, values, strict=True)):
        if value is None:
            continue
        v = value
        colour = VERDICT_COLOURS.get(run.verdict, "#64748b")
        mark = "regression" if run.change == "regression" else ""
        ring = ' stroke="#0f172a" stroke-width="2"' if mark else ""
        note = " (regression)" if mark else ""
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="{5 if mark else 3.5}" fill="{colour}"{ring}><title>'
                     f'{escape(run.started_at)} {escape(run.verdict)}: {escape(fmt(v))}{note}</title></circle>')
    step = max(1, math.ceil(n / 8))
    for i in range(0, n, step):
        parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" class="tick">'
                     f'{escape(runs[i].started_at[5:10])}</text>')
    parts.append(f'<text x="{left}" y="16" class="ctitle">{escape(title)}</text></svg>')
    return "".join(parts)


def _journey_names(runs: Sequence[RunEntry]) -> list[str]:
    """Every journey any run of the scenario reported, in first-seen order."""
    return list(dict.fromkeys(j.name for r in runs for j in r.journeys))


def _success(run: RunEntry, journey: str) -> float | None:
    return next((j.success_rate for j in run.journeys if j.name == journey), None)


def _search_charts(scenario: ScenarioHistory) -> list[Markup]:
    """A capacity search's trend: the capacity each run found (its last good level). Its response times and
    error rates span levels past the site's limit, chosen as each run went: no trend to read in them."""
    return [Markup(trend_chart(f"{scenario.name}: capacity found (last good level, visitors/s)",  # noqa: S704
                               scenario.runs, [r.capacity for r in scenario.runs], "/s"))]


def render_history_html(history: History, out_file: Path) -> str:
    """The history page; links to each run's report are relative to ``out_file``'s folder."""
    css = _css() + "\n" + "".join(f".v-{name}{{color:{colour};font-weight:600}}" for name, colour in
                                 VERDICT_COLOURS.items())
    csp = content_security_policy(css, images=True)
    out_dir = out_file.parent

    def link(run: RunEntry) -> str | None:
        return os.path.relpath(run.path / "report.html", out_dir) if run.has_report else None

    charts = {s.name: _search_charts(s) if all(r.search for r in s.runs) else
              [Markup(trend_chart(f"{s.name}: p95 response time (all requests)", s.runs,  # noqa: S704
                                  [r.p95_ms for r in s.runs], "ms")),
               Markup(trend_chart(f"{s.name}: capacity (visitors/s)", s.runs,  # noqa: S704
                                  [r.capacity for r in s.runs], "/s")),
               Markup(trend_chart(f"{s.name}: error rate", s.runs,  # noqa: S704
                                  [r.error_rate for r in s.runs], "%")),
               *(Markup(trend_chart(f"{s.name}: journey {name}: visits completed", s.runs,  # noqa: S704
                                    [_success(r, name) for r in s.runs], "%"))
                 for name in _journey_names(s.runs))]
              for s in history.scenarios}
    template = _ENV.get_template("history.html.j2")
    return template.render(h=history, css=Markup(css), csp=csp, charts=charts, link=link,  # noqa: S704
                           ms=format_ms, pct=format_percent, colours=VERDICT_COLOURS)


__all__ = ["render_history_html", "trend_chart"]
