"""The report's appendix as template context: year-by-year tables, platforms side by side, demand by
placement, workloads, catalog constants with sources, calibration error and the offline inventory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from aifactory.report_sections import KINDS, LABELS

if TYPE_CHECKING:
    from aifactory.report import Facts

SIDE_BY_SIDE = ("domains", "accelerators", "facility_power_mw", "it_power_kw", "hbm_provisioned_tb",
                "hbm_required_tb", "cost_usd", "usd_per_million_tokens", "joules_per_token")
YEAR_COLUMNS = ("domains", "added_domains", "accelerators", "it_power_kw", "facility_power_mw", "hbm_required_tb",
                "hbm_provisioned_tb", "energy_mwh", "joules_per_token", "cost_usd", "usd_per_million_tokens")


def appendix_context(plan: dict[str, Any], best: str, F: Facts, calibration: dict[str, Any] | None,
                     inventory: dict[str, Any] | None) -> dict[str, Any]:
    final = str(plan["forecast"]["years"][-1])
    return {"side_by_side": side_by_side(plan, final, F), "year_tables": year_tables(plan, F),
            "placement_rows": placements(plan, best, final, F), "workload_tables": workload_tables(plan, final, F),
            "catalog_tables": catalog_tables(plan, F), "calibration": calibration_facts(calibration, F),
            "inventory": inventory_facts(inventory, F), "edge": plan["edge_workloads"],
            "pue": F.plan("forecast", "site", "pue", kind="sig"),
            "electricity": F.plan("forecast", "site", "electricity_usd_per_mwh", kind="usd"),
            "configurations": F.plan("monte_carlo", "configurations_evaluated")}


def side_by_side(plan: dict[str, Any], final: str, F: Facts) -> list[dict[str, Any]]:
    return [{"figure": LABELS[figure], "cells": [F.band("platforms", pid, "years", final, figure, kind=KINDS[figure])
                                                 for pid in plan["platforms"]]} for figure in SIDE_BY_SIDE]


def year_tables(plan: dict[str, Any], F: Facts) -> list[dict[str, Any]]:
    """Per platform, a row per year: what is built, needed, drawn and what it costs."""
    out = []
    for pid, p in plan["platforms"].items():
        rows = []
        for y, doc in p["years"].items():
            at = ("platforms", pid, "years", y)
            rows.append({"year": y, "cap_met": doc["power_cap_met"],
                         "cells": [F.plan(*at, c, "provisioned", kind=KINDS[c]) for c in YEAR_COLUMNS],
                         "required": (F.plan(*at, "accelerators_required", "p10"),
                                      F.plan(*at, "accelerators_required", "p90"))})
        out.append({"pid": pid, "name": p["name"], "domain_name": p["domain_name"], "rows": rows})
    return out


def placements(plan: dict[str, Any], best: str, final: str, F: Facts) -> list[dict[str, Any]]:
    wl = plan["workloads"]
    return [{"placement": placement, "workloads": [
        {"name": n, "application": wl[n]["application"],
         "acc": F.plan("platforms", best, "workloads", n, "years", final, "accelerators", "p50")}
        for n, w in wl.items() if w["placement"] == placement]} for placement in ("cloud", "hybrid", "edge")]


def _serving(w: dict[str, Any]) -> str:
    if w["kind"] == "training":
        return "training"
    return str((w.get("serving") or {}).get("target", "factory")) if w["kind"] == "llm_inference" else "factory"


def workload_row(plan: dict[str, Any], pid: str, name: str, final: str, F: Facts) -> dict[str, Any]:
    w = plan["workloads"][name]
    d = plan["platforms"][pid]["workloads"][name]["years"][final]
    at = ("platforms", pid, "workloads", name, "years", final)
    row: dict[str, Any] = {
        "name": name, "kind": w["kind"], "application": w["application"], "placement": w["placement"],
        "serving": _serving(w), "acc_p50": F.plan(*at, "accelerators", "p50"),
        "acc_prov": F.plan(*at, "accelerators", "provisioned"), "bound": d.get("bound") or "",
        "replica": F.plan(*at, "replica_accelerators") if d.get("replica_accelerators") else "",
        "batch": F.plan(*at, "batch") if d.get("batch") else "", "latency": ""}
    if w["kind"] == "llm_inference" and d.get("tpot_ms") is not None:
        ttft_t = F.plan("workloads", name, "ttft_ms", kind="ms") if w.get("ttft_ms") else "none"
        tpot_t = F.plan("workloads", name, "tpot_ms", kind="ms") if w.get("tpot_ms") else "none"
        row["latency"] = Markup(f"{F.plan(*at, 'ttft_ms', kind='ms')} ({ttft_t}) / "
                                f"{F.plan(*at, 'tpot_ms', kind='ms')} ({tpot_t})")
    elif w["kind"] == "diffusion_inference" and d.get("item_latency_s") is not None:
        row["latency"] = Markup(f"{F.plan(*at, 'item_latency_s', kind='sig')} s per item")
    return row


def workload_tables(plan: dict[str, Any], final: str, F: Facts) -> list[dict[str, Any]]:
    return [{"pid": pid, "name": p["name"], "rows": [workload_row(plan, pid, n, final, F) for n in plan["workloads"]]}
            for pid, p in plan["platforms"].items()]


def catalog_tables(plan: dict[str, Any], F: Facts) -> list[dict[str, Any]]:
    """Every catalog figure the plan used, with its kind (measured, claim, assumption...) and source."""
    out = []
    for pid, p in plan["platforms"].items():
        rows = []
        for figure, d in p["catalog"].items():
            if figure == "sources" or not isinstance(d, dict):
                continue
            at = ("platforms", pid, "catalog", figure)
            if "low" in d:
                shown = Markup(f"{F.plan(*at, 'low', kind='sig')} to {F.plan(*at, 'high', kind='sig')}")
            elif d.get("value") is not None:
                shown = F.plan(*at, "value", kind="sig")
            else:
                shown = Markup("not published")
            rows.append({"figure": figure, "value": shown, "kind": d.get("kind", ""),
                         "source": d.get("source", ""), "note": d.get("note", "")})
        out.append({"pid": pid, "name": p["name"], "rows": rows, "sources": p["catalog"].get("sources", {}),
                    "notes": p["notes"], "software": p["software_generation"], "basis": p["calibration_basis"]})
    return out


def calibration_facts(calibration: dict[str, Any] | None, F: Facts) -> dict[str, Any] | None:
    if calibration is None:
        return None
    cal: dict[str, Any] = {k: F("calibration", k, kind="pct")
                           for k in ("mape_all", "mape_fitted", "mape_held_out", "worst")}
    cal["rows"] = F("calibration", "rows")
    cal["inside"] = F("calibration", "inside_p10_p90")
    cal["per_platform"] = [(p, F("calibration", "per_platform", p, kind="pct")) for p in calibration["per_platform"]]
    return cal


def inventory_facts(inventory: dict[str, Any] | None, F: Facts) -> dict[str, Any] | None:
    if inventory is None:
        return None
    return {"count": F("inventory", "resource_count"), "platform": inventory["platform"], "year": inventory["year"],
            "by_component": [(c, F("inventory", "by_component", c)) for c in inventory["by_component"]],
            "by_type": [(t, F("inventory", "by_type", t)) for t in inventory["by_type"]],
            "violations": inventory.get("violations", [])}
