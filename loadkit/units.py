"""Strict parsing of durations, rates, percentages and sizes as written in scenario files.

Every parser accepts the natural YAML forms (``"45s"``, ``"1m30s"``, ``"120/s"``, ``"0.4%"``) and numbers
where a bare number is unambiguous, and raises ``ValueError`` with a full sentence otherwise.
"""

from __future__ import annotations

import math
import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
               "h": 3600.0, "hour": 3600.0}
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def parse_duration(value: object) -> float:
    """Parse ``"250ms"``, ``"45s"``, ``"2m"``, ``"1h30m"`` or ``"1m30s"`` into seconds.

    A bare number is taken as seconds. Negative or empty durations are rejected.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '45s' or '2m', got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like '45s' or '2m', got {value!r}")
    text = value.strip().lower().replace(" ", "")
    if not text:
        raise ValueError("expected a duration like '45s' or '2m', got an empty string")
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"expected a duration like '45s', '2m' or '1m30s', got {value!r}")
    return total


def parse_rate(value: object) -> float:
    """Parse ``"120/s"``, ``"600/m"`` or ``"3600/h"`` into events per second.

    A bare number is taken as per second.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a rate like '120/s', got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a rate cannot be negative, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a rate like '120/s', got {value!r}")
    match = _RATE.match(value.lower())
    if not match:
        raise ValueError(f"expected a rate like '120/s' or '600/m', got {value!r}")
    return float(match.group(1)) / _RATE_UNITS[match.group(2)]


def parse_percent(value: object) -> float:
    """Parse ``"1%"`` or ``"0.4%"`` into a fraction (0.01, 0.004).

    A bare number must be a fraction between 0 and 1 (``0.01`` is 1%).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a percentage like '1%', got {value!r}")
    if isinstance(value, int | float):
        if not 0 <= value <= 1:
            raise ValueError(f"a bare number is a fraction from 0 to 1; write '{value}%' for percent")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a percentage like '1%', got {value!r}")
    match = _PERCENT.match(value)
    if not match:
        raise ValueError(f"expected a percentage like '1%' or '0.4%', got {value!r}")
    fraction = float(match.group(1)) / 100.0
    if fraction > 1:
        raise ValueError(f"a percentage cannot exceed 100%, got {value!r}")
    return fraction


def format_duration(seconds: float) -> str:
    """Render seconds for people: ``850 ms``, ``4.2 s``, ``2m 05s``, ``1h 02m``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_ms(ms: float | None) -> str:
    """Render a latency in milliseconds: ``12 ms``, ``1.25 s``; ``n/a`` when unknown."""
    if ms is None:
        return "n/a"
    if ms < 1000:
        return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"
    return f"{ms / 1000:.2f} s"


def format_clock(seconds: float) -> str:
    """Render an offset into the run as ``m:ss`` (``1:05``)."""
    total = int(max(0.0, seconds))
    return f"{total // 60}:{total % 60:02d}"


def format_percent(fraction: float | None) -> str:
    """Render a fraction as a percentage, the same way for a limit and an observed share wherever it shows.

    The rule: at most two decimals, trailing zeros dropped (``0%``, ``1%``, ``1.2%``, ``12.35%``); a value that
    is not zero never reads ``0%`` and one short of 100% never reads ``100%``: such a value keeps the fewest
    further decimals that tell it apart (``0.004%``, ``99.999%``). ``n/a`` when unknown.
    """
    if fraction is None:
        return "n/a"
    pct = fraction * 100
    if not math.isfinite(pct):
        return f"{pct}%"
    size, decimals = abs(pct), 2
    while size != 0 and decimals < 12 and (round(size, decimals) == 0 or
                                           (size != 100 and round(size, decimals) == 100)):
        decimals += 1
    text = f"{pct:.{decimals}f}".rstrip("0").rstrip(".")
    return "0%" if text in ("0", "-0") else f"{text}%"


SHARE_METRICS = frozenset({"error_rate", "success_rate"})  # SLO metrics that are shares, not times


def format_metric(metric: str, value: float | None) -> str:
    """A value of an SLO metric in its unit: the error rate and a journey's success rate as percentages
    (``1.20%``), every other metric (p50, p95, p99, p95_duration...) as a time (``812 ms``)."""
    return format_percent(value) if metric in SHARE_METRICS else format_ms(value)
