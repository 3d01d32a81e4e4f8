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


@dataclass
class NetworkArgs:
    blueprint: Blueprint
    zones: pulumi.Input[list[str]]
    account_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    organization_id: str | None = None
    outpost_arn: str | None = None


def endpoint_policy(account_id: pulumi.Input[str], organization_id: str | None) -> pulumi.Output[str]:
    """Only principals of the account (or organisation) and AWS services may use the endpoint."""

    def build(acct: str) -> dict[str, Any]:
        who = ({"StringEquals": {"aws:PrincipalOrgID": organization_id}} if organization_id
               else {"StringEquals": {"aws:PrincipalAccount": acct}})
        return {"Version": "2012-10-17", "Statement": [
            {"Sid": "OwnPrincipals", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
             "Condition": who},
            {"Sid": "AwsServices", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
             "Condition": {"Bool": {"aws:PrincipalIsAWSService": "true"}}},
        ]}

    return policy_json(account_id, build=build)


class Network(pulumi.ComponentResource):
    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aifactory:network:Network", name, None, opts)
        bp = args.blueprint
        zones = pulumi.Output.from_input(args.zones)

        self.vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=bp.vpc_blocks[0], enable_dns_support=True,
                               enable_dns_hostnames=True, tags={"Name": f"{bp.name}-vpc"}, opts=child(self))
        blocks: list[pulumi.Resource] = [self.vpc]
        for i, cidr in enumerate(bp.vpc_blocks[1:], start=1):
            blocks.append(aws.ec2.VpcIpv4CidrBlockAssociation(f"{name}-block-{i:02d}", vpc_id=self.vpc.id,
                                                                cidr_block=cidr, opts=child(self)))
        self.route_table = aws.ec2.RouteTable(f"{name}-private", vpc_id=self.vpc.id,
                                              tags={"Name": f"{bp.name}-private"}, opts=child(self))

        def subnet(label: str, cidr: str, zone_index: int, block: int, outpost: str | None) -> aws.ec2.Subnet:
            sn = aws.ec2.Subnet(
                f"{name}-{label}", vpc_id=self.vpc.id, cidr_block=cidr,
                availability_zone=zones.apply(lambda z, i=zone_index: z[i % len(z)]),
                map_public_ip_on_launch=False, assign_ipv6_address_on_creation=False,
                outpost_arn=outpost, tags={"Name": f"{bp.name}-{label}"},
                opts=child(self, depends_on=[blocks[block]]))
            aws.ec2.RouteTableAssociation(f"{name}-{label}-rt", subnet_id=sn.id, route_table_id=self.route_table.id,
                                          opts=child(self))
            return sn

        # on a customer site (Outpost / AI Factory) only the pods sit on the site's racks; endpoints, FSx and
        # SageMaker stay in the anchor zone of the region (interface endpoints cannot live on an Outpost)
        self.service_subnets = [subnet(f"services-{i}", c, i, 0, None) for i, c in enumerate(bp.service_subnets)]
        self.pod_subnets = {g.name: subnet(g.name, g.subnet_cidr, g.zone_index, g.vpc_block, args.outpost_arn)
                            for g in bp.pod_groups}
        cidrs = list(bp.vpc_blocks)

        # EFA traffic is neither IPv4 nor IPv6: it needs an all-protocol rule to and from the group itself
        self.efa_sg = aws.ec2.SecurityGroup(
            f"{name}-efa", vpc_id=self.vpc.id, description="EFA pods: all traffic within the group only",
            ingress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "self": True,
                      "description": "EFA and collectives from the group"}],
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "self": True,
                     "description": "EFA and collectives to the group"},
                    {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": cidrs,
                     "description": "AWS APIs through the VPC's interface endpoints"}],
            tags={"Name": f"{bp.name}-efa"}, opts=child(self))
        self.endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints", vpc_id=self.vpc.id, description="Interface endpoints: HTTPS from the VPC only",
            ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": cidrs,
                      "description": "HTTPS from the factory"}],
            egress=[], tags={"Name": f"{bp.name}-endpoints"}, opts=child(self))

        policy = endpoint_policy(args.account_id, args.organization_id)
        service_ids = [s.id for s in self.service_subnets]
        self.endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        for service in INTERFACE_ENDPOINTS:
            found = aws.ec2.get_vpc_endpoint_service_output(service=service, service_type="Interface",
                                                            opts=pulumi.InvokeOptions(parent=self))
            # only the zones the service is offered in
            subnets = pulumi.Output.all(found.availability_zones, zones, *service_ids).apply(
                lambda v: [sid for z, sid in zip(v[1], v[2:], strict=False) if not v[0] or z in v[0]])
            self.endpoints[service] = aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}", vpc_id=self.vpc.id, service_name=found.service_name,
                vpc_endpoint_type="Interface", private_dns_enabled=True, subnet_ids=subnets,
                security_group_ids=[self.endpoint_sg.id], policy=policy, opts=child(self))
        for service in GATEWAY_ENDPOINTS:
            found = aws.ec2.get_vpc_endpoint_service_output(service=service, service_type="Gateway",
                                                            opts=pulumi.InvokeOptions(parent=self))
            self.endpoints[service] = aws.ec2.VpcEndpoint(
                f"{name}-{service}", vpc_id=self.vpc.id, service_name=found.service_name,
                vpc_endpoint_type="Gateway", route_table_ids=[self.route_table.id], policy=policy, opts=child(self))

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
        self.register_outputs({
            "vpc_id": self.vpc.id,
            "service_subnet_ids": service_ids,
            "pod_subnet_ids": {k: v.id for k, v in self.pod_subnets.items()},
            "efa_security_group_id": self.efa_sg.id,
            "endpoints": {k: v.id for k, v in self.endpoints.items()},
        })
