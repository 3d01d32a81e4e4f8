"""Fit the efficiency constants to published measurements, reproducibly (``aifactory calibrate``).

Few constants with physical meaning per serving software stack (fractions of peak compute and
bandwidth, collective latency, the per-step software floor and per-sequence cost, FP4 GEMM
efficiency, MoE expert skew, training MFU and its fall with scale), plus one throughput factor per
older software generation, are fitted by minimising the mean squared log error over ALL calibration
rows of the stack that measured them, with a weak pull toward the priors so that constants the rows
cannot see stay where physics put them. The optimiser is a deterministic Nelder-Mead in a bounded
(logistic) space: the same rows give the same constants, bit for bit.

Two stacks are fitted: ``trtllm`` on the NVIDIA rows and ``neuron-oss`` on the Trainium rows
(c20-c29, public open-source Neuron stacks). ``vllm`` and ``neuron-aws`` have no public
measurement: they are TensorRT-LLM's fitted constants times the assumed factors of
efficiency_priors.yaml, labelled assumptions with wider bands. Held-out accuracy is by
cross-validation (:func:`cross_validate`): each group of rows (one model, or one platform) is
predicted by a fit that never saw it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sizing.calibration import Result, Row, calibration_models, load_rows, predict_rows
from sizing.catalog import Catalog, Figure, _relative, load_catalog, parse_efficiency
from sizing.errors import InputError
from sizing.models import ModelSpec

BOUNDS: dict[str, tuple[float, float]] = {
    "prefill_compute_fraction": (0.05, 0.95),
    "decode_compute_fraction": (0.05, 0.95),
    "hbm_fraction": (0.15, 0.95),
    "scaleup_fraction": (0.1, 0.95),
    "collective_latency_us": (1.0, 300.0),
    "fp4_compute_ratio": (0.15, 1.0),
    "moe_imbalance": (1.0, 4.0),
    "moe_efficiency": (0.01, 1.0),
    "mfu_at_1024": (0.1, 0.75),
    "mfu_scale_exponent": (0.0, 0.25),
    "fp8_training_mfu_ratio": (0.3, 1.0),
    "step_overhead_us": (10.0, 40000.0),
    "per_sequence_us": (0.01, 3000.0),
    "tpot_jitter_factor": (1.0, 3.0),
    "ttft_tail_factor": (1.0, 5.0),
    "attention_efficiency": (0.1, 1.0),
}
GENERATION_BOUNDS = (0.3, 1.0)  # an older software generation is never faster than the current one
FITTED: dict[str, tuple[str, ...]] = {
    "trtllm": ("prefill_compute_fraction", "decode_compute_fraction", "hbm_fraction", "fp4_compute_ratio",
               "moe_imbalance", "tpot_jitter_factor", "attention_efficiency", "per_sequence_us", "mfu_at_1024",
               "mfu_scale_exponent", "fp8_training_mfu_ratio"),
    "neuron-oss": ("prefill_compute_fraction", "hbm_fraction", "collective_latency_us", "step_overhead_us",
                   "per_sequence_us", "moe_efficiency"),
}
MEANINGS: dict[str, str] = {
    "prefill_compute_fraction": "achieved / peak FLOP/s of large prefill GEMMs",
    "decode_compute_fraction": "achieved / peak FLOP/s of decode GEMMs (skinny, batch-sized)",
    "hbm_fraction": "achieved / peak HBM bandwidth streaming weights and KV cache in decode",
    "scaleup_fraction": "achieved / peak NVLink or NeuronLink bandwidth in collectives",
    "collective_latency_us": "fixed cost of one collective (all-reduce or all-to-all), microseconds",
    "fp4_compute_ratio": "FP4 GEMM efficiency relative to FP8's (share of the doubled FP4 peak reached)",
    "moe_imbalance": "expert-popularity skew: busiest expert-parallel rank / average, beyond the statistical spread",
    "moe_efficiency": "routed-expert kernels (weight streaming, GEMMs) relative to dense ones",
    "attention_efficiency": "decode attention (KV reads, attention FLOPs) relative to weight streaming and GEMMs",
    "ttft_tail_factor": "p99 TTFT / mean TTFT (queueing for prefill)",
    "tpot_jitter_factor": ("p99 request TPOT / its chunk-counted value (scheduling jitter beyond the Poisson count "
                           "of prefill chunks)"),
    "step_overhead_us": "per-step software floor: fixed time of every decode step (launches, scheduling), us",
    "per_sequence_us": "per-sequence cost of a decode step (sampling over the vocabulary, scheduling), us",
    "max_batch": "most sequences in flight the stack runs (runtime limit)",
    "prefill_chunk_tokens": "chunked-prefill size: prefill tokens one decode step may carry",
    "workspace_gib": "activation and runtime workspace per accelerator, GiB",
    "sequence_workspace_mib": "workspace per sequence in flight (logits, sampling buffers), MiB",
    "fp8_serving": "1 if the stack serves BF16 checkpoints in FP8 where allowed, else 0",
    "fp4_training_mfu_ratio": "MFU at FP4 (of the FP4 peak) relative to BF16",
    "moe_prefill_all_experts": "1 if the stack's MoE prefill runs every expert on every prompt token, else 0",
    "claimed_kernel_utilisation": "CLAIMED tensor-engine utilisation in vendor kernels (a training MFU prior's basis)",
    "mfu_at_1024": "training model FLOPs utilisation (BF16) at 1,024 accelerators",
    "mfu_scale_exponent": "MFU falls as (accelerators / 1024) ^ -exponent",
    "fp8_training_mfu_ratio": "MFU at FP8 (of the FP8 peak) relative to BF16",
    "residual_sigma": "lognormal sigma of serving-prediction error (RMS log residual of the throughput and TPOT rows)",
    "training_residual_sigma": "lognormal sigma of training-prediction error (std of log residuals)",
}
TRAINING_CONSTANTS = ("mfu_at_1024", "mfu_scale_exponent", "fp8_training_mfu_ratio", "fp4_training_mfu_ratio",
                      "training_residual_sigma")
HELD_OUT: tuple[str, ...] = ()  # every row is fitted; held-out accuracy comes from cross_validate()
ITERATIONS, RESTARTS = 500, 4
CV_ITERATIONS = 150  # cross-validation refits start from the full fit: fewer iterations suffice
EFFICIENCY_FILE = "data/efficiency.yaml"
PRIOR_WEIGHT = 0.003
HUBER_DELTA = 0.1  # log-error scale beyond which a row's pull grows linearly, not quadratically


def robust_loss(errors: np.ndarray) -> float:
    """Mean pseudo-Huber loss of log errors: squared for errors under ~25%, linear beyond, so rows no
    physics here explains (the saturated-queue TTFTs of c25-c27) cannot drag every constant with them."""
    return float(np.mean(HUBER_DELTA**2 * (np.sqrt(1.0 + (errors / HUBER_DELTA) ** 2) - 1.0)))


def generation_of(row: Row) -> str:
    """The software generation a row was measured with (older ones get a fitted factor)."""
    src = row.source.lower()
    if "mlperf inference v6" in src:
        return "current"
    if "mlperf inference" in src:
        return "mlperf-inference-v5.1-and-earlier"
    if "tensorrt-llm docs" in src:
        return "tensorrt-llm-docs-2025"
    return "current"


def family_of(row: Row, catalog: Catalog) -> str:
    return catalog.platforms[row.platform].family


def stack_of(row: Row, catalog: Catalog) -> str:
    """The serving stack that measured a row (its notes' ``stack:``, else the family default)."""
    return row.stack or catalog.default_stack(family_of(row, catalog))


def with_constants(catalog: Catalog, stack: str, values: dict[str, float],
                   generations: dict[str, float] | None = None, notes: dict[str, str] | None = None) -> Catalog:
    """A catalog whose ``stack`` efficiency constants are replaced by ``values``."""
    eff = catalog.efficiency[stack]
    figures = dict(eff.figures)
    for name, v in values.items():
        figures[name] = Figure(v, v, "derived", "ENGINE", (notes or {}).get(name, figures[name].note))
    new = replace(eff, figures=figures, software_generations=(
        dict(generations) if generations is not None else dict(eff.software_generations)))
    return replace(catalog, efficiency={**catalog.efficiency, stack: new})


def _factor(result: Result, catalog: Catalog) -> float:
    """Software-generation factor for a row (1 for the catalog's own generation)."""
    eff = catalog.efficiency[stack_of(result.row, catalog)]
    gen = generation_of(result.row)
    f = eff.software_generations.get(gen, 1.0)
    # TPOT and TTFT are times: a faster generation lowers them
    return 1.0 / f if result.row.metric in ("tpot_ms", "ttft_ms") else f


def predictions(rows: list[Row], models: dict[str, ModelSpec], catalog: Catalog) -> list[Result]:
    """Rows predicted with the catalog, including its software-generation factors."""
    raw = predict_rows(rows, models, catalog)
    return [Result(r.row, r.predicted * _factor(r, catalog)) for r in raw]


def log_errors(results: list[Result]) -> np.ndarray:
    return np.array([math.log(r.predicted / r.row.measured) for r in results])


# ---------------------------------------------------------------------------------------------
# Deterministic Nelder-Mead
# ---------------------------------------------------------------------------------------------


def nelder_mead(f: Callable[[np.ndarray], float], x0: np.ndarray, step: float = 0.5, iterations: int = 400,
                tol: float = 1e-9) -> tuple[np.ndarray, float]:
    n = x0.size
    simplex = np.vstack([x0] + [x0 + step * np.eye(n)[i] for i in range(n)])
    values = np.array([f(x) for x in simplex])
    for _ in range(iterations):
        order = np.argsort(values, kind="stable")
        simplex, values = simplex[order], values[order]
        if values[-1] - values[0] < tol:
            break
        centroid = simplex[:-1].mean(axis=0)
        xr = centroid + (centroid - simplex[-1])
        fr = f(xr)
        if fr < values[0]:
            xe = centroid + 2.0 * (centroid - simplex[-1])
            fe = f(xe)
            simplex[-1], values[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = xr, fr
        else:
            xc = centroid + 0.5 * (simplex[-1] - centroid)
            fc = f(xc)
            if fc < values[-1]:
                simplex[-1], values[-1] = xc, fc
            else:
                simplex[1:] = simplex[0] + 0.5 * (simplex[1:] - simplex[0])
                values[1:] = [f(x) for x in simplex[1:]]
    best = int(np.argmin(values))
    return simplex[best], float(values[best])


def _to_unit(name: str, value: float) -> float:
    lo, hi = BOUNDS[name]
    p = min(max((value - lo) / (hi - lo), 1e-3), 1 - 1e-3)
    return math.log(p / (1 - p))


def _from_unit(name: str, x: float) -> float:
    lo, hi = BOUNDS[name]
    return lo + (hi - lo) / (1.0 + math.exp(-x))


def _gen_to_unit(factor: float) -> float:
    lo, hi = GENERATION_BOUNDS
    p = min(max((factor - lo) / (hi - lo), 1e-3), 1 - 1e-3)
    return math.log(p / (1 - p))


def _gen_from_unit(x: float) -> float:
    lo, hi = GENERATION_BOUNDS
    return lo + (hi - lo) / (1.0 + math.exp(-x))


@dataclass(frozen=True)
class FitResult:
    catalog: Catalog
    fitted_rows: tuple[str, ...]
    held_out_rows: tuple[str, ...]
    results: tuple[Result, ...]


PRIORS_FILE = "sizing/data/efficiency_priors.yaml"
PRIOR_RANGES: dict[str, tuple[tuple[float, ...], str]] = {
    # constant: (allowed values, or (low, high] for a range), what the message says is allowed
    "moe_prefill_all_experts": ((0.0, 1.0), "0 (routed prefill) or 1 (every expert on every prompt token)"),
    "claimed_kernel_utilisation": ((0.0, 1.0), "a share of peak above 0 and at most 1"),
}


def check_priors(doc: dict[str, Any], source: str = PRIORS_FILE) -> dict[str, Any]:
    """The priors document, after checking the constants whose meaning bounds them (a flag is 0 or 1,
    a claimed utilisation a share of peak): a bad value is an InputError naming the field."""
    for sid, spec in doc.get("stacks", {}).items():
        for name, (allowed, words) in PRIOR_RANGES.items():
            raw = spec.get("constants", {}).get(name)
            if raw is None:
                continue
            value = raw.get("value") if isinstance(raw, dict) else None
            is_flag = name == "moe_prefill_all_experts"
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
                value in allowed if is_flag else allowed[0] < value <= allowed[1])
            if not ok:
                raise InputError(source, f"stacks.{sid}.constants.{name}.value", f"got {value!r}; allowed: {words}")
    return doc


def _priors_doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(
        resources.files("sizing").joinpath("data/efficiency_priors.yaml").read_text("utf-8"))
    return check_priors(doc)


def prior_catalog() -> Catalog:
    """The shipped catalog with the hand-written priors (efficiency_priors.yaml) as its constants."""
    return replace(load_catalog(), efficiency=parse_efficiency(_priors_doc()))


def fit(directory: Path, catalog: Catalog | None = None, held_out: tuple[str, ...] = HELD_OUT,
        iterations: int = ITERATIONS, restarts: int = RESTARTS, warm: Catalog | None = None,
        only: tuple[str, ...] | None = None) -> FitResult:
    """Fit every measured stack's constants and generation factors, starting from the priors (or from
    ``warm``'s constants, as cross-validation does), then derive the unmeasured stacks. With ``only``,
    the other stacks keep ``warm``'s fitted constants (their rows did not change)."""
    catalog = catalog or prior_catalog()
    rows = load_rows(directory)
    models = calibration_models(directory)
    # a TTFT behind a saturated admission queue measures the queue, not prefill: reported, not fitted
    fit_rows = [r for r in rows if r.id.split(".")[0] not in held_out and not r.ttft_is_queueing]
    for stack in FITTED:
        mine = [r for r in fit_rows if stack_of(r, catalog) == stack]
        if only is not None and stack not in only and warm is not None:
            catalog = replace(catalog, efficiency={**catalog.efficiency, stack: warm.efficiency[stack]})
        elif mine:
            catalog = _fit_stack(catalog, stack, mine, models, iterations, restarts, warm)
    catalog = _rounded(_derive_unmeasured(_derive_trainium_training(catalog)))
    results = predictions(rows, models, catalog)
    catalog = _rounded(_derive_unmeasured(_residuals(catalog, results)))
    return FitResult(catalog, tuple(r.id for r in fit_rows), tuple(r.id for r in rows if r not in fit_rows),
                     tuple(predictions(rows, models, catalog)))


def _fit_stack(catalog: Catalog, stack: str, rows: list[Row], models: dict[str, ModelSpec],
               iterations: int, restarts: int, warm: Catalog | None = None) -> Catalog:
    """Fit one stack's constants (and its older generations' factors) to its rows; the prior pull is
    always toward the priors, the start is ``warm``'s values when given."""
    names = list(FITTED[stack])
    gens = sorted({generation_of(r) for r in rows} - {"current"})
    prior = catalog.efficiency[stack]
    x_prior = np.array([_to_unit(n, prior.value(n)) for n in names]
                       + [_gen_to_unit(prior.software_generations.get(g, 0.8)) for g in gens])
    begin = (warm or catalog).efficiency[stack]
    x0 = np.array([_to_unit(n, begin.value(n)) for n in names]
                  + [_gen_to_unit(begin.software_generations.get(g, 0.8)) for g in gens])

    def unpack(x: np.ndarray) -> Catalog:
        values = {n: _from_unit(n, float(v)) for n, v in zip(names, x[: len(names)], strict=True)}
        factors = {g: _gen_from_unit(float(v)) for g, v in zip(gens, x[len(names):], strict=True)}
        return with_constants(catalog, stack, values, {"current": 1.0, **factors})

    def objective(x: np.ndarray) -> float:
        try:
            errs = log_errors(predictions(rows, models, unpack(x)))
        except InputError:  # constants under which some row fits nothing: a wall, not a crash
            return 1e6
        return robust_loss(errs) + PRIOR_WEIGHT * np.mean((x - x_prior) ** 2)

    x = x0
    for _ in range(restarts + 1):
        x, _value = nelder_mead(objective, x, iterations=iterations)
    return unpack(x)


def _derive_unmeasured(catalog: Catalog) -> Catalog:
    """Stacks with no public measurement (vllm, neuron-aws): their base stack's constants (as now
    fitted) times the factors of efficiency_priors.yaml, with their own constants on top."""
    raw = _priors_doc()["stacks"]
    out = dict(catalog.efficiency)
    for sid, spec in raw.items():
        if spec.get("fitted", True):
            continue
        own = {k: f for k, f in out[sid].figures.items() if k in spec.get("constants", {})}
        # training does not run on the serving stack: the family's fitted stack's training MFU and band
        family = next(out[f] for f, sp in raw.items() if sp.get("fitted", True) and sp["family"] == spec["family"])
        own.update({k: family.figures[k] for k in TRAINING_CONSTANTS})
        out[sid] = replace(out[sid], figures=_relative(out[spec["relative_to"]], spec.get("relative", {}), own, sid))
    return replace(catalog, efficiency=out)


def _derive_trainium_training(catalog: Catalog) -> Catalog:
    """neuron-oss serving constants no Trainium row measures, carried over from TensorRT-LLM's fit and
    said so.

    The decode GEMM fraction scales by the ratio of the two stacks' fitted prefill GEMM fractions (the
    same serving kernels at another shape); software-and-model constants (MFU's fall with scale, FP8
    training ratio, MoE skew, attention efficiency, p99/mean factors) are copied. Training MFU is NOT
    derived from serving: Trainium trains with NxD Training and the Neuron compiler, not the serving
    stack, and no Trainium training row exists, so ``mfu_at_1024`` stays the labelled prior of
    efficiency_priors.yaml (a claim-based value with a wide band, docs/TRAINIUM.md).
    """
    nv, tr = catalog.efficiency["trtllm"], catalog.efficiency["neuron-oss"]
    ratio = tr.value("prefill_compute_fraction") / nv.value("prefill_compute_fraction")
    scaled = (f"no Trainium measurement: TensorRT-LLM's fitted value x {ratio:.3f}, the ratio of the two stacks' "
              "fitted prefill GEMM fractions")
    copied = "no Trainium measurement: TensorRT-LLM's fitted value, carried over"
    values = {
        "decode_compute_fraction": min(nv.value("decode_compute_fraction") * ratio,
                                       BOUNDS["decode_compute_fraction"][1]),
    }
    notes = {k: scaled for k in values}
    values["mfu_at_1024"], notes["mfu_at_1024"] = trainium_training_mfu(nv, tr)
    for name in ("mfu_scale_exponent", "fp8_training_mfu_ratio", "moe_imbalance", "attention_efficiency",
                 "tpot_jitter_factor", "ttft_tail_factor"):
        values[name] = nv.value(name)
        notes[name] = copied
    return with_constants(catalog, "neuron-oss", values, notes=notes)


def trainium_training_mfu(nv: Any, tr: Any) -> tuple[float, str]:
    """Trainium's training MFU at 1,024 chips, a labelled prior (no Trainium training row exists):
    the CLAIMED tensor-engine utilisation of Trn2 in Anthropic's kernels times NVIDIA's measured ratio
    of full-run training MFU to large-GEMM efficiency (TensorRT-LLM's fitted ``mfu_at_1024`` over its
    fitted ``prefill_compute_fraction``): what a run loses to attention, exposed collectives, the
    optimizer and pipeline bubbles relative to its best GEMMs, taken as the same on both platforms."""
    claim = tr.value("claimed_kernel_utilisation")
    loss = nv.value("mfu_at_1024") / nv.value("prefill_compute_fraction")
    value = min(claim * loss, BOUNDS["mfu_at_1024"][1])
    note = (f"PRIOR, no Trainium training row: the CLAIMED {claim:g} tensor-engine utilisation of Trn2 in Anthropic's "
            f"kernels (re:Invent 2025, AIM3335) x {loss:.3f}, TensorRT-LLM's fitted training MFU over its fitted "
            "large-GEMM (prefill) fraction, measured on NVIDIA; band: training_residual_sigma")
    return value, note


def _rounded(catalog: Catalog) -> Catalog:
    """Constants at the 4 significant digits efficiency.yaml stores, so what the fit reports is what
    the shipped file predicts."""
    for stack, eff in catalog.efficiency.items():
        values = {k: float(f"{f.nominal:.4g}") for k, f in eff.figures.items()}
        gens = {k: float(f"{v:.4g}") for k, v in eff.software_generations.items()}
        catalog = replace(catalog, efficiency={**catalog.efficiency, stack: replace(
            eff, figures={k: replace(f, low=values[k], high=values[k]) for k, f in eff.figures.items()},
            software_generations=gens)})
    return catalog


def _residuals(catalog: Catalog, results: list[Result]) -> Catalog:
    for stack in FITTED:
        mine = [r for r in results if stack_of(r.row, catalog) == stack]
        # the serving band is about throughput: TPOT and tokens/s rows (TTFT rows are reported, not banded)
        serving = log_errors([r for r in mine if r.row.kind == "inference" and r.row.metric != "ttft_ms"])
        training = log_errors([r for r in mine if r.row.kind == "training"])
        values = {}
        if serving.size:
            values["residual_sigma"] = float(np.sqrt(np.mean(serving**2)))
        # no training row on this stack: the band is the prior's (its stated spread), not a fit
        values["training_residual_sigma"] = (
            float(np.sqrt(np.mean(training**2))) if training.size
            else float(_priors_doc()["stacks"][stack]["constants"]["training_residual_sigma"]["value"])
        )
        catalog = with_constants(catalog, stack, values)
    return catalog


CV_GROUPS = ("model", "platform", "row")


def group_of(row: Row, by: str) -> str:
    """The cross-validation group of a row: its model, its platform, or the row itself (a row and
    its .ttft twin, one measured run)."""
    return {"model": row.model, "platform": row.platform}.get(by, row.id.split(".")[0])


def cross_validate(directory: Path, by: str, catalog: Catalog | None = None, iterations: int = CV_ITERATIONS,
                   stack: str | None = None) -> dict[str, float]:
    """Leave-one-group-out: for each group (model, platform or row; only ``stack``'s rows if given),
    refit without its rows (warm-started from the shipped fit) and predict them. Returns row id ->
    held-out prediction."""
    shipped = catalog or load_catalog()
    rows = load_rows(directory)
    models = calibration_models(directory)
    out: dict[str, float] = {}
    chosen = [r for r in rows if stack is None or stack_of(r, shipped) == stack]
    for group in sorted({group_of(r, by) for r in chosen}):
        ids = tuple(sorted({r.id.split(".")[0] for r in rows if group_of(r, by) == group}))
        if len(ids) == len({r.id.split(".")[0] for r in rows}):
            continue
        touched = tuple({stack_of(r, shipped) for r in rows if r.id.split(".")[0] in ids})
        refit = fit(directory, held_out=ids, iterations=iterations, restarts=0, warm=shipped, only=touched)
        mine = [r for r in rows if r.id.split(".")[0] in ids]
        out.update({r.row.id: r.predicted for r in predictions(mine, models, refit.catalog)})
    return out


def efficiency_document(result: FitResult, directory: Path) -> dict[str, Any]:
    """The efficiency.yaml document for a fit, with its provenance."""
    fitted = set(result.fitted_rows)
    stacks: dict[str, Any] = {}
    for stack, eff in result.catalog.efficiency.items():
        mine = [r for r in result.results if stack_of(r.row, result.catalog) == stack]
        rows_fit = [r.row.id for r in mine if r.row.id in fitted]
        constants = {}
        for name, fig in eff.figures.items():
            fitted_here = name in FITTED.get(stack, ())
            note = MEANINGS.get(name, "")
            if fitted_here:
                note += f"; fitted on {len(rows_fit)} rows of this stack"
            elif fig.note and fig.note not in note:
                note += f"; {fig.note}"
            kind = "derived" if (fitted_here or name.endswith("sigma") or fig.kind == "derived") else fig.kind
            constants[name] = {"value": float(f"{fig.nominal:.4g}"), "kind": kind,
                               "source": fig.source or "ENGINE", "note": note}
        entry: dict[str, Any] = {"family": eff.family, "default": eff.default, "fitted": eff.fitted,
                                 "software": eff.software}
        if eff.relative_to:
            entry.update(relative_to=eff.relative_to, extra_sigma=eff.extra_sigma)
        if eff.claims:
            entry["claims"] = eff.claims
        entry["constants"] = constants
        entry["software_generations"] = {k: float(f"{v:.4g}") for k, v in sorted(eff.software_generations.items())}
        stacks[stack] = entry
    return {
        "generated": {
            "by": "aifactory calibrate (sizing/fitting.py)",
            "calibration_dir": directory.name,
            "rows_fitted": list(result.fitted_rows),
            "rows_held_out": list(result.held_out_rows),
            "objective": (f"mean pseudo-Huber log error (delta {HUBER_DELTA}) + {PRIOR_WEIGHT} x prior pull, "
                          "Nelder-Mead"),
        },
        "stacks": stacks,
    }


def dump(doc: dict[str, Any]) -> str:
    header = ("# Achievable fractions of peak: the engine's calibration constants, one set per serving software\n"
              "# stack and software generation. WRITTEN BY `aifactory calibrate` from calibration/ "
              "(sizing/fitting.py):\n"
              "# re-run it rather than editing by hand. docs/CALIBRATION.md explains each constant.\n")
    return header + yaml.safe_dump(doc, sort_keys=False, width=110)


def read_efficiency(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def accuracy(directory: Path, catalog: Catalog | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Predicted versus measured for every calibration row with the shipped constants, and the summary:
    MAPE overall, on primary rows, fitted and held-out rows, worst row, measurements inside P10-P90,
    MAPE per platform. One definition for benchmarks/accuracy.py and the report."""
    from sizing.predict import band

    catalog = catalog or load_catalog()
    rows = load_rows(directory)
    held = set(read_efficiency(Path(str(resources.files("sizing").joinpath(EFFICIENCY_FILE))))["generated"]
               ["rows_held_out"])
    out: list[dict[str, Any]] = []
    for r in predictions(rows, calibration_models(directory), catalog):
        kind = "training" if r.row.kind == "training" else "inference"
        interval = band(r.predicted, catalog.prediction_sigma(catalog.platforms[r.row.platform], kind))
        out.append({
            "id": r.row.id, "platform": r.row.platform, "model": r.row.model, "scenario": r.row.scenario,
            "metric": r.row.metric, "measured": r.row.measured, "predicted": r.predicted, **interval,
            "error": r.error, "held_out": r.row.id in held, "software_generation": generation_of(r.row),
            "stack": stack_of(r.row, catalog), "family": family_of(r.row, catalog),
            "inside_band": interval["p10"] <= r.row.measured <= interval["p90"],
        })

    def mape(sel: list[dict[str, Any]]) -> float:
        return sum(abs(x["error"]) for x in sel) / len(sel) if sel else float("nan")

    platforms = sorted({x["platform"] for x in out})
    summary = {
        "rows": len(out),
        "mape_all": mape(out),
        "mape_primary_rows": mape([x for x in out if "." not in x["id"]]),
        "mape_fitted": mape([x for x in out if not x["held_out"]]),
        "mape_held_out": mape([x for x in out if x["held_out"]]),
        "worst": max(abs(x["error"]) for x in out),
        "inside_p10_p90": sum(x["inside_band"] for x in out),
        "per_platform": {p: mape([x for x in out if x["platform"] == p]) for p in platforms},
        "per_stack": {st: mape([x for x in out if x["stack"] == st]) for st in sorted({x["stack"] for x in out})},
        "per_family": {f: mape([x for x in out if x["family"] == f]) for f in sorted({x["family"] for x in out})},
        "rows_per_platform": {p: sum(x["platform"] == p for x in out) for p in platforms},
        "held_out": sorted(held),
    }
    return out, summary
