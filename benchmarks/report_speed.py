"""Time the report for the national example at 10,000 samples, stage by stage (median of runs).

Run: python benchmarks/report_speed.py [--samples 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aifactory.report import calibration_summary, inventory_summary, recommend, render  # noqa: E402
from sizing.forecast import load_forecast  # noqa: E402
from sizing.plan import make_plan  # noqa: E402

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "national.yaml"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    stages: dict[str, list[float]] = {"sizing": [], "calibration": [], "offline plan": [], "render": [], "total": []}
    size = 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        forecast = load_forecast(EXAMPLE)
        plan = make_plan(forecast, samples=args.samples)
        t1 = time.perf_counter()
        cal = calibration_summary()
        t2 = time.perf_counter()
        best = recommend(plan)
        inv = inventory_summary(forecast, plan, str(EXAMPLE), best)
        t3 = time.perf_counter()
        html, _facts = render(plan, forecast, cal, inv)
        t4 = time.perf_counter()
        size = len(html)
        for name, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True):
            stages[name].append(dt)
    print(f"national example, {args.samples:,} samples, {args.repeat} runs; page {size / 1024:,.0f} KiB")
    for name, times in stages.items():
        print(f"  {name:<13} median {statistics.median(times):6.2f} s  (min {min(times):.2f}, max {max(times):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
