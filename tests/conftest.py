"""Shared fixtures: a small valid forecast document to mutate in tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "national.yaml"

SMALL: dict[str, Any] = {
    "name": "test factory",
    "site": {"name": "dc", "region": "eu-central-1", "pue": 1.2, "electricity_usd_per_mwh": 100},
    "horizon": {"start_year": 2027, "years": 3},
    "platforms": ["gb300_nvl72", "trn3"],
    "provision_percentile": 90,
    "headroom": 0.1,
    "monte_carlo": {"samples": 400, "seed": 3},
    "workloads": [
        {
            "name": "chat", "application": "chatbot", "kind": "llm_inference", "model": "llama3.3-70b",
            "precision": "fp8", "input_tokens": 1000, "output_tokens": 300, "ttft_ms": 1500, "tpot_ms": 50,
            "demand": {"unit": "requests_per_s", "base": 100, "growth": 0.5, "uncertainty": {"sigma": 0.3}},
        },
        {
            "name": "edge-help", "application": "manufacturing", "kind": "llm_inference", "model": "llama3.1-8b",
            "precision": "fp8", "input_tokens": 500, "output_tokens": 100,
            "demand": {"unit": "output_tokens_per_s", "base": 5000, "growth": 0.2, "uncertainty": {"sigma": 0.1}},
        },
        {
            "name": "images", "application": "image_generation", "kind": "diffusion_inference", "precision": "bf16",
            "dit": {"params_b": 12, "steps": 28, "latent_tokens": 4096, "layers": 57, "hidden": 3072},
            "latency_s": 10,
            "demand": {"unit": "items_per_s", "per_year": {2027: 5, 2028: 10, 2029: 20},
                       "uncertainty": {"low": 0.7, "high": 1.5}},
        },
        {
            "name": "pretrain", "application": "custom", "kind": "training", "model": "llama3.3-70b",
            "precision": "bf16", "tokens_b": 2000, "seq_len": 8192, "deadline_days": 60, "start_year": 2028,
            "uncertainty": {"sigma": 0.1},
        },
    ],
}


@pytest.fixture
def small() -> dict[str, Any]:
    return copy.deepcopy(SMALL)


@pytest.fixture
def write_forecast(tmp_path: Path):
    def write(doc: Any, name: str = "forecast.yaml") -> Path:
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path

    return write
