"""The factory: every component, wired in the one direction data flows (plan -> components -> resources)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.blueprint import Blueprint
from infra.components.base import child
from infra.components.data import Data, DataArgs
from infra.components.guardrails import Guardrails, GuardrailsArgs
from infra.components.key import FactoryKey, FactoryKeyArgs
from infra.components.network import Network, NetworkArgs
from infra.components.pods import AcceleratorPods, PodsArgs
from infra.components.services import ModelServices, ModelServicesArgs
from infra.components.site import Site, SiteArgs
from infra.settings import StackSettings


@dataclass
class FactoryArgs:
    blueprint: Blueprint
    settings: StackSettings
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    dns_suffix: pulumi.Input[str]


class Factory(pulumi.ComponentResource):
    def __init__(self, name: str, args: FactoryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aifactory:index:Factory", name, None, opts)
        bp, st = args.blueprint, args.settings
        trail_name = f"{bp.name}-trail"
        self.key = FactoryKey(f"{name}-key", FactoryKeyArgs(bp.name, bp.region, args.account_id, args.partition,
                                                            args.dns_suffix), opts=child(self))
        self.site = Site(f"{name}-site", SiteArgs(st.site, bp.zone_count, bp.facility), opts=child(self))
        self.network = Network(f"{name}-network", NetworkArgs(
            blueprint=bp, pod_zones=self.site.pod_zones, service_zones=self.site.service_zones,
            account_id=args.account_id, partition=args.partition, kms_key_arn=self.key.arn,
            organization_id=st.organization_id, outpost_arn=st.site.outpost_arn,
            local_gateway_route_table_id=st.site.local_gateway_route_table_id, on_site_cidrs=st.on_site_cidrs),
            opts=child(self))
        self.data = Data(f"{name}-data", DataArgs(
            blueprint=bp, account_id=args.account_id, partition=args.partition, kms_key_arn=self.key.arn,
            subnet_id=self.network.fabric_subnet.id, efa_security_group_id=self.network.efa_sg.id,
            trail_name=trail_name, outpost_arn=st.site.outpost_arn,
            on_site_subnet_id=next(iter(self.network.pod_subnets.values())).id if self.network.pod_subnets else None),
            opts=child(self))
        self.pods = AcceleratorPods(f"{name}-pods", PodsArgs(
            blueprint=bp, zones=self.site.pod_zones, subnets=self.network.pod_subnets,
            efa_security_group_id=self.network.efa_sg.id, kms_key_arn=self.key.arn, account_id=args.account_id,
            partition=args.partition, bucket_arns=[b.arn for b in self.data.buckets.values()],
            fsx_dns_name=self.data.file_system.dns_name, fsx_mount_name=self.data.file_system.mount_name,
            root_volume_gib=st.root_volume_gib, outpost_arn=st.site.outpost_arn), opts=child(self))
        self.services = ModelServices(f"{name}-services", ModelServicesArgs(
            blueprint=bp, account_id=args.account_id, partition=args.partition, kms_key_arn=self.key.arn,
            vpc_id=self.network.vpc.id, subnet_ids=[s.id for s in self.network.service_subnets],
            security_group_id=self.network.services_sg.id, logs_bucket=self.data.buckets["logs"].bucket,
            checkpoints_bucket_arn=self.data.buckets["checkpoints"].arn, logs_bucket_policy=self.data.policies["logs"],
            serving_image=st.serving_image), opts=child(self))
        self.guardrails = Guardrails(f"{name}-guardrails", GuardrailsArgs(
            name=bp.name, logs_bucket=self.data.buckets["logs"].bucket, kms_key_arn=self.key.arn,
            trail_name=trail_name, regions=st.regions,
            depends_on=[self.data]), opts=child(self))  # SCPs: the organisation program (org/), not here
        self.register_outputs({"vpc_id": self.network.vpc.id})
