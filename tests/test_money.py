"""Money over the horizon, utilisation, idle capacity and time-bounded training (build or burst)."""

from __future__ import annotations

import numpy as np
import pytest

from sizing.budget import budget
from sizing.catalog import load_catalog
from sizing.engine import size
from sizing.forecast import parse_forecast
from sizing.plan import make_plan


@pytest.fixture
def small_plan(small):
    small["monte_carlo"]["samples"] = 300
    return make_plan(parse_forecast(small, "small.yaml"))


def test_capex_additions_add_up_to_installed_and_tco(small_plan):
    for p in small_plan["platforms"].values():
        years = list(p["years"].values())
        added = sum(y["capex_usd"]["provisioned"] for y in years)
        assert added == pytest.approx(years[-1]["cumulative_capex_usd"]["provisioned"], rel=1e-4)
        assert all(y["capex_usd"]["provisioned"] >= 0 for y in years)
        h = p["horizon"]
        assert h["capex_usd"]["provisioned"] == pytest.approx(added, rel=0.02)
        for q in ("p10", "p50", "p90"):
            assert h["tco_usd"][q] >= h["capex_usd"][q] > 0
        assert h["tco_usd"]["p10"] <= h["tco_usd"]["p50"] <= h["tco_usd"]["p90"]


def test_utilisation_and_idle_are_figures_of_the_provisioned_capacity(small_plan):
    for p in small_plan["platforms"].values():
        for y in p["years"].values():
            u = y["utilisation"]
            assert 0 < u["p10"] <= u["p50"] <= u["p90"] <= 1
            assert u["provisioned"] == u["p50"]
            assert y["idle_accelerators"]["p50"] >= 0
            assert y["idle_accelerators"]["p50"] <= y["accelerators"]["provisioned"]


def _sized(small, build_cheap: bool):
    small["monte_carlo"]["samples"] = 300
    fc = parse_forecast(small, "small.yaml")
    cat = load_catalog()
    sz = size(fc, cat, ["gb300_nvl72"], 300, 3)
    return sz, budget(sz, cat), cat


def test_training_run_is_time_bounded(small):
    sz, bud, _ = _sized(small, True)
    w = sz.workload_names.index("pretrain")
    assert sz.busy_fraction[w] == pytest.approx(60 / 365)
    # no headroom on a run's deadline: the run holds what the deadline needs, not 10% more
    t = bud.training
    assert t.names == ("pretrain",)
    if t.build[0, 0]:
        assert bud.samples["accelerators_required"][1].max() >= sz.accelerators[w, 1].min()
    else:  # burst: the factory does not hold it
        held = np.where(sz.in_factory[:, None, None, None], sz.accelerators, 0.0)
        inference = np.delete(held, w, axis=0).sum(axis=0)
        np.testing.assert_allclose(bud.samples["accelerators_required"], inference)


def test_build_or_burst_takes_the_cheaper(small_plan):
    for p in small_plan["platforms"].values():
        (run,) = p["training"]
        assert run["workload"] == "pretrain" and run["year"] == 2028 and run["days"] == 60
        assert run["accelerators"] > 0 and run["burst_price_usd_per_accelerator_hour"]["kind"]
        cheaper = "burst" if run["burst_cost_usd"] < run["build_cost_usd"] else "build"
        assert run["mode"] == cheaper
        assert run["burst_cost_usd"] == pytest.approx(
            run["accelerators"] * 60 * 24 * _nominal(run["burst_price_usd_per_accelerator_hour"]), rel=0.02)


def _nominal(price: dict) -> float:
    return price["value"] if "value" in price else (price["low"] + price["high"]) / 2


def test_burst_run_leaves_the_factory(small):
    """A long cheap run on rented capacity: force burst by making building dear (a 1-day deadline
    needs a huge factory for one day) and check the factory is sized for inference alone."""
    small["workloads"][3]["deadline_days"] = 1
    small["monte_carlo"]["samples"] = 300
    plan = make_plan(parse_forecast(small, "small.yaml"), platforms=["gb300_nvl72"])
    run = plan["platforms"]["gb300_nvl72"]["training"][0]
    assert run["mode"] == "burst", run
    small["workloads"].pop(3)
    alone = make_plan(parse_forecast(small, "small.yaml"), platforms=["gb300_nvl72"])
    for year, y in plan["platforms"]["gb300_nvl72"]["years"].items():
        assert y["domains"]["provisioned"] == alone["platforms"]["gb300_nvl72"]["years"][year]["domains"][
            "provisioned"]
    # ... and its rent is operating cost: the horizon's opex (and TCO) carry it
    rent = (plan["platforms"]["gb300_nvl72"]["horizon"]["opex_usd"]["p50"]
            - alone["platforms"]["gb300_nvl72"]["horizon"]["opex_usd"]["p50"])
    assert rent == pytest.approx(run["burst_cost_usd"], rel=0.25)


def test_idle_capacity_is_not_charged_to_tokens(small):
    """$ per million tokens carries only the inference share of the installed accelerators: in every
    sample it is at most the whole annual cost over the tokens, and below it where racks stand idle
    (checked per sample: percentiles of different figures do not multiply)."""
    sz, bud, _ = _sized(small, True)
    s = bud.samples
    charged = s["usd_per_million_tokens"] * s["tokens_per_year"] / 1e6
    ok = np.isfinite(charged)
    assert ok.any()
    assert np.all(charged[ok] <= s["cost_usd"][ok] * (1 + 1e-9))
    idle = ok & (s["idle_accelerators"] > 0) if "idle_accelerators" in s else ok
    assert np.any(charged[idle] < s["cost_usd"][idle] * (1 - 1e-3))


def _deterministic(fc, scale: dict[str, float] | None = None):
    """Every workload at its median (sigma 0), with optional demand factors per workload."""
    import dataclasses

    from sizing.forecast import TrainingWorkload, Uncertainty

    out = []
    for w in fc.workloads:
        if isinstance(w, TrainingWorkload):
            out.append(dataclasses.replace(w, uncertainty=Uncertainty(0.0, 0.0, w.uncertainty.median_factor)))
            continue
        u = w.demand.uncertainty
        f = (scale or {}).get(w.name, 1.0)
        per_year = {y: v * f for y, v in w.demand.per_year.items()}
        out.append(dataclasses.replace(w, demand=dataclasses.replace(
            w.demand, per_year=per_year, uncertainty=Uncertainty(0.0, 0.0, u.median_factor))))
    return dataclasses.replace(fc, workloads=tuple(out))


def test_tornado_swings_match_engine_runs(small):
    """The base case and a demand swing equal plans of the deterministic forecast sized on their own."""
    import math

    from sizing.forecast import Z90
    from sizing.tornado import tornado

    small["workloads"][0]["demand"]["uncertainty"] = {"sigma": 0.3}  # chat: constant sigma
    fc = parse_forecast(small, "small.yaml")
    cat = load_catalog()
    pid = "gb300_nvl72"
    base_plan = make_plan(_deterministic(fc), platforms=[pid], samples=1)
    build = np.array([r["mode"] == "build" for r in base_plan["platforms"][pid]["training"]])
    swings = tornado(fc, cat, pid, build)
    final = str(fc.years[-1])
    base_domains = base_plan["platforms"][pid]["years"][final]["domains"]["provisioned"]
    assert all(e["base_result"] == base_domains for e in swings)
    chat = next(e for e in swings if e["input"] == "demand: chat")
    high_plan = make_plan(_deterministic(fc, {"chat": math.exp(Z90 * 0.3)}), platforms=[pid], samples=1)
    assert chat["high_result"] == high_plan["platforms"][pid]["years"][final]["domains"]["provisioned"]
    assert chat["low_result"] <= chat["base_result"] <= chat["high_result"]
    assert chat["high_value"] == pytest.approx(chat["low_value"] * math.exp(2 * Z90 * 0.3), rel=1e-4)
    res = next(e for e in swings if e["input"].startswith("calibration residual"))
    assert res["low_result"] >= res["base_result"] >= res["high_result"]  # less throughput, more racks
    spans = [abs(e["high_result"] - e["low_result"]) for e in swings]
    assert spans == sorted(spans, reverse=True)
    inputs = {e["input"] for e in swings}
    assert {"catalog: domain_capex_usd", "catalog: domain_it_power_kw", "demand: pretrain"} <= inputs
    assert "demand: edge-help" not in inputs  # edge workloads are not in the factory
    capex = next(e for e in swings if e["input"] == "catalog: domain_capex_usd")
    assert capex["low_tco_usd"] < capex["base_tco_usd"] < capex["high_tco_usd"]


def test_pareto_curve_is_a_frontier_with_the_target(small_plan):
    for pid, by_workload in small_plan["pareto"].items():
        assert set(by_workload) == {"chat"}  # the factory's LLM workloads (edge-help is at the edge)
        curve = by_workload["chat"]
        assert curve["target_tokens_per_s_per_user"] == pytest.approx(1000 / 50)
        pts = curve["points"]
        assert len(pts) > 3
        x = [p["tokens_per_s_per_user"] for p in pts]
        y = [p["output_tokens_per_s_per_accelerator"] for p in pts]
        assert x == sorted(x) and y == sorted(y, reverse=True)  # more interactivity costs throughput
        # the engine's chosen configuration cannot beat the frontier at its own interactivity
        final = small_plan["platforms"][pid]["workloads"]["chat"]["years"]["2029"]
        user = 1000 / final["tpot_ms"]
        assert any(p["tokens_per_s_per_user"] >= user * 0.999 for p in pts)


def test_tornado_performance_swing_equals_a_plan_of_the_pinned_catalog():
    """Trn3's HBM-bandwidth range at its P10 and P90, evaluated as extra catalog scenarios of the
    tornado's one engine run, gives the domains of plans sized on their own with the catalog pinned
    there (the national example, where the two ends differ)."""
    import dataclasses

    from sizing.forecast import load_forecast
    from sizing.tornado import tornado
    from tests.conftest import EXAMPLE

    fc = load_forecast(EXAMPLE)
    cat = load_catalog()
    pid, name = "trn3", "hbm_tb_per_s"
    base_plan = make_plan(_deterministic(fc), platforms=[pid], samples=1)
    build = np.array([r["mode"] == "build" for r in base_plan["platforms"][pid]["training"]])
    entry = next(e for e in tornado(fc, cat, pid, build) if e["input"] == f"catalog: {name}")
    assert entry["low_result"] != entry["high_result"]  # the two ends tell a swap apart
    final = str(fc.years[-1])
    plat = cat.platforms[pid]
    for side in ("low", "high"):
        value = entry[f"{side}_value"]
        figures = {**plat.figures, name: dataclasses.replace(plat.figures[name], low=value, high=value)}
        pinned = dataclasses.replace(cat, platforms={**cat.platforms, pid: dataclasses.replace(plat, figures=figures)})
        alone = make_plan(_deterministic(fc), platforms=[pid], samples=1, catalog=pinned)
        assert entry[f"{side}_result"] == alone["platforms"][pid]["years"][final]["domains"]["provisioned"]
