"""Predicted versus measured for every calibration row: error per row, MAPE overall, per platform,
for the fitted and the held-out rows, and how often the measurement falls inside the P10-P90 band.

Run: python benchmarks/accuracy.py [--dir calibration] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sizing.calibration import DEFAULT_DIR  # noqa: E402
from sizing.fitting import accuracy  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="calibration directory")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out_rows, summary = accuracy(args.dir)
    if args.json:
        print(json.dumps({"rows": out_rows, "summary": summary}, indent=2))
        return 0
    print(f"{'id':<8} {'platform':<12} {'model':<17} {'scenario':<12} {'metric':<37} "
          f"{'measured':>9} {'predicted':>9} {'P10-P90':>19} {'error':>7}")
    for x in out_rows:
        band = f"{x['p10']:.1f}-{x['p90']:.1f}"
        flag = " held out" if x["held_out"] else ""
        print(f"{x['id']:<8} {x['platform']:<12} {x['model']:<17} {x['scenario']:<12} {x['metric']:<37} "
              f"{x['measured']:>9.1f} {x['predicted']:>9.1f} {band:>19} {x['error'] * 100:>6.1f}%"
              f"{'' if x['inside_band'] else ' (outside band)'}{flag}")
    primary = sum("." not in x["id"] for x in out_rows)
    print(f"\nMAPE over all {summary['rows']} rows: {summary['mape_all'] * 100:.1f}%  "
          f"(the {primary} primary rows: {summary['mape_primary_rows'] * 100:.1f}%)   "
          f"worst row: {summary['worst'] * 100:.1f}%")
    print(f"fitted rows: {summary['mape_fitted'] * 100:.1f}%   held-out rows "
          f"({', '.join(summary['held_out'])}): {summary['mape_held_out'] * 100:.1f}%")
    print(f"measured inside the predicted P10-P90 band: {summary['inside_p10_p90']} of {len(out_rows)} rows")
    for p, e in summary["per_platform"].items():
        print(f"  {p:<12} MAPE {e * 100:5.1f}%  ({summary['rows_per_platform'][p]} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
