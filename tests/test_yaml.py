"""The strict YAML reader (sizing/schema.py), the resource bounds and the plan sanity (sizing/sanity.py).

Every case runs the command line in-process and expects exit 2 with one short line naming the file
(and the line or field), or exit 0 where YAML 1.2 says the value is fine.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from aifactory.cli import main
from sizing.errors import InputError
from sizing.schema import MAX_FILE_BYTES, parse_yaml

FORECAST_KEYS = "workloads:\n"


def _size(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["size", str(path), "--samples", "100", *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and len(err) < 400, err
    return code, err


def _text(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


def _replace_line(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# -- duplicate keys, year keys ----------------------------------------------------------------------------


def test_a_second_workloads_key_is_refused(small, write_forecast, capsys):
    text = _text(small) + "workloads: []\n"
    code, err = _size(write_forecast(text), capsys)
    assert code == 2 and "duplicate key 'workloads'" in err and "line" in err


@pytest.mark.parametrize("second", ["2028", "'2028'"])
def test_year_keys_are_normalised_and_duplicates_refused(small, write_forecast, capsys, second):
    text = _replace_line(_text(small), "    per_year:\n      2027: 5\n",
                         f"    per_year:\n      2027: 5\n      {second}: 7\n")
    code, err = _size(write_forecast(text), capsys)
    assert code == 2 and "duplicate key '2028'" in err


def test_a_quoted_year_is_the_same_year(small, write_forecast, capsys):
    text = _replace_line(_text(small), "      2028: 10\n", "      '2028': 10\n")
    assert _size(write_forecast(text), capsys)[0] == 0


def test_a_fractional_year_is_refused(small, write_forecast, capsys):
    text = _replace_line(_text(small), "      2028: 10\n", "      2028.7: 10\n")
    code, err = _size(write_forecast(text), capsys)
    assert code == 2 and "a key must be text or a whole number, got 2028.7" in err


# -- YAML 1.2 numbers ------------------------------------------------------------------------------------


def test_leading_zero_is_refused_not_octal(small, write_forecast, capsys):
    text = _replace_line(_text(small), "input_tokens: 500", "input_tokens: 0400")
    code, err = _size(write_forecast(text), capsys)
    assert code == 2 and "0400 has a leading zero" in err


def test_sexagesimal_is_text_not_ninety(small, write_forecast, capsys):
    text = _replace_line(_text(small), "input_tokens: 500", "input_tokens: 1:30")
    code, err = _size(write_forecast(text), capsys)
    assert code == 2 and "must be a number, got '1:30'" in err and "quotes" not in err


def test_exponent_without_dot_is_a_number(small, write_forecast, capsys):
    text = _replace_line(_text(small), "input_tokens: 500", "input_tokens: 4e2")
    assert _size(write_forecast(text), capsys)[0] == 0


def test_quoted_number_says_remove_the_quotes(small, write_forecast, capsys):
    text = _replace_line(_text(small), "input_tokens: 500", "input_tokens: '4e2'")
    code, err = _size(write_forecast(text), capsys)
    assert code == 2 and "(remove the quotes)" in err


def test_yes_is_not_a_boolean(small, write_forecast, capsys):
    run = next(w for w in small["workloads"] if w["kind"] == "training")
    run["recurring"] = "PLACEHOLDER"  # a true/false field (YAML 1.1 would read `yes` as true)
    text = _text(small).replace("'PLACEHOLDER'", "yes").replace("PLACEHOLDER", "yes")
    code, err = _size(write_forecast(text), capsys)
    assert code == 2 and "must be true or false, got 'yes'" in err


def test_merge_keys_still_work() -> None:
    assert parse_yaml("base: &b {x: 1, y: 2}\nk:\n  <<: *b\n  x: 3\n", "f") == {"base": {"x": 1, "y": 2},
                                                                                 "k": {"x": 3, "y": 2}}


# -- hostile and huge input ------------------------------------------------------------------------------

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)) + \
    "workloads: *i\n"


def test_billion_laughs_is_refused_fast_with_a_short_message(write_forecast, capsys):
    started = time.monotonic()
    code, err = _size(write_forecast(LAUGHS), capsys)
    assert code == 2 and "once aliases are expanded" in err
    assert time.monotonic() - started < 30  # a bound far above the few milliseconds it takes, not a speed test


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(InputError, match="recursive"):
        parse_yaml("a: &a [1, *a]\n", "f")


def test_deep_nesting_is_refused_not_a_recursion_error(write_forecast, capsys):
    code, err = _size(write_forecast("a: " + "[" * 900 + "]" * 900 + "\n"), capsys)
    assert code == 2 and "nested more than" in err


def test_a_400_digit_integer_is_refused(small, write_forecast, capsys):
    text = _replace_line(_text(small), "input_tokens: 500", "input_tokens: " + "9" * 400)
    code, err = _size(write_forecast(text), capsys)
    assert code == 2 and "400 digits" in err


@pytest.mark.parametrize(("value", "message"), [("1e308", "at most 1e+15"), ("1.0e-310", "at least 1e-12"),
                                                ("-1e300", "at most 1e+15"), (".inf", "finite"),
                                                (".nan", "finite")])
def test_absurd_magnitudes_are_refused(small, write_forecast, capsys, value, message):
    small["workloads"][0]["demand"]["base"] = "PLACEHOLDER"
    text = _text(small).replace("PLACEHOLDER", value)
    code, err = _size(write_forecast(text), capsys)
    assert code == 2 and "workloads[0].demand.base" in err and message in err


def test_dev_zero_is_refused(capsys):
    code, err = _size(Path("/dev/zero"), capsys)
    assert code == 2 and "not a regular file" in err


def test_a_file_over_the_limit_is_refused(write_forecast, capsys):
    code, err = _size(write_forecast("# padding\n" * (MAX_FILE_BYTES // 10 + 10)), capsys)
    assert code == 2 and "at most 1,048,576" in err


def test_not_utf8_is_refused(tmp_path, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    code, err = _size(path, capsys)
    assert code == 2 and "not UTF-8" in err


def test_a_long_value_is_quoted_only_as_an_excerpt(small, write_forecast, capsys):
    small["workloads"][0]["precision"] = "x" * 100_000
    code, err = _size(write_forecast(small), capsys)
    assert code == 2 and len(err) < 400


def test_stack_files_and_model_files_use_the_same_reader(tmp_path, capsys):
    stack = tmp_path / "Pulumi.dup.yaml"
    stack.write_text("config:\n  aws:region: eu-central-1\n  aws:region: us-east-1\n")
    forecast = Path(__file__).resolve().parent.parent / "examples" / "national.yaml"
    assert main(["plan", str(forecast), "--stack-config", str(stack)]) == 2
    assert "duplicate key 'aws:region'" in capsys.readouterr().err
    models = tmp_path / "models.yaml"
    models.write_text("m:\n  params_b: 7\n  params_b: 70\n")
    assert main(["predict", "--platform", "trn2", "--model", "m", "--precision", "fp8", "--accelerators", "8",
                 "--isl", "100", "--osl", "100", "--models-file", str(models)]) == 2
    assert "duplicate key 'params_b'" in capsys.readouterr().err


# -- resource bounds and plan sanity ---------------------------------------------------------------------


def test_samples_beyond_the_memory_bound_name_the_flag(small, write_forecast, capsys):
    code, err = _size(write_forecast(small), capsys, "--samples", "10000000")
    assert code == 2  # _size passes --samples 100 first; argparse keeps the last one
    assert "--samples: 10,000,000 samples x 4 workloads x 3 years x 2 platform(s)" in err


def test_samples_beyond_the_bound_in_the_forecast_name_the_field(small, write_forecast, capsys):
    small["monte_carlo"]["samples"] = 1_000_000  # the documented maximum: 5 x 3 x 2 x 1e6 cells is too many
    small["workloads"].append(dict(copy.deepcopy(small["workloads"][0]), name="chat-2"))
    code = main(["size", str(write_forecast(small))])
    err = capsys.readouterr().err
    assert code == 2 and "monte_carlo.samples: 1,000,000 samples" in err


def test_too_many_workloads(small, write_forecast, capsys):
    small["workloads"] = [dict(copy.deepcopy(small["workloads"][0]), name=f"w{i}") for i in range(501)]
    code, err = _size(write_forecast(small), capsys)
    assert code == 2 and "501 workloads; at most 500" in err


def test_demand_beyond_any_site_names_the_workload(small, write_forecast, capsys):
    small["workloads"][0]["demand"]["base"] = 1e15
    code, err = _size(write_forecast(small), capsys)
    assert code == 2 and "workloads[0].demand" in err and "no site holds more than 10,000,000" in err


def _plan(small: dict[str, Any], write_forecast: Any) -> tuple[dict[str, Any], Any]:
    from sizing.forecast import load_forecast
    from sizing.plan import make_plan

    forecast = load_forecast(write_forecast(small))
    return make_plan(forecast, samples=100), forecast


def test_zero_accelerators_for_positive_demand_is_an_error(small, write_forecast):
    from sizing.sanity import check_plan

    plan, forecast = _plan(small, write_forecast)
    check_plan(plan, forecast)  # the real plan is sane
    broken = copy.deepcopy(plan)
    pid = next(iter(broken["platforms"]))
    broken["platforms"][pid]["workloads"]["chat"]["years"]["2028"]["accelerators"]["provisioned"] = 0.0
    with pytest.raises(InputError, match=r"workloads\[0\].demand: 'chat' in 2028 .* positive demand"):
        check_plan(broken, forecast)


@pytest.mark.parametrize("figure", ["accelerators", "facility_power_mw", "energy_mwh"])
def test_a_null_site_figure_is_an_error_not_a_silent_null(small, write_forecast, figure):
    from sizing.sanity import check_plan

    plan, forecast = _plan(small, write_forecast)
    pid = next(iter(plan["platforms"]))
    plan["platforms"][pid]["years"]["2027"][figure]["p50"] = None
    with pytest.raises(InputError, match=f"{figure} in 2027 on {pid} is not a finite number"):
        check_plan(plan, forecast)


def test_json_output_never_holds_nan(small, write_forecast, capsys):
    assert main(["size", str(write_forecast(small)), "--samples", "100", "--json"]) == 0
    out = capsys.readouterr().out
    json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
