"""Time-bounded training: build the factory for a run, or rent burst capacity for its days.

A run occupies its accelerators for ``deadline_days`` in each year it is active (once, or every
year for a recurring run), not for the whole year. For each run and platform two costs are
compared at the provisioning percentile:

- **build**: the horizon TCO of the factory holding inference plus this run, minus the TCO with
  inference alone (capacity stays once built, so a run's racks cost until the horizon's end
  unless later inference growth fills them);
- **burst**: the run's accelerators x its days x 24 h x the burst price per accelerator-hour
  (:mod:`sizing.burst`: the catalog's published price, or a labelled assumption), every year it
  runs.

The cheaper one wins; a run with no burst price is built. Each run is judged against inference
alone (runs are not traded against each other).
"""

from __future__ import annotations

import numpy as np

from sizing.budget import Demand, TrainingPlan, _percentile, provisioned_tco
from sizing.burst import burst_price
from sizing.catalog import Catalog
from sizing.engine import Sizing


def _parts(sz: Sizing) -> tuple[np.ndarray, np.ndarray]:
    """Factory accelerators (W, Y, P, S; edge workloads hold none) and the training runs' indices."""
    factory = np.where(sz.in_factory[:, None, None, None], sz.accelerators, 0.0)
    runs = np.nonzero(np.array([k == "training" for k in sz.workload_kinds], dtype=bool))[0]
    return factory, runs


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
    return Demand(required=held.sum(axis=0), busy=busy, inference=inf_acc)


def decide(sz: Sizing, catalog: Catalog) -> TrainingPlan:
    """Build or burst for each training run and platform."""
    factory, runs = _parts(sz)
    P = len(sz.platform_ids)
    pct = sz.forecast.provision_percentile
    price = np.array([(f.nominal if (f := burst_price(catalog, p)) is not None else np.nan)
                      for p in sz.platform_ids])
    none = np.zeros((len(runs), P), dtype=bool)
    base = provisioned_tco(sz, catalog, factory_demand(sz, none))
    build_cost = np.full((len(runs), P), np.nan)
    burst_cost = np.full((len(runs), P), np.nan)
    first_year_acc = np.zeros((len(runs), P))
    for r, w in enumerate(runs):
        only = none.copy()
        only[r] = True
        build_cost[r] = provisioned_tco(sz, catalog, factory_demand(sz, only)) - base
        hours = sz.busy_fraction[w] * 8760.0  # per active year
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
