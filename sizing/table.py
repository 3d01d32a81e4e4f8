"""Readable text rendering of a plan: per platform, a capacity block and a power-and-money block
(a row per year, under 100 columns), the horizon's money, training runs, then the recommendation."""

from __future__ import annotations

import textwrap
from typing import Any

WIDTH = 100


def _fmt(x: float | None, digits: int = 0, scale: float = 1.0) -> str:
    if x is None:
        return "n/a"
    return f"{x / scale:,.{digits}f}"


def _band(fig: dict[str, Any], digits: int = 0, scale: float = 1.0) -> str:
    return f"{_fmt(fig['p10'], digits, scale)}-{_fmt(fig['p90'], digits, scale)}"


def _usd_m(x: float | None, digits: int = 0) -> str:
    return "n/a" if x is None else f"${_fmt(x, digits, 1e6)}M"


def _pct(fig: dict[str, Any]) -> str:
    if fig["p50"] is None:
        return "n/a"
    return f"{fig['p50'] * 100:.0f}% ({fig['p10'] * 100:.0f}-{fig['p90'] * 100:.0f})"


def _table(header: list[tuple[str, int]], rows: list[list[str]]) -> list[str]:
    head = " ".join(f"{name:>{w}}" if i else f"{name:<{w}}" for i, (name, w) in enumerate(header))
    out = [head, "-" * len(head)]
    for r in rows:
        out.append(" ".join(f"{v:>{w}}" if i else f"{v:<{w}}" for i, (v, (_, w)) in enumerate(zip(r, header,
                                                                                                   strict=True))))
    return out


def _capacity(p: dict[str, Any]) -> list[str]:
    dom = p["domain_name"] + "s"
    header = [("year", 5), (dom, 12), ("added", 6), ("accelerators", 12), ("required P10-P90", 17),
              ("HBM req/prov TB", 16), ("idle", 7), ("use P50 (P10-P90)", 17)]
    rows = []
    for year, y in p["years"].items():
        rows.append([year, _fmt(y["domains"]["provisioned"]), _fmt(y["added_domains"]["provisioned"]),
                     _fmt(y["accelerators"]["provisioned"]), _band(y["accelerators_required"]),
                     f"{_fmt(y['hbm_required_tb']['provisioned'])}/{_fmt(y['hbm_provisioned_tb']['provisioned'])}",
                     _fmt(y["idle_accelerators"]["provisioned"]), _pct(y["utilisation"])])
    return _table(header, rows)


def _money(p: dict[str, Any]) -> list[str]:
    header = [("year", 5), ("IT MW", 7), ("facility MW", 11), ("P10-P90", 11), ("cap", 4), ("capex $M", 9),
              ("opex $M", 8), ("cost $M/yr", 10), ("P10-P90", 11), ("$/Mtok", 7)]
    rows = []
    for year, y in p["years"].items():
        rows.append([year, _fmt(y["it_power_kw"]["provisioned"], 1, 1e3),
                     _fmt(y["facility_power_mw"]["provisioned"], 1), _band(y["facility_power_mw"], 1),
                     "ok" if y["power_cap_met"] else "OVER",
                     _fmt(y["capex_usd"]["provisioned"], 0, 1e6), _fmt(y["opex_usd"]["provisioned"], 1, 1e6),
                     _fmt(y["cost_usd"]["provisioned"], 1, 1e6), _band(y["cost_usd"], 0, 1e6),
                     _fmt(y["usd_per_million_tokens"]["provisioned"], 2)])
    return _table(header, rows)


def _horizon(p: dict[str, Any], years: list[int]) -> list[str]:
    h = p["horizon"]
    parts = [f"{label} {_usd_m(h[k]['provisioned'])} (P10-P90 {_band(h[k], 0, 1e6)})"
             for label, k in (("capex", "capex_usd"), ("opex", "opex_usd"), ("TCO", "tco_usd"))]
    lines = [f"{years[0]}-{years[-1]}: " + "; ".join(parts[:2]), f"{'':11}{parts[2]}"]
    for t in p["training"]:
        lines.append(f"training {t['workload']} ({t['start']}, {t['days']:g} days, {_fmt(t['accelerators'])} "
                     f"accelerators): {t['mode'].upper()}")
        lines.append(f"  build {_usd_m(t['build_cost_usd'], 1)} vs burst {_usd_m(t['burst_cost_usd'], 1)}")
    return lines


def _stack_rows(plan: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(platform id, stack label, figures doc) per platform and stack: each platform as sized, then each
    Trainium platform under its other stack(s) (``alternatives``)."""
    rows = []
    for pid, p in plan["platforms"].items():
        if "stack" in p:
            rows.append((pid, p["stack"], p))
        rows += [(pid, alt, alt) for alt in (p.get("alternatives") or {}).values()]
    return rows


def stacks_block(plan: dict[str, Any]) -> list[str]:
    """Every platform under the stack it was sized with and each Trainium platform under its other
    stack(s), side by side: final-year figures, horizon money and the break-even factors, each row
    labelled with its stack and whether the stack is measured or an assumption; then the break-even
    in words, naming its stack, and the claims an assumed stack rests on."""
    rows = _stack_rows(plan)
    if not any(p.get("alternatives") or p.get("break_even") for p in plan["platforms"].values()):
        return []
    years = plan["forecast"]["years"]
    final = str(years[-1])
    header = [("platform", 11), ("stack", 10), ("basis", 10), ("domains", 7), ("accel", 8), ("fac. MW", 7),
              ("capex $M", 8), ("TCO $M", 7), ("$/Mtok", 6), ("cost x", 6), ("power x", 7)]
    table = []
    for pid, label, doc in rows:
        y, h, be = doc["years"][final], doc["horizon"], doc.get("break_even") or {}
        table.append([pid, label["software"], label["basis"], _fmt(y["domains"]["provisioned"]),
                      _fmt(y["accelerators"]["provisioned"]), _fmt(y["facility_power_mw"]["provisioned"], 1),
                      _fmt(h["capex_usd"]["provisioned"], 0, 1e6), _fmt(h["tco_usd"]["provisioned"], 0, 1e6),
                      _fmt(y["usd_per_million_tokens"]["provisioned"], 2), _factor(be, "cost_factor"),
                      _factor(be, "power_factor")])
    lines = [f"Trainium serving stacks side by side ({final} at P{plan['forecast']['provision_percentile']:g}; "
             f"capex, TCO {years[0]}-{years[-1]}; x: break-even)", *_table(header, table)]
    for pid, label, doc in rows:
        if doc.get("break_even"):
            lines += textwrap.wrap(break_even_words(plan, pid, label, doc["break_even"]), WIDTH,
                                   subsequent_indent="  ")
    for label in {lab["software"]: lab for _, lab, _ in rows if lab["basis"] == "assumption"}.values():
        lines += textwrap.wrap(f"{label['software']} is an assumption, not a measurement: {label['description']}. "
                               f"{label['claims'] or ''}", WIDTH, subsequent_indent="  ")
    return lines


def _factor(be: dict[str, Any], key: str) -> str:
    if not be:
        return "-"
    return "none" if be.get(key) is None else f"{be[key]:,.2f}x"


def break_even_words(plan: dict[str, Any], pid: str, label: dict[str, Any], be: dict[str, Any]) -> str:
    """The break-even of one Trainium platform under one stack in words, naming the stack."""
    name, stack = plan["platforms"][pid]["name"], label["software"]
    head = f"break-even (stack: {stack}, {label['basis']}): "
    against = be.get("against")
    if against is None:
        return head + f"none for {name}: {be.get('reason') or 'no other platform'}"
    other = plan["platforms"][against]["name"] if against in plan["platforms"] else against
    cost = (f"costs no more per million tokens than {other} at {be['cost_factor']:,.2f}x the serving throughput "
            f"predicted for {stack}" if be.get("cost_factor") is not None
            else f"has no throughput factor at which it costs the same per million tokens as {other}")
    power = (f"draws no more facility MW at {be['power_factor']:,.2f}x" if be.get("power_factor") is not None
             else "none at which it draws the same facility MW")
    return head + f"{name} {cost}; {power}" + (f" ({be['reason']})" if be.get("reason") else "")


def _recommendation(plan: dict[str, Any]) -> list[str]:
    rec = plan.get("recommendation")
    if not rec:
        return []
    return textwrap.wrap(f"recommendation: {rec['platform']}: {rec['reason']}", WIDTH, subsequent_indent="  ")


def render(plan: dict[str, Any]) -> str:
    fc = plan["forecast"]
    mc = plan["monte_carlo"]
    pct = fc["provision_percentile"]
    site = fc["site"]
    lines = [
        f"{fc['name']}",
        f"  ({fc['file']})",
        f"site {site['name']} in {site['region']}, PUE {site['pue']}, "
        + (f"power cap {site['power_cap_mw']} MW" if site["power_cap_mw"] else "no power cap"),
        f"provisioned at P{pct:g} with {fc['headroom'] * 100:.0f}% headroom; Monte Carlo: {mc['samples']:,} samples, "
        f"seed {mc['seed']}",
        f"{mc['catalog_scenarios']} catalog scenarios, {mc['configurations_evaluated']:,} configurations evaluated",
    ]
    if plan["edge_workloads"]:
        lines.append(f"at the edge (reported, not in the factory): {', '.join(plan['edge_workloads'])}")
    for pid, p in plan["platforms"].items():
        lines += ["", f"== {pid}: {p['name']} ({p['accelerators_per_domain']} accelerators per {p['domain_name']}) =="]
        for note in p["notes"]:
            lines += textwrap.wrap(f"note: {note}", WIDTH, initial_indent="   ", subsequent_indent="     ")
        lines += ["", *_capacity(p), "", *_money(p), "", *_horizon(p, fc["years"])]
    lines += ["", "Figures at the provisioned capacity; P10-P90 bands over the Monte Carlo. required P10-P90 is",
              "the requirement before packing into domains; idle and use are of the provisioned capacity.",
              f"The provisioned capacity is the P{pct:g} domain count, so its power can sit above the band of",
              "per-sample needs. capex: bought that year; opex: energy (or cloud rent); TCO = capex + opex."]
    block = stacks_block(plan)
    lines += ["", *block] if block else []
    lines += ["", *_recommendation(plan)]
    return "\n".join(lines) + "\n"
