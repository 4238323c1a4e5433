"""Server-side SVG charts (no JavaScript): stacked daily bars and horizontal bars.

All text placed in the SVG is XML-escaped; colours are presentation attributes, so the
console's Content-Security-Policy needs no inline styles.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

ANSWERED, DECLINED, BAD = "#2e7d32", "#c62828", "#ef6c00"


def stacked_days(rows: Sequence[Sequence], title: str, width: int = 640, height: int = 220) -> str:
    """Bars per day: answered (green) below declined (red).

    Args:
        rows: ``[day, answered, declined]`` per day.
        title: accessible title.
        width / height: size in pixels.

    Returns:
        An ``<svg>`` element as text.
    """
    left, bottom, top = 36, 28, 12
    plot_h = height - bottom - top
    peak = max([a + d for _, a, d in rows] + [1])
    step = (width - left - 8) / max(len(rows), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" class="chart"><title>{escape(title)}</title>',
             f'<text x="2" y="{top + 8}" font-size="10" fill="#555">{peak}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 4}" y2="{height - bottom}" stroke="#999"/>']
    for i, (day, answered, declined) in enumerate(rows):
        x = left + i * step + step * 0.15
        w = step * 0.7
        h_a = plot_h * answered / peak
        h_d = plot_h * declined / peak
        y_a = height - bottom - h_a
        parts.append(f'<rect x="{x:.1f}" y="{y_a:.1f}" width="{w:.1f}" height="{h_a:.1f}" fill="{ANSWERED}">'
                     f'<title>{escape(str(day))}: {answered} answered</title></rect>')
        parts.append(f'<rect x="{x:.1f}" y="{y_a - h_d:.1f}" width="{w:.1f}" height="{h_d:.1f}" fill="{DECLINED}">'
                     f'<title>{escape(str(day))}: {declined} declined</title></rect>')
        if len(rows) <= 16 or i % 2 == 0:
            parts.append(f'<text x="{x + w / 2:.1f}" y="{height - 10}" font-size="9" text-anchor="middle" '
                         f'fill="#333">{escape(str(day)[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def hbars(rows: Sequence[tuple[str, float]], title: str, colour: str = BAD, width: int = 640) -> str:
    """Horizontal bars with labels, largest first as given.

    Args:
        rows: ``(label, value)`` pairs.
        title: accessible title.
        colour: bar colour.
        width: size in pixels.

    Returns:
        An ``<svg>`` element as text.
    """
    bar_h, gap, label_w = 16, 6, 300
    height = max(len(rows), 1) * (bar_h + gap) + 8
    peak = max([v for _, v in rows] + [1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" class="chart"><title>{escape(title)}</title>']
    for i, (label, value) in enumerate(rows):
        y = 4 + i * (bar_h + gap)
        w = (width - label_w - 40) * value / peak
        short = label if len(label) <= 48 else label[:47] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" font-size="11" text-anchor="end" fill="#333">'
                     f'{escape(short)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
                     f'<title>{escape(label)}: {value}</title></rect>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 12}" font-size="11" fill="#333">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)
