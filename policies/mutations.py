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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
    Mutation("endpoint-policy", "an endpoint policy open to anyone", _edit(VPCE, _set("policy", OPEN_POLICY))),
    Mutation("stateful-protected", "the file system unprotected",
             _unprotect("aws:fsx/lustreFileSystem:LustreFileSystem")),
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
    from infra.settings import PROJECT, parse_settings

    settings = parse_settings({f"{PROJECT}:forecast": "examples/national.yaml", "aws:region": "eu-central-1",
                               f"{PROJECT}:samples": 500, f"{PROJECT}:buildYear": 2028}, "mutations")
    manifest = run_offline(settings)
    outcomes, clean_ok = run(manifest.rule_resources(), settings.regions)
    for o in outcomes:
        flag = "ok " if o.caught_by_plan and o.caught_by_pack and o.same_messages else "MISSED"
        print(f"{flag} {o.mutation.rule:<30} {o.mutation.what}")
    caught = sum(o.caught_by_plan and o.caught_by_pack and o.same_messages for o in outcomes)
    print(f"\nrules: {len(RULES)}, violations tried: {len(outcomes)}, caught by both the policy pack and "
          f"aifactory plan (same messages): {caught}; clean factory passes: {clean_ok}")
    return 0 if caught == len(outcomes) and clean_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
