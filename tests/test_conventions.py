"""Conventions: --version, the plan's JSON Schema, progress only on a terminal, a size table within 100 columns."""

from __future__ import annotations

import copy
import io
import json

import jsonschema
import pytest

from aifactory.cli import main
from aifactory.progress import Progress
from sizing import __version__
from sizing.forecast import load_forecast
from sizing.plan import make_plan, to_json
from sizing.table import render
from tests.conftest import EXAMPLE


@pytest.fixture(scope="module")
def national() -> dict:
    return json.loads(to_json(make_plan(load_forecast(EXAMPLE))))


def _schema(capsys) -> dict:
    assert main(["schema", "plan"]) == 0
    return json.loads(capsys.readouterr().out)


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"aifactory {__version__}"


def test_national_plan_validates_against_the_shipped_schema(capsys, national):
    schema = _schema(capsys)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(national, schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("breaks", [
    lambda p: p.pop("recommendation"),
    lambda p: p["platforms"]["trn3"]["training"][0].update(mode="rent"),
    lambda p: p["platforms"]["gb300_nvl72"]["years"]["2029"].pop("utilisation"),
    lambda p: p["platforms"]["trn3"]["horizon"]["tco_usd"].update(p50="a lot"),
    lambda p: p["tornado"]["trn3"][0].pop("high_result"),
    lambda p: p["pareto"]["gb300_nvl72"]["citizen-assistant"]["points"][0].update(batch=0),
])
def test_schema_rejects_a_broken_plan(capsys, national, breaks):
    schema = _schema(capsys)
    plan = copy.deepcopy(national)
    breaks(plan)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(plan, schema, cls=jsonschema.Draft202012Validator)


def test_size_table_fits_100_columns(national):
    text = render(national)
    assert max(len(line) for line in text.splitlines()) <= 100
    for pid in national["platforms"]:
        assert f"== {pid}:" in text
    assert "recommendation: gb300_nvl72" in text or "recommendation: trn3" in text


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_only_on_a_terminal_and_not_with_json():
    for stream, quiet, drawn in ((io.StringIO(), False, False), (_Tty(), True, False), (_Tty(), False, True)):
        bar = Progress(stream=stream, quiet=quiet)
        bar.stage("sizing")
        bar.update(0.5)
        with bar.ticking(every_s=0.01):
            pass
        bar.finish()
        out = stream.getvalue()
        assert ("sizing" in out and "50%" in out and "100%" in out) if drawn else out == ""


def test_plain_progress_off_a_terminal_when_asked(monkeypatch):
    """AIFACTORY_PROGRESS=plain: one line per stage, no bar, off a terminal; never with --json."""
    monkeypatch.setenv("AIFACTORY_PROGRESS", "plain")
    for quiet, expected in ((False, "sizing\nrendering\n"), (True, "")):
        stream = io.StringIO()
        bar = Progress(stream=stream, quiet=quiet)
        bar.stage("sizing")
        bar.update(0.5)
        bar.stage("rendering")
        bar.finish()
        assert stream.getvalue() == expected


def test_size_json_is_silent_on_stderr(capsys, write_forecast, small):
    small["monte_carlo"]["samples"] = 100
    assert main(["size", str(write_forecast(small)), "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["recommendation"]["platform"] in small["platforms"]
    assert out.err == ""
