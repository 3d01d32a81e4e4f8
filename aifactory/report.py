"""The sizing report: one self-contained HTML page (inline CSS and SVG, no network) from the plan.

Every number on the page is printed through :class:`Facts`, as a span carrying the figure's key
(``plan:platforms.trn3.years.2031.domains.provisioned``, ``calibration:mape_all``,
``inventory:resource_count``) and its exact value. A test resolves each key against the engine's own
output and checks the page shows exactly that figure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from aifactory import charts

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
HEADLINE = ("domains", "accelerators", "instances", "facility_power_mw", "it_power_kw", "hbm_provisioned_tb",
            "hbm_required_tb", "cost_usd", "usd_per_million_tokens", "joules_per_token")
LABELS = {
    "domains": "scale-up domains (UltraServers or NVL72 racks)", "accelerators": "accelerators",
    "instances": "instances", "facility_power_mw": "facility power (MW)", "it_power_kw": "IT power (MW)",
    "hbm_provisioned_tb": "HBM provisioned (TB)", "hbm_required_tb": "HBM required (TB)",
    "cost_usd": "annual cost (amortised capex + energy, or cloud price)",
    "usd_per_million_tokens": "$ per million tokens", "joules_per_token": "energy per token (J)",
}


def fmt(value: float | None, kind: str) -> str:
    """How a figure of a kind is printed (the test uses the same function)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "mw":
        return f"{value:,.1f}"
    if kind == "kw_as_mw":
        return f"{value / 1e3:,.1f}"
    if kind == "musd":
        return f"${value / 1e6:,.1f}M"
    if kind == "usd":
        return f"${value:,.2f}"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "ms":
        return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    if kind == "j":
        return f"{value:,.2f}"
    if kind == "sig":
        return f"{value:,.4g}"
    return f"{value:,.0f}"


@dataclass
class Facts:
    """Every number the page prints, by key."""

    values: dict[str, Any] = field(default_factory=dict)

    def __call__(self, key: str, value: Any, kind: str = "int") -> Markup:
        self.values[key] = value
        text = fmt(value, kind)
        return Markup(f'<span class="num" data-key="{escape(key)}" data-kind="{kind}" '
                      f'data-value="{escape(repr(value))}">{escape(text)}</span>')


def _get(doc: Any, path: str) -> Any:
    for part in path.split("."):
        doc = doc[part]
    return doc


def recommend(plan: dict[str, Any]) -> tuple[str, list[str]]:
    """The recommended platform (``sizing.recommendation``'s answer, carried in the plan as
    ``recommendation``) and the final-year figure this page shows beside it."""
    best = plan["recommendation"]["platform"]
    final = str(plan["forecast"]["years"][-1])
    per_tok = plan["platforms"][best]["years"][final]["usd_per_million_tokens"]["provisioned"]
    return best, ["usd_per_million_tokens" if per_tok is not None else "facility_power_mw"]


def build_context(plan: dict[str, Any], forecast: Any, calibration: dict[str, Any] | None,
                  inventory: dict[str, Any] | None) -> tuple[dict[str, Any], Facts]:
    facts = Facts()
    years = [int(y) for y in plan["forecast"]["years"]]
    final = str(years[-1])
    pids = list(plan["platforms"])
    best, basis = recommend(plan)

    def pk(pid: str, year: str, figure: str, q: str = "provisioned") -> str:
        return f"plan:platforms.{pid}.years.{year}.{figure}.{q}"

    def val(key: str) -> Any:
        return _get(plan, key.split(":", 1)[1])

    def f(key: str, kind: str = "int") -> Markup:
        return facts(key, val(key), kind)

    kinds = {"domains": "int", "accelerators": "int", "instances": "int", "facility_power_mw": "mw",
             "it_power_kw": "kw_as_mw", "hbm_provisioned_tb": "int", "hbm_required_tb": "int", "cost_usd": "musd",
             "usd_per_million_tokens": "usd", "joules_per_token": "j", "energy_mwh": "int", "added_domains": "int",
             "accelerators_required": "int", "capex_usd": "musd"}

    side_by_side = []
    for figure in HEADLINE:
        side_by_side.append({"figure": LABELS[figure], "cells": [
            {"value": f(pk(pid, final, figure), kinds[figure]),
             "band": (f(pk(pid, final, figure, "p10"), kinds[figure]), f(pk(pid, final, figure, "p90"), kinds[figure]))}
            for pid in pids]})

    buildout_rows: list[dict[str, Any]] = []
    buildout_series: dict[str, dict[str, Sequence[float]]] = {}
    power_series: dict[str, dict[str, Sequence[float]]] = {}
    for pid in pids:
        p = plan["platforms"][pid]
        rows = []
        for y in map(str, years):
            rows.append({"year": y, "domains": f(pk(pid, y, "domains"), "int"),
                         "added": f(pk(pid, y, "added_domains"), "int"),
                         "accelerators": f(pk(pid, y, "accelerators"), "int"),
                         "req_p10": f(pk(pid, y, "accelerators_required", "p10"), "int"),
                         "req_p90": f(pk(pid, y, "accelerators_required", "p90"), "int"),
                         "it_mw": f(pk(pid, y, "it_power_kw"), "kw_as_mw"),
                         "facility_mw": f(pk(pid, y, "facility_power_mw"), "mw"),
                         "mw_p10": f(pk(pid, y, "facility_power_mw", "p10"), "mw"),
                         "mw_p90": f(pk(pid, y, "facility_power_mw", "p90"), "mw"),
                         "hbm_req": f(pk(pid, y, "hbm_required_tb"), "int"),
                         "hbm_prov": f(pk(pid, y, "hbm_provisioned_tb"), "int"),
                         "energy": f(pk(pid, y, "energy_mwh"), "int"),
                         "jpt": f(pk(pid, y, "joules_per_token"), "j"),
                         "cost": f(pk(pid, y, "cost_usd"), "musd"),
                         "per_mtok": f(pk(pid, y, "usd_per_million_tokens"), "usd"),
                         "cap_met": p["years"][y]["power_cap_met"]})
        buildout_rows.append({"pid": pid, "name": p["name"], "domain_name": p["domain_name"], "rows": rows})
        ys = [p["years"][str(y)] for y in years]
        buildout_series[f"{pid} ({p['domain_name']}s)"] = {
            "provisioned": [y["domains"]["provisioned"] or 0 for y in ys],
            "added": [y["added_domains"]["provisioned"] or 0 for y in ys],
            "p10": [y["domains"]["p10"] or 0 for y in ys], "p90": [y["domains"]["p90"] or 0 for y in ys]}
        power_series[pid] = {"provisioned": [y["facility_power_mw"]["provisioned"] or 0 for y in ys],
                             "p10": [y["facility_power_mw"]["p10"] or 0 for y in ys],
                             "p90": [y["facility_power_mw"]["p90"] or 0 for y in ys]}

    # demand by application and placement (accelerators at P50 on the recommended platform: one unit for all kinds)
    wl = plan["workloads"]
    bp = plan["platforms"][best]["workloads"]
    by_app: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(years))
    placement_rows = []
    for name, w in wl.items():
        for i, year in enumerate(years):
            by_app[w["application"]][i] += bp[name]["years"][str(year)]["accelerators"]["p50"] or 0.0
    for placement in ("cloud", "hybrid", "edge"):
        names = [n for n, w in wl.items() if w["placement"] == placement]
        placement_rows.append({"placement": placement, "workloads": [
            {"name": n, "application": wl[n]["application"],
             "acc": f(f"plan:platforms.{best}.workloads.{n}.years.{final}.accelerators.p50", "int")} for n in names]})

    workload_tables = []
    for pid in pids:
        rows = []
        for name, w in wl.items():
            d = plan["platforms"][pid]["workloads"][name]["years"][final]
            base = f"plan:platforms.{pid}.workloads.{name}.years.{final}"
            row = {"name": name, "kind": w["kind"], "application": w["application"], "placement": w["placement"],
                   "serving": (w.get("serving") or {}).get("target", "factory") if w["kind"] == "llm_inference"
                   else ("training" if w["kind"] == "training" else "factory"),
                   "acc_p50": f(f"{base}.accelerators.p50", "int"),
                   "acc_prov": f(f"{base}.accelerators.provisioned", "int"), "bound": d.get("bound") or "",
                   "replica": f(f"{base}.replica_accelerators", "int") if d.get("replica_accelerators") else "",
                   "batch": f(f"{base}.batch", "int") if d.get("batch") else ""}
            if w["kind"] == "llm_inference" and d.get("tpot_ms") is not None:
                row["ttft"] = f(f"{base}.ttft_ms", "ms")
                row["tpot"] = f(f"{base}.tpot_ms", "ms")
                row["ttft_target"] = f(f"plan:workloads.{name}.ttft_ms", "ms") if w.get("ttft_ms") else "none"
                row["tpot_target"] = f(f"plan:workloads.{name}.tpot_ms", "ms") if w.get("tpot_ms") else "none"
            elif w["kind"] == "diffusion_inference" and d.get("item_latency_s") is not None:
                row["latency"] = facts(f"{base}.item_latency_s", d["item_latency_s"], "sig")
            rows.append(row)
        workload_tables.append({"pid": pid, "name": plan["platforms"][pid]["name"], "rows": rows})

    catalog_tables = []
    for pid in pids:
        cat = plan["platforms"][pid]["catalog"]
        rows = []
        for figure, d in cat.items():
            if figure == "sources" or not isinstance(d, dict):
                continue
            key = f"plan:platforms.{pid}.catalog.{figure}"
            if "low" in d:
                shown = Markup(f"{f(key + '.low', 'sig')} to {f(key + '.high', 'sig')}")
            elif d.get("value") is not None:
                shown = f(key + ".value", "sig")
            else:
                shown = Markup("not published")
            rows.append({"figure": figure, "value": shown, "kind": d.get("kind", ""), "source": d.get("source", ""),
                         "note": d.get("note", "")})
        catalog_tables.append({"pid": pid, "name": plan["platforms"][pid]["name"], "rows": rows,
                               "sources": cat.get("sources", {}), "notes": plan["platforms"][pid]["notes"],
                               "software": plan["platforms"][pid]["software_generation"],
                               "basis": plan["platforms"][pid]["calibration_basis"]})

    cal: dict[str, Any] | None = None
    if calibration is not None:
        cal = {k: facts(f"calibration:{k}", calibration[k], "pct")
               for k in ("mape_all", "mape_fitted", "mape_held_out", "worst")}
        cal["rows"] = facts("calibration:rows", calibration["rows"], "int")
        cal["inside"] = facts("calibration:inside_p10_p90", calibration["inside_p10_p90"], "int")
        cal["per_platform"] = [(p, facts(f"calibration:per_platform.{p}", v, "pct"))
                               for p, v in calibration["per_platform"].items()]
    inv: dict[str, Any] | None = None
    if inventory is not None:
        inv = {"count": facts("inventory:resource_count", inventory["resource_count"], "int"),
               "platform": inventory["platform"], "year": inventory["year"],
               "by_component": [(c, facts(f"inventory:by_component.{c}", n, "int"))
                                for c, n in inventory["by_component"].items()],
               "by_type": [(t, facts(f"inventory:by_type.{t}", n, "int")) for t, n in inventory["by_type"].items()],
               "violations": inventory.get("violations", [])}

    fc = plan["forecast"]
    final_best = plan["platforms"][best]["years"][final]
    context = {
        "plan": plan, "forecast_name": fc["name"], "site": fc["site"], "years": years, "final": final,
        "pids": pids, "platforms": plan["platforms"], "best": best, "basis": basis,
        "best_figures": {k: f(pk(best, final, k), kinds[k]) for k in HEADLINE},
        "best_cap_met": final_best["power_cap_met"],
        "cap": facts("plan:forecast.site.power_cap_mw", fc["site"]["power_cap_mw"], "mw")
        if fc["site"]["power_cap_mw"] else None,
        "pue": facts("plan:forecast.site.pue", fc["site"]["pue"], "sig"),
        "electricity": facts("plan:forecast.site.electricity_usd_per_mwh", fc["site"]["electricity_usd_per_mwh"],
                             "usd"),
        "percentile": facts("plan:forecast.provision_percentile", fc["provision_percentile"], "int"),
        "headroom": facts("plan:forecast.headroom", fc["headroom"], "pct"),
        "samples": facts("plan:monte_carlo.samples", plan["monte_carlo"]["samples"], "int"),
        "seed": facts("plan:monte_carlo.seed", plan["monte_carlo"]["seed"], "int"),
        "configurations": facts("plan:monte_carlo.configurations_evaluated",
                                plan["monte_carlo"]["configurations_evaluated"], "int"),
        "alternatives": [{"pid": pid, "name": plan["platforms"][pid]["name"],
                          "figure": f(pk(pid, final, basis[0]), kinds[basis[0]]),
                          "mw": f(pk(pid, final, "facility_power_mw"), "mw"),
                          "cap_met": plan["platforms"][pid]["years"][final]["power_cap_met"]} for pid in pids],
        "side_by_side": side_by_side, "buildout": buildout_rows, "placement_rows": placement_rows,
        "workload_tables": workload_tables, "catalog_tables": catalog_tables, "calibration": cal,
        "inventory": inv, "edge": plan["edge_workloads"],
        "chart_buildout": Markup(charts.buildout(years, buildout_series, "scale-up domains")),
        "chart_power": Markup(charts.lines(years, power_series, "facility MW", fc["site"]["power_cap_mw"])),
        "chart_demand": Markup(charts.stacked(years, dict(by_app), f"accelerators on {best} (P50)")),
        "version": plan["tool"]["version"], "catalog_version": plan["tool"]["catalog_version"],
    }
    return context, facts


def render(plan: dict[str, Any], forecast: Any, calibration: dict[str, Any] | None = None,
           inventory: dict[str, Any] | None = None) -> tuple[str, Facts]:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             autoescape=True)
    context, facts = build_context(plan, forecast, calibration, inventory)
    return env.get_template("report.html.j2").render(**context), facts


def calibration_summary() -> dict[str, Any]:
    """The engine's calibration error, exactly as benchmarks/accuracy.py reports it."""
    from sizing.calibration import DEFAULT_DIR
    from sizing.fitting import accuracy

    return accuracy(DEFAULT_DIR)[1]


def inventory_summary(forecast: Any, plan: dict[str, Any], forecast_path: str, platform: str) -> dict[str, Any]:
    """The offline plan's resources by component and type (the Pulumi program under mocks), built from
    the very plan the report shows."""
    from infra.offline import run_offline
    from infra.settings import PROJECT, parse_settings

    settings = parse_settings({f"{PROJECT}:forecast": forecast_path, "aws:region": forecast.site.region,
                               f"{PROJECT}:platform": platform}, "report")
    m = run_offline(settings, sized=(forecast, plan))
    return {"platform": platform, "year": m.blueprint.build_year, "domains_planned": m.blueprint.domains_planned,
            "resource_count": len(m.custom()),
            "by_component": dict(sorted(m.by_component().items())),
            "by_type": dict(sorted(m.by_type().items(), key=lambda kv: (-kv[1], kv[0]))),
            "violations": [str(v) for v in m.check().violations]}
