"""Account guardrails: CloudTrail, and organisation service control policies where the stack may set them.

CloudTrail logs every region's API calls (so an attempt outside the allowed regions is seen) to
the in-region logs bucket, encrypted with the factory key, with log-file validation. Where the stack
runs in the organisation's management account, three SCPs are attached to the configured target:
regions outside the allow-list are denied (global services exempt, the deployment role exempt); no
internet gateway, NAT gateway, egress-only gateway or VPC peering can be created; no instance or
volume can be created unencrypted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.base import child

GLOBAL_SERVICES = (
    "iam:*", "sts:*", "organizations:*", "route53:*", "route53domains:*", "support:*", "budgets:*", "ce:*",
    "health:*", "account:*", "cloudfront:*", "globalaccelerator:*", "waf:*", "shield:*", "trustedadvisor:*",
    "pricing:*", "aws-portal:*", "kms:ListAliases", "s3:ListAllMyBuckets", "s3:GetBucketLocation",
)
NETWORK_ESCAPES = (
    "ec2:CreateInternetGateway", "ec2:AttachInternetGateway", "ec2:CreateEgressOnlyInternetGateway",
    "ec2:CreateNatGateway", "ec2:CreateVpcPeeringConnection", "ec2:AcceptVpcPeeringConnection",
    "ec2:CreateCarrierGateway", "ec2:AssociateAddress", "globalaccelerator:*",
)


def region_scp(regions: tuple[str, ...], exempt_role_pattern: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyOutsideAllowedRegions", "Effect": "Deny", "NotAction": list(GLOBAL_SERVICES), "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:RequestedRegion": list(regions)},
                      "ArnNotLike": {"aws:PrincipalARN": exempt_role_pattern}}}]}


def network_scp() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInternetPaths", "Effect": "Deny", "Action": list(NETWORK_ESCAPES), "Resource": "*"}]}


def encryption_scp() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyUnencryptedVolumes", "Effect": "Deny", "Action": ["ec2:CreateVolume", "ec2:RunInstances"],
         "Resource": "arn:*:ec2:*:*:volume/*", "Condition": {"Bool": {"ec2:Encrypted": "false"}}},
    ]}


@dataclass
class GuardrailsArgs:
    name: str
    logs_bucket: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    trail_name: str
    regions: tuple[str, ...]
    organization_management: bool
    scp_target_id: str | None
    depends_on: list[pulumi.Resource]


class Guardrails(pulumi.ComponentResource):
    def __init__(self, name: str, args: GuardrailsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aifactory:security:Guardrails", name, None, opts)
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail", name=args.trail_name, s3_bucket_name=args.logs_bucket, s3_key_prefix="cloudtrail",
            kms_key_id=args.kms_key_arn, enable_log_file_validation=True, include_global_service_events=True,
            is_multi_region_trail=True, enable_logging=True, opts=child(self, depends_on=args.depends_on))
        self.policies: list[aws.organizations.Policy] = []
        if args.organization_management:
            docs = {
                "regions": region_scp(args.regions, f"arn:*:iam::*:role/{args.name}-deployer*"),
                "no-internet": network_scp(),
                "encryption": encryption_scp(),
            }
            for label, doc in docs.items():
                policy = aws.organizations.Policy(
                    f"{name}-scp-{label}", name=f"{args.name}-{label}", type="SERVICE_CONTROL_POLICY",
                    description=f"sovereign AI factory: {label}", content=json.dumps(doc, sort_keys=True),
                    opts=child(self))
                self.policies.append(policy)
                if args.scp_target_id:
                    aws.organizations.PolicyAttachment(f"{name}-scp-{label}", policy_id=policy.id,
                                                       target_id=args.scp_target_id, opts=child(self))
        self.register_outputs({"trail_arn": self.trail.arn, "scps": [p.id for p in self.policies]})
