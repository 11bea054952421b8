"""Rendering a run comparison: ``compare.md`` (pull requests, CI summaries) and ``compare.html``."""

from __future__ import annotations

from markupsafe import Markup

from ..compare import Change, Comparison
from ..units import format_metric
from .html import _ENV, _css, content_security_policy
from .text import md_text

_MARKS = {"regression": "❌ regression", "improvement": "✅ improvement", "no change": "no change",
          "uncertain": "≈ uncertain (within noise)", "not compared": "not compared"}


def _value(change: Change, value: float | None) -> str:
    if value is None:
        return "n/a"
    if change.metric == "capacity":
        return f"{value:.3g}/s"
    if change.metric == "requests":
        return f"{value:.0f}"
    return format_metric(change.metric, value)


def describe_change(change: Change) -> str:
    """``+85% (95% interval +70% to +101%)`` or ``+2.10 points``: the change in words."""
    if change.base is None or change.new is None:
        return ""
    if change.metric == "error_rate":
        diff = (change.new - change.base) * 100
        text = f"{diff:+.2f} points"
        if change.low is not None and change.high is not None:
            text += f" (95% interval {change.low * 100:+.2f} to {change.high * 100:+.2f})"
        return text
    rel = change.relative
    if rel is None:
        return ""
    text = f"{rel * 100:+.0f}%"
    if change.metric == "capacity":
        return text + _bracket_range(change)
    if change.low is not None and change.high is not None:
        text += f" (95% interval {(change.low - 1) * 100:+.0f}% to {(change.high - 1) * 100:+.0f}%)"
    return text


def _bracket_range(change: Change) -> str:
    """Two searches' capacity change: the range their brackets allow (planned runs' capacity has none)."""
    low, high = change.low, change.high
    if low is not None and high is not None and low == high:
        return ""  # a planned run's capacity: one figure each, no range
    if low is not None and high is not None:
        return f" (the brackets allow {(low - 1) * 100:+.0f}% to {(high - 1) * 100:+.0f}%)"
    if high is not None:
        return f" (the brackets allow up to {(high - 1) * 100:+.0f}%)"
    if low is not None:
        return f" (the brackets allow {(low - 1) * 100:+.0f}% or more)"
    return ""


def headline(comparison: Comparison) -> str:
    """One sentence: regression or not, and how many figures moved."""
    regressions = comparison.regressions
    if regressions:
        worst = ", ".join(f"{c.metric} of {c.endpoint}" for c in regressions[:3])
        more = f" and {len(regressions) - 3} more" if len(regressions) > 3 else ""
        return f"Regression: {worst}{more} got worse beyond the runs' noise."
    if comparison.improvements:
        return "No regression; some figures improved beyond the runs' noise."
    if all(c.decision == "not compared" for c in comparison.changes):
        return "Not compared: neither run measured enough of any figure to compare it."
    return "No regression: every difference is within the runs' noise."


def counting_rule(comparison: Comparison) -> str:
    """When a change counts, as the comparison decided it: the 95% intervals of two planned runs, the
    brackets of two capacity searches (no resampling, no planned peak)."""
    if comparison.searches:
        return (f"The capacity change counts when even the range the two searches' brackets allow clears "
                f"{comparison.min_change:.0%}; response times and error rates are not compared.")
    return (f"A change counts when its 95% interval (from resampling each run's seconds) clears "
            f"{comparison.min_change:.0%} for response times and capacity, or "
            f"{comparison.min_error_change * 100:.1f} percentage points for error rates. Figures cover each run "
            f"up to its planned peak.")


def render_comparison_markdown(comparison: Comparison) -> str:
    """The comparison as Markdown."""
    lines = [f"## loadkit compare: {md_text(comparison.base_name)} → {md_text(comparison.new_name)}", "",
             md_text(headline(comparison)), "",
             f"Verdicts: {md_text(comparison.base_verdict)} → {md_text(comparison.new_verdict)}. "
             f"{md_text(counting_rule(comparison))}", ""]
    lines += [f"- {md_text(n)}" for n in comparison.notes] + ([""] if comparison.notes else [])
    lines += ["| endpoint | metric | base | new | change | decision |", "| --- | --- | --- | --- | --- | --- |"]
    for c in comparison.changes:
        mark = f"**{_MARKS[c.decision]}**" if c.decision == "regression" else _MARKS[c.decision]
        lines.append(f"| {md_text(c.endpoint)} | {c.metric} | {_value(c, c.base)} | {_value(c, c.new)} | "
                     f"{describe_change(c)} | {mark} |")
    return "\n".join(lines) + "\n"


def render_comparison_html(comparison: Comparison) -> str:
    """The comparison as one self-contained HTML file (same stylesheet and policy as report.html)."""
    css = _css()
    csp = content_security_policy(css)
    template = _ENV.get_template("compare.html.j2")
    return template.render(c=comparison, css=Markup(css), csp=csp, headline=headline(comparison),  # noqa: S704
                           rule=counting_rule(comparison), value=_value, describe=describe_change, marks=_MARKS)


__all__ = ["counting_rule", "describe_change", "headline", "render_comparison_html", "render_comparison_markdown"]
