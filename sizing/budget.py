"""Budgets per year and platform: domains, instances, HBM, power, energy, money, with bands.

Factory accelerators (edge workloads excluded) are packed into scale-up domains; capacity is
cumulative (built racks stay: a running maximum over years, per sample). The provisioned domain
count is the chosen percentile of that distribution, rounded up. Every figure is reported as
P10/P50/P90 over the Monte Carlo samples and at the provisioned capacity.

Money, where the catalog has a capex figure: ``capex_usd`` is the hardware and facility bought in
a year (additions), ``cumulative_capex_usd`` what is installed, ``opex_usd`` the year's energy,
``cost_usd`` the annual cost (capex amortised over its life plus energy); opex also carries the
rent of burst capacity for training runs not built. Where there is only a
cloud price, capex is unknown (null) and opex and cost are the rent of the installed
accelerators. Over the horizon: capex, opex and TCO = capex + opex (no residual value).

Training runs are time-bounded: each run, per platform, is either built into the factory (its
accelerators join the year's requirement) or rented as burst capacity for its days only,
whichever costs less at the provisioning percentile (:func:`sizing.training_modes.decide`).
Idle capacity (installed but not required at the year's peak) is a figure of its own and is not
charged to the tokens: $ per million tokens carries only the inference share of the capacity.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from sizing.catalog import Catalog
from sizing.engine import SECONDS_PER_YEAR, Sizing

HOURS_PER_YEAR = 8760.0
BANDS = (10.0, 50.0, 90.0)
HORIZON_FIGURES = ("capex_usd", "opex_usd", "tco_usd")
AT_CAPACITY = ("utilisation", "idle_accelerators")  # bands taken at the provisioned capacity


@dataclass(frozen=True)
class Demand:
    """What the factory must hold, per year, platform and sample (Y, P, S)."""

    required: np.ndarray  # accelerators at the year's peak
    busy: np.ndarray  # time-averaged busy accelerators
    inference: np.ndarray  # the inference part of ``required``
    burst_hours: np.ndarray  # accelerator-hours rented as burst capacity for training runs


@dataclass(frozen=True)
class TrainingPlan:
    """Build or burst for each training run (Wt) and platform (P), at the provisioning percentile."""

    names: tuple[str, ...]
    build: np.ndarray  # (Wt, P) bool: the factory builds for the run
    accelerators: np.ndarray  # (Wt, P) in the run's first year
    build_cost_usd: np.ndarray  # (Wt, P) horizon's annual costs with the run built minus without it
    burst_cost_usd: np.ndarray  # (Wt, P) renting its accelerators for its days, every year it runs
    burst_price_usd_per_hour: np.ndarray  # (P,) nominal, NaN where unknown


@dataclass(frozen=True)
class Budget:
    """Figures as arrays of samples (Y, P, S) and the provisioned capacity (Y, P)."""

    samples: dict[str, np.ndarray]  # figure -> (Y, P, S)
    provisioned: dict[str, np.ndarray]  # figure -> (Y, P)
    power_cap_met: np.ndarray  # (Y, P) bool, True where there is no cap
    horizon_samples: dict[str, np.ndarray]  # capex/opex/tco over the horizon -> (P, S)
    horizon_provisioned: dict[str, np.ndarray]  # -> (P,)
    training: TrainingPlan


def capacity(sz: Sizing, required: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Domains per sample (cumulative over years) and the provisioned count (Y, P)."""
    D = sz.scenarios.domain_accelerators[None, :, None].astype(float)
    domains = np.maximum.accumulate(np.ceil(required / D - 1e-9), axis=0)
    prov = np.ceil(np.percentile(domains, sz.forecast.provision_percentile, axis=-1) - 1e-9)
    return domains, prov


def _money(sz: Sizing, catalog: Catalog, domains: np.ndarray, it_w: np.ndarray,
           energy_mwh: np.ndarray, accelerators: np.ndarray) -> dict[str, np.ndarray]:
    """Capex (installed and added per year), opex and the annual cost for installed domains."""
    sc = sz.scenarios
    k = sz.scenario_of_sample
    hw_life = catalog.facility["hardware_life_years"].nominal
    fac_life = catalog.facility["facility_life_years"].nominal
    capex_hw = domains * sc.domain_capex_usd[:, k][None]
    capex_fac = it_w * sc.facility_capex_usd_per_w[k][None, None, :]
    owned = np.isfinite(capex_hw)
    energy_usd = energy_mwh * sz.forecast.site.electricity_usd_per_mwh
    cloud = accelerators * sc.accelerator_hour_usd[:, k][None] * HOURS_PER_YEAR
    installed = np.where(owned, capex_hw + capex_fac, np.nan)
    added = np.diff(np.concatenate([np.zeros_like(installed[:1]), installed]), axis=0)
    return {
        "capex_usd": added,
        "cumulative_capex_usd": installed,
        "opex_usd": np.where(owned, energy_usd, cloud),
        "cost_usd": np.where(owned, capex_hw / hw_life + capex_fac / fac_life + energy_usd, cloud),
    }


def _burst_prices(sz: Sizing, catalog: Catalog) -> np.ndarray:
    """Nominal burst price per accelerator-hour, shaped (1, P, 1); NaN where unknown."""
    from sizing.burst import burst_price

    prices = [(f.nominal if (f := burst_price(catalog, p)) is not None else np.nan) for p in sz.platform_ids]
    return np.array(prices)[None, :, None]


def _figures(sz: Sizing, catalog: Catalog, domains: np.ndarray, demand: Demand,
             tokens_per_year: np.ndarray) -> dict[str, np.ndarray]:
    """Every budget figure for a given installed domain count (Y, P, S)."""
    sc = sz.scenarios
    k = sz.scenario_of_sample
    D = sc.domain_accelerators[None, :, None].astype(float)
    per_inst = sc.accelerators_per_instance[None, :, None].astype(float)
    accelerators = domains * D
    it_w = domains * sc.domain_power_w[:, k][None]
    facility_w = it_w * sz.forecast.site.pue
    with np.errstate(invalid="ignore", divide="ignore"):
        utilisation = np.where(accelerators > 0, np.minimum(demand.busy / accelerators, 1.0), 0.0)
        share = np.where(accelerators > 0, np.minimum(demand.inference / accelerators, 1.0), 0.0)
    idle = catalog.facility["idle_power_fraction"].nominal
    energy_mwh = facility_w * (idle + (1.0 - idle) * utilisation) * HOURS_PER_YEAR / 1e6
    money = _money(sz, catalog, domains, it_w, energy_mwh, accelerators)
    # burst rent is operating cost (in opex, hence TCO) but not the factory's annual cost per token
    money["opex_usd"] = money["opex_usd"] + np.nan_to_num(demand.burst_hours * _burst_prices(sz, catalog))
    with np.errstate(invalid="ignore", divide="ignore"):
        per_mtok = np.where(tokens_per_year > 0, money["cost_usd"] * share / tokens_per_year * 1e6, np.nan)
        j_per_tok = np.where(tokens_per_year > 0, energy_mwh * 3.6e9 * share / tokens_per_year, np.nan)
    return {
        "domains": domains,
        "accelerators": accelerators,
        "instances": accelerators / per_inst,
        "hbm_provisioned_tb": accelerators * sc.hbm_bytes[:, k][None] / 1e12,
        "it_power_kw": it_w / 1e3,
        "facility_power_mw": facility_w / 1e6,
        "energy_mwh": energy_mwh,
        **money,
        "usd_per_million_tokens": per_mtok,
        "joules_per_token": j_per_tok,
        "utilisation": utilisation,
        "idle_accelerators": np.maximum(accelerators - demand.required, 0.0),
    }


def horizon(figures: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Capex, opex and TCO summed over the horizon's years -> (P, S); capex null where unknown."""
    capex = figures["capex_usd"]
    known = np.isfinite(capex).any(axis=0)
    capex_sum = np.where(known, np.nansum(capex, axis=0), np.nan)
    opex = figures["opex_usd"].sum(axis=0)
    return {"capex_usd": capex_sum, "opex_usd": opex, "tco_usd": np.where(known, capex_sum, 0.0) + opex}


def _tokens(sz: Sizing, shape: tuple[int, ...]) -> np.ndarray:
    factory_tokens = np.where(sz.in_factory[:, None, None], sz.output_tokens_per_s, 0.0)
    mean_tokens = factory_tokens * (sz.mean_to_peak * sz.tokens_per_output_token)[:, None, None]
    tokens = mean_tokens.sum(axis=0) * SECONDS_PER_YEAR
    return np.broadcast_to(tokens[:, None, :], shape)


def provisioned_cost(sz: Sizing, catalog: Catalog, demand: Demand, tokens: np.ndarray | None = None) -> np.ndarray:
    """The annual cost (amortised capex + energy, or rent) summed over the horizon (P,), at the
    provisioned capacity for a demand and the provisioning percentile. Amortised, so racks bought
    early for a run cost the years of life they spend waiting for inference to fill them.
    ``tokens``: :func:`_tokens` of ``sz`` where the caller has it already."""
    _domains, prov = capacity(sz, demand.required)
    prov_b = np.broadcast_to(prov[:, :, None], demand.required.shape)
    tokens = _tokens(sz, demand.required.shape) if tokens is None else tokens
    cost = _figures(sz, catalog, prov_b, demand, tokens)["cost_usd"].sum(axis=0)
    return _percentile(cost, sz.forecast.provision_percentile)


def budget(sz: Sizing, catalog: Catalog, build: np.ndarray | None = None) -> Budget:
    """Domains and every budget figure, per year, platform and sample.

    ``build`` (Wt, P) fixes which training runs the factory builds for (the tornado's swings keep
    the plan's choice); by default each run is decided here, build or burst.
    """
    from sizing.training_modes import decide, factory_demand, fixed, split

    parts = split(sz)
    tokens = _tokens(sz, parts.inference.shape)  # independent of which runs are built
    training = decide(sz, catalog, parts, tokens) if build is None else fixed(sz, build)
    demand = factory_demand(sz, training.build, parts)
    domains, domains_prov = capacity(sz, demand.required)
    pct = sz.forecast.provision_percentile

    samples = _figures(sz, catalog, domains, demand, tokens)
    samples["accelerators_required"] = demand.required
    f = sz.in_factory[:, None, None, None]
    samples["hbm_required_tb"] = np.where(f, sz.hbm_required_bytes, 0.0).sum(axis=0) / 1e12
    samples["tokens_per_year"] = tokens

    prov_domains = np.broadcast_to(domains_prov[:, :, None], domains.shape)
    at_prov = _figures(sz, catalog, prov_domains, demand, tokens)
    provisioned = percentiles({n: v for n, v in at_prov.items() if n not in AT_CAPACITY}, pct)
    for name in AT_CAPACITY:  # use of the capacity actually provisioned: its median and band
        samples[name] = at_prov[name]
    provisioned.update(percentiles({n: at_prov[n] for n in AT_CAPACITY}, 50.0))
    provisioned["domains"] = domains_prov
    provisioned.update(percentiles({n: samples[n] for n in ("accelerators_required", "hbm_required_tb",
                                                            "tokens_per_year")}, pct))
    provisioned["added_domains"] = np.diff(np.concatenate([np.zeros((1, domains_prov.shape[1])), domains_prov]),
                                           axis=0)
    samples["added_domains"] = np.diff(np.concatenate([np.zeros_like(domains[:1]), domains]), axis=0)
    cap = sz.forecast.site.power_cap_mw
    cap_met = (np.ones_like(domains_prov, dtype=bool) if cap is None
               else provisioned["facility_power_mw"] <= cap + 1e-9)
    horizon_prov = percentiles(horizon(at_prov), pct)
    return Budget(samples=samples, provisioned=provisioned, power_cap_met=cap_met,
                  horizon_samples=horizon(samples), horizon_provisioned=horizon_prov, training=training)


def _percentile(values: np.ndarray, pct: float) -> np.ndarray:
    """Percentile over samples, ignoring NaN (unknown cost stays NaN)."""
    if np.isnan(values).all():
        return np.full(values.shape[:-1], np.nan)
    if not np.isnan(values).any():
        exact: np.ndarray = np.percentile(values, pct, axis=-1)
        return exact
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices stay NaN (unknown)
        partial: np.ndarray = np.nanpercentile(values, pct, axis=-1)
    return partial


def percentiles(arrays: dict[str, np.ndarray], pct: float | list[float]) -> dict[str, np.ndarray]:
    """:func:`_percentile` (a float ``pct``) or :func:`bands` (``BANDS``) of every array, with one
    ``np.percentile`` call per shape for the NaN-free arrays (the same numbers as one call each: each
    1-D slice is partitioned alone) and one call per array where NaN must be skipped."""
    single = isinstance(pct, float | int)
    out: dict[str, np.ndarray] = {}
    groups: dict[tuple[int, ...], list[str]] = {}
    for name, values in arrays.items():
        if np.isnan(values).any():
            out[name] = _percentile(values, pct) if isinstance(pct, float | int) else bands(values)
        else:
            groups.setdefault(values.shape, []).append(name)
    for names in groups.values():
        stacked = np.percentile(np.stack([arrays[n] for n in names]), pct, axis=-1)
        if not single:
            stacked = np.moveaxis(stacked, 0, -1)  # (F, ..., 3) as bands() returns per array
        out.update(zip(names, stacked, strict=True))
    return {name: out[name] for name in arrays}


def bands(values: np.ndarray) -> np.ndarray:
    """P10, P50, P90 over the last axis -> shape (..., 3)."""
    if np.isnan(values).all():
        return np.full(values.shape[:-1] + (3,), np.nan)
    if np.isnan(values).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            partial: np.ndarray = np.moveaxis(np.nanpercentile(values, BANDS, axis=-1), 0, -1)
        return partial
    out: np.ndarray = np.moveaxis(np.percentile(values, BANDS, axis=-1), 0, -1)
    return out
