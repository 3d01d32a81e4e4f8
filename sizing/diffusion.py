"""Diffusion inference (image and video generation on diffusion transformers).

An item costs ``steps x guidance_passes x (2 x params x latent_tokens + 4 x layers x hidden x
latent_tokens^2)`` FLOPs when a DiT spec is given (the second term is self-attention over the
latent tokens), or the forecast's ``flops_per_item``. Serving is compute-bound: a replica of n
accelerators finishes one item in ``flops / (n x peak x prefill_compute_fraction)`` and must do so
within the latency target; its throughput is the inverse of that time.
"""

from __future__ import annotations

import numpy as np


def flops_per_item(params_b: float, steps: float, latent_tokens: float, layers: float, hidden: float,
                   guidance_passes: float) -> float:
    """FLOPs to generate one item with a diffusion transformer."""
    linear = 2.0 * params_b * 1e9 * latent_tokens
    attention = 4.0 * layers * hidden * latent_tokens**2
    return steps * guidance_passes * (linear + attention)


def replica_throughput(item_flops: np.ndarray, weight_bytes: np.ndarray, latency_s: np.ndarray,
                       sizes: np.ndarray, peak: np.ndarray, compute_fraction: np.ndarray,
                       hbm_bytes: np.ndarray, usable_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Items/s per replica and feasibility, shape (W, P, K, Nc).

    ``item_flops``, ``weight_bytes``, ``latency_s``: (W,); ``sizes``: (P, Nc); ``peak``: (W, P, K);
    ``compute_fraction``: (P, 1); ``hbm_bytes``: (P, K).
    """
    n = sizes[None, :, None, :]
    rate = n * peak[..., None] * compute_fraction[None, :, :, None]
    seconds = item_flops[:, None, None, None] / rate
    fits = weight_bytes[:, None, None, None] <= n * hbm_bytes[None, :, :, None] * usable_fraction
    feasible = np.isfinite(n) & np.isfinite(rate) & fits & (seconds <= latency_s[:, None, None, None])
    return np.where(feasible, 1.0 / seconds, 0.0), feasible
