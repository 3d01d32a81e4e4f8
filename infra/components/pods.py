"""Accelerator pods: per group of scale-up domains, the capacity, placement, launch template and ASG.

- Capacity follows the stack's capacity type. A Capacity Block gets no placement group (forcing one
  gives InsufficientInstanceCapacity). A targeted reservation is created inside the group's cluster
  placement group, so the two agree. On-demand gets a cluster placement group.
- The EFA layout comes from EC2's data for the instance type (``aws.ec2.get_instance_type``) when EC2
  knows the type, and from the catalog for placeholders (Trn3, p6e-gb300). See infra/efa.py.
- IMDSv2 only, an encrypted root volume with the factory key, the AMI from an SSM public parameter,
  and user data rendered from templates/user_data.sh.j2, which downloads nothing.
- Resources grow with groups of domains, never with instances: a 1 GW plan stays a stack Pulumi can
  handle.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pulumi
import pulumi_aws as aws

from infra import efa
from infra.blueprint import CAPACITY_BLOCK_HOURS, Blueprint, PodGroup
from infra.components.base import assume_role_policy, child, policy_json

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def render_user_data(**context: Any) -> str:
    """The node bootstrap script; StrictUndefined makes a missing value an error, not an empty string."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    return env.get_template("user_data.sh.j2").render(**context)


@dataclass
class PodsArgs:
    blueprint: Blueprint
    zones: pulumi.Input[list[str]]
    subnets: dict[str, aws.ec2.Subnet]
    efa_security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    bucket_arns: list[pulumi.Input[str]]
    fsx_dns_name: pulumi.Input[str]
    fsx_mount_name: pulumi.Input[str]
    root_volume_gib: int
    outpost_arn: str | None = None


class AcceleratorPods(pulumi.ComponentResource):
    """All pod groups of the factory, sharing one node role and one EFA layout."""

    def __init__(self, name: str, args: PodsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aifactory:compute:AcceleratorPods", name, None, opts)
        bp = args.blueprint
        role = aws.iam.Role(f"{name}-node", assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
                            opts=child(self))
        aws.iam.RolePolicyAttachment(f"{name}-node-ssm", role=role.name, policy_arn=pulumi.Output.from_input(
            args.partition).apply(lambda p: f"arn:{p}:iam::aws:policy/AmazonSSMManagedInstanceCore"),
            opts=child(self))
        aws.iam.RolePolicy(f"{name}-node-data", role=role.id, policy=policy_json(
            args.kms_key_arn, *args.bucket_arns, build=lambda key, *buckets: {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                 "Resource": [*buckets, *[f"{b}/*" for b in buckets]]},
                {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
                 "Resource": key}]}), opts=child(self))
        self.profile = aws.iam.InstanceProfile(f"{name}-node", role=role.name, opts=child(self))
        self.interfaces = self._interfaces(name, bp)
        self.groups = [
            AcceleratorPodGroup(f"{name}-{g.name}", PodGroupArgs(
                blueprint=bp, group=g, zones=args.zones, subnet=args.subnets[g.name],
                efa_security_group_id=args.efa_security_group_id, kms_key_arn=args.kms_key_arn,
                instance_profile_arn=self.profile.arn, interfaces=self.interfaces, fsx_dns_name=args.fsx_dns_name,
                fsx_mount_name=args.fsx_mount_name, root_volume_gib=args.root_volume_gib,
                outpost_arn=args.outpost_arn), opts=child(self))
            for g in bp.pod_groups
        ]
        self.register_outputs({
            "groups": [grp.summary for grp in self.groups],
            "instances": sum(g.instances for g in bp.pod_groups),
        })

    def _interfaces(self, name: str, bp: Blueprint) -> pulumi.Output[list[dict[str, Any]]]:
        """EC2's network-card data for known types, the catalog's for placeholders."""
        def as_dicts(interfaces: tuple[efa.Interface, ...]) -> list[dict[str, Any]]:
            return [{"network_card_index": i.network_card_index, "device_index": i.device_index,
                     "interface_type": i.interface_type} for i in interfaces]

        if not bp.instance_type_confirmed:
            return pulumi.Output.from_input(as_dicts(bp.interfaces))
        facts = aws.ec2.get_instance_type_output(instance_type=bp.instance_type,
                                                 opts=pulumi.InvokeOptions(parent=self))
        return pulumi.Output.all(facts.maximum_network_cards, facts.efa_maximum_interfaces).apply(
            lambda v: as_dicts(efa.layout(bp.platform.efa_layout, int(v[0] or bp.network_cards),
                                          int(v[1]) if v[1] else None)))


@dataclass
class PodGroupArgs:
    blueprint: Blueprint
    group: PodGroup
    zones: pulumi.Input[list[str]]
    subnet: aws.ec2.Subnet
    efa_security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    instance_profile_arn: pulumi.Input[str]
    interfaces: pulumi.Output[list[dict[str, Any]]]
    fsx_dns_name: pulumi.Input[str]
    fsx_mount_name: pulumi.Input[str]
    root_volume_gib: int
    outpost_arn: str | None = None


class AcceleratorPodGroup(pulumi.ComponentResource):
    """One group of scale-up domains in one AZ: capacity, placement, launch template, Auto Scaling group."""

    def __init__(self, name: str, args: PodGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aifactory:compute:AcceleratorPodGroup", name, None, opts)
        bp, g = args.blueprint, args.group
        zone = pulumi.Output.from_input(args.zones).apply(lambda z: z[g.zone_index % len(z)])
        kind = bp.capacity_type
        self.placement_group: aws.ec2.PlacementGroup | None = None
        if kind != "capacity-block":
            self.placement_group = aws.ec2.PlacementGroup(f"{name}-placement", strategy="cluster", opts=child(self))
        capacity_id: pulumi.Output[str] | None = None
        if kind == "reservation":
            assert self.placement_group is not None
            self.reservation = aws.ec2.CapacityReservation(
                f"{name}-capacity", instance_type=bp.instance_type, instance_platform="Linux/UNIX",
                availability_zone=zone, instance_count=g.instances, instance_match_criteria="targeted",
                placement_group_arn=self.placement_group.arn, end_date_type="unlimited",
                outpost_arn=args.outpost_arn, opts=child(self))
            capacity_id = self.reservation.id
        elif kind == "capacity-block":
            start = dt.date(bp.build_year, 1, 1).isoformat() + "T00:00:00Z"
            end = dt.date(bp.build_year, 12, 31).isoformat() + "T00:00:00Z"
            offering = aws.ec2.get_capacity_block_offering_output(
                instance_type=bp.instance_type, instance_count=g.instances,
                capacity_duration_hours=CAPACITY_BLOCK_HOURS, start_date_range=start, end_date_range=end,
                opts=pulumi.InvokeOptions(parent=self))
            self.block = aws.ec2.CapacityBlockReservation(
                f"{name}-block-{bp.build_year}", capacity_block_offering_id=offering.capacity_block_offering_id,
                instance_platform="Linux/UNIX", opts=child(self))
            capacity_id = self.block.id

        user_data = pulumi.Output.all(args.fsx_dns_name, args.fsx_mount_name).apply(
            lambda v: base64.b64encode(render_user_data(
                factory=bp.name, group=g.name, region=bp.region, family=bp.platform.family,
                platform=bp.platform.id, ami_parameter=bp.ami_parameter, fsx_dns_name=v[0], fsx_mount_name=v[1],
                instances_per_domain=bp.instances_per_domain,
                accelerators_per_instance=bp.platform.accelerators_per_instance,
            ).encode()).decode())
        interfaces = args.interfaces.apply(lambda items: [
            {**i, "security_groups": [args.efa_security_group_id], "delete_on_termination": "true",
             "associate_public_ip_address": "false"} for i in items])
        lt: dict[str, Any] = {}
        if capacity_id is not None:
            lt["capacity_reservation_specification"] = {
                "capacity_reservation_target": {"capacity_reservation_id": capacity_id}}
        if kind == "capacity-block":
            lt["instance_market_options"] = {"market_type": "capacity-block"}
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-template", image_id=f"resolve:ssm:{bp.ami_parameter}", instance_type=bp.instance_type,
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required",
                              "http_put_response_hop_limit": 1, "instance_metadata_tags": "enabled"},
            block_device_mappings=[{"device_name": "/dev/sda1", "ebs": {
                "volume_size": args.root_volume_gib, "volume_type": "gp3", "encrypted": "true",
                "kms_key_id": args.kms_key_arn, "delete_on_termination": "true"}}],
            network_interfaces=interfaces, iam_instance_profile={"arn": args.instance_profile_arn},
            user_data=user_data, ebs_optimized="true", update_default_version=True,
            tag_specifications=[{"resource_type": t, "tags": {"aifactory:pod-group": g.name}}
                                for t in ("instance", "volume", "network-interface")],
            opts=child(self), **lt)
        self.asg = aws.autoscaling.Group(
            f"{name}-asg", min_size=g.instances, max_size=g.instances, desired_capacity=g.instances,
            vpc_zone_identifiers=[args.subnet.id],
            launch_template={"id": self.launch_template.id, "version": self.launch_template.latest_version.apply(str)},
            placement_group=self.placement_group.id if self.placement_group else None,
            health_check_type="EC2", wait_for_capacity_timeout="0", capacity_rebalance=False,
            tags=[{"key": "aifactory:pod-group", "value": g.name, "propagate_at_launch": True}],
            opts=child(self))
        self.summary = {
            "name": g.name, "domains": g.domains, "instances": g.instances, "subnet_id": args.subnet.id,
            "capacity_type": kind, "capacity_id": capacity_id, "asg": self.asg.name,
            "placement_group": self.placement_group.id if self.placement_group else None,
        }
        self.register_outputs(self.summary)
