"""LLM serving performance: a calibrated roofline over every (workload, platform, scenario,
replica size, batch) at once.

Per replica of N accelerators serving a batch of B concurrent sequences (B at most the stack's
``max_batch``):

- formats: the workload names its checkpoint's weight format; each platform serves it in the best
  format its hardware and stack support (:func:`serving_formats`): FP4 weights with FP8 or BF16
  compute on Hopper, BF16 checkpoints in FP8 where the stack does so and the workload allows it.
- memory: weights + B x (KV cache at the mean decode context, replicated when tensor parallelism
  exceeds the KV heads, + per-sequence workspace) + N x the stack's workspace fit in N x usable HBM.
- a step reads the weights the batch touches (dense: all; MoE: the always-active part plus the
  experts B tokens route to) and the batch's KV cache, and computes every token's GEMMs and
  attention; it costs the larger of the two, plus the collectives ONCE per step for all its tokens
  (tensor-parallel all-reduces, expert-parallel all-to-alls), pipeline hops over EFA, the stack's
  per-step software floor and a per-sequence cost (sampling over the vocabulary, scheduling).
- MoE load imbalance only where experts are spread over ranks (EP > 1): expert-popularity skew
  (fitted) plus the statistical spread of T routed tokens over R ranks, so decode (few tokens) and
  prefill (many) differ.
- continuous batching: each step also prefills the prompts that replace finished sequences (after
  the prefix cache's hits), in chunks of the stack's chunk size (a whole prompt where the stack does
  not chunk). The p99 TPOT is MLPerf's, per request: a request's decode steps meet a Poisson count
  of chunk-carrying steps, and the p99 request has the count's 99th percentile (times a jitter
  factor); the p99 TTFT is a calibrated multiple of the mean, whose queueing on the prefill share is
  explicit.
- speculative decoding (MTP, EAGLE, a draft model): a step verifies k drafted tokens per sequence
  and yields (1 - a^(k+1)) / (1 - a) tokens; the draft passes cost their weights and compute. The
  engine uses it where it raises throughput (as engines switch it off at large batch).
- disaggregated serving: a prefill pool (its own replica size, the cheapest meeting the TTFT) and a
  decode pool (this grid's replica and batch); the KV cache moves over EFA; ``auto`` keeps the
  better of aggregated and disaggregated per configuration.

Achievable fractions of peak and runtime limits come from the catalog (per serving stack), never
from code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from sizing.catalog import PRECISIONS, Catalog, Scenarios
from sizing.models import ModelArrays, ModelSpec, effective_context, mean_attended_context

ACTIVATION_BYTES = 2.0  # BF16 activations in collectives
SCALEOUT_HOP_S = 20e-6  # one pipeline hop between scale-up domains over EFA (latency part)
BATCHES = np.unique(np.round(np.geomspace(1, 16384, 110))).astype(float)
BOUNDS = ("memory", "compute", "communication")
FP4, FP8, BF16 = (PRECISIONS.index(p) for p in ("fp4", "fp8", "bf16"))
DISAGG_MODES = ("false", "true", "auto")
SPEC_METHODS = ("mtp", "eagle", "draft")
MIB, GIB = 2.0**20, 2.0**30


def replica_sizes(domain: int, max_accelerators: float = np.inf, max_domains: int = 16) -> list[int]:
    """Candidate replica sizes: powers of two inside a domain, the whole domain, and whole
    multiples of it (pipeline stages across domains)."""
    sizes = {2**i for i in range(0, 12) if 2**i < domain}
    sizes.add(domain)
    sizes.update(domain * m for m in (2, 4, 8, 16) if m <= max_domains)
    return sorted(s for s in sizes if s <= max_accelerators)


def serving_formats(checkpoint: np.ndarray, quantize: np.ndarray, supported: np.ndarray,
                    fp8_serving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weight-storage and GEMM-compute formats (indices into PRECISIONS), shape (W, P).

    ``checkpoint`` (W,) is the workload's weight format, ``quantize`` (W,) whether it allows a BF16
    checkpoint to be served in FP8, ``supported`` (P, 3) the platform's tensor-core formats and
    ``fp8_serving`` (P,) whether the stack serves BF16 checkpoints in FP8. An FP4 checkpoint keeps
    4-bit weights everywhere and computes in FP4 where the hardware has it, else FP8, else BF16
    (weight-only quantisation, as gpt-oss on Hopper); a quantised BF16 checkpoint stores FP8 weights.
    """
    ck = checkpoint[:, None]
    s4, s8 = supported[None, :, FP4], supported[None, :, FP8]
    to_fp8 = quantize[:, None] & s8 & (fp8_serving[None, :] > 0.5)
    compute = np.where(ck == FP4, np.where(s4, FP4, np.where(s8, FP8, BF16)),
                       np.where(ck == FP8, np.where(s8, FP8, BF16), np.where(to_fp8, FP8, BF16)))
    weights = np.where((ck == BF16) & (compute == FP8), FP8, np.broadcast_to(ck, compute.shape))
    return weights, compute


@dataclass(frozen=True)
class LlmCases:
    """LLM serving configurations as arrays of shape (W,)."""

    models: ModelArrays
    checkpoint_index: np.ndarray  # weight format of the checkpoint, index into PRECISIONS
    quantize: np.ndarray  # bool: a BF16 checkpoint may be served in FP8
    weight_bytes_table: np.ndarray  # (3,) bytes per weight of each format
    kv_bytes_table: np.ndarray  # (3,) KV bytes per element when computing in each format
    attention_table: np.ndarray  # (3,) attention rate format index when computing in each format
    isl: np.ndarray
    osl: np.ndarray
    ttft_s: np.ndarray  # inf when no target
    tpot_s: np.ndarray
    disaggregated: np.ndarray  # index into DISAGG_MODES
    prefix_hit: np.ndarray  # share of prompt tokens served from the prefix cache
    spec_tokens: np.ndarray  # drafted tokens per step; 0 = none
    spec_acceptance: np.ndarray
    spec_draft_params: np.ndarray  # parameters one draft pass runs
    spec_explicit: np.ndarray  # bool: the workload chose; else the stack's MTP default may apply
    compiled_batch: np.ndarray  # static-graph batch (Neuron rows); per-sequence costs run max(B, this) slots

    @staticmethod
    def of(catalog: Catalog, specs: list[ModelSpec], precisions: list[str], isl: list[float],
           osl: list[float], ttft_ms: list[float | None], tpot_ms: list[float | None],
           disaggregated: list[bool | str], quantize: list[bool] | None = None,
           prefix_hit: list[float] | None = None,
           speculative: list[tuple[str, int, float, float] | None] | None = None,
           compiled_batch: list[float] | None = None) -> LlmCases:
        """``speculative`` items are (method, tokens, acceptance, draft_params_b) or None."""
        def lim(values: list[float | None]) -> np.ndarray:
            return np.array([np.inf if v is None else v / 1e3 for v in values], dtype=float)

        n = len(specs)
        spec = speculative or [None] * n
        draft = [0.0 if s is None else (s[3] * 1e9 if s[0] == "draft" else m.active_params_b * 1e9 / m.layers)
                 for s, m in zip(spec, specs, strict=True)]
        return LlmCases(
            models=ModelArrays.of(specs),
            checkpoint_index=np.array([PRECISIONS.index(p) for p in precisions]),
            quantize=np.array(quantize if quantize is not None else [True] * n, dtype=bool),
            weight_bytes_table=np.array([catalog.weight_bytes_per_param(p) for p in PRECISIONS]),
            kv_bytes_table=np.array([catalog.kv_bytes_per_element(p) for p in PRECISIONS]),
            attention_table=np.array([PRECISIONS.index(catalog.attention_rate(p)) for p in PRECISIONS]),
            isl=np.array(isl, dtype=float),
            osl=np.array(osl, dtype=float),
            ttft_s=lim(ttft_ms),
            tpot_s=lim(tpot_ms),
            disaggregated=np.array([DISAGG_MODES.index(str(d).lower()) for d in disaggregated]),
            prefix_hit=np.array(prefix_hit if prefix_hit is not None else [0.0] * n, dtype=float),
            spec_tokens=np.array([0.0 if s is None else float(s[1]) for s in spec]),
            spec_acceptance=np.array([0.0 if s is None else float(s[2]) for s in spec]),
            spec_draft_params=np.array(draft),
            spec_explicit=np.array([s is not None for s in spec], dtype=bool),
            compiled_batch=np.array(compiled_batch if compiled_batch is not None else [0.0] * n, dtype=float),
        )


@dataclass(frozen=True)
class LlmGrid:
    """Per-configuration results, shape (W, P, K, Nc, Bc); invalid configurations are not feasible."""

    replica_accelerators: np.ndarray  # (1, P, 1, Nc, 1)
    batch: np.ndarray  # (W, P, K, Nc, Bc)
    output_tokens_per_s: np.ndarray  # per replica (decode pool; the prefill pool's cost included)
    tokens_per_s_per_accelerator: np.ndarray
    ttft_s: np.ndarray
    tpot_s: np.ndarray
    ttft_p99_s: np.ndarray
    tpot_p99_s: np.ndarray
    memory_bytes: np.ndarray
    bound: np.ndarray  # index into BOUNDS
    fits: np.ndarray
    feasible: np.ndarray
    disaggregated: np.ndarray  # bool: the configuration runs two pools
    speculative: np.ndarray  # bool: the configuration drafts tokens
    prefill_replica_accelerators: np.ndarray  # prefill pool's replica size (NaN when aggregated)
    prefill_share: np.ndarray  # share of accelerator-seconds in the prefill pool (0 when aggregated)
    weight_format: np.ndarray  # (W, P) index into PRECISIONS
    compute_format: np.ndarray  # (W, P)


def _w(a: np.ndarray) -> np.ndarray:
    """(W,) -> (W, 1, 1, 1, 1)."""
    return a[:, None, None, None, None]


def _wp(a: np.ndarray) -> np.ndarray:
    """(W, P) -> (W, P, 1, 1, 1)."""
    return a[:, :, None, None, None]


class _Ctx:
    """The broadcast arrays one evaluation shares: hardware, stack constants, model and formats."""

    def __init__(self, cases: LlmCases, sc: Scenarios, sizes: np.ndarray) -> None:
        m = self.m = cases.models
        P = len(sc.platform_ids)

        def e(name: str) -> np.ndarray:
            return sc.eff[name][None, :, :, None, None]

        self.e = e
        self.n = sizes[None, :, None, :, None]
        domain = sc.domain_accelerators[None, :, None, None, None].astype(float)
        self.tp = np.minimum(self.n, domain)
        self.stages = np.ceil(self.n / domain)
        self.hbm = sc.hbm_bytes[None, :, :, None, None]
        self.bw = sc.hbm_bytes_per_s[None, :, :, None, None] * e("hbm_fraction")
        self.link = 0.5 * sc.scaleup_bytes_per_s[None, :, :, None, None] * e("scaleup_fraction")
        self.efa = sc.scaleout_bytes_per_s[None, :, :, None, None]
        self.lat = e("collective_latency_us") * 1e-6
        supported = np.isfinite(sc.peak_flops[:, 0, :])
        self.wfmt, self.cfmt = serving_formats(cases.checkpoint_index, cases.quantize, supported,
                                               sc.eff["fp8_serving"][:, 0])
        p_idx = np.arange(P)[None, :]
        peak = sc.peak_flops[p_idx, :, self.cfmt]  # (W, P, K)
        peak = peak * np.where(self.cfmt == FP4, sc.eff["fp4_compute_ratio"][None, :, 0], 1.0)[..., None]
        self.peak = peak[..., None, None]
        self.attn_peak = sc.peak_flops[p_idx, :, cases.attention_table[self.cfmt]][..., None, None]
        self.wbytes = _wp(cases.weight_bytes_table[self.wfmt])
        kv_bytes = _wp(cases.kv_bytes_table[self.cfmt])
        # GQA heads shard over TP ranks; beyond the KV-head count each rank holds a copy. MLA's latent is
        # one per token (served with attention data parallelism): never replicated.
        gqa = _w(m.kv_heads > 0) & ~_w(m.is_mla)
        self.kv_repl = np.where(gqa, np.maximum(1.0, self.tp / _w(np.maximum(m.kv_heads, 1.0))), 1.0)
        kv_ctx = effective_context(cases.isl + 0.5 * cases.osl, m.swa_fraction, m.sliding_window)
        self.kv_seq_bytes = _w(m.kv_elements_full * kv_ctx) * kv_bytes * self.kv_repl
        self.kv_prompt_bytes = _w(m.kv_elements_full * cases.isl) * kv_bytes  # moved prefill -> decode pool
        self.weight_bytes = _w(m.total_params) * self.wbytes
        self.isl_new = cases.isl * (1.0 - cases.prefix_hit)  # prompt tokens the prefix cache does not hold
        self.ctx_decode = mean_attended_context(cases.isl, cases.osl, m.swa_fraction, m.sliding_window)
        ctx_pre = mean_attended_context(cases.isl - self.isl_new, self.isl_new, m.swa_fraction, m.sliding_window)
        self.compiled_batch = _w(cases.compiled_batch)
        self.pre_attn_flops_tok = _w(2.0 * m.layers * m.heads * (m.qk_head_dim + m.head_dim) * ctx_pre)

    def _on_moe_rows(self, fn: Any, default: float, *arrays: np.ndarray) -> np.ndarray:
        """``fn(*arrays)`` evaluated on the MoE workloads' rows only (``default`` elsewhere): the dense
        majority of a forecast never pays for routing arithmetic."""
        shape = np.broadcast_shapes(*(a.shape for a in arrays), (len(self.m.is_moe), 1, 1, 1, 1))
        rows = np.flatnonzero(self.m.is_moe)
        out = np.full(shape, default)
        if rows.size:
            out[rows] = fn(*(np.broadcast_to(a, shape)[rows] if a.shape[0] > 1 else
                             np.broadcast_to(a, (rows.size,) + shape[1:]) for a in arrays), rows)
        return out

    def imbalance(self, tokens: np.ndarray) -> np.ndarray:
        """Busiest expert-parallel rank / the average for ``tokens`` routed tokens; 1 without EP."""
        return self._on_moe_rows(self._busiest, 1.0, tokens, self.tp, self.e("moe_imbalance"))

    def _busiest(self, t: np.ndarray, r: np.ndarray, skew: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """:meth:`imbalance` on the MoE rows ``rows`` (``t``, ``r``, ``skew`` already those rows)."""
        k = _w(np.maximum(self.m.experts_per_token[rows], 1.0))
        spread = np.sqrt(2.0 * np.log(np.maximum(r, 1.0)) * r / np.maximum(t * k, 1.0))
        return np.where(r > 1.0, np.maximum(np.minimum(skew + spread, r), 1.0), 1.0)

    def touched_experts(self, tokens: np.ndarray) -> np.ndarray:
        """Experts ``tokens`` routed tokens touch (all the weights a large batch streams)."""
        m = self.m

        def touched(t: np.ndarray, rows: np.ndarray) -> np.ndarray:
            e, k = _w(m.experts[rows]), _w(m.experts_per_token[rows])
            return e * (1.0 - (1.0 - k / np.maximum(e, 1.0)) ** t)

        return self._on_moe_rows(touched, 0.0, tokens)

    def linear_flops_per_token(self, tokens: np.ndarray) -> np.ndarray:
        m = self.m
        routed = _w(m.experts_per_token * m.params_per_expert)
        return 2.0 * (_w(m.active_params) - routed + routed * self.imbalance(tokens) / self.e("moe_efficiency"))

    def collectives(self, tokens: np.ndarray) -> np.ndarray:
        """Scale-up communication of ONE step carrying ``tokens`` tokens through all layers, plus the
        pipeline hops over EFA when a replica spans domains."""
        m, tp = self.m, self.tp
        layers, hidden = _w(m.layers), _w(m.hidden)
        allreduce = layers * 2.0 * (self.lat + 2.0 * (tp - 1.0) / tp * tokens * hidden * ACTIVATION_BYTES / self.link)

        def alltoall(t: np.ndarray, r: np.ndarray, lat: np.ndarray, link: np.ndarray, skew: np.ndarray,
                     rows: np.ndarray) -> np.ndarray:
            k = _w(np.maximum(m.experts_per_token[rows], 1.0))
            busiest = self._busiest(t, r, skew, rows)
            return _w(m.layers[rows]) * 2.0 * (lat + busiest * (r - 1.0) / r * t / r * k * _w(m.hidden[rows])
                                               * ACTIVATION_BYTES / link)

        moe = self._on_moe_rows(alltoall, 0.0, tokens, tp, self.lat, self.link, self.e("moe_imbalance"))
        t = np.where(tp > 1.0, np.where(_w(m.is_moe), moe, allreduce), 0.0)
        hops = (self.stages - 1.0) * (SCALEOUT_HOP_S + tokens * hidden * ACTIVATION_BYTES / self.efa)
        return t + hops

    def prefill_linear_flops_per_token(self, tokens: np.ndarray) -> np.ndarray:
        """GEMM FLOPs per prompt token. Where the stack's prefill runs every routed expert on every
        token (``moe_prefill_all_experts`` = 1: NxD's context-encoding path, which masks the unchosen
        experts' outputs instead of routing) a MoE prompt costs 2 x total parameters per token."""
        all_experts = _w(self.m.is_moe) & (self.e("moe_prefill_all_experts") > 0.5)
        return np.where(all_experts, 2.0 * _w(self.m.total_params), self.linear_flops_per_token(tokens))

    def prefill_compute(self, tokens: np.ndarray) -> np.ndarray:
        """Compute time of ``tokens`` prompt tokens (GEMMs and attention) at the prefill fractions."""
        frac = self.e("prefill_compute_fraction")
        return tokens * (self.prefill_linear_flops_per_token(tokens) / (self.n * self.peak * frac)
                         + self.pre_attn_flops_tok / (self.n * self.attn_peak * frac))

    @cached_property
    def chunk_tokens(self) -> np.ndarray:
        """Prompt tokens of one prefill chunk: the stack's chunk, or the whole new prompt if shorter."""
        return np.minimum(self.e("prefill_chunk_tokens"), _w(self.isl_new))

    @cached_property
    def chunk_compute(self) -> np.ndarray:
        """Compute time of one chunk (batch-independent: computed once per evaluation)."""
        return self.prefill_compute(self.chunk_tokens)

    @cached_property
    def prefill_alone(self) -> np.ndarray:
        """Latency of one whole new prompt's prefill with nothing else in the step."""
        tokens = _w(self.isl_new)
        return (np.maximum(self.prefill_compute(tokens), self.weight_bytes / (self.n * self.bw))
                + self.collectives(tokens))

    def decode_steps(self, b: np.ndarray, q: np.ndarray, prefills: tuple[np.ndarray, ...],
                     computes: tuple[np.ndarray | None, ...] | None = None) -> list[tuple[np.ndarray, ...]]:
        """Steps of ``b`` sequences each verifying ``q`` tokens, one per entry of ``prefills`` (prompt
        tokens the step also carries); the decode part is computed once for all of them. ``computes``
        gives an entry's prefill compute time where it is already known (None: computed here).

        Returns per entry (step time, memory part, compute part, communication and software part)."""
        m, n = self.m, self.n
        attn_eff = self.e("attention_efficiency")
        t_kv = b * self.kv_seq_bytes / (n * self.bw * attn_eff)
        dec = self.e("decode_compute_fraction")
        attn_flops_tok = 2.0 * _w(m.layers * m.heads * m.attn_decode_width * self.ctx_decode)
        t_dec = b * q * (self.linear_flops_per_token(b * q) / (n * self.peak * dec)
                         + attn_flops_tok / (n * self.attn_peak * dec * attn_eff))
        slots = np.maximum(b, self.compiled_batch)  # a static graph runs every compiled slot
        t_seq = slots * self.e("per_sequence_us") * 1e-6
        out: list[tuple[np.ndarray, ...]] = []
        for i, prefill_tokens in enumerate(prefills):
            known = None if computes is None else computes[i]
            routed_bytes = (self.touched_experts(b * q + prefill_tokens) * _w(m.params_per_expert) * self.wbytes
                            / self.e("moe_efficiency"))
            step_weight_bytes = np.where(_w(m.is_moe), _w(m.always_active_params) * self.wbytes + routed_bytes,
                                         self.weight_bytes)
            t_mem = step_weight_bytes / (n * self.bw) + t_kv
            t_comp = t_dec + (self.prefill_compute(prefill_tokens) if known is None else known)
            t_comm = self.collectives(b * q + prefill_tokens) + self.e("step_overhead_us") * 1e-6 + t_seq
            out.append((np.maximum(t_mem, t_comp) + t_comm, t_mem, t_comp, t_comm))
        return out


def _draft_time(ctx: _Ctx, b: np.ndarray, k: np.ndarray, draft_params: np.ndarray) -> np.ndarray:
    """k sequential draft passes of a ``draft_params`` network for ``b`` sequences."""
    read = draft_params * ctx.wbytes / (ctx.n * ctx.bw)
    comp = b * 2.0 * draft_params / (ctx.n * ctx.peak * ctx.e("decode_compute_fraction"))
    return k * np.maximum(read, comp)


def _prefill_pool(ctx: _Ctx, cases: LlmCases, usable: float) -> tuple[np.ndarray, ...]:
    """The cheapest prefill replica size per (workload, platform, scenario) that holds the weights and
    meets the TTFT: (accelerator-seconds per request, prefill latency incl. KV transfer, replica size),
    each (W, P, K, 1, 1)."""
    tokens = _w(ctx.isl_new)
    compute = ctx.prefill_compute(tokens)
    comm = ctx.collectives(tokens)
    latency = np.maximum(compute, ctx.weight_bytes / (ctx.n * ctx.bw)) + comm
    latency = latency + ctx.kv_prompt_bytes / (ctx.n * ctx.efa)
    acc_s = ctx.n * (compute + comm)  # prompts batched back to back: the weights stream once per batch
    fits = ctx.weight_bytes + ctx.n * ctx.e("workspace_gib") * GIB + ctx.kv_prompt_bytes <= ctx.n * ctx.hbm * usable
    ok = fits & np.isfinite(ctx.n) & (ctx.e("ttft_tail_factor") * latency <= _w(cases.ttft_s))
    cost = np.where(ok, acc_s, np.inf)
    idx = np.argmin(cost, axis=3)[:, :, :, None]

    def pick(a: np.ndarray) -> np.ndarray:
        return np.take_along_axis(np.broadcast_to(a, cost.shape), idx, axis=3)

    return pick(cost), pick(latency), pick(np.broadcast_to(ctx.n, cost.shape))


Z99 = 2.326348  # the standard normal's 99th percentile


def poisson_p99(mu: np.ndarray) -> np.ndarray:
    """99th percentile of a Poisson count of mean ``mu`` (the smallest k with P(K <= k) >= 0.99):
    summed term by term where ``mu`` < 8 (the quantile is at most 15 there), else the Cornish-Fisher
    expansion mu + z sqrt(mu) + (z^2 - 1) / 6 rounded to the nearest integer. Tested against the exact
    quantile for mu up to 2,000: never below it, at most one above, and non-decreasing in ``mu`` as the
    batch search requires."""
    mu = np.asarray(mu, dtype=float)
    out = np.array(np.round(mu + Z99 * np.sqrt(mu) + (Z99**2 - 1.0) / 6.0), dtype=float)
    small = mu < 8.0
    if small.any():
        m = mu[small]
        term = np.exp(-m)
        cdf, k = term.copy(), np.zeros_like(m)
        for j in range(1, 20):  # (Poisson(8)'s p99 is 15) k counts the terms whose cumulative sum is still below 0.99
            k += cdf < 0.99
            term = term * m / j
            cdf = cdf + term
        out[small] = k
    return out


def request_tpot_p99(bare_step: np.ndarray, chunk_step: np.ndarray, steps: np.ndarray,
                     chunks_per_step: np.ndarray) -> np.ndarray:
    """Time per step of the p99 REQUEST (MLPerf LoadGen's TPOT: each request's (latency - TTFT) /
    (tokens - 1), then the 99th percentile over requests; loadgen/results.cc ProcessTokenLatencies).

    A request decoding for ``steps`` steps meets K prefill chunks, K ~ Poisson(steps x chunks per
    step); each costs ``chunk_step - bare_step`` on top of a step without prefill. Its mean step is
    (steps x bare + K x extra) / steps with K at the Poisson 99th percentile (at most one per step)."""
    k99 = np.minimum(poisson_p99(steps * chunks_per_step), steps)
    return bare_step + k99 / steps * (chunk_step - bare_step)


def _variant(ctx: _Ctx, cases: LlmCases, b: np.ndarray, k: np.ndarray, draft: np.ndarray, disagg: bool,
             pool: tuple[np.ndarray, ...] | None) -> dict[str, np.ndarray]:
    """Throughput and latencies of one serving mode (aggregated or two pools; k drafted tokens)."""
    a = _wp(cases.spec_acceptance)  # (W, P) after evaluate() resolves the stack defaults
    spec = k > 0
    gain = np.where(spec, np.where(a < 1.0, (1.0 - a ** (k + 1.0)) / np.maximum(1.0 - a, 1e-12), k + 1.0), 1.0)
    q = k + 1.0
    t_draft = _draft_time(ctx, b, k, draft)
    jitter, ttft_tail = ctx.e("tpot_jitter_factor"), ctx.e("ttft_tail_factor")
    if disagg and pool is not None:
        none = np.zeros((1, 1, 1, 1, 1))
        step, t_mem, t_comp, t_comm = ctx.decode_steps(b, q, (none,), (none,))[0]
        step = step + t_draft
        acc_req, lat_p, n_p = pool
        decode_acc_s = ctx.n * step / (b * gain)
        acc_s_tok = decode_acc_s + acc_req / _w(cases.osl)
        tpot = step / gain
        prefill_part = acc_req / _w(cases.osl)
        share = np.where(np.isfinite(acc_s_tok), prefill_part / np.where(np.isfinite(acc_s_tok), acc_s_tok, 1.0), 0.0)
        return {"tok": ctx.n / acc_s_tok, "tpot": tpot, "tpot_p99": jitter * tpot, "ttft": lat_p + tpot,
                "ttft_p99": ttft_tail * lat_p + tpot, "t_mem": t_mem, "t_comp": t_comp, "t_comm": t_comm,
                "n_p": np.broadcast_to(n_p, step.shape), "share": share}
    pre_tokens = b * gain / _w(cases.osl) * _w(ctx.isl_new)
    chunk, none = ctx.chunk_tokens, np.zeros((1, 1, 1, 1, 1))
    pre_compute = ctx.prefill_compute(pre_tokens)
    mean_step, bare_step, chunk_step = ctx.decode_steps(b, q, (pre_tokens, none, chunk),
                                                        (pre_compute, none, ctx.chunk_compute))
    step, t_mem, t_comp, t_comm = mean_step
    step = step + t_draft
    tpot = step / gain
    tpot_p99 = np.maximum(request_tpot_p99(bare_step[0] + t_draft, chunk_step[0] + t_draft, _w(cases.osl) / gain,
                                           pre_tokens / chunk) / gain, tpot)
    rho = np.clip(pre_compute / step, 0.0, 0.95)
    ttft = ctx.prefill_alone / (1.0 - rho) + tpot
    return {"tok": b * gain / step, "tpot": tpot, "tpot_p99": jitter * tpot_p99,
            "ttft": ttft, "ttft_p99": ttft_tail * ttft, "t_mem": t_mem, "t_comp": t_comp, "t_comm": t_comm,
            "n_p": np.full(step.shape, np.nan), "share": np.zeros(step.shape)}


def _batches(ctx: _Ctx, batches: np.ndarray, per_seq_bytes: np.ndarray, fixed_bytes: np.ndarray,
             usable: float, batch_fill: bool) -> np.ndarray:
    """Candidate batches: the grid plus the batch that fills the HBM or reaches the stack's cap."""
    room = ctx.n * ctx.hbm * usable - fixed_bytes
    fill = np.minimum(np.floor(np.maximum(room, 0.0) / per_seq_bytes), ctx.e("max_batch"))
    fill = np.where(fill >= 1.0, fill, 1.0)
    grid_b = np.broadcast_to(batches[None, None, None, None, :], fill.shape[:-1] + (batches.size,))
    return np.concatenate([grid_b, fill], axis=-1) if batch_fill else grid_b


@dataclass(frozen=True)
class Prepared:
    """Everything of one evaluation that does not depend on the batch: the broadcast context, the
    resolved speculative settings, memory terms and the prefill pool. :func:`evaluate` scores it on the
    whole batch grid; ``sizing.llm_search`` on a few batches per configuration."""

    ctx: _Ctx
    cases: LlmCases  # with the per-(workload, platform) acceptance resolved
    k: np.ndarray  # (W, P, 1, 1, 1) drafted tokens (0 = none)
    draft: np.ndarray  # parameters of one draft pass
    draft_bytes: np.ndarray
    fixed_bytes: np.ndarray  # weights + per-accelerator workspace
    per_seq_bytes: np.ndarray  # KV cache + workspace per sequence
    capacity: np.ndarray  # usable HBM of a replica
    valid: np.ndarray  # real replica size and supported format
    mode: np.ndarray  # (W, 1, 1, 1, 1) index into DISAGG_MODES
    pool: tuple[np.ndarray, ...] | None  # the prefill pool where any workload may disaggregate
    usable: float

    def variants(self) -> list[tuple[bool, bool]]:
        """(disaggregated, speculative) modes worth evaluating: two pools only where some workload may
        disaggregate, drafting only where some workload drafts."""
        return [(d, s) for d in (False, True) for s in (False, True)
                if not (d and self.pool is None) and not (s and not (self.k > 0).any())]


def prepare(cases: LlmCases, sc: Scenarios, sizes: np.ndarray, usable_hbm_fraction: float) -> Prepared:
    """The batch-independent part of an evaluation (see :class:`Prepared`)."""
    ctx = _Ctx(cases, sc, sizes)
    m = ctx.m
    # speculative decoding: the workload's, else the stack's MTP default for models with MTP modules
    default_k = np.where(m.mtp_layers[:, None] > 0, sc.eff["mtp_tokens"][None, :, 0], 0.0)
    k = _wp(np.where(cases.spec_explicit[:, None], cases.spec_tokens[:, None], default_k))
    acc = np.where(cases.spec_explicit, cases.spec_acceptance, 0.0)[:, None] + np.where(
        cases.spec_explicit[:, None], 0.0, sc.eff["mtp_acceptance"][None, :, 0])
    cases = _with_acceptance(cases, acc)
    draft = _w(np.where(cases.spec_explicit, cases.spec_draft_params,
                        m.active_params / m.layers * np.maximum(m.mtp_layers, 1.0)))
    seq_ws = ctx.e("sequence_workspace_mib") * MIB
    pool = _prefill_pool(ctx, cases, usable_hbm_fraction) if (cases.disaggregated > 0).any() else None
    return Prepared(
        ctx=ctx, cases=cases, k=k, draft=draft, draft_bytes=np.where(k > 0, draft * ctx.wbytes, 0.0),
        fixed_bytes=ctx.weight_bytes + ctx.n * ctx.e("workspace_gib") * GIB, per_seq_bytes=ctx.kv_seq_bytes + seq_ws,
        capacity=ctx.n * ctx.hbm * usable_hbm_fraction, valid=np.isfinite(ctx.n) & np.isfinite(ctx.peak),
        mode=_w(cases.disaggregated), pool=pool, usable=usable_hbm_fraction,
    )


def candidate_batches(prep: Prepared, batches: np.ndarray, batch_fill: bool) -> np.ndarray:
    """The batch grid (and, with ``batch_fill``, the batch that fills the HBM) per configuration."""
    return _batches(prep.ctx, batches, prep.per_seq_bytes, prep.fixed_bytes, prep.usable, batch_fill)


def at_batch(prep: Prepared, b: np.ndarray, disagg: bool, spec: bool) -> dict[str, np.ndarray]:
    """One serving variant scored at batches ``b`` (any shape broadcasting against the context), with
    its memory, whether it fits, is allowed for the workload and is feasible (targets met)."""
    ctx, cases, k = prep.ctx, prep.cases, prep.k
    memory = prep.fixed_bytes + b * prep.per_seq_bytes
    fits = (memory <= prep.capacity) & (b <= ctx.e("max_batch"))
    v = _variant(ctx, cases, b, k if spec else np.zeros_like(k), prep.draft, disagg, prep.pool)
    allowed = (prep.mode != 0) if disagg else (prep.mode != 1)
    allowed = allowed & ((k > 0) if spec else True)
    shape = np.broadcast_shapes(v["tok"].shape, memory.shape)
    v["memory"] = np.broadcast_to(memory + (prep.draft_bytes if spec else 0.0), shape)
    ok = (prep.valid & fits & (v["memory"] <= prep.capacity) & allowed & (v["ttft_p99"] <= _w(cases.ttft_s))
          & (v["tpot_p99"] <= _w(cases.tpot_s)))
    v["feasible"], v["disagg"], v["spec"] = ok, np.full(ok.shape, disagg), np.full(ok.shape, spec)
    v["allowed"] = np.broadcast_to(allowed, ok.shape)
    v["fits"] = np.broadcast_to(fits & prep.valid, ok.shape)
    return v


def bound_of(v: dict[str, np.ndarray]) -> np.ndarray:
    """Index into BOUNDS: what limits the step (communication, compute or memory)."""
    return np.where(v["t_comm"] > np.maximum(v["t_mem"], v["t_comp"]), 2, np.where(v["t_comp"] > v["t_mem"], 1, 0))


def evaluate(cases: LlmCases, sc: Scenarios, sizes: np.ndarray, batches: np.ndarray,
             usable_hbm_fraction: float, batch_fill: bool = True) -> LlmGrid:
    """Evaluate every configuration. ``sizes`` is (P, Nc) with NaN padding; ``batches`` (Bc,);
    with ``batch_fill`` a last batch candidate fills each replica's HBM (or the stack's batch cap)."""
    prep = prepare(cases, sc, sizes, usable_hbm_fraction)
    ctx = prep.ctx
    b = candidate_batches(prep, batches, batch_fill)
    best: dict[str, np.ndarray] | None = None
    for disagg, spec in prep.variants():
        v = at_batch(prep, b, disagg, spec)
        best = v if best is None else _better(best, v)
    assert best is not None
    return LlmGrid(
        replica_accelerators=ctx.n, batch=b, output_tokens_per_s=best["tok"],
        tokens_per_s_per_accelerator=best["tok"] / ctx.n, ttft_s=best["ttft"], tpot_s=best["tpot"],
        ttft_p99_s=best["ttft_p99"], tpot_p99_s=best["tpot_p99"], memory_bytes=best["memory"],
        bound=bound_of(best), fits=best["fits"], feasible=best["feasible"], disaggregated=best["disagg"],
        speculative=best["spec"], prefill_replica_accelerators=best["n_p"], prefill_share=best["share"],
        weight_format=ctx.wfmt, compute_format=ctx.cfmt,
    )


def _with_acceptance(cases: LlmCases, acceptance: np.ndarray) -> LlmCases:
    """``cases`` with the per-(workload, platform) acceptance rate in ``spec_acceptance``."""
    from dataclasses import replace

    return replace(cases, spec_acceptance=acceptance)


def _better(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Element-wise, the feasible variant with the higher throughput (``a`` on ties); where neither is
    feasible, the one the workload allows (so its latencies explain why)."""
    take_b = (b["feasible"] & (~a["feasible"] | (b["tok"] > a["tok"]))) | (
        ~a["feasible"] & ~b["feasible"] & b["allowed"] & ~a["allowed"])
    return {key: np.where(take_b, b[key], a[key]) for key in a}


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
    disaggregated: np.ndarray
    speculative: np.ndarray
    prefill_replica_accelerators: np.ndarray
    prefill_share: np.ndarray


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
        disaggregated=pick(grid.disaggregated),
        speculative=pick(grid.speculative),
        prefill_replica_accelerators=pick(grid.prefill_replica_accelerators),
        prefill_share=pick(grid.prefill_share),
    )
