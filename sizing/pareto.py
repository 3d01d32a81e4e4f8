"""Throughput versus interactivity: the Pareto curve of each LLM workload on each platform.

Every replica size x batch the engine evaluates (``sizing.llm.evaluate``, nominal catalog) that
holds the weights and KV cache and meets the workload's TTFT target is a point: interactivity
(output tokens/s each user sees = 1 / p99 TPOT) against output tokens/s per accelerator (per
replica over the accelerators it occupies once packed into scale-up domains). The curve keeps the
points no other point beats on both axes; the workload's TPOT target marks the interactivity it
needs (points right of it meet the target).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sizing import llm
from sizing.catalog import Catalog, scenarios
from sizing.engine import _candidate_sizes, llm_cases, slot_accelerators, software_of
from sizing.forecast import Forecast, LlmWorkload


def frontier(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points not dominated on both axes (higher is better), by increasing x."""
    order = np.lexsort((-y, -x))  # x descending, then y descending
    best = -np.inf
    keep = []
    for i in order:
        if y[i] > best:
            keep.append(i)
            best = y[i]
    return np.array(keep[::-1], dtype=int)


def pareto(forecast: Forecast, catalog: Catalog, platform_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``{platform: {workload: {points, target_tokens_per_s_per_user}}}`` for the factory's LLM workloads."""
    ws: list[LlmWorkload] = [w for w in forecast.of_kind("llm_inference") if w.placement != "edge"]
    out: dict[str, dict[str, Any]] = {p: {} for p in platform_ids}
    if not ws:
        return out
    # scenario 0 is the nominal catalog; the stacks are the ones the plan sized with
    sc = scenarios(catalog, platform_ids, 1, 0, software_of(forecast, catalog, platform_ids))
    sizes = _candidate_sizes(catalog, platform_ids)
    grid = llm.evaluate(llm_cases(catalog, ws, tpot=False), sc, sizes, llm.BATCHES,
                        catalog.facility["usable_hbm_fraction"].nominal)
    slot = slot_accelerators(sizes, sc.domain_accelerators[:, None])  # (P, Nc)
    shape = grid.feasible[:, :, 0].shape  # (W, P, Nc, Bc)
    per_acc = np.broadcast_to(grid.output_tokens_per_s[:, :, 0], shape) / slot[None, :, :, None]
    user = 1.0 / np.broadcast_to(grid.tpot_p99_s[:, :, 0], shape)
    batch = np.broadcast_to(grid.batch[:, :, 0], shape)
    reps = np.broadcast_to(sizes[None, :, :, None], shape)
    ok = grid.feasible[:, :, 0] & np.isfinite(per_acc) & np.isfinite(user)
    for i, w in enumerate(ws):
        for j, pid in enumerate(platform_ids):
            m = ok[i, j]
            x, y = user[i, j][m], per_acc[i, j][m]
            keep = frontier(x, y)
            out[pid][w.name] = {
                "points": [{"batch": int(batch[i, j][m][k]), "replica_accelerators": int(reps[i, j][m][k]),
                            "tokens_per_s_per_user": _n(x[k]), "output_tokens_per_s_per_accelerator": _n(y[k])}
                           for k in keep],
                "target_tokens_per_s_per_user": None if w.tpot_ms is None else 1e3 / w.tpot_ms,
            }
    return out


def _n(x: float) -> float:
    return float(f"{float(x):.6g}")
