"""The best batch per (workload, platform, scenario, replica size) by bisection, not the whole grid.

The engine needs, per configuration, only the batch with the highest feasible throughput. Within one
serving variant (aggregated or two pools, with or without drafting) every constraint tightens as the
batch grows (memory, the batch cap, p99 TTFT and TPOT all rise with it) and the throughput
``b x gain / step(b)`` rises with it (the step grows less than in proportion: weights stream once
per step), so the best feasible batch of a variant is its largest feasible one. A vectorised
bisection over the sorted batch grid finds it for every configuration at once in
``ceil(log2(Bc + 1))`` evaluations instead of ``Bc``; the batch that fills the HBM (``batch_fill``)
is scored on its own, then the variants are compared as :func:`sizing.llm.evaluate` compares them.

``tests/test_speed_search.py`` checks on varied cases (dense, MoE, MLA, speculative, disaggregated,
tight and loose targets, a compiled batch) that this returns what :func:`sizing.llm.best_batch`
picks from the exhaustive grid. Where a future formula broke the monotonicity, that test fails.
"""

from __future__ import annotations

import numpy as np

from sizing.catalog import Scenarios
from sizing.llm import BestPerSize, LlmCases, Prepared, _better, at_batch, bound_of, candidate_batches, prepare


def _take(v: dict[str, np.ndarray], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {key: np.broadcast_to(a, shape) for key, a in v.items()}


def _largest_feasible(prep: Prepared, grid: np.ndarray, disagg: bool, spec: bool,
                      shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """Per configuration, the index of the largest grid batch at which the variant is feasible (-1 if
    none), by bisection; and how many batches each configuration was scored at."""
    lo = np.full(shape, -1)  # feasible there (or -1: nothing below)
    hi = np.full(shape, grid.size)  # infeasible there (or past the end)
    probes = 0
    while (hi - lo > 1).any():
        mid = (lo + hi) // 2
        open_ = hi - lo > 1
        ok = at_batch(prep, grid[np.where(open_, mid, 0)], disagg, spec)["feasible"]
        probes += 1
        lo = np.where(open_ & ok, mid, lo)
        hi = np.where(open_ & ~ok, mid, hi)
    return lo, probes


def _variant_best(prep: Prepared, grid: np.ndarray, fill: np.ndarray | None, disagg: bool, spec: bool,
                  shape: tuple[int, ...]) -> tuple[dict[str, np.ndarray], int]:
    """The variant at its best batch: the largest feasible grid batch, or the HBM-filling batch where
    that is feasible with more throughput (the grid's order: ties keep the grid batch); where nothing
    is feasible, the smallest batch (as the exhaustive argmax picks)."""
    idx, probes = _largest_feasible(prep, grid, disagg, spec, shape)
    b = grid[np.maximum(idx, 0)]
    v = _take(at_batch(prep, b, disagg, spec), shape)
    v = {**v, "batch": np.broadcast_to(b, shape)}
    if fill is None:
        return v, probes + 1
    f = _take(at_batch(prep, fill, disagg, spec), shape)
    f = {**f, "batch": np.broadcast_to(fill, shape)}
    take = f["feasible"] & (~v["feasible"] | (f["tok"] > v["tok"]))
    return {key: np.where(take, f[key], v[key]) for key in v}, probes + 2


def sq(a: np.ndarray) -> np.ndarray:
    """(..., 1) -> (...): drop the batch axis."""
    return a[..., 0]


def search_best(cases: LlmCases, sc: Scenarios, sizes: np.ndarray, batches: np.ndarray,
                usable_hbm_fraction: float, batch_fill: bool = True) -> tuple[BestPerSize, int]:
    """What ``best_batch(evaluate(...))`` returns, by bisection; and the number of (workload, platform,
    scenario, replica size, batch) points scored (each point under every variant the search ran)."""
    prep = prepare(cases, sc, sizes, usable_hbm_fraction)
    grid = np.sort(np.asarray(batches, dtype=float))
    fill = candidate_batches(prep, grid[:0], True) if batch_fill else None
    shape = np.broadcast_shapes(prep.fixed_bytes.shape, prep.ctx.n.shape, prep.ctx.peak.shape,
                                prep.ctx.hbm.shape, (len(cases.isl), 1, 1, 1, 1))
    best: dict[str, np.ndarray] | None = None
    points = 0
    for disagg, spec in prep.variants():
        v, probes = _variant_best(prep, grid, fill, disagg, spec, shape)
        points += probes * int(np.prod(shape))
        best = v if best is None else _better(best, v)
    assert best is not None
    thr = np.where(best["feasible"], best["tok"], 0.0)
    return BestPerSize(
        output_tokens_per_s=sq(np.maximum(thr, 0.0)), batch=sq(best["batch"]), ttft_s=sq(best["ttft"]),
        tpot_s=sq(best["tpot"]), memory_bytes=sq(best["memory"]), bound=sq(bound_of(best)),
        feasible=sq(thr > 0), disaggregated=sq(best["disagg"]), speculative=sq(best["spec"]),
        prefill_replica_accelerators=sq(best["n_p"]), prefill_share=sq(best["share"]),
    ), points
