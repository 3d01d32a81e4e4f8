"""Sovereignty rules: one definition, enforced by the CrossGuard pack and by `aifactory plan` alike."""

from __future__ import annotations

import json

import pytest

from aifactory.cli import main
from infra.offline import run_offline
from infra.organization.program import run_org_offline
from infra.organization.settings import load_org_stack_file
from infra.rules import ENDPOINT_PERIMETER, RULES, Context, Resource, check_all
from infra.settings import PROJECT, parse_settings
from policies.mutations import MUTATIONS, pack_messages, plan_messages, run
from policies.pack import policies
from tests.conftest import EXAMPLE, ROOT

ORG_EXAMPLE = ROOT / "org" / "Pulumi.example.yaml"
VPCE = "aws:ec2/vpcEndpoint:VpcEndpoint"
ACCOUNT = "111122223333"


@pytest.fixture(scope="module")
def clean():
    """The factory's offline manifest and the organisation program's resources, as the rules see them."""
    settings = parse_settings({f"{PROJECT}:forecast": str(EXAMPLE), "aws:region": "eu-central-1",
                               f"{PROJECT}:samples": 400, f"{PROJECT}:buildYear": 2028}, "test")
    org = run_org_offline(load_org_stack_file(ORG_EXAMPLE))
    return run_offline(settings).rule_resources() + org, settings.regions


def rules_hit(resources, regions=("eu-central-1",), rules=RULES):
    return sorted({v.rule for v in check_all(resources, Context(tuple(regions)), rules).violations})


def res(type_, props, name="r"):
    return Resource(type_, name, props, id=f"{name}-id", provider_region="eu-central-1")


def test_every_rule_is_a_mandatory_pack_policy():
    pack = {p.name: p for p in policies()}
    assert set(pack) == {r.name for r in RULES}
    assert all(p.enforcement_level.value == "mandatory" for p in pack.values())


def test_every_rule_has_a_mutation():
    assert {m.rule for m in MUTATIONS} == {r.name for r in RULES}
    assert ENDPOINT_PERIMETER in RULES


def test_clean_factory_and_org_pass_both(clean):
    resources, regions = clean
    assert any(r.type == "aws:organizations/policy:Policy" for r in resources)
    assert not any(plan_messages(resources, regions).values())
    assert not any(pack_messages(resources, regions).values())


def test_mutation_suite(clean, capsys):
    resources, regions = clean
    outcomes, clean_ok = run(resources, regions)
    missed = [o.mutation.what for o in outcomes if not (o.caught_by_plan and o.caught_by_pack and o.same_messages)]
    with capsys.disabled():
        print(f"\nmutation suite: rules {len(RULES)}, violations tried {len(outcomes)}, "
              f"caught by pack and plan with the same message {len(outcomes) - len(missed)}")
    assert clean_ok and not missed, missed


def test_messages_name_the_resource_and_the_fix(clean):
    resources, regions = clean
    broken = next(m for m in MUTATIONS if m.rule == "imdsv2-required").apply(resources)
    (v, *_) = [v for v in check_all(broken, Context(regions)).violations if v.rule == "imdsv2-required"]
    assert "aws:ec2/launchTemplate:LaunchTemplate 'aif-pods-pod-000-template'" in v.message
    assert "Fix: set metadata_options.http_tokens = 'required'" in v.message


def test_without_allowed_regions_the_provider_region_is_the_boundary():
    r = Resource("aws:bedrock/guardrail:Guardrail", "g", {"region": "us-west-2"}, provider_region="eu-central-1")
    assert [v.rule for v in check_all([r], Context()).violations] == ["allowed-region", "customer-managed-encryption"]


def test_plan_fails_with_the_rule_message_when_the_program_breaks_a_rule(monkeypatch, capsys):
    # make the real program leave IMDSv1 open: `aifactory plan` must refuse it with the rule's message
    import pulumi_aws as aws

    original = aws.ec2.LaunchTemplate.__init__

    def lax(self, name, *args, **kwargs):
        kwargs["metadata_options"] = {"http_tokens": "optional"}
        original(self, name, *args, **kwargs)

    monkeypatch.setattr(aws.ec2.LaunchTemplate, "__init__", lax)
    code = main(["plan", str(EXAMPLE), "--samples", "300", "--year", "2027", "--platform", "gb300_nvl72"])
    err = capsys.readouterr().err
    assert code == 1
    assert "[imdsv2-required]" in err and "httpTokens is 'optional'" in err


# -- every egress path (issue 11, item 18): each of these passed the rules before -------------------------------

EGRESS = [
    ("aws:ec2/vpnGateway:VpnGateway", {"vpcId": "vpc-1"}),
    ("aws:ec2/vpnConnection:VpnConnection", {"customerGatewayId": "cgw-1", "type": "ipsec.1"}),
    ("aws:ec2/customerGateway:CustomerGateway", {"bgpAsn": "65000", "type": "ipsec.1"}),
    ("aws:ec2transitgateway/transitGateway:TransitGateway", {}),
    ("aws:ec2transitgateway/vpcAttachmentAccepter:VpcAttachmentAccepter", {"transitGatewayAttachmentId": "a"}),
    ("aws:directconnect/gatewayAssociation:GatewayAssociation", {"dxGatewayId": "dx"}),
    ("aws:ec2clientvpn/networkAssociation:NetworkAssociation", {"clientVpnEndpointId": "cvpn-1"}),
    ("aws:route53/resolverEndpoint:ResolverEndpoint", {"direction": "INBOUND"}),
    ("aws:route53/resolverRule:ResolverRule", {"ruleType": "FORWARD", "domainName": "corp"}),
    ("aws:ec2/localGatewayRoute:LocalGatewayRoute", {"destinationCidrBlock": "10.0.0.0/8"}),
    (VPCE, {"serviceName": "com.amazonaws.vpce.eu-central-1.vpce-svc-0abc", "vpcEndpointType": "Interface",
            "policy": json.dumps({"Statement": []})}),
    (VPCE, {"serviceName": "com.amazonaws.eu-central-1.s3", "vpcEndpointType": "GatewayLoadBalancer",
            "policy": json.dumps({"Statement": []})}),
]


@pytest.mark.parametrize(("type_", "props"), EGRESS, ids=[f"{t.split(':')[1]}-{i}" for i, (t, _) in enumerate(EGRESS)])
def test_every_egress_path_is_refused(type_, props):
    assert rules_hit([res(type_, props)]) == ["no-external-network"]


def test_aws_endpoints_and_system_dns_rules_stay_allowed():
    ok = [res(VPCE, {"serviceName": "com.amazonaws.eu-central-1.ecr.api", "vpcEndpointType": "Interface",
                     "policy": json.dumps({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})}),
          res("aws:route53/resolverRule:ResolverRule", {"ruleType": "SYSTEM", "domainName": "corp"}, "sys")]
    assert rules_hit(ok) == []


@pytest.mark.parametrize(("props", "hit"), [
    ({"routes": [{"cidrBlock": "10.0.0.0/8", "transitGatewayId": "tgw-1"}]}, True),
    ({"routes": [{"cidrBlock": "192.168.0.0/16", "localGatewayId": "lgw-1"}]}, True),
    ({"routes": [{"cidrBlock": "10.0.0.0/8", "coreNetworkArn": "arn:aws:networkmanager::1:core-network/c"}]}, True),
    ({"routes": [{"cidrBlock": "10.64.0.0/16", "gatewayId": "local"}]}, False),
])
def test_routes_to_other_networks_are_refused(props, hit):
    assert rules_hit([res("aws:ec2/routeTable:RouteTable", props)]) == (["no-internet-path"] if hit else [])


def test_default_vpc_and_customer_owned_ips_are_internet_paths():
    assert rules_hit([res("aws:ec2/defaultVpc:DefaultVpc", {})]) == ["no-internet-path"]
    assert rules_hit([res("aws:ec2/subnet:Subnet", {"mapCustomerOwnedIpOnLaunch": True})]) == ["no-internet-path"]


@pytest.mark.parametrize(("type_", "props", "hit"), [
    ("aws:sagemaker/domain:Domain", {"kmsKeyId": "k", "appNetworkAccessType": "PublicInternetOnly"}, True),
    ("aws:sagemaker/domain:Domain", {"kmsKeyId": "k"}, True),
    ("aws:sagemaker/domain:Domain", {"kmsKeyId": "k", "appNetworkAccessType": "VpcOnly"}, False),
    ("aws:sagemaker/notebookInstance:NotebookInstance", {"kmsKeyId": "k"}, True),
    ("aws:sagemaker/notebookInstance:NotebookInstance", {"kmsKeyId": "k", "directInternetAccess": "Disabled"}, False),
    ("aws:sagemaker/model:Model", {}, True),
    ("aws:sagemaker/model:Model", {"enableNetworkIsolation": True}, False),
    ("aws:sagemaker/model:Model", {"vpcConfig": {"subnets": ["s"], "securityGroupIds": ["g"]}}, False),
])
def test_sagemaker_internet_modes(type_, props, hit):
    assert rules_hit([res(type_, props)]) == (["sagemaker-no-internet"] if hit else [])


# -- the endpoint-policy resource perimeter (item 17) ------------------------------------------------------------

OWN = {"aws:PrincipalAccount": ACCOUNT}


def endpoint(*statements):
    return res(VPCE, {"serviceName": "com.amazonaws.eu-central-1.s3", "vpcEndpointType": "Gateway",
                      "policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}, "s3")


def allow(condition=None, resource="*", **extra):
    s = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": resource, **extra}
    if condition is not None:
        s["Condition"] = condition
    return s


def perimeter_problems(r):
    return [v.message for v in ENDPOINT_PERIMETER.violations([r], Context(("eu-central-1",)))]


MODEL = "arn:aws:bedrock:eu-central-1::foundation-model/meta.llama3-3-70b-instruct-v1:0"


def test_perimeter_accepts_the_agreed_shape():
    shape = endpoint(
        allow({"StringEquals": {**OWN, "aws:ResourceAccount": ACCOUNT}}),
        allow({"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij", "aws:ResourceOrgID": "o-abcdefghij"}}),
        allow({"StringEquals": OWN}, Action="s3:GetObject",
              resource=["arn:aws:s3:::prod-eu-central-1-starport-layer-bucket/*",
                        "arn:aws:s3:::al2023-repos-eu-central-1-de612dc2/*"]),
        # ECR's layer bucket is read through URLs ECR presigns: read-only AWS-owned statements may omit principals
        allow(None, Action=["s3:GetObject"], resource=["arn:aws:s3:::prod-eu-central-1-starport-layer-bucket/*"]),
        allow({"StringEquals": OWN}, Action=["bedrock:InvokeModel", "bedrock:CreateProvisionedModelThroughput"],
              resource=[MODEL]))
    assert perimeter_problems(shape) == []


@pytest.mark.parametrize(("statement", "why"), [
    (allow({"StringEquals": OWN}), "reaches resources of any account"),  # the policy the issue found
    (allow({"StringEquals": {"aws:ResourceAccount": ACCOUNT}}), "admits principals outside"),
    (allow({"StringEqualsIfExists": {**OWN, "aws:ResourceAccount": ACCOUNT}}), "admits principals outside"),
    (allow({"StringEquals": OWN, "StringEqualsIfExists": {"aws:ResourceAccount": ACCOUNT}}),
     "reaches resources of any account"),
    (allow({"StringEquals": {**OWN, "aws:ResourceAccount": "999988887777"}}), "outside their own account"),
    (allow({"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij", "aws:ResourceAccount": "999988887777"}}),
     "outside their own account"),
    (allow({"StringEquals": {**OWN, "aws:ResourceAccount": "*"}}), "reaches resources of any account"),
    (allow({"StringEquals": OWN}, resource=["arn:aws:s3:::exfil/*"]), "not AWS-owned"),
    (allow({"StringEquals": OWN}, resource=["arn:aws:s3:::prod-*-starport-layer-bucket/*"]), "not AWS-owned"),
    (allow({"StringEquals": OWN}, resource=["arn:aws:s3:::prod-us-east-1-starport-layer-bucket/*"]),
     "not AWS-owned"),
    (allow({"StringEquals": OWN}, resource=[MODEL.replace("eu-central-1", "us-east-1")]), "not AWS-owned"),
    (allow({"StringEquals": OWN}, resource=[MODEL.rsplit("/", 1)[0] + "/*"]), "not AWS-owned"),
    (allow({"StringEquals": OWN}, resource=["arn:aws:bedrock:eu-central-1:999988887777:custom-model/x"]),
     "not AWS-owned"),
    (allow(None, Action="s3:PutObject", resource=["arn:aws:s3:::prod-eu-central-1-starport-layer-bucket/*"]),
     "not read-only"),
    (allow({"Bool": {"aws:PrincipalIsAWSService": "true"}}), "admits principals outside"),
    (allow({"StringEquals": {**OWN, "aws:ResourceAccount": ACCOUNT}}, NotAction="s3:DeleteObject"), "NotAction"),
])
def test_perimeter_rejects_everything_else(statement, why):
    messages = perimeter_problems(endpoint(statement))
    assert messages and all("'s3'" in m for m in messages)
    assert any(why in m for m in messages), messages


def test_perimeter_ignores_deny_statements_and_unknown_policies():
    deny = {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}
    assert perimeter_problems(endpoint(allow({"StringEquals": {**OWN, "aws:ResourceAccount": ACCOUNT}}), deny)) == []
    preview = res(VPCE, {"policy": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"})
    assert perimeter_problems(preview) == []


def test_perimeter_mutations_are_caught_on_the_agreed_shape_too(clean):
    # the perimeter's mutations edit whatever perimeter the factory's endpoint policies carry: on the organisation
    # form of the agreed shape (aws:PrincipalOrgID / aws:ResourceOrgID) each one must be caught as well
    resources, regions = clean
    org_id = "o-abcdefghij"
    agreed = json.dumps({"Version": "2012-10-17", "Statement": [
        allow({"StringEquals": {"aws:PrincipalOrgID": org_id, "aws:ResourceOrgID": org_id}}),
        allow({"StringEquals": {"aws:PrincipalOrgID": org_id}}, Action="s3:GetObject",
              resource=["arn:aws:s3:::prod-eu-central-1-starport-layer-bucket/*"])]})
    shaped = [Resource(r.type, r.name, {**r.props, "policy": agreed}, r.id, r.provider_region, r.protect)
              if r.type == VPCE else r for r in resources]
    assert not ENDPOINT_PERIMETER.violations(shaped, Context(regions))
    for m in (m for m in MUTATIONS if m.rule == ENDPOINT_PERIMETER.name):
        assert ENDPOINT_PERIMETER.violations(m.apply(shaped), Context(regions)), m.what


# -- SCPs: attached, without holes, complete (items 15, 16, 18, 19) -----------------------------------------------


def test_scp_rules_judge_the_org_program_and_leave_the_factory_alone(clean):
    resources, regions = clean
    factory = [r for r in resources if not r.type.startswith("aws:organizations/")]
    org = [r for r in resources if r.type.startswith("aws:organizations/")]
    assert rules_hit(factory, regions) == [] and rules_hit(org, regions) == []
    unattached = [r for r in org if r.type == "aws:organizations/policy:Policy"]
    assert rules_hit(unattached, regions) == ["scp-attached"]


def test_old_region_scp_holes_are_caught():
    # the SCP the factory program used to create: a name-pattern exemption and a blanket IAM/CloudFront exemption
    old = {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyOutsideAllowedRegions", "Effect": "Deny", "NotAction": ["iam:*", "sts:*", "cloudfront:*"],
        "Resource": "*", "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-central-1"]},
                                       "ArnNotLike": {"aws:PrincipalARN": "arn:*:iam::*:role/aif-deployer*"}}}]}
    scp = res("aws:organizations/policy:Policy", {"type": "SERVICE_CONTROL_POLICY", "content": json.dumps(old)})
    messages = [v.message for v in check_all([scp], Context(("eu-central-1",))).violations
                if v.rule == "scp-without-holes"]
    assert any("by pattern" in m for m in messages)
    assert any("'iam:*'" in m and "'cloudfront:*'" in m for m in messages)
    assert "scp-complete" in rules_hit([scp]) and "scp-attached" in rules_hit([scp])


# -- an Outpost site's local gateway: only to the customer's declared on-site networks ----------------------------

ON_SITE = Context(("eu-central-1",), on_site_cidrs=("192.168.0.0/16",))


def lgw_route(dest):
    return res("aws:ec2/routeTable:RouteTable", {"routes": [{"cidrBlock": dest, "localGatewayId": "lgw-1"}]})


@pytest.mark.parametrize(("dest", "ok"), [("192.168.10.0/24", True), ("10.0.0.0/8", False), ("0.0.0.0/0", False),
                                          ("192.168.0.0/15", False)])
def test_local_gateway_routes_only_to_declared_on_site_networks(dest, ok):
    hit = sorted({v.rule for v in check_all([lgw_route(dest)], ON_SITE).violations})
    assert hit == ([] if ok else ["no-internet-path"])
    assert rules_hit([lgw_route(dest)]) == ["no-internet-path"]  # nothing declared: every local-gateway route


def test_local_gateway_routes_table_side_held_to_declared_on_site_networks():
    # the VPC association creates no route; routes in the local gateway's table are held to the on-site networks
    assoc = res("aws:ec2/localGatewayRouteTableVpcAssociation:LocalGatewayRouteTableVpcAssociation", {"vpcId": "v"})
    assert rules_hit([assoc]) == []
    route = res("aws:ec2/localGatewayRoute:LocalGatewayRoute", {"destinationCidrBlock": "192.168.4.0/24"})
    assert rules_hit([route]) == ["no-external-network"]
    assert not check_all([route], ON_SITE).violations
    wide = res("aws:ec2/localGatewayRoute:LocalGatewayRoute", {"destinationCidrBlock": "0.0.0.0/0"})
    assert [v.rule for v in check_all([wide], ON_SITE).violations] == ["no-external-network"]


def test_the_pack_reads_on_site_networks_from_its_config():
    from policies.mutations import _policy_args

    pack = {p.name: p for p in policies()}
    found: list[str] = []
    pack["no-internet-path"].validate(_policy_args(lgw_route("192.168.1.0/24"), {"onSiteCidrs": ["192.168.0.0/16"]}),
                                      lambda message, urn=None: found.append(message))
    assert found == []
    pack["no-internet-path"].validate(_policy_args(lgw_route("192.168.1.0/24"), {}),
                                      lambda message, urn=None: found.append(message))
    assert len(found) == 1 and "lgw-1" in found[0]


@pytest.mark.parametrize("site", ["ai-factory", "outpost"])
def test_customer_site_factories_pass_the_rules(site):
    # the site kinds the issue adds: an AI Factory (examples/Pulumi.ai-factory.yaml) and an Outpost whose VPC is
    # associated with the local gateway route table, with no route out
    from infra.settings import load_stack_file

    if site == "ai-factory":
        settings = load_stack_file(ROOT / "examples" / "Pulumi.ai-factory.yaml", default_forecast=str(EXAMPLE))
    else:
        arn = "arn:aws:outposts:eu-central-1:111122223333:outpost/op-0123456789abcdef0"
        settings = parse_settings({
            f"{PROJECT}:forecast": str(EXAMPLE), "aws:region": "eu-central-1", f"{PROJECT}:samples": 300,
            f"{PROJECT}:buildYear": 2027, f"{PROJECT}:platform": "b200_hgx", f"{PROJECT}:capacityType": "reservation",
            f"{PROJECT}:site": {"kind": "outpost", "zones": ["eu-central-1a"], "outpostArn": arn,
                                "localGatewayRouteTableId": "lgw-rtb-0123456789abcdef0"}}, "test")
    m = run_offline(settings)
    assert m.of_type(VPCE) and not m.check().violations, [str(v) for v in m.check().violations]


def test_region_scp_may_spare_only_the_allowed_regions():
    doc = {"Statement": [{"Sid": "DenyOutsideAllowedRegions", "Effect": "Deny", "NotAction": ["sts:*"],
                          "Resource": "*", "Condition": {"StringNotEquals": {
                              "aws:RequestedRegion": ["eu-central-1", "us-east-1"]}}}]}
    scp = res("aws:organizations/policy:Policy", {"type": "SERVICE_CONTROL_POLICY", "content": json.dumps(doc)})
    (v,) = [v for v in check_all([scp], Context(("eu-central-1",))).violations if v.rule == "scp-without-holes"]
    assert "spares ['us-east-1']" in v.message
    # without an explicit allow-list (the pack's allowedRegions unset) only the other checks apply
    assert not [v for v in check_all([scp], Context()).violations if v.rule == "scp-without-holes"]
