"""One deploy path: `pulumi up` (infra/__main__.py under the stack's config) refuses a too-large forecast or an
absurd plan with the same error `aifactory plan` gives, because both run the checks in infra.program.prepare."""

from __future__ import annotations

import copy
import json
from typing import Any

import pulumi
import pulumi.runtime
import pytest
import yaml
from pulumi.runtime import mocks as pmocks

from aifactory.cli import main as cli
from infra import program
from infra.settings import PROJECT
from sizing.errors import InputError


class Recording(pmocks.Mocks):
    """Pulumi mocks that record every resource the program would create (none, when it refuses)."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.created.append(args.typ)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pmocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def pulumi_up(config: dict[str, Any], stack: str = "big") -> tuple[str, list[str]]:
    """Run infra.program.main as `pulumi up` does (config from the stack, under Pulumi mocks): the error line
    infra/__main__.py would print, and the resources created."""
    mocks = Recording()
    pmocks.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v)
                                   for k, v in config.items()})
    try:
        with pytest.raises(InputError) as info:
            program.main()
    finally:
        pulumi.runtime.set_all_config({})
    return f"error: {info.value}", mocks.created


def stack_file(tmp_path: Any, config: dict[str, Any], stack: str = "big") -> str:
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
    return str(path)


def cli_plan(path: str, forecast: str, capsys: Any) -> tuple[int, str]:
    code = cli(["plan", forecast, "--stack-config", path])
    return code, capsys.readouterr().err


def test_samples_of_the_stack_beyond_the_bound_are_refused_by_pulumi_up_and_plan(tmp_path, small, write_forecast,
                                                                                  capsys):
    forecast = str(write_forecast(small))
    config = {f"{PROJECT}:forecast": forecast, f"{PROJECT}:samples": 5_000_000, "aws:region": "eu-central-1"}
    error, created = pulumi_up(config)
    assert error.startswith(f"error: Pulumi.big.yaml: {PROJECT}:samples: 5,000,000 samples") and not created
    assert "fit the memory bound" in error
    path = stack_file(tmp_path, config)
    code, err = cli_plan(path, forecast, capsys)
    assert code == 2 and f"{path}: {PROJECT}:samples: 5,000,000 samples" in err
    assert err.split(f"{PROJECT}:samples:", 1)[1] == error.split(f"{PROJECT}:samples:", 1)[1] + "\n"


def test_forecast_samples_beyond_the_bound_name_the_forecast_under_pulumi_up(small, write_forecast):
    small["monte_carlo"]["samples"] = 1_000_000
    small["workloads"].append(dict(copy.deepcopy(small["workloads"][0]), name="chat-2"))
    forecast = write_forecast(small)
    error, created = pulumi_up({f"{PROJECT}:forecast": str(forecast), "aws:region": "eu-central-1"})
    assert error.startswith(f"error: {forecast}: monte_carlo.samples: 1,000,000 samples") and not created


def test_an_absurd_plan_is_refused_by_pulumi_up_as_by_plan(tmp_path, small, write_forecast, capsys):
    small["workloads"][0]["demand"]["base"] = 1e15
    small["monte_carlo"]["samples"] = 200
    forecast = str(write_forecast(small))
    config = {f"{PROJECT}:forecast": forecast, "aws:region": "eu-central-1", f"{PROJECT}:platform": "trn3"}
    error, created = pulumi_up(config)
    assert "workloads[0].demand" in error and "no site holds more than 10,000,000" in error and not created
    code, err = cli_plan(stack_file(tmp_path, config), forecast, capsys)
    assert code == 2 and err == error + "\n"


def test_the_deploy_path_skips_the_what_if_analyses_and_the_report_path_keeps_them(small, write_forecast):
    from infra.settings import parse_settings
    from sizing.forecast import load_forecast
    from sizing.plan import make_plan

    small["monte_carlo"]["samples"] = 200
    path = write_forecast(small)
    settings = parse_settings({f"{PROJECT}:forecast": str(path), "aws:region": "eu-central-1"}, "test")
    _forecast, plan, _bp = program.prepare(settings)
    assert "tornado" not in plan and "pareto" not in plan and plan["recommendation"]["platform"]
    full = make_plan(load_forecast(path))
    assert full["tornado"] and full["pareto"]
    _forecast, shown, _bp = program.prepare(settings, sized=(load_forecast(path), full))
    assert shown is full  # the report's plan, whole
