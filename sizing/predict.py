"""One configuration, the interface calibration uses: ``aifactory predict``.

Serving: a system of A accelerators runs floor(A/n) replicas of n; the engine picks the replica
size and batch that maximise output tokens/s per accelerator of the system within the TTFT/TPOT
limits (MLPerf "offline" when there are none). With a fixed batch the system is one replica of
that batch (a latency measurement of one serving instance). Training: MFU at
A accelerators and the resulting throughput. Uses the nominal catalog (scenario 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sizing.catalog import PRECISIONS, Catalog, Platform, load_catalog, scenarios
from sizing.errors import InputError
from sizing.llm import BATCHES, BOUNDS, LlmCases, evaluate, replica_sizes
from sizing.models import ModelArrays, ModelSpec
from sizing.training import MFU_CAP, flops_per_token, mfu

SOURCE = "command line"


def _check(platform: Platform, precision: str, accelerators: int) -> None:
    if precision not in PRECISIONS:
        raise InputError(SOURCE, "--precision", f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    if not platform.supports(precision):
        ok = [p for p in PRECISIONS if platform.supports(p)]
        raise InputError(SOURCE, "--precision", f"{platform.id} has no {precision} support; allowed: {', '.join(ok)}")
    if accelerators < 1:
        raise InputError(SOURCE, "--accelerators", f"must be at least 1, got {accelerators}")


def _notes(catalog: Catalog, platform: Platform) -> dict[str, Any]:
    eff = catalog.efficiency_of(platform)
    out: dict[str, Any] = {
        "platform": platform.id,
        "software_generation": eff.software,
        "calibration_basis": platform.calibration_basis,
    }
    if platform.id.startswith("trn3"):
        out["note"] = ("Trn3 has no published measurement: derived from Trn2 calibration and the published "
                       "Trn3/Trn2 chip ratios")
    return out


def predict_inference(platform_id: str, model: ModelSpec, precision: str, accelerators: int, isl: float,
                      osl: float, ttft_ms: float | None = None, tpot_ms: float | None = None,
                      batch: int | None = None, disaggregated: bool = False,
                      catalog: Catalog | None = None) -> dict[str, Any]:
    catalog = catalog or load_catalog()
    platform = catalog.platform(platform_id, path="--platform")
    _check(platform, precision, accelerators)
    if isl <= 0 or osl <= 0:
        raise InputError(SOURCE, "--isl" if isl <= 0 else "--osl", "must be greater than 0")
    if batch is not None and batch < 1:
        raise InputError(SOURCE, "--batch", f"must be at least 1, got {batch}")
    sc = scenarios(catalog, [platform_id], 1, np.random.default_rng(0))
    if batch is not None:
        # a fixed-batch measurement is the latency of one serving instance: one replica over them all
        sizes_list = [accelerators]
    else:
        sizes_list = replica_sizes(platform.domain_accelerators, max_accelerators=accelerators)
        if accelerators not in sizes_list and accelerators <= platform.domain_accelerators:
            sizes_list = sorted({*sizes_list, accelerators})
    sizes = np.array([sizes_list], dtype=float)
    batches = np.array([float(batch)]) if batch is not None else BATCHES
    cases = LlmCases.of(catalog, [model], [precision], [isl], [osl], [ttft_ms], [tpot_ms], [disaggregated])
    usable = catalog.facility["usable_hbm_fraction"].nominal
    grid = evaluate(cases, sc, sizes, batches, usable)
    n = np.broadcast_to(grid.replica_accelerators, grid.feasible.shape)
    replicas = np.floor(accelerators / n)
    per_acc = np.where(grid.feasible, replicas * grid.output_tokens_per_s / accelerators, -1.0)
    flat = per_acc.reshape(-1)
    if flat.max() <= 0:
        fits_any = bool(grid.fits.any())
        reason = ("no replica of up to the given accelerators meets the TTFT/TPOT limits" if fits_any
                  else "the weights and KV cache do not fit in the HBM of the given accelerators")
        raise InputError(SOURCE, "--accelerators", f"{model.name} at {precision} on {accelerators} x {platform_id}: "
                         f"{reason}")
    best = float(flat.max())
    idx = int(np.flatnonzero(flat >= best * (1 - 1e-12))[0])  # smallest replica among exact ties
    at = np.unravel_index(idx, per_acc.shape)

    def val(a: np.ndarray) -> float:
        return float(np.broadcast_to(a, per_acc.shape)[at])

    out = {
        "mode": "inference",
        "model": model.name,
        "precision": precision,
        "accelerators": accelerators,
        "isl": isl,
        "osl": osl,
        "output_tokens_per_s_per_accelerator": best,
        "output_tokens_per_s_total": best * accelerators,
        "tpot_ms": val(grid.tpot_s) * 1e3,
        "ttft_ms": val(grid.ttft_s) * 1e3,
        "batch": int(val(grid.batch)),
        "replica_accelerators": int(val(grid.replica_accelerators)),
        "replicas": int(val(replicas)),
        "replica_memory_gib": val(grid.memory_bytes) / 2**30,
        "bound": BOUNDS[int(val(grid.bound))],
    }
    out.update(_notes(catalog, platform))
    return out


def predict_training(platform_id: str, model: ModelSpec, precision: str, accelerators: int, seq_len: float,
                     catalog: Catalog | None = None) -> dict[str, Any]:
    catalog = catalog or load_catalog()
    platform = catalog.platform(platform_id, path="--platform")
    _check(platform, precision, accelerators)
    if precision == "fp4":
        raise InputError(SOURCE, "--precision", "training supports fp8 or bf16")
    if seq_len <= 0:
        raise InputError(SOURCE, "--seq-len", "must be greater than 0")
    eff = catalog.efficiency_of(platform)
    peak_fig = platform.dense_tflops[precision]
    assert peak_fig is not None
    peak = peak_fig.nominal * 1e12
    ratio = eff.value("fp8_training_mfu_ratio") if precision == "fp8" else 1.0
    u = float(mfu(np.array(float(accelerators)), np.array(eff.value("mfu_at_1024")),
                  np.array(eff.value("mfu_scale_exponent")), np.array(ratio)))
    m = ModelArrays.of([model])
    fpt = float(flops_per_token(m, np.array([float(seq_len)]))[0])
    tok_s = u * peak / fpt
    out = {
        "mode": "training",
        "model": model.name,
        "precision": precision,
        "accelerators": accelerators,
        "seq_len": seq_len,
        "mfu": u,
        "mfu_capped": u >= MFU_CAP,
        "hardware_tflops_per_accelerator": u * peak / 1e12,
        "model_tflops_per_accelerator": 6.0 * model.active_params_b * 1e9 * tok_s / 1e12,
        "train_tokens_per_s_per_accelerator": tok_s,
        "flops_per_token": fpt,
    }
    out.update(_notes(catalog, platform))
    return out
