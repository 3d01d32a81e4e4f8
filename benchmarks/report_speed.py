"""Time the whole report for the national example at 10,000 samples, stage by stage (median of runs).

The plan stage is ``sizing.plan.make_plan`` as the report calls it (sizing, budget, tornado,
Pareto curves and each Trainium platform under its other serving stack included); its parts are
timed separately as well, by calling the same engine functions make_plan calls, so the breakdown
shows where the plan's time goes.

Run: python benchmarks/report_speed.py [--samples 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aifactory.report import _template, calibration_summary, inventory_summary, recommend, render  # noqa: E402
from sizing.budget import budget  # noqa: E402
from sizing.catalog import load_catalog  # noqa: E402
from sizing.engine import size  # noqa: E402
from sizing.forecast import load_forecast  # noqa: E402
from sizing.pareto import pareto  # noqa: E402
from sizing.plan import alternatives, make_plan  # noqa: E402
from sizing.stacks import other_stacks  # noqa: E402
from sizing.tornado import tornado  # noqa: E402

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "national.yaml"


def timed(stages: dict[str, list[float]], name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    stages.setdefault(name, []).append(time.perf_counter() - t0)
    return out


def parts(stages: dict[str, list[float]], samples: int) -> None:
    """The plan's parts, each timed on its own (the same calls make_plan makes)."""
    forecast, catalog = load_forecast(EXAMPLE), load_catalog()
    pids = list(forecast.platforms)
    sz = timed(stages, "  sizing (engine)", size, forecast, catalog, pids, samples, forecast.seed)
    bud = timed(stages, "  budget", budget, sz, catalog)
    timed(stages, "  tornado", lambda: [tornado(forecast, catalog, pid, bud.training.build[:, j])
                                        for j, pid in enumerate(pids)])
    timed(stages, "  pareto", pareto, forecast, catalog, pids)
    timed(stages, "  other stacks", lambda: [alternatives(sz, catalog, forecast.seed, j)
                                             for j, pid in enumerate(pids)
                                             if other_stacks(catalog, pid, sz.software[j])])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    stages: dict[str, list[float]] = {}
    size_kib = 0.0
    for _ in range(args.repeat):
        _template.cache_clear()  # each run renders cold, as one `aifactory report` process does
        t0 = time.perf_counter()
        forecast = timed(stages, "load forecast", load_forecast, EXAMPLE)
        plan = timed(stages, "plan (make_plan)", make_plan, forecast, samples=args.samples)
        cal = timed(stages, "calibration", calibration_summary)
        inv = timed(stages, "offline plan", inventory_summary, forecast, plan, str(EXAMPLE), recommend(plan)[0])
        html, _facts = timed(stages, "render", render, plan, cal, inv)
        stages.setdefault("total", []).append(time.perf_counter() - t0)
        size_kib = len(html) / 1024
        parts(stages, args.samples)
    print(f"national example, {args.samples:,} samples, {args.repeat} runs; page {size_kib:,.0f} KiB")
    for name, times in stages.items():
        print(f"  {name:<18} median {statistics.median(times):6.2f} s  (min {min(times):.2f}, max {max(times):.2f})")
    print("  (indented rows: the plan's parts timed on their own, not added to the total)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
