"""Serving model v2: hand-computed cases for each mechanism (formats, stacks, batch cap, per-sequence
cost, the Trainium per-step floor, speculative decoding, prefix caching, two pools, MoE imbalance at
EP=1, KV replication) and the one-answer rule."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sizing.catalog import load_catalog, scenarios
from sizing.fitting import with_constants
from sizing.llm import BF16, FP4, FP8, LlmCases, _Ctx, evaluate, serving_formats
from sizing.models import presets
from sizing.predict import predict_inference, predict_training

CAT = load_catalog()
P = presets()


def _grid(platform: str, model: str, precision: str, isl: float, osl: float, sizes: list[float],
          batches: list[float], stack: str | None = None, catalog=CAT, **kw):
    sc = scenarios(catalog, [platform], 1, 0, [stack])
    cases = LlmCases.of(catalog, [P[model]], [precision], [isl], [osl], [kw.pop("ttft", None)],
                        [kw.pop("tpot", None)], [kw.pop("disagg", False)], **kw)
    sizes_arr = np.array([sizes], dtype=float)
    return evaluate(cases, sc, sizes_arr, np.array(batches, dtype=float), 0.9, batch_fill=False), sc, cases


def test_formats_fp4_checkpoint_on_hopper_computes_in_fp8_and_bf16_is_served_in_fp8_only_if_allowed():
    supported = np.array([[False, True, True], [True, True, True]])  # hopper, blackwell
    w, c = serving_formats(np.array([FP4, BF16, BF16]), np.array([True, True, False]), supported,
                           np.array([1.0, 1.0]))
    assert c[0].tolist() == [FP8, FP4] and w[0].tolist() == [FP4, FP4]  # 4-bit weights stay 4-bit
    assert c[1].tolist() == [FP8, FP8] and w[1].tolist() == [FP8, FP8]  # quantization: auto
    assert c[2].tolist() == [BF16, BF16] and w[2].tolist() == [BF16, BF16]  # quantization: none
    # a stack that does not serve FP8 (neuron-oss) keeps BF16
    _, c2 = serving_formats(np.array([BF16]), np.array([True]), supported, np.array([0.0, 0.0]))
    assert c2[0].tolist() == [BF16, BF16]


def test_gpt_oss_mxfp4_on_hopper_and_fp4_training_on_blackwell_answer():
    for pid in ("h100_hgx", "h200_hgx"):
        out = predict_inference(pid, P["gpt-oss-120b"], "fp4", 8, 1024, 1024)
        assert out["formats"]["weights"] == "fp4" and out["formats"]["compute"] == "fp8"
        assert out["output_tokens_per_s_per_accelerator"] > 0
    for pid in ("gb300_nvl72", "b300_hgx", "gb200_nvl72"):
        t = predict_training(pid, P["llama3.1-8b"], "fp4", 64, 8192)
        bf = predict_training(pid, P["llama3.1-8b"], "bf16", 64, 8192)
        ratio = CAT.efficiency["trtllm"].value("fp4_training_mfu_ratio")
        assert t["mfu"] == pytest.approx(bf["mfu"] * ratio)


def test_batch_cap_of_the_stack():
    out = predict_inference("b200_hgx", P["gpt-oss-120b"], "fp4", 1, 1024, 1024)
    assert out["batch"] <= CAT.efficiency["trtllm"].value("max_batch")
    vllm = predict_inference("b200_hgx", P["gpt-oss-120b"], "fp4", 1, 1024, 1024, software="vllm")
    assert vllm["batch"] <= 1024 and vllm["software"] == "vllm" and vllm["software_basis"] == "assumption"
    grid, _, _ = _grid("b200_hgx", "llama3.1-8b", "fp8", 1000, 100, [1], [4096])
    assert not grid.feasible.any()  # 4,096 sequences exceed TensorRT-LLM's 2,048


def test_per_sequence_cost_adds_b_times_the_constant_to_each_step():
    slow = with_constants(CAT, "trtllm", {"per_sequence_us": CAT.efficiency["trtllm"].value("per_sequence_us") + 100})
    a, _, _ = _grid("h200_hgx", "llama3.1-8b", "fp8", 1000, 200, [1], [10])
    b, _, _ = _grid("h200_hgx", "llama3.1-8b", "fp8", 1000, 200, [1], [10], catalog=slow)
    assert float(b.tpot_s.ravel()[0] - a.tpot_s.ravel()[0]) == pytest.approx(10 * 100e-6, rel=1e-9)


def _trn2_tpot_by_hand(batch: float) -> float:
    """c22/c23 by hand: llama3.1-8b BF16 on one Trn2 chip, 1500 in / 250 out, neuron-oss constants."""
    e = CAT.efficiency["neuron-oss"]
    m, plat = P["llama3.1-8b"], CAT.platforms["trn2"]
    bw = plat.figures["hbm_tb_per_s"].nominal * 1e12 * e.value("hbm_fraction")
    peak = plat.dense_tflops["bf16"].nominal * 1e12  # type: ignore[union-attr]
    kv_seq = 2 * m.layers * m.kv_heads * m.head_dim * 2.0 * (1500 + 125)
    t_mem = m.params_b * 1e9 * 2.0 / bw + batch * kv_seq / (bw * e.value("attention_efficiency"))
    ctx = 1500 + 125
    dec_attn = 2 * m.layers * m.heads * 2 * m.head_dim * ctx / e.value("attention_efficiency")
    t_dec = batch * (2 * m.params_b * 1e9 + dec_attn) / (peak * e.value("decode_compute_fraction"))
    pre_tokens = batch / 250 * 1500
    pre_flops_tok = 2 * m.params_b * 1e9 + 2 * m.layers * m.heads * 2 * m.head_dim * 750
    t_pre = pre_tokens * pre_flops_tok / (peak * e.value("prefill_compute_fraction"))
    floor = e.value("step_overhead_us") * 1e-6 + batch * e.value("per_sequence_us") * 1e-6
    return max(t_mem, t_dec + t_pre) + floor


@pytest.mark.parametrize("batch", [1, 26])
def test_trainium_per_step_floor_and_batch_slope_by_hand(batch):
    out = predict_inference("trn2", P["llama3.1-8b"], "bf16", 1, 1500, 250, batch=batch, software="neuron-oss")
    assert out["tpot_ms"] == pytest.approx(_trn2_tpot_by_hand(batch) * 1e3, rel=1e-6)
    # the floor is a separate term: far above the HBM roofline at batch 1 (README: 10-20 ms)
    assert CAT.efficiency["neuron-oss"].value("step_overhead_us") > 5000


def test_trainium_slope_matches_rows_c22_c23_within_the_fit():
    t1 = predict_inference("trn2", P["llama3.1-8b"], "bf16", 1, 1500, 250, batch=1)["tpot_ms"]
    t26 = predict_inference("trn2", P["llama3.1-8b"], "bf16", 1, 1500, 250, batch=26)["tpot_ms"]
    measured_slope = (44.5 - 22.1) / 25
    assert (t26 - t1) / 25 == pytest.approx(measured_slope, rel=0.5)


def test_speculative_decoding_gain_at_batch_one_by_hand():
    k, a = 3, 0.7
    plain, _, _ = _grid("h200_hgx", "llama3.3-70b", "fp8", 1000, 500, [8], [1])
    spec, _, cases = _grid("h200_hgx", "llama3.3-70b", "fp8", 1000, 500, [8], [1],
                           speculative=[("eagle", k, a, 0.0)])
    gain = (1 - a ** (k + 1)) / (1 - a)
    ratio = float(spec.output_tokens_per_s.ravel()[0] / plain.output_tokens_per_s.ravel()[0])
    assert bool(spec.speculative.ravel()[0])
    # memory-bound at batch 1: the step barely grows with 4 tokens, so throughput grows by nearly the gain
    assert 0.75 * gain < ratio <= gain


def test_prefix_cache_cuts_prefill_and_ttft():
    base = predict_inference("h200_hgx", P["llama3.3-70b"], "fp8", 8, 8000, 300)
    hit = predict_inference("h200_hgx", P["llama3.3-70b"], "fp8", 8, 8000, 300, prefix_hit=0.5)
    assert hit["output_tokens_per_s_per_accelerator"] > base["output_tokens_per_s_per_accelerator"] * 1.2
    b1 = predict_inference("h200_hgx", P["llama3.3-70b"], "fp8", 8, 8000, 300, batch=1)
    b2 = predict_inference("h200_hgx", P["llama3.3-70b"], "fp8", 8, 8000, 300, batch=1, prefix_hit=0.5)
    assert b2["ttft_ms"] < 0.7 * b1["ttft_ms"]


def test_two_pools_in_the_json_and_the_prefill_share_by_hand():
    out = predict_inference("h200_hgx", P["llama3.3-70b"], "fp8", 16, 2000, 500, disaggregated=True)
    pools = out["disaggregated"]
    assert pools["prefill_pool"]["replica_accelerators"] >= 1 and pools["decode_pool"]["batch"] == out["batch"]
    share = pools["prefill_pool"]["accelerator_share"]
    assert 0 < share < 1 and pools["decode_pool"]["accelerator_share"] == pytest.approx(1 - share)
    auto = predict_inference("h200_hgx", P["llama3.3-70b"], "fp8", 16, 2000, 500, disaggregated="auto")
    agg = predict_inference("h200_hgx", P["llama3.3-70b"], "fp8", 16, 2000, 500)
    best = max(out["output_tokens_per_s_per_accelerator"], agg["output_tokens_per_s_per_accelerator"])
    assert auto["output_tokens_per_s_per_accelerator"] == pytest.approx(best)


def test_moe_imbalance_only_with_expert_parallelism():
    _, sc, cases = _grid("b200_hgx", "gpt-oss-120b", "fp4", 1000, 1000, [1, 8], [1])
    ctx = _Ctx(cases, sc, np.array([[1.0, 8.0]]))
    imb = ctx.imbalance(np.full((1, 1, 1, 2, 1), 64.0))
    assert imb[0, 0, 0, 0, 0] == 1.0  # one accelerator: no imbalance at all
    k, r = 4.0, 8.0  # gpt-oss routes 4 experts per token
    skew = CAT.efficiency["trtllm"].value("moe_imbalance")
    assert imb[0, 0, 0, 1, 0] == pytest.approx(skew + np.sqrt(2 * np.log(r) * r / (64 * k)))


def test_kv_cache_replicated_when_tp_exceeds_kv_heads():
    _, sc, cases = _grid("gb200_nvl72", "llama3.3-70b", "fp8", 1000, 1000, [8, 16], [1])
    ctx = _Ctx(cases, sc, np.array([[8.0, 16.0]]))
    per_seq = ctx.kv_seq_bytes.ravel()
    assert per_seq[1] == pytest.approx(2 * per_seq[0])  # 8 KV heads: TP16 holds two copies


def test_stack_errors_name_the_flag():
    from sizing.errors import InputError

    with pytest.raises(InputError, match="allowed: neuron-oss, neuron-aws|allowed: .*neuron"):
        predict_inference("trn2", P["llama3.1-8b"], "bf16", 1, 100, 100, software="vllm")


def test_neuron_aws_is_labelled_an_assumption_with_wider_bands():
    oss = predict_inference("trn3", P["llama3.3-70b"], "bf16", 16, 1000, 500, software="neuron-oss")
    aws = predict_inference("trn3", P["llama3.3-70b"], "bf16", 16, 1000, 500, software="neuron-aws")
    assert aws["software_basis"] == "assumption" and "claim" in aws["software_claims"].lower()
    assert oss["software_basis"] == "measured"
    assert aws["p90"] / aws["p10"] > oss["p90"] / oss["p10"]
    assert aws["formats"]["compute"] == "fp8" and oss["formats"]["compute"] == "bf16"


def _one_answer(doc, platforms):
    from sizing.forecast import parse_forecast
    from sizing.plan import make_plan

    f = parse_forecast(doc, "f.yaml")
    alone = {p: make_plan(f, platforms=[p], samples=300)["platforms"][p] for p in platforms}
    together = make_plan(f, platforms=platforms, samples=300)["platforms"]
    for p in platforms:
        last = str(f.years[-1])
        assert alone[p]["years"][last]["accelerators_required"] == together[p]["years"][last]["accelerators_required"]


def test_one_answer_small(small):
    _one_answer(small, ["gb300_nvl72", "trn3"])


def test_one_answer_national():
    import yaml

    from tests.conftest import EXAMPLE

    doc = yaml.safe_load(EXAMPLE.read_text())
    _one_answer(doc, list(doc["platforms"]))


def test_throughput_scale_hook_divides_the_accelerators(small):
    from sizing.engine import size
    from sizing.forecast import parse_forecast

    small["workloads"] = [small["workloads"][0]]
    small["workloads"][0]["demand"]["uncertainty"] = {"sigma": 0.0}
    f = parse_forecast(small, "f.yaml")
    base = size(f, CAT, ["gb300_nvl72"], 50, 0)
    fast = size(f, CAT, ["gb300_nvl72"], 50, 0, throughput_scale={"gb300_nvl72": 4.0})
    assert fast.accelerators[0, -1, 0].mean() < 0.35 * base.accelerators[0, -1, 0].mean()


def test_forecast_software_choice_and_override(small):
    from sizing.engine import size
    from sizing.forecast import parse_forecast

    small["software"] = {"trn3": "neuron-aws"}
    f = parse_forecast(small, "f.yaml")
    assert size(f, CAT, ["trn3"], 20, 0).software == ("neuron-aws",)
    assert size(f, CAT, ["trn3"], 20, 0, software={"trn3": "neuron-oss"}).software == ("neuron-oss",)
    assert replace(f, software={}).software == {}


def test_size_software_flag_names_the_stack_in_the_plan(tmp_path, small, capsys):
    import json

    import yaml

    from aifactory.cli import main

    f = tmp_path / "f.yaml"
    f.write_text(yaml.safe_dump(small))
    for stack, words in (("neuron-aws", "NOT MEASURED"), ("neuron-oss", "open-source")):
        assert main(["size", str(f), "--samples", "50", "--json", "--software", f"trn3={stack}"]) == 0
        plan = json.loads(capsys.readouterr().out)
        assert words in plan["platforms"]["trn3"]["software_generation"]


def test_the_forecast_software_choice_names_the_stack_in_the_plan(small):
    """The plan labels each platform with the stack it was sized with (Sizing.software), whether it
    came from --software or from the forecast's own `software:` mapping (what `report` and `plan` use)."""
    from sizing.catalog import load_catalog
    from sizing.forecast import parse_forecast
    from sizing.plan import make_plan

    for stack, words in (("neuron-aws", "NOT MEASURED"), ("neuron-oss", "open-source")):
        doc = {**small, "software": {"trn3": stack}}
        plan = make_plan(parse_forecast(doc, "f.yaml"), samples=50)
        assert words in plan["platforms"]["trn3"]["software_generation"]
        eff = load_catalog().efficiency[stack]  # the catalog figures shown are that stack's too
        shown = plan["platforms"]["trn3"]["catalog"]
        assert all(shown[f"efficiency_{name}"] == fig.as_dict() for name, fig in eff.figures.items())
