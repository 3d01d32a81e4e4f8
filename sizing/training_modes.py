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

from dataclasses import dataclass

import numpy as np

from sizing.budget import (
    HOURS_PER_YEAR,
    Demand,
    TrainingPlan,
    _burst_prices,
    _percentile,
    _tokens,
    provisioned_cost,
)
from sizing.catalog import Catalog
from sizing.engine import Sizing


@dataclass(frozen=True)
class Split:
    """The factory's accelerators split once into inference totals and each training run."""

    runs: np.ndarray  # (Wt,) workload indices of the training runs
    inference: np.ndarray  # (Y, P, S) accelerators of factory inference workloads
    inference_busy: np.ndarray  # (Y, P, S) their time-averaged busy accelerators
    run_accelerators: np.ndarray  # (Wt, Y, P, S) each run's, zero at the edge and in idle years
    run_hours: np.ndarray  # (Wt,) hours a run is busy in each year it runs (its deadline)


def split(sz: Sizing) -> Split:
    """Sum the inference workloads' accelerators once (only the factory's rows are read)."""
    is_run = np.array([k == "training" for k in sz.workload_kinds], dtype=bool)
    inf_rows = np.flatnonzero(~is_run & sz.in_factory)
    inference = sz.accelerators[inf_rows]
    runs = np.nonzero(is_run)[0]
    return Split(runs=runs, inference=inference.sum(axis=0),
                 inference_busy=(inference * sz.busy_fraction[inf_rows, None, None, None]).sum(axis=0),
                 run_accelerators=np.where(sz.in_factory[runs, None, None, None], sz.accelerators[runs], 0.0),
                 run_hours=sz.busy_fraction[is_run] * HOURS_PER_YEAR)


def factory_demand(sz: Sizing, build: np.ndarray, parts: Split | None = None) -> Demand:
    """Required, busy and inference accelerators and burst hours (Y, P, S) with the runs marked
    ``build`` (Wt, P) held by the factory and the others rented."""
    sp = parts or split(sz)
    b = build[:, None, :, None]
    held = np.where(b, sp.run_accelerators, 0.0)
    rented = np.where(b, 0.0, sp.run_accelerators)
    hours = sp.run_hours[:, None, None, None]
    return Demand(required=sp.inference + held.sum(axis=0),
                  busy=sp.inference_busy + (held * hours / HOURS_PER_YEAR).sum(axis=0),
                  inference=sp.inference, burst_hours=(rented * hours).sum(axis=0))


def decide(sz: Sizing, catalog: Catalog, parts: Split | None = None, tokens: np.ndarray | None = None) -> TrainingPlan:
    """Build or burst for each training run and platform (``parts``: :func:`split` of ``sz`` and
    ``tokens``: ``budget._tokens`` of it, where the caller has them)."""
    sp = parts or split(sz)
    tokens = _tokens(sz, sp.inference.shape) if tokens is None else tokens  # the same for every build choice
    Wt, P = len(sp.runs), len(sz.platform_ids)
    pct = sz.forecast.provision_percentile
    price = _burst_prices(sz, catalog)[0, :, 0]
    none = np.zeros((Wt, P), dtype=bool)
    base = provisioned_cost(sz, catalog, factory_demand(sz, none, sp), tokens)
    build_cost = np.full((Wt, P), np.nan)
    first_year_acc = np.zeros((Wt, P))
    for r in range(Wt):
        only = none.copy()
        only[r] = True
        build_cost[r] = provisioned_cost(sz, catalog, factory_demand(sz, only, sp), tokens) - base
        acc = sp.run_accelerators[r]  # (Y, P, S)
        active = (acc > 0).any(axis=(1, 2))
        if active.any():
            first_year_acc[r] = _percentile(acc[int(np.argmax(active))], pct)
    burst_cost = _percentile(sp.run_accelerators.sum(axis=1) * sp.run_hours[:, None, None] * price[None, :, None], pct)
    build = ~(np.isfinite(burst_cost) & (~np.isfinite(build_cost) | (burst_cost < build_cost)))
    return TrainingPlan(names=tuple(sz.workload_names[w] for w in sp.runs), build=build,
                        accelerators=first_year_acc, build_cost_usd=build_cost, burst_cost_usd=burst_cost,
                        burst_price_usd_per_hour=price)


def fixed(sz: Sizing, build: np.ndarray) -> TrainingPlan:
    """A given build-or-burst choice (Wt, P), costs not evaluated (NaN)."""
    nan = np.full(build.shape, np.nan)
    return TrainingPlan(names=tuple(n for n, k in zip(sz.workload_names, sz.workload_kinds, strict=True)
                                    if k == "training"), build=build.astype(bool),
                        accelerators=nan, build_cost_usd=nan, burst_cost_usd=nan,
                        burst_price_usd_per_hour=np.full(build.shape[1], np.nan))
