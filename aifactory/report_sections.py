"""The report's sections as template context: the main body (the decision) and the appendix.

Each function reads the plan (and the calibration and inventory summaries), prints every figure
through ``Facts`` (tagged with its key) and draws its charts with ``aifactory.charts``. Sections
whose data the plan does not carry (utilisation, training, Pareto, tornado, break-even, power range,
serving stacks) are left out rather than shown empty.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from aifactory import charts
from aifactory.report_stacks import break_even, stack_range, stack_table
from sizing.words import noun_of

if TYPE_CHECKING:
    from aifactory.report import Facts

LABELS = {
    "domains": "scale-up domains (UltraServers or NVL72 racks)", "accelerators": "accelerators",
    "facility_power_mw": "facility power (MW)", "it_power_kw": "IT power (MW)",
    "hbm_provisioned_tb": "HBM provisioned (TB)", "hbm_required_tb": "HBM required (TB)",
    "cost_usd": "annual cost (amortised capex + energy, or cloud price)",
    "usd_per_million_tokens": "$ per million tokens", "joules_per_token": "energy per token (J)",
}
KINDS = {"domains": "int", "accelerators": "int", "instances": "int", "facility_power_mw": "mw",
         "it_power_kw": "kw_as_mw", "hbm_provisioned_tb": "int", "hbm_required_tb": "int", "cost_usd": "money",
         "usd_per_million_tokens": "usd", "joules_per_token": "j", "energy_mwh": "int", "added_domains": "int",
         "accelerators_required": "int", "capex_usd": "money", "cumulative_capex_usd": "money",
         "opex_usd": "money", "utilisation": "pct", "idle_accelerators": "int"}
SMALL = 440  # width of a chart drawn two to a row, so its text stays legible when printed
MODES = {"build": "built in the factory", "burst": "burst capacity (rented)"}


def centre(band: dict[str, Any]) -> float:
    """The value a chart draws for a band: provisioned where the engine gives one, else the median."""
    v = band.get("provisioned")
    return float(v if v is not None else band.get("p50") or 0.0)


def _series(plan: dict[str, Any], pid: str, years: list[int], figure: str) -> list[dict[str, Any]]:
    return [plan["platforms"][pid]["years"][str(y)][figure] for y in years]


def _has(plan: dict[str, Any], figure: str) -> bool:
    return all(figure in y for p in plan["platforms"].values() for y in p["years"].values())


def main_context(plan: dict[str, Any], best: str, F: Facts) -> dict[str, Any]:
    years = [int(y) for y in plan["forecast"]["years"]]
    fc = plan["forecast"]
    ctx: dict[str, Any] = {
        "forecast_name": fc["name"], "site": fc["site"], "years": years, "final": str(years[-1]),
        "pids": list(plan["platforms"]), "platforms": plan["platforms"], "best": best,
        "percentile": F.plan("forecast", "provision_percentile"),
        "headroom": F.plan("forecast", "headroom", kind="pct"),
        "samples": F.plan("monte_carlo", "samples"), "seed": F.plan("monte_carlo", "seed"),
        "cap": F.plan("forecast", "site", "power_cap_mw", kind="mw") if fc["site"]["power_cap_mw"] else None,
        "version": plan["tool"]["version"], "catalog_version": plan["tool"]["catalog_version"],
    }
    ctx["headline"] = headline(plan, best, years, F)
    ctx["alternatives"] = alternatives(plan, best, years, F)
    ctx["money"] = money(plan, years, F)
    ctx["power_chart"] = power_chart(plan, years)
    ctx["buildout_charts"] = [{"name": plan["platforms"][pid]["name"], "chart": buildout_chart(plan, pid, years, k)}
                              for k, pid in enumerate(plan["platforms"])]
    ctx["utilisation"] = utilisation(plan, years, F)
    ctx["training"] = training(plan, best, years, F)
    ctx["pareto"] = pareto(plan, F)
    ctx["tornado"] = tornado(plan, F)
    ctx["break_even"] = break_even(plan, F)
    ctx["power_sensitivity"] = power_sensitivity(plan, F)
    ctx["stacks"] = serving_stacks(plan)
    ctx["stack_table"] = stack_table(plan, F)
    ctx["stack_range"] = stack_range(plan, F)
    return ctx


def within_cap(plan: dict[str, Any]) -> dict[str, bool]:
    """Whether each platform's built power stays within the site's cap in every year."""
    rec = plan.get("recommendation") or {}
    if "platforms_within_cap" in rec:
        return {pid: pid in rec["platforms_within_cap"] for pid in plan["platforms"]}
    return {pid: all(bool(y["power_cap_met"]) for y in p["years"].values()) for pid, p in plan["platforms"].items()}


def headline(plan: dict[str, Any], best: str, years: list[int], F: Facts) -> dict[str, Any]:
    """How many, how many MW, how much money over the horizon, when, on which platform, how sure."""
    p, final = plan["platforms"][best], str(years[-1])
    base = ("platforms", best, "years", final)
    rec = plan.get("recommendation") or {}
    fits = within_cap(plan)
    first = next((y for y in years if (p["years"][str(y)]["added_domains"]["provisioned"] or 0) > 0), years[0])
    h: dict[str, Any] = {
        "name": p["name"], "accelerator": p["accelerator"], "start": first,
        "domain_name": noun_of(p["years"][final]["domains"]["provisioned"], p["domain_name"]),
        "domains": F.plan(*base, "domains", "provisioned"),
        "accelerators": F.plan(*base, "accelerators", "provisioned"),
        "mw": F.plan(*base, "facility_power_mw", "provisioned", kind="mw"),
        "cost_year": F.plan(*base, "cost_usd", "provisioned", kind="money"),
        "per_mtok": F.plan(*base, "usd_per_million_tokens", "provisioned", kind="usd")
        if p["years"][final]["usd_per_million_tokens"]["provisioned"] is not None else None,
        "cap_met": fits[best], "none_fit": not any(fits.values()), "basis": rec.get("basis"),
        "others_over": [plan["platforms"][q]["name"] for q, ok in fits.items() if q != best and not ok],
        "needed": None, "smallest": None, "share": None, "capex": None, "tco": None, "opex": None,
    }
    if not fits[best] and rec.get("power_needed_mw") is not None:
        h["needed"] = F.plan("recommendation", "power_needed_mw", kind="mw")
    if rec.get("power_cap_needed_mw") is not None:
        h["smallest"] = F.plan("recommendation", "power_cap_needed_mw", kind="mw")
    if (rec.get("cheaper_share") or {}).get(best) is not None and len(plan["platforms"]) > 1:
        h["share"] = F.plan("recommendation", "cheaper_share", best, kind="pct")
    for key, figure in (("capex", "capex_usd"), ("opex", "opex_usd"), ("tco", "tco_usd")):
        if (p.get("horizon") or {}).get(figure, {}).get("provisioned") is not None:
            h[key] = F.band("platforms", best, "horizon", figure, kind="money")
    return h


def alternatives(plan: dict[str, Any], best: str, years: list[int], F: Facts) -> list[dict[str, Any]]:
    """Each platform's answer in its own unit, its horizon cost and how often it is the cheaper one."""
    final, rec, fits = str(years[-1]), plan.get("recommendation") or {}, within_cap(plan)
    rows = []
    for pid, p in plan["platforms"].items():
        base = ("platforms", pid, "years", final)
        y = p["years"][final]
        rows.append({
            "pid": pid, "name": p["name"], "best": pid == best,
            "unit": noun_of(y["domains"]["provisioned"], p["domain_name"]),
            "domains": F.plan(*base, "domains", "provisioned"),
            "mw": F.plan(*base, "facility_power_mw", "provisioned", kind="mw"),
            "per_mtok": F.plan(*base, "usd_per_million_tokens", "provisioned", kind="usd")
            if y["usd_per_million_tokens"]["provisioned"] is not None else "n/a",
            "tco": F.band("platforms", pid, "horizon", "tco_usd", kind="money")
            if (p.get("horizon") or {}).get("tco_usd", {}).get("provisioned") is not None else None,
            "share": F.plan("recommendation", "cheaper_share", pid, kind="pct")
            if (rec.get("cheaper_share") or {}).get(pid) is not None else None,
            "cap_met": fits[pid]})
    return rows


def money(plan: dict[str, Any], years: list[int], F: Facts) -> dict[str, Any]:
    """Capital spend per year (additions) and cumulative, operating cost per year, over the horizon."""
    accounted = _has(plan, "cumulative_capex_usd") and _has(plan, "opex_usd")
    parts = (("capex added", "capex_usd"), ("operating cost", "opex_usd")) if accounted else (
        ("annual cost", "cost_usd"),)
    groups = {p["name"]: {label: [centre(b) for b in _series(plan, pid, years, figure)] for label, figure in parts}
              for pid, p in plan["platforms"].items()}
    columns = ("capex_usd", "cumulative_capex_usd", "opex_usd") if accounted else ("cost_usd",)
    tables = []
    for pid, p in plan["platforms"].items():
        rows = [{"year": y, "cells": [F.band("platforms", pid, "years", str(y), c, kind="money") for c in columns]}
                for y in years]
        horizon = {f: F.band("platforms", pid, "horizon", f, kind="money") for f in ("capex_usd", "opex_usd", "tco_usd")
                   } if accounted and "horizon" in p else None
        tables.append({"name": p["name"], "rows": rows, "horizon": horizon})
    return {"accounted": accounted, "tables": tables,
            "chart": Markup(charts.grouped_stacks(years, groups, "US$ per year"))}


def power_chart(plan: dict[str, Any], years: list[int]) -> Markup:
    series = {p["name"]: {"line": [centre(b) for b in _series(plan, pid, years, "facility_power_mw")],
                          "low": [b["p10"] or 0.0 for b in _series(plan, pid, years, "facility_power_mw")],
                          "high": [b["p90"] or 0.0 for b in _series(plan, pid, years, "facility_power_mw")]}
              for pid, p in plan["platforms"].items()}
    return Markup(charts.band_lines(years, series, "facility power (MW)", line_label="built",
                                    band_label="needed, P10-P90", cap=plan["forecast"]["site"]["power_cap_mw"],
                                    kind="power"))


def buildout_chart(plan: dict[str, Any], pid: str, years: list[int], k: int) -> Markup:
    s = {f: _series(plan, pid, years, f) for f in ("domains", "added_domains")}
    return Markup(charts.buildout(years, [centre(b) for b in s["domains"]], [centre(b) for b in s["added_domains"]],
                                  [b["p10"] or 0.0 for b in s["domains"]], [b["p90"] or 0.0 for b in s["domains"]],
                                  f"{plan['platforms'][pid]['domain_name']}s (count)",
                                  charts.PALETTE[k % len(charts.PALETTE)], SMALL))


def utilisation(plan: dict[str, Any], years: list[int], F: Facts) -> dict[str, Any] | None:
    """Median share of the built accelerators the demand keeps busy, per year, and the idle ones."""
    if not _has(plan, "utilisation"):
        return None
    series = {p["name"]: {"line": [b["p50"] or 0.0 for b in _series(plan, pid, years, "utilisation")],
                          "low": [b["p10"] or 0.0 for b in _series(plan, pid, years, "utilisation")],
                          "high": [b["p90"] or 0.0 for b in _series(plan, pid, years, "utilisation")]}
              for pid, p in plan["platforms"].items()}
    idle = _has(plan, "idle_accelerators")
    rows = [{"year": y, "cells": [(F.plan("platforms", pid, "years", str(y), "utilisation", "p50", kind="pct"),
                                   F.plan("platforms", pid, "years", str(y), "idle_accelerators",
                                          *_centre_key(plan["platforms"][pid]["years"][str(y)]["idle_accelerators"]))
                                   if idle else None) for pid in plan["platforms"]]} for y in years]
    chart = charts.band_lines(years, series, "utilisation of built accelerators (%)", line_label="median",
                              percent=True, kind="utilisation", width=SMALL)
    return {"chart": Markup(chart), "rows": rows, "idle": idle}


def _centre_key(band: Any) -> tuple[str, ...]:
    if not isinstance(band, dict):
        return ()
    return ("provisioned",) if band.get("provisioned") is not None else ("p50",)


def _training_entries(plan: dict[str, Any], best: str) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    if isinstance(plan.get("training"), list):
        return ("training",), plan["training"]
    runs = plan["platforms"][best].get("training")
    return (("platforms", best, "training"), runs) if isinstance(runs, list) else ((), [])


def as_year(value: Any, year: int) -> float:
    """A run's start as a fractional calendar year: an ISO date, a year ("2028"), or a day of ``year``."""
    if isinstance(value, str):
        if len(value) == 4 and value.isdigit():
            return float(value)
        d = date.fromisoformat(value[:10])
        return d.year + (d.timetuple().tm_yday - 1) / 365.0
    v = float(value or 0.0)
    return v if v >= 1000 else year + v / 365.0


def training(plan: dict[str, Any], best: str, years: list[int], F: Facts) -> dict[str, Any] | None:
    """Training runs on the calendar: their duration, size, and build-or-burst with both costs."""
    prefix, runs = _training_entries(plan, best)
    if not runs:
        return None
    rows, bars = [], []
    for i, r in enumerate(runs):
        at = (*prefix, i)
        run_years = [int(y) for y in (r.get("years") or [r["year"]])]
        offset = as_year(r.get("start"), run_years[0]) - run_years[0]
        for y in run_years:
            bars.append((f"{r['workload']} ({y})", y + offset, y + offset + float(r["days"]) / 365.0, r["mode"]))
        rows.append({"workload": r["workload"], "years": ", ".join(map(str, run_years)),
                     "mode": MODES.get(r["mode"], r["mode"]),
                     "days": F.plan(*at, "days", kind="days"), "accelerators": F.plan(*at, "accelerators"),
                     "build": F.plan(*at, "build_cost_usd", kind="money") if r.get("build_cost_usd") is not None
                     else "n/a",
                     "burst": F.plan(*at, "burst_cost_usd", kind="money") if r.get("burst_cost_usd") is not None
                     else "n/a", "reason": r.get("reason", "")})
    modes = {m: MODES.get(m, m) for m in dict.fromkeys(r["mode"] for r in runs)}
    return {"rows": rows, "chart": Markup(charts.timeline(bars, years, modes, "training runs"))}


def pareto(plan: dict[str, Any], F: Facts) -> list[dict[str, Any]]:
    """Per LLM workload, each platform's throughput-per-accelerator against tokens/s per user."""
    data = plan.get("pareto") or {}
    out = []
    for wl in plan["workloads"]:
        have = [pid for pid in plan["platforms"] if wl in data.get(pid, {}) and data[pid][wl].get("points")]
        if not have:
            continue
        curves = {plan["platforms"][pid]["name"]: (
            [pt["tokens_per_s_per_user"] for pt in data[pid][wl]["points"]],
            [pt["output_tokens_per_s_per_accelerator"] for pt in data[pid][wl]["points"]]) for pid in have}
        target = data[have[0]][wl].get("target_tokens_per_s_per_user")
        chart = charts.pareto(curves, target, "output tokens/s per user", "output tokens/s per accelerator",
                              f"{wl}: throughput against interactivity", SMALL)
        out.append({"workload": wl, "chart": Markup(chart), "model": plan["workloads"][wl].get("model", ""),
                    "target": F.plan("pareto", have[0], wl, "target_tokens_per_s_per_user", kind="sig")
                    if target else None})
    return out


def tornado(plan: dict[str, Any], F: Facts) -> list[dict[str, Any]]:
    """Per platform, the one-at-a-time P10/P90 swing of each uncertain input on the final count, widest
    first (the engine's ``tornado``: each row's result with the input low and high, and the base result
    with every input at its median)."""
    out = []
    for pid, rows in (plan.get("tornado") or {}).items():
        if pid not in plan["platforms"] or not rows:
            continue
        result = str(rows[0].get("result") or f"{plan['platforms'][pid]['domain_name']}s")
        moving = [r for r in rows if r["low_result"] != r["base_result"] or r["high_result"] != r["base_result"]]
        chart = charts.tornado([(r["input"], r["low_result"], r["high_result"]) for r in moving],
                               float(rows[0]["base_result"]), result, f"{pid}: what drives the count", SMALL)
        table = [{"input": r["input"], "unit": r.get("unit", ""),
                  **{k: F.plan("tornado", pid, i, k, kind="sig")
                     for k in ("low_value", "high_value", "low_result", "high_result")},
                  "low_tco": F.plan("tornado", pid, i, "low_tco_usd", kind="money")
                  if r.get("low_tco_usd") is not None else "n/a",
                  "high_tco": F.plan("tornado", pid, i, "high_tco_usd", kind="money")
                  if r.get("high_tco_usd") is not None else "n/a"} for i, r in enumerate(rows)]
        out.append({"pid": pid, "name": plan["platforms"][pid]["name"], "chart": Markup(chart), "rows": table,
                    "result": result, "base": F.plan("tornado", pid, 0, "base_result", kind="sig")})
    return out


def power_sensitivity(plan: dict[str, Any], F: Facts) -> list[dict[str, Any]]:
    """Per platform whose power per domain is a catalog range (the engine's ``power_sensitivity``): the
    final-year facility MW and $ per million tokens with that power pinned at each end of the range, one
    at a time, beside the plan's own figures."""
    out = []
    for pid, p in plan["platforms"].items():
        s = p.get("power_sensitivity")
        if not isinstance(s, dict):
            continue
        at = ("platforms", pid, "power_sensitivity")
        figures = {name: {end: F.plan(*at, figure, end, kind=kind) if s[figure].get(end) is not None else "n/a"
                          for end in ("low", "plan", "high")}
                   for name, figure, kind in (("mw", "facility_power_mw", "mw"),
                                              ("usd", "usd_per_million_tokens", "usd"))}
        out.append({"pid": pid, "name": p["name"], "unit": p["domain_name"], "kind": s.get("kind", ""),
                    "year": s.get("year", ""), "basis": s.get("basis", ""),
                    "low_kw": F.plan(*at, "low_kw", kind="sig"), "high_kw": F.plan(*at, "high_kw", kind="sig"),
                    **figures})
    return out


def serving_stacks(plan: dict[str, Any]) -> list[dict[str, str]]:
    """The serving software each platform was sized with (``software_generation``), where the plan names it,
    with its stack id and basis (measured or assumption) where the plan carries the label."""
    return [{"name": p["name"], "software": (f"{p['stack']['software']} ({p['stack']['basis']}): " if p.get("stack")
                                             else "") + str(p["software_generation"])}
            for p in plan["platforms"].values() if p.get("software_generation")]
