"""Inline SVG charts as pure functions: data in, markup out (no JavaScript, nothing fetched).

Every mark carries its data (``data-label``, ``data-value``) so a test — or a
screen reader's table view — can read what is drawn. Labels are escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d")
Fmt = Callable[[float], str]


def percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def number(value: float) -> str:
    return f"{value:,.4g}"


def usd(value: float) -> str:
    return f"${value:,.4f}"


def seconds(ms: float) -> str:
    return f"{ms / 1000:,.1f} s"


def line_chart(series: Mapping[str, Sequence[tuple[str, float | None]]], *, y_max: float | None = None,
               fmt: Fmt = number, width: int = 640, height: int = 240, title: str = "",
               x_labels: Sequence[str] | None = None) -> str:
    """One line per series over shared x labels; a None value (or a missing label) leaves a gap.

    ``x_labels`` fixes the x axis and its order; without it the axis is every
    label in order of first appearance. Points whose label is not on the axis
    are dropped. Values above ``y_max`` are drawn at the top (the title keeps the value).
    """
    xs: list[str] = list(x_labels) if x_labels is not None else []
    if x_labels is None:
        for points in series.values():
            xs.extend(x for x, _ in points if x not in xs)
    position = {x: i for i, x in enumerate(xs)}
    series = {name: sorted(((x, y) for x, y in points if x in position), key=lambda p: position[p[0]])
              for name, points in series.items()}
    values = [v for points in series.values() for _, v in points if v is not None]
    if not xs or not values:
        return _empty(width, height, title)
    top = y_max if y_max is not None else max(values) * 1.1 or 1.0
    left, right, pad_top, bottom = 56, 150, 12, 28
    plot_w, plot_h = width - left - right, height - pad_top - bottom
    step = plot_w / max(1, len(xs) - 1)

    def at(x: str, y: float) -> tuple[float, float]:
        return left + position[x] * step, pad_top + plot_h * (1 - min(y, top) / top)

    out = [_open(width, height, title), _y_axis(left, pad_top, plot_w, plot_h, top, fmt)]
    for i, x in enumerate(xs):
        if len(xs) <= 12 or i % max(1, len(xs) // 8) == 0:
            out.append(f'<text class="tick" x="{left + i * step:.1f}" y="{height - 8}" text-anchor="middle">'
                       f"{escape(x)}</text>")
    for n, (name, points) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        path, pen_down, previous = [], False, -2
        for x, y in points:
            index = position[x]
            if y is None or index != previous + 1:
                pen_down = False  # a None or a skipped label: the line breaks
            previous = index
            if y is None:
                continue
            px, py = at(x, y)
            path.append(f"{'L' if pen_down else 'M'}{px:.1f},{py:.1f}")
            pen_down = True
        out.append(f'<path class="series" d="{" ".join(path)}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in points:
            if y is not None:
                px, py = at(x, y)
                out.append(f'<circle class="point" cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}" '
                           f'data-series="{escape(name)}" data-label="{escape(x)}" data-value="{y}">'
                           f"<title>{escape(name)} {escape(x)}: {escape(fmt(y))}</title></circle>")
        out.append(f'<text class="legend" x="{width - right + 10}" y="{pad_top + 14 + n * 16}" '
                   f'style="fill:{color}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def bar_chart(bars: Sequence[tuple[str, float]], *, fmt: Fmt = number, width: int = 640, title: str = "",
              highlight: Callable[[str], bool] = lambda _label: False) -> str:
    """Horizontal bars, one per label, value written at the end of the bar."""
    if not bars:
        return _empty(width, 80, title)
    row, left, right = 24, 200, 90
    height = row * len(bars) + 12
    top = max(v for _, v in bars) or 1.0
    out = [_open(width, height, title)]
    for i, (label, value) in enumerate(bars):
        y = 6 + i * row
        w = (width - left - right) * max(0.0, value) / top
        color = PALETTE[1] if highlight(label) else PALETTE[0]
        shown = escape(fmt(value))
        out.append(f'<text class="label" x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
                   f'<rect class="bar" x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="{color}" '
                   f'data-label="{escape(label)}" data-value="{value}"><title>{escape(label)}: {shown}</title></rect>'
                   f'<text class="value" x="{left + w + 6:.1f}" y="{y + 15}">{shown}</text>')
    out.append("</svg>")
    return "".join(out)


def spread_chart(rows: Sequence[tuple[str, float, float, float, int]], *, fmt: Fmt = number, width: int = 640,
                 title: str = "") -> str:
    """A distribution summary per label: ``(label, p50, p95, max, n)``.

    A solid bar from 0 to the median, a light bar from the median to p95 and a
    whisker from p95 to the maximum, every figure written under them. The scale
    ends at the largest p95 x 1.25, so one long outlier does not flatten every
    other row: a whisker past the edge ends in an arrow. Negative figures are drawn at 0.
    """
    if not rows:
        return _empty(width, 80, title)
    row, left, right = 40, 140, 24
    height = row * len(rows) + 8
    plot_w = width - left - right
    top = max(p95 for _, _, p95, _, _ in rows) * 1.25 or max(high for _, _, _, high, _ in rows) or 1.0

    def x(value: float) -> float:
        return left + plot_w * min(max(0.0, value), top) / top

    out = [_open(width, height, title)]
    for i, (label, p50, p95, high, n) in enumerate(rows):
        y = 6 + i * row
        mid = y + 9
        text = f"median {fmt(p50)} · p95 {fmt(p95)} · max {fmt(high)} · {n:,} runs"
        end = (f'<path class="clip" d="M{x(high) - 6:.1f},{mid - 4} L{x(high):.1f},{mid} L{x(high) - 6:.1f},{mid + 4}" '
               f'fill="none" stroke="{PALETTE[0]}" stroke-width="1.5"/>' if high > top else
               f'<line x1="{x(high):.1f}" x2="{x(high):.1f}" y1="{mid - 5}" y2="{mid + 5}" stroke="{PALETTE[0]}" '
               'stroke-width="1.5"/>')
        out.append(
            f'<g class="spread" data-label="{escape(label)}" data-p50="{p50}" data-p95="{p95}" data-max="{high}" '
            f'data-n="{n}"><title>{escape(label)}: {escape(text)}</title>'
            f'<text class="label" x="{left - 8}" y="{mid + 4}" text-anchor="end">{escape(label)}</text>'
            f'<line class="whisker" x1="{x(p95):.1f}" x2="{x(high):.1f}" y1="{mid}" y2="{mid}" '
            f'stroke="{PALETTE[0]}" stroke-width="1.5"/>{end}'
            f'<rect class="bar p95" x="{x(p50):.1f}" y="{y + 2}" width="{max(0.0, x(p95) - x(p50)):.1f}" '
            f'height="14" fill="#93c5fd" data-value="{p95}"/>'
            f'<rect class="bar p50" x="{left}" y="{y + 2}" width="{x(p50) - left:.1f}" height="14" '
            f'fill="{PALETTE[0]}" data-value="{p50}"/>'
            f'<text class="value" x="{left}" y="{y + 30}">{escape(text)}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _open(width: int, height: int, title: str) -> str:
    return (f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
            f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">')


def _y_axis(left: int, top: int, width: float, height: float, y_max: float, fmt: Fmt) -> str:
    out = []
    for i in range(5):
        value = y_max * i / 4
        y = top + height * (1 - i / 4)
        out.append(f'<line class="grid" x1="{left}" x2="{left + width:.1f}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>')
    return "".join(out)


def _empty(width: int, height: int, title: str) -> str:
    return (_open(width, height, title) + f'<text class="empty" x="{width / 2}" y="{height / 2}" '
            'text-anchor="middle">no data in this window</text></svg>')
