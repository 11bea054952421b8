"""``report.html``: one self-contained file (no network, a strict Content-Security-Policy).

Rendered with jinja2 and autoescaping from the view model. Charts are drawn twice: as inline SVG, so
the verdict, figures, tables and charts all read with JavaScript off and print well, and, from a JSON
data block, by the vendored uPlot (zoom, values on hover). The stylesheet and the two scripts are
allowed by their hashes; nothing else may load or run.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from collections.abc import Sequence
from typing import Any

import jinja2
from markupsafe import Markup

from ..analysis import PAUSE_MS
from ..units import format_clock, format_duration, format_metric, format_ms, format_percent
from .charts import DISPLAY_POINTS, PALETTE, Series, downsample, histogram_chart, line_chart, stride_for
from .model import ReportModel
from ..verdict import kind_words, metric_words
from .text import slo_value

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("loadkit.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(ms=format_ms, pct=format_percent, clock=format_clock, dur=format_duration)
_ENV.globals.update(metric_value=format_metric)


def _resource(name: str) -> str:
    return resources.files("loadkit.report").joinpath(name).read_text(encoding="utf-8")


def _css() -> str:
    return _resource("templates/report.css")


def vendored_files() -> dict[str, str]:
    """The vendored uPlot files (name -> text), as shipped in ``loadkit/report/vendor``."""
    return {name: _resource(f"vendor/{name}") for name in ("uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE")}


@dataclass(frozen=True)
class Chart:
    """One chart over time: drawn as SVG (JavaScript off, print) and, from its data, by uPlot."""

    id: str
    title: str
    series: tuple[Series, ...]
    unit: str = ""
    y_max: float | None = None
    marks: tuple[tuple[int, int], ...] = ()  # seconds loadkit was paused, drawn as light bands


def _line_charts(model: ReportModel) -> list[Chart]:
    s = model.series
    unit = "users" if model.run.get("model") == "users" else "visitors/s"
    charts = [
        Chart("chart-traffic", f"Planned vs delivered ({unit}) and requests done per second", (
            Series(f"planned {unit}", s["planned"], "#64748b", dashed=True),
            Series(f"delivered {unit}", s["started"], PALETTE[0]),
            Series("completed requests/s", s["completed"], PALETTE[2]),
            Series("failed requests/s (when they failed)", s["failed_done"], PALETTE[1])),
            marks=tuple(model.pauses())),
        Chart("chart-latency", "Response time (all requests)", (
            Series("p50", s["p50"], PALETTE[2]), Series("p95", s["p95"], PALETTE[0]),
            Series("p99", s["p99"], PALETTE[1])), unit="ms"),
        Chart("chart-errors", "Error rate", (Series("failed requests", s["error_rate"], PALETTE[1]),), unit="%",
              y_max=max([v for v in s["error_rate"] if v is not None] + [0.01])),
        Chart("chart-error-kinds", "Failed requests per second: turned away politely vs breakdowns", (
            Series("shedding (429, 503 + Retry-After)", s["shedding"], PALETTE[3]),
            Series("collapse (5xx, timeouts, resets, refused)", s["collapse"], PALETTE[1]),
            Series("other (4xx, failed checks)", s["other"], "#64748b", dashed=True)),
            y_max=max(s["shedding"] + s["collapse"] + s["other"] + [1])),
    ]
    if model.endpoint_series:
        charts.append(Chart("chart-endpoints", "p95 response time per endpoint", tuple(
            Series(name, values, PALETTE[i % len(PALETTE)])
            for i, (name, values) in enumerate(sorted(model.endpoint_series.items()))), unit="ms"))
    for i, o in enumerate(model.observed):  # the site's own metrics, under the load curves, on the same clock
        if not o["samples"]:
            continue  # an empty chart would read as a flat metric; the site-metrics paragraph says why it has none
        charts.append(Chart(f"chart-site-{i}", f"The site's {o['name']} (from Prometheus)",
                            (Series(str(o["name"]), o["values"], PALETTE[(i + 3) % len(PALETTE)]),)))
    return charts


def _svg(chart: Chart, phases: tuple[dict[str, Any], ...]) -> Markup:
    # Safe: every label inside the SVG was escaped when it was drawn.
    return Markup(line_chart(chart.title, chart.series, phases, unit=chart.unit, y_max=chart.y_max,  # noqa: S704
                             marks=chart.marks))


def chart_data(model: ReportModel, charts: list[Chart]) -> dict[str, Any]:
    """What the interactive charts draw: a shared time axis and each chart's downsampled series."""
    length = len(model.series.get("t", []))
    stride = stride_for(length, DISPLAY_POINTS)
    t = [min(length, i + stride / 2) for i in range(0, length, stride)]

    def clean(values: list[float | None]) -> list[float | None]:
        return [None if v is None or v != v else round(float(v), 4) for v in values]

    return {
        "t": t,
        "phases": [{"phase": str(p["phase"]), "start": p["start"], "end": p["end"]} for p in model.phases],
        "charts": [{"id": c.id, "title": c.title, "unit": c.unit, "marks": [list(m) for m in c.marks],
                    "series": [{"name": se.name, "color": se.color, "dashed": se.dashed,
                                "values": clean(downsample(list(se.values), stride))} for se in c.series]}
                   for c in charts],
    }


_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_for_html(data: Any) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` block: no ``</script>``, no HTML
    specials, no line separators JavaScript would choke on."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    for char, escaped in _JSON_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(css: str, scripts: Sequence[str] = (), images: bool = False) -> str:
    """A report page's Content-Security-Policy: only this exact stylesheet and these exact scripts (by their
    SHA-256) may apply or run, images only from ``data:`` URLs when ``images``; nothing loads from anywhere."""
    rules = ["default-src 'none'", f"style-src {_hash(css)}"]
    if scripts:
        rules.append("script-src " + " ".join(_hash(x) for x in scripts))
    if images:
        rules.append("img-src data:")
    return "; ".join([*rules, "base-uri 'none'", "form-action 'none'"])


def render_html(model: ReportModel) -> str:
    """The complete HTML document."""
    vendor = vendored_files()
    css = _css() + "\n" + vendor["uPlot.min.css"]
    scripts = [vendor["uPlot.iife.min.js"], _resource("templates/report.js")]
    csp = content_security_policy(css, scripts, images=True)
    charts = _line_charts(model)
    template = _ENV.get_template("report.html.j2")
    # Markup only for our own code and for text escaped already (each chart label when it was drawn)
    own_css, own_scripts = Markup(css), [Markup(x) for x in scripts]  # noqa: S704
    data = Markup(json_for_html(chart_data(model, charts)))  # noqa: S704 - json_for_html escapes for a <script>
    distribution = Markup(histogram_chart("Response time distribution (all requests)",  # noqa: S704
                                          model.latency_distribution))
    return template.render(
        m=model, css=own_css, csp=csp, slo_value=slo_value, metric_words=metric_words, kind_words=kind_words,
        pause_ms=PAUSE_MS, charts=[(c.id, _svg(c, model.phases)) for c in charts], distribution=distribution,
        data=data, scripts=own_scripts)
