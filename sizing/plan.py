"""The sizing plan: the engine's figures as one JSON-ready document, the only input of infra/.

Shape: ``{"platforms": {ID: {"years": {"2027": {FIGURE: {"p10", "p50", "p90", "provisioned"}}}}}}``
plus per-workload breakdowns, edge workloads, the catalog figures used with their sources, and
the run's settings. Floats are rounded to 6 significant digits, keys are sorted on output, so the
same forecast and seed give byte-identical JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from sizing import __version__
from sizing.budget import BANDS, HORIZON_FIGURES, Budget, bands, budget, percentiles
from sizing.burst import burst_price
from sizing.catalog import Catalog, load_catalog
from sizing.engine import Sizing, size
from sizing.errors import InputError
from sizing.forecast import DiffusionWorkload, Forecast, LlmWorkload, TrainingWorkload
from sizing.llm import BOUNDS
from sizing.pareto import pareto
from sizing.recommendation import cheaper_share, recommend
from sizing.stacks import other_stacks, stack_label
from sizing.tornado import tornado

FIGURES = (
    "accelerators", "accelerators_required", "domains", "added_domains", "instances",
    "hbm_required_tb", "hbm_provisioned_tb", "it_power_kw", "facility_power_mw", "energy_mwh",
    "capex_usd", "cumulative_capex_usd", "opex_usd", "cost_usd", "usd_per_million_tokens", "joules_per_token",
    "tokens_per_year", "utilisation", "idle_accelerators",
)
CATALOG_FIGURES = (
    "hbm_gib", "hbm_tb_per_s", "scaleup_tb_per_s", "efa_gbit_per_s_per_instance",
    "domain_it_power_kw", "domain_capex_usd", "accelerator_hour_usd",
)


def num(x: Any) -> float | None:
    """A JSON number rounded to 6 significant digits; None for NaN/inf (unknown)."""
    v = float(x)
    if not math.isfinite(v):
        return None
    return float(f"{v:.6g}")


def make_plan(forecast: Forecast, platforms: list[str] | None = None, samples: int | None = None,
              seed: int | None = None, catalog: Catalog | None = None,
              progress: Callable[[float], None] | None = None, analyses: bool = True) -> dict[str, Any]:
    """Size the forecast and return the plan document. ``analyses=False`` skips the what-if analyses a
    deployment blueprint does not use (tornado, Pareto, the Trainium stack alternatives); the
    break-even is computed either way."""
    catalog = catalog or load_catalog()
    pids = list(platforms or forecast.platforms)
    for i, p in enumerate(pids):
        catalog.platform(p, source="command line", path=f"--platform[{i}]")
    if len(set(pids)) != len(pids):
        raise InputError("command line", "--platform", "a platform is given twice")
    n = forecast.samples if samples is None else samples
    if n < 1:
        raise InputError("command line", "--samples", f"must be at least 1, got {n}")
    s = forecast.seed if seed is None else seed
    if s < 0:
        raise InputError("command line", "--seed", f"must be 0 or more, got {s}")
    sz = size(forecast, catalog, pids, n, s, progress)
    bud = budget(sz, catalog)
    plan = assemble(sz, bud, catalog)
    plan["monte_carlo"]["seed"] = s
    from sizing.breakeven import annotate  # here, not on top: breakeven uses this module's num()
    targets = annotate(plan, sz, catalog, bud, s)  # platforms.<id>.power_sensitivity and .break_even
    if analyses:
        plan["tornado"] = {pid: tornado(forecast, catalog, pid, bud.training.build[:, j]) for j, pid in enumerate(pids)}
        plan["pareto"] = pareto(forecast, catalog, pids)
        for j, pid in enumerate(pids):
            if other_stacks(catalog, pid, sz.software[j]):
                plan["platforms"][pid]["alternatives"] = alternatives(sz, catalog, s, j, targets)
        plan["recommendation"] = recommend(plan, plan["recommendation"]["cheaper_share"])
    return plan


def alternatives(sz: Sizing, catalog: Catalog, seed: int, j: int,
                 targets: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """Platform ``j`` sized alone under each other stack of its family (one ``size`` and one ``budget``
    per stack, the plan's samples and seed: the engine draws each platform from its own stream, so
    its figures are what the plan would show with that stack), with its break-even under that stack
    (``targets``: the plan's factor-1 break-even figures, :func:`sizing.breakeven.plan_targets`):
    ``{stack: {stack label..., "years", "horizon", "break_even"}}``."""
    from sizing.breakeven import _numbers as numbers  # the plan's rounding of a nested document
    from sizing.breakeven import break_even

    pid, fc = sz.platform_ids[j], sz.forecast
    out: dict[str, Any] = {}
    for stack in other_stacks(catalog, pid, sz.software[j]):
        alt = size(fc, catalog, [pid], int(sz.scenario_of_sample.size), seed, software={pid: stack})
        bud = budget(alt, catalog)
        doc = {**stack_label(catalog, stack), "years": year_docs(bud, 0, fc.years), "horizon": horizon(bud, 0)}
        be = break_even(sz, catalog, seed, software={pid: stack}, targets=targets).get(pid)
        if be is not None:
            doc["break_even"] = numbers(be)
        out[stack] = doc
    return out


def assemble(sz: Sizing, bud: Budget, catalog: Catalog) -> dict[str, Any]:
    fc = sz.forecast
    years = fc.years
    plan: dict[str, Any] = {
        "tool": {"name": "sovereign-ai-factory", "version": __version__, "catalog_version": catalog.version},
        "forecast": {
            "name": fc.name,
            "file": fc.source,
            "site": {
                "name": fc.site.name, "region": fc.site.region, "pue": fc.site.pue,
                "power_cap_mw": fc.site.power_cap_mw, "electricity_usd_per_mwh": fc.site.electricity_usd_per_mwh,
            },
            "years": list(years),
            "provision_percentile": fc.provision_percentile,
            "headroom": fc.headroom,
        },
        "monte_carlo": {
            "samples": int(sz.scenario_of_sample.size),
            "seed": None,
            "catalog_scenarios": int(sz.scenarios.count),
            "configurations_evaluated": sz.configurations,
        },
        "platforms": {},
        "workloads": _workloads(fc),
        "edge_workloads": [w.name for w in fc.workloads if w.placement == "edge"],
    }
    band_cache = percentiles(bud.samples, list(BANDS))
    for j, pid in enumerate(sz.platform_ids):
        plat = catalog.platforms[pid]
        eff = catalog.efficiency_of(plat, sz.software[j])  # the stack this platform was sized with
        notes = []
        if not plat.instance_type_confirmed:
            notes.append(f"instance type {plat.instance_type} is a placeholder: no EC2 listing confirms it")
        if pid.startswith("trn3"):
            notes.append("Trn3 performance is derived from Trn2 calibration and published Trn3/Trn2 chip "
                         "ratios: no Trn3 measurement exists")
        if not np.isfinite(sz.scenarios.domain_capex_usd[j, 0]):
            if np.isfinite(sz.scenarios.accelerator_hour_usd[j, 0]):
                notes.append("cost is the cloud price per accelerator-hour (no capex figure in the catalog)")
            else:
                notes.append("no public price: cost figures are unknown (null)")
        plan["platforms"][pid] = {
            "name": plat.name,
            "accelerator": plat.accelerator,
            "domain_name": plat.domain_name,
            "accelerators_per_domain": plat.domain_accelerators,
            "accelerators_per_instance": plat.accelerators_per_instance,
            "instances_per_domain": plat.instances_per_domain,
            "instance_type": plat.instance_type,
            "instance_type_confirmed": plat.instance_type_confirmed,
            "calibration_basis": plat.calibration_basis,
            "software_generation": eff.software,
            "stack": stack_label(catalog, sz.software[j]),
            "notes": notes,
            "years": year_docs(bud, j, years, band_cache),
            "workloads": _workload_breakdown(sz, bud, j, years),
            "catalog": _catalog_used(catalog, pid, sz.software[j]),
            "horizon": horizon(bud, j),
            "training": _training_doc(sz, bud, catalog, j),
        }
    plan["recommendation"] = recommend(plan, cheaper_share(bud.horizon_samples["tco_usd"], sz.platform_ids))
    return plan


def year_docs(bud: Budget, j: int, years: tuple[int, ...],
              band_cache: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Platform ``j``'s figures per year: a band of every FIGURE and whether the power cap is met."""
    cache = band_cache or {name: bands(bud.samples[name]) for name in FIGURES}
    out: dict[str, Any] = {}
    for y_i, year in enumerate(years):
        doc: dict[str, Any] = {}
        for name in FIGURES:
            b = cache[name][y_i, j]
            doc[name] = {"p10": num(b[0]), "p50": num(b[1]), "p90": num(b[2]),
                         "provisioned": num(bud.provisioned[name][y_i, j])}
        doc["power_cap_met"] = bool(bud.power_cap_met[y_i, j])
        out[str(year)] = doc
    return out


def _band(samples: np.ndarray, provisioned: Any) -> dict[str, float | None]:
    b = bands(samples)
    return {"p10": num(b[0]), "p50": num(b[1]), "p90": num(b[2]), "provisioned": num(provisioned)}


def horizon(bud: Budget, j: int) -> dict[str, Any]:
    """Capex, opex and TCO summed over the horizon (bands over samples; provisioned capacity)."""
    return {name: _band(bud.horizon_samples[name][j], bud.horizon_provisioned[name][j]) for name in HORIZON_FIGURES}


def _training_doc(sz: Sizing, bud: Budget, catalog: Catalog, j: int) -> list[dict[str, Any]]:
    """Each training run on this platform: when, how long, how many accelerators, build or burst."""
    t = bud.training
    price = burst_price(catalog, sz.platform_ids[j])
    runs = {w.name: w for w in sz.forecast.of_kind("training")}
    out = []
    for r, name in enumerate(t.names):
        w = runs[name]
        build, b_cost, r_cost = bool(t.build[r, j]), t.build_cost_usd[r, j], t.burst_cost_usd[r, j]
        if not np.isfinite(r_cost):
            reason = "no burst price for this platform: the factory builds for the run"
        elif build:
            reason = "building costs less over the horizon than renting burst capacity for the run's days"
        else:
            reason = "renting burst capacity for the run's days costs less than building racks that then stand idle"
        out.append({
            "workload": name, "year": w.years[0] if w.years else None, "years": list(w.years),
            "start": str(w.years[0]) if w.years else None, "days": w.deadline_days,
            "accelerators": num(t.accelerators[r, j]),
            "accelerator_hours": num(t.accelerators[r, j] * w.deadline_days * 24.0 * len(w.years)),
            "mode": "build" if build else "burst", "build_cost_usd": num(b_cost), "burst_cost_usd": num(r_cost),
            "burst_price_usd_per_accelerator_hour": price.as_dict() if price is not None else None,
            "reason": reason,
        })
    return out


def _workloads(fc: Forecast) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for w in fc.workloads:
        doc: dict[str, Any] = {"kind": w.kind, "application": w.application, "placement": w.placement,
                               "mean_to_peak": w.mean_to_peak}
        if isinstance(w, LlmWorkload):
            doc.update(model=w.model.name, precision=w.precision, input_tokens=w.input_tokens,
                       output_tokens=w.output_tokens, ttft_ms=w.ttft_ms, tpot_ms=w.tpot_ms,
                       disaggregated=w.disaggregated, demand_unit=w.demand.unit,
                       serving={"target": w.serving.target, "model_id": w.serving.model_id,
                                "model_units": w.serving.model_units, "commitment": w.serving.commitment},
                       demand_p50={str(y): num(v * w.demand.uncertainty.median_factor)
                                   for y, v in w.demand.per_year.items()})
        elif isinstance(w, DiffusionWorkload):
            doc.update(precision=w.precision, flops_per_item=num(w.flops_per_item), latency_s=w.latency_s,
                       demand_unit=w.demand.unit,
                       demand_p50={str(y): num(v * w.demand.uncertainty.median_factor)
                                   for y, v in w.demand.per_year.items()})
        elif isinstance(w, TrainingWorkload):
            doc.update(model=w.model.name, precision=w.precision, tokens_b=w.tokens_b, seq_len=w.seq_len,
                       deadline_days=w.deadline_days, years=list(w.years), demand_unit="billion_training_tokens",
                       demand_p50={str(y): num(w.tokens_b * w.uncertainty.median_factor if y in w.years else 0.0)
                                   for y in fc.years})
        out[w.name] = doc
    return out


def _workload_breakdown(sz: Sizing, bud: Budget, j: int, years: tuple[int, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    acc_bands = bands(sz.accelerators[:, :, j, :])  # (W, Y, 3)
    acc_prov = np.percentile(sz.accelerators[:, :, j, :], sz.forecast.provision_percentile, axis=-1)  # (W, Y)
    n_inf = sz.detail.batch.shape[0]
    for w_i, name in enumerate(sz.workload_names):
        per_year: dict[str, Any] = {}
        for y_i, year in enumerate(years):
            b = acc_bands[w_i, y_i]
            entry: dict[str, Any] = {"accelerators": {"p10": num(b[0]), "p50": num(b[1]), "p90": num(b[2]),
                                                      "provisioned": num(acc_prov[w_i, y_i])}}
            c = int(sz.nominal_choice[w_i, y_i, j])
            if w_i < n_inf and c >= 0:
                bound = int(sz.detail.bound[w_i, j, c])
                kind = sz.workload_kinds[w_i]
                entry.update(
                    replica_accelerators=num(sz.sizes[j, c]),
                    replicas=num(sz.nominal_replicas[w_i, y_i, j]),
                    batch=num(sz.detail.batch[w_i, j, c]),
                    ttft_ms=num(sz.detail.ttft_s[w_i, j, c] * 1e3) if kind == "llm_inference" else None,
                    tpot_ms=num(sz.detail.tpot_s[w_i, j, c] * 1e3),
                    item_latency_s=num(sz.detail.ttft_s[w_i, j, c]) if kind == "diffusion_inference" else None,
                    bound=BOUNDS[bound],
                    replica_memory_gib=num(sz.detail.memory_bytes[w_i, j, c] / 2**30),
                )
            per_year[str(year)] = entry
        doc: dict[str, Any] = {"years": per_year}
        if w_i >= n_inf:
            doc["accelerators_needed_nominal"] = num(sz.training_accelerators_nominal[w_i - n_inf, j])
        out[name] = doc
    return out


def _catalog_used(catalog: Catalog, pid: str, stack: str) -> dict[str, Any]:
    plat = catalog.platforms[pid]
    out: dict[str, Any] = {}
    for name in CATALOG_FIGURES:
        fig = plat.figure(name)
        out[name] = fig.as_dict() if fig is not None else {"kind": "unpublished", "value": None}
    for prec, fig in plat.dense_tflops.items():
        out[f"dense_tflops_{prec}"] = fig.as_dict() if fig is not None else {"kind": "unsupported", "value": None}
    eff = catalog.efficiency_of(plat, stack)
    for name, fig in eff.figures.items():
        out[f"efficiency_{name}"] = fig.as_dict()
    for key in ("domain_accelerators", "accelerators_per_instance"):
        f = plat.figure(key)
        if f is not None:
            out[key] = f.as_dict()
    out["sources"] = {k: v for k, v in catalog.sources.items()
                      if any(k in str(d.get("source", "")) for d in out.values() if isinstance(d, dict))}
    return out


def to_json(plan: dict[str, Any]) -> str:
    return json.dumps(plan, indent=2, sort_keys=True, allow_nan=False) + "\n"
