"""Property-based fuzzing of the forecast and stack-config schemas (hypothesis).

Property: whatever the file holds, `aifactory size` exits 0 with finite figures (strict JSON, no NaN or
Infinity, no null physical figure) or exits 2 with one line on stderr; never a traceback, never another
code. Documents are a valid forecast with a few values replaced by hostile ones (huge, tiny, negative,
non-finite, wrong types, deep structures), keys dropped or added, or arbitrary text. Stack configs go
through the same reader and settings parser, which must either accept them or raise InputError.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from aifactory.cli import main
from sizing.errors import InputError
from tests.conftest import SMALL

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, 1, -1, 1e-310, 5e-324, 1e308, 1.7e308, 2**63]),
    st.text(max_size=30), st.sampled_from(["2029", "4e2", "0400", "1:30", "yes", "~", "", "fp8", "chatbot"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=10)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location of a value in the document (mapping keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(SMALL)


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(doc) or [("name",)]))
        parent: Any = doc
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "replace", "drop", "add"]))
        if action == "drop" and isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
        else:
            parent[path[-1]] = draw(VALUES)
    return doc


@st.composite
def renumbered(draw: st.DrawFn) -> dict[str, Any]:
    """Only numbers change, to any size the schema might accept: this path reaches the engine and sanity."""
    doc = copy.deepcopy(SMALL)
    numeric = [p for p in _paths(doc) if type(_at(doc, p)) in (int, float)]
    for path in draw(st.lists(st.sampled_from(numeric), min_size=1, max_size=3, unique=True)):
        parent = _at(doc, path[:-1])
        old = parent[path[-1]]
        scaled = st.sampled_from([0.5, 2, 10, 1e3, 1e6, 1e-3]).map(lambda k, old=old: old * k)
        parent[path[-1]] = draw(st.one_of(
            scaled, scaled, scaled, st.floats(min_value=0, max_value=1e15), st.floats(min_value=1e-13, max_value=1e-3),
            st.integers(min_value=0, max_value=10**16)))
    return doc


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _dump(doc: Any) -> str:
    try:
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        return "name: [unrepresentable\n"


def _judge(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["size", str(path), "--samples", "40", "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert code in (0, 2), captured.err
    event(f"exit {code}")
    if code == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) < 600, captured.err
        return
    plan = json.loads(captured.out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    for pdoc in plan["platforms"].values():
        for ydoc in pdoc["years"].values():
            for name in ("accelerators", "instances", "it_power_kw", "facility_power_mw", "energy_mwh"):
                assert all(v is not None and math.isfinite(v) for v in ydoc[name].values()), (name, ydoc[name])


@FUZZ
@given(doc=mutated(SMALL))
def test_any_forecast_gives_a_plan_or_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               doc: dict[str, Any]) -> None:
    path = tmp_path / "forecast.yaml"
    path.write_text(_dump(doc), encoding="utf-8")
    _judge(path, capsys)


@FUZZ
@given(doc=renumbered())
def test_any_numbers_give_finite_figures_or_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     doc: dict[str, Any]) -> None:
    path = tmp_path / "forecast.yaml"
    path.write_text(_dump(doc), encoding="utf-8")
    _judge(path, capsys)


@FUZZ
@given(text=st.text(max_size=300))
def test_any_text_gives_a_plan_or_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    path = tmp_path / "forecast.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _judge(path, capsys)


STACK = {"config": {"aws:region": "eu-central-1", "aws:allowedAccountIds": ["111122223333"],
                    "sovereign-ai-factory:forecast": "examples/national.yaml",
                    "sovereign-ai-factory:platform": "trn3", "sovereign-ai-factory:buildYear": 2028,
                    "sovereign-ai-factory:capacityType": "existing",
                    "sovereign-ai-factory:capacityReservationIds": ["cr-0a1b2c3d4e5f60001"],
                    "sovereign-ai-factory:site": {"kind": "ai-factory", "zones": ["eu-central-1a"]}}}


@FUZZ
@given(doc=mutated(STACK))
def test_any_stack_config_is_accepted_or_one_input_error(tmp_path: Path, doc: dict[str, Any]) -> None:
    from infra.settings import load_stack_file

    path = tmp_path / "Pulumi.fuzz.yaml"
    path.write_text(_dump(doc), encoding="utf-8")
    try:
        load_stack_file(path)
    except InputError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600
