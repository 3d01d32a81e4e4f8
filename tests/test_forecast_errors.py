"""Every kind of bad input gets one clear message naming the file, the field path and what is
allowed; the command line exits 2 without a traceback."""

from __future__ import annotations

import math

import pytest

from aifactory.cli import main
from sizing.errors import InputError
from sizing.forecast import load_forecast, parse_forecast
from sizing.plan import make_plan


def error_of(doc, source="f.yaml") -> InputError:
    with pytest.raises(InputError) as info:
        parse_forecast(doc, source)
    return info.value


def test_valid_small_forecast_parses(small):
    fc = parse_forecast(small, "f.yaml")
    assert fc.years == (2027, 2028, 2029)
    assert [w.placement for w in fc.workloads] == ["cloud", "edge", "hybrid", "cloud"]


def test_unknown_field(small):
    small["workloads"][0]["tpot"] = 50
    err = error_of(small)
    assert err.source == "f.yaml"
    assert err.path == "workloads[0].tpot"
    assert "unknown field 'tpot'" in err.message and "tpot_ms" in err.message


def test_wrong_type(small):
    small["workloads"][0]["input_tokens"] = "lots"
    err = error_of(small)
    assert err.path == "workloads[0].input_tokens" and "must be a number" in err.message


def test_quoted_number_is_explained(small):
    small["site"]["pue"] = "1.2"
    err = error_of(small)
    assert err.path == "site.pue" and "remove the quotes" in err.message


def test_negative_demand(small):
    small["workloads"][0]["demand"]["base"] = -5
    err = error_of(small)
    assert err.path == "workloads[0].demand.base" and "at least 0" in err.message


def test_nan_demand(small):
    small["workloads"][2]["demand"]["per_year"][2028] = math.nan
    err = error_of(small)
    assert err.path == "workloads[2].demand.per_year.2028" and "finite" in err.message


def test_unknown_model_lists_presets(small):
    small["workloads"][0]["model"] = "llama9-1t"
    err = error_of(small)
    assert err.path == "workloads[0].model"
    assert "unknown model 'llama9-1t'" in err.message and "deepseek-r1" in err.message


def test_unknown_platform(small):
    small["platforms"] = ["gb300_nvl72", "tpu_v7"]
    err = error_of(small)
    assert err.path == "platforms[1]" and "trn3" in err.message


def test_unknown_application_and_kind(small):
    small["workloads"][0]["application"] = "poetry"
    assert "allowed: chatbot" in error_of(small).message
    small["workloads"][0]["application"] = "chatbot"
    small["workloads"][0]["kind"] = "rag"
    err = error_of(small)
    assert err.path == "workloads[0].kind" and "llm_inference" in err.message


def test_missing_required_field(small):
    del small["site"]["region"]
    err = error_of(small)
    assert err.path == "site.region" and "required" in err.message


def test_missing_years_in_per_year(small):
    del small["workloads"][2]["demand"]["per_year"][2028]
    err = error_of(small)
    assert err.path == "workloads[2].demand.per_year" and "2028" in err.message


def test_year_outside_horizon(small):
    small["workloads"][3]["start_year"] = 2040
    err = error_of(small)
    assert err.path == "workloads[3].start_year" and "horizon" in err.message


def test_uncertainty_is_required(small):
    del small["workloads"][0]["demand"]["uncertainty"]
    err = error_of(small)
    assert err.path == "workloads[0].demand.uncertainty"


def test_duplicate_workload_name(small):
    small["workloads"][1]["name"] = "chat"
    err = error_of(small)
    assert err.path == "workloads[1].name" and "already used" in err.message


def test_bad_model_spec_in_forecast(small):
    small["models"] = {"mine": {"params_b": 10, "active_params_b": 20, "layers": 10, "hidden": 1024,
                                "heads": 8, "kv_heads": 8, "head_dim": 128, "attention": "gqa"}}
    err = error_of(small)
    assert err.path == "models.mine.active_params_b" and "cannot exceed" in err.message


def test_model_that_fits_no_platform(small):
    small["models"] = {"giant": {"params_b": 900_000, "active_params_b": 900_000, "layers": 200,
                                 "hidden": 65536, "heads": 512, "kv_heads": 64, "head_dim": 128,
                                 "attention": "gqa"}}
    small["workloads"][0]["model"] = "giant"
    fc = parse_forecast(small, "f.yaml")
    with pytest.raises(InputError) as info:
        make_plan(fc, samples=20)
    assert info.value.path == "workloads[0]" and "cannot be served" in info.value.message
    assert "fit no replica" in info.value.message


def test_unsupported_precision_on_a_platform(small):
    small["platforms"] = ["h100_hgx"]
    small["workloads"][2]["precision"] = "fp4"  # diffusion: FP4 needs FP4 tensor cores (LLM serving does not)
    fc = parse_forecast(small, "f.yaml")
    with pytest.raises(InputError) as info:
        make_plan(fc, samples=20)
    assert "h100_hgx has no fp4 support" in info.value.message and "--platform" in info.value.message


def test_unreachable_latency_says_the_floor(small):
    small["workloads"][0]["tpot_ms"] = 0.5
    fc = parse_forecast(small, "f.yaml")
    with pytest.raises(InputError) as info:
        make_plan(fc, samples=20)
    msg = info.value.message
    assert info.value.path == "workloads[0]" and "best any replica reaches" in msg and "p99 TPOT" in msg


def test_missing_file_and_bad_yaml(tmp_path, write_forecast):
    with pytest.raises(InputError) as info:
        load_forecast(tmp_path / "nope.yaml")
    assert "file not found" in str(info.value)
    bad = write_forecast("name: [unclosed\n")
    with pytest.raises(InputError) as info:
        load_forecast(bad)
    assert str(bad) in str(info.value) and "not valid YAML" in str(info.value) and "line" in str(info.value)


def test_top_level_not_a_mapping(write_forecast):
    path = write_forecast("- just\n- a list\n")
    with pytest.raises(InputError) as info:
        load_forecast(path)
    assert "expected a mapping" in str(info.value)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["size", "missing.yaml"], "missing.yaml: file not found"),
        (["size", "{example}", "--platform", "tpu"], "unknown platform 'tpu'"),
        (["size", "{example}", "--samples", "0"], "--samples"),
        (["predict", "--platform", "h100_hgx", "--model", "nope", "--precision", "fp8", "--accelerators", "8",
          "--isl", "100", "--osl", "100"], "unknown model 'nope'"),
        (["predict", "--platform", "trn2", "--model", "llama3.1-8b", "--precision", "fp4", "--accelerators", "1",
          "--train", "--seq-len", "4096"], "trn2 has no fp4 support"),
        (["predict", "--platform", "h100_hgx", "--model", "llama3.1-405b", "--precision", "bf16",
          "--accelerators", "1", "--isl", "100", "--osl", "100"], "do not fit"),
        (["predict", "--platform", "h100_hgx", "--model", "llama3.1-8b", "--precision", "fp8",
          "--accelerators", "1", "--osl", "100"], "--isl: required"),
        (["predict", "--platform", "h100_hgx", "--model", "llama3.1-8b", "--precision", "fp8",
          "--accelerators", "1", "--train"], "--seq-len: required with --train"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv, needle, capsys):
    from tests.conftest import EXAMPLE

    argv = [a.replace("{example}", str(EXAMPLE)) for a in argv]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and needle in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_models_file_errors_name_the_file(tmp_path, capsys):
    path = tmp_path / "models.yaml"
    path.write_text("mymodel:\n  params_b: 7\n", encoding="utf-8")
    code = main(["predict", "--platform", "h100_hgx", "--model", "mymodel", "--precision", "fp8",
                 "--accelerators", "1", "--isl", "10", "--osl", "10", "--models-file", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and f"{path}: mymodel.active_params_b: required field is missing" in err


@pytest.mark.parametrize("command", [["size"], ["report", "--no-inventory"]])
def test_unwritable_output_is_a_clear_error(command, tmp_path, capsys):
    from tests.conftest import EXAMPLE

    target = tmp_path / "no-such-dir" / "out.file"
    code = main([command[0], str(EXAMPLE), "--samples", "50", "--out", str(target), *command[1:]])
    err = capsys.readouterr().err
    assert code == 2 and str(target) in err and "cannot write" in err and "Traceback" not in err
