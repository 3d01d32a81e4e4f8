"""Training: FLOPs of a run, model FLOPs utilisation falling with scale, and the memory floor.

FLOPs per token = 6 x active parameters (forward + backward) + the causal attention term
6 x layers x heads x (qk + v head width) x seq/2. Utilisation at n accelerators is
``mfu_at_1024 x (n/1024)^-mfu_scale_exponent`` (x ``fp8_training_mfu_ratio`` at FP8, whose peak
is twice BF16's but whose gain is less), from the catalog. Accelerators for a deadline solve
``n x peak x mfu(n) x deadline = FLOPs`` in closed form, then respect the floor of weights,
gradients and optimizer state (ZeRO-sharded) in HBM.
"""

from __future__ import annotations

import numpy as np

from sizing.models import ModelArrays

MFU_CAP = 0.75
REFERENCE_SCALE = 1024.0


def flops_per_token(m: ModelArrays, seq_len: np.ndarray) -> np.ndarray:
    """Training FLOPs per token, forward and backward, including causal attention."""
    attention = 6.0 * m.layers * m.heads * (m.qk_head_dim + m.head_dim) * seq_len / 2.0
    return 6.0 * m.active_params + attention


def mfu(n: np.ndarray, mfu_at_1024: np.ndarray, exponent: np.ndarray, precision_ratio: np.ndarray) -> np.ndarray:
    """Model FLOPs utilisation at ``n`` accelerators (capped: no platform sustains more)."""
    return np.minimum(mfu_at_1024 * precision_ratio * (np.maximum(n, 1.0) / REFERENCE_SCALE) ** (-exponent), MFU_CAP)


def accelerators_for_deadline(total_flops: np.ndarray, deadline_s: np.ndarray, peak: np.ndarray,
                              mfu_at_1024: np.ndarray, exponent: np.ndarray,
                              precision_ratio: np.ndarray) -> np.ndarray:
    """Fewest accelerators (real-valued) that finish ``total_flops`` within ``deadline_s``."""
    m0 = mfu_at_1024 * precision_ratio
    rate_needed = total_flops / (deadline_s * peak)
    n = (rate_needed / (m0 * REFERENCE_SCALE**exponent)) ** (1.0 / (1.0 - exponent))
    capped = rate_needed / MFU_CAP  # where the cap binds, utilisation is flat
    uncapped_mfu = m0 * (np.maximum(n, 1.0) / REFERENCE_SCALE) ** (-exponent)
    return np.where(uncapped_mfu > MFU_CAP, capped, n)


def memory_floor(total_params: np.ndarray, state_bytes_per_param: float, activation_overhead: float,
                 hbm_bytes: np.ndarray, usable_fraction: float) -> np.ndarray:
    """Accelerators whose HBM holds the training state (weights, grads, optimizer) and activations."""
    return total_params * state_bytes_per_param * activation_overhead / (hbm_bytes * usable_fraction)
