"""Charts as SVG drawn on the server: no script, no library, no CDN. The CSP forbids `style=`, so
everything is drawn with SVG presentation attributes (fill=, stroke=, font-size=); console.css sizes
the picture. Every chart carries its title, each bar its value as text (and a <title> tooltip), and
the page shows the same figures as a table beside it.

A point is (label, value, shown): the value sets the bar's length (None: no bar), `shown` is the text
written at its end (the value as the page formats it, e.g. "2.75" or "—").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

Point = tuple[str, float | int | None, str]

INK = "#1f2329"
MUTED = "#8a919f"
GRID = "#e3e5e8"
BAR = "#b71c1c"
WIDTH = 640


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value - 1e-9:
            return step * power
    return 10 * power  # pragma: no cover  (10 × power always reaches)


def _tick(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


def _short(label: str, most: int) -> str:
    return label if len(label) <= most else label[: most - 1] + "…"


def _open(chart_id: str, title: str, height: int) -> list[str]:
    return [
        f'<svg class="chart-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-labelledby="{escape(chart_id)}-t" '
        f'font-size="12" fill="{INK}">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
    ]


def _value(v: float | int | None) -> float:
    return float(v) if isinstance(v, int | float) and v > 0 else 0.0


def hbars(chart_id: str, title: str, points: Sequence[Point]) -> Markup:
    """Horizontal bars, one row per point, labels on the left (long Chinese names fit)."""
    if not points:
        return Markup("")
    row, top, label_w = 28, 6, 170
    bar_x, bar_max = label_w + 6, WIDTH - label_w - 6 - 90
    top_value = max((_value(v) for _, v, _ in points), default=0) or 1
    height = top + row * len(points) + 6
    out = _open(chart_id, title, height)
    for i, (label, value, shown) in enumerate(points):
        y = top + i * row
        width = _value(value) / top_value * bar_max
        if _value(value) and width < 1:
            width = 1
        out.append(
            f"<g><title>{escape(label)}: {escape(shown)}</title>"
            f'<text x="{label_w}" y="{y + 18}" text-anchor="end">{escape(_short(label, 14))}</text>'
            f'<rect x="{bar_x}" y="{y + 5}" width="{width:.1f}" height="18" rx="2" fill="{BAR}"/>'
            f'<text x="{bar_x + width + 6:.1f}" y="{y + 18}" fill="{MUTED}">{escape(shown)}</text></g>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def columns(chart_id: str, title: str, points: Sequence[Point]) -> Markup:
    """Vertical columns of a series (months), a scale on the left, each column's value above it."""
    if not points:
        return Markup("")
    height, top, bottom, left, right = 240, 20, 26, 46, 8
    plot_h, plot_w = height - top - bottom, WIDTH - left - right
    scale = nice_ceiling(max((_value(v) for _, v, _ in points), default=0))
    out = _open(chart_id, title, height)
    for i in range(5):
        tick = scale * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10" fill="{MUTED}">'
            f"{_tick(tick)}</text>"
        )
    slot = plot_w / len(points)
    bar_w = max(2.0, slot * 0.6)
    for i, (label, value, shown) in enumerate(points):
        h = _value(value) / scale * plot_h
        if _value(value) and h < 1:
            h = 1
        x = left + i * slot + (slot - bar_w) / 2
        centre = left + i * slot + slot / 2
        out.append(
            f"<g><title>{escape(label)}: {escape(shown)}</title>"
            f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" rx="2" '
            f'fill="{BAR}"/>'
            f'<text x="{centre:.1f}" y="{top + plot_h - h - 4:.1f}" text-anchor="middle" font-size="10">'
            f"{escape(shown)}</text>"
            f'<text x="{centre:.1f}" y="{height - 8}" text-anchor="middle" font-size="10" fill="{MUTED}">'
            f"{escape(label)}</text></g>"
        )
    out.append("</svg>")
    return Markup("".join(out))
