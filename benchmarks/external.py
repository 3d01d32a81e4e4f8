"""External validation: the engine's error on published measurements it was never fitted to.

``validation/external.csv`` has the columns of ``calibration/inference.csv``; its rows are
predicted by the very code that predicts the calibration rows (``sizing.fitting.accuracy``: the
shipped constants, the same row-to-query translation, the same software-generation factors), from
a throwaway directory laid out like ``calibration/`` (the external rows as ``inference.csv``, no
training rows, the calibration ``models.yaml``). Nothing here feeds the fit: see docs/VALIDATION.md.

Prints MAPE over all rows first, then the signed mean error (positive = the engine is optimistic),
then both per family, stack, model and scenario, and a per-row table (worst first).

Run: python benchmarks/external.py [--csv validation/external.csv] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sizing.calibration import DEFAULT_DIR, calibration_models, load_rows, predict_rows  # noqa: E402
from sizing.catalog import load_catalog  # noqa: E402
from sizing.errors import InputError  # noqa: E402
from sizing.fitting import accuracy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT / "validation" / "external.csv"
GROUPS = ("family", "stack", "model", "scenario", "platform")


NUMERIC = ("accelerators", "isl_mean", "osl_mean", "ttft_limit_ms", "tpot_limit_ms", "batch",
           "measured_output_tok_s_total", "measured_output_tok_s_per_accel", "measured_tpot_ms", "measured_ttft_ms")


def check_csv(csv_path: Path, calibration_dir: Path = DEFAULT_DIR) -> None:
    """Raise InputError (file, row.field, what is allowed) unless ``csv_path`` has exactly the columns
    of calibration/inference.csv, numbers where numbers go, and a source on every row."""
    src = str(csv_path)
    if not csv_path.is_file():
        raise InputError(src, "", "no such file; expected a CSV with the columns of calibration/inference.csv")
    expected = (calibration_dir / "inference.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != expected:
            raise InputError(src, "header", f"columns must be exactly: {','.join(expected)}")
        for n, row in enumerate(reader, start=2):
            where = f"line {n} ({row['id'] or 'no id'})"
            if not row["id"].strip() or not row["source"].strip():
                raise InputError(src, where, "every row needs an id and a source")
            for col in NUMERIC:
                try:
                    float(row[col]) if row[col].strip() else None
                except ValueError:
                    raise InputError(src, f"{where}.{col}", f"not a number: {row[col]!r}") from None


def stage(csv_path: Path, workdir: Path, calibration_dir: Path = DEFAULT_DIR,
          drop: frozenset[str] = frozenset()) -> Path:
    """A directory ``sizing.calibration.load_rows`` reads unchanged: the external rows (less the ids
    in ``drop``) as inference.csv, a header-only training.csv, and the calibration models.yaml."""
    lines = csv_path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines[1:] if line.split(",", 1)[0] not in drop]
    (workdir / "inference.csv").write_text("".join(lines[:1] + kept), encoding="utf-8")
    header = (calibration_dir / "training.csv").read_text(encoding="utf-8").splitlines()[0]
    (workdir / "training.csv").write_text(header + "\n", encoding="utf-8")
    shutil.copyfile(calibration_dir / "models.yaml", workdir / "models.yaml")
    return workdir


def infeasible(directory: Path, source: str) -> dict[str, str]:
    """Rows the engine says cannot be served at all (the weights do not fit, or no replica meets the
    row's TTFT/TPOT limits), with the engine's reason: ``accuracy`` stops at the first such row. Any
    other complaint (unknown model, platform or precision) is bad input: InputError naming ``source``."""
    catalog, models = load_catalog(), calibration_models(directory)
    out: dict[str, str] = {}
    for row in load_rows(directory):
        try:
            predict_rows([row], models, catalog)
        except InputError as exc:
            if exc.path != "--accelerators" or row.accelerators < 1:
                field = "model" if exc.path == row.id else exc.path.lstrip("-")
                raise InputError(source, f"{row.id}.{field}", exc.message) from None
            out[row.id] = exc.message
    return out


def evaluate(csv_path: Path = DEFAULT_CSV,
             calibration_dir: Path = DEFAULT_DIR) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Every external row predicted with the shipped constants (one dict per row, as
    ``sizing.fitting.accuracy`` gives them: measured, predicted, error, family, stack, ...), plus the
    rows the engine calls infeasible (id -> reason), which have no prediction."""
    with tempfile.TemporaryDirectory(prefix="aifactory-external-") as tmp:
        bad = infeasible(stage(csv_path, Path(tmp), calibration_dir), str(csv_path))
        rows, _summary = accuracy(stage(csv_path, Path(tmp), calibration_dir, frozenset(bad)))
        accelerators = {r.id: r.accelerators for r in load_rows(Path(tmp))}
    for x in rows:
        x["accelerators"] = accelerators[x["id"]]
    return rows, bad


def stats(errors: list[float]) -> dict[str, float]:
    """MAPE, signed mean error and the share of rows the engine over-predicts."""
    n = len(errors)
    return {"rows": n, "mape": sum(abs(e) for e in errors) / n, "signed_mean": sum(errors) / n,
            "optimistic_share": sum(e > 0 for e in errors) / n}


def summarise(rows: list[dict[str, Any]], bad: dict[str, str]) -> dict[str, Any]:
    """All rows (an infeasible row counts as predicted 0, error -100%), the predicted rows alone, then
    the predicted rows per group (family, stack, model, scenario, platform)."""
    errors = [x["error"] for x in rows]
    out: dict[str, Any] = {"all": stats(errors + [-1.0] * len(bad)), "predicted": stats(errors),
                           "infeasible_rows": len(bad)}
    for key in GROUPS:
        values = sorted({x[key] for x in rows})
        out[f"per_{key}"] = {v: stats([x["error"] for x in rows if x[key] == v]) for v in values}
    return out


def _print(rows: list[dict[str, Any]], summary: dict[str, Any], bad: dict[str, str], csv_path: Path) -> None:
    a, p = summary["all"], summary["predicted"]
    print(f"EXTERNAL VALIDATION ({csv_path.name}, never fitted): MAPE {a['mape'] * 100:.1f}% over all {a['rows']} rows "
          f"({len(bad)} the engine calls infeasible, counted at -100%); {p['mape'] * 100:.1f}% over the "
          f"{p['rows']} rows it predicts")
    print(f"signed mean error {p['signed_mean'] * 100:+.1f}% over the predicted rows (positive = engine optimistic); "
          f"over-predicted: {p['optimistic_share'] * 100:.0f}% of them")
    for key in GROUPS:
        print(f"\nper {key} (predicted rows):")
        for name, s in summary[f"per_{key}"].items():
            print(f"  {name:<18} rows {s['rows']:>3}   MAPE {s['mape'] * 100:6.1f}%   "
                  f"signed {s['signed_mean'] * 100:+7.1f}%")
    print(f"\n{'id':<5} {'platform':<12} {'stack':<7} {'model':<17} {'scenario':<11} {'acc':>4} "
          f"{'measured':>10} {'predicted':>10} {'error':>8}")
    for x in sorted(rows, key=lambda x: -abs(x["error"])):
        print(f"{x['id']:<5} {x['platform']:<12} {x['stack']:<7} {x['model'][:17]:<17} {x['scenario']:<11} "
              f"{x['accelerators']:>4} {x['measured']:>10.1f} {x['predicted']:>10.1f} {x['error'] * 100:>+7.1f}%")
    for rid, reason in sorted(bad.items()):
        print(f"{rid:<5} INFEASIBLE per the engine: {reason}")
    print("\nmetric: output tokens/s per accelerator; error = predicted / measured - 1")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="external rows (calibration inference.csv columns)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        check_csv(args.csv)
        rows, bad = evaluate(args.csv)
    except InputError as exc:
        print(exc, file=sys.stderr)
        return 2
    summary = summarise(rows, bad)
    if args.json:
        print(json.dumps({"summary": summary, "rows": rows, "infeasible": bad}, indent=2))
    else:
        _print(rows, summary, bad, args.csv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
