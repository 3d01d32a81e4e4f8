"""Budgets per year and platform: domains, instances, HBM, power, energy and cost, with bands.

Factory accelerators (edge workloads excluded) are packed into scale-up domains; capacity is
cumulative (built racks stay: a running maximum over years, per sample). The provisioned domain
count is the chosen percentile of that distribution, rounded up. Every figure is reported as
P10/P50/P90 over the Monte Carlo samples and at the provisioned capacity.

Cost is annual: hardware capex amortised over its life, the customer's facility capex (per IT MW)
amortised over its life, and electricity, where the catalog has a capex figure; otherwise the
cloud price per accelerator-hour for the installed accelerators; otherwise unknown (None).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from sizing.catalog import Catalog
from sizing.engine import SECONDS_PER_YEAR, Sizing

HOURS_PER_YEAR = 8760.0
BANDS = (10.0, 50.0, 90.0)


@dataclass(frozen=True)
class Budget:
    """Figures as arrays of samples (Y, P, S) and the provisioned capacity (Y, P)."""

    samples: dict[str, np.ndarray]  # figure -> (Y, P, S)
    provisioned: dict[str, np.ndarray]  # figure -> (Y, P)
    power_cap_met: np.ndarray  # (Y, P) bool, True where there is no cap


def _figures(sz: Sizing, catalog: Catalog, domains: np.ndarray, required_acc: np.ndarray,
             busy_acc: np.ndarray, tokens_per_year: np.ndarray, inference_acc: np.ndarray) -> dict[str, np.ndarray]:
    """Every budget figure for a given installed domain count (Y, P, S)."""
    sc = sz.scenarios
    k = sz.scenario_of_sample
    site = sz.forecast.site
    D = sc.domain_accelerators[None, :, None].astype(float)
    per_inst = sc.accelerators_per_instance[None, :, None].astype(float)
    accelerators = domains * D
    it_w = domains * sc.domain_power_w[:, k][None]
    facility_w = it_w * site.pue
    with np.errstate(invalid="ignore", divide="ignore"):
        utilisation = np.where(accelerators > 0, np.minimum(busy_acc / accelerators, 1.0), 0.0)
    idle = catalog.facility["idle_power_fraction"].nominal
    energy_mwh = facility_w * (idle + (1.0 - idle) * utilisation) * HOURS_PER_YEAR / 1e6
    hw_life = catalog.facility["hardware_life_years"].nominal
    fac_life = catalog.facility["facility_life_years"].nominal
    capex_hw = domains * sc.domain_capex_usd[:, k][None]
    capex_fac = it_w * sc.facility_capex_usd_per_w[k][None, None, :]
    owned = capex_hw / hw_life + capex_fac / fac_life + energy_mwh * site.electricity_usd_per_mwh
    cloud = accelerators * sc.accelerator_hour_usd[:, k][None] * HOURS_PER_YEAR
    cost = np.where(np.isfinite(capex_hw), owned, cloud)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(required_acc > 0, inference_acc / required_acc, 0.0)
        per_mtok = np.where(tokens_per_year > 0, cost * share / tokens_per_year * 1e6, np.nan)
        j_per_tok = np.where(tokens_per_year > 0, energy_mwh * 3.6e9 * share / tokens_per_year, np.nan)
    return {
        "domains": domains,
        "accelerators": accelerators,
        "instances": accelerators / per_inst,
        "hbm_provisioned_tb": accelerators * sc.hbm_bytes[:, k][None] / 1e12,
        "it_power_kw": it_w / 1e3,
        "facility_power_mw": facility_w / 1e6,
        "energy_mwh": energy_mwh,
        "capex_usd": np.where(np.isfinite(capex_hw), capex_hw + capex_fac, np.nan),
        "cost_usd": cost,
        "usd_per_million_tokens": per_mtok,
        "joules_per_token": j_per_tok,
    }


def budget(sz: Sizing, catalog: Catalog) -> Budget:
    """Domains and every budget figure, per year, platform and sample."""
    f = sz.in_factory[:, None, None, None]
    factory_acc = np.where(f, sz.accelerators, 0.0)
    required = factory_acc.sum(axis=0)  # (Y, P, S)
    D = sz.scenarios.domain_accelerators[None, :, None].astype(float)
    domains_needed = np.ceil(required / D - 1e-9)
    domains = np.maximum.accumulate(domains_needed, axis=0)
    pct = sz.forecast.provision_percentile
    domains_prov = np.ceil(np.percentile(domains, pct, axis=-1) - 1e-9)  # (Y, P)

    is_inference = np.array([k != "training" for k in sz.workload_kinds])
    inference_acc = np.where(is_inference[:, None, None, None], factory_acc, 0.0).sum(axis=0)
    busy = (factory_acc * sz.busy_fraction[:, None, None, None]).sum(axis=0)
    factory_tokens = np.where(sz.in_factory[:, None, None], sz.output_tokens_per_s, 0.0)
    mean_tokens = factory_tokens * (sz.mean_to_peak * sz.tokens_per_output_token)[:, None, None]
    tokens = mean_tokens.sum(axis=0) * SECONDS_PER_YEAR
    tokens = np.broadcast_to(tokens[:, None, :], required.shape)  # (Y, P, S)

    samples = _figures(sz, catalog, domains, required, busy, tokens, inference_acc)
    samples["accelerators_required"] = required
    samples["hbm_required_tb"] = np.where(f, sz.hbm_required_bytes, 0.0).sum(axis=0) / 1e12
    samples["tokens_per_year"] = tokens

    prov_domains = np.broadcast_to(domains_prov[:, :, None], domains.shape)
    at_prov = _figures(sz, catalog, prov_domains, required, busy, tokens, inference_acc)
    provisioned = {name: _percentile(values, pct) for name, values in at_prov.items()}
    provisioned["domains"] = domains_prov
    for name in ("accelerators_required", "hbm_required_tb", "tokens_per_year"):
        provisioned[name] = _percentile(samples[name], pct)
    added = np.diff(np.concatenate([np.zeros((1, domains_prov.shape[1])), domains_prov]), axis=0)
    provisioned["added_domains"] = added
    samples["added_domains"] = np.diff(np.concatenate([np.zeros_like(domains[:1]), domains]), axis=0)
    cap = sz.forecast.site.power_cap_mw
    cap_met = (np.ones_like(domains_prov, dtype=bool) if cap is None
               else provisioned["facility_power_mw"] <= cap + 1e-9)
    return Budget(samples=samples, provisioned=provisioned, power_cap_met=cap_met)


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


def bands(values: np.ndarray) -> np.ndarray:
    """P10, P50, P90 over the last axis -> shape (..., 3)."""
    if np.isnan(values).all():
        return np.full(values.shape[:-1] + (3,), np.nan)
    out: np.ndarray = np.moveaxis(np.percentile(values, BANDS, axis=-1), 0, -1)
    return out
