"""The one number formatter of the report: page figures (``fmt``) and chart ticks (``compact``).

Never scientific notation (no ``2e+06`` anywhere on the page): large values get thousands
separators or a unit suffix (k, M, bn), small values as many decimals as their significant
digits need.
"""

from __future__ import annotations

import math

KINDS = ("int", "mw", "kw_as_mw", "usd", "money", "pct", "ms", "j", "sig", "days", "factor")


def _plain(value: float, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits, with thousands separators and no exponent."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    text = f"{round(value, decimals):,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def money(value: float) -> str:
    """Dollars, scaled to the magnitude a reader takes in at a glance: $2.08bn, $540.1M, $12,345."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v >= 1e9:
        return f"{sign}${v / 1e9:,.2f}bn"
    if v >= 1e6:
        return f"{sign}${v / 1e6:,.1f}M"
    return f"{sign}${v:,.0f}"


def fmt(value: float | None, kind: str) -> str:
    """How a figure of a kind is printed on the page (the tag test uses the same function)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if kind not in KINDS:
        raise ValueError(f"unknown number kind {kind!r}; allowed: {', '.join(KINDS)}")
    v = float(value)
    if kind == "mw":
        return f"{v:,.1f}"
    if kind == "kw_as_mw":
        return f"{v / 1e3:,.1f}"
    if kind == "money":
        return money(v)
    if kind == "usd":
        return f"${v:,.2f}"
    if kind == "pct":
        return f"{v * 100:.1f}%"
    if kind == "ms":
        return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"
    if kind == "j":
        return f"{v:,.2f}"
    if kind == "sig":
        return _plain(v)
    if kind == "factor":
        return f"{v:,.2f}x"
    if kind == "days":
        return f"{v:,.0f}"
    return f"{v:,.0f}"


def compact(value: float) -> str:
    """A chart tick: 0, 0.25, 12, 1.5k, 2M, 3.2bn (at most three significant digits, no exponent)."""
    v = abs(value)
    sign = "-" if value < 0 else ""
    for scale, suffix in ((1e12, "tn"), (1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return sign + _plain(v / scale, 3) + suffix
    return sign + _plain(v, 3)
