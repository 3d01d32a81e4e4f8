"""Resource bounds before sizing, and plan sanity after it: never a silent ``null``, never an absurd plan.

Bounds: the engine keeps a few (workloads x years x platforms x samples) arrays in memory, so the
product of the four is limited (MAX_CELLS, measured with ``benchmarks/bounds.py``) and refused beyond
with an error naming the field to lower, before anything is allocated.

Sanity: after sizing, every physical figure of the plan (accelerators, domains, instances, HBM, power,
energy, tokens) must be a finite number, a workload with positive demand must get accelerators, and no
count may exceed what any physical site could hold. A violation is an :class:`InputError` naming the
workload and the input that led to it, so the command exits 2 with one line instead of printing a plan
whose figures are ``null`` or zero.
"""

from __future__ import annotations

import math
from typing import Any

from sizing.errors import InputError
from sizing.forecast import Forecast

MAX_CELLS = 25_000_000  # workloads x years x platforms x samples: 2.6 GB peak measured (benchmarks/bounds.py)
MAX_WORKLOADS = 500
MAX_SITE_ACCELERATORS = 10_000_000  # ten times the largest cluster announced anywhere
MAX_SITE_FACILITY_MW = 20_000.0  # 20 GW: four times the largest campus announced anywhere
PHYSICAL = ("accelerators", "accelerators_required", "domains", "added_domains", "instances", "hbm_required_tb",
            "hbm_provisioned_tb", "it_power_kw", "facility_power_mw", "energy_mwh", "tokens_per_year")
PRICED = ("cost_usd",)  # capex is null by design where the catalog has only an hourly price


def check_bounds(forecast: Forecast, platforms: int, samples: int, samples_field: str) -> None:
    """Refuse a run whose arrays would not fit the stated memory bound (``samples_field`` names the flag or
    field that set the sample count, e.g. ``--samples`` or ``monte_carlo.samples``)."""
    workloads, years = len(forecast.workloads), len(forecast.years)
    if workloads > MAX_WORKLOADS:
        raise InputError(forecast.source, "workloads", f"{workloads} workloads; at most {MAX_WORKLOADS} per "
                         "forecast (split the forecast by site or programme)")
    cells = workloads * years * max(1, platforms) * samples
    if cells > MAX_CELLS:
        most = max(1, MAX_CELLS // max(1, workloads * years * max(1, platforms)))
        where = "command line" if samples_field.startswith("--") else forecast.source
        raise InputError(where, samples_field, f"{samples:,} samples x {workloads} workloads x {years} years x "
                         f"{platforms} platform(s) = {cells:,} cells; at most {MAX_CELLS:,} fit the memory bound: "
                         f"use at most {most:,} samples (or fewer workloads, years or platforms)")


def check_plan(plan: dict[str, Any], forecast: Forecast) -> None:
    """Raise :class:`InputError` for the first non-finite, zero-for-demand or impossible figure of ``plan``."""
    index = {w.name: i for i, w in enumerate(forecast.workloads)}
    demand = {name: doc.get("demand_p50") or {} for name, doc in plan["workloads"].items()}
    for pid, pdoc in plan["platforms"].items():
        priced = not any("cost figures are unknown" in n for n in pdoc.get("notes", []))
        for year, ydoc in pdoc["years"].items():
            for name in PHYSICAL + (PRICED if priced else ()):
                _site_figure(forecast, pdoc, pid, year, name, ydoc[name])
        for name, wdoc in pdoc["workloads"].items():
            for year, entry in wdoc["years"].items():
                band = entry["accelerators"]
                where = _workload_input(forecast, index[name])
                if any(v is None for v in band.values()):
                    raise InputError(forecast.source, where, f"'{name}' in {year} on {pid}: the accelerators it "
                                     "needs are not a finite number (an input too large or too small)")
                wanted = demand.get(name, {}).get(year)
                if wanted is not None and wanted > 0 and not band["provisioned"] > 0:
                    raise InputError(forecast.source, where, f"'{name}' in {year} on {pid}: positive demand "
                                     f"({wanted:g}) but 0 accelerators: an input is too small to size "
                                     "(e.g. flops_per_item or demand)")
                if band["provisioned"] > MAX_SITE_ACCELERATORS:
                    raise InputError(forecast.source, where, f"'{name}' in {year} on {pid} needs "
                                     f"{band['provisioned']:,.0f} accelerators; no site holds more than "
                                     f"{MAX_SITE_ACCELERATORS:,}: check the demand and token figures")


def _site_figure(forecast: Forecast, pdoc: dict[str, Any], pid: str, year: str, name: str,
                 band: dict[str, Any]) -> None:
    """One site-level figure of one year: finite, and within a physical site."""
    largest = _largest_workload(forecast, pdoc, year)
    where = _workload_input(forecast, largest[0]) if largest else "workloads"
    who = f" (largest workload: '{largest[1]}')" if largest else ""
    if any(v is None or not math.isfinite(v) for v in band.values()):
        raise InputError(forecast.source, where, f"{name} in {year} on {pid} is not a finite number{who}: "
                         "an input is too large or too small to size")
    if name == "accelerators" and band["provisioned"] > MAX_SITE_ACCELERATORS:
        raise InputError(forecast.source, where, f"{band['provisioned']:,.0f} accelerators in {year} on {pid}"
                         f"{who}; no site holds more than {MAX_SITE_ACCELERATORS:,}: check the demand figures")
    if name == "facility_power_mw" and band["provisioned"] > MAX_SITE_FACILITY_MW:
        raise InputError(forecast.source, where, f"{band['provisioned']:,.0f} MW in {year} on {pid}{who}; no "
                         f"site draws more than {MAX_SITE_FACILITY_MW:,.0f} MW: check the demand figures")


def _largest_workload(forecast: Forecast, pdoc: dict[str, Any], year: str) -> tuple[int, str] | None:
    """The workload with the most provisioned accelerators that year (None or NaN counts as the most)."""
    best: tuple[float, int, str] | None = None
    for i, w in enumerate(forecast.workloads):
        entry = pdoc["workloads"].get(w.name, {}).get("years", {}).get(year)
        if entry is None:
            continue
        value = entry["accelerators"]["provisioned"]
        score = math.inf if value is None or not math.isfinite(value) else value
        if best is None or score > best[0]:
            best = (score, i, w.name)
    return (best[1], best[2]) if best else None


def _workload_input(forecast: Forecast, i: int) -> str:
    """The field path of the workload's input that sets its size (its demand, or a training run's tokens)."""
    w = forecast.workloads[i]
    return f"workloads[{i}].{'demand' if hasattr(w, 'demand') else 'tokens_b'}"
