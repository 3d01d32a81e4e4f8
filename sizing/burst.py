"""Burst capacity prices: what renting a training run's accelerators costs per accelerator-hour.

A platform's published ``accelerator_hour_usd`` (catalog) is used where there is one; otherwise
the labelled assumption in ``data/burst.yaml`` (no Trn3 or p6e-gb300 price is public). ``None``
means no basis at all: the run is then built, never burst.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from sizing.catalog import Catalog, Figure, _figure


@lru_cache(maxsize=1)
def _assumed() -> dict[str, Figure]:
    text = resources.files("sizing").joinpath("data/burst.yaml").read_text(encoding="utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)["burst_accelerator_hour_usd"]
    return {pid: _figure(raw, f"burst.yaml burst_accelerator_hour_usd.{pid}") for pid, raw in doc.items()}


def burst_price(catalog: Catalog, platform_id: str) -> Figure | None:
    """Price per accelerator-hour of burst capacity on a platform, with its source and kind."""
    published = catalog.platforms[platform_id].figure("accelerator_hour_usd")
    return published if published is not None else _assumed().get(platform_id)
