"""Hand-computed cases for the performance model: weights, KV cache, decode steps, prefill."""

from __future__ import annotations

import numpy as np
import pytest

from sizing.catalog import load_catalog, scenarios
from sizing.llm import LlmCases, evaluate
from sizing.models import ModelArrays, effective_context, mean_attended_context, presets

CAT = load_catalog()
USABLE = CAT.facility["usable_hbm_fraction"].nominal


def grid_for(platform: str, model: str, precision: str, isl: float, osl: float, sizes: list[float],
             batches: list[float], disaggregated: bool = True, ttft=None, tpot=None):
    sc = scenarios(CAT, [platform], 1, 0)
    cases = LlmCases.of(CAT, [presets()[model]], [precision], [isl], [osl], [ttft], [tpot], [disaggregated])
    return evaluate(cases, sc, np.array([sizes], dtype=float), np.array(batches, dtype=float), USABLE), sc


def test_llama70b_weights_and_kv_per_token():
    spec = presets()["llama3.3-70b"]
    # 2 (K and V) x 80 layers x 8 KV heads x 128 head dim = 163,840 elements per token
    assert spec.kv_elements_per_token() == 163_840
    assert CAT.weight_bytes_per_param("fp8") == 1.0
    assert spec.params_b * 1e9 * CAT.weight_bytes_per_param("fp8") == pytest.approx(70.6e9)


def test_mla_kv_is_compressed():
    spec = presets()["deepseek-r1"]
    # 61 layers x (512 latent + 64 rope) = 35,136 elements per token, vs 2x61x128x128 for plain MHA
    assert spec.kv_elements_per_token() == 61 * 576
    assert spec.kv_elements_per_token() < 2 * 61 * 128 * 128 / 50


def test_llama70b_fp8_decode_step_on_one_h100_by_hand():
    isl, osl = 1024.0, 256.0
    g, sc = grid_for("h100_hgx", "llama3.3-70b", "fp8", isl, osl, [1], [1])
    nv = CAT.efficiency["trtllm"]
    eta_bw, eta_c = nv.value("hbm_fraction"), nv.value("decode_compute_fraction")
    eta_attn = nv.value("attention_efficiency")
    overhead = (nv.value("step_overhead_us") + nv.value("per_sequence_us")) * 1e-6  # floor + one sequence
    # weights: 70.6 GB streamed at eta_bw x 3.35 TB/s; KV of one sequence at its mean context
    # (1024 + 128 tokens) x 163,840 B, read at the (lower) attention efficiency
    kv_seq = 163_840 * (isl + osl / 2)
    t_weights = 70.6e9 / (3.35e12 * eta_bw)
    t_mem = t_weights + kv_seq / (3.35e12 * eta_bw * eta_attn)
    # compute per token: 2 x 70.6e9 at FP8 + attention 4 x 80 x 64 x 128 x context (tiny at batch 1)
    t_comp = 2 * 70.6e9 / (1979e12 * eta_c) + 4 * 80 * 64 * 128 * (isl + osl / 2) / (1979e12 * eta_c * eta_attn)
    expected = max(t_mem, t_comp) + overhead  # one accelerator: no collectives, one step's software cost
    assert t_mem > 10 * t_comp  # batch 1 decode is memory-bound
    assert float(g.tpot_s[0, 0, 0, 0, 0]) == pytest.approx(expected, rel=1e-9)
    assert 20e-3 < t_weights < 35e-3  # 70.6 GB at 70-100% of 3.35 TB/s
    assert g.bound[0, 0, 0, 0, 0] == 0  # memory


def test_weights_do_not_fit_one_h100_at_bf16():
    g, _ = grid_for("h100_hgx", "llama3.3-70b", "bf16", 1000, 200, [1, 2], [1])
    # 141 GB of BF16 weights > 74.5 GiB x 0.9; two H100s hold them
    assert not g.fits[0, 0, 0, 0, 0]
    assert g.fits[0, 0, 0, 1, 0]


def test_moe_batch_one_reads_only_active_experts():
    spec = presets()["deepseek-r1"]
    m = ModelArrays.of([spec])
    touched_one = m.always_active_params + spec.experts_per_token * m.params_per_expert
    assert touched_one[0] == pytest.approx(37e9, rel=1e-9)
    # a large batch touches (almost) every expert: the full 671B
    e, k = spec.experts, spec.experts_per_token
    touched_big = m.always_active_params + e * (1 - (1 - k / e) ** 4096) * m.params_per_expert
    assert touched_big[0] == pytest.approx(671e9, rel=1e-3)


def test_sliding_window_caps_context():
    ctx = np.array([10_000.0])
    eff = effective_context(ctx, np.array([0.5]), np.array([128.0]))
    assert eff[0] == pytest.approx(0.5 * 10_000 + 0.5 * 128)
    # mean over a decode from 1000 to 1200 tokens: full layers see 1100 on average, window layers 128
    mean = mean_attended_context(np.array([1000.0]), np.array([200.0]), np.array([0.5]), np.array([128.0]))
    assert mean[0] == pytest.approx(0.5 * 1100 + 0.5 * 128)
    # without a window the mean is the midpoint
    mean = mean_attended_context(np.array([0.0]), np.array([100.0]), np.array([0.0]), np.array([0.0]))
    assert mean[0] == pytest.approx(50.0)


def test_tensor_parallel_adds_collectives_and_splits_memory_traffic():
    g, _ = grid_for("h100_hgx", "llama3.3-70b", "fp8", 1000, 200, [1, 2, 8], [1])
    t1, t2, t8 = (float(g.tpot_s[0, 0, 0, i, 0]) for i in range(3))
    assert t2 < t1 and t8 < t2  # more bandwidth
    assert t8 > t1 / 8  # but not 8x: all-reduces cost latency


def test_prefill_hidden_in_output_throughput():
    """A longer prompt lowers output tokens/s at the same batch (MLPerf counts output tokens only)."""
    short, _ = grid_for("h100_hgx", "llama3.3-70b", "fp8", 200, 300, [2], [256], disaggregated=False)
    long, _ = grid_for("h100_hgx", "llama3.3-70b", "fp8", 4000, 300, [2], [256], disaggregated=False)
    assert float(long.output_tokens_per_s[0, 0, 0, 0, 0]) < 0.5 * float(short.output_tokens_per_s[0, 0, 0, 0, 0])


def test_fp4_checkpoint_on_hopper_is_served_with_fp8_compute():
    """Hopper has no FP4 tensor cores: 4-bit weights, FP8 GEMMs (weight-only quantisation)."""
    g, _ = grid_for("h100_hgx", "llama3.1-8b", "fp4", 100, 100, [1], [1])
    assert g.feasible.any()
    assert g.weight_format[0, 0] == 0 and g.compute_format[0, 0] == 1  # fp4 weights, fp8 compute
