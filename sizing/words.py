"""Counted nouns in the tool's sentences ("1 platform", "2 platforms"): one rule for the CLI, the
plan's reasons and the report."""

from __future__ import annotations


def plural(n: float | None, noun: str, nouns: str | None = None) -> str:
    """``n`` and the noun, singular for exactly 1 (``nouns`` for an irregular plural): "1 UltraServer",
    "0 NVL72 racks", "2,304 accelerators"."""
    if n is None:
        return f"n/a {nouns or noun + 's'}"
    count = f"{n:,.0f}" if float(n).is_integer() else f"{n:,}"
    return f"{count} {noun_of(n, noun, nouns)}"


def noun_of(n: float | None, singular: str, nouns: str | None = None) -> str:
    """The noun alone, as :func:`plural` would print it after ``n``."""
    return singular if n == 1 else (nouns or singular + "s")
