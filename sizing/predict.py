"""Single configurations, the interface calibration uses: ``aifactory predict``.

Serving: a system of A accelerators runs floor(A/n) replicas of n; the engine picks the replica
size and batch that maximise output tokens/s per accelerator of the system within the TTFT/TPOT
limits (MLPerf "offline" when there are none). With a fixed batch the system is one replica of
that batch (a latency measurement of one serving instance). Training: MFU at A accelerators and
the resulting throughput. Uses the nominal catalog (scenario 0).

Queries are evaluated together (one ``llm.evaluate`` call for all of them), so the calibration
rows and the command line go through exactly the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sizing.catalog import PRECISIONS, Catalog, Platform, load_catalog, scenarios
from sizing.errors import InputError
from sizing.forecast import Z90
from sizing.llm import BATCHES, BOUNDS, LlmCases, evaluate, replica_sizes
from sizing.models import ModelArrays, ModelSpec
from sizing.training import MFU_CAP, flops_per_token, mfu

SOURCE = "command line"


@dataclass(frozen=True)
class InferenceQuery:
    platform: str
    model: ModelSpec
    precision: str
    accelerators: int
    isl: float
    osl: float
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    batch: int | None = None
    disaggregated: bool | str = False  # False, True or "auto"
    software: str | None = None  # serving stack; None = the platform family's default
    quantize: bool = True  # a BF16 checkpoint may be served in FP8 where the stack does so
    prefix_hit: float = 0.0
    speculative: tuple[str, int, float, float] | None = None  # (method, tokens, acceptance, draft_params_b)
    compiled_batch: int | None = None  # a static graph's batch: per-sequence costs at least this many slots


def _check(platform: Platform, precision: str, accelerators: int, training: bool = False) -> None:
    """Serving accepts any checkpoint format (served in the best format the platform has); training
    needs the format in hardware."""
    if precision not in PRECISIONS:
        raise InputError(SOURCE, "--precision", f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    if training and not platform.supports(precision):
        ok = [p for p in PRECISIONS if platform.supports(p)]
        raise InputError(SOURCE, "--precision", f"{platform.id} has no {precision} support; allowed: {', '.join(ok)}")
    if accelerators < 1:
        raise InputError(SOURCE, "--accelerators", f"must be at least 1, got {accelerators}")


def _notes(catalog: Catalog, platform: Platform, stack: str | None = None) -> dict[str, Any]:
    eff = catalog.efficiency_of(platform, stack)
    out: dict[str, Any] = {
        "platform": platform.id,
        "software": eff.stack,
        "software_basis": eff.basis,
        "software_generation": eff.software,
        "calibration_basis": platform.calibration_basis,
    }
    if eff.claims:
        out["software_claims"] = eff.claims
    if platform.id.startswith("trn3"):
        out["note"] = ("Trn3 has no published measurement: derived from Trn2 calibration and the published "
                       "Trn3/Trn2 chip ratios")
    return out


def band(value: float, sigma: float) -> dict[str, float]:
    """P10/P90 of a prediction whose log error is normal with ``sigma`` (calibration residual)."""
    return {"p10": value * math.exp(-Z90 * sigma), "p90": value * math.exp(Z90 * sigma)}


def predict_inference_many(queries: list[InferenceQuery], catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """Predict every query in one vectorised evaluation; raises InputError for the first bad one."""
    catalog = catalog or load_catalog()
    columns: list[tuple[str, str]] = []  # (platform, stack) pairs: one scenario column each
    for q in queries:
        platform = catalog.platform(q.platform, path="--platform")
        _check(platform, q.precision, q.accelerators)
        if q.isl <= 0 or q.osl <= 0:
            raise InputError(SOURCE, "--isl" if q.isl <= 0 else "--osl", "must be greater than 0")
        if q.batch is not None and q.batch < 1:
            raise InputError(SOURCE, "--batch", f"must be at least 1, got {q.batch}")
        columns.append((q.platform, catalog.stack_for(platform, q.software)))
    results: list[dict[str, Any] | None] = [None] * len(queries)
    for col in sorted(set(columns)):  # one evaluation per (platform, stack): a handful, not per configuration
        idx = [i for i, c in enumerate(columns) if c == col]
        for i, out in zip(idx, _predict_column(catalog, col, [queries[i] for i in idx]), strict=True):
            results[i] = out
    return [r for r in results if r is not None]


def _predict_column(catalog: Catalog, col: tuple[str, str], queries: list[InferenceQuery]) -> list[dict[str, Any]]:
    """Every query of one platform and stack in one vectorised evaluation."""
    pid, stack = col
    sc = scenarios(catalog, [pid], 1, 0, [stack])
    dom = catalog.platforms[pid].domain_accelerators
    sizes = {float(n) for n in replica_sizes(dom, max_accelerators=max(q.accelerators for q in queries))}
    sizes |= {float(q.accelerators) for q in queries}
    sizes_arr = np.array([sorted(sizes)])
    fixed_only = all(q.batch is not None for q in queries)
    fixed_batches = [float(q.batch) for q in queries if q.batch is not None]
    batches = np.unique(fixed_batches) if fixed_only else np.unique(np.concatenate([BATCHES, fixed_batches]))
    cases = LlmCases.of(
        catalog, [q.model for q in queries], [q.precision for q in queries], [q.isl for q in queries],
        [q.osl for q in queries], [q.ttft_ms for q in queries], [q.tpot_ms for q in queries],
        [q.disaggregated for q in queries], [q.quantize for q in queries], [q.prefix_hit for q in queries],
        [q.speculative for q in queries], [float(q.compiled_batch or 0) for q in queries],
    )
    usable = catalog.facility["usable_hbm_fraction"].nominal
    grid = evaluate(cases, sc, sizes_arr, batches, usable, batch_fill=not fixed_only)

    def own(a: np.ndarray) -> np.ndarray:
        """(Q, 1, 1, Nc, Bc) -> (Q, Nc, Bc)."""
        return np.broadcast_to(a, grid.feasible.shape)[:, 0, 0]

    n = own(grid.replica_accelerators)
    b = own(grid.batch)
    acc = np.array([float(q.accelerators) for q in queries])[:, None, None]
    fixed = np.array([q.batch is not None for q in queries])[:, None, None]
    fixed_b = np.array([float(q.batch or 0) for q in queries])[:, None, None]
    allowed = np.where(fixed, (n == acc) & (b == fixed_b), n <= acc)
    feasible = own(grid.feasible) & allowed
    replicas = np.floor(acc / n)
    per_acc = np.where(feasible, replicas * own(grid.output_tokens_per_s) / acc, -1.0)
    platform = catalog.platforms[pid]
    sigma = catalog.prediction_sigma(platform, stack=stack)
    results: list[dict[str, Any]] = []
    for i, q in enumerate(queries):
        flat = per_acc[i].reshape(-1)
        if flat.max() <= 0:
            fits_any = bool((own(grid.fits)[i] & allowed[i]).any())
            reason = ("no replica of up to the given accelerators meets the TTFT/TPOT limits" if fits_any
                      else "the weights and KV cache do not fit in the HBM of the given accelerators")
            raise InputError(SOURCE, "--accelerators",
                             f"{q.model.name} at {q.precision} on {q.accelerators} x {q.platform}: {reason}")
        best = float(flat.max())
        at = np.unravel_index(int(np.flatnonzero(flat >= best * (1 - 1e-12))[0]), per_acc[i].shape)  # smallest tie

        def val(a: np.ndarray, i: int = i, at: tuple[Any, ...] = at) -> float:
            return float(own(a)[i][at])

        interval = band(best, sigma)
        out: dict[str, Any] = {
            "mode": "inference",
            "model": q.model.name,
            "precision": q.precision,
            "accelerators": q.accelerators,
            "isl": q.isl,
            "osl": q.osl,
            "output_tokens_per_s_per_accelerator": best,
            "output_tokens_per_s_per_accelerator_band": interval,
            **interval,
            "output_tokens_per_s_total": best * q.accelerators,
            "tpot_ms": val(grid.tpot_s) * 1e3,
            "ttft_ms": val(grid.ttft_s) * 1e3,
            "tpot_p99_ms": val(grid.tpot_p99_s) * 1e3,  # what the limits are checked against
            "ttft_p99_ms": val(grid.ttft_p99_s) * 1e3,
            "batch": int(val(grid.batch)),
            "replica_accelerators": int(val(grid.replica_accelerators)),
            "replicas": int(replicas[i][at]),
            "replica_memory_gib": val(grid.memory_bytes) / 2**30,
            "bound": BOUNDS[int(val(grid.bound))],
            "residual_sigma": sigma,
            "formats": _formats(grid, i, 0, q.precision),
            "speculative": bool(val(grid.speculative)),
            "disaggregated": _pools(grid, val),
        }
        out.update(_notes(catalog, platform, stack))
        results.append(out)
    return results


def _formats(grid: Any, i: int, col: int, checkpoint: str) -> dict[str, str]:
    """The formats a prediction served in (checkpoint weights, stored weights, GEMMs, attention, KV)."""
    compute = PRECISIONS[int(grid.compute_format[i, col])]
    attention = "bf16" if compute == "bf16" else "fp8"
    return {"checkpoint": checkpoint, "weights": PRECISIONS[int(grid.weight_format[i, col])], "compute": compute,
            "attention": attention, "kv_cache": attention}


def _pools(grid: Any, val: Any) -> dict[str, Any] | bool:
    """False when aggregated; else the two pools: prefill replica size and share of accelerators."""
    if not bool(val(grid.disaggregated)):
        return False
    share = val(grid.prefill_share)
    return {"prefill_pool": {"replica_accelerators": int(val(grid.prefill_replica_accelerators)),
                             "accelerator_share": share},
            "decode_pool": {"replica_accelerators": int(val(grid.replica_accelerators)), "batch": int(val(grid.batch)),
                            "accelerator_share": 1.0 - share}}


def predict_inference(platform_id: str, model: ModelSpec, precision: str, accelerators: int, isl: float,
                      osl: float, ttft_ms: float | None = None, tpot_ms: float | None = None,
                      batch: int | None = None, disaggregated: bool | str = False,
                      catalog: Catalog | None = None, software: str | None = None, quantize: bool = True,
                      prefix_hit: float = 0.0,
                      speculative: tuple[str, int, float, float] | None = None) -> dict[str, Any]:
    query = InferenceQuery(platform_id, model, precision, accelerators, isl, osl, ttft_ms, tpot_ms, batch,
                           disaggregated, software, quantize, prefix_hit, speculative)
    return predict_inference_many([query], catalog)[0]


def training_mfu_ratio(eff: Any, precision: str) -> float:
    """MFU at a precision (of its own peak) relative to BF16's: one rule for predict and the engine."""
    return {"fp8": eff.value("fp8_training_mfu_ratio"), "fp4": eff.value("fp4_training_mfu_ratio")}.get(precision, 1.0)


def predict_training(platform_id: str, model: ModelSpec, precision: str, accelerators: int, seq_len: float,
                     catalog: Catalog | None = None, software: str | None = None) -> dict[str, Any]:
    catalog = catalog or load_catalog()
    platform = catalog.platform(platform_id, path="--platform")
    _check(platform, precision, accelerators, training=True)
    if seq_len <= 0:
        raise InputError(SOURCE, "--seq-len", "must be greater than 0")
    eff = catalog.efficiency_of(platform, software)
    peak_fig = platform.dense_tflops[precision]
    assert peak_fig is not None
    peak = peak_fig.nominal * 1e12
    ratio = training_mfu_ratio(eff, precision)
    u = float(mfu(np.array(float(accelerators)), np.array(eff.value("mfu_at_1024")),
                  np.array(eff.value("mfu_scale_exponent")), np.array(ratio)))
    m = ModelArrays.of([model])
    fpt = float(flops_per_token(m, np.array([float(seq_len)]))[0])
    tok_s = u * peak / fpt
    model_tflops = u * peak / 1e12  # model FLOPs incl. attention (the PaLM / Llama 3 MFU convention)
    sigma = catalog.prediction_sigma(platform, "training", software)
    out = {
        "mode": "training",
        "model": model.name,
        "precision": precision,
        "accelerators": accelerators,
        "seq_len": seq_len,
        "mfu": u,
        "mfu_capped": u >= MFU_CAP,
        "model_tflops_6nd_per_accelerator": 6.0 * model.active_params_b * 1e9 * tok_s / 1e12,
        "model_tflops_per_accelerator": model_tflops,
        "model_tflops_per_accelerator_band": band(model_tflops, sigma),
        "train_tokens_per_s_per_accelerator": tok_s,
        "flops_per_token": fpt,
        "residual_sigma": sigma,
    }
    out.update(_notes(catalog, platform, software))
    return out
