"""Published measurements (calibration/) and the engine's prediction for each row.

Each row is predicted through the same entry points as ``aifactory predict``; the metric compared
is the one the row measured: output tokens/s per accelerator (MLPerf offline/interactive/server and
TensorRT-LLM rows), TPOT at a fixed batch (Neuron tutorial rows), or model TFLOP/s per accelerator
(training rows, 6 x params x tokens / time).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from sizing.catalog import Catalog, load_catalog
from sizing.models import ModelSpec, load_models_file, resolve
from sizing.predict import InferenceQuery, predict_inference_many, predict_training

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "calibration"


@dataclass(frozen=True)
class Row:
    id: str
    kind: str  # inference | training
    platform: str
    accelerators: int
    model: str
    precision: str
    scenario: str
    metric: str
    measured: float
    isl: float = 0.0
    osl: float = 0.0
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    batch: int | None = None
    seq_len: float = 0.0
    source: str = ""
    stack: str = ""  # serving stack named in the row's notes ("stack: neuron-oss"); "" = family default
    compiled_batch: int | None = None  # static batch the graph was compiled for (Neuron), from the notes
    saturated: bool = False  # a throughput run with more users than slots (notes say "saturated")

    @property
    def ttft_is_queueing(self) -> bool:
        """A TTFT measured behind a saturated admission queue: requests wait for a free slot, so it
        measures the queue, not prefill; it is reported but not fitted (docs/CALIBRATION.md)."""
        return self.metric == "ttft_ms" and self.saturated


@dataclass(frozen=True)
class Result:
    row: Row
    predicted: float

    @property
    def error(self) -> float:
        """Signed relative error (predicted / measured - 1)."""
        return self.predicted / self.row.measured - 1.0


def _f(value: str) -> float | None:
    return float(value) if value.strip() else None


def _stack(notes: str) -> str:
    """The stack id a row's notes name after "stack:" (e.g. "stack: neuron-oss (optimum-neuron)")."""
    if "stack:" not in notes:
        return ""
    return notes.split("stack:", 1)[1].strip().split()[0].strip(";,()")


def _compiled_batch(notes: str) -> int | None:
    """The static batch a Neuron row's graph was compiled for ("compiled static batch 32", "compiled
    batch 2", "max-num-seqs 2"): every step runs that many slots, however many are active."""
    found = re.search(r"(?:compiled (?:static )?batch|max-num-seqs) (\d+)", notes)
    return int(found.group(1)) if found else None


def load_rows(directory: Path = DEFAULT_DIR) -> list[Row]:
    rows: list[Row] = []
    with open(directory / "inference.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            fixed = r["scenario"] == "fixed_batch"
            metric = "tpot_ms" if fixed else "output_tokens_per_s_per_accelerator"
            measured = _f(r["measured_tpot_ms"]) if fixed else _f(r["measured_output_tok_s_per_accel"])
            if measured is None:
                continue
            common = dict(
                kind="inference", platform=r["platform"], accelerators=int(r["accelerators"]),
                model=r["model"], precision=r["precision"], scenario=r["scenario"],
                isl=float(r["isl_mean"]), osl=float(r["osl_mean"]),
                ttft_ms=_f(r["ttft_limit_ms"]), tpot_ms=_f(r["tpot_limit_ms"]),
                batch=int(float(r["batch"])) if r["batch"].strip() else None, source=r["source"],
                stack=_stack(r.get("notes", "")), compiled_batch=_compiled_batch(r.get("notes", "")),
                saturated="saturated" in r.get("notes", "").lower(),
            )
            rows.append(Row(id=r["id"], metric=metric, measured=measured, **common))  # type: ignore[arg-type]
            ttft = _f(r["measured_ttft_ms"])
            if fixed and ttft is not None:
                # a second measured metric of the same run: its own row, id "<row>.ttft"
                rows.append(Row(id=f"{r['id']}.ttft", metric="ttft_ms", measured=ttft, **common))  # type: ignore[arg-type]
    with open(directory / "training.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            rows.append(Row(
                id=r["id"], kind="training", platform=r["platform"], accelerators=int(r["accelerators"]),
                model=r["model"], precision=r["precision"], scenario="training",
                metric="model_tflops_per_accelerator", measured=float(r["measured_model_tflops_per_accel"]),
                seq_len=float(r["seq_len"]), source=r["source"],
            ))
    return rows


def calibration_models(directory: Path = DEFAULT_DIR) -> dict[str, ModelSpec]:
    return load_models_file(directory / "models.yaml")


def predict_rows(rows: list[Row], models: dict[str, ModelSpec], catalog: Catalog | None = None) -> list[Result]:
    """Predict every row (inference rows in one vectorised call)."""
    catalog = catalog or load_catalog()
    inference = [r for r in rows if r.kind == "inference"]
    queries = [
        InferenceQuery(r.platform, resolve(r.model, models, "calibration/models.yaml", r.id), r.precision,
                       r.accelerators, r.isl, r.osl, r.ttft_ms, r.tpot_ms, r.batch, software=r.stack or None,
                       compiled_batch=r.compiled_batch)
        for r in inference
    ]
    predicted = {r.id: out for r, out in zip(inference, predict_inference_many(queries, catalog), strict=True)}
    for r in rows:
        if r.kind == "training":
            spec = resolve(r.model, models, "calibration/models.yaml", r.id)
            predicted[r.id] = predict_training(r.platform, spec, r.precision, r.accelerators, r.seq_len,
                                               catalog=catalog, software=r.stack or None)
    return [Result(r, float(predicted[r.id][r.metric])) for r in rows]

