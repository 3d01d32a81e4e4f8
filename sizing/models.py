"""Model architectures: the spec a forecast accepts, the built-in presets, and derived sizes.

The spec has exactly the fields of calibration/models.yaml. What the engine needs from it:
weight parameters (total for capacity, active for FLOPs, the expert split for the weights a
decode step touches), KV-cache elements per token (GQA, MLA, sliding windows) and attention FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sizing.errors import InputError
from sizing.schema import Node, load_yaml

ATTENTION_KINDS = ("gqa", "mla")


@dataclass(frozen=True)
class ModelSpec:
    """A transformer's architecture (parameter counts in billions)."""

    name: str
    params_b: float
    active_params_b: float
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    attention: str
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    experts: int = 0
    experts_per_token: int = 0
    shared_experts: int = 0
    dense_layers: int = 0
    sliding_window: int = 0
    sliding_window_layer_fraction: float = 0.0
    mtp_layers: int = 0  # multi-token-prediction modules shipped with the checkpoint (DeepSeek-V3/R1: 1)
    source: str = ""

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def params_per_expert(self) -> float:
        """Parameters of one routed expert summed over the MoE layers."""
        if not self.is_moe or self.experts <= self.experts_per_token:
            return 0.0
        return (self.params_b - self.active_params_b) * 1e9 / (self.experts - self.experts_per_token)

    @property
    def always_active_params(self) -> float:
        """Parameters every token touches: attention, embeddings, dense layers, shared experts."""
        return self.params_b * 1e9 - self.experts * self.params_per_expert

    def kv_elements_per_token(self) -> float:
        """KV-cache elements stored per token per full-attention context position, all layers."""
        if self.attention == "mla":
            return float(self.layers * (self.kv_lora_rank + self.qk_rope_head_dim))
        return float(2 * self.layers * self.kv_heads * self.head_dim)


_REQUIRED_INT = ("layers", "hidden", "heads", "kv_heads", "head_dim")
_OPTIONAL_INT = (
    "kv_lora_rank", "qk_rope_head_dim", "experts", "experts_per_token", "shared_experts",
    "dense_layers", "sliding_window", "mtp_layers",
)
SPEC_FIELDS = tuple(f.name for f in fields(ModelSpec) if f.name not in ("name", "source"))


def parse_model(name: str, raw: Any, source: str, path: str) -> ModelSpec:
    """Validate one model spec; every problem names its field path."""
    node = Node(raw, source, path)
    values: dict[str, Any] = {"name": name}
    values["params_b"] = node.number("params_b", positive=True)
    values["active_params_b"] = node.number("active_params_b", positive=True)
    for key in _REQUIRED_INT:
        values[key] = int(node.number(key, positive=True, integer=True) or 0)
    values["attention"] = node.text("attention", choices=ATTENTION_KINDS)
    for key in _OPTIONAL_INT:
        v = node.number(key, required=False, minimum=0, integer=True)
        if v is not None:
            values[key] = int(v)
    frac = node.number("sliding_window_layer_fraction", required=False, minimum=0, maximum=1)
    if frac is not None:
        values["sliding_window_layer_fraction"] = frac
    src = node.raw("source", required=False)
    if src is not None:
        values["source"] = str(src)
    node.done()
    spec = ModelSpec(**values)
    _check_consistency(spec, node)
    return spec


def _check_consistency(spec: ModelSpec, node: Node) -> None:
    if spec.active_params_b > spec.params_b:
        node.fail(f"active_params_b ({spec.active_params_b:g}) cannot exceed params_b ({spec.params_b:g})",
                  "active_params_b")
    if spec.kv_heads > spec.heads:
        node.fail(f"kv_heads ({spec.kv_heads}) cannot exceed heads ({spec.heads})", "kv_heads")
    if spec.attention == "mla" and spec.kv_lora_rank <= 0:
        node.fail("attention 'mla' needs kv_lora_rank > 0 (the compressed KV width)", "kv_lora_rank")
    if spec.is_moe:
        if not 0 < spec.experts_per_token <= spec.experts:
            node.fail(f"experts_per_token must be between 1 and experts ({spec.experts})", "experts_per_token")
        if spec.experts_per_token == spec.experts and spec.active_params_b != spec.params_b:
            node.fail("with every expert active, active_params_b must equal params_b", "active_params_b")
    elif spec.active_params_b != spec.params_b:
        node.fail("a dense model (no experts) must have active_params_b equal to params_b; "
                  "for a mixture of experts set experts and experts_per_token", "active_params_b")
    if spec.dense_layers > spec.layers:
        node.fail(f"dense_layers cannot exceed layers ({spec.layers})", "dense_layers")
    if spec.sliding_window_layer_fraction > 0 and spec.sliding_window <= 0:
        node.fail("sliding_window_layer_fraction needs sliding_window (tokens) > 0", "sliding_window")


def parse_models_mapping(doc: Any, source: str, path: str = "") -> dict[str, ModelSpec]:
    node = Node(doc, source, path)
    out: dict[str, ModelSpec] = {}
    for name in node.data:
        if not isinstance(name, str):
            node.fail(f"model names must be text, got {name!r}")
        out[name] = parse_model(name, node.raw(name), source, node.sub(name))
    node.done()
    return out


@lru_cache(maxsize=1)
def presets() -> dict[str, ModelSpec]:
    """Built-in model presets (sizing/data/models.yaml)."""
    text = resources.files("sizing").joinpath("data/models.yaml").read_text(encoding="utf-8")
    return parse_models_mapping(yaml.safe_load(text), "sizing/data/models.yaml")


def load_models_file(path: str | Path) -> dict[str, ModelSpec]:
    """A user's YAML mapping of model name to spec (``--models-file``)."""
    return parse_models_mapping(load_yaml(path), str(path))


def resolve(name: str, extra: dict[str, ModelSpec], source: str, path: str) -> ModelSpec:
    """A model by name: the user's own specs first, then the presets."""
    if name in extra:
        return extra[name]
    table = presets()
    if name in table:
        return table[name]
    known = sorted(set(extra) | set(table))
    raise InputError(source, path, f"unknown model {name!r}; presets and defined models: {', '.join(known)}")


# ---------------------------------------------------------------------------------------------
# Arrays over many models (the engine evaluates all workloads at once)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelArrays:
    """Per-model figures as arrays of shape (M,), for vectorised evaluation."""

    total_params: np.ndarray
    active_params: np.ndarray
    always_active_params: np.ndarray
    params_per_expert: np.ndarray
    experts: np.ndarray
    experts_per_token: np.ndarray
    layers: np.ndarray
    hidden: np.ndarray
    heads: np.ndarray
    kv_heads: np.ndarray
    is_mla: np.ndarray
    mtp_layers: np.ndarray
    head_dim: np.ndarray
    qk_head_dim: np.ndarray  # query-key width per head in prefill attention
    attn_decode_width: np.ndarray  # per-head width of decode attention (QK + AV)
    kv_elements_full: np.ndarray  # KV elements per token on full-attention layers
    swa_fraction: np.ndarray
    sliding_window: np.ndarray
    is_moe: np.ndarray

    @staticmethod
    def of(specs: list[ModelSpec]) -> ModelArrays:
        def arr(fn: Any) -> np.ndarray:
            return np.array([float(fn(s)) for s in specs])

        return ModelArrays(
            total_params=arr(lambda s: s.params_b * 1e9),
            active_params=arr(lambda s: s.active_params_b * 1e9),
            always_active_params=arr(lambda s: s.always_active_params),
            params_per_expert=arr(lambda s: s.params_per_expert),
            experts=arr(lambda s: s.experts),
            experts_per_token=arr(lambda s: s.experts_per_token),
            layers=arr(lambda s: s.layers),
            hidden=arr(lambda s: s.hidden),
            heads=arr(lambda s: s.heads),
            kv_heads=arr(lambda s: s.kv_heads),
            is_mla=np.array([s.attention == "mla" for s in specs], dtype=bool),
            mtp_layers=arr(lambda s: s.mtp_layers),
            head_dim=arr(lambda s: s.head_dim),
            qk_head_dim=arr(lambda s: s.head_dim + s.qk_rope_head_dim if s.attention == "mla" else s.head_dim),
            attn_decode_width=arr(
                lambda s: 2 * s.kv_lora_rank + s.qk_rope_head_dim if s.attention == "mla" else 2 * s.head_dim
            ),
            kv_elements_full=arr(lambda s: s.kv_elements_per_token()),
            swa_fraction=arr(lambda s: s.sliding_window_layer_fraction if s.sliding_window > 0 else 0.0),
            sliding_window=arr(lambda s: s.sliding_window if s.sliding_window > 0 else 0),
            is_moe=np.array([s.is_moe for s in specs]),
        )


def effective_context(context: np.ndarray, swa_fraction: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Average attended context per layer: sliding-window layers see at most ``window`` tokens."""
    windowed = np.where(window > 0, np.minimum(context, window), context)
    return (1.0 - swa_fraction) * context + swa_fraction * windowed


def mean_attended_context(prefix: np.ndarray, new: np.ndarray, swa_fraction: np.ndarray,
                          window: np.ndarray) -> np.ndarray:
    """Mean over ``new`` generated positions of the attended context after a ``prefix``.

    Positions run from prefix to prefix+new; full layers attend to all of them, window layers to
    at most ``window``. Averages the exact per-position context (a linear ramp clipped at window).
    """
    full = prefix + 0.5 * new
    lo, hi = prefix, prefix + new
    w = np.where(window > 0, window, 1e30)
    # mean of min(c, w) for c uniform on [lo, hi]
    span = np.maximum(hi - lo, 1e-9)
    below = np.clip(w, lo, hi)
    mean_clipped = ((below**2 - lo**2) / 2 + w * (hi - below)) / span
    return (1.0 - swa_fraction) * full + swa_fraction * mean_clipped
