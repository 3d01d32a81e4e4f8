"""Speed and memory of a national-scale sizing run, end to end (forecast -> plan JSON).

A synthetic forecast of 50 workloads (LLM serving on 12 models, with two-pool disaggregation chosen
automatically, prefix caching and speculative decoding on some; diffusion, training) x 5 years x 2
platforms x 10,000 Monte Carlo samples. Prints the median wall time of several runs, the peak
traced memory (numpy allocations) and the process's peak RSS, and configurations evaluated per
second, and separately the extra run a plan makes per Trainium platform under its other serving
stack. Each timed run parses the forecast anew, so it reuses no stage-1 result of an earlier one.
Run: python benchmarks/speed.py [--workloads 50] [--samples 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sizing.budget import budget  # noqa: E402
from sizing.catalog import load_catalog  # noqa: E402
from sizing.engine import size  # noqa: E402
from sizing.forecast import parse_forecast  # noqa: E402
from sizing.plan import make_plan, to_json  # noqa: E402

MODELS = [
    ("llama3.1-8b", "fp8"), ("llama3.3-70b", "fp8"), ("llama3.1-405b", "fp8"), ("deepseek-r1", "fp4"),
    ("deepseek-v3", "fp8"), ("gpt-oss-120b", "fp4"), ("gpt-oss-20b", "fp8"), ("qwen3-8b", "bf16"),
    ("qwen3-32b", "fp8"), ("qwen3-30b-a3b", "fp8"), ("qwen3-235b-a22b", "fp8"), ("llama3.1-70b", "bf16"),
]
APPS = ["chatbot", "software_development", "business_operations", "manufacturing", "custom"]


def national_forecast(n_workloads: int, samples: int) -> dict[str, Any]:
    workloads: list[dict[str, Any]] = []
    for i in range(n_workloads):
        if i % 10 == 8:
            workloads.append({
                "name": f"images-{i}", "application": "image_generation", "kind": "diffusion_inference",
                "precision": "bf16", "latency_s": 10,
                "dit": {"params_b": 12, "steps": 28, "latent_tokens": 4096, "layers": 57, "hidden": 3072},
                "demand": {"unit": "items_per_s", "base": 10 + i, "growth": 0.4, "uncertainty": {"sigma": 0.3}},
            })
        elif i % 10 == 9:
            workloads.append({
                "name": f"training-{i}", "application": "custom", "kind": "training", "model": "llama3.3-70b",
                "precision": "bf16", "tokens_b": 500 + 50 * i, "seq_len": 8192, "deadline_days": 30,
                "start_year": 2027 + i % 5, "uncertainty": {"sigma": 0.2},
            })
        else:
            model, prec = MODELS[i % len(MODELS)]
            workloads.append({
                "name": f"serving-{i}", "application": APPS[i % len(APPS)], "kind": "llm_inference",
                "model": model, "precision": prec, "input_tokens": 500 + 97 * i, "output_tokens": 200 + 13 * i,
                "ttft_ms": 3000 + 50 * i, "tpot_ms": 80 + i, "disaggregated": True if i % 7 == 0 else "auto",
                "prefix_cache_hit": 0.3 if i % 3 == 0 else 0.0,
                **({"speculative": {"method": "eagle", "tokens": 3, "acceptance": 0.6}} if i % 5 == 0 else {}),
                "demand": {"unit": "requests_per_s", "base": 20 + 3 * i, "growth": 0.5,
                           "uncertainty": {"sigma": 0.3, "sigma_per_year": 0.05}},
            })
    return {
        "name": "benchmark national forecast",
        "site": {"name": "bench", "region": "eu-central-1", "pue": 1.15, "electricity_usd_per_mwh": 90},
        "horizon": {"start_year": 2027, "years": 5},
        "platforms": ["trn3", "gb300_nvl72"],
        "provision_percentile": 90, "headroom": 0.1,
        "monte_carlo": {"samples": samples, "seed": 1},
        "workloads": workloads,
    }


def _run(doc: dict[str, Any], analyses: bool = True) -> dict[str, Any]:
    """One cold run: the forecast parsed anew (a new object, so no stage-1 result of an earlier run is
    reused), sized, planned and serialised; ``analyses=False`` is the deploy path's plan (no tornado,
    Pareto or other-stack runs; the break-even stays)."""
    plan = make_plan(parse_forecast(doc, "<benchmark>"), analyses=analyses)
    to_json(plan)
    return plan


def _sizing_only(doc: dict[str, Any]) -> float:
    """Seconds of the sizing itself, cold: ``engine.size`` + ``budget`` over both platforms, all samples."""
    forecast = parse_forecast(doc, "<benchmark>")
    catalog = load_catalog()
    t0 = time.perf_counter()
    budget(size(forecast, catalog, list(forecast.platforms), forecast.samples, forecast.seed), catalog)
    return time.perf_counter() - t0


def _deploy_plan(doc: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    _run(doc, analyses=False)
    return time.perf_counter() - t0


def _second_stack(doc: dict[str, Any]) -> float:
    """Seconds of the extra engine run a plan adds per Trainium platform under its other serving stack
    (``size`` + ``budget`` on trn3 with neuron-aws), after the plan's own run on the same forecast."""
    forecast = parse_forecast(doc, "<benchmark>")
    make_plan(forecast)
    catalog = load_catalog()
    t0 = time.perf_counter()
    sz = size(forecast, catalog, ["trn3"], forecast.samples, forecast.seed, software={"trn3": "neuron-aws"})
    budget(sz, catalog)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workloads", type=int, default=50)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    doc = national_forecast(args.workloads, args.samples)
    _run(doc)  # warm-up: imports, catalog parse
    times, cpu = [], []
    plan: dict[str, Any] = {}
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        plan = _run(doc)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    tracemalloc.start()
    _run(doc)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    extra = statistics.median(_second_stack(doc) for _ in range(args.repeat))
    sizing_s = statistics.median(_sizing_only(doc) for _ in range(args.repeat))
    deploy_s = statistics.median(_deploy_plan(doc) for _ in range(args.repeat))
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    configs = plan["monte_carlo"]["configurations_evaluated"]
    wall = statistics.median(times)
    print(f"forecast: {args.workloads} workloads x 5 years x 2 platforms x {args.samples:,} samples")
    print(f"wall time (parse, make_plan, to_json): median {wall:.3f} s over {args.repeat} runs "
          f"(min {min(times):.3f}, max {max(times):.3f}); CPU time of the process: median "
          f"{statistics.median(cpu):.3f} s (the wall time on a machine shared with other work)")
    print(f"  of which: the sizing itself (engine.size + budget, both platforms, cold) median {sizing_s:.3f} s; "
          f"the deploy path's plan (make_plan(analyses=False): sizing, plan, break-even) median {deploy_s:.3f} s; "
          "the rest is the report's what-ifs (tornado, Pareto, Trainium under its other stack)")
    print("extra run per Trainium platform under its other stack (trn3 neuron-aws, size + budget): "
          f"median {extra:.3f} s")
    print(f"peak traced memory: {peak / 2**30:.3f} GiB; peak RSS of the process: {rss_gib:.3f} GiB")
    print(f"configurations evaluated: {configs:,} ({configs / wall:,.0f} per second)")
    print("  counted: stage 1, each (workload, platform, catalog scenario, replica size, batch) point the batch "
          "search scored per serving variant, and each diffusion (workload, platform, scenario, size); stage 2, "
          "each (workload, year, platform, sample, replica size) replica count; training (workload, year, "
          "platform, sample). The plan's own run only (not its break-even and tornado what-ifs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
