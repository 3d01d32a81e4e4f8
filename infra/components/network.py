"""The closed network: one VPC with private subnets only, EFA security group, interface endpoints.

There is no internet gateway, NAT, peering or public IP: every AWS API the factory calls is reached
through an interface endpoint (or the S3 gateway endpoint) whose policy admits only the account (or
organisation) and AWS services. Endpoint service names are resolved through EC2, never formatted, so
partitions such as the AWS European Sovereign Cloud work. VPC flow logs go to a log group encrypted
with the factory key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.blueprint import GATEWAY_ENDPOINTS, INTERFACE_ENDPOINTS, Blueprint
from infra.components.base import assume_role_policy, child, policy_json


def _https_out(cidrs: list[str], s3_prefix_list: pulumi.Output[str]) -> list[Any]:
    """The only egress a node group has besides its own group: HTTPS to the VPC's interface endpoints and
    to S3 through the gateway endpoint's prefix list."""
    return [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": cidrs,
             "description": "AWS APIs through the interface endpoints of the VPC"},
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "prefix_list_ids": [s3_prefix_list],
             "description": "S3 through the gateway endpoint"}]


@dataclass
class NetworkArgs:
    blueprint: Blueprint
    pod_zones: pulumi.Input[list[str]]
    service_zones: pulumi.Input[list[str]]
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    organization_id: str | None = None
    outpost_arn: str | None = None
    local_gateway_route_table_id: str | None = None
    on_site_cidrs: tuple[str, ...] = ()  # the customer's declared on-site networks (StackSettings.on_site_cidrs)


def aws_owned_resources(service: str, partition: str, region: str,
                        model_ids: tuple[str, ...]) -> list[tuple[str, list[str], list[str]]]:
    """AWS-owned resources the factory reaches through an endpoint: (Sid, actions, exact ARNs in the region).

    S3: ECR's image-layer bucket (docker pulls from the factory's own ECR) and the SSM Agent's buckets,
    as in aws-samples/data-perimeter-policy-examples vpc_endpoint_policies/s3_endpoint_policy.json
    ("AllowRequestsToAWSOwnedResources"). Bedrock: the foundation models the plan serves (they belong to
    no account, so aws:ResourceAccount cannot match them). Note: that AWS example gives the AWS-owned
    S3 statement no principal condition (ECR presigns its layer URLs); here it keeps the principal
    perimeter, which infra/rules.py requires today: if image pulls fail on layer downloads, that
    condition is the one to drop for the S3 statement.
    """
    if service == "s3":
        return [("AwsOwnedBuckets", ["s3:GetObject"], [
            f"arn:{partition}:s3:::prod-{region}-starport-layer-bucket/*",
            f"arn:{partition}:s3:::aws-ssm-{region}/*", f"arn:{partition}:s3:::amazon-ssm-{region}/*",
            f"arn:{partition}:s3:::amazon-ssm-packages-{region}/*", f"arn:{partition}:s3:::{region}-birdwatcher-prod/*",
            f"arn:{partition}:s3:::aws-ssm-document-attachments-{region}/*",
            f"arn:{partition}:s3:::patch-baseline-snapshot-{region}/*"])]
    if service in ("bedrock", "bedrock-runtime") and model_ids:
        return [("FoundationModels", ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream",
                                      "bedrock:GetFoundationModel", "bedrock:CreateProvisionedModelThroughput"],
                 [f"arn:{partition}:bedrock:{region}::foundation-model/{m}" for m in model_ids])]
    return []


def endpoint_policy(service: str, account_id: pulumi.Input[str], partition: pulumi.Input[str], region: str,
                    organization_id: str | None, model_ids: tuple[str, ...] = ()) -> pulumi.Output[str]:
    """Only the account's (or organisation's) principals, on the account's (or organisation's) resources.

    Every Allow carries a principal perimeter (aws:PrincipalAccount / aws:PrincipalOrgID) and a resource
    perimeter (aws:ResourceAccount / aws:ResourceOrgID): through the S3 endpoint a factory role cannot
    write to another account's bucket. AWS-owned resources a service needs get their own statements
    naming the exact ARNs in the factory's region (see :func:`aws_owned_resources`), still only for the
    account's (or organisation's) principals.
    """

    def build(acct: str, part: str) -> dict[str, Any]:
        who = ({"aws:PrincipalOrgID": organization_id} if organization_id else {"aws:PrincipalAccount": acct})
        whose = ({"aws:ResourceOrgID": organization_id} if organization_id else {"aws:ResourceAccount": acct})
        statements: list[dict[str, Any]] = [
            {"Sid": "OwnPrincipalsOwnResources", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
             "Condition": {"StringEquals": {**who, **whose}}}]
        for sid, actions, arns in aws_owned_resources(service, part, region, model_ids):
            statements.append({"Sid": sid, "Effect": "Allow", "Principal": "*", "Action": actions,
                               "Resource": arns, "Condition": {"StringEquals": who}})
        return {"Version": "2012-10-17", "Statement": statements}

    return policy_json(account_id, partition, build=build)


class Network(pulumi.ComponentResource):
    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aifactory:network:Network", name, None, opts)
        bp = args.blueprint
        pod_zones = pulumi.Output.from_input(args.pod_zones)
        service_zones = pulumi.Output.from_input(args.service_zones)

        self.vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=bp.vpc_blocks[0], enable_dns_support=True,
                               enable_dns_hostnames=True, tags={"Name": f"{bp.name}-vpc"}, opts=child(self))
        blocks: list[pulumi.Resource] = [self.vpc]
        for i, cidr in enumerate(bp.vpc_blocks[1:], start=1):
            blocks.append(aws.ec2.VpcIpv4CidrBlockAssociation(f"{name}-block-{i:02d}", vpc_id=self.vpc.id,
                                                                cidr_block=cidr, opts=child(self)))
        self.route_table = aws.ec2.RouteTable(f"{name}-private", vpc_id=self.vpc.id,
                                              tags={"Name": f"{bp.name}-private"}, opts=child(self))

        def subnet(label: str, cidr: str, zones: pulumi.Output[list[str]], zone_index: int, block: int,
                   outpost: str | None) -> aws.ec2.Subnet:
            sn = aws.ec2.Subnet(
                f"{name}-{label}", vpc_id=self.vpc.id, cidr_block=cidr,
                availability_zone=zones.apply(lambda z, i=zone_index: z[i]),
                map_public_ip_on_launch=False, assign_ipv6_address_on_creation=False,
                outpost_arn=outpost, tags={"Name": f"{bp.name}-{label}"},
                opts=child(self, depends_on=[blocks[block]]))
            aws.ec2.RouteTableAssociation(f"{name}-{label}-rt", subnet_id=sn.id, route_table_id=self.route_table.id,
                                          opts=child(self))
            return sn

        # on a customer site (Outpost / AI Factory) only the pods sit on the site's racks; endpoints, FSx and
        # SageMaker stay in the anchor zone of the region (interface endpoints cannot live on an Outpost)
        self.service_subnets = [subnet(f"services-{i}", c, service_zones, i, 0, None)
                                for i, c in enumerate(bp.service_subnets)]
        self.pod_subnets = {g.name: subnet(g.name, g.subnet_cidr, pod_zones, g.zone_index, g.vpc_block,
                                           args.outpost_arn) for g in bp.pod_groups}
        # the file system sits in the fabric zone; in a Dedicated Local Zone that is not a service zone
        self.fabric_subnet = (subnet("fabric-data", bp.fabric_subnet, pod_zones, 0, 0, None)
                              if bp.fabric_subnet else self.service_subnets[0])
        cidrs = list(bp.vpc_blocks)
        if args.local_gateway_route_table_id:
            self._local_gateway(name, args.local_gateway_route_table_id, args.on_site_cidrs)

        models = tuple(b.model_id for b in bp.bedrock)

        def policy(service: str) -> pulumi.Output[str]:
            return endpoint_policy(service, args.account_id, args.partition, bp.region, args.organization_id, models)

        self.endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        for service in GATEWAY_ENDPOINTS:
            found = aws.ec2.get_vpc_endpoint_service_output(service=service, service_type="Gateway",
                                                            opts=pulumi.InvokeOptions(parent=self))
            self.endpoints[service] = aws.ec2.VpcEndpoint(
                f"{name}-{service}", vpc_id=self.vpc.id, service_name=found.service_name,
                vpc_endpoint_type="Gateway", route_table_ids=[self.route_table.id], policy=policy(service),
                opts=child(self))
        s3_prefix_list = self.endpoints["s3"].prefix_list_id

        self._security_groups(name, bp, cidrs, s3_prefix_list)

        service_ids = [s.id for s in self.service_subnets]
        for service in INTERFACE_ENDPOINTS:
            found = aws.ec2.get_vpc_endpoint_service_output(service=service, service_type="Interface",
                                                            opts=pulumi.InvokeOptions(parent=self))
            # only the zones the service is offered in
            subnets = pulumi.Output.all(found.availability_zones, service_zones, *service_ids).apply(
                lambda v: [sid for z, sid in zip(v[1], v[2:], strict=False) if not v[0] or z in v[0]])
            self.endpoints[service] = aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}", vpc_id=self.vpc.id, service_name=found.service_name,
                vpc_endpoint_type="Interface", private_dns_enabled=True, subnet_ids=subnets,
                security_group_ids=[self.endpoint_sg.id], policy=policy(service), opts=child(self))

        self._flow_logs(name, bp, args)
        self.register_outputs({
            "vpc_id": self.vpc.id,
            "service_subnet_ids": service_ids,
            "pod_subnet_ids": {k: v.id for k, v in self.pod_subnets.items()},
            "efa_security_group_id": self.efa_sg.id,
            "endpoints": {k: v.id for k, v in self.endpoints.items()},
        })

    def _local_gateway(self, name: str, route_table_id: str, on_site_cidrs: tuple[str, ...]) -> None:
        """Outpost: the VPC joins the local gateway's route table, and the factory's route table sends each of the
        customer's declared on-site networks (and only those) to the local gateway: the customer's own LAN,
        never an internet path (infra/rules.py holds every local-gateway route to these networks)."""
        aws.ec2.LocalGatewayRouteTableVpcAssociation(
            f"{name}-local-gateway", local_gateway_route_table_id=route_table_id, vpc_id=self.vpc.id, opts=child(self))
        if not on_site_cidrs:
            return
        gateway = aws.ec2.get_local_gateway_route_table_output(local_gateway_route_table_id=route_table_id,
                                                               opts=pulumi.InvokeOptions(parent=self))
        for i, cidr in enumerate(on_site_cidrs):
            aws.ec2.Route(f"{name}-on-site-{i}", route_table_id=self.route_table.id, destination_cidr_block=cidr,
                          local_gateway_id=gateway.local_gateway_id, opts=child(self))

    def _security_groups(self, name: str, bp: Blueprint, cidrs: list[str],
                         s3_prefix_list: pulumi.Output[str]) -> None:
        """EFA pods, SageMaker, and interface endpoints: all traffic within a group, HTTPS to the endpoints
        and to S3 through the gateway endpoint's prefix list, nothing else."""
        # EFA traffic is neither IPv4 nor IPv6: it needs an all-protocol rule to and from the group itself.
        # S3 (datasets, checkpoints, ECR layers) is reached through the gateway endpoint's prefix list.
        self.efa_sg = aws.ec2.SecurityGroup(
            f"{name}-efa", vpc_id=self.vpc.id, description="EFA pods: all traffic within the group only",
            ingress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "self": True,
                      "description": "EFA and collectives from the group"}],
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "self": True,
                     "description": "EFA and collectives to the group"},
                    *_https_out(cidrs, s3_prefix_list)],
            tags={"Name": f"{bp.name}-efa"}, opts=child(self))
        # SageMaker Studio apps and endpoints: HTTPS to the endpoints and S3, NFS to the Studio EFS, and the
        # Studio apps to each other (SageMaker developer guide, "Connect Studio notebooks in a VPC")
        self.services_sg = aws.ec2.SecurityGroup(
            f"{name}-sagemaker", vpc_id=self.vpc.id,
            description="SageMaker Studio and endpoints: HTTPS to the VPC endpoints and S3, NFS and apps within",
            ingress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "self": True,
                      "description": "Studio apps, EFS and endpoint instances within the group"}],
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "self": True,
                     "description": "Studio apps, EFS and endpoint instances within the group"},
                    *_https_out(cidrs, s3_prefix_list)],
            tags={"Name": f"{bp.name}-sagemaker"}, opts=child(self))
        self.endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints", vpc_id=self.vpc.id, description="Interface endpoints: HTTPS from the VPC only",
            ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": cidrs,
                      "description": "HTTPS from the factory"}],
            egress=[], tags={"Name": f"{bp.name}-endpoints"}, opts=child(self))

    def _flow_logs(self, name: str, bp: Blueprint, args: NetworkArgs) -> None:
        """VPC flow logs to a log group encrypted with the factory key."""
        flow_group = aws.cloudwatch.LogGroup(f"{name}-flow-logs", name=f"/{bp.name}/vpc-flow-logs",
                                             retention_in_days=365, kms_key_id=args.kms_key_arn, opts=child(self))
        flow_role = aws.iam.Role(f"{name}-flow-logs", assume_role_policy=assume_role_policy(
            "vpc-flow-logs.amazonaws.com", args.account_id), opts=child(self))
        aws.iam.RolePolicy(f"{name}-flow-logs", role=flow_role.id, policy=policy_json(
            flow_group.arn, build=lambda arn: {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [arn, f"{arn}:*"]}]}), opts=child(self))
        self.flow_log = aws.ec2.FlowLog(f"{name}-flow-log", vpc_id=self.vpc.id, traffic_type="ALL",
                                        log_destination_type="cloud-watch-logs", log_destination=flow_group.arn,
                                        iam_role_arn=flow_role.arn, max_aggregation_interval=60, opts=child(self))
