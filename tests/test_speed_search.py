"""The engine's batch search (``sizing.llm_search``) returns what the exhaustive grid picks.

The search relies on every constraint tightening and the throughput rising with the batch inside one
serving variant; these tests compare it with ``best_batch(evaluate(...))`` on varied cases: dense,
MoE, MLA, speculative (explicit and the stack's MTP default), two pools (true, auto, false), tight and
loose TTFT/TPOT, prefix caching, a Trainium compiled batch, several stacks, random catalog scenarios.
"""

from __future__ import annotations

import numpy as np
import pytest

from sizing.catalog import load_catalog, scenarios
from sizing.engine import _candidate_sizes
from sizing.llm import BATCHES, LlmCases, best_batch, evaluate
from sizing.llm_search import search_best
from sizing.models import presets

CAT = load_catalog()
MODELS = presets()
NAMES = ["llama3.1-8b", "llama3.3-70b", "llama3.1-405b", "deepseek-r1", "gpt-oss-120b", "qwen3-30b-a3b",
         "qwen3-235b-a22b", "qwen3-8b", "llama3.1-70b", "gpt-oss-20b"]
PRECISION = {"deepseek-r1": "fp4", "gpt-oss-120b": "fp4", "gpt-oss-20b": "fp8", "llama3.1-70b": "bf16",
             "qwen3-8b": "bf16"}


def _cases(seed: int, n: int, compiled: bool) -> LlmCases:
    """``n`` random serving cases: targets from very tight to none, every disaggregation mode, a third
    with drafting, some with prefix caching, and (``compiled``) Neuron-style compiled batches."""
    rng = np.random.default_rng(seed)
    names = [NAMES[i % len(NAMES)] for i in rng.permutation(n)]
    ttft = [None if r < 0.15 else float(v) for r, v in zip(rng.random(n), rng.uniform(150, 8000, n), strict=True)]
    tpot = [None if r < 0.15 else float(v) for r, v in zip(rng.random(n), rng.uniform(5, 150, n), strict=True)]
    spec = [("eagle", int(rng.integers(1, 5)), float(rng.uniform(0.3, 0.9)), 0.0) if r < 0.35 else None
            for r in rng.random(n)]
    return LlmCases.of(
        CAT, [MODELS[m] for m in names], [PRECISION.get(m, "fp8") for m in names],
        list(rng.uniform(100, 30000, n)), list(rng.uniform(50, 4000, n)), ttft, tpot,
        [["false", "true", "auto"][i % 3] for i in range(n)], list(rng.random(n) < 0.5),
        list(np.where(rng.random(n) < 0.4, rng.uniform(0, 0.9, n), 0.0)), spec,
        list(np.where(rng.random(n) < 0.5, rng.choice([8.0, 32.0, 128.0], n), 0.0)) if compiled else None,
    )


CASES = [
    (["trn3", "gb300_nvl72"], [None, None], 1, False),
    (["trn3", "trn2"], ["neuron-aws", "neuron-oss"], 2, True),
    (["h100_hgx", "b200_hgx"], ["vllm", "trtllm"], 3, False),
    (["trn3_gen1", "gb200_nvl72"], [None, "vllm"], 4, True),
]


@pytest.mark.parametrize(("pids", "stacks", "seed", "compiled"), CASES)
def test_search_returns_the_exhaustive_best_batch(pids, stacks, seed, compiled):
    sc = scenarios(CAT, pids, 4, seed, stacks)
    sizes = _candidate_sizes(CAT, pids)
    cases = _cases(seed, 24, compiled)
    exhaustive = best_batch(evaluate(cases, sc, sizes, BATCHES, 0.9))
    found, points = search_best(cases, sc, sizes, BATCHES, 0.9)
    assert np.array_equal(found.feasible, exhaustive.feasible)
    assert found.feasible.any() and not found.feasible.all()  # the cases reach both answers
    np.testing.assert_allclose(found.output_tokens_per_s, exhaustive.output_tokens_per_s, rtol=1e-12)
    ok = exhaustive.feasible
    for name in ("batch", "ttft_s", "tpot_s", "memory_bytes", "bound", "disaggregated", "speculative",
                 "prefill_share"):
        np.testing.assert_array_equal(getattr(found, name)[ok], getattr(exhaustive, name)[ok], err_msg=name)
    # fewer points than the grid's (workload, platform, scenario, size, batch) points
    assert 0 < points < exhaustive.batch.size * (BATCHES.size + 1)


def test_infeasible_configurations_report_the_smallest_batch_like_the_grid():
    pids = ["trn3", "gb300_nvl72"]
    sc = scenarios(CAT, pids, 2, 0, [None, None])
    sizes = _candidate_sizes(CAT, pids)
    cases = _cases(7, 12, False)
    exhaustive = best_batch(evaluate(cases, sc, sizes, BATCHES, 0.9))
    found, _ = search_best(cases, sc, sizes, BATCHES, 0.9)
    bad = ~exhaustive.feasible & np.isfinite(sizes)[None, :, None, :]
    assert bad.any()
    for name in ("batch", "ttft_s", "tpot_s", "disaggregated", "speculative"):
        np.testing.assert_array_equal(getattr(found, name)[bad], getattr(exhaustive, name)[bad], err_msg=name)


def test_search_without_the_hbm_filling_batch():
    pids = ["gb300_nvl72"]
    sc = scenarios(CAT, pids, 3, 5, [None])
    sizes = _candidate_sizes(CAT, pids)
    cases = _cases(11, 16, False)
    batches = BATCHES[::7]
    exhaustive = best_batch(evaluate(cases, sc, sizes, batches, 0.9, batch_fill=False))
    found, _ = search_best(cases, sc, sizes, batches, 0.9, batch_fill=False)
    np.testing.assert_allclose(found.output_tokens_per_s, exhaustive.output_tokens_per_s, rtol=1e-12)
    np.testing.assert_array_equal(found.batch[exhaustive.feasible], exhaustive.batch[exhaustive.feasible])


# -- the per-platform stage-1 cache --------------------------------------------------------------


def _fresh_forecast():
    from sizing.forecast import load_forecast
    from tests.conftest import EXAMPLE

    return load_forecast(EXAMPLE)  # a new object: nothing cached for it yet


def test_each_platform_sized_alone_is_its_slice_of_the_joint_run():
    """What the break-even's one-platform runs and the per-platform cache rely on: sizing and budget
    are independent per platform (the joint run's arrays, platform by platform)."""
    from sizing.budget import budget
    from sizing.engine import one_platform, size

    fc = _fresh_forecast()
    pids = ["gb300_nvl72", "trn3"]  # the narrower platform first: the joint run pads it
    joint = size(fc, CAT, pids, 300, 3)
    joint_bud = budget(joint, CAT)
    for j, pid in enumerate(pids):
        alone = size(_fresh_forecast(), CAT, [pid], 300, 3)
        width = alone.sizes.shape[1]
        for name in ("accelerators", "hbm_required_bytes", "nominal_choice", "nominal_replicas"):
            np.testing.assert_array_equal(getattr(alone, name)[:, :, 0], getattr(joint, name)[:, :, j], err_msg=name)
        np.testing.assert_array_equal(alone.detail.batch[:, 0], joint.detail.batch[:, j, :width])
        bud = budget(alone, CAT)
        sliced = budget(one_platform(joint, j), CAT)  # what power_sensitivity re-budgets
        for fig in ("domains", "facility_power_mw", "usd_per_million_tokens", "tco_usd"):
            if fig == "tco_usd":
                np.testing.assert_array_equal(bud.horizon_provisioned[fig][0], joint_bud.horizon_provisioned[fig][j])
                np.testing.assert_array_equal(sliced.horizon_provisioned[fig][0], joint_bud.horizon_provisioned[fig][j])
                continue
            np.testing.assert_array_equal(bud.provisioned[fig][:, 0], joint_bud.provisioned[fig][:, j], err_msg=fig)
            np.testing.assert_array_equal(sliced.provisioned[fig][:, 0], joint_bud.provisioned[fig][:, j], err_msg=fig)
        np.testing.assert_array_equal(sliced.training.build[:, 0], joint_bud.training.build[:, j])


def test_stage_one_is_computed_once_per_platform_and_stack(monkeypatch):
    """A second run over any subset of the platforms (the break-even's) reuses stage 1, also cut to a
    narrower size grid; another stack or another forecast object is computed afresh and equals a
    computation without the cache."""
    from sizing import engine

    calls: list[tuple[str, ...]] = []
    real = engine._performance

    def counting(forecast, catalog, pids, sc, sizes):
        calls.append((tuple(pids), sc.stacks))
        return real(forecast, catalog, pids, sc, sizes)

    monkeypatch.setattr(engine, "_performance", counting)
    fc = _fresh_forecast()
    pids = ["trn3", "gb300_nvl72"]
    joint = engine.size(fc, CAT, pids, 200, 1)
    assert len(calls) == 2
    alone = engine.size(fc, CAT, ["gb300_nvl72"], 200, 1, throughput_scale={"gb300_nvl72": 2.0})
    engine.size(fc, CAT, pids[::-1], 50, 1)
    assert len(calls) == 2  # all from the cache
    uncached = engine.size(_fresh_forecast(), CAT, ["gb300_nvl72"], 200, 1, throughput_scale={"gb300_nvl72": 2.0})
    assert len(calls) == 3
    np.testing.assert_array_equal(alone.accelerators, uncached.accelerators)
    assert alone.configurations == uncached.configurations
    assert not np.array_equal(alone.accelerators[:, :, 0], joint.accelerators[:, :, 1])  # the factor applied
    other = engine.size(fc, CAT, ["trn3"], 200, 1, software={"trn3": "neuron-aws"})
    assert calls[-1] == (("trn3",), ("neuron-aws",)) and other.software == ("neuron-aws",)


def test_search_by_group_of_allowed_variants_equals_one_search_over_all():
    """The engine searches workloads that cannot draft (or cannot run two pools) without those
    variants: the same answer as one search over every workload, with fewer points scored."""
    from dataclasses import fields

    from sizing.engine import _search_by_group, llm_cases
    from sizing.llm import BestPerSize

    ws = _fresh_forecast().of_kind("llm_inference")
    pids = ["trn3", "gb300_nvl72"]
    sc = scenarios(CAT, pids, 3, 2, [None, None])
    sizes = _candidate_sizes(CAT, pids)
    grouped, n_grouped = _search_by_group(CAT, ws, sc, sizes, 0.9)
    whole, n_whole = search_best(llm_cases(CAT, ws), sc, sizes, BATCHES, 0.9)
    assert n_grouped < n_whole
    for f in fields(BestPerSize):
        np.testing.assert_array_equal(getattr(grouped, f.name), getattr(whole, f.name), err_msg=f.name)


def test_workloads_differing_only_in_demand_are_scored_once():
    """The tornado's demand clones: the same rows as their workload, at the points of the workloads alone."""
    from dataclasses import replace

    from sizing.engine import _search_by_group

    ws = _fresh_forecast().of_kind("llm_inference")
    clones = [replace(w, name=f"{w.name}@p90") for w in ws]
    pids = ["gb300_nvl72"]
    sc = scenarios(CAT, pids, 2, 4, [None])
    sizes = _candidate_sizes(CAT, pids)
    alone, n_alone = _search_by_group(CAT, ws, sc, sizes, 0.9)
    both, n_both = _search_by_group(CAT, [*ws, *clones], sc, sizes, 0.9)
    assert n_both == n_alone
    np.testing.assert_array_equal(both.output_tokens_per_s, np.concatenate([alone.output_tokens_per_s] * 2))
    np.testing.assert_array_equal(both.batch, np.concatenate([alone.batch] * 2))


def test_grouped_percentiles_equal_one_call_per_array():
    """budget.percentiles batches NaN-free arrays of a shape into one np.percentile call: the very
    numbers of one call per array (NaN-holding and all-NaN arrays keep their own path)."""
    from sizing.budget import BANDS, _percentile, bands, percentiles

    rng = np.random.default_rng(5)
    arrays = {"a": rng.lognormal(size=(5, 2, 301)), "b": rng.normal(size=(5, 2, 301)),
              "c": rng.normal(size=(3, 301)), "d": np.where(rng.random((5, 2, 301)) < 0.1, np.nan, 1.0),
              "e": np.full((5, 2, 301), np.nan)}
    for pct in (90.0, 50.0, 37.5):
        got = percentiles(arrays, pct)
        assert list(got) == list(arrays)
        for name, values in arrays.items():
            assert np.array_equal(got[name], _percentile(values, pct), equal_nan=True), (name, pct)
    got = percentiles(arrays, list(BANDS))
    for name, values in arrays.items():
        assert np.array_equal(got[name], bands(values), equal_nan=True), name
