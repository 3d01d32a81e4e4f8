"""Peak memory and time of `aifactory size` at the resource bounds (sizing/sanity.py), one run per process.

Each case runs in a fresh subprocess so its peak resident memory (ru_maxrss) is its own. The default
cases: the documented maximum of 1,000,000 samples on a forecast small enough to be allowed (1 workload,
5 years, 1 platform = 5,000,000 cells), the same cells spread over workloads, and a run right at the cell
bound (MAX_CELLS). Prints a table; asserts nothing (speed and memory are measured, not tested).

    python benchmarks/bounds.py            # all cases
    python benchmarks/bounds.py --quick    # 100,000 samples only
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sizing.sanity import MAX_CELLS  # noqa: E402

WORKLOAD = {"name": "chat", "application": "chatbot", "kind": "llm_inference", "model": "llama3.3-70b",
            "precision": "fp8", "input_tokens": 1000, "output_tokens": 300, "ttft_ms": 1500, "tpot_ms": 50,
            "demand": {"unit": "requests_per_s", "base": 100, "growth": 0.5, "uncertainty": {"sigma": 0.3}}}
CHILD = """
import json, resource, sys, time
from aifactory.cli import main
started = time.perf_counter()
code = main(["size", sys.argv[1], "--samples", sys.argv[2], "--json"])
seconds = time.perf_counter() - started
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"code": code, "seconds": seconds, "peak_mib": peak_mib}), file=sys.stderr)
"""


def forecast(workloads: int, years: int, platforms: list[str]) -> dict[str, Any]:
    return {"name": "bounds", "site": {"name": "dc", "region": "eu-central-1", "pue": 1.2,
                                       "electricity_usd_per_mwh": 100},
            "horizon": {"start_year": 2027, "years": years}, "platforms": platforms,
            "provision_percentile": 90, "headroom": 0.1, "monte_carlo": {"samples": 1000, "seed": 1},
            "workloads": [dict(copy.deepcopy(WORKLOAD), name=f"w{i}") for i in range(workloads)]}


def measure(workloads: int, years: int, platforms: list[str], samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "forecast.yaml"
        path.write_text(yaml.safe_dump(forecast(workloads, years, platforms)))
        done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(samples)], cwd=ROOT,
                              capture_output=True, text=True)
    result = json.loads(done.stderr.strip().splitlines()[-1]) if done.stderr.strip() else {}
    return {"workloads": workloads, "years": years, "platforms": len(platforms), "samples": samples,
            "cells": workloads * years * len(platforms) * samples, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    one, two = ["gb300_nvl72"], ["gb300_nvl72", "trn3"]
    cases = [(1, 5, one, 100_000)] if args.quick else [
        (1, 5, one, 1_000_000), (5, 5, one, 200_000), (4, 3, two, MAX_CELLS // 24)]
    print(f"{'W':>3} {'Y':>3} {'P':>3} {'samples':>10} {'cells':>12} {'exit':>4} {'seconds':>8} {'peak MiB':>9}")
    for w, y, p, s in cases:
        r = measure(w, y, p, s)
        seconds, peak = r.get("seconds", float("nan")), r.get("peak_mib", float("nan"))
        print(f"{r['workloads']:>3} {r['years']:>3} {r['platforms']:>3} {r['samples']:>10,} {r['cells']:>12,} "
              f"{r.get('code', '?'):>4} {seconds:>8.1f} {peak:>9,.0f}")
    print(f"bound: MAX_CELLS = {MAX_CELLS:,} (workloads x years x platforms x samples)")


if __name__ == "__main__":
    main()
