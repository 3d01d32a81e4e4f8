"""Offline plan (the Pulumi program under mocks) for 10 MW, 100 MW and 1 GW factories.

For each target, a synthetic forecast's demand is scaled until the plan's final-year facility power
is within 10% of the target; then the program is run offline and the resource count and wall time
are printed. Run: python benchmarks/plan_scale.py [--platform gb300_nvl72] [--targets 10 100 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.offline import run_offline  # noqa: E402
from infra.settings import PROJECT, parse_settings  # noqa: E402
from sizing.forecast import parse_forecast  # noqa: E402
from sizing.plan import make_plan  # noqa: E402


def forecast(scale: float, platform: str) -> dict[str, Any]:
    def chat(name: str, app: str, model: str, prec: str, rps: float) -> dict[str, Any]:
        return {"name": name, "application": app, "kind": "llm_inference", "model": model, "precision": prec,
                "input_tokens": 2000, "output_tokens": 500, "ttft_ms": 3000, "tpot_ms": 100,
                "demand": {"unit": "requests_per_s", "base": rps * scale, "growth": 0.3,
                           "uncertainty": {"sigma": 0.2}}}

    return {
        "name": f"scale benchmark x{scale:.3g}",
        "site": {"name": "bench", "region": "eu-central-1", "pue": 1.15, "electricity_usd_per_mwh": 90},
        "horizon": {"start_year": 2027, "years": 3},
        "platforms": [platform],
        "provision_percentile": 90, "headroom": 0.1,
        "monte_carlo": {"samples": 1000, "seed": 1},
        "workloads": [
            chat("assistant", "chatbot", "llama3.3-70b", "fp8", 200),
            chat("code", "software_development", "qwen3-235b-a22b", "fp8", 60),
            chat("agents", "business_operations", "deepseek-r1", "fp4", 40),
            {"name": "pretrain", "application": "custom", "kind": "training", "model": "llama3.3-70b",
             "precision": "bf16", "tokens_b": 2000 * scale, "seq_len": 8192, "deadline_days": 60,
             "start_year": 2028, "uncertainty": {"sigma": 0.1}},
        ],
    }


def facility_mw(doc: dict[str, Any], platform: str) -> float:
    plan = make_plan(parse_forecast(doc, "<bench>"))
    years = plan["platforms"][platform]["years"]
    return float(years[max(years)]["facility_power_mw"]["provisioned"])


def _quotas(bp: Any) -> str:
    return ", ".join(f"{name} {need}/{default}" for name, (need, default) in bp.vpc_quota_needs().items()
                     if need > default)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--platform", default="gb300_nvl72")
    ap.add_argument("--targets", type=float, nargs="+", default=[10, 100, 1000], help="facility MW")
    args = ap.parse_args()
    print(f"platform {args.platform}; offline plan of the final year at P90")
    print(f"{'target MW':>10} {'plan MW':>9} {'domains':>8} {'pod groups':>11} {'resources':>10} "
          f"{'plan s':>7} {'register s':>11} {'total s':>8}  quotas to raise (need / default)")
    for target in args.targets:
        scale = 1.0
        for _ in range(4):  # demand is close to linear in power: a few secant steps suffice
            mw = facility_mw(forecast(scale, args.platform), args.platform)
            if abs(mw / target - 1) < 0.1:
                break
            scale *= target / mw
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "forecast.yaml"
            path.write_text(yaml.safe_dump(forecast(scale, args.platform)))
            settings = parse_settings({f"{PROJECT}:forecast": str(path), "aws:region": "eu-central-1",
                                       f"{PROJECT}:platform": args.platform, f"{PROJECT}:samples": 1000}, "bench")
            started = time.perf_counter()
            manifest = run_offline(settings)
            total = time.perf_counter() - started
        bp = manifest.blueprint
        print(f"{target:>10,.0f} {bp.facility['facility_power_mw']:>9,.1f} {bp.domains_planned:>8,} "
              f"{len(bp.pod_groups):>11,} {len(manifest.custom()):>10,} {total - manifest.seconds:>7.1f} "
              f"{manifest.seconds:>11.1f} {total:>8.1f}  {_quotas(bp) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
