"""Data-residency predicates shared by forecast validation and the sovereignty rules (infra/rules.py).

Pure functions on identifiers, so the same rule is written once and used everywhere it applies.
"""

from __future__ import annotations

# Bedrock system inference profiles route prompts across regions: "us.", "eu.", "apac.", "global.", ...
CROSS_REGION_PROFILE_PREFIXES = ("us.", "us-gov.", "eu.", "apac.", "ca.", "jp.", "au.", "global.")


def is_cross_region_model_id(model_id: str) -> bool:
    """True if a Bedrock model id (or ARN) names a cross-region (system) inference profile."""
    tail = model_id.rsplit("/", 1)[-1].lower()
    return tail.startswith(CROSS_REGION_PROFILE_PREFIXES)
