"""``report.html``: one self-contained file (no network, a strict Content-Security-Policy).

Rendered with jinja2 and autoescaping from the view model; charts are inline SVG, so the verdict,
figures, tables and charts all read with JavaScript off and print well. The stylesheet is allowed by
its hash; nothing else may load or run.
"""

from __future__ import annotations

import base64
import hashlib
from importlib import resources

import jinja2
from markupsafe import Markup

from ..units import format_clock, format_duration, format_ms, format_percent
from .charts import PALETTE, Series, histogram_chart, line_chart
from .model import ReportModel
from .text import slo_value

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("loadkit.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(ms=format_ms, pct=format_percent, clock=format_clock, dur=format_duration)


def _css() -> str:
    return resources.files("loadkit.report").joinpath("templates/report.css").read_text(encoding="utf-8")


def _charts(model: ReportModel) -> list[Markup]:
    s, phases = model.series, model.phases
    unit = "users" if model.run.get("model") == "users" else "visitors/s"
    charts = [
        line_chart(f"Planned vs delivered ({unit}) and requests/s", [
            Series(f"planned {unit}", s["planned"], "#64748b", dashed=True),
            Series(f"delivered {unit}", s["started"], PALETTE[0]),
            Series("requests/s", s["rps"], PALETTE[2]),
        ], phases),
        line_chart("Response time (all requests)", [
            Series("p50", s["p50"], PALETTE[2]), Series("p95", s["p95"], PALETTE[0]),
            Series("p99", s["p99"], PALETTE[1]),
        ], phases, unit="ms"),
        line_chart("Error rate", [Series("failed requests", s["error_rate"], PALETTE[1])], phases, unit="%",
                   y_max=max([v for v in s["error_rate"] if v is not None] + [0.01])),
        line_chart("Failed requests per second: turned away politely vs breakdowns", [
            Series("shedding (429, 503 + Retry-After)", s["shedding"], PALETTE[3 % len(PALETTE)]),
            Series("collapse (5xx, timeouts, resets, refused)", s["collapse"], PALETTE[1]),
            Series("other (4xx, failed checks)", s["other"], "#64748b", dashed=True),
        ], phases, y_max=max(s["shedding"] + s["collapse"] + s["other"] + [1])),
    ]
    if model.endpoint_series:
        charts.append(line_chart("p95 response time per endpoint", [
            Series(name, values, PALETTE[i % len(PALETTE)])
            for i, (name, values) in enumerate(sorted(model.endpoint_series.items()))], phases, unit="ms"))
    charts.append(histogram_chart("Response time distribution (all requests)", model.latency_distribution))
    # Safe: every label inside the SVG was escaped when it was drawn.
    return [Markup(c) for c in charts]  # noqa: S704


def render_html(model: ReportModel) -> str:
    """The complete HTML document."""
    css = _css()
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    csp = (f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; base-uri 'none'; "
           "form-action 'none'")
    template = _ENV.get_template("report.html.j2")
    return template.render(m=model, css=Markup(css), csp=csp, charts=_charts(model),  # noqa: S704
                           slo_value=slo_value)
