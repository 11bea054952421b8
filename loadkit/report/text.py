"""Small text helpers shared by the renderers: formatting SLO values, escaping for XML and Markdown."""

from __future__ import annotations

import re

from ..units import format_metric
from .model import SloRow

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|#<>&])")


def slo_value(row: SloRow, value: float | None) -> str:
    """An SLO value in its unit: ``812 ms`` or ``1.20%``."""
    return format_metric(row.metric, value)


def slo_outcome(row: SloRow) -> str:
    """``p95 812 ms > 500 ms during peak`` (or ``<=`` when it held)."""
    scope = row.scope or ("up to the planned peak" if row.phase == "run" else f"during {row.phase}")
    where = f" of {row.endpoint}" if row.endpoint else f" of journey {row.journey}" if row.journey else ""
    op = "<=" if row.passed else ">"
    if row.metric == "success_rate":  # a share that must stay above its limit
        op = ">=" if row.passed else "<"
    return f"{row.metric}{where} {slo_value(row, row.observed)} {op} {slo_value(row, row.threshold)} {scope}"


def xml_text(text: object) -> str:
    """Text that is valid inside XML 1.0 (characters XML forbids are dropped)."""
    return _XML_INVALID.sub("", str(text))


def md_text(text: object) -> str:
    """Text that stays plain inside Markdown (and a Markdown table cell)."""
    cleaned = str(text).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;", "&": "&amp;"}.get(m.group(1), "\\" + m.group(1)),
                           cleaned)
