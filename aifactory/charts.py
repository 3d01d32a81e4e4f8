"""Inline SVG charts for the report: no script, no fonts, no network (the page stays self-contained).

Each chart is a pure function from plain numbers to an SVG string. Every chart has labelled axes with
their units, tick labels from the one number formatter (``numfmt.compact``, never ``2e+06``) and a
legend laid out in rows below the plot, wrapped by an upper estimate of its text width, so no two
entries overlap and none covers the plot. Tick labels are scale labels; the figures themselves are
printed, tagged, in the tables next to each chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from aifactory.numfmt import compact

PALETTE = ("#1f5f8b", "#d9822b", "#3f8f4f", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#b7950b")
W = 640
LEFT, RIGHT, TOP = 64, 16, 12
PLOT_H = 170
AXIS_H = 40  # tick labels and the x-axis label below the plot
CHAR_W = 6.6  # upper estimate of an 11 px sans-serif glyph's advance, for layout
ROW_H = 16
Legend = list[tuple[str, str, str]]  # (label, colour, style: box | line | dash | band)


@dataclass(frozen=True)
class Axes:
    """The plot rectangle and the data range it shows."""

    x0: float
    x1: float
    y0: float
    y1: float
    xmin: float
    xmax: float
    ymin: float
    ymax: float

    def x(self, v: float) -> float:
        return self.x0 + (self.x1 - self.x0) * (v - self.xmin) / ((self.xmax - self.xmin) or 1.0)

    def y(self, v: float) -> float:
        return self.y1 - (self.y1 - self.y0) * (v - self.ymin) / ((self.ymax - self.ymin) or 1.0)


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value``."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp * (1 + 1e-9):
            return m * exp
    return 10 * exp


def nice_ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """Round tick values covering [lo, hi] with about ``n`` steps of 1, 2, 2.5 or 5 times a power of ten."""
    if hi <= lo:
        hi = lo + max(abs(lo) * 0.1, 1.0)
    step = nice_max((hi - lo) / n)
    first = math.floor(lo / step) * step
    count = math.ceil((hi - first) / step - 1e-9)
    return [first + step * i for i in range(count + 1)]


def text_width(label: str) -> float:
    return len(label) * CHAR_W


def legend_layout(items: Legend, top: float, width: float = W) -> tuple[list[str], float]:
    """Legend entries in rows under the plot; returns the SVG parts and the height used."""
    parts: list[str] = []
    x, row = float(LEFT), 0
    for label, color, style in items:
        w = 18 + text_width(label) + 14
        if x > LEFT and x + w > width - RIGHT:
            x, row = float(LEFT), row + 1
        y = top + ROW_H * row + 11
        parts.append(f'<g class="legend-item">{_swatch(x, y, color, style)}'
                     f'<text x="{x + 18:.1f}" y="{y:.1f}" class="legend">{escape(label)}</text></g>')
        x += w
    return parts, (ROW_H * (row + 1) + 4 if items else 0)


def _swatch(x: float, y: float, color: str, style: str) -> str:
    if style == "line":
        return (f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 13:.1f}" y2="{y - 4:.1f}" stroke="{color}" '
                f'stroke-width="2.5"/>')
    if style == "dash":
        return (f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 13:.1f}" y2="{y - 4:.1f}" stroke="{color}" '
                f'stroke-width="2" stroke-dasharray="4 2"/>')
    opacity = ' fill-opacity="0.25"' if style == "band" else ""
    return f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="12" height="10" fill="{color}"{opacity}/>'


def _row_label(x: float, y: float, label: str, label_w: float) -> str:
    """A row's name right-aligned left of the plot, shortened with an ellipsis to the room it has."""
    max_chars = int((label_w - 10) / CHAR_W)
    shown = label if len(label) <= max_chars else label[: max_chars - 1] + "…"
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="end" class="tick">{escape(shown)}</text>'


def _svg(kind: str, title: str, height: float, body: list[str], width: float = W) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" role="img" class="chart" '
            f'data-chart="{kind}" aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(body)}</svg>')


def _frame(ax: Axes, yticks: Sequence[tuple[float, str]], xticks: Sequence[tuple[float, str]],
           xlabel: str, ylabel: str) -> list[str]:
    """Plot rectangle, gridlines, tick labels and the two axis labels."""
    parts = [f'<rect x="{ax.x0}" y="{ax.y0}" width="{ax.x1 - ax.x0}" height="{ax.y1 - ax.y0}" class="plot"/>']
    for v, label in yticks:
        y = ax.y(v)
        parts.append(f'<line x1="{ax.x0}" y1="{y:.1f}" x2="{ax.x1}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{ax.x0 - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{escape(label)}</text>')
    for v, label in xticks:
        parts.append(f'<text x="{ax.x(v):.1f}" y="{ax.y1 + 15:.1f}" text-anchor="middle" class="tick">'
                     f'{escape(label)}</text>')
    mid_y = (ax.y0 + ax.y1) / 2
    parts.append(f'<text x="{(ax.x0 + ax.x1) / 2:.1f}" y="{ax.y1 + 32:.1f}" text-anchor="middle" '
                 f'class="axis-label x">{escape(xlabel)}</text>')
    parts.append(f'<text x="13" y="{mid_y:.1f}" transform="rotate(-90 13 {mid_y:.1f})" text-anchor="middle" '
                 f'class="axis-label y">{escape(ylabel)}</text>')
    return parts


def value_ticks(vmax: float, percent: bool = False, n: int = 4) -> list[tuple[float, str]]:
    return [(vmax * i / n, f"{vmax * i / n * 100:g}%" if percent else compact(vmax * i / n)) for i in range(n + 1)]


def _year_axes(years: Sequence[int], ymax: float, width: float = W) -> Axes:
    # years are categories centred in equal slots: slot i spans [i - 0.5, i + 0.5]
    return Axes(LEFT, width - RIGHT, TOP, TOP + PLOT_H, -0.5, len(years) - 0.5, 0.0, ymax)


def _year_chart(kind: str, title: str, years: Sequence[int], ymax: float, ylabel: str, percent: bool,
                marks: list[str], legend: Legend, width: float = W) -> str:
    ax = _year_axes(years, ymax, width)
    parts = _frame(ax, value_ticks(ymax, percent), [(i, str(y)) for i, y in enumerate(years)], "year", ylabel)
    leg, leg_h = legend_layout(legend, ax.y1 + AXIS_H, width)
    return _svg(kind, title, ax.y1 + AXIS_H + leg_h + 4, parts + marks + leg, width)


def band_lines(years: Sequence[int], series: Mapping[str, Mapping[str, Sequence[float]]], ylabel: str, *,
               line_label: str, band_label: str = "P10-P90 band", cap: float | None = None,
               cap_label: str = "site power cap", percent: bool = False, kind: str = "lines", width: float = W) -> str:
    """A line per series (``line``) over its shaded band (``low``-``high``); an optional horizontal cap."""
    top = [max(list(s["high"]) + list(s["line"]) + [0.0]) for s in series.values()]
    ymax = 1.0 if percent else nice_max(max(top + [cap or 0.0, 1e-9]))
    ax = _year_axes(years, ymax, width)
    marks: list[str] = []
    legend: Legend = []
    xs = [ax.x(i) for i in range(len(years))]
    for k, (name, s) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        upper = [f"{x:.1f},{ax.y(v):.1f}" for x, v in zip(xs, s["high"], strict=True)]
        lower = [f"{x:.1f},{ax.y(v):.1f}" for x, v in zip(reversed(xs), list(s["low"])[::-1], strict=True)]
        marks.append(f'<polygon points="{" ".join(upper + lower)}" fill="{color}" fill-opacity="0.18" class="band"/>')
        pts = " ".join(f"{x:.1f},{ax.y(v):.1f}" for x, v in zip(xs, s["line"], strict=True))
        marks.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2.5" class="series"/>')
        legend += [(f"{name}: {line_label}", color, "line"), (f"{name}: {band_label}", color, "band")]
    if cap:
        y = ax.y(cap)
        marks.append(f'<line x1="{ax.x0}" y1="{y:.1f}" x2="{ax.x1}" y2="{y:.1f}" class="cap"/>')
        legend.append((cap_label, "#b03a2e", "dash"))
    return _year_chart(kind, ylabel, years, ymax, ylabel, percent, marks, legend, width)


def buildout(years: Sequence[int], built: Sequence[float], added: Sequence[float], low: Sequence[float],
             high: Sequence[float], unit: str, color: str = PALETTE[0], width: float = W) -> str:
    """One platform's cumulative capacity in its own unit: a bar per year (its dark top the year's
    addition) and a whisker for the P10-P90 band of what the forecast needs."""
    ymax = nice_max(max(list(built) + list(high) + [1.0]))
    ax = _year_axes(years, ymax, width)
    bar_w = (ax.x(1) - ax.x(0)) * 0.5
    marks = []
    for i in range(len(years)):
        x = ax.x(i) - bar_w / 2
        top, before = ax.y(built[i]), ax.y(built[i] - added[i])
        marks.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{bar_w:.1f}" height="{ax.y1 - top:.1f}" '
                     f'fill="{color}" fill-opacity="0.4"/>')
        if added[i] > 0:
            marks.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{bar_w:.1f}" height="{before - top:.1f}" '
                         f'fill="{color}"/>')
        marks.append(f'<line x1="{ax.x(i):.1f}" y1="{ax.y(low[i]):.1f}" x2="{ax.x(i):.1f}" y2="{ax.y(high[i]):.1f}" '
                     f'class="whisker"/>')
    legend: Legend = [("built in earlier years", color, "band"), ("added that year", color, "box"),
                      ("needed, P10-P90", "#1b2631", "line")]
    return _year_chart("buildout", f"{unit} per year", years, ymax, unit, False, marks, legend, width)


def grouped_stacks(years: Sequence[int], groups: Mapping[str, Mapping[str, Sequence[float]]], ylabel: str,
                   kind: str = "money") -> str:
    """Per year, a bar per group (platform) stacking its components (e.g. capex added, operating cost)."""
    totals = [sum(v[i] for v in comps.values()) for comps in groups.values() for i in range(len(years))]
    ymax = nice_max(max(totals + [1e-9]))
    ax = _year_axes(years, ymax)
    slot = ax.x(1) - ax.x(0)
    width = slot * 0.7 / max(len(groups), 1)
    marks: list[str] = []
    legend: Legend = []
    for g, (name, comps) in enumerate(groups.items()):
        color = PALETTE[g % len(PALETTE)]
        for c, (comp, values) in enumerate(comps.items()):
            opacity = 1.0 if c == 0 else 0.4
            legend.append((f"{name}: {comp}", color, "box" if c == 0 else "band"))
            for i in range(len(years)):
                base = sum(list(comps.values())[j][i] for j in range(c))
                x = ax.x(i) - slot * 0.35 + width * g
                y_top, y_base = ax.y(base + values[i]), ax.y(base)
                if values[i] > 0:
                    marks.append(f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{width - 1:.1f}" '
                                 f'height="{y_base - y_top:.1f}" fill="{color}" fill-opacity="{opacity}"/>')
    return _year_chart(kind, ylabel, years, ymax, ylabel, False, marks, legend)


def pareto(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], target_x: float | None, xlabel: str,
           ylabel: str, title: str, width: float = W) -> str:
    """Throughput against interactivity: a curve per platform (points joined in order of x), the
    workload's target interactivity as a dashed vertical line."""
    xmax = nice_max(max([max(list(xs) + [0.0]) for xs, _ in curves.values()] + [target_x or 0.0, 1e-9]))
    ymax = nice_max(max([max(list(ys) + [0.0]) for _, ys in curves.values()] + [1e-9]))
    ax = Axes(LEFT, width - RIGHT, TOP, TOP + PLOT_H, 0.0, xmax, 0.0, ymax)
    parts = _frame(ax, value_ticks(ymax), value_ticks(xmax), xlabel, ylabel)
    legend: Legend = []
    for k, (name, (xs, ys)) in enumerate(curves.items()):
        color = PALETTE[k % len(PALETTE)]
        pts = sorted(zip(xs, ys, strict=True))
        parts.append(f'<polyline points="{" ".join(f"{ax.x(x):.1f},{ax.y(y):.1f}" for x, y in pts)}" fill="none" '
                     f'stroke="{color}" stroke-width="2" class="series"/>')
        parts += [f'<circle cx="{ax.x(x):.1f}" cy="{ax.y(y):.1f}" r="1.8" fill="{color}"/>' for x, y in pts]
        legend.append((name, color, "line"))
    if target_x:
        x = ax.x(target_x)
        parts.append(f'<line x1="{x:.1f}" y1="{ax.y0}" x2="{x:.1f}" y2="{ax.y1}" class="cap target"/>')
        legend.append(("target tokens/s per user", "#b03a2e", "dash"))
    leg, leg_h = legend_layout(legend, ax.y1 + AXIS_H, width)
    return _svg("pareto", title, ax.y1 + AXIS_H + leg_h + 4, parts + leg, width)


def tornado(rows: Sequence[tuple[str, float, float]], base: float, xlabel: str, title: str,
            width: float = W) -> str:
    """One-at-a-time swings: a row per input (label, result with the input at its low value, result
    at its high value), widest swing on top, bars drawn from the base result."""
    label_w = min(width * 0.45, max([text_width(r[0]) for r in rows] + [40.0]) + 10)
    lo = min([base] + [min(r[1], r[2]) for r in rows])
    hi = max([base] + [max(r[1], r[2]) for r in rows])
    ticks = nice_ticks(lo, hi)
    bar_h = 16.0
    plot_h = max(len(rows), 1) * (bar_h + 6) + 6
    ax = Axes(LEFT + label_w, width - RIGHT, TOP, TOP + plot_h, ticks[0], ticks[-1], 0.0, 1.0)
    parts = _frame(ax, [], [(v, compact(v)) for v in ticks], xlabel, "uncertain input")
    low_c, high_c = PALETTE[0], PALETTE[1]
    for i, (label, low, high) in enumerate(rows):
        y = ax.y0 + 6 + i * (bar_h + 6)
        parts.append(_row_label(ax.x0 - 6, y + 12, label, label_w))
        for value, color in ((low, low_c), (high, high_c)):
            x0, x1 = sorted((ax.x(base), ax.x(value)))
            parts.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0, 0.5):.1f}" height="{bar_h}" '
                         f'fill="{color}" fill-opacity="0.85"/>')
    parts.append(f'<line x1="{ax.x(base):.1f}" y1="{ax.y0}" x2="{ax.x(base):.1f}" y2="{ax.y1}" class="whisker"/>')
    legend: Legend = [("input at its low value", low_c, "box"), ("input at its high value", high_c, "box"),
                      ("plan with every input at its median", "#1b2631", "line")]
    leg, leg_h = legend_layout(legend, ax.y1 + AXIS_H, width)
    return _svg("tornado", title, ax.y1 + AXIS_H + leg_h + 4, parts + leg, width)


def timeline(runs: Sequence[tuple[str, float, float, str]], years: Sequence[int], modes: Mapping[str, str],
             title: str) -> str:
    """Training runs as bars on a calendar (label, start, end as fractional years, mode); a colour
    per mode, named in ``modes`` (mode -> legend label)."""
    label_w = min(200.0, max([text_width(r[0]) for r in runs] + [40.0]) + 10)
    bar_h = 14.0
    plot_h = max(len(runs), 1) * (bar_h + 6) + 6
    ax = Axes(LEFT + label_w, W - RIGHT, TOP, TOP + plot_h, float(years[0]), float(years[-1] + 1), 0.0, 1.0)
    parts = _frame(ax, [], [(float(y), str(y)) for y in list(years) + [years[-1] + 1]], "calendar year", "training run")
    parts += [f'<line x1="{ax.x(y):.1f}" y1="{ax.y0}" x2="{ax.x(y):.1f}" y2="{ax.y1}" class="grid"/>' for y in years]
    colors = {mode: PALETTE[(k + 2) % len(PALETTE)] for k, mode in enumerate(modes)}
    for i, (label, start, end, mode) in enumerate(runs):
        y = ax.y0 + 6 + i * (bar_h + 6)
        parts.append(_row_label(ax.x0 - 6, y + 11, label, label_w))
        x0, x1 = ax.x(max(start, ax.xmin)), ax.x(min(end, ax.xmax))
        parts.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0, 1.5):.1f}" height="{bar_h}" '
                     f'fill="{colors.get(mode, PALETTE[-1])}"/>')
    leg, leg_h = legend_layout([(label, colors[m], "box") for m, label in modes.items()], ax.y1 + AXIS_H)
    return _svg("timeline", title, ax.y1 + AXIS_H + leg_h + 4, parts + leg)
