"""Accuracy mechanisms of issues 9/10, by hand: MoE prefill over every expert (NxD's context encoding),
saturated-queue TTFTs left out of the fit, and Trainium's training MFU as a labelled claim-based prior."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sizing.calibration import DEFAULT_DIR, load_rows
from sizing.catalog import load_catalog, scenarios
from sizing.errors import InputError
from sizing.fitting import _priors_doc, check_priors, fit, trainium_training_mfu, with_constants
from sizing.forecast import Z90
from sizing.llm import LlmCases, _Ctx
from sizing.models import presets
from sizing.predict import predict_training

CAT = load_catalog()
P = presets()


def _prefill_s(stack: str, model: str, tokens: float, catalog=CAT) -> float:
    """The engine's prefill compute time of ``tokens`` prompt tokens on one Trn2 chip."""
    sc = scenarios(catalog, ["trn2"], 1, 0, [stack])
    cases = LlmCases.of(catalog, [P[model]], ["bf16"], [tokens], [1.0], [None], [None], [False])
    ctx = _Ctx(cases, sc, np.array([[1.0]]))
    return float(ctx.prefill_compute(np.full((1, 1, 1, 1, 1), tokens)).ravel()[0])


def test_moe_prefill_over_all_experts_by_hand():
    # qwen3-30b-a3b, 1,500 prompt tokens on one Trn2 chip under neuron-oss (every expert on every token)
    m, plat = P["qwen3-30b-a3b"], CAT.platforms["trn2"]
    e = CAT.efficiency["neuron-oss"]
    assert e.value("moe_prefill_all_experts") == 1.0
    peak = plat.dense_tflops["bf16"].nominal * 1e12  # type: ignore[union-attr]
    frac = e.value("prefill_compute_fraction")
    attn_tok = 2 * m.layers * m.heads * (2 * m.head_dim) * 750  # GQA: qk width = head_dim; mean context 1500/2
    by_hand = 1500 * (2 * m.params_b * 1e9 + attn_tok) / (peak * frac)
    assert _prefill_s("neuron-oss", "qwen3-30b-a3b", 1500) == pytest.approx(by_hand, rel=1e-6)


def test_routed_prefill_without_the_flag_and_dense_models_unchanged():
    off = with_constants(CAT, "neuron-oss", {"moe_prefill_all_experts": 0.0})
    on_s, off_s = _prefill_s("neuron-oss", "qwen3-30b-a3b", 1500), _prefill_s("neuron-oss", "qwen3-30b-a3b", 1500, off)
    assert on_s > 3 * off_s  # 30.5B total vs 3.3B active (over moe_efficiency): routed prefill is far cheaper
    dense_on, dense_off = (_prefill_s("neuron-oss", "llama3.1-8b", 1500, c) for c in (CAT, off))
    assert dense_on == dense_off
    assert CAT.efficiency["trtllm"].value("moe_prefill_all_experts") == 0.0


def test_saturated_rows_ttft_are_reported_not_fitted():
    rows = {r.id: r for r in load_rows(DEFAULT_DIR)}
    assert rows["c23.ttft"].ttft_is_queueing and rows["c26.ttft"].ttft_is_queueing
    assert not rows["c23"].ttft_is_queueing  # its TPOT is still a decode measurement
    assert not rows["c20.ttft"].ttft_is_queueing and not rows["c22.ttft"].ttft_is_queueing
    result = fit(DEFAULT_DIR, iterations=2, restarts=0)
    assert {"c23.ttft", "c26.ttft"} <= set(result.held_out_rows)
    assert "c23.ttft" not in result.fitted_rows and "c22.ttft" in result.fitted_rows


def test_a_row_is_saturated_only_if_its_notes_say_so(tmp_path: Path):
    for name in ("inference.csv", "training.csv", "models.yaml"):
        (tmp_path / name).write_text((DEFAULT_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    text = (tmp_path / "inference.csv").read_text(encoding="utf-8").replace("saturated", "busy")
    (tmp_path / "inference.csv").write_text(text, encoding="utf-8")
    assert not any(r.saturated for r in load_rows(tmp_path))


def test_trainium_training_mfu_is_the_claim_times_nvidias_measured_loss():
    nv, tr = CAT.efficiency["trtllm"], CAT.efficiency["neuron-oss"]
    value, note = trainium_training_mfu(nv, tr)
    by_hand = 0.60 * nv.value("mfu_at_1024") / nv.value("prefill_compute_fraction")
    assert value == pytest.approx(by_hand, rel=1e-9)
    assert tr.value("mfu_at_1024") == pytest.approx(by_hand, rel=1e-3)  # the shipped fit, 4 digits
    assert "CLAIM" in note and "no Trainium training row" in note
    # not derived from serving: the neuron-oss prefill fraction does not enter it
    slower = with_constants(CAT, "neuron-oss", {"prefill_compute_fraction": 0.05})
    assert trainium_training_mfu(nv, slower.efficiency["neuron-oss"])[0] == value


def test_trainium_training_band_is_the_priors_and_both_stacks_share_it():
    oss, aws = CAT.efficiency["neuron-oss"], CAT.efficiency["neuron-aws"]
    assert oss.value("training_residual_sigma") == 0.35
    assert aws.value("mfu_at_1024") == oss.value("mfu_at_1024")  # one training stack (NxD Training)
    out = predict_training("trn2", P["llama3.1-405b"], "bf16", 1024, 8192)
    band = out["model_tflops_per_accelerator_band"]
    assert band["p90"] / out["model_tflops_per_accelerator"] == pytest.approx(
        math.exp(Z90 * out["residual_sigma"]), rel=1e-6)
    assert out["residual_sigma"] >= 0.35


@pytest.mark.parametrize(("name", "bad", "words"), [
    ("moe_prefill_all_experts", 0.5, "allowed: 0 \\(routed prefill\\) or 1"),
    ("moe_prefill_all_experts", "yes", "allowed: 0"),
    ("claimed_kernel_utilisation", 1.2, "allowed: a share of peak above 0 and at most 1"),
    ("claimed_kernel_utilisation", 0.0, "allowed: a share of peak"),
])
def test_bad_prior_names_the_file_and_field(name, bad, words):
    doc = _priors_doc()
    doc["stacks"]["neuron-oss"]["constants"][name]["value"] = bad
    where = f"efficiency_priors.yaml: stacks.neuron-oss.constants.{name}.value: "
    with pytest.raises(InputError, match=where + f".*{words}"):
        check_priors(doc)
