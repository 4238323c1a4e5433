"""Server-side SVG charts (no JavaScript): the geometry of stacked daily bars and horizontal bars.

These functions only measure; ``templates/_charts.html`` draws the ``<svg>`` (its text is
escaped by Jinja2 like every other value). Colours are presentation attributes, so the
console's Content-Security-Policy needs no inline styles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

ANSWERED, DECLINED, BAD = "#2e7d32", "#c62828", "#ef6c00"


@dataclass(frozen=True)
class DayBar:
    """One day's pair of stacked bars (answered below declined) and its axis label."""

    day: str
    answered: int
    declined: int
    x: float
    width: float
    answered_y: float
    answered_height: float
    declined_y: float
    declined_height: float
    label: str | None  # None: no label under this bar (every other one on long ranges)


@dataclass(frozen=True)
class StackedDays:
    """A stacked daily bar chart, measured (see :func:`stacked_days`)."""

    title: str
    width: int
    height: int
    peak: int
    peak_y: int
    axis_x1: int
    axis_x2: int
    axis_y: int
    label_y: int
    bars: list[DayBar] = field(default_factory=list)
    answered_colour: str = ANSWERED
    declined_colour: str = DECLINED


@dataclass(frozen=True)
class Bar:
    """One labelled horizontal bar."""

    label: str
    short_label: str
    value: float
    y: int
    length: float


@dataclass(frozen=True)
class HBars:
    """A horizontal bar chart, measured (see :func:`hbars`)."""

    title: str
    width: int
    height: int
    colour: str
    label_width: int
    bar_height: int
    bars: list[Bar] = field(default_factory=list)


def stacked_days(rows: Sequence[Sequence], title: str, width: int = 640, height: int = 220) -> StackedDays:
    """Bars per day: answered (green) below declined (red).

    Args:
        rows: ``[day, answered, declined]`` per day.
        title: accessible title.
        width / height: size in pixels.

    Returns:
        The chart's geometry, for the ``stacked_days`` macro of ``_charts.html``.
    """
    left, bottom, top = 36, 28, 12
    plot_h = height - bottom - top
    peak = max([a + d for _, a, d in rows] + [1])
    step = (width - left - 8) / max(len(rows), 1)
    bars = []
    for i, (day, answered, declined) in enumerate(rows):
        x = left + i * step + step * 0.15
        h_a = plot_h * answered / peak
        h_d = plot_h * declined / peak
        y_a = height - bottom - h_a
        label = str(day)[5:] if len(rows) <= 16 or i % 2 == 0 else None
        bars.append(DayBar(str(day), answered, declined, x, step * 0.7, y_a, h_a, y_a - h_d, h_d, label))
    return StackedDays(title, width, height, peak, top + 8, left, width - 4, height - bottom, height - 10, bars)


def hbars(rows: Sequence[tuple[str, float]], title: str, colour: str = BAD, width: int = 640) -> HBars:
    """Horizontal bars with labels, largest first as given.

    Args:
        rows: ``(label, value)`` pairs.
        title: accessible title.
        colour: bar colour.
        width: size in pixels.

    Returns:
        The chart's geometry, for the ``hbars`` macro of ``_charts.html``.
    """
    bar_h, gap, label_w = 16, 6, 300
    height = max(len(rows), 1) * (bar_h + gap) + 8
    peak = max([v for _, v in rows] + [1])
    bars = [Bar(label, label if len(label) <= 48 else label[:47] + "…", value, 4 + i * (bar_h + gap),
                (width - label_w - 40) * value / peak)
            for i, (label, value) in enumerate(rows)]
    return HBars(title, width, height, colour, label_w, bar_h, bars)
