"""Predicted versus measured for every calibration row: error per row, MAPE overall, per platform,
for the fitted and the held-out rows, and how often the measurement falls inside the P10-P90 band.

Run: python benchmarks/accuracy.py [--dir calibration] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sizing.calibration import DEFAULT_DIR, calibration_models, load_rows  # noqa: E402
from sizing.catalog import load_catalog  # noqa: E402
from sizing.fitting import generation_of, predictions, read_efficiency  # noqa: E402

Z90 = 1.2815515655446004


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="calibration directory")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    catalog = load_catalog()
    rows = load_rows(args.dir)
    results = predictions(rows, calibration_models(args.dir), catalog)
    meta = read_efficiency(Path(__file__).resolve().parent.parent / "sizing" / "data" / "efficiency.yaml")
    held = set(meta["generated"]["rows_held_out"])
    out_rows = []
    inside = 0
    for r in results:
        kind = "training" if r.row.kind == "training" else "inference"
        sigma = catalog.prediction_sigma(catalog.platforms[r.row.platform], kind)
        lo, hi = r.predicted * math.exp(-Z90 * sigma), r.predicted * math.exp(Z90 * sigma)
        ok = lo <= r.row.measured <= hi
        inside += ok
        out_rows.append({
            "id": r.row.id, "platform": r.row.platform, "model": r.row.model, "scenario": r.row.scenario,
            "metric": r.row.metric, "measured": r.row.measured, "predicted": r.predicted, "p10": lo, "p90": hi,
            "error": r.error, "held_out": r.row.id in held, "software_generation": generation_of(r.row),
            "inside_band": ok,
        })

    def mape(sel: list[dict]) -> float:
        return sum(abs(x["error"]) for x in sel) / len(sel) if sel else float("nan")

    per_platform: dict[str, list[dict]] = defaultdict(list)
    for x in out_rows:
        per_platform[x["platform"]].append(x)
    primary = [x for x in out_rows if "." not in x["id"]]
    summary = {
        "rows": len(out_rows),
        "mape_all": mape(out_rows),
        "mape_primary_rows": mape(primary),
        "mape_fitted": mape([x for x in out_rows if not x["held_out"]]),
        "mape_held_out": mape([x for x in out_rows if x["held_out"]]),
        "worst": max(abs(x["error"]) for x in out_rows),
        "inside_p10_p90": inside,
        "per_platform": {p: mape(v) for p, v in sorted(per_platform.items())},
    }
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
    print(f"\nMAPE over all {summary['rows']} rows: {summary['mape_all'] * 100:.1f}%  "
          f"(the {len(primary)} primary rows: {summary['mape_primary_rows'] * 100:.1f}%)   "
          f"worst row: {summary['worst'] * 100:.1f}%")
    print(f"fitted rows: {summary['mape_fitted'] * 100:.1f}%   held-out rows "
          f"({', '.join(sorted(held))}): {summary['mape_held_out'] * 100:.1f}%")
    print(f"measured inside the predicted P10-P90 band: {inside} of {len(out_rows)} rows")
    for p, e in summary["per_platform"].items():
        print(f"  {p:<12} MAPE {e * 100:5.1f}%  ({len(per_platform[p])} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
