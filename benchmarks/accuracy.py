"""Predicted versus measured for every calibration row, and the mean absolute percentage error.

Run: python benchmarks/accuracy.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sizing.calibration import DEFAULT_DIR, evaluate_all  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="calibration directory")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = evaluate_all(args.dir)
    per_platform: dict[str, list[float]] = defaultdict(list)
    rows = []
    for r in results:
        per_platform[r.row.platform].append(abs(r.error))
        rows.append({"id": r.row.id, "platform": r.row.platform, "model": r.row.model,
                     "scenario": r.row.scenario, "metric": r.row.metric, "measured": r.row.measured,
                     "predicted": r.predicted, "error": r.error})
    mape = sum(abs(r.error) for r in results) / len(results)
    summary = {"rows": len(results), "mape": mape, "worst": max(abs(r.error) for r in results),
               "per_platform": {p: sum(v) / len(v) for p, v in sorted(per_platform.items())}}
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=2))
        return 0
    print(f"{'id':<4} {'platform':<12} {'model':<17} {'scenario':<12} {'metric':<36} "
          f"{'measured':>10} {'predicted':>10} {'error':>8}")
    for r in rows:
        print(f"{r['id']:<4} {r['platform']:<12} {r['model']:<17} {r['scenario']:<12} {r['metric']:<36} "
              f"{r['measured']:>10.1f} {r['predicted']:>10.1f} {r['error'] * 100:>7.1f}%")
    print(f"\nMAPE over {len(results)} rows: {mape * 100:.1f}%   worst row: {summary['worst'] * 100:.1f}%")
    for p, e in summary["per_platform"].items():
        print(f"  {p:<12} MAPE {e * 100:5.1f}%  ({len(per_platform[p])} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
