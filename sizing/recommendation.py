"""The recommendation as data: which platform, why, whether it fits the site's power cap, and how sure.

Rule (one place; the report and the CLI read its result):

1. Platforms whose provisioned facility power stays within the site's cap in every year come
   first; when none does, all are ranked and the plan says the cap is missed and which cap would
   be needed (the smallest peak power of any platform).
2. Among those, the lowest total cost of ownership over the horizon at the provisioned capacity;
   where no platform has a price, the lowest $ per million tokens in the final year; then the
   lowest peak facility power.

``cheaper_share`` is the share of Monte Carlo samples in which each platform has the lowest
horizon TCO of the platforms compared (null for a platform with no price): how sure the ranking is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

BASES = ("tco_usd", "usd_per_million_tokens", "facility_power_mw")


def cheaper_share(tco_samples: np.ndarray, platform_ids: tuple[str, ...] | list[str]) -> dict[str, float | None]:
    """Share of samples in which each platform's horizon TCO (P, S) is the lowest; None if unpriced."""
    known = np.isfinite(tco_samples).all(axis=-1)
    if not known.any():
        return {p: None for p in platform_ids}
    masked = np.where(known[:, None], tco_samples, np.inf)
    winners = np.argmin(masked, axis=0)
    counts = np.bincount(winners, minlength=len(platform_ids)) / tco_samples.shape[-1]
    return {p: (float(counts[i]) if known[i] else None) for i, p in enumerate(platform_ids)}


def _peak_mw(p: dict[str, Any]) -> float:
    values = [y["facility_power_mw"]["provisioned"] for y in p["years"].values()]
    return max((v for v in values if v is not None), default=math.inf)


def _key(plan: dict[str, Any], pid: str) -> tuple[float, float, float]:
    p = plan["platforms"][pid]
    tco = p["horizon"]["tco_usd"]["provisioned"]
    final = p["years"][str(plan["forecast"]["years"][-1])]
    per_tok = final["usd_per_million_tokens"]["provisioned"]
    inf = math.inf
    return (tco if tco is not None else inf, per_tok if per_tok is not None else inf, _peak_mw(p))


def _money(x: float) -> str:
    return f"${x / 1e9:,.2f}bn" if abs(x) >= 1e9 else f"${x / 1e6:,.0f}M"


def recommend(plan: dict[str, Any], share: dict[str, float | None]) -> dict[str, Any]:
    """The ``recommendation`` object of the plan document (see the plan JSON Schema)."""
    cap = plan["forecast"]["site"]["power_cap_mw"]
    pids = list(plan["platforms"])
    fits = [p for p in pids if all(y["power_cap_met"] for y in plan["platforms"][p]["years"].values())]
    pool = fits or pids
    keys = {p: _key(plan, p) for p in pool}
    best = min(pool, key=lambda p: (keys[p], p))
    basis = next((BASES[i] for i in range(3) if math.isfinite(keys[best][i])), "facility_power_mw")
    needed = _peak_mw(plan["platforms"][best])
    years = plan["forecast"]["years"]
    span = f"{years[0]}-{years[-1]}"
    pct = plan["forecast"]["provision_percentile"]
    if basis == "tco_usd":
        why = f"lowest total cost of ownership over {span}: {_money(keys[best][0])} at P{pct:g} capacity"
    elif basis == "usd_per_million_tokens":
        why = f"lowest cost per million tokens in {years[-1]}: ${keys[best][1]:,.2f} (no platform has a TCO)"
    else:
        why = f"lowest peak facility power: {needed:,.1f} MW (no platform has a price)"
    if cap is None:
        where = "the site sets no power cap"
    elif fits:
        where = f"{len(fits)} of {len(pids)} platforms fit the {cap:g} MW power cap"
    else:
        where = (f"no platform fits the {cap:g} MW power cap: the smallest factory needs "
                 f"{min(_peak_mw(plan['platforms'][p]) for p in pids):,.1f} MW")
    s = share.get(best)
    priced = sum(v is not None for v in share.values())
    sure = "" if s is None or priced < 2 else f"; cheapest in {s * 100:.0f}% of Monte Carlo samples"
    return {
        "platform": best,
        "basis": basis,
        "reason": f"{why}; {where}{sure}",
        "power_cap_mw": cap,
        "power_cap_met": bool(cap is None or bool(fits)),
        "power_needed_mw": needed,
        "power_cap_needed_mw": (None if (cap is None or fits)
                                else min(_peak_mw(plan["platforms"][p]) for p in pids)),
        "platforms_within_cap": fits,
        "cheaper_share": share,
    }


def cap_warning(plan: dict[str, Any]) -> str | None:
    """One line for stderr when a compared platform (or every platform) exceeds the site's power cap."""
    rec = plan.get("recommendation")
    if not rec or rec["power_cap_mw"] is None:
        return None
    cap = rec["power_cap_mw"]
    over = [p for p in plan["platforms"] if p not in rec["platforms_within_cap"]]
    if not over:
        return None
    if not rec["power_cap_met"]:
        return (f"warning: no platform fits the site's {cap:g} MW power cap; {rec['platform']} needs "
                f"{rec['power_needed_mw']:,.1f} MW, the smallest factory {rec['power_cap_needed_mw']:,.1f} MW")
    return f"warning: {', '.join(over)} exceed(s) the site's {cap:g} MW power cap"
