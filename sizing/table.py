"""Readable text rendering of a plan: one table per platform, a row per year."""

from __future__ import annotations

from typing import Any


def _fmt(x: float | None, digits: int = 0, scale: float = 1.0) -> str:
    if x is None:
        return "n/a"
    return f"{x / scale:,.{digits}f}"


def _band(fig: dict[str, Any], digits: int = 0, scale: float = 1.0) -> str:
    return f"{_fmt(fig['p10'], digits, scale)}-{_fmt(fig['p90'], digits, scale)}"


def render(plan: dict[str, Any]) -> str:
    fc = plan["forecast"]
    mc = plan["monte_carlo"]
    pct = fc["provision_percentile"]
    lines = [
        f"{fc['name']}  ({fc['file']})",
        f"site {fc['site']['name']} in {fc['site']['region']}, PUE {fc['site']['pue']}, "
        + (f"power cap {fc['site']['power_cap_mw']} MW" if fc["site"]["power_cap_mw"] else "no power cap")
        + f"; provisioned at P{pct:g} with {fc['headroom'] * 100:.0f}% headroom",
        f"Monte Carlo: {mc['samples']:,} samples, seed {mc['seed']}, {mc['catalog_scenarios']} catalog scenarios, "
        f"{mc['configurations_evaluated']:,} configurations evaluated",
    ]
    if plan["edge_workloads"]:
        lines.append(f"at the edge (reported, not in the factory): {', '.join(plan['edge_workloads'])}")
    for pid, p in plan["platforms"].items():
        dom = p["domain_name"]
        lines += ["", f"== {pid}: {p['name']} ({p['accelerators_per_domain']} accelerators per {dom}) =="]
        for note in p["notes"]:
            lines.append(f"   note: {note}")
        header = (f"{'year':<5} {dom + 's':>13} {'added':>6} {'accelerators':>13} {'P10-P90':>15} "
                  f"{'HBM req/prov TB':>17} {'IT MW':>7} {'facility MW':>12} {'P10-P90':>12} "
                  f"{'cost $M/yr':>11} {'$/Mtok':>7} {'cap':>4}")
        lines += [header, "-" * len(header)]
        for year, y in p["years"].items():
            prov = {k: v["provisioned"] for k, v in y.items() if isinstance(v, dict)}
            lines.append(
                f"{year:<5} {_fmt(prov['domains']):>13} {_fmt(prov['added_domains']):>6} "
                f"{_fmt(prov['accelerators']):>13} {_band(y['accelerators_required']):>15} "
                f"{_fmt(prov['hbm_required_tb'], 0) + '/' + _fmt(prov['hbm_provisioned_tb'], 0):>17} "
                f"{_fmt(prov['it_power_kw'], 1, 1e3):>7} {_fmt(prov['facility_power_mw'], 1):>12} "
                f"{_band(y['facility_power_mw'], 1):>12} {_fmt(prov['cost_usd'], 1, 1e6):>11} "
                f"{_fmt(prov['usd_per_million_tokens'], 2):>7} {'ok' if y['power_cap_met'] else 'OVER':>4}"
            )
    lines += ["", "Figures at the provisioned capacity; P10-P90 bands over the Monte Carlo. "
              "accelerators P10-P90 is the requirement before packing into domains."]
    return "\n".join(lines) + "\n"
