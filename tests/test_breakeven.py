"""The Trn3 power range, its sensitivity, and the Trainium break-even factors (sizing.breakeven)."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from aifactory.cli import main
from sizing.breakeven import FACTOR_RANGE, REL_TOL, crossing
from sizing.budget import bands, budget
from sizing.catalog import Figure, load_catalog
from sizing.engine import size
from sizing.errors import InputError
from sizing.forecast import load_forecast, parse_forecast
from sizing.plan import make_plan
from tests.conftest import EXAMPLE, SMALL

CAT = load_catalog()


def serving_only() -> dict:
    """The small forecast without its training run: serving alone decides both platforms' capacity."""
    doc = copy.deepcopy(SMALL)
    doc["workloads"] = [w for w in doc["workloads"] if w["kind"] != "training"]
    return doc


@pytest.fixture(scope="module")
def serving_plan() -> tuple:
    fc = parse_forecast(serving_only(), "f.yaml")
    return fc, make_plan(fc)


def final(fc, pids, samples, seed, scale=None, catalog=CAT) -> dict[str, dict[str, float]]:
    """Final-year provisioned $/Mtok, facility MW and domains per platform, straight from the engine."""
    bud = budget(size(fc, catalog, pids, samples, seed, throughput_scale=scale), catalog)
    return {p: {fig: float(bud.provisioned[fig][-1, j]) for fig in ("usd_per_million_tokens", "facility_power_mw",
                                                                     "domains")}
            for j, p in enumerate(pids)}


# -- the Trn3 power range -----------------------------------------------------------------------


def test_trn3_power_is_a_labelled_range_from_the_three_readings():
    for pid, chips in (("trn3", 144), ("trn3_gen1", 64)):
        fig = CAT.platforms[pid].figure("domain_it_power_kw")
        assert fig is not None and fig.is_range and fig.kind == "assumption"
        # Gen2: 110-200 kW per 144 chips; Gen1 the same per chip for 64 chips (to the kW)
        assert fig.low == pytest.approx(110 * chips / 144, abs=0.6)
        assert fig.high == pytest.approx(200 * chips / 144, abs=0.6)
        for key in fig.source.split(", "):
            assert key in CAT.sources, key
    note = CAT.platforms["trn3"].figure("domain_it_power_kw").note
    # the readings themselves: (a) about 190 kW, (b) about 130 kW, (c) the 4x perf/W claim, inside the range
    assert all(r in note for r in ("(a)", "(b)", "(c)", "190 kW", "130 kW", "nominal 155 kW"))
    assert CAT.platforms["trn3"].figure("domain_it_power_kw").nominal == 155


def _with_power(low: float, high: float):
    plat = CAT.platforms["trn3"]
    fig = Figure(low, high, "assumption", "test")
    return replace(CAT, platforms={**CAT.platforms, "trn3": replace(plat, figures={**plat.figures,
                                                                                   "domain_it_power_kw": fig})})


def test_trn3_power_range_reaches_the_budget():
    """The budget samples inside the range (every draw between its ends, spread across it), moving
    the range moves the facility MW band, and the provisioned figure takes the draws' percentile."""
    fc = load_forecast(EXAMPLE)

    runs = sum(w.kind == "training" for w in fc.workloads)

    def run(cat):  # every run built: the build-or-burst choice (which power moves) stays out of the comparison
        return budget(size(fc, cat, ["trn3"], 400, 4), cat, build=np.ones((runs, 1), dtype=bool))

    narrow, wide, higher = run(_with_power(155, 155)), run(_with_power(80, 230)), run(_with_power(232.5, 232.5))
    built = wide.samples["domains"][-1, 0] > 0
    per_domain_kw = wide.samples["it_power_kw"][-1, 0][built] / wide.samples["domains"][-1, 0][built]
    assert per_domain_kw.min() >= 80 and per_domain_kw.max() <= 230
    assert per_domain_kw.max() - per_domain_kw.min() > 0.8 * 150
    assert np.allclose(narrow.samples["it_power_kw"][-1, 0], 155 * narrow.samples["domains"][-1, 0])
    mw = {name: bands(b.samples["facility_power_mw"])[-1, 0] for name, b in
          (("narrow", narrow), ("wide", wide), ("higher", higher))}
    assert np.allclose(mw["higher"], 1.5 * mw["narrow"])
    prov = {name: b.provisioned["facility_power_mw"][-1, 0] for name, b in
            (("narrow", narrow), ("wide", wide), ("higher", higher))}
    assert prov["higher"] == pytest.approx(1.5 * prov["narrow"])
    assert prov["wide"] > prov["narrow"]  # P90 of the power draws, not the midpoint


def test_power_sensitivity_pins_each_end_of_the_range(serving_plan):
    fc, plan = serving_plan
    p = plan["platforms"]["trn3"]
    sens = p["power_sensitivity"]
    fig = CAT.platforms["trn3"].figure("domain_it_power_kw")
    assert (sens["low_kw"], sens["high_kw"], sens["kind"]) == (fig.low, fig.high, "assumption")
    domains = p["years"][str(fc.years[-1])]["domains"]["provisioned"]
    mw = sens["facility_power_mw"]
    # pinned power: every sample draws the same MW for the provisioned domains
    assert mw["low"] == pytest.approx(domains * fig.low * fc.site.pue / 1e3, rel=1e-5)
    assert mw["high"] == pytest.approx(domains * fig.high * fc.site.pue / 1e3, rel=1e-5)
    assert mw["low"] < mw["plan"] <= mw["high"]
    cost = sens["usd_per_million_tokens"]
    assert cost["low"] < cost["plan"] < cost["high"]  # energy and facility capex follow the power
    assert "power_sensitivity" in plan["platforms"]["gb300_nvl72"]
    assert "break_even" not in plan["platforms"]["gb300_nvl72"]


def test_trn3_power_range_reaches_the_report(serving_plan):
    """The report's catalog table shows the range and its readings, and its power-range table the plan's
    sensitivity at each end, every figure tagged (JSON-Pointer keys) with the plan's own value."""
    from aifactory.report import render

    _fc, plan = serving_plan
    html, facts = render(plan)
    key = "plan:/platforms/trn3/catalog/domain_it_power_kw"
    assert (facts.values[key + "/low"], facts.values[key + "/high"]) == (110, 200)
    assert "three public readings" in html and "(c)" in html
    sens, doc = "plan:/platforms/trn3/power_sensitivity", plan["platforms"]["trn3"]["power_sensitivity"]
    assert (facts.values[sens + "/low_kw"], facts.values[sens + "/high_kw"]) == (110, 200)
    for fig in ("facility_power_mw", "usd_per_million_tokens"):
        for end in ("low", "plan", "high"):
            assert f'data-key="{sens}/{fig}/{end}"' in html and facts.values[f"{sens}/{fig}/{end}"] == doc[fig][end]


# -- the break-even -----------------------------------------------------------------------------


@pytest.mark.parametrize("key, fig", [("cost_factor", "usd_per_million_tokens"), ("power_factor", "facility_power_mw")])
def test_break_even_factor_recomputed_independently(serving_plan, key, fig):
    """Scale Trn3's throughput by the factor and rerun the engine: the two meet there (Trn3 no
    dearer, and dearer just below the factor), and 20% less leaves Trn3 dearer."""
    fc, plan = serving_plan
    be = plan["platforms"]["trn3"]["break_even"]
    factor, against = be[key], be["against"]
    assert against == "gb300_nvl72" and be["reason"] is None
    assert factor is not None and FACTOR_RANGE[0] < factor < FACTOR_RANGE[1] and factor != pytest.approx(1.0)
    pids, n, seed = list(plan["platforms"]), be["samples"], plan["monte_carlo"]["seed"]
    at = final(fc, pids, n, seed, {"trn3": factor})
    target = at[against][fig]
    assert final(fc, pids, n, seed)[against][fig] == target  # the other platform does not move
    assert at["trn3"][fig] <= target * (1 + 1e-5)  # the plan rounds the factor to 6 digits
    # they meet within the rounding of discrete domains: one UltraServer fewer would undercut
    assert at["trn3"][fig] * (1 - 1 / at["trn3"]["domains"]) < target
    below = final(fc, pids, n, seed, {"trn3": factor / (1 + 2 * REL_TOL)})
    assert below["trn3"][fig] > target
    assert final(fc, pids, n, seed, {"trn3": 0.8 * factor})["trn3"][fig] > target


def test_break_even_is_null_with_a_reason_when_training_capacity_dominates(monkeypatch):
    """The small forecast's training run, built in the factory (no burst price to rent it), sets
    Trn3's capacity: no serving factor closes the power gap. The cost gap can close, because the
    racks the run leaves idle are not charged to tokens (sizing.budget: inference share only)."""
    import sizing.burst

    monkeypatch.setattr(sizing.burst, "_assumed", lambda: {})  # no burst basis: every run is built
    fc = parse_forecast(copy.deepcopy(SMALL), "f.yaml")
    be = make_plan(fc)["platforms"]["trn3"]["break_even"]
    assert be["power_factor"] is None and be["cost_factor"] is not None
    assert "power_factor: still dearer than gb300_nvl72 at 50x" in be["reason"]
    assert any("built for 2028" in note for note in be["notes"])


def test_break_even_is_null_when_trainium_is_cheaper_even_at_the_low_end():
    gb = CAT.platforms["gb300_nvl72"]
    capex = gb.figures["domain_capex_usd"]
    dear = replace(gb, figures={**gb.figures, "domain_capex_usd": Figure(capex.low * 1e4, capex.high * 1e4,
                                                                         "assumption", "test")})
    cat = replace(CAT, platforms={**CAT.platforms, "gb300_nvl72": dear})
    be = make_plan(parse_forecast(serving_only(), "f.yaml"), samples=200, catalog=cat)["platforms"]["trn3"][
        "break_even"]
    assert be["cost_factor"] is None and "no dearer than gb300_nvl72 at 0.05x" in be["reason"]
    assert be["power_factor"] is not None  # power does not depend on price


def test_break_even_without_another_platform_says_so():
    doc = serving_only()
    doc["platforms"] = ["trn3"]
    be = make_plan(parse_forecast(doc, "f.yaml"), samples=100)["platforms"]["trn3"]["break_even"]
    assert be["against"] is None and be["cost_factor"] is None and be["power_factor"] is None
    assert "no non-Trainium platform in the plan" in be["reason"]


def test_crossing_finds_the_step_of_a_monotone_quantity():
    calls: list[float] = []

    def stepped(f: float) -> float:  # whole domains: ceil(40 / f), the target met from f = 40/7
        calls.append(f)
        return float(math.ceil(40.0 / f))

    f, why = crossing(stepped, 7.0)
    assert why == "met" and 40 / 7 <= f <= 40 / 7 * (1 + REL_TOL)
    assert len(calls) < 25
    assert crossing(stepped, 1e6) == (None, "never_dearer")
    assert crossing(stepped, 0.5) == (None, "always_dearer")
    assert crossing(lambda f: math.nan, 1.0) == (None, "unknown")


@pytest.mark.parametrize("scale, message", [
    ({"h100_hgx": 2.0}, "not a platform of this run"),
    ({"trn3": 0.0}, "positive finite"),
    ({"trn3": -1.0}, "positive finite"),
    ({"trn3": float("nan")}, "positive finite"),
    ({"trn3": float("inf")}, "positive finite"),
    ({"trn3": True}, "positive finite"),
    ({"trn3": "2"}, "positive finite"),
])
def test_bad_throughput_scale_is_an_input_error(scale, message):
    fc = parse_forecast(serving_only(), "f.yaml")
    with pytest.raises(InputError) as err:
        size(fc, CAT, ["gb300_nvl72", "trn3"], 10, 1, throughput_scale=scale)
    assert f"throughput_scale.{next(iter(scale))}" in str(err.value) and message in str(err.value)


def test_throughput_scale_touches_only_its_platform():
    """Twice Trn3's throughput: never more Trn3 accelerators, fewer somewhere; GB300 unchanged."""
    fc = parse_forecast(serving_only(), "f.yaml")
    pids = ["gb300_nvl72", "trn3"]
    one = size(fc, CAT, pids, 50, 2)
    two = size(fc, CAT, pids, 50, 2, throughput_scale={"trn3": 2.0})
    assert np.array_equal(two.accelerators[:, :, 0], one.accelerators[:, :, 0])
    assert (two.accelerators[:, :, 1] <= one.accelerators[:, :, 1]).all()
    assert (two.accelerators[:, :, 1] < one.accelerators[:, :, 1]).any()


def test_size_json_carries_break_even_and_power_sensitivity(capsys):
    assert main(["size", str(EXAMPLE), "--samples", "300", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    trn = plan["platforms"]["trn3"]
    assert set(trn["break_even"]) >= {"cost_factor", "power_factor", "against", "basis", "reason"}
    assert trn["break_even"]["against"] == "gb300_nvl72"
    assert trn["power_sensitivity"]["facility_power_mw"]["low"] < trn["power_sensitivity"]["facility_power_mw"]["high"]


def test_other_stack_break_even_reusing_the_plans_targets_equals_recomputing_them():
    """The other-stack break-even reuses the plan's factor-1 figures of the other platforms (sizing and
    budget are per platform): the same answer as recomputing them with the Trainium stack switched."""
    from sizing.breakeven import break_even, plan_targets

    fc = parse_forecast(serving_only(), "f.yaml")
    sz = size(fc, CAT, ["trn3", "gb300_nvl72"], 1500, 3)  # more samples than the break-even's: a real run
    other = "neuron-aws" if sz.software[0] != "neuron-aws" else "neuron-oss"
    targets = plan_targets(sz, CAT, 3, budget(sz, CAT))
    reused = break_even(sz, CAT, 3, software={"trn3": other}, targets=targets)
    recomputed = break_even(sz, CAT, 3, software={"trn3": other})
    assert reused == recomputed
    assert reused["trn3"]["software"] == other and reused["trn3"]["cost_factor"] is not None
