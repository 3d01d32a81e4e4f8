"""What drives the factory: one-at-a-time P10/P90 swings of each uncertain input.

The base case is deterministic: every workload at its median demand, the nominal catalog and a
calibration residual of 1. Each uncertain input is then moved, alone, to its P10 and its P90 and
the plan is recomputed: the final year's provisioned scale-up domains and the horizon TCO of one
platform. Inputs: each factory workload's demand (inference: its lognormal band for each year;
training: its token count), the calibration residual on serving throughput, and each catalog
range of the platform (HBM bandwidth and capacity, scale-up bandwidth, dense FLOP/s, domain IT
power, domain capex, cloud price, the facility's capex per MW). A catalog range is sampled
uniformly by the Monte Carlo, so its P10/P90 are 10% and 90% of the way from low to high.

All swings reuse the vectorised engine in two calls: demand and residual swings are workload
clones in one ``engine.size`` run (one sample, the nominal catalog; the residual divides
throughput exactly as demand multiplies it), with each performance range's P10 and P90 as extra
catalog scenarios of that same run (:func:`sizing.engine.stage1_at`); budget ranges (power, capex,
prices) are catalog scenarios of one ``budget`` call over all swings.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sizing.budget import budget
from sizing.catalog import GIB, Catalog, Figure, Scenarios, scenarios
from sizing.engine import Sizing, size, software_of, stage1_at
from sizing.forecast import Z90, DiffusionWorkload, Forecast, LlmWorkload, TrainingWorkload, Uncertainty

PERFORMANCE = {"hbm_tb_per_s": "TB/s", "hbm_gib": "GiB", "scaleup_tb_per_s": "TB/s"}
SCENARIO_FIELD = {"hbm_tb_per_s": ("hbm_bytes_per_s", 1e12), "hbm_gib": ("hbm_bytes", GIB),
                  "scaleup_tb_per_s": ("scaleup_bytes_per_s", 1e12)}  # as catalog.scenarios scales them
BUDGET = {"domain_it_power_kw": ("domain_power_w", 1e3, "kW per domain"),
          "domain_capex_usd": ("domain_capex_usd", 1.0, "USD per domain"),
          "accelerator_hour_usd": ("accelerator_hour_usd", 1.0, "USD per accelerator-hour")}


def _quantiles(fig: Figure) -> tuple[float, float]:
    return fig.low + 0.1 * (fig.high - fig.low), fig.low + 0.9 * (fig.high - fig.low)


def _fixed(u: Uncertainty) -> Uncertainty:
    return Uncertainty(sigma=0.0, sigma_per_year=0.0, median_factor=u.median_factor)


def _scaled(w: Any, factors: np.ndarray, name: str) -> Any:
    """A copy of an inference workload with its demand multiplied by ``factors`` (one per year)."""
    per_year = {y: v * f for (y, v), f in zip(sorted(w.demand.per_year.items()), factors, strict=True)}
    demand = dataclasses.replace(w.demand, per_year=per_year, uncertainty=_fixed(w.demand.uncertainty))
    return dataclasses.replace(w, name=name, demand=demand)


@dataclass(frozen=True)
class Swing:
    """One input moved to its P10 and P90: which workloads take which clone's accelerators."""

    input: str
    unit: str
    low: float
    high: float
    clones: dict[str, tuple[str, str]]  # workload -> (clone at low, clone at high)


def _training_clones(w: TrainingWorkload, base: TrainingWorkload) -> tuple[list[Any], Swing]:
    u = w.uncertainty
    lo, hi = (w.tokens_b * u.median_factor * math.exp(s * Z90 * u.sigma) for s in (-1, 1))
    names = (f"{w.name}@p10", f"{w.name}@p90")
    clones = [dataclasses.replace(base, name=n, tokens_b=t / u.median_factor)
              for n, t in zip(names, (lo, hi), strict=True)]
    return clones, Swing(f"demand: {w.name}", "billion tokens", lo, hi, {w.name: names})


def _clones(fc: Forecast, residual_sigma: float) -> tuple[Forecast, list[Swing]]:
    """The deterministic forecast (medians) plus low/high clones of each input, and the swings."""
    base: list[Any] = []
    extra: list[Any] = []
    swings: list[Swing] = []
    r_lo, r_hi = (math.exp(s * Z90 * residual_sigma - 0.5 * residual_sigma**2) for s in (-1, 1))
    residual: dict[str, tuple[str, str]] = {}
    for w in fc.workloads:
        if isinstance(w, TrainingWorkload):
            base.append(dataclasses.replace(w, uncertainty=_fixed(w.uncertainty)))
            if w.placement != "edge" and w.years:
                clones, swing = _training_clones(w, base[-1])
                extra += clones
                swings.append(swing)
            continue
        assert isinstance(w, LlmWorkload | DiffusionWorkload)
        u = w.demand.uncertainty
        base.append(_scaled(w, np.ones(len(fc.years)), w.name))
        if w.placement == "edge":
            continue
        sig = u.sigma + u.sigma_per_year * np.arange(len(fc.years))
        lo_hi = (f"{w.name}@p10", f"{w.name}@p90")
        residual[w.name] = (f"{w.name}@r10", f"{w.name}@r90")
        factors = (np.exp(-Z90 * sig), np.exp(Z90 * sig), np.full(sig.shape, 1 / r_lo), np.full(sig.shape, 1 / r_hi))
        extra += [_scaled(w, f, n) for n, f in zip(lo_hi + residual[w.name], factors, strict=True)]
        med = w.demand.per_year[fc.years[-1]] * u.median_factor
        swings.append(Swing(f"demand: {w.name}", w.demand.unit.replace("_", " "), med * math.exp(-Z90 * sig[-1]),
                            med * math.exp(Z90 * sig[-1]), {w.name: lo_hi}))
    if residual and residual_sigma > 0:
        swings.append(Swing("calibration residual (serving throughput)", "x engine prediction", r_lo, r_hi, residual))
    kinds = (LlmWorkload, DiffusionWorkload, TrainingWorkload)
    order = tuple(w for kind in kinds for w in base + extra if isinstance(w, kind))
    return dataclasses.replace(fc, workloads=order), swings


def _pinned(fc: Forecast, catalog: Catalog, pid: str, pins: list[tuple[str, str, float, float]]) -> Scenarios:
    """The nominal catalog scenario, then one scenario per pinned value (low, high of each pin)."""
    nominal = scenarios(catalog, [pid], 1, 0, software_of(fc, catalog, [pid]))
    sc = _scenarios(nominal, 1 + 2 * len(pins))
    for i, (name, _unit, lo, hi) in enumerate(pins):
        field, scale = SCENARIO_FIELD[name]
        values = getattr(sc, field)
        values[0, 1 + 2 * i], values[0, 2 + 2 * i] = lo * scale, hi * scale
    return sc


def _subset(sz: Sizing, rows: list[int], acc: np.ndarray, sc: Scenarios) -> Sizing:
    """The base workloads' Sizing with accelerators per swing (W, Y, 1, N) and one scenario per swing."""
    n = acc.shape[-1]
    r = np.array(rows)

    def cols(a: np.ndarray) -> np.ndarray:
        return np.repeat(a[r][..., :1], n, axis=-1)

    return dataclasses.replace(
        sz, scenarios=sc, scenario_of_sample=np.arange(n), workload_names=tuple(sz.workload_names[i] for i in r),
        workload_kinds=tuple(sz.workload_kinds[i] for i in r), in_factory=sz.in_factory[r], accelerators=acc,
        hbm_required_bytes=cols(sz.hbm_required_bytes), busy_fraction=sz.busy_fraction[r],
        mean_to_peak=sz.mean_to_peak[r], output_tokens_per_s=cols(sz.output_tokens_per_s),
        tokens_per_output_token=sz.tokens_per_output_token[r], nominal_choice=sz.nominal_choice[r],
        nominal_replicas=sz.nominal_replicas[r],
    )


def _scenarios(sc: Scenarios, n: int) -> Scenarios:
    """``n`` copies of scenario 0 (the nominal catalog, residual 1)."""
    rep: dict[str, Any] = {}
    for f in dataclasses.fields(sc):
        v = getattr(sc, f.name)
        if not isinstance(v, np.ndarray) or f.name in ("domain_accelerators", "accelerators_per_instance"):
            continue  # per platform only (ids, stacks, counts) or per platform constants (eff)
        rep[f.name] = np.repeat(v[..., :1], n, axis=-1) if v.ndim == 1 else np.repeat(v[:, :1], n, axis=1)
    return dataclasses.replace(sc, **rep)


def tornado(forecast: Forecast, catalog: Catalog, pid: str, build: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Swings on ``pid``'s final-year domains and horizon TCO, largest domain swing first.

    ``build`` (Wt,) pins each training run's build-or-burst choice (the plan's), so the swings move
    only the input they name.
    """
    plat = catalog.platforms[pid]
    sigma = catalog.prediction_sigma(plat)
    fc, swings = _clones(forecast, sigma)
    pins = [(name, unit, *_quantiles(fig)) for name, unit in PERFORMANCE.items()
            if (fig := plat.figure(name)) is not None and fig.is_range]
    # one engine run: column 0 the nominal catalog (every clone), then each performance range at its
    # P10 and P90, one catalog scenario each (the same numbers as one run per pinned catalog)
    stage1 = stage1_at(fc, catalog, pid, _pinned(fc, catalog, pid, pins))
    sz = size(fc, catalog, [pid], 1 + 2 * len(pins), 0, stage1=stage1)
    names = list(sz.workload_names)
    rows = [names.index(w.name) for w in fc.workloads if w.name in _names(forecast)]  # engine order
    base_acc = sz.accelerators[rows][..., :1]  # (W, Y, 1, 1)
    columns = [base_acc]  # column 0: the base case
    entries: list[tuple[str, str, float, float]] = []
    for sw in swings:
        entries.append((sw.input, sw.unit, sw.low, sw.high))
        for side in (0, 1):
            acc = base_acc.copy()
            for orig, clone_names in sw.clones.items():
                acc[rows.index(names.index(orig))] = sz.accelerators[names.index(clone_names[side])][..., :1]
            columns.append(acc)
    for i, (name, unit, lo, hi) in enumerate(pins):
        entries.append((f"catalog: {name}", unit, lo, hi))
        columns += [sz.accelerators[rows][..., 1 + 2 * i:2 + 2 * i], sz.accelerators[rows][..., 2 + 2 * i:3 + 2 * i]]
    acc = np.concatenate(columns, axis=-1)
    budget_swings = [(n, spec) for n, spec in BUDGET.items() if (f := plat.figure(n)) is not None and f.is_range]
    fac = catalog.facility["facility_capex_usd_per_it_mw"]
    n_cols = acc.shape[-1] + 2 * (len(budget_swings) + int(fac.is_range))
    acc = np.concatenate([acc, np.repeat(acc[..., :1], n_cols - acc.shape[-1], axis=-1)], axis=-1)
    sc = _scenarios(sz.scenarios, n_cols)
    col = len(columns)
    for name, (field, scale, unit) in budget_swings:
        lo, hi = _quantiles(plat.figures[name])
        entries.append((f"catalog: {name}", unit, lo, hi))
        getattr(sc, field)[0, col], getattr(sc, field)[0, col + 1] = lo * scale, hi * scale
        col += 2
    if fac.is_range:
        lo, hi = _quantiles(fac)
        entries.append(("catalog: facility_capex_usd_per_it_mw", "USD per IT MW", lo, hi))
        sc.facility_capex_usd_per_w[col], sc.facility_capex_usd_per_w[col + 1] = lo / 1e6, hi / 1e6
    bud = budget(_subset(sz, rows, acc, sc), catalog, build=None if build is None else build[:, None])
    domains = bud.samples["domains"][-1, 0]
    tco = bud.horizon_samples["tco_usd"][0]
    out: list[dict[str, Any]] = []
    for i, (label, unit, lo, hi) in enumerate(entries):
        a, b = 1 + 2 * i, 2 + 2 * i
        out.append({"input": label, "unit": unit, "low_value": _n(lo), "high_value": _n(hi),
                    "low_result": _n(domains[a]), "high_result": _n(domains[b]), "base_result": _n(domains[0]),
                    "result": f"{plat.domain_name}s in {forecast.years[-1]}",
                    "low_tco_usd": _n(tco[a]), "high_tco_usd": _n(tco[b]), "base_tco_usd": _n(tco[0])})
    out.sort(key=lambda e: (-_swing(e, "low_result", "high_result"), -_swing(e, "low_tco_usd", "high_tco_usd"),
                            e["input"]))
    return out


def _swing(e: dict[str, Any], low: str, high: str) -> float:
    return abs(float(e[high] or 0.0) - float(e[low] or 0.0))


def _names(fc: Forecast) -> set[str]:
    return {w.name for w in fc.workloads}


def _n(x: Any) -> float | None:
    v = float(x)
    return float(f"{v:.6g}") if math.isfinite(v) else None
