"""Inline SVG charts for the report: no script, no fonts, no network (the page stays self-contained).

Each chart takes plain numbers and returns an SVG string. Axis ticks are scale labels; the figures
themselves are printed, tagged, in the tables next to each chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#1f5f8b", "#d9822b", "#3f8f4f", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#b7950b")
W, H = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 48


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp:
            return m * exp
    return 10 * exp


def _tick(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def _frame(ymax: float, years: Sequence[int], ylabel: str) -> tuple[list[str], float]:
    """Axes, gridlines and year labels; returns the SVG parts and the x step."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" class="chart">']
    plot_h = H - TOP - BOTTOM
    for i in range(5):
        v = ymax * i / 4
        y = TOP + plot_h * (1 - i / 4)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_tick(v)}</text>')
    step = (W - LEFT - RIGHT) / max(len(years), 1)
    for i, year in enumerate(years):
        x = LEFT + step * (i + 0.5)
        parts.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle" class="tick">{year}</text>')
    parts.append(f'<text x="14" y="{TOP + plot_h / 2:.1f}" transform="rotate(-90 14 {TOP + plot_h / 2:.1f})" '
                 f'text-anchor="middle" class="label">{escape(ylabel)}</text>')
    return parts, step


def _y(v: float, ymax: float) -> float:
    return TOP + (H - TOP - BOTTOM) * (1 - v / ymax)


def buildout(years: Sequence[int], series: dict[str, dict[str, Sequence[float]]], ylabel: str) -> str:
    """Cumulative capacity per platform: a bar for the provisioned count (its top segment the year's
    addition) and a whisker for the P10-P90 band of the requirement."""
    ymax = _nice_max(max([max(s["provisioned"]) for s in series.values()] + [max(s["p90"]) for s in series.values()]
                         + [1.0]))
    parts, step = _frame(ymax, years, ylabel)
    n = len(series)
    width = step * 0.7 / max(n, 1)
    for k, (name, s) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        for i in range(len(years)):
            x = LEFT + step * i + step * 0.15 + width * k
            prov, added = s["provisioned"][i], s["added"][i]
            y0, y1 = _y(prov, ymax), _y(prov - added, ymax)
            parts.append(f'<rect x="{x:.1f}" y="{y0:.1f}" width="{width:.1f}" height="{_y(0, ymax) - y0:.1f}" '
                         f'fill="{color}" fill-opacity="0.45"/>')
            if added > 0:
                parts.append(f'<rect x="{x:.1f}" y="{y0:.1f}" width="{width:.1f}" height="{y1 - y0:.1f}" '
                             f'fill="{color}"/>')
            cx = x + width / 2
            parts.append(f'<line x1="{cx:.1f}" y1="{_y(s["p10"][i], ymax):.1f}" x2="{cx:.1f}" '
                         f'y2="{_y(s["p90"][i], ymax):.1f}" class="whisker"/>')
        parts.append(_legend(k, name, color))
    parts.append("</svg>")
    return "".join(parts)


def lines(years: Sequence[int], series: dict[str, dict[str, Sequence[float]]], ylabel: str,
          cap: float | None = None) -> str:
    """A line per platform (provisioned) over a shaded P10-P90 band; an optional horizontal cap."""
    top = [max(s["p90"]) for s in series.values()] + [max(s["provisioned"]) for s in series.values()]
    ymax = _nice_max(max(top + [cap or 0.0, 1e-9]))
    parts, step = _frame(ymax, years, ylabel)
    for k, (name, s) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        xs = [LEFT + step * (i + 0.5) for i in range(len(years))]
        upper = [f"{x:.1f},{_y(v, ymax):.1f}" for x, v in zip(xs, s["p90"], strict=True)]
        lower = [f"{x:.1f},{_y(v, ymax):.1f}" for x, v in zip(reversed(xs), reversed(s["p10"]), strict=True)]
        parts.append(f'<polygon points="{" ".join(upper + lower)}" fill="{color}" fill-opacity="0.18"/>')
        pts = " ".join(f"{x:.1f},{_y(v, ymax):.1f}" for x, v in zip(xs, s["provisioned"], strict=True))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2.5"/>')
        parts.append(_legend(k, name, color))
    if cap:
        y = _y(cap, ymax)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" class="cap"/>')
        parts.append(f'<text x="{W - RIGHT - 4}" y="{y - 5:.1f}" text-anchor="end" class="caplabel">power cap</text>')
    parts.append("</svg>")
    return "".join(parts)


def stacked(years: Sequence[int], stacks: dict[str, Sequence[float]], ylabel: str) -> str:
    """Stacked bars per year (e.g. accelerators by application)."""
    totals = [sum(v[i] for v in stacks.values()) for i in range(len(years))]
    ymax = _nice_max(max(totals + [1.0]))
    parts, step = _frame(ymax, years, ylabel)
    width = step * 0.6
    base = [0.0] * len(years)
    for k, (name, values) in enumerate(stacks.items()):
        color = PALETTE[k % len(PALETTE)]
        for i, v in enumerate(values):
            if v <= 0:
                continue
            x = LEFT + step * i + step * 0.2
            y0, y1 = _y(base[i] + v, ymax), _y(base[i], ymax)
            parts.append(f'<rect x="{x:.1f}" y="{y0:.1f}" width="{width:.1f}" height="{y1 - y0:.1f}" fill="{color}"/>')
            base[i] += v
        parts.append(_legend(k, name, color))
    parts.append("</svg>")
    return "".join(parts)


def _legend(k: int, name: str, color: str) -> str:
    x = LEFT + 150 * (k % 4)
    y = H - 19 + 13 * (k // 4)
    return (f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="{y}" class="legend">{escape(name)}</text>')
