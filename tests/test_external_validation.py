"""The external validation set (validation/): published measurements kept away from the fit.

The set is only useful if it stays independent: its rows parse with the calibration reader, each
names its source, none repeats a calibration row, and nothing the fit runs can read it.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sizing.calibration import DEFAULT_DIR, load_rows

ROOT = Path(__file__).resolve().parent.parent
VALIDATION = ROOT / "validation"
EXTERNAL = VALIDATION / "external.csv"
CLAIMS = VALIDATION / "claims.csv"
CONFIG = ("platform", "accelerators", "model", "precision", "scenario", "isl_mean", "osl_mean", "batch")


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("external_bench", ROOT / "benchmarks" / "external.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _document(source: str) -> str:
    """The published document a row comes from: the MLPerf round, the TensorRT-LLM docs version, else
    the whole source (the Neuron rows name one file each)."""
    found = re.search(r"MLPerf Inference v[\d.]+|TensorRT-LLM docs perf-overview(?: v[\d.]+)?", source)
    return found.group(0) if found else source.strip()


def _key(row: dict[str, str]) -> tuple[Any, ...]:
    """A row's configuration and document, numbers compared as numbers (``222.3`` and ``222.30`` are one):
    a row may repeat a calibration configuration only from another document (e.g. the previous MLPerf
    round, which tests the engine's software-generation factor)."""
    config = (float(row[c]) if c in ("accelerators", "isl_mean", "osl_mean") else row[c].strip() for c in CONFIG)
    return (*config, _document(row["source"]))


def test_columns_are_the_calibration_columns():
    with open(DEFAULT_DIR / "inference.csv", encoding="utf-8") as fh:
        expected = fh.readline().strip()
    with open(EXTERNAL, encoding="utf-8") as fh:
        assert fh.readline().strip() == expected


def test_rows_parse_with_the_calibration_reader(tmp_path):
    rows = load_rows(_bench().stage(EXTERNAL, tmp_path))
    raw = _read(EXTERNAL)
    assert len(rows) == len(raw) >= 25
    assert all(r.kind == "inference" and r.metric == "output_tokens_per_s_per_accelerator" for r in rows)
    assert {r.id for r in rows} == {r["id"] for r in raw}


def test_every_row_names_a_pinned_source():
    for row in _read(EXTERNAL):
        source = row["source"]
        # a document (MLPerf round or TensorRT-LLM docs) and where it is: repo@commit or URL
        assert re.search(r"MLPerf Inference v\d|TensorRT-LLM docs", source), row["id"]
        assert re.search(r"github\.com/[\w.-]+/[\w.-]+@[0-9a-f]{7}|https://", source), row["id"]
        assert row["notes"].strip(), row["id"]


def test_per_accelerator_figure_is_total_over_accelerators():
    for row in _read(EXTERNAL):
        total, per = float(row["measured_output_tok_s_total"]), float(row["measured_output_tok_s_per_accel"])
        assert abs(total / int(row["accelerators"]) - per) <= 0.051, row["id"]


def test_no_row_repeats_a_calibration_row():
    calibration = _read(DEFAULT_DIR / "inference.csv")
    external = _read(EXTERNAL)
    assert not {r["id"] for r in external} & {r["id"] for r in calibration}
    seen = {_key(r) for r in calibration}
    assert not [r["id"] for r in external if _key(r) in seen]
    measured = {(r["platform"], r["model"], r["measured_output_tok_s_per_accel"]) for r in calibration}
    assert not [r["id"] for r in external
                if (r["platform"], r["model"], r["measured_output_tok_s_per_accel"]) in measured]
    assert len({_key(r) for r in external}) == len(external)  # nor repeats itself


def test_the_duplicate_check_can_fail():
    """The key catches a calibration row copied with reformatted numbers, and tells rounds apart."""
    c09 = next(r for r in _read(DEFAULT_DIR / "inference.csv") if r["id"] == "c09")
    copy = {**c09, "id": "e99", "isl_mean": c09["isl_mean"] + "0", "source": c09["source"] + " (copied)"}
    assert _key(copy) == _key(c09)
    assert _key({**c09, "source": "MLPerf Inference v5.0 closed"}) != _key(c09)


def test_claims_are_kept_apart_and_never_scored():
    claims = _read(CLAIMS)
    assert claims and all(c["source"].strip() and c["conditions_stated"] == "no" for c in claims)
    assert not {c["id"] for c in claims} & {r["id"] for r in _read(EXTERNAL)}
    bench = _bench()
    with pytest.raises(bench.InputError, match="header"):
        bench.check_csv(CLAIMS)  # the scorer refuses a claims file outright


def _text_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and p.suffix in (".py", ".yaml", ".yml", ".json")]


def test_nothing_in_sizing_names_the_validation_set():
    pattern = re.compile(r"validation/|[\"']validation[\"']|external\.csv|claims\.csv")
    files = _text_files(ROOT / "sizing")
    assert len(files) > 20
    offenders = [str(p.relative_to(ROOT)) for p in files if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


_OPENED: list[str] = []
_RECORDING = [False]


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _RECORDING[0] and event == "open" and isinstance(args[0], (str, Path)):
        _OPENED.append(str(args[0]))


def test_the_fit_opens_only_calibration_and_package_data():
    """Run the real fit (one Nelder-Mead iteration) and list every data file it opens."""
    from sizing.fitting import fit

    sys.addaudithook(_audit)  # audit hooks cannot be removed; this one records only while flagged
    _OPENED.clear()
    _RECORDING[0] = True
    try:
        fit(DEFAULT_DIR, iterations=1, restarts=0)
    finally:
        _RECORDING[0] = False
    data = {Path(p).resolve() for p in _OPENED if Path(p).suffix in (".csv", ".yaml", ".yml", ".json")}
    assert (DEFAULT_DIR / "inference.csv").resolve() in data  # the hook did see the fit read its rows
    allowed = (DEFAULT_DIR.resolve(), (ROOT / "sizing").resolve())
    assert [p for p in data if not any(p.is_relative_to(a) for a in allowed)] == []
    assert not [p for p in data if p.is_relative_to(VALIDATION.resolve())]


def test_the_benchmark_scores_every_row_with_the_engine():
    bench = _bench()
    rows, infeasible = bench.evaluate(EXTERNAL)
    assert len(rows) + len(infeasible) == len(_read(EXTERNAL))
    measured = {r["id"]: float(r["measured_output_tok_s_per_accel"]) for r in _read(EXTERNAL)}
    for x in rows:
        assert x["predicted"] > 0 and x["measured"] == pytest.approx(measured[x["id"]])
        assert x["error"] == pytest.approx(x["predicted"] / x["measured"] - 1.0)
    assert all(reason for reason in infeasible.values())
    summary = bench.summarise(rows, infeasible)
    assert summary["all"]["rows"] == len(measured)
    assert sum(s["rows"] for s in summary["per_family"].values()) == len(rows)


def test_an_infeasible_row_counts_as_a_full_miss():
    bench = _bench()
    rows = [{"error": 0.2, **dict.fromkeys(bench.GROUPS, "g")}, {"error": -0.1, **dict.fromkeys(bench.GROUPS, "g")}]
    summary = bench.summarise(rows, {"e99": "no replica meets the limits"})
    assert summary["predicted"]["mape"] == pytest.approx(0.15)
    assert summary["all"]["mape"] == pytest.approx((0.2 + 0.1 + 1.0) / 3)
    assert summary["predicted"]["signed_mean"] == pytest.approx(0.05)


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "broken.csv"
    text = EXTERNAL.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize("old,new,where", [
    ("id,platform", "id,platfrom", "header"),
    ("e05,gb200_nvl72,4,llama2-70b", "e05,gb200_nvl72,four,llama2-70b", "line 6 (e05).accelerators"),
    ("e05,gb200_nvl72,4,llama2-70b", "e05,gb200_nvl72,4,llama9-70b", "e05.model"),
    ("e05,gb200_nvl72,4,llama2-70b,fp4", "e05,gb200_nvl72,4,llama2-70b,fp3", "e05.precision"),
])
def test_bad_input_is_one_line_naming_file_and_field(tmp_path, capsys, old, new, where):
    path = _broken(tmp_path, old, new)
    assert _bench().main(["--csv", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{path}: {where}: ") and "\n" not in err and "Traceback" not in err


def test_a_missing_file_is_bad_input(tmp_path, capsys):
    assert _bench().main(["--csv", str(tmp_path / "none.csv")]) == 2
    assert "none.csv: no such file" in capsys.readouterr().err
