"""Calibration: reproducible fit, constants in the catalog (not in code), accuracy thresholds."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from aifactory.cli import main
from sizing.calibration import DEFAULT_DIR, calibration_models, load_rows
from sizing.catalog import Figure, load_catalog
from sizing.fitting import (
    FITTED,
    cross_validate,
    dump,
    efficiency_document,
    fit,
    predictions,
    with_constants,
)
from sizing.forecast import Z90

CAT = load_catalog()
ROWS = load_rows(DEFAULT_DIR)
MODELS = calibration_models(DEFAULT_DIR)


def test_short_fit_is_bit_for_bit_reproducible():
    a = dump(efficiency_document(fit(DEFAULT_DIR, iterations=15, restarts=0), DEFAULT_DIR))
    b = dump(efficiency_document(fit(DEFAULT_DIR, iterations=15, restarts=0), DEFAULT_DIR))
    assert a == b


def test_shipped_constants_are_what_the_fit_produces(capsys):
    # the full fit (about half a minute): the catalog's constants are its output, not hand edits
    assert main(["calibrate", "--check"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("stack", ["trtllm", "neuron-oss"])
def test_every_fitted_constant_is_read_by_the_engine(stack):
    rows = [r for r in ROWS if (r.stack or CAT.default_stack(CAT.platforms[r.platform].family)) == stack]
    base = [r.predicted for r in predictions(rows, MODELS, CAT)]
    for name in FITTED[stack]:
        value = CAT.efficiency[stack].value(name)
        nudged = with_constants(CAT, stack, {name: value * 1.3 if value < 0.7 else value * 0.7})
        moved = [r.predicted for r in predictions(rows, MODELS, nudged)]
        assert moved != base, f"{stack}.{name} changes no prediction: is it read from the catalog?"


def test_rows_name_their_stack_and_unmeasured_stacks_derive_from_the_fit():
    assert {r.stack for r in ROWS if r.platform == "trn2"} == {"neuron-oss"}
    trt, vllm, aws = (CAT.efficiency[s] for s in ("trtllm", "vllm", "neuron-aws"))
    assert vllm.value("hbm_fraction") == pytest.approx(0.9 * trt.value("hbm_fraction"), rel=1e-3)
    assert aws.value("prefill_compute_fraction") == pytest.approx(trt.value("prefill_compute_fraction"), rel=1e-3)
    assert not aws.fitted and aws.extra_sigma > 0 and "claim" in aws.claims.lower()


def test_cross_validation_predicts_a_held_out_row_without_it():
    # leave c29 out (a Trainium row): the refit differs from the shipped fit, and only c29 is predicted
    pred = cross_validate(DEFAULT_DIR, "row", iterations=5, stack="neuron-oss")
    assert {"c29", "c29.ttft", "c22"} <= set(pred)
    assert all(i.split(".")[0] in {r.id.split(".")[0] for r in ROWS if r.stack == "neuron-oss"} for i in pred)


NVIDIA_AND_TRAINING = {r.id for r in ROWS if r.kind == "training" or CAT.platforms[r.platform].family == "nvidia"}


def test_accuracy_meets_the_bar():
    results = predictions(ROWS, MODELS, CAT)
    errors = {r.row.id: abs(r.error) for r in results}
    nvidia = [e for i, e in errors.items() if i in NVIDIA_AND_TRAINING]
    assert sum(nvidia) / len(nvidia) <= 0.12, f"NVIDIA + training MAPE {sum(nvidia) / len(nvidia):.3f}"
    serving = [abs(r.error) for r in results if r.row.metric != "ttft_ms"]
    assert sum(serving) / len(serving) <= 0.2
    # c05 (interactive, +52%; +44% under the per-step p99 TPOT it was set on): the per-request p99 lacks the
    # spread of speculative acceptance between requests, see CALIBRATION.md
    assert max(errors[i] for i in NVIDIA_AND_TRAINING) <= 0.55


def test_measured_mostly_inside_the_predicted_band():
    # the band is the throughput band (residual_sigma is fitted on throughput and TPOT rows; TTFT rows are
    # reported beside it, several far outside: see CALIBRATION.md)
    rows = [r for r in ROWS if r.metric != "ttft_ms"]
    inside = 0
    for r in predictions(rows, MODELS, CAT):
        sigma = CAT.prediction_sigma(CAT.platforms[r.row.platform], r.row.kind)
        inside += abs(math.log(r.row.measured / r.predicted)) <= Z90 * sigma
    assert inside >= 0.7 * len(rows)


def test_predict_reports_p10_p90(capsys):
    args = ["predict", "--model", "llama3.3-70b", "--precision", "fp8", "--accelerators", "8", "--isl", "1000",
            "--osl", "500", "--json", "--platform"]
    main(args + ["gb200_nvl72"])
    gb = json.loads(capsys.readouterr().out)
    main(args + ["trn3"])
    trn3 = json.loads(capsys.readouterr().out)
    for out in (gb, trn3):
        assert out["p10"] < out["output_tokens_per_s_per_accelerator"] < out["p90"]
    # no Trn3 measurement: its band is wider than a calibrated platform's
    assert trn3["p90"] / trn3["p10"] > gb["p90"] / gb["p10"]
    assert "no published measurement" in trn3["note"]


def test_trn3_uncertainty_widens_the_plan_bands(small):
    from sizing.forecast import parse_forecast
    from sizing.plan import make_plan

    small["workloads"] = [small["workloads"][0]]
    small["workloads"][0]["demand"]["uncertainty"] = {"sigma": 0.0}
    plan = make_plan(parse_forecast(small, "f.yaml"), samples=2000)

    def spread(pid: str) -> float:
        a = plan["platforms"][pid]["years"]["2029"]["accelerators_required"]
        return a["p90"] / a["p10"]

    assert spread("trn3") > spread("gb300_nvl72") > 1.0


def test_catalog_figure_change_moves_predictions():
    plat = CAT.platforms["h100_hgx"]
    faster = replace(plat, figures={**plat.figures, "hbm_tb_per_s": Figure(6.7, 6.7, "assumption", "test")})
    cat2 = replace(CAT, platforms={**CAT.platforms, "h100_hgx": faster})
    rows = [r for r in ROWS if r.platform == "h100_hgx" and r.kind == "inference"]
    a = predictions(rows, MODELS, CAT)
    b = predictions(rows, MODELS, cat2)
    assert all(y.predicted >= x.predicted * (1 - 1e-9) for x, y in zip(a, b, strict=True))
    assert any(y.predicted > 1.05 * x.predicted for x, y in zip(a, b, strict=True))
