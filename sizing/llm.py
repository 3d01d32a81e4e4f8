"""LLM serving performance: a calibrated roofline over every (workload, platform, scenario,
replica size, batch) at once.

Per replica of N accelerators serving a batch of B concurrent sequences:

- memory: weights (total parameters) + B x KV cache at the mean decode context must fit in
  N x usable HBM.
- a decode step reads the weights the batch touches (dense: all; MoE: the always-active part plus
  the experts B tokens route to) and the batch's KV cache over N x HBM bandwidth, and does
  2 x active parameters + attention FLOPs per token over N x peak; the step costs the larger of the
  two plus the collectives (tensor-parallel all-reduces for dense models, expert-parallel
  all-to-alls for MoE) over the scale-up link, and pipeline hops over EFA when a replica spans
  several scale-up domains.
- continuous batching: each step also prefills the B/osl requests that replace finished ones.
  Prefill FLOPs share the step's compute with decode, so prefill is free up to the compute slack
  of a memory-bound step. MLPerf counts output tokens only; this is where its hidden prefill goes.
- TTFT and TPOT targets are p99 (as MLPerf's limits). The p99 TPOT is the bare decode step times a
  jitter factor plus a calibrated multiple of the prefill interference (a batch that prefills little
  has a p99 close to its mean); the p99 TTFT is a calibrated multiple of the mean (queueing).
- disaggregated serving moves prefill to its own accelerators: TPOT is the bare decode step, and
  the prefill accelerator-seconds are charged to the throughput.

Achievable fractions of peak come from the catalog (calibration constants), never from code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sizing.catalog import PRECISIONS, Catalog, Scenarios
from sizing.models import ModelArrays, ModelSpec, effective_context, mean_attended_context

ACTIVATION_BYTES = 2.0  # BF16 activations in collectives
SCALEOUT_HOP_S = 20e-6  # one pipeline hop between scale-up domains over EFA (latency part)
BATCHES = np.unique(np.round(np.geomspace(1, 16384, 110))).astype(float)
BOUNDS = ("memory", "compute", "communication")


def replica_sizes(domain: int, max_accelerators: float = np.inf, max_domains: int = 16) -> list[int]:
    """Candidate replica sizes: powers of two inside a domain, the whole domain, and whole
    multiples of it (pipeline stages across domains)."""
    sizes = {2**i for i in range(0, 12) if 2**i < domain}
    sizes.add(domain)
    sizes.update(domain * m for m in (2, 4, 8, 16) if m <= max_domains)
    return sorted(s for s in sizes if s <= max_accelerators)


@dataclass(frozen=True)
class LlmCases:
    """LLM serving configurations as arrays of shape (W,)."""

    models: ModelArrays
    precision_index: np.ndarray  # index into PRECISIONS
    attention_index: np.ndarray
    weight_bytes_per_param: np.ndarray
    kv_bytes_per_element: np.ndarray
    isl: np.ndarray
    osl: np.ndarray
    ttft_s: np.ndarray  # inf when no target
    tpot_s: np.ndarray
    disaggregated: np.ndarray

    @staticmethod
    def of(catalog: Catalog, specs: list[ModelSpec], precisions: list[str], isl: list[float],
           osl: list[float], ttft_ms: list[float | None], tpot_ms: list[float | None],
           disaggregated: list[bool]) -> LlmCases:
        def lim(values: list[float | None]) -> np.ndarray:
            return np.array([np.inf if v is None else v / 1e3 for v in values], dtype=float)

        return LlmCases(
            models=ModelArrays.of(specs),
            precision_index=np.array([PRECISIONS.index(p) for p in precisions]),
            attention_index=np.array([PRECISIONS.index(catalog.attention_rate(p)) for p in precisions]),
            weight_bytes_per_param=np.array([catalog.weight_bytes_per_param(p) for p in precisions]),
            kv_bytes_per_element=np.array([catalog.kv_bytes_per_element(p) for p in precisions]),
            isl=np.array(isl, dtype=float),
            osl=np.array(osl, dtype=float),
            ttft_s=lim(ttft_ms),
            tpot_s=lim(tpot_ms),
            disaggregated=np.array(disaggregated, dtype=bool),
        )


@dataclass(frozen=True)
class LlmGrid:
    """Per-configuration results, shape (W, P, K, Nc, Bc); invalid configurations are not feasible."""

    replica_accelerators: np.ndarray  # (1, P, 1, Nc, 1)
    batch: np.ndarray  # (W, P, K, Nc, Bc)
    output_tokens_per_s: np.ndarray  # per replica
    tokens_per_s_per_accelerator: np.ndarray
    ttft_s: np.ndarray
    tpot_s: np.ndarray
    ttft_p99_s: np.ndarray
    tpot_p99_s: np.ndarray
    memory_bytes: np.ndarray
    bound: np.ndarray  # index into BOUNDS
    fits: np.ndarray
    feasible: np.ndarray


def _w(a: np.ndarray) -> np.ndarray:
    """(W,) -> (W, 1, 1, 1, 1)."""
    return a[:, None, None, None, None]


def evaluate(cases: LlmCases, sc: Scenarios, sizes: np.ndarray, batches: np.ndarray,
             usable_hbm_fraction: float, batch_fill: bool = True) -> LlmGrid:
    """Evaluate every configuration. ``sizes`` is (P, Nc) with NaN padding; ``batches`` (Bc,);
    with ``batch_fill`` a last batch candidate fills each replica's HBM exactly."""
    m = cases.models
    n = sizes[None, :, None, :, None]
    domain = sc.domain_accelerators[None, :, None, None, None].astype(float)
    hbm = sc.hbm_bytes[None, :, :, None, None]
    bw = sc.hbm_bytes_per_s[None, :, :, None, None] * sc.eff["hbm_fraction"][None, :, :, None, None]
    link = 0.5 * sc.scaleup_bytes_per_s[None, :, :, None, None] * sc.eff["scaleup_fraction"][None, :, :, None, None]
    efa = sc.scaleout_bytes_per_s[None, :, :, None, None]
    lat = sc.eff["collective_latency_us"][None, :, :, None, None] * 1e-6
    pre_frac = sc.eff["prefill_compute_fraction"][None, :, :, None, None]
    dec_frac = sc.eff["decode_compute_fraction"][None, :, :, None, None]
    # peak FLOP/s at each workload's precision: (W, P, K)
    peak = np.moveaxis(sc.peak_flops[:, :, cases.precision_index], 2, 0)[..., None, None]
    # FP4 GEMMs reach a smaller share of their (doubled) peak than FP8 ones: a calibrated ratio
    is_fp4 = (cases.precision_index == PRECISIONS.index("fp4"))[:, None, None, None, None]
    peak = peak * np.where(is_fp4, sc.eff["fp4_compute_ratio"][None, :, :, None, None], 1.0)
    # the busiest expert-parallel rank sets the pace of routed-expert compute and all-to-alls
    imbalance = np.where(_w(m.is_moe), sc.eff["moe_imbalance"][None, :, :, None, None], 1.0)
    attn_peak = np.moveaxis(sc.peak_flops[:, :, cases.attention_index], 2, 0)[..., None, None]

    isl, osl = cases.isl, cases.osl
    wbytes = cases.weight_bytes_per_param
    # KV cache per sequence at the mean decode context (the batch holds sequences at all stages)
    ctx_decode = mean_attended_context(isl, osl, m.swa_fraction, m.sliding_window)
    kv_ctx = effective_context(isl + 0.5 * osl, m.swa_fraction, m.sliding_window)
    kv_seq_bytes = _w(m.kv_elements_full * kv_ctx * cases.kv_bytes_per_element)
    weight_bytes = _w(m.total_params * wbytes)
    # candidate batches: the grid, plus the exact batch that fills the replica's HBM (the offline optimum
    # is usually there, and a grid alone would land up to one step below it)
    room = n * hbm * usable_hbm_fraction - weight_bytes
    fill = np.floor(np.maximum(room, 0.0) / kv_seq_bytes)
    fill = np.where(fill >= 1.0, fill, 1.0)
    grid_b = np.broadcast_to(batches[None, None, None, None, :], fill.shape[:-1] + (batches.size,))
    b = np.concatenate([grid_b, fill], axis=-1) if batch_fill else grid_b
    memory = weight_bytes + b * kv_seq_bytes
    fits = memory <= n * hbm * usable_hbm_fraction

    # -- decode step -------------------------------------------------------------------------
    experts = _w(m.experts)
    touched = np.where(
        experts > 0,
        experts * (1.0 - (1.0 - _w(m.experts_per_token) / np.maximum(experts, 1.0)) ** b),
        0.0,
    )
    step_weight_bytes = np.where(
        _w(m.is_moe),
        (_w(m.always_active_params) + touched * _w(m.params_per_expert)) * _w(wbytes),
        weight_bytes,
    )
    # decode attention over a paged KV cache reaches a smaller share of peak than weight streaming and
    # GEMMs do: KV reads and attention FLOPs run at attention_efficiency x the usual fractions
    attn_eff = sc.eff["attention_efficiency"][None, :, :, None, None]
    t_mem = step_weight_bytes / (n * bw) + b * kv_seq_bytes / (n * bw * attn_eff)
    layers, hidden, heads = _w(m.layers), _w(m.hidden), _w(m.heads)
    attn_flops_tok = 2.0 * layers * heads * _w(m.attn_decode_width) * _w(ctx_decode)
    routed = _w(m.experts_per_token * m.params_per_expert)
    linear_per_tok = 2.0 * (_w(m.active_params) - routed + routed * imbalance)
    t_comp = b * (linear_per_tok / (n * peak * dec_frac) + attn_flops_tok / (n * attn_peak * dec_frac * attn_eff))

    tp = np.minimum(n, domain)
    stages = np.ceil(n / domain)
    ring = 2.0 * (tp - 1.0) / tp
    moe = _w(m.is_moe)
    moe_layers = layers  # all-to-all per layer (dense layers of MoE models are a few percent)
    k_routed = _w(np.maximum(m.experts_per_token, 1.0))

    def collectives(tokens: np.ndarray) -> np.ndarray:
        """Scale-up communication for ``tokens`` tokens in flight through all layers."""
        allreduce = layers * 2.0 * (lat + ring * tokens * hidden * ACTIVATION_BYTES / link)
        alltoall = moe_layers * 2.0 * (
            lat + imbalance * (tp - 1.0) / tp * tokens / tp * k_routed * hidden * ACTIVATION_BYTES / link
        )
        t = np.where(moe, alltoall, allreduce)
        return np.where(tp > 1.0, t, 0.0)

    def hops(tokens: np.ndarray) -> np.ndarray:
        return (stages - 1.0) * (SCALEOUT_HOP_S + tokens * hidden * ACTIVATION_BYTES / efa)

    # fixed software cost of every step (kernel launches, scheduling, sampling)
    t_comm_dec = collectives(b) + hops(b) + sc.eff["step_overhead_us"][None, :, :, None, None] * 1e-6

    # -- prefill -----------------------------------------------------------------------------
    ctx_prefill = mean_attended_context(np.zeros_like(isl), isl, m.swa_fraction, m.sliding_window)
    pre_attn_flops = 2.0 * m.layers * m.heads * (m.qk_head_dim + m.head_dim) * isl * ctx_prefill
    t_pre_comp = _w(isl) * linear_per_tok / (n * peak * pre_frac) + _w(pre_attn_flops) / (n * attn_peak * pre_frac)
    t_pre_comm = collectives(_w(isl)) + hops(_w(isl))
    t_pre_weights = weight_bytes / (n * bw)  # a lone prefill still streams the weights once

    # -- steady state ------------------------------------------------------------------------
    prefills_per_step = b / _w(osl)
    disagg = _w(cases.disaggregated)
    step_mixed = (
        np.maximum(t_mem, t_comp + prefills_per_step * t_pre_comp)
        + t_comm_dec
        + prefills_per_step * t_pre_comm
    )
    step_alone = np.maximum(t_mem, t_comp) + t_comm_dec
    prefill_alone = np.maximum(t_pre_comp, t_pre_weights) + t_pre_comm
    # accelerator-seconds per output token -> output tokens/s per replica of n accelerators
    acc_s_per_token = np.where(
        disagg,
        n * step_alone / b + n * (t_pre_comp + t_pre_comm) / _w(osl),
        n * step_mixed / b,
    )
    tok_s_replica = n / acc_s_per_token
    tpot = np.where(disagg, step_alone, step_mixed)
    rho = np.where(disagg, 0.0, np.clip(prefills_per_step * t_pre_comp / step_mixed, 0.0, 0.95))
    ttft = prefill_alone / (1.0 - rho) + tpot

    compute_part = np.where(disagg, t_comp, t_comp + prefills_per_step * t_pre_comp)
    comm_part = t_comm_dec + np.where(disagg, 0.0, prefills_per_step * t_pre_comm)
    # which term dominates: 0 memory, 1 compute, 2 communication (ties go to the earlier)
    bound = np.where(comm_part > np.maximum(t_mem, compute_part), 2, np.where(compute_part > t_mem, 1, 0))

    valid = np.isfinite(n) & np.isfinite(peak)
    # targets are p99 latencies (as MLPerf's). TPOT tails come from prefill work landing in decode
    # steps: the p99 step is the bare decode step plus tpot_tail_factor x the mean interference (none
    # when disaggregated); TTFT tails from queueing: ttft_tail_factor x the mean.
    tpot_tail = sc.eff["tpot_tail_factor"][None, :, :, None, None]
    jitter = sc.eff["tpot_jitter_factor"][None, :, :, None, None]
    ttft_tail = sc.eff["ttft_tail_factor"][None, :, :, None, None]
    tpot_p99 = jitter * step_alone + np.where(disagg, 0.0, tpot_tail * (step_mixed - step_alone))
    ttft_p99 = ttft * ttft_tail
    feasible = (
        valid & fits
        & (ttft_p99 <= _w(cases.ttft_s))
        & (tpot_p99 <= _w(cases.tpot_s))
    )
    return LlmGrid(
        replica_accelerators=n,
        batch=b,
        output_tokens_per_s=tok_s_replica,
        tokens_per_s_per_accelerator=tok_s_replica / n,
        ttft_s=ttft,
        tpot_s=tpot,
        ttft_p99_s=ttft_p99,
        tpot_p99_s=tpot_p99,
        memory_bytes=np.broadcast_to(memory, ttft.shape),
        bound=bound,
        fits=fits,
        feasible=feasible,
    )


@dataclass(frozen=True)
class BestPerSize:
    """The best batch for each replica size: arrays of shape (W, P, K, Nc)."""

    output_tokens_per_s: np.ndarray  # per replica; 0 where infeasible
    batch: np.ndarray
    ttft_s: np.ndarray
    tpot_s: np.ndarray
    memory_bytes: np.ndarray
    bound: np.ndarray
    feasible: np.ndarray


def best_batch(grid: LlmGrid) -> BestPerSize:
    """For each replica size, the batch that maximises throughput within the latency targets."""
    thr = np.where(grid.feasible, grid.output_tokens_per_s, -1.0)
    idx = np.argmax(thr, axis=-1)[..., None]

    def pick(a: np.ndarray) -> np.ndarray:
        return np.take_along_axis(np.broadcast_to(a, thr.shape), idx, axis=-1)[..., 0]

    best = pick(thr)
    return BestPerSize(
        output_tokens_per_s=np.maximum(best, 0.0),
        batch=pick(grid.batch),
        ttft_s=pick(grid.ttft_s),
        tpot_s=pick(grid.tpot_s),
        memory_bytes=pick(grid.memory_bytes),
        bound=pick(grid.bound),
        feasible=best > 0,
    )
