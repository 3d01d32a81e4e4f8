"""Time-bounded training: build the factory for a run, or rent burst capacity for its days.

A run occupies its accelerators for ``deadline_days`` in each year it is active (once, or every
year for a recurring run), not for the whole year. For each run and platform two costs are
compared at the provisioning percentile:

- **build**: the annual costs (capex amortised over its life, plus energy) summed over the
  horizon for the factory holding inference plus this run, minus the same with inference alone:
  capacity stays once built, so a run's racks cost every year until later inference growth fills
  them (amortised, not capex at purchase: buying racks years early uses up their life);
- **burst**: the run's accelerators x its days x 24 h x the burst price per accelerator-hour
  (:mod:`sizing.burst`: the catalog's published price, or a labelled assumption), every year it
  runs.

The cheaper one wins; a run with no burst price is built. Each run is judged against inference
alone (runs are not traded against each other).
"""

from __future__ import annotations

import numpy as np

from sizing.budget import HOURS_PER_YEAR, Demand, TrainingPlan, _burst_prices, _percentile, provisioned_cost
from sizing.catalog import Catalog
from sizing.engine import Sizing


def _parts(sz: Sizing) -> tuple[np.ndarray, np.ndarray]:
    """Factory accelerators (W, Y, P, S; edge workloads hold none) and the training runs' indices."""
    factory = np.where(sz.in_factory[:, None, None, None], sz.accelerators, 0.0)
    runs = np.nonzero(np.array([k == "training" for k in sz.workload_kinds], dtype=bool))[0]
    return factory, runs


def _run_hours(sz: Sizing) -> np.ndarray:
    """Hours per active year each workload's accelerators are busy (a run's deadline) -> (W,)."""
    hours: np.ndarray = sz.busy_fraction * HOURS_PER_YEAR
    return hours


def factory_demand(sz: Sizing, build: np.ndarray) -> Demand:
    """Required, busy and inference accelerators (Y, P, S) with the runs marked ``build`` (Wt, P)."""
    factory, runs = _parts(sz)
    keep = np.ones((factory.shape[0], factory.shape[2]), dtype=bool)  # (W, P)
    keep[runs] = build
    held = np.where(keep[:, None, :, None], factory, 0.0)
    inference = np.ones(factory.shape[0], dtype=bool)
    inference[runs] = False
    inf_acc = np.where(inference[:, None, None, None], factory, 0.0).sum(axis=0)
    busy = (held * sz.busy_fraction[:, None, None, None]).sum(axis=0)
    rented = np.where(keep[:, None, :, None], 0.0, factory) * _run_hours(sz)[:, None, None, None]
    return Demand(required=held.sum(axis=0), busy=busy, inference=inf_acc, burst_hours=rented.sum(axis=0))


def decide(sz: Sizing, catalog: Catalog) -> TrainingPlan:
    """Build or burst for each training run and platform."""
    factory, runs = _parts(sz)
    P = len(sz.platform_ids)
    pct = sz.forecast.provision_percentile
    price = _burst_prices(sz, catalog)[0, :, 0]
    none = np.zeros((len(runs), P), dtype=bool)
    base = provisioned_cost(sz, catalog, factory_demand(sz, none))
    build_cost = np.full((len(runs), P), np.nan)
    burst_cost = np.full((len(runs), P), np.nan)
    first_year_acc = np.zeros((len(runs), P))
    for r, w in enumerate(runs):
        only = none.copy()
        only[r] = True
        build_cost[r] = provisioned_cost(sz, catalog, factory_demand(sz, only)) - base
        hours = _run_hours(sz)[w]
        acc = factory[w]  # (Y, P, S); zero in inactive years and at the edge
        burst_cost[r] = _percentile(acc.sum(axis=0) * hours * price[:, None], pct)
        active = (acc > 0).any(axis=(1, 2))
        if active.any():
            first_year_acc[r] = _percentile(acc[int(np.argmax(active))], pct)
    build = ~(np.isfinite(burst_cost) & (~np.isfinite(build_cost) | (burst_cost < build_cost)))
    return TrainingPlan(names=tuple(sz.workload_names[w] for w in runs), build=build,
                        accelerators=first_year_acc, build_cost_usd=build_cost, burst_cost_usd=burst_cost,
                        burst_price_usd_per_hour=price)


def fixed(sz: Sizing, build: np.ndarray) -> TrainingPlan:
    """A given build-or-burst choice (Wt, P), costs not evaluated (NaN)."""
    _factory, runs = _parts(sz)
    nan = np.full(build.shape, np.nan)
    return TrainingPlan(names=tuple(sz.workload_names[w] for w in runs), build=build.astype(bool),
                        accelerators=nan, build_cost_usd=nan, burst_cost_usd=nan,
                        burst_price_usd_per_hour=np.full(build.shape[1], np.nan))
