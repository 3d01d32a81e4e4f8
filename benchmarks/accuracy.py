"""Calibration accuracy, held-out first: leave-one-group-out cross-validation (each model, then each
platform, predicted by a fit that never saw it), leave-one-out on the Trainium (neuron-oss) rows,
then every row with the shipped constants (all fitted but the saturated-queue TTFTs), MAPE per
platform family and per serving stack, and how often the measurement falls inside the P10-P90 band.

Run: python benchmarks/accuracy.py [--dir calibration] [--json] [--no-cv]
(the cross-validation refits take a few minutes on a shared 2-core machine)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sizing.calibration import DEFAULT_DIR, load_rows  # noqa: E402
from sizing.fitting import accuracy, cross_validate  # noqa: E402


def _mape(errors: list[float]) -> float:
    return sum(abs(e) for e in errors) / len(errors) if errors else float("nan")


def held_out(directory: Path) -> dict[str, Any]:
    """Held-out errors per row for each grouping."""
    measured = {r.id: r.measured for r in load_rows(directory)}
    out: dict[str, Any] = {}
    for by, stack in (("model", None), ("platform", None), ("row", "neuron-oss")):
        pred = cross_validate(directory, by, stack=stack)
        out[by] = {i: p / measured[i] - 1.0 for i, p in sorted(pred.items())}
    return out


def _print_cv(cv: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    family = {x["id"]: x["family"] for x in rows}
    for by, label in (("model", "leave one MODEL out"), ("platform", "leave one PLATFORM out"),
                      ("row", "leave one ROW out, Trainium neuron-oss rows")):
        errs = cv[by]
        per_fam = {f: _mape([e for i, e in errs.items() if family[i] == f]) for f in sorted(set(family.values()))}
        fams = "  ".join(f"{f} {v * 100:.1f}%" for f, v in per_fam.items() if v == v)
        print(f"HELD-OUT ({label}): MAPE {_mape(list(errs.values())) * 100:.1f}% over {len(errs)} rows   {fams}")
    print("  row       model-out  platform-out  row-out")
    for i in sorted(cv["model"]):
        row_out = f"{cv['row'][i] * 100:7.1f}%" if i in cv["row"] else ""
        plat = f"{cv['platform'][i] * 100:10.1f}%" if i in cv["platform"] else " " * 11
        print(f"  {i:<9} {cv['model'][i] * 100:8.1f}% {plat}   {row_out}")
    print()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="calibration directory")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-cv", action="store_true", help="skip the cross-validation refits")
    args = ap.parse_args()
    out_rows, summary = accuracy(args.dir)
    cv = {} if args.no_cv else held_out(args.dir)
    if args.json:
        print(json.dumps({"held_out": cv, "rows": out_rows, "summary": summary}, indent=2))
        return 0
    if cv:
        _print_cv(cv, out_rows)
    print(f"{'id':<9} {'platform':<12} {'stack':<10} {'model':<15} {'scenario':<12} {'metric':<10} "
          f"{'measured':>9} {'predicted':>9} {'P10-P90':>19} {'error':>7}")
    for x in sorted(out_rows, key=lambda x: (x["family"], x["stack"], x["id"])):
        band = f"{x['p10']:.1f}-{x['p90']:.1f}"
        metric = x["metric"].replace("output_tokens_per_s_per_accelerator", "tok/s/acc")
        print(f"{x['id']:<9} {x['platform']:<12} {x['stack']:<10} {x['model'][:15]:<15} {x['scenario']:<12} "
              f"{metric[:10]:<10} {x['measured']:>9.1f} {x['predicted']:>9.1f} {band:>19} {x['error'] * 100:>6.1f}%"
              f"{'' if x['inside_band'] else ' (outside band)'}")
    primary = sum("." not in x["id"] for x in out_rows)
    print(f"\nIN-SAMPLE (shipped constants) MAPE over all {summary['rows']} rows: {summary['mape_all'] * 100:.1f}%  "
          f"(the {primary} primary rows: {summary['mape_primary_rows'] * 100:.1f}%)   "
          f"worst row: {summary['worst'] * 100:.1f}%")
    print(f"measured inside the predicted P10-P90 band: {summary['inside_p10_p90']} of {len(out_rows)} rows")
    if summary["held_out"]:
        print(f"not fitted (TTFTs behind a saturated admission queue), MAPE {summary['mape_held_out'] * 100:.1f}%: "
              f"{', '.join(summary['held_out'])}; the {summary['rows'] - len(summary['held_out'])} fitted rows: "
              f"{summary['mape_fitted'] * 100:.1f}%")
    for key, label in (("per_family", "family"), ("per_stack", "stack"), ("per_platform", "platform")):
        print("  " + "   ".join(f"{label} {k}: {v * 100:.1f}%" for k, v in summary[key].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
