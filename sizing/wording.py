"""Counts in words: "1 group", "2 groups", "1,024 domains" (one rule for every count the tool prints)."""

from __future__ import annotations


def plural(count: float, singular: str, plural_form: str | None = None) -> str:
    """``count`` (thousands separated) and the noun, singular for exactly one, else ``plural_form``
    (default: ``singular`` + "s"; give it for irregular nouns, e.g. ``plural(n, "policy", "policies")``)."""
    noun = singular if count == 1 else (plural_form or singular + "s")
    number = f"{count:,}" if isinstance(count, int) or float(count).is_integer() else f"{count:,g}"
    return f"{number.removesuffix('.0')} {noun}"
