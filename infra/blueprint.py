"""The blueprint: what the factory needs, computed from the plan and stack settings (no Pulumi).

Everything here is plain Python so it is testable on its own and deterministic. The Pulumi
components only turn a Blueprint into resources. Two rules keep `pulumi up` safe as the factory
grows year by year:

- Sizes that would force a replacement when they change (subnet CIDRs, the file system's
  deployment type, the VPC's address blocks) are computed from the plan's horizon (the final
  year), not the build year. Capacity (ASG sizes, reservations) follows the build year.
- Pod groups fill in order and keep their names: growth enlarges the last group and appends new
  ones, so earlier groups never change identity.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Any

from infra import efa
from infra.settings import StackSettings
from sizing.catalog import Catalog, Platform
from sizing.errors import InputError
from sizing.forecast import Forecast, LlmWorkload, TrainingWorkload

AWS_RESERVED_IPS = 5
IP_HEADROOM = 1.5  # room for replacements and the interfaces of instances being recycled
SERVICE_SUBNET_PREFIX = 24
VPC_BLOCK_PREFIX = 16  # AWS's largest VPC CIDR block; more capacity = secondary blocks
INTERFACE_ENDPOINTS = (
    "sts", "kms", "logs", "monitoring", "ssm", "ssmmessages", "ec2messages", "ec2", "autoscaling",
    "ecr.api", "ecr.dkr", "fsx", "bedrock", "bedrock-runtime", "bedrock-agent-runtime",
    "sagemaker.api", "sagemaker.runtime",
)
GATEWAY_ENDPOINTS = ("s3",)
FSX_INCREMENT_GIB = 2400
CAPACITY_BLOCK_HOURS = 24 * 182  # the longest Capacity Block term
CHECKPOINTS_KEPT = 2
BYTES_PER_DATASET_TOKEN = 4


@dataclass(frozen=True)
class PodGroup:
    """A group of scale-up domains in one AZ and subnet: one capacity, placement, template, ASG."""

    name: str
    index: int
    zone_index: int
    domains: int
    instances: int
    subnet_cidr: str
    vpc_block: int


@dataclass(frozen=True)
class BedrockServing:
    workload: str
    model_id: str
    model_units: int
    commitment: str | None


@dataclass(frozen=True)
class SageMakerServing:
    workload: str
    model: str
    instances: int


@dataclass(frozen=True)
class Blueprint:
    name: str
    region: str
    platform: Platform
    instance_type: str
    instance_type_confirmed: bool
    ami_parameter: str
    build_year: int
    final_year: int
    capacity_type: str
    zone_count: int
    vpc_blocks: tuple[str, ...]  # primary first, then secondary /16 blocks
    service_subnets: tuple[str, ...]  # one per zone
    pod_subnet_prefix: int
    pod_groups: tuple[PodGroup, ...]
    interfaces: tuple[efa.Interface, ...]  # catalog layout (the program prefers EC2's data when it has it)
    network_cards: int
    domains_planned: int  # the plan's provisioned domains in the build year
    domains_built: int  # what the pods provision (factory-served share)
    fsx_storage_gib: int
    fsx_throughput_per_tib: int
    bedrock: tuple[BedrockServing, ...]
    sagemaker: tuple[SageMakerServing, ...]
    facility: dict[str, Any]
    headline: dict[str, Any]

    @property
    def instances_per_domain(self) -> int:
        return self.platform.instances_per_domain

    @property
    def instances_built(self) -> int:
        return sum(g.instances for g in self.pod_groups)


def _year(plan_years: list[int], requested: int, source: str) -> int:
    if requested == 0:
        return plan_years[-1]
    if requested not in plan_years:
        raise InputError(source, "sovereign-ai-factory:buildYear",
                         f"{requested} is outside the forecast's horizon {plan_years[0]}-{plan_years[-1]}")
    return requested


def _pod_subnet_prefix(instances_per_group: int, ips_per_instance: int) -> int:
    needed = math.ceil(instances_per_group * ips_per_instance * IP_HEADROOM) + AWS_RESERVED_IPS
    prefix = 32 - max(4, math.ceil(math.log2(needed)))
    return max(prefix, VPC_BLOCK_PREFIX + 1)


def factory_share(forecast: Forecast, plan_platform: dict[str, Any], year: str) -> float:
    """Share of the factory's accelerators the pods serve themselves (not SageMaker or Bedrock)."""
    total = mine = 0.0
    for w in forecast.workloads:
        if w.placement == "edge":
            continue
        acc = plan_platform["workloads"][w.name]["years"][year]["accelerators"]["provisioned"] or 0.0
        total += acc
        if not (isinstance(w, LlmWorkload) and w.serving.target != "factory"):
            mine += acc
    return 1.0 if total <= 0 else mine / total


def _fsx_gib(forecast: Forecast, catalog: Catalog) -> int:
    state = catalog.training["state_bytes_per_param"].nominal
    need = 0.0
    for w in forecast.workloads:
        if isinstance(w, TrainingWorkload) and w.placement != "edge":
            need += CHECKPOINTS_KEPT * w.model.params_b * 1e9 * state + w.tokens_b * 1e9 * BYTES_PER_DATASET_TOKEN
    gib = need * 1.2 / 2**30
    return max(FSX_INCREMENT_GIB, math.ceil(gib / FSX_INCREMENT_GIB) * FSX_INCREMENT_GIB)


def make_blueprint(forecast: Forecast, plan: dict[str, Any], settings: StackSettings, catalog: Catalog,
                   source: str = "stack config") -> Blueprint:
    """Turn the plan into the factory's shape for the stack's platform and build year."""
    pid = settings.platform
    if pid not in plan["platforms"]:
        raise InputError(source, "sovereign-ai-factory:platform",
                         f"{pid!r} is not in the plan; sized platforms: {', '.join(plan['platforms'])}")
    platform = catalog.platforms[pid]
    pp = plan["platforms"][pid]
    years = [int(y) for y in pp["years"]]
    build = _year(years, settings.build_year, source)
    final = years[-1]
    b, f = str(build), str(final)

    cards_fig = platform.figure("network_cards")
    cards = int(cards_fig.nominal) if cards_fig else 1
    interfaces = efa.layout(platform.efa_layout, cards)
    ips = efa.ips_per_instance(interfaces)
    per_group = settings.domains_per_group
    prefix = _pod_subnet_prefix(per_group * platform.instances_per_domain, ips)

    def domains_for(year: str) -> tuple[int, int]:
        planned = int(pp["years"][year]["domains"]["provisioned"] or 0)
        built = math.ceil(planned * factory_share(forecast, pp, year) - 1e-9)
        return planned, built

    # built racks stay: what the pods hold is cumulative, like the plan's capacity
    built_by_year = [domains_for(str(y))[1] for y in years]
    cumulative = [max(built_by_year[: i + 1]) for i in range(len(years))]
    planned_b = domains_for(b)[0]
    built_b = cumulative[years.index(build)]
    built_final = cumulative[-1]
    zone_count = len(settings.site.zones) if settings.site.zones else 3
    if settings.site.kind != "region":
        zone_count = max(1, len(settings.site.zones))

    # address plan: slot 0 of block 0 holds the service subnets, pod group g takes slot g + 1
    pool = ipaddress.ip_network(settings.vpc_cidr)
    blocks = list(pool.subnets(new_prefix=VPC_BLOCK_PREFIX)) if pool.prefixlen < VPC_BLOCK_PREFIX else [pool]
    per_block = 2 ** (prefix - VPC_BLOCK_PREFIX)
    groups_final = math.ceil(built_final / per_group) if built_final else 0
    slots_needed = groups_final + 1
    if slots_needed > per_block * len(blocks):
        raise InputError(source, "sovereign-ai-factory:vpcCidr",
                         f"{settings.vpc_cidr} holds {per_block * len(blocks) - 1} pod subnets of /{prefix}; the plan "
                         f"needs {groups_final} by {final}. Use a larger private block (e.g. 10.0.0.0/8 ... /12) "
                         "or raise domainsPerGroup")
    blocks_used = math.ceil(slots_needed / per_block)

    def slot_cidr(slot: int) -> tuple[str, int]:
        block = blocks[slot // per_block]
        return str(list(block.subnets(new_prefix=prefix))[slot % per_block]), slot // per_block

    services_net = ipaddress.ip_network(slot_cidr(0)[0])
    svc_prefix = max(SERVICE_SUBNET_PREFIX, services_net.prefixlen + math.ceil(math.log2(max(zone_count, 1))))
    service_subnets = tuple(str(s) for s in list(services_net.subnets(new_prefix=svc_prefix))[:zone_count])

    groups: list[PodGroup] = []
    remaining = built_b
    for g in range(math.ceil(built_b / per_group) if built_b else 0):
        d = min(per_group, remaining)
        remaining -= d
        cidr, block = slot_cidr(g + 1)
        groups.append(PodGroup(name=f"pod-{g:03d}", index=g, zone_index=g % zone_count, domains=d,
                               instances=d * platform.instances_per_domain, subnet_cidr=cidr, vpc_block=block))

    bedrock, sagemaker = [], []
    for w in forecast.workloads:
        if not isinstance(w, LlmWorkload) or w.placement == "edge" or w.serving.target == "factory":
            continue
        if w.serving.target == "bedrock":
            bedrock.append(BedrockServing(w.name, w.serving.model_id or "", w.serving.model_units or 1,
                                          w.serving.commitment))
        else:
            acc = pp["workloads"][w.name]["years"][b]["accelerators"]["provisioned"] or 0.0
            n = math.ceil(acc / platform.accelerators_per_instance - 1e-9)
            if n > 0:
                sagemaker.append(SageMakerServing(w.name, w.model.name, n))

    year_doc = pp["years"][b]
    cap = plan["forecast"]["site"]["power_cap_mw"]
    facility = {
        "year": build,
        "facility_power_mw": year_doc["facility_power_mw"]["provisioned"],
        "it_power_kw": year_doc["it_power_kw"]["provisioned"],
        "domains": planned_b,
        "domain_name": platform.domain_name,
        "racks_or_ultraservers": planned_b,
        "liquid_cooling_required": platform.liquid_cooled,
        "power_cap_mw": cap,
        "power_cap_met": year_doc["power_cap_met"],
        "final_year": final,
        "final_facility_power_mw": pp["years"][f]["facility_power_mw"]["provisioned"],
        "final_domains": pp["years"][f]["domains"]["provisioned"],
    }
    headline = {k: year_doc[k]["provisioned"] for k in
                ("accelerators", "domains", "instances", "hbm_provisioned_tb", "it_power_kw",
                 "facility_power_mw", "cost_usd", "usd_per_million_tokens")}
    return Blueprint(
        name=settings.name, region=settings.region, platform=platform,
        instance_type=settings.instance_type or platform.instance_type,
        instance_type_confirmed=platform.instance_type_confirmed and settings.instance_type is None,
        ami_parameter=settings.ami_parameter or platform.ami_parameter,
        build_year=build, final_year=final, capacity_type=settings.capacity_type, zone_count=zone_count,
        vpc_blocks=tuple(str(x) for x in blocks[:blocks_used]), service_subnets=service_subnets,
        pod_subnet_prefix=prefix, pod_groups=tuple(groups), interfaces=interfaces, network_cards=cards,
        domains_planned=planned_b, domains_built=built_b, fsx_storage_gib=_fsx_gib(forecast, catalog),
        fsx_throughput_per_tib=settings.fsx_throughput_per_tib, bedrock=tuple(bedrock),
        sagemaker=tuple(sagemaker), facility=facility, headline=headline,
    )
