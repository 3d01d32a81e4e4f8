"""The mutation suite: break a clean factory one way at a time and prove both enforcers catch it.

Each mutation takes the offline manifest of a clean factory (as rule resources) and returns a broken
copy, naming the rule that must reject it. `run` checks each one twice. Once with `aifactory plan`'s
checker (infra.rules.check_all over the manifest); once with the policy pack's own
ResourceValidationPolicy / StackValidationPolicy objects, called with real pulumi_policy argument
objects as the engine would call them. Both must report the rule, with the same messages. The clean
factory must pass both.

Run: python policies/mutations.py   (prints rules, violations tried, violations caught)
"""

from __future__ import annotations

import base64
import copy
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pulumi_policy import (  # noqa: E402
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.rules import RULES, Context, Resource, check_all  # noqa: E402
from policies.pack import policies  # noqa: E402

Resources = list[Resource]


@dataclass(frozen=True)
class Mutation:
    rule: str
    what: str
    apply: Callable[[Resources], Resources]


def _edit(type_: str, change: Callable[[dict[str, Any]], None], index: int = 0) -> Callable[[Resources], Resources]:
    """Change the props of the index-th resource of a type (on a deep copy)."""
    def apply(rs: Resources) -> Resources:
        out, seen = [], 0
        for r in rs:
            if r.type == type_:
                if seen == index:
                    props = copy.deepcopy(dict(r.props))
                    change(props)
                    r = replace(r, props=props)
                seen += 1
            out.append(r)
        if seen <= index:
            raise ValueError(f"the clean manifest has no {type_} #{index}")
        return out
    return apply


def _add(type_: str, name: str, props: dict[str, Any]) -> Callable[[Resources], Resources]:
    def apply(rs: Resources) -> Resources:
        region = next((r.provider_region for r in rs if r.provider_region), None)
        return [*rs, Resource(type_, name, props, id=f"{name}-id", provider_region=region, protect=False)]
    return apply


def _drop(type_: str) -> Callable[[Resources], Resources]:
    def apply(rs: Resources) -> Resources:
        first = next(i for i, r in enumerate(rs) if r.type == type_)
        return rs[:first] + rs[first + 1:]
    return apply


def _retarget(region: str) -> Callable[[Resources], Resources]:
    def apply(rs: Resources) -> Resources:
        return [replace(r, provider_region=region) if r.provider_region else r for r in rs]
    return apply


def _unprotect(type_: str) -> Callable[[Resources], Resources]:
    def apply(rs: Resources) -> Resources:
        return [replace(r, protect=False) if r.type == type_ else r for r in rs]
    return apply


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(p: dict[str, Any]) -> None:
        p[key] = value
    return change


def _delete(key: str) -> Callable[[dict[str, Any]], None]:
    def change(p: dict[str, Any]) -> None:
        p.pop(key, None)
    return change


def _user_data(text: str) -> Callable[[dict[str, Any]], None]:
    return _set("userData", base64.b64encode(text.encode()).decode())


LT = "aws:ec2/launchTemplate:LaunchTemplate"
SG = "aws:ec2/securityGroup:SecurityGroup"
VPCE = "aws:ec2/vpcEndpoint:VpcEndpoint"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OPEN_POLICY = json.dumps({"Statement": [{"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "*",
                                          "Resource": "*"}]})


def _ebs_unencrypted(p: dict[str, Any]) -> None:
    p["blockDeviceMappings"][0]["ebs"]["encrypted"] = "false"


def _public_nic(p: dict[str, Any]) -> None:
    p["networkInterfaces"][0]["associatePublicIpAddress"] = "true"


def _aes256(p: dict[str, Any]) -> None:
    p["rules"][0]["applyServerSideEncryptionByDefault"] = {"sseAlgorithm": "AES256"}


def _no_efa_egress(p: dict[str, Any]) -> None:
    p["egress"] = [r for r in p["egress"] if r.get("protocol") != "-1"]


def _efa_sg_index(rs: Resources) -> int:
    sgs = [r for r in rs if r.type == SG]
    return next(i for i, r in enumerate(sgs) if "EFA" in str(r.props.get("description")))


def _break_efa_sg(rs: Resources) -> Resources:
    return _edit(SG, _no_efa_egress, _efa_sg_index(rs))(rs)


# -- endpoint policies: mutate whatever perimeter the clean factory's first endpoint carries ------------------

PERIMETER_KEYS = ("aws:ResourceAccount", "aws:ResourceOrgID")


def _policy_edit(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    """Edit an endpoint's policy document (JSON text in, JSON text out)."""
    def change(p: dict[str, Any]) -> None:
        doc = json.loads(p["policy"])
        edit(doc)
        p["policy"] = json.dumps(doc)
    return change


def _conditioned(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The Allow statements that carry a resource perimeter condition."""
    return [s for s in doc["Statement"] if s.get("Effect") == "Allow"
            and any(k in (s.get("Condition") or {}).get("StringEquals", {}) for k in PERIMETER_KEYS)]


def _drop_resource_perimeter(doc: dict[str, Any]) -> None:
    for s in _conditioned(doc):
        for k in PERIMETER_KEYS:
            s["Condition"]["StringEquals"].pop(k, None)


def _resource_perimeter_if_exists(doc: dict[str, Any]) -> None:
    for s in _conditioned(doc):
        eq = s["Condition"]["StringEquals"]
        s["Condition"]["StringEqualsIfExists"] = {k: eq.pop(k) for k in PERIMETER_KEYS if k in eq}


def _foreign_resource_account(doc: dict[str, Any]) -> None:
    for s in _conditioned(doc):
        eq = s["Condition"]["StringEquals"]
        for k in PERIMETER_KEYS:
            eq.pop(k, None)
        eq["aws:ResourceAccount"] = "999988887777"


def _aws_owned_statement(resources: list[str]) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        who = next(s["Condition"] for s in doc["Statement"] if s.get("Effect") == "Allow" and s.get("Condition"))
        principal = {k: v for k, v in who["StringEquals"].items() if k.startswith("aws:Principal")}
        doc["Statement"].append({"Sid": "AwsOwned", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                 "Resource": resources, "Condition": {"StringEquals": principal}})
    return edit


def _any_service(doc: dict[str, Any]) -> None:
    doc["Statement"].append({"Sid": "AwsServices", "Effect": "Allow", "Principal": "*", "Action": "*",
                             "Resource": "*", "Condition": {"Bool": {"aws:PrincipalIsAWSService": "true"}}})


def _not_resource(doc: dict[str, Any]) -> None:
    s = _conditioned(doc)[0]
    s["NotResource"] = "arn:aws:s3:::aif-logs-*"
    s.pop("Resource", None)


# -- organisation SCPs -----------------------------------------------------------------------------------------

SCP = "aws:organizations/policy:Policy"
SCP_ATTACHMENT = "aws:organizations/policyAttachment:PolicyAttachment"


def _scp_edit(label: str, edit: Callable[[dict[str, Any]], None]) -> Callable[[Resources], Resources]:
    """Edit the content of the org program's SCP named ``*-<label>``."""
    def change(p: dict[str, Any]) -> None:
        doc = json.loads(p["content"])
        edit(doc)
        p["content"] = json.dumps(doc)

    def apply(rs: Resources) -> Resources:
        scps = [r for r in rs if r.type == SCP]
        index = next(i for i, r in enumerate(scps) if str(r.props.get("name", "")).endswith(f"-{label}"))
        return _edit(SCP, change, index)(rs)
    return apply


def _region_statement(doc: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in doc["Statement"] if "NotAction" in s)


def _exempt_by_pattern(doc: dict[str, Any]) -> None:
    cond = _region_statement(doc)["Condition"]
    arn = cond.pop("ArnNotEquals")["aws:PrincipalArn"]
    cond["ArnNotLike"] = {"aws:PrincipalArn": arn.rsplit("/", 1)[0] + "/aif-deployer*"}


def _exempt(action: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        _region_statement(doc)["NotAction"].append(action)
    return edit


def _spare(region: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        _region_statement(doc)["Condition"]["StringNotEquals"]["aws:RequestedRegion"].append(region)
    return edit


def _allow_action(action: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        for s in doc["Statement"]:
            if isinstance(s.get("Action"), list) and action in s["Action"]:
                s["Action"].remove(action)
            elif s.get("Action") == action:
                s["Action"] = "ec2:DescribeVpcs"
    return edit


def _drop_statement(sid: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") != sid]
    return edit


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("allowed-region", "the provider deploys to us-east-1", _retarget("us-east-1")),
    Mutation("allowed-region", "the guardrail is created in us-west-2",
             _edit("aws:bedrock/guardrail:Guardrail", _set("region", "us-west-2"))),
    Mutation("allowed-region", "an endpoint reaches a service in us-east-1",
             _edit(VPCE, _set("serviceRegion", "us-east-1"))),
    Mutation("no-internet-path", "an internet gateway", _add("aws:ec2/internetGateway:InternetGateway", "igw", {})),
    Mutation("no-internet-path", "a NAT gateway", _add("aws:ec2/natGateway:NatGateway", "nat", {"subnetId": "x"})),
    Mutation("no-internet-path", "an egress-only gateway",
             _add("aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway", "eigw", {"vpcId": "x"})),
    Mutation("no-internet-path", "a VPC peering", _add("aws:ec2/vpcPeeringConnection:VpcPeeringConnection", "peer",
                                                       {"vpcId": "x", "peerVpcId": "y"})),
    Mutation("no-internet-path", "an Elastic IP", _add("aws:ec2/eip:Eip", "eip", {"domain": "vpc"})),
    Mutation("no-internet-path", "a subnet that maps public IPs",
             _edit("aws:ec2/subnet:Subnet", _set("mapPublicIpOnLaunch", True))),
    Mutation("no-internet-path", "a default route to an internet gateway",
             _edit("aws:ec2/routeTable:RouteTable",
                   _set("routes", [{"cidrBlock": "0.0.0.0/0", "gatewayId": "igw-1"}]))),
    Mutation("no-internet-path", "a launch template asking for a public IP", _edit(LT, _public_nic)),
    Mutation("no-internet-path", "the default VPC", _add("aws:ec2/defaultVpc:DefaultVpc", "default", {})),
    Mutation("no-internet-path", "a Global Accelerator",
             _add("aws:globalaccelerator/accelerator:Accelerator", "ga", {"name": "ga", "enabled": True})),
    Mutation("no-internet-path", "a subnet mapping customer-owned IPs (Outpost CoIP)",
             _edit("aws:ec2/subnet:Subnet", _set("mapCustomerOwnedIpOnLaunch", True))),
    Mutation("no-internet-path", "a route to a transit gateway",
             _edit("aws:ec2/routeTable:RouteTable", _set("routes", [{"cidrBlock": "172.16.0.0/12",
                                                                      "transitGatewayId": "tgw-1"}]))),
    Mutation("no-internet-path", "a route to the Outpost local gateway",
             _add("aws:ec2/route:Route", "to-lgw", {"routeTableId": "rtb-1", "destinationCidrBlock": "192.168.0.0/16",
                                                    "localGatewayId": "lgw-1"})),
    Mutation("no-external-network", "a virtual private gateway (VPN)",
             _add("aws:ec2/vpnGateway:VpnGateway", "vgw", {"vpcId": "x"})),
    Mutation("no-external-network", "a site-to-site VPN connection",
             _add("aws:ec2/vpnConnection:VpnConnection", "vpn", {"customerGatewayId": "cgw-1", "type": "ipsec.1"})),
    Mutation("no-external-network", "a customer gateway",
             _add("aws:ec2/customerGateway:CustomerGateway", "cgw", {"bgpAsn": "65000", "type": "ipsec.1"})),
    Mutation("no-external-network", "a transit gateway",
             _add("aws:ec2transitgateway/transitGateway:TransitGateway", "tgw", {})),
    Mutation("no-external-network", "a transit gateway VPC attachment",
             _add("aws:ec2transitgateway/vpcAttachment:VpcAttachment", "tgw-att",
                  {"transitGatewayId": "tgw-1", "vpcId": "x", "subnetIds": ["y"]})),
    Mutation("no-external-network", "a Direct Connect gateway",
             _add("aws:directconnect/gateway:Gateway", "dxgw", {"name": "dx", "amazonSideAsn": "64512"})),
    Mutation("no-external-network", "an accepted hosted Direct Connect interface",
             _add("aws:directconnect/hostedPrivateVirtualInterfaceAccepter:HostedPrivateVirtualInterfaceAccepter",
                  "dxvif", {"virtualInterfaceId": "dxvif-1", "vpnGatewayId": "vgw-1"})),
    Mutation("no-external-network", "a Client VPN endpoint",
             _add("aws:ec2clientvpn/endpoint:Endpoint", "cvpn", {"clientCidrBlock": "10.200.0.0/16"})),
    Mutation("no-external-network", "an endpoint to a third-party PrivateLink service",
             _edit(VPCE, _set("serviceName", "com.amazonaws.vpce.eu-central-1.vpce-svc-0123456789abcdef0"))),
    Mutation("no-external-network", "a Gateway Load Balancer endpoint",
             _edit(VPCE, _set("vpcEndpointType", "GatewayLoadBalancer"))),
    Mutation("no-external-network", "a Route 53 Resolver outbound endpoint",
             _add("aws:route53/resolverEndpoint:ResolverEndpoint", "dns-out",
                  {"direction": "OUTBOUND", "securityGroupIds": ["sg-1"]})),
    Mutation("no-external-network", "a FORWARD resolver rule",
             _add("aws:route53/resolverRule:ResolverRule", "fwd",
                  {"domainName": "example.com", "ruleType": "FORWARD", "targetIps": [{"ip": "192.0.2.1"}]})),
    Mutation("no-external-network", "a resolver rule shared from another account, associated",
             _add("aws:route53/resolverRuleAssociation:ResolverRuleAssociation", "rra",
                  {"resolverRuleId": "rslvr-rr-1", "vpcId": "x"})),
    Mutation("no-external-network", "an Outpost local-gateway route",
             _add("aws:ec2/localGatewayRoute:LocalGatewayRoute", "lgw-route",
                  {"destinationCidrBlock": "0.0.0.0/0", "localGatewayRouteTableId": "lgw-rtb-1",
                   "localGatewayVirtualInterfaceGroupId": "lgw-vif-grp-1"})),
    Mutation("no-external-network", "a VPC Lattice service network association",
             _add("aws:vpclattice/serviceNetworkVpcAssociation:ServiceNetworkVpcAssociation", "lattice",
                  {"serviceNetworkIdentifier": "sn-1", "vpcIdentifier": "x"})),
    Mutation("no-external-network", "a Cloud WAN VPC attachment",
             _add("aws:networkmanager/vpcAttachment:VpcAttachment", "cwan",
                  {"coreNetworkId": "core-network-1", "subnetArns": ["y"], "vpcArn": "x"})),
    Mutation("sagemaker-no-internet", "a Studio domain on PublicInternetOnly",
             _edit("aws:sagemaker/domain:Domain", _set("appNetworkAccessType", "PublicInternetOnly"))),
    Mutation("sagemaker-no-internet", "a Studio domain on the default network mode",
             _edit("aws:sagemaker/domain:Domain", _delete("appNetworkAccessType"))),
    Mutation("sagemaker-no-internet", "a notebook instance with direct internet access",
             _add("aws:sagemaker/notebookInstance:NotebookInstance", "nb",
                  {"instanceType": "ml.t3.medium", "roleArn": "r", "kmsKeyId": "arn:aws:kms:eu-central-1:0:key/k"})),
    Mutation("sagemaker-no-internet", "a model outside the VPC without network isolation",
             _add("aws:sagemaker/model:Model", "open-model", {"executionRoleArn": "r",
                                                              "primaryContainer": {"image": "i"}})),
    Mutation("customer-managed-encryption", "a log group without the key",
             _edit("aws:cloudwatch/logGroup:LogGroup", _delete("kmsKeyId"))),
    Mutation("customer-managed-encryption", "the file system on the AWS-managed key",
             _edit("aws:fsx/lustreFileSystem:LustreFileSystem", _set("kmsKeyId", "alias/aws/fsx"))),
    Mutation("customer-managed-encryption", "an unencrypted root volume", _edit(LT, _ebs_unencrypted)),
    Mutation("customer-managed-encryption", "a bucket on SSE-S3 (AES256)", _edit(SSE, _aes256)),
    Mutation("customer-managed-encryption", "a SageMaker domain without the key",
             _edit("aws:sagemaker/domain:Domain", _delete("kmsKeyId"))),
    Mutation("customer-managed-encryption", "a guardrail without the key",
             _edit("aws:bedrock/guardrail:Guardrail", _delete("kmsKeyArn"))),
    Mutation("customer-managed-encryption", "an unencrypted EBS volume",
             _add("aws:ebs/volume:Volume", "scratch", {"availabilityZone": "x", "size": 100, "encrypted": False})),
    Mutation("customer-managed-encryption", "the key's rotation off",
             _edit("aws:kms/key:Key", _set("enableKeyRotation", False))),
    Mutation("bucket-encryption-configured", "a bucket without default encryption", _drop(SSE)),
    Mutation("public-access-blocked", "a public access block with a flag off",
             _edit(PAB, _set("blockPublicPolicy", False))),
    Mutation("public-access-blocked", "a bucket policy open to anyone",
             _edit("aws:s3/bucketPolicy:BucketPolicy", _set("policy", OPEN_POLICY))),
    Mutation("bucket-public-access-block", "a bucket without a public access block", _drop(PAB)),
    Mutation("no-cross-region-inference", "a guardrail with cross-region config",
             _edit("aws:bedrock/guardrail:Guardrail", _set("crossRegionConfig", {"guardrailProfileIdentifier": "eu"}))),
    Mutation("no-cross-region-inference", "provisioned throughput on a cross-region profile",
             _edit("aws:bedrock/provisionedModelThroughput:ProvisionedModelThroughput",
                   _set("modelArn", "arn:aws:bedrock:eu-central-1::inference-profile/"
                                    "eu.meta.llama3-3-70b-instruct-v1:0"))),
    Mutation("no-cross-region-inference", "an application profile copied from a global profile",
             _add("aws:bedrock/inferenceProfile:InferenceProfile", "app-profile",
                  {"name": "app", "modelSource": {"copyFrom": "arn:aws:bedrock:eu-central-1:000000000000:"
                                                               "inference-profile/global.anthropic.claude-v4"}})),
    Mutation("imdsv2-required", "IMDSv1 left open", _edit(LT, _set("metadataOptions", {"httpTokens": "optional"}))),
    Mutation("user-data-in-region", "user data downloading the EFA installer from the internet",
             _edit(LT, _user_data("#!/bin/bash\n"
                                  "curl -O https://efa-installer.amazonaws.com/aws-efa-installer.tar.gz\n"))),
    Mutation("user-data-in-region", "user data copying from a bucket in us-west-2",
             _edit(LT, _user_data("#!/bin/bash\naws s3 cp s3://samples/setup.sh . --region us-west-2\n"))),
    Mutation("efa-security-group", "the EFA group loses its self egress rule", _break_efa_sg),
    Mutation("endpoint-policy", "an endpoint without a policy", _edit(VPCE, _delete("policy"))),
    Mutation("endpoint-policy", "an endpoint policy that is not JSON", _edit(VPCE, _set("policy", "{Allow all"))),
    Mutation("endpoint-perimeter", "an endpoint policy open to anyone", _edit(VPCE, _set("policy", OPEN_POLICY))),
    Mutation("endpoint-perimeter", "only who calls is checked, not whose resource (the old policy)",
             _edit(VPCE, _policy_edit(_drop_resource_perimeter))),
    Mutation("endpoint-perimeter", "the resource perimeter as StringEqualsIfExists (requests without it pass)",
             _edit(VPCE, _policy_edit(_resource_perimeter_if_exists))),
    Mutation("endpoint-perimeter", "the factory's roles may write to another account's resources",
             _edit(VPCE, _policy_edit(_foreign_resource_account))),
    Mutation("endpoint-perimeter", "an 'AWS-owned' statement listing someone's bucket",
             _edit(VPCE, _policy_edit(_aws_owned_statement(["arn:aws:s3:::exfil-bucket/*"])))),
    Mutation("endpoint-perimeter", "an 'AWS-owned' statement with a wildcard bucket name",
             _edit(VPCE, _policy_edit(_aws_owned_statement(["arn:aws:s3:::prod-*-starport-layer-bucket/*"])))),
    Mutation("endpoint-perimeter", "an AWS-owned bucket of another region",
             _edit(VPCE, _policy_edit(_aws_owned_statement(["arn:aws:s3:::prod-us-east-1-starport-layer-bucket/*"])))),
    Mutation("endpoint-perimeter", "any AWS service principal to any resource",
             _edit(VPCE, _policy_edit(_any_service))),
    Mutation("endpoint-perimeter", "an Allow with NotResource", _edit(VPCE, _policy_edit(_not_resource))),
    Mutation("stateful-protected", "the file system unprotected",
             _unprotect("aws:fsx/lustreFileSystem:LustreFileSystem")),
    Mutation("scp-attached", "an SCP created but attached to nothing", _drop(SCP_ATTACHMENT)),
    Mutation("scp-without-holes", "the deployer exempt by name pattern (aif-deployer*)",
             _scp_edit("regions", _exempt_by_pattern)),
    Mutation("scp-without-holes", "all of IAM exempt from the region deny", _scp_edit("regions", _exempt("iam:*"))),
    Mutation("scp-without-holes", "CloudFront exempt from the region deny",
             _scp_edit("regions", _exempt("cloudfront:*"))),
    Mutation("scp-without-holes", "the region deny spares us-east-1 too", _scp_edit("regions", _spare("us-east-1"))),
    Mutation("scp-complete", "the egress SCP lets VPN connections through",
             _scp_edit("no-egress", _allow_action("ec2:CreateVpnConnection"))),
    Mutation("scp-complete", "the egress SCP lets Direct Connect through",
             _scp_edit("no-egress", _allow_action("directconnect:*"))),
    Mutation("scp-complete", "no SCP denies third-party PrivateLink endpoints",
             _scp_edit("no-egress", _drop_statement("DenyNonAwsEndpointServices"))),
    Mutation("scp-complete", "no SCP denies notebooks with direct internet access",
             _scp_edit("data", _drop_statement("DenyNotebookDirectInternet"))),
    Mutation("scp-complete", "no region deny", _scp_edit("regions", _drop_statement("DenyOutsideAllowedRegions"))),
)


# -- the policy pack, called as the engine calls it ------------------------------------------------------


def _policy_args(r: Resource, config: dict[str, Any]) -> ResourceValidationArgs:
    provider = (PolicyProviderResource("pulumi:providers:aws", {"region": r.provider_region}, "urn:provider", "aws")
                if r.provider_region else None)
    opts = PolicyResourceOptions(bool(r.protect), [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    return ResourceValidationArgs(r.type, dict(r.props), f"urn:{r.type}::{r.name}", r.name, opts, provider, config)


def _stack_args(rs: Resources, config: dict[str, Any]) -> StackValidationArgs:
    items = []
    for r in rs:
        props = {**r.props, "id": r.id} if r.id else dict(r.props)
        provider = (PolicyProviderResource("pulumi:providers:aws", {"region": r.provider_region}, "urn:provider", "aws")
                    if r.provider_region else None)
        opts = PolicyResourceOptions(bool(r.protect), [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
        items.append(PolicyResource(r.type, props, f"urn:{r.type}::{r.name}", r.name, opts, provider, None, [], {}))
    return StackValidationArgs(items, config)


def pack_messages(rs: Resources, allowed_regions: tuple[str, ...]) -> dict[str, list[str]]:
    """Every message each pack policy reports over the resources."""
    config = {"allowedRegions": list(allowed_regions)}
    found: dict[str, list[str]] = {}
    for policy in policies():
        messages: list[str] = []

        def report(message: str, urn: str | None = None, sink: list[str] = messages) -> None:
            sink.append(message)

        if isinstance(policy, StackValidationPolicy):
            policy.validate(_stack_args(rs, config), report)
        else:
            for r in rs:
                policy.validate(_policy_args(r, config), report)
        found[policy.name] = messages
    return found


def plan_messages(rs: Resources, allowed_regions: tuple[str, ...]) -> dict[str, list[str]]:
    report = check_all(rs, Context(allowed_regions))
    out: dict[str, list[str]] = {r.name: [] for r in RULES}
    for v in report.violations:
        out[v.rule].append(v.message)
    return out


@dataclass(frozen=True)
class Outcome:
    mutation: Mutation
    caught_by_plan: bool
    caught_by_pack: bool
    same_messages: bool


def run(clean: Resources, allowed_regions: tuple[str, ...]) -> tuple[list[Outcome], bool]:
    """Every mutation's outcome, and whether the clean factory passes both enforcers."""
    clean_ok = not any(plan_messages(clean, allowed_regions).values()) and \
        not any(pack_messages(clean, allowed_regions).values())
    outcomes = []
    for m in MUTATIONS:
        broken = m.apply(clean)
        plan = plan_messages(broken, allowed_regions)
        pack = pack_messages(broken, allowed_regions)
        same = sorted(plan[m.rule]) == sorted(pack[m.rule])
        outcomes.append(Outcome(m, bool(plan[m.rule]), bool(pack[m.rule]), same))
    return outcomes, clean_ok


def main() -> int:
    from infra.offline import run_offline
    from infra.organization.program import run_org_offline
    from infra.organization.settings import load_org_stack_file
    from infra.settings import PROJECT, parse_settings

    settings = parse_settings({f"{PROJECT}:forecast": str(ROOT / "examples" / "national.yaml"),
                               "aws:region": "eu-central-1", f"{PROJECT}:samples": 500,
                               f"{PROJECT}:buildYear": 2028}, "mutations")
    manifest = run_offline(settings)
    org = run_org_offline(load_org_stack_file(ROOT / "org" / "Pulumi.example.yaml"))
    outcomes, clean_ok = run(manifest.rule_resources() + org, settings.regions)
    for o in outcomes:
        flag = "ok " if o.caught_by_plan and o.caught_by_pack and o.same_messages else "MISSED"
        print(f"{flag} {o.mutation.rule:<30} {o.mutation.what}")
    caught = sum(o.caught_by_plan and o.caught_by_pack and o.same_messages for o in outcomes)
    print(f"\nrules: {len(RULES)}, violations tried: {len(outcomes)}, caught by both the policy pack and "
          f"aifactory plan (same messages): {caught}; clean factory passes: {clean_ok}")
    return 0 if caught == len(outcomes) and clean_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
