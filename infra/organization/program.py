"""The organisation guardrails program (org/Pulumi.yaml), and its offline run for tests and the mutation suite.

`pulumi up` in org/ runs `main` in the management account: settings from the stack's config ->
OrganizationGuardrails -> SCPs and their attachments. `run_org_offline` runs the same `build` under
Pulumi's mocks and returns the resources as the sovereignty rules see them.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi.runtime import mocks as pmocks
from pulumi.runtime.settings import ROOT as PULUMI_ROOT
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.organization.component import OrganizationGuardrails, OrganizationGuardrailsArgs
from infra.organization.settings import PROJECT, OrgSettings, parse_org_settings
from infra.rules import Resource
from sizing.errors import InputError


def check_organization(settings: OrgSettings, org: Any, source: str = "org stack config") -> None:
    """Refuse what would leave the SCPs without effect, from the organisation as the management account sees it.

    SCPs never apply to the management account, so the factory must not be it; they bind only where the
    organisation has all features and the SCP policy type enabled on its root. Values the caller could not
    read (offline) are skipped.
    """
    master = getattr(org, "master_account_id", None)
    if master and master == settings.factory_account_id:
        raise InputError(source, f"{PROJECT}:factoryAccountId",
                         f"{master} is the organisation's management account, where SCPs never apply: deploy the "
                         "factory in a member account and attach the SCPs to it or its OU")
    feature_set = getattr(org, "feature_set", None)
    if feature_set and feature_set != "ALL":
        raise InputError(source, "organization", f"feature set {feature_set}: SCPs need all features enabled")
    roots = getattr(org, "roots", None) or []
    types = [t for r in roots for t in (getattr(r, "policy_types", None) or [])]
    if roots and not any(getattr(t, "type", None) == "SERVICE_CONTROL_POLICY" and getattr(t, "status", None)
                         == "ENABLED" for t in types):
        raise InputError(source, "organization", "the SERVICE_CONTROL_POLICY type is not enabled on the root: "
                                                 "enable it (aws organizations enable-policy-type) first")


def build(settings: OrgSettings) -> OrganizationGuardrails:
    provider = aws.Provider("aws-org", region=settings.region, allowed_account_ids=list(settings.allowed_account_ids)
                            or None) if settings.region else None
    invoke = pulumi.InvokeOptions(provider=provider) if provider else None
    check_organization(settings, aws.organizations.get_organization(opts=invoke))
    guardrails = OrganizationGuardrails(f"{settings.name}-org", OrganizationGuardrailsArgs(settings),
                                        opts=pulumi.ResourceOptions(provider=provider) if provider else None)
    pulumi.export("scp_ids", {k: p.id for k, p in guardrails.policies.items()})
    pulumi.export("scp_targets", list(settings.target_ids))
    return guardrails


def settings_from_pulumi() -> OrgSettings:
    """Settings from the running stack's whole config, so an unknown key is an error, not ignored."""
    from pulumi.runtime.config import get_config_env

    values: dict[str, Any] = {}
    for key, raw in get_config_env().items():
        try:
            values[key] = json.loads(raw)
        except (TypeError, ValueError):
            values[key] = raw
    return parse_org_settings(values, f"org/Pulumi.{pulumi.get_stack()}.yaml")


def main() -> None:
    build(settings_from_pulumi())


class _OrgMocks(pmocks.Mocks):
    def __init__(self) -> None:
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.inputs[(args.typ, args.name)] = dict(args.inputs)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pmocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def run_org_offline(settings: OrgSettings) -> list[Resource]:
    """The org program's resources under Pulumi's mocks, as the rules see them."""
    from infra.offline import RecordingMonitor

    mocks = _OrgMocks()
    monitor = RecordingMonitor(mocks)
    PULUMI_ROOT.set(None)
    pmocks.set_mocks(mocks, project=PROJECT, stack="offline", preview=False, monitor=monitor)
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    def program() -> None:
        build(settings)

    _sync_await(run_pulumi_func(program))
    providers = {k[1]: v.get("region") for k, v in mocks.inputs.items() if k[0].startswith("pulumi:providers:")}
    out = []
    for (typ, name), props in sorted(mocks.inputs.items(), key=lambda kv: kv[0][1]):
        if typ.startswith(("pulumi:providers:", "aifactory:")):
            continue  # providers and components are not resources the rules judge
        region = next(iter(providers.values()), None)
        out.append(Resource(type=typ, name=name, props=props, id=f"{name}-id", provider_region=region,
                            protect=monitor.protect.get((typ, name), False)))
    return out


def check_stack_file(argv: list[str]) -> int:
    """`python -m infra.organization.program org/Pulumi.<stack>.yaml [--on-site-cidr CIDR ...]`: an offline check.

    Runs the org program under mocks and the sovereignty rules over its SCPs, as `aifactory plan` does for
    the factory: prints each SCP's size and attachments; exit 0 clean, 1 on a rule violation, 2 on bad input.
    """
    import argparse

    from infra.organization.settings import load_org_stack_file
    from infra.rules import Context, check_all

    parser = argparse.ArgumentParser(prog="python -m infra.organization.program", description=check_stack_file.__doc__)
    parser.add_argument("stack_file")
    parser.add_argument("--on-site-cidr", action="append", default=[],
                        help="an Outpost site's on-premises network (with localGatewayRouting)")
    args = parser.parse_args(argv)
    try:
        settings = load_org_stack_file(args.stack_file)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    resources = run_org_offline(settings)
    for r in resources:
        if r.type == "aws:organizations/policy:Policy":
            print(f"{r.props['name']}: {len(r.props['content']):,} of 5,120 characters")
        else:
            print(f"  attached: {r.props['policyId']} -> {r.props['targetId']}")
    report = check_all(resources, Context(on_site_cidrs=tuple(args.on_site_cidr)))
    for v in report.violations:
        print(v, file=sys.stderr)
    print(f"sovereignty rules: {len(report.violations)} violation(s)" if report.violations else
          "sovereignty rules: all pass (the same rules as the policy pack in policies/)")
    return 1 if report.violations else 0


if __name__ == "__main__":
    raise SystemExit(check_stack_file(sys.argv[1:]))
