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
    disaggregated: bool = False


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


def band(value: float, sigma: float) -> dict[str, float]:
    """P10/P90 of a prediction whose log error is normal with ``sigma`` (calibration residual)."""
    return {"p10": value * math.exp(-Z90 * sigma), "p90": value * math.exp(Z90 * sigma)}


def predict_inference_many(queries: list[InferenceQuery], catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """Predict every query in one vectorised evaluation; raises InputError for the first bad one."""
    catalog = catalog or load_catalog()
    for q in queries:
        platform = catalog.platform(q.platform, path="--platform")
        _check(platform, q.precision, q.accelerators)
        if q.isl <= 0 or q.osl <= 0:
            raise InputError(SOURCE, "--isl" if q.isl <= 0 else "--osl", "must be greater than 0")
        if q.batch is not None and q.batch < 1:
            raise InputError(SOURCE, "--batch", f"must be at least 1, got {q.batch}")
    pids = sorted({q.platform for q in queries})
    sc = scenarios(catalog, pids, 1, np.random.default_rng(0))
    per_platform: list[set[float]] = []
    for pid in pids:
        dom = catalog.platforms[pid].domain_accelerators
        largest = max(q.accelerators for q in queries if q.platform == pid)
        sizes = {float(n) for n in replica_sizes(dom, max_accelerators=largest)}
        sizes |= {float(q.accelerators) for q in queries if q.platform == pid}
        per_platform.append(sizes)
    width = max(len(s) for s in per_platform)
    sizes_arr = np.full((len(pids), width), np.nan)
    for i, s in enumerate(per_platform):
        sizes_arr[i, : len(s)] = sorted(s)
    batches = np.unique(np.concatenate([BATCHES, [float(q.batch) for q in queries if q.batch is not None]]))

    cases = LlmCases.of(
        catalog, [q.model for q in queries], [q.precision for q in queries], [q.isl for q in queries],
        [q.osl for q in queries], [q.ttft_ms for q in queries], [q.tpot_ms for q in queries],
        [q.disaggregated for q in queries],
    )
    usable = catalog.facility["usable_hbm_fraction"].nominal
    fixed_only = all(q.batch is not None for q in queries)
    grid = evaluate(cases, sc, sizes_arr, batches, usable, batch_fill=not fixed_only)
    plat_idx = np.array([pids.index(q.platform) for q in queries])
    Q = len(queries)

    def own(a: np.ndarray) -> np.ndarray:
        """(Q, P, 1, Nc, Bc) -> (Q, Nc, Bc) at each query's platform."""
        full = np.broadcast_to(a, grid.feasible.shape)
        return full[np.arange(Q), plat_idx, 0]

    n = own(grid.replica_accelerators)
    b = own(grid.batch)
    acc = np.array([float(q.accelerators) for q in queries])[:, None, None]
    fixed = np.array([q.batch is not None for q in queries])[:, None, None]
    fixed_b = np.array([float(q.batch or 0) for q in queries])[:, None, None]
    allowed = np.where(fixed, (n == acc) & (b == fixed_b), n <= acc)
    feasible = own(grid.feasible) & allowed
    replicas = np.floor(acc / n)
    per_acc = np.where(feasible, replicas * own(grid.output_tokens_per_s) / acc, -1.0)
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
        idx = int(np.flatnonzero(flat >= best * (1 - 1e-12))[0])  # smallest replica among exact ties
        at = np.unravel_index(idx, per_acc[i].shape)

        def val(a: np.ndarray, i: int = i, at: tuple[Any, ...] = at) -> float:
            return float(own(a)[i][at])

        platform = catalog.platforms[q.platform]
        sigma = catalog.prediction_sigma(platform)
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
            "batch": int(val(grid.batch)),
            "replica_accelerators": int(val(grid.replica_accelerators)),
            "replicas": int(replicas[i][at]),
            "replica_memory_gib": val(grid.memory_bytes) / 2**30,
            "bound": BOUNDS[int(val(grid.bound))],
            "residual_sigma": sigma,
        }
        out.update(_notes(catalog, platform))
        results.append(out)
    return results


def predict_inference(platform_id: str, model: ModelSpec, precision: str, accelerators: int, isl: float,
                      osl: float, ttft_ms: float | None = None, tpot_ms: float | None = None,
                      batch: int | None = None, disaggregated: bool = False,
                      catalog: Catalog | None = None) -> dict[str, Any]:
    query = InferenceQuery(platform_id, model, precision, accelerators, isl, osl, ttft_ms, tpot_ms, batch,
                           disaggregated)
    return predict_inference_many([query], catalog)[0]


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
    model_tflops = u * peak / 1e12  # model FLOPs incl. attention (the PaLM / Llama 3 MFU convention)
    sigma = catalog.prediction_sigma(platform, "training")
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
    out.update(_notes(catalog, platform))
    return out
