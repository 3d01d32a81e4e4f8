"""Bad input for the serving fields: every error names the file, the field path and what is allowed."""

from __future__ import annotations

import pytest

from aifactory.cli import main
from sizing.errors import InputError
from sizing.forecast import parse_forecast


@pytest.mark.parametrize("field, value, path, allowed", [
    ("quantization", "int4", "workloads[0].quantization", "allowed: auto, none"),
    ("disaggregated", "sometimes", "workloads[0].disaggregated", "true, false or auto"),
    ("prefix_cache_hit", 1.5, "workloads[0].prefix_cache_hit", "1"),
    ("shared_prefix_tokens", 5000, "workloads[0].shared_prefix_tokens", "less than input_tokens"),
    ("speculative", {"method": "medusa", "tokens": 3, "acceptance": 0.7}, "workloads[0].speculative.method",
     "allowed: mtp, eagle, draft"),
    ("speculative", {"method": "mtp", "tokens": 0, "acceptance": 0.7}, "workloads[0].speculative.tokens", ""),
    ("speculative", {"method": "mtp", "tokens": 2, "acceptance": 1.7}, "workloads[0].speculative.acceptance", ""),
    ("speculative", {"method": "draft", "tokens": 2, "acceptance": 0.7}, "workloads[0].speculative.draft_params_b",
     "missing"),
    ("speculative", {"method": "mtp", "tokens": 2, "acceptance": 0.7, "draft_params_b": 1},
     "workloads[0].speculative.draft_params_b", "draft only"),
    ("speculative", "yes", "workloads[0].speculative", "mapping"),
])
def test_workload_field_errors(small, field, value, path, allowed):
    small["workloads"][0][field] = value
    with pytest.raises(InputError) as info:
        parse_forecast(small, "f.yaml")
    assert info.value.source == "f.yaml" and info.value.path == path
    assert allowed in str(info.value)


@pytest.mark.parametrize("software, path, allowed", [
    ({"h100_hgx": "trtllm"}, "software.h100_hgx", "not one of the forecast's platforms"),
    ({"trn3": "trtllm"}, "software.trn3", "allowed: neuron-oss, neuron-aws"),
    ({"gb300_nvl72": "neuron-aws"}, "software.gb300_nvl72", "allowed: trtllm, vllm"),
    ("trtllm", "software", "mapping"),
])
def test_forecast_software_errors(small, software, path, allowed):
    small["software"] = software
    with pytest.raises(InputError) as info:
        parse_forecast(small, "f.yaml")
    assert info.value.path == path and allowed in str(info.value)


@pytest.mark.parametrize("args, flag", [
    (["--software", "trn3"], "--software"),
    (["--software", "trn3=vllm"], "--software"),
    (["--software", "nope=trtllm"], "--software"),
    (["--software", "trn2=neuron-aws"], "--software"),  # a platform the forecast does not size
])
def test_size_software_flag_errors(tmp_path, small, capsys, args, flag):
    import yaml

    f = tmp_path / "f.yaml"
    f.write_text(yaml.safe_dump(small))
    assert main(["size", str(f), *args]) == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize("args, flag", [
    (["--software", "neuron-aws"], "--software"),
    (["--speculative", "mtp:x:0.7"], "--speculative"),
    (["--speculative", "draft:2:0.7"], "--speculative"),
    (["--prefix-cache-hit", "1.2"], "--prefix-cache-hit"),
])
def test_predict_flag_errors(capsys, args, flag):
    base = ["predict", "--platform", "h200_hgx", "--model", "llama3.1-8b", "--precision", "fp8",
            "--accelerators", "1", "--isl", "100", "--osl", "100"]
    assert main(base + args) == 2
    assert flag in capsys.readouterr().err


def test_fp4_training_needs_fp4_hardware(small):
    from sizing.plan import make_plan

    small["platforms"] = ["h100_hgx"]
    small["workloads"] = [small["workloads"][0], {
        "name": "train", "application": "custom", "kind": "training", "model": "llama3.1-8b", "precision": "fp4",
        "tokens_b": 100, "seq_len": 8192, "deadline_days": 30, "start_year": 2027, "uncertainty": {"sigma": 0.1}}]
    with pytest.raises(InputError) as info:
        make_plan(parse_forecast(small, "f.yaml"), samples=20)
    assert info.value.path.endswith(".precision") and "h100_hgx has no fp4 training support" in str(info.value)
    small["platforms"] = ["gb300_nvl72"]
    assert make_plan(parse_forecast(small, "f.yaml"), samples=20)["platforms"]["gb300_nvl72"]
