"""Charts as inline SVG strings: numbers in, markup out. Pure; every text is escaped.

Drawn here rather than with a plotting library so the report needs nothing new installed and
the page stays one self-contained file.
"""

from __future__ import annotations

import math
from html import escape

FONT = "font-family:inherit;font-size:12px"
INK, MUTED, GRID = "#1f2933", "#616e7c", "#e4e7eb"


def _attrs(values: dict) -> str:
    return " ".join(f'{k.rstrip("_").replace("_", "-")}="{escape(str(v))}"' for k, v in values.items())


def _el(tag: str, body: str = "", **attrs) -> str:
    return f"<{tag} {_attrs(attrs)}>{body}</{tag}>"


def _text(x: float, y: float, text: str, **attrs) -> str:
    return _el("text", escape(str(text)), x=f"{x:.1f}", y=f"{y:.1f}", **attrs)


def _svg(width: float, height: float, title: str, body: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" style="{FONT}"><title>{escape(title)}</title>{body}</svg>')


def nice_step(largest: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks up to ``largest``."""
    if largest <= 0:
        return 1.0
    raw = largest / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _legend(items, x: float, y: float) -> str:
    parts = []
    for name, color in items:
        parts.append(_el("rect", x=f"{x:.1f}", y=f"{y - 10:.1f}", width=12, height=12, rx=2, fill=color))
        parts.append(_text(x + 17, y, name, fill=INK))
        x += 30 + _text_width(name)
    return "".join(parts)


def stacked_bars(labels, series, title: str, width: int = 760, row: int = 24, label_width: int = 170) -> str:
    """Horizontal bars, one per label, stacked by series, with each bar's total at its end.

    Args:
        labels: one per bar, top to bottom.
        series: (name, values (one per label), colour) per stack segment, left to right.
        title: the chart's accessible title.
    """
    totals = [sum(values[i] for _, values, _ in series) for i in range(len(labels))]
    step = nice_step(max(totals, default=0))
    top = step * math.ceil(max(totals, default=0) / step) or 1
    plot_x, plot_w, plot_y = label_width, width - label_width - 56, 36
    scale = plot_w / top
    height = plot_y + row * len(labels) + 22
    body = [_legend([(name, color) for name, _, color in series], plot_x, 16)]
    body += _x_grid(plot_x, plot_y, row * len(labels), scale, step, top)
    for i, label in enumerate(labels):
        y = plot_y + i * row
        body.append(_text(plot_x - 8, y + row / 2 + 4, label, fill=INK, text_anchor="end"))
        body.append(_bar_segments(plot_x, y + 4, row - 8, scale, label, series, i))
        body.append(_text(plot_x + totals[i] * scale + 6, y + row / 2 + 4, f"{totals[i]:,}", fill=MUTED))
    return _svg(width, height, title, "".join(body))


def _x_grid(x0: float, y0: float, h: float, scale: float, step: float, top: float) -> list[str]:
    lines, value = [], 0.0
    while value <= top + 1e-9:
        x = x0 + value * scale
        lines.append(_el("line", x1=f"{x:.1f}", x2=f"{x:.1f}", y1=f"{y0:.1f}", y2=f"{y0 + h:.1f}", stroke=GRID))
        lines.append(_text(x, y0 + h + 15, f"{value:,.0f}", fill=MUTED, text_anchor="middle"))
        value += step
    return lines


def _bar_segments(x: float, y: float, h: float, scale: float, label: str, series, i: int) -> str:
    parts = []
    for name, values, color in series:
        w = values[i] * scale
        if values[i] <= 0:
            continue
        tip = _el("title", escape(f"{label} · {name}: {values[i]:,}"))
        parts.append(_el("rect", tip, x=f"{x:.1f}", y=f"{y:.1f}", width=f"{w:.1f}", height=f"{h:.1f}", fill=color))
        if w >= 26:
            parts.append(_text(x + w / 2, y + h / 2 + 4, f"{values[i]:,}", fill="#fff", text_anchor="middle"))
        x += w
    return "".join(parts)


def _blend(low: str, high: str, t: float) -> str:
    a = [int(low[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(high[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(u + (v - u) * t):02x}" for u, v in zip(a, b))


def heatmap(labels, matrix, title: str, cell: int = 32, label_width: int = 160) -> str:
    """A square matrix of counts as coloured cells: the diagonal in one hue, the rest in another.

    Each hue is scaled to its own largest value, so a rare pairing still shows beside a large
    diagonal.

    Args:
        labels: row and column names.
        matrix: ``matrix[i][j]`` counts (a nested sequence or a 2-D array).
        title: the chart's accessible title.
    """
    n = len(labels)
    values = [[int(matrix[i][j]) for j in range(n)] for i in range(n)]
    top_diag = max((values[i][i] for i in range(n)), default=0) or 1
    top_off = max((values[i][j] for i in range(n) for j in range(n) if i != j), default=0) or 1
    reach = [0.71 * _text_width(label) for label in labels]  # of a label turned 45°
    x0, y0 = label_width, max(reach, default=0) + 16
    body = []
    for j, label in enumerate(labels):
        cx = x0 + j * cell + cell / 2
        body.append(_text(cx, y0 - 6, label, fill=INK, transform=f"rotate(-45 {cx:.1f} {y0 - 6:.1f})"))
    for i, label in enumerate(labels):
        body.append(_text(x0 - 8, y0 + i * cell + cell / 2 + 4, label, fill=INK, text_anchor="end"))
        for j in range(n):
            body.append(_cell(x0 + j * cell, y0 + i * cell, cell, values[i][j], i == j,
                              values[i][j] / (top_diag if i == j else top_off), f"{labels[i]} & {labels[j]}"))
    right = max([x0 + n * cell] + [x0 + (j + 0.5) * cell + r for j, r in enumerate(reach)])
    return _svg(right + 12, y0 + n * cell + 10, title, "".join(body))


def _text_width(text: str) -> float:
    """About how wide ``text`` is at 12 px in a sans-serif font."""
    return 6.8 * len(text)


def _cell(x: float, y: float, size: float, value: int, diagonal: bool, share: float, name: str) -> str:
    t = math.sqrt(share) if value else 0.0
    fill = _blend("#f5f7fa", "#3e6f9e" if diagonal else "#d9622b", t)
    tip = _el("title", escape(f"{name}: {value:,} images"))
    rect = _el("rect", tip, x=f"{x + 1:.1f}", y=f"{y + 1:.1f}", width=size - 2, height=size - 2, rx=3, fill=fill)
    if not value:
        return rect
    ink = "#fff" if t > 0.6 else INK
    return rect + _text(x + size / 2, y + size / 2 + 4, f"{value:,}", fill=ink, text_anchor="middle",
                        style="font-size:11px;pointer-events:none")


def histograms(series, title: str, width: int = 760, height: int = 280) -> str:
    """Overlaid distributions of 8-bit intensities, each as its share of its own pixels.

    The y axis stops a little above the third-highest bin of any series, so one spike (a black
    border, a saturated corner) does not flatten everything else; clipped bins reach the top.

    Args:
        series: (name, 256 counts, colour) per distribution.
        title: the chart's accessible title.
    """
    shares = [[c / (sum(counts) or 1) for c in counts] for _, counts, _ in series]
    top = max((sorted(s)[-3] for s in shares), default=0) * 1.15 or 1.0
    plot_x, plot_y, plot_w, plot_h = 56, 36, width - 76, height - 76
    body = [_legend([(name, color) for name, _, color in series], plot_x, 16)]
    body += _y_grid_percent(plot_x, plot_y, plot_w, plot_h, top)
    for (name, _, color), share in zip(series, shares):
        body.append(_area(share, plot_x, plot_y, plot_w, plot_h, top, color))
    for level in range(0, 257, 32):
        x = plot_x + min(level, 255) / 255 * plot_w
        body.append(_text(x, plot_y + plot_h + 16, str(min(level, 255)), fill=MUTED, text_anchor="middle"))
    body.append(_text(plot_x + plot_w / 2, plot_y + plot_h + 34, "gray level (0 black … 255 white)",
                      fill=MUTED, text_anchor="middle"))
    return _svg(width, height, title, "".join(body))


def _y_grid_percent(x0: float, y0: float, w: float, h: float, top: float) -> list[str]:
    step, lines, value = nice_step(top * 100, 4) / 100, [], 0.0
    while value <= top + 1e-12:
        y = y0 + h - value / top * h
        lines.append(_el("line", x1=f"{x0:.1f}", x2=f"{x0 + w:.1f}", y1=f"{y:.1f}", y2=f"{y:.1f}", stroke=GRID))
        lines.append(_text(x0 - 6, y + 4, f"{value * 100:.2g}%", fill=MUTED, text_anchor="end"))
        value += step
    return lines


def _area(share, x0: float, y0: float, w: float, h: float, top: float, color: str) -> str:
    bin_w = w / len(share)
    points = [f"{x0:.1f},{y0 + h:.1f}"]
    for i, s in enumerate(share):
        y = y0 + h - min(s, top) / top * h
        points.append(f"{x0 + i * bin_w:.1f},{y:.1f} {x0 + (i + 1) * bin_w:.1f},{y:.1f}")
    points.append(f"{x0 + w:.1f},{y0 + h:.1f}")
    return _el("polygon", points=" ".join(points), fill=color, fill_opacity="0.35", stroke=color,
               stroke_width="1.2", stroke_linejoin="round")


def mini_histograms(series, title: str, width: int = 184, height: int = 52) -> str:
    """Small overlaid intensity distributions (no axes): one image's before/after at a glance.

    Args:
        series: (name, 256 counts, colour) per distribution.
        title: the chart's accessible title (also its tooltip).
    """
    shares = [[c / (sum(counts) or 1) for c in counts] for _, counts, _ in series]
    top = max((sorted(s)[-3] for s in shares), default=0) * 1.15 or 1.0
    body = [_area(share, 0, 2, width, height - 4, top, color) for (_, _, color), share in zip(series, shares)]
    body.append(_el("line", x1=0, x2=width, y1=height - 1, y2=height - 1, stroke=MUTED))
    return _svg(width, height, title, "".join(body))


def line_chart(series, title: str, x_label: str, y_label: str, x_range=None, y_range=None,
               diagonal: bool = False, width: int = 300, height: int = 270) -> str:
    """Lines through (x, y) points on linear axes, with a legend; optionally the y = x line.

    Args:
        series: (name, [(x, y), ...], colour) per line; a line of one point is drawn as a dot.
        title: the chart's accessible title.
        x_label, y_label: the axes' names.
        x_range, y_range: (low, high) of each axis (default: the data's, from 0 for y).
        diagonal: draw the dashed y = x line (chance for ROC, perfect calibration).
    """
    points = [p for _, line, _ in series for p in line]
    x0, x1 = x_range or _span([p[0] for p in points])
    y0, y1 = y_range or _span([0.0] + [p[1] for p in points])
    legend_rows = len(series)
    box = (60, 14 + 16 * legend_rows, width - 72, height - 58 - 16 * legend_rows)  # x, y, w, h

    def at(x, y):
        return (box[0] + (x - x0) / (x1 - x0) * box[2], box[1] + box[3] - (y - y0) / (y1 - y0) * box[3])

    body = [_el("rect", x=box[0], y=f"{box[1]:.1f}", width=box[2], height=f"{box[3]:.1f}", fill="none", stroke=GRID)]
    body += _axis_ticks(at, x0, x1, y0, y1, box)
    if diagonal:
        (ax, ay), (bx, by) = at(x0, x0), at(x1, x1)
        body.append(_el("line", x1=f"{ax:.1f}", y1=f"{ay:.1f}", x2=f"{bx:.1f}", y2=f"{by:.1f}",
                        stroke=MUTED, stroke_dasharray="4 4"))
    for i, (name, line, color) in enumerate(series):
        body.append(_line(name, [at(x, y) for x, y in line], color))
        body.append(_el("rect", x=box[0], y=4 + 16 * i, width=12, height=3, fill=color))
        body.append(_text(box[0] + 17, 10 + 16 * i, name, fill=INK))
    body.append(_text(box[0] + box[2] / 2, height - 8, x_label, fill=MUTED, text_anchor="middle"))
    body.append(_text(12, box[1] + box[3] / 2, y_label, fill=MUTED, text_anchor="middle",
                      transform=f"rotate(-90 12 {box[1] + box[3] / 2:.1f})"))
    return _svg(width, height, title, "".join(body))


def _span(values) -> tuple[float, float]:
    low, high = min(values, default=0.0), max(values, default=1.0)
    return (low, high) if high > low else (low, low + 1.0)


def _axis_ticks(at, x0, x1, y0, y1, box) -> list[str]:
    marks = []
    for i in range(5):
        x, y = x0 + (x1 - x0) * i / 4, y0 + (y1 - y0) * i / 4
        px, _ = at(x, y0)
        _, py = at(x0, y)
        marks.append(_text(px, box[1] + box[3] + 14, f"{x:.3g}", fill=MUTED, text_anchor="middle"))
        marks.append(_text(box[0] - 5, py + 4, f"{y:.3g}", fill=MUTED, text_anchor="end"))
    return marks


def _line(name: str, pixels, color: str) -> str:
    tip = _el("title", escape(name))
    if len(pixels) == 1:
        return _el("circle", tip, cx=f"{pixels[0][0]:.1f}", cy=f"{pixels[0][1]:.1f}", r=3, fill=color)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pixels)
    return _el("polyline", tip, points=path, fill="none", stroke=color, stroke_width="1.8",
               stroke_linejoin="round")
