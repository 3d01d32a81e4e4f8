"""The recommendation as data: which platform, why, whether it fits the site's power cap, and how sure.

Rule (one place; the report and the CLI read its result):

1. Platforms whose provisioned facility power stays within the site's cap in every year come
   first; when none does, all are ranked and the plan says the cap is missed and which cap would
   be needed (the smallest peak power of any platform).
2. Among those, the lowest total cost of ownership over the horizon at the provisioned capacity;
   where no platform has a price, the lowest $ per million tokens in the final year; then the
   lowest peak facility power.

Trainium's serving software is the largest open question, so the rule is also applied once per
Trainium stack (``by_stack``), every Trainium platform taking its figures under that stack (its own,
or its ``alternatives.<stack>``): when the choice differs between stacks (``depends_on_stack``), the
reason says so with the choice and its figure under each; otherwise that it holds under all of them.

``cheaper_share`` is the share of Monte Carlo samples in which each platform has the lowest
horizon TCO of the platforms compared (null for a platform with no price): how sure the ranking is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sizing.words import plural

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


def _key(p: dict[str, Any], final_year: str) -> tuple[float, float, float]:
    """Ranking key of one platform document: horizon TCO, final-year $ per million tokens, peak MW."""
    tco = p["horizon"]["tco_usd"]["provisioned"]
    per_tok = p["years"][final_year]["usd_per_million_tokens"]["provisioned"]
    inf = math.inf
    return (tco if tco is not None else inf, per_tok if per_tok is not None else inf, _peak_mw(p))


def _money(x: float) -> str:
    return f"${x / 1e9:,.2f}bn" if abs(x) >= 1e9 else f"${x / 1e6:,.0f}M"


def _rank(platforms: dict[str, Any], final: str) -> tuple[str, list[str], dict[str, tuple[float, float, float]]]:
    """The rule over platform documents: the best platform, those within the cap, and the ranking keys."""
    fits = [p for p, d in platforms.items() if all(y["power_cap_met"] for y in d["years"].values())]
    pool = fits or list(platforms)
    keys = {p: _key(platforms[p], final) for p in pool}
    return min(pool, key=lambda p: (keys[p], p)), fits, keys


def recommend(plan: dict[str, Any], share: dict[str, float | None]) -> dict[str, Any]:
    """The ``recommendation`` object of the plan document (see the plan JSON Schema)."""
    cap = plan["forecast"]["site"]["power_cap_mw"]
    pids = list(plan["platforms"])
    years = plan["forecast"]["years"]
    best, fits, keys = _rank(plan["platforms"], str(years[-1]))
    basis = next((BASES[i] for i in range(3) if math.isfinite(keys[best][i])), "facility_power_mw")
    needed = _peak_mw(plan["platforms"][best])
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
        verb = "fits" if len(fits) == 1 else "fit"
        where = f"{len(fits)} of {plural(len(pids), 'platform')} {verb} the {cap:g} MW power cap"
    else:
        where = (f"no platform fits the {cap:g} MW power cap: the smallest factory needs "
                 f"{min(_peak_mw(plan['platforms'][p]) for p in pids):,.1f} MW")
    s = share.get(best)
    priced = sum(v is not None for v in share.values())
    sure = "" if s is None or priced < 2 else f"; cheapest in {s * 100:.0f}% of Monte Carlo samples"
    by_stack = stack_choices(plan)
    stack_note = _stack_note(plan, by_stack, basis)
    return {
        "platform": best,
        "basis": basis,
        "reason": f"{why}; {where}{sure}" + (f"; {stack_note}" if stack_note else ""),
        "power_cap_mw": cap,
        "power_cap_met": bool(cap is None or bool(fits)),
        "power_needed_mw": needed,
        "power_cap_needed_mw": (None if (cap is None or fits)
                                else min(_peak_mw(plan["platforms"][p]) for p in pids)),
        "platforms_within_cap": fits,
        "cheaper_share": share,
        **({"by_stack": by_stack, "depends_on_stack": len({c["platform"] for c in by_stack.values()}) > 1,
            "stack_note": stack_note} if by_stack else {}),
    }


def stack_choices(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rule applied once per Trainium serving stack, every Trainium platform under that stack (its
    own figures, or its ``alternatives.<stack>``): ``{stack: {"platform", "basis", "trainium",
    final-year and horizon figures of the platform chosen}}``; empty when the plan has no alternatives."""
    compared = {pid: p for pid, p in plan["platforms"].items() if p.get("alternatives")}
    if not compared:
        return {}
    stacks = list(dict.fromkeys(s for p in compared.values() for s in (p["stack"]["software"], *p["alternatives"])))
    final = str(plan["forecast"]["years"][-1])
    out: dict[str, dict[str, Any]] = {}
    for stack in stacks:
        docs = {pid: _under(p, stack) for pid, p in plan["platforms"].items()}
        best, fits, keys = _rank(docs, final)
        trn = min((q for q in compared if q in keys), key=lambda q: (keys[q], q), default=min(compared))
        label = next(p["stack"] if p["stack"]["software"] == stack else p["alternatives"][stack]
                     for p in compared.values() if stack in (p["stack"]["software"], *p["alternatives"]))
        out[stack] = {"platform": best, "basis": label["basis"], "trainium": trn,
                      "within_cap": best in fits, **_figures(docs[best], final)}
    return out


def _under(p: dict[str, Any], stack: str) -> dict[str, Any]:
    """A platform document with a Trainium platform's figures under ``stack`` (unchanged otherwise)."""
    alt = (p.get("alternatives") or {}).get(stack)
    return {**p, "years": alt["years"], "horizon": alt["horizon"]} if alt is not None else p


def _figures(p: dict[str, Any], final: str) -> dict[str, float | None]:
    y = p["years"][final]
    return {"domains": y["domains"]["provisioned"], "accelerators": y["accelerators"]["provisioned"],
            "facility_power_mw": y["facility_power_mw"]["provisioned"],
            "usd_per_million_tokens": y["usd_per_million_tokens"]["provisioned"],
            "tco_usd": p["horizon"]["tco_usd"]["provisioned"], "peak_facility_power_mw": _peak_mw(p)}


def _stack_note(plan: dict[str, Any], by_stack: dict[str, dict[str, Any]], basis: str) -> str | None:
    """The recommendation in words across the Trainium stacks: one clause when the choice holds under
    all of them, else the choice under each with the figure it was made on (measured stacks first)."""
    if not by_stack:
        return None
    names = {pid: p["name"] for pid, p in plan["platforms"].items()}
    order = sorted(by_stack, key=lambda s: by_stack[s]["basis"] != "measured")
    labels = [f"{s} ({by_stack[s]['basis']})" for s in order]
    if len({c["platform"] for c in by_stack.values()}) == 1:
        return f"the choice holds under every Trainium serving stack: {', '.join(labels)}"
    field, show = {"tco_usd": ("tco_usd", lambda v: f"TCO {_money(v)}"), "usd_per_million_tokens":
                   ("usd_per_million_tokens", lambda v: f"${v:,.2f} per million tokens"),
                   "facility_power_mw": ("peak_facility_power_mw", lambda v: f"{v:,.1f} MW")}[basis]
    parts = []
    for s in order:
        c = by_stack[s]
        value = c[field]
        parts.append(f"{names[c['platform']]} if Trainium serves with {s} ({c['basis']})"
                     + (f": {show(value)}" if value is not None and math.isfinite(value) else ""))
    return "the choice depends on the Trainium serving stack: " + "; ".join(parts)


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
    return f"warning: {', '.join(over)} {'exceeds' if len(over) == 1 else 'exceed'} the site's {cap:g} MW power cap"
