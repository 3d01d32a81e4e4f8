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
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pulumi
import pulumi_aws as aws

from infra import efa
from infra.blueprint import Blueprint, PodGroup
from infra.components.base import assume_role_policy, child, policy_json

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
WAIT_MINUTES_BASE = 15


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
        aws.iam.RolePolicy(f"{name}-node-topology", role=role.id, policy=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Sid": "DomainDiscovery", "Effect": "Allow",
                 "Action": ["ec2:DescribeInstances", "ec2:DescribeInstanceTopology"], "Resource": "*"},
                {"Sid": "TagOwnDomain", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*",
                 "Condition": {"StringEquals": {"aws:ResourceTag/aifactory:pod-group": [
                     g.name for g in bp.pod_groups] or ["none"]}, "ForAllValues:StringEquals": {
                     "aws:TagKeys": ["aifactory:domain"]}}}]}, sort_keys=True), opts=child(self))
        self.profile = aws.iam.InstanceProfile(f"{name}-node", role=role.name, opts=child(self))
        # The Auto Scaling service-linked role launches the encrypted volumes. It is the program's own (custom
        # suffix), so it exists before the grant that lets it use the key: a key policy naming the default
        # role fails CreateKey in an account that has never created an Auto Scaling group.
        self.autoscaling_role = aws.iam.ServiceLinkedRole(
            f"{name}-autoscaling", aws_service_name="autoscaling.amazonaws.com", custom_suffix=bp.name,
            description=f"{bp.name} pods: launches instances with volumes encrypted by the factory key",
            opts=child(self))
        self.key_grant = aws.kms.Grant(
            f"{name}-autoscaling-key", key_id=args.kms_key_arn, grantee_principal=self.autoscaling_role.arn,
            operations=["Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey",
                        "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"], opts=child(self))
        self.interfaces = self._interfaces(name, bp)
        self.groups = [
            AcceleratorPodGroup(f"{name}-{g.name}", PodGroupArgs(
                blueprint=bp, group=g, zones=args.zones, subnet=args.subnets[g.name],
                efa_security_group_id=args.efa_security_group_id, kms_key_arn=args.kms_key_arn,
                instance_profile_arn=self.profile.arn, interfaces=self.interfaces, fsx_dns_name=args.fsx_dns_name,
                fsx_mount_name=args.fsx_mount_name, root_volume_gib=args.root_volume_gib,
                autoscaling_role_arn=self.autoscaling_role.arn, outpost_arn=args.outpost_arn),
                opts=child(self, depends_on=[self.key_grant]))
            for g in bp.pod_groups
        ]
        self.register_outputs({
            "groups": [grp.summary for grp in self.groups],
            "instances": sum(g.instances for g in bp.pod_groups),
        })

    def _interfaces(self, name: str, bp: Blueprint) -> pulumi.Output[list[dict[str, Any]]]:
        """The blueprint's layout (the one its subnets are sized from); for a type EC2 lists, `pulumi up`
        first checks EC2's live network data against the table the layout came from."""
        dicts = [{"network_card_index": i.network_card_index, "device_index": i.device_index,
                  "interface_type": i.interface_type} for i in bp.interfaces]
        if bp.instance_type not in efa.EC2_NETWORK:
            return pulumi.Output.from_input(dicts)
        live = aws.ec2.get_instance_type_output(instance_type=bp.instance_type,
                                                opts=pulumi.InvokeOptions(parent=self))

        def verify(v: list[Any]) -> list[dict[str, Any]]:
            cards, efas = int(v[0] or 0), int(v[1] or 0)
            if (cards, efas) != (bp.network.network_cards, len(bp.network.efa_cards)):
                raise ValueError(f"EC2 lists {cards} network cards / {efas} EFA interfaces for {bp.instance_type}; "
                                 f"infra/efa.py EC2_NETWORK has {bp.network.network_cards} / "
                                 f"{len(bp.network.efa_cards)}: update the table (subnets are sized from it)")
            return dicts

        return pulumi.Output.all(live.maximum_network_cards, live.efa_maximum_interfaces).apply(verify)


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
    autoscaling_role_arn: pulumi.Input[str]
    outpost_arn: str | None = None


class AcceleratorPodGroup(pulumi.ComponentResource):
    """One group of scale-up domains in one AZ: capacity, placement, launch template, Auto Scaling group."""

    def __init__(self, name: str, args: PodGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aifactory:compute:AcceleratorPodGroup", name, None, opts)
        bp, g = args.blueprint, args.group
        zone = pulumi.Output.from_input(args.zones).apply(lambda z: z[g.zone_index])
        kind = bp.capacity_type
        self.placement_group: aws.ec2.PlacementGroup | None = None
        # a cluster placement group only where the program owns the capacity: reservations it creates inside
        # the group, or on-demand. Handed-over reservations and Capacity Blocks bring their own placement.
        if kind in ("reservation", "on-demand"):
            self.placement_group = aws.ec2.PlacementGroup(f"{name}-placement", strategy="cluster", opts=child(self))
        capacity_id: pulumi.Input[str] | None = None
        if kind == "reservation":
            assert self.placement_group is not None
            self.reservation = aws.ec2.CapacityReservation(
                f"{name}-capacity", instance_type=bp.instance_type, instance_platform="Linux/UNIX",
                availability_zone=zone, instance_count=g.instances, instance_match_criteria="targeted",
                placement_group_arn=self.placement_group.arn, end_date_type="unlimited",
                outpost_arn=args.outpost_arn, opts=child(self))
            capacity_id = self.reservation.id
        elif kind in ("existing", "capacity-block"):
            # consumed by id (handed over by AWS or bought outside Pulumi): nothing here buys, renames or
            # deletes capacity; `pulumi up` refuses a group without an id (infra.deploy_checks)
            capacity_id = g.capacity_id

        user_data = pulumi.Output.all(args.fsx_dns_name, args.fsx_mount_name).apply(
            lambda v: base64.b64encode(render_user_data(
                factory=bp.name, group=g.name, region=bp.region, family=bp.platform.family,
                platform=bp.platform.id, ami_parameter=bp.ami_parameter, fsx_dns_name=v[0], fsx_mount_name=v[1],
                instances_per_domain=bp.instances_per_domain, domain_name=bp.platform.domain_name,
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
            # `pulumi up` waits until every instance of the group is in service (it fails rather than report
            # success with zero instances); large groups get time to launch
            health_check_type="EC2", wait_for_capacity_timeout=f"{WAIT_MINUTES_BASE + g.instances // 10}m",
            min_elb_capacity=None, capacity_rebalance=False, service_linked_role_arn=args.autoscaling_role_arn,
            tags=[{"key": "aifactory:pod-group", "value": g.name, "propagate_at_launch": True}],
            opts=child(self))
        self.summary = {
            "name": g.name, "domains": g.domains, "instances": g.instances, "subnet_id": args.subnet.id,
            "capacity_type": kind, "capacity_id": capacity_id, "asg": self.asg.name,
            "placement_group": self.placement_group.id if self.placement_group else None,
        }
        self.register_outputs(self.summary)
