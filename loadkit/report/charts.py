"""Charts as inline SVG, drawn at render time: they need no script, no network, and print well.

Every label is escaped here, because series names (endpoints) come from scenarios and targets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from ..units import format_clock

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#db2777",
           "#65a30d", "#7c3aed")
PHASE_FILL = ("#f1f5f9", "#ffffff")
PAUSE_FILL = "#fde68a"  # seconds in which the machine or the generator stalled loadkit (amber, see-through)
PAUSE_LABEL = "loadkit paused"
SVG_POINTS = 300  # the static charts (JavaScript off, print): longer series are downsampled
DISPLAY_POINTS = 720  # the interactive charts (an hour at 5 s per point); the data files keep every second


@dataclass(frozen=True)
class Series:
    """One line: a name, values per second (None = no data), a colour, dashed or not."""

    name: str
    values: Sequence[float | None]
    color: str
    dashed: bool = False


def _nice_max(value: float) -> float:
    if value <= 0 or math.isnan(value):
        return 1.0
    exp = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _nice_step(top: float, count: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that divides ``top`` into about ``count`` ticks."""
    raw = top / count
    exp = 10.0 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for step in (1, 2, 2.5, 5, 10):
        if raw <= step * exp:
            return step * exp
    return 10 * exp


_CLOCK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


def time_ticks(span_s: float, most: int = 10) -> list[float]:
    """Round clock ticks (every 10 s, 30 s, 1 min, ...) over ``[0, span_s]``, at most ``most`` + 1."""
    step = next((s for s in _CLOCK_STEPS if span_s / s <= most), 3600 * math.ceil(span_s / most / 3600))
    return [float(t) for t in range(0, int(span_s) + 1, int(step))]


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.3g}%"
    if unit == "ms" and value >= 1000:
        return f"{value / 1000:.3g} s"
    return f"{value:.4g}{' ' + unit if unit else ''}"


def stride_for(length: int, points: int) -> int:
    """Seconds per displayed point so that ``length`` seconds fit in ``points`` points."""
    return max(1, math.ceil(length / points))


def downsample(values: Sequence[float | None], stride: int) -> list[float | None]:
    """Keep the largest value of every ``stride`` seconds, so spikes survive downsampling."""
    if stride <= 1:
        return list(values)
    out: list[float | None] = []
    for i in range(0, len(values), stride):
        chunk = [v for v in values[i:i + stride] if v is not None]
        out.append(max(chunk) if chunk else None)
    return out


def line_chart(title: str, series: Sequence[Series], phases: Sequence[dict[str, object]], unit: str = "",
               width: int = 920, height: int = 230, y_max: float | None = None,
               marks: Sequence[tuple[int, int]] = ()) -> str:
    """An SVG line chart over the run's seconds with phase bands; returns markup.

    ``marks``: [start, end) seconds drawn as light bands (the seconds loadkit was paused), with a legend entry.
    """
    length = max((len(s.values) for s in series), default=0)
    stride = stride_for(length, SVG_POINTS)
    data = [(s, downsample(s.values, stride)) for s in series]
    left, right, top, bottom = 64, 12, 26, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    observed = [v for _, d in data for v in d if v is not None and not math.isnan(v)]
    top_value = _nice_max(y_max if y_max is not None else (max(observed) if observed else 1.0))
    y_step = _nice_step(top_value)
    top_value = y_step * math.ceil(top_value / y_step - 1e-9)
    span_s = max(1, length)

    def x(sec: float) -> float:
        return left + plot_w * sec / span_s

    def y(value: float) -> float:
        return top + plot_h * (1 - min(value, top_value) / top_value)

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{escape(title)}</title>']
    for i, phase in enumerate(phases):
        start, end = float(phase["start"]), float(phase["end"])  # type: ignore[arg-type]
        if start >= span_s:
            continue
        x0, x1 = x(start), x(min(end, span_s))
        parts.append(f'<rect x="{x0:.1f}" y="{top}" width="{max(0.0, x1 - x0):.1f}" height="{plot_h}" '
                     f'fill="{PHASE_FILL[i % 2]}"/>')
        if x1 - x0 > 8 + 6 * len(str(phase["phase"])):  # room for the label, or none
            parts.append(f'<text x="{x0 + 3:.1f}" y="{top + 11}" class="phase">{escape(str(phase["phase"]))}</text>')
    for start, end in marks:
        if start >= span_s:
            continue
        x0, x1 = x(start), x(min(end, span_s))
        parts.append(f'<rect class="pause" x="{x0:.1f}" y="{top}" width="{max(1.0, x1 - x0):.1f}" height="{plot_h}" '
                     f'fill="{PAUSE_FILL}" fill-opacity="0.6"><title>{PAUSE_LABEL} {format_clock(start)}'
                     f'-{format_clock(end)}</title></rect>')
    for i in range(int(round(top_value / y_step)) + 1):
        value = y_step * i
        yy = y(value)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e2e8f0"/>')
        parts.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" class="tick">'
                     f'{escape(_fmt(value, unit))}</text>')
    for sec in time_ticks(span_s):
        parts.append(f'<text x="{x(sec):.1f}" y="{top + plot_h + 16}" text-anchor="middle" class="tick">'
                     f'{format_clock(sec)}</text>')
    for s, values in data:
        path: list[str] = []
        pen_up = True
        for i, v in enumerate(values):
            if v is None or math.isnan(v):
                pen_up = True
                continue
            path.append(f'{"M" if pen_up else "L"}{x(i * stride + stride / 2):.1f},{y(v):.1f}')
            pen_up = False
        if path:
            dash = ' stroke-dasharray="6 4"' if s.dashed else ""
            parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{s.color}" stroke-width="1.8"{dash}>'
                         f'<title>{escape(s.name)}</title></path>')
    # The legend wraps onto more rows rather than running off the chart's right edge.
    items = [(s.name if len(s.name) <= 40 else s.name[:39] + "…", s.color) for s, _ in data]
    if marks:
        items.append((PAUSE_LABEL, PAUSE_FILL))
    lx, row, legend = left, 0, []
    for name, colour in items:
        item_w = 24 + 7 * len(name)
        if lx > left and lx + item_w > width - right:
            lx, row = left, row + 1
        ly = height + row * 16
        legend.append(f'<rect x="{lx}" y="{ly - 14}" width="10" height="10" fill="{colour}"/>'
                      f'<text x="{lx + 14}" y="{ly - 5}" class="legend">{escape(name)}</text>')
        lx += item_w
    parts += legend
    parts.append(f'<text x="{left}" y="16" class="ctitle">{escape(title)}</text></svg>')
    if row:
        parts[0] = parts[0].replace(f'viewBox="0 0 {width} {height}"', f'viewBox="0 0 {width} {height + 16 * row}"')
    return "".join(parts)


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1, 2 and 5 times powers of ten within [lo, hi] (only the powers of ten when there are many)."""
    ticks = [m * 10 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5) if lo <= m * 10 ** e <= hi]
    if len(ticks) > 10:
        ticks = [t for t in ticks if math.isclose(10 ** round(math.log10(t)), t)]
    return ticks


def histogram_chart(title: str, distribution: Sequence[tuple[float, int]], width: int = 920,
                    height: int = 200) -> str:
    """Latency distribution as bars over log-spaced bins; returns SVG markup."""
    if not distribution:
        return f'<p class="muted">{escape(title)}: no data.</p>'
    lo = max(0.01, min(ms for ms, _ in distribution))
    hi = max(ms for ms, _ in distribution)
    bins = 40
    ratio = (hi / lo) ** (1 / bins) if hi > lo else 1.01
    counts = [0] * bins
    for ms, c in distribution:
        k = min(bins - 1, int(math.log(max(ms, lo) / lo) / math.log(ratio))) if ratio > 1 else 0
        counts[k] += c
    left, top, bottom = 64, 26, 48
    plot_w, plot_h = width - left - 12, height - top - bottom
    peak = max(counts) or 1
    bar_w = plot_w / bins
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for k, c in enumerate(counts):
        h = plot_h * c / peak
        edge = lo * ratio ** k
        parts.append(f'<rect x="{left + k * bar_w:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 1:.1f}" '
                     f'height="{h:.1f}" fill="#2563eb"><title>{edge:.4g}-{edge * ratio:.4g} ms: {c}</title></rect>')
    # Round ticks (1, 2, 5 x a power of ten) at their place on the log scale.
    span = math.log(ratio) * bins if ratio > 1 else 1.0
    for tick in _log_ticks(lo, lo * ratio ** bins):
        xx = left + plot_w * math.log(tick / lo) / span
        parts.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" stroke="#94a3b8"/>'
                     f'<text x="{xx:.1f}" y="{top + plot_h + 16}" text-anchor="middle" class="tick">'
                     f'{escape(_fmt(tick, "ms"))}</text>')
    parts.append(f'<text x="{left - 6}" y="{top + 8}" text-anchor="end" class="tick">{peak}</text>')
    parts.append(f'<text x="{left - 6}" y="{top + plot_h + 4}" text-anchor="end" class="tick">0</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" class="legend">'
                 'response time (log scale)</text>')
    parts.append(f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" class="legend" '
                 f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">requests</text>')
    parts.append(f'<text x="{left}" y="16" class="ctitle">{escape(title)}</text></svg>')
    return "".join(parts)
