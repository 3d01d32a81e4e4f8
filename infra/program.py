"""The Pulumi program: forecast -> sizing plan -> blueprint -> Factory component -> resources.

`pulumi up` runs it through infra/__main__.py with the stack's config; `aifactory plan` runs the very
same `build` under Pulumi's mocks (infra/offline.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.blueprint import Blueprint, make_blueprint
from infra.components.factory import Factory, FactoryArgs
from infra.settings import _KEYS, AWS_KEYS, PROJECT, StackSettings, parse_settings
from sizing.catalog import load_catalog
from sizing.errors import InputError
from sizing.forecast import Forecast, load_forecast
from sizing.plan import make_plan
from sizing.sanity import check_bounds, check_plan

ROOT = Path(__file__).resolve().parents[1]


def resolve_path(path: str) -> Path:
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return ROOT / p


def default_platform(plan: dict[str, Any]) -> str:
    """THE place the stack's platform default is decided when the stack does not set ``platform``:
    the plan's recommendation (sizing.recommendation), so `pulumi up` builds what the report recommends."""
    return str(plan["recommendation"]["platform"])


def plan_sampling(settings: StackSettings, forecast: Forecast) -> tuple[int, int]:
    """Monte Carlo samples and seed: the stack's when set, else the forecast's own, so `plan`, `report`,
    `size` and `pulumi up` give the same plan for the same forecast."""
    samples = settings.samples if settings.samples is not None else forecast.samples
    seed = settings.seed if settings.seed is not None else forecast.seed
    return samples, seed


def prepare(settings: StackSettings, source: str = "stack config",
            sized: tuple[Forecast, dict[str, Any]] | None = None) -> tuple[Forecast, dict[str, Any], Blueprint]:
    """Size the forecast for the stack's platform (seeded: same inputs, same plan), check it and make the
    blueprint.

    THE one path `pulumi up`, `aifactory plan`, `preflight`, `verify` and the report's inventory take: the
    input bounds (sizing.sanity.check_bounds) and the plan sanity checks (check_plan) run here, so a stack
    whose forecast is too large or whose plan is absurd is refused with the same error under every command.
    ``sized`` passes a forecast and plan already computed (the report's), so the blueprint is built from
    exactly the plan the caller shows rather than from a second sizing run.
    """
    if sized is None:
        forecast, plan = _size_for_stack(settings, source)
    else:
        forecast, plan = sized
    check_plan(plan, forecast)
    if not settings.platform_given:
        settings = replace(settings, platform=default_platform(plan))
    return forecast, plan, make_blueprint(forecast, plan, settings, load_catalog(), source)


def _size_for_stack(settings: StackSettings, source: str) -> tuple[Forecast, dict[str, Any]]:
    """The deploy path's sizing: bounded first, and without the what-if analyses a blueprint does not use.

    With the stack's platform unset every platform the forecast compares is sized, to find the
    recommendation the stack then builds.
    """
    forecast = load_forecast(resolve_path(settings.forecast))
    if settings.percentile:
        forecast = replace(forecast, provision_percentile=settings.percentile)
    samples, seed = plan_sampling(settings, forecast)
    compared = [settings.platform] if settings.platform_given else list(forecast.platforms)
    field = f"{PROJECT}:samples" if settings.samples is not None else "monte_carlo.samples"
    try:
        check_bounds(forecast, len(compared), samples, field)
    except InputError as exc:
        if exc.path != field or settings.samples is None:
            raise
        raise InputError(source, field, exc.message) from None  # the stack's samples: name the stack file
    plan = make_plan(forecast, platforms=compared, samples=samples, seed=seed, analyses=False)
    return forecast, plan


def build(settings: StackSettings, forecast: Forecast, blueprint: Blueprint) -> Factory:
    """Create the factory's resources and the stack outputs a platform engineer needs."""
    tags = {"aifactory:factory": settings.name, "aifactory:forecast": forecast.name[:250],
            "aifactory:platform": blueprint.platform.id, "aifactory:build-year": str(blueprint.build_year)}
    provider = aws.Provider("aws", region=settings.region,
                            allowed_account_ids=list(settings.allowed_account_ids) or None,
                            default_tags={"tags": tags})
    invoke = pulumi.InvokeOptions(provider=provider)
    identity = aws.get_caller_identity_output(opts=invoke)
    partition = aws.get_partition_output(opts=invoke)
    factory = Factory(settings.name, FactoryArgs(
        blueprint=blueprint, settings=settings, account_id=identity.account_id, partition=partition.partition,
        dns_suffix=partition.dns_suffix), opts=pulumi.ResourceOptions(provider=provider))

    pulumi.export("vpc_id", factory.network.vpc.id)
    pulumi.export("service_subnet_ids", [s.id for s in factory.network.service_subnets])
    pulumi.export("pod_groups", [g.summary for g in factory.pods.groups])
    pulumi.export("endpoints", {k: v.id for k, v in factory.network.endpoints.items()})
    pulumi.export("buckets", {p: b.bucket for p, b in factory.data.buckets.items()})
    pulumi.export("fsx", {"dns_name": factory.data.file_system.dns_name,
                          "mount_name": factory.data.file_system.mount_name})
    pulumi.export("kms_key_arn", factory.key.arn)
    pulumi.export("guardrail_id", factory.services.guardrail.guardrail_id)
    pulumi.export("plan_headline", {"platform": blueprint.platform.id, "year": blueprint.build_year,
                                    **blueprint.headline})
    pulumi.export("facility_budget", blueprint.facility)
    pulumi.export("training_jobs", blueprint.jobs)
    return factory


def settings_from_pulumi() -> StackSettings:
    """Settings from the running stack's config (values arrive as text; JSON is decoded)."""
    values: dict[str, Any] = {}
    own = pulumi.Config(PROJECT)
    for key in sorted(_KEYS):
        raw = own.get(key)
        if raw is not None:
            values[f"{PROJECT}:{key}"] = _decode(raw)
    aws_cfg = pulumi.Config("aws")
    for key in AWS_KEYS:
        raw = aws_cfg.get(key)
        if raw is not None:
            values[f"aws:{key}"] = _decode(raw)
    return parse_settings(values, f"Pulumi.{pulumi.get_stack()}.yaml", stack=pulumi.get_stack())


def _decode(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def main() -> None:
    from infra.deploy_checks import refusals

    settings = settings_from_pulumi()
    forecast, _plan, blueprint = prepare(settings, f"Pulumi.{settings.stack}.yaml")
    refused = refusals(settings, blueprint)
    if refused:
        raise pulumi.RunError("pulumi up refuses this stack (nothing was created):\n"
                              + "\n".join(f"  {r}" for r in refused))
    build(settings, forecast, blueprint)
