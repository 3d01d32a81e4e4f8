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
import itertools
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
CAPACITY_BLOCK_MAX_INSTANCES = 64  # EC2 Capacity Blocks: instances per block (see docs/sources/aws-iac-notes.md)
CAPACITY_BLOCK_ACCOUNT_MAX = 256  # ... and per account
CAPACITY_BLOCK_MAX_DAYS_AHEAD = 56  # a block starts at most 8 weeks ahead
CHECKPOINTS_KEPT = 2
BYTES_PER_DATASET_TOKEN = 4


# Amazon VPC default quotas (Service Quotas names, VPC User Guide "Amazon VPC quotas"): adjustable
VPC_QUOTAS = {"Subnets per VPC": 200, "IPv4 CIDR blocks per VPC": 5}


@dataclass(frozen=True)
class PodGroup:
    """A group of scale-up domains in one AZ and subnet: one capacity, placement, template, ASG."""

    name: str
    index: int
    zone_index: int  # into the site's pod zones; every training group sits in zone 0, the fabric zone
    domains: int
    instances: int
    subnet_cidr: str
    vpc_block: int
    role: str = "inference"  # "training": holds (part of) a training job, whose groups share one AZ
    jobs: tuple[str, ...] = ()  # training workloads with domains in this group
    capacity_id: str | None = None  # the cr-... reservation / Capacity Block it consumes (existing, capacity-block)


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
    zone_count: int  # pod zones
    service_zone_count: int
    vpc_blocks: tuple[str, ...]  # primary first, then secondary /16 blocks
    service_subnets: tuple[str, ...]  # one per service zone
    fabric_subnet: str | None  # the file system's subnet in the fabric zone when that is not a service zone
    pod_subnet_prefix: int
    pod_groups: tuple[PodGroup, ...]
    network: efa.NetworkFacts  # EC2's data (or the catalog's, for placeholders): template and subnets agree
    interfaces: tuple[efa.Interface, ...]
    network_cards: int
    domains_planned: int  # the plan's provisioned domains in the build year
    domains_built: int  # what the pods provision (factory-served share)
    fsx_storage_gib: int
    fsx_throughput_per_tib: int
    bedrock: tuple[BedrockServing, ...]
    sagemaker: tuple[SageMakerServing, ...]
    facility: dict[str, Any]
    headline: dict[str, Any]
    jobs: dict[str, dict[str, Any]]  # training workload -> its fabric zone, groups and domains (final year)
    site_kind: str = "region"

    @property
    def instances_per_domain(self) -> int:
        return self.platform.instances_per_domain

    @property
    def instances_built(self) -> int:
        return sum(g.instances for g in self.pod_groups)

    def vpc_quota_needs(self) -> dict[str, tuple[int, int]]:
        """Quota name -> (what this build needs, AWS's default): preflight names each quota to raise."""
        subnets = len(self.service_subnets) + len(self.pod_groups) + (1 if self.fabric_subnet else 0)
        need = {"Subnets per VPC": subnets, "IPv4 CIDR blocks per VPC": len(self.vpc_blocks)}
        return {k: (v, VPC_QUOTAS[k]) for k, v in need.items()}


def _year(plan_years: list[int], requested: int, source: str) -> int:
    if requested == 0:
        return plan_years[-1]
    if requested not in plan_years:
        raise InputError(source, "sovereign-ai-factory:buildYear",
                         f"{requested} is outside the forecast's horizon {plan_years[0]}-{plan_years[-1]}")
    return requested


def _pod_subnet_prefix(instances_per_group: int, ips_per_instance: int, source: str) -> int:
    """The smallest subnet holding a group's IPs with headroom; a group too large for a /17 is an error."""
    needed = math.ceil(instances_per_group * ips_per_instance * IP_HEADROOM) + AWS_RESERVED_IPS
    prefix = 32 - max(4, math.ceil(math.log2(needed)))
    if prefix <= VPC_BLOCK_PREFIX:
        raise InputError(source, "sovereign-ai-factory:domainsPerGroup",
                         f"a pod group of {instances_per_group:,} instances x {ips_per_instance} IPs needs "
                         f"{needed:,} addresses, more than a /{VPC_BLOCK_PREFIX + 1} subnet holds: "
                         "lower domainsPerGroup")
    return prefix


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


def training_domains(forecast: Forecast, plan_platform: dict[str, Any], domain_accelerators: int) -> dict[str, int]:
    """Domains each training job needs at its peak over the plan's years (provisioned accelerators): the
    fabric it must find in one AZ."""
    out = {}
    for w in forecast.workloads:
        if isinstance(w, TrainingWorkload) and w.placement != "edge":
            years = plan_platform["workloads"][w.name]["years"].values()
            acc = max((y["accelerators"]["provisioned"] or 0.0) for y in years)
            if acc > 0:
                out[w.name] = math.ceil(acc / domain_accelerators - 1e-9)
    return out


def _group_layout(jobs: dict[str, int], groups_final: int, per_group: int,
                  zone_count: int) -> list[tuple[int, str, tuple[str, ...]]]:
    """(zone index, role, jobs) per group of the final year: training jobs first, packed into zone 0 (an EFA
    fabric does not cross AZs, and the EFA-enabled file system sits there); inference groups after them,
    spread over the other zones first."""
    layout: list[tuple[int, str, tuple[str, ...]]] = []
    start = 0
    spans = []
    for job, d in jobs.items():
        spans.append((job, start, start + d))
        start += d
    training_groups = min(groups_final, math.ceil(start / per_group)) if start else 0
    for g in range(groups_final):
        lo, hi = g * per_group, (g + 1) * per_group
        members = tuple(j for j, a, b in spans if a < hi and b > lo)
        if g < training_groups:
            layout.append((0, "training", members))
        else:
            layout.append(((1 + g - training_groups) % zone_count, "inference", ()))
    return layout


def _address_plan(settings: StackSettings, prefix: int, groups_final: int, final: int,
                  source: str) -> tuple[list[Any], int, int]:
    pool = ipaddress.ip_network(settings.vpc_cidr)
    blocks = list(pool.subnets(new_prefix=VPC_BLOCK_PREFIX)) if pool.prefixlen < VPC_BLOCK_PREFIX else [pool]
    per_block = 2 ** (prefix - VPC_BLOCK_PREFIX)
    slots_needed = groups_final + 1
    if slots_needed > per_block * len(blocks):
        raise InputError(source, "sovereign-ai-factory:vpcCidr",
                         f"{settings.vpc_cidr} holds {per_block * len(blocks) - 1} pod subnets of /{prefix}; the plan "
                         f"needs {groups_final} by {final}. Use a larger private block (e.g. 10.0.0.0/8 ... /12) "
                         "or raise domainsPerGroup")
    return blocks, per_block, math.ceil(slots_needed / per_block)


def _facility(forecast: Forecast, plan: dict[str, Any], pp: dict[str, Any], platform: Platform, build: int,
              final: int, planned_b: int, groups: list[PodGroup]) -> dict[str, Any]:
    """What the customer's site must provide, per site and per pod group (one cooling loop and one run of
    racks per group; racks numbered in group order)."""
    year_doc = pp["years"][str(build)]
    it_kw = year_doc["it_power_kw"]["provisioned"]
    kw_per_domain = it_kw / planned_b if planned_b else 0.0
    rack = 0
    per_group = []
    for g in groups:
        per_group.append({"group": g.name, "role": g.role, "zone_index": g.zone_index,
                          "racks_or_ultraservers": g.domains, "rack_range": [rack, rack + g.domains - 1],
                          "it_power_kw": round(g.domains * kw_per_domain, 1),
                          "facility_power_kw": round(g.domains * kw_per_domain * forecast.site.pue, 1),
                          "cooling_loops": 1})
        rack += g.domains
    return {
        "year": build, "facility_power_mw": year_doc["facility_power_mw"]["provisioned"], "it_power_kw": it_kw,
        "domains": planned_b, "domain_name": platform.domain_name, "racks_or_ultraservers": planned_b,
        "liquid_cooling_required": platform.liquid_cooled, "cooling_loops": len(groups),
        "power_cap_mw": plan["forecast"]["site"]["power_cap_mw"], "power_cap_met": year_doc["power_cap_met"],
        "final_year": final, "final_facility_power_mw": pp["years"][str(final)]["facility_power_mw"]["provisioned"],
        "final_domains": pp["years"][str(final)]["domains"]["provisioned"], "pod_groups": per_group,
    }


def _serving(forecast: Forecast, pp: dict[str, Any], year: str,
             platform: Platform) -> tuple[list[BedrockServing], list[SageMakerServing]]:
    bedrock, sagemaker = [], []
    for w in forecast.workloads:
        if not isinstance(w, LlmWorkload) or w.placement == "edge" or w.serving.target == "factory":
            continue
        if w.serving.target == "bedrock":
            bedrock.append(BedrockServing(w.name, w.serving.model_id or "", w.serving.model_units or 1,
                                          w.serving.commitment))
        else:
            acc = pp["workloads"][w.name]["years"][year]["accelerators"]["provisioned"] or 0.0
            n = math.ceil(acc / platform.accelerators_per_instance - 1e-9)
            if n > 0:
                sagemaker.append(SageMakerServing(w.name, w.model.name, n))
    return bedrock, sagemaker


def _zone_counts(settings: StackSettings) -> tuple[int, int]:
    site = settings.site
    pods = len(site.zones) if site.zones else 3
    return pods, (len(site.service_zones) if site.service_zones else pods)


def make_blueprint(forecast: Forecast, plan: dict[str, Any], settings: StackSettings, catalog: Catalog,
                   source: str = "stack config") -> Blueprint:
    """Turn the plan into the factory's shape for the stack's platform and build year."""
    pid = settings.platform
    if pid not in plan["platforms"]:
        raise InputError(source, "sovereign-ai-factory:platform",
                         f"{pid!r} is not in the plan; sized platforms: {', '.join(plan['platforms'])}")
    platform = catalog.platforms[pid]
    if settings.site.kind == "outpost" and platform.instances_per_domain > 1:
        raise InputError(source, "sovereign-ai-factory:site.kind",
                         f"Outposts do not offer {platform.domain_name}s ({platform.name}): use an AWS AI Factory "
                         "(site.kind ai-factory), a region, or a single-instance platform (e.g. b200_hgx)")
    pp = plan["platforms"][pid]
    years = [int(y) for y in pp["years"]]
    build = _year(years, settings.build_year, source)
    final = years[-1]
    instance_type = settings.instance_type or platform.instance_type
    cards_fig = platform.figure("network_cards")
    network = efa.facts_for(instance_type, int(cards_fig.nominal) if cards_fig else 1, platform.efa_layout)
    interfaces = efa.layout(network)
    per_group = settings.domains_per_group
    prefix = _pod_subnet_prefix(per_group * platform.instances_per_domain, efa.ips_per_instance(interfaces), source)

    def domains_for(year: str) -> tuple[int, int]:
        planned = int(pp["years"][year]["domains"]["provisioned"] or 0)
        return planned, math.ceil(planned * factory_share(forecast, pp, year) - 1e-9)

    # built racks stay: what the pods hold is cumulative, like the plan's capacity
    built_by_year = [domains_for(str(y))[1] for y in years]
    cumulative = [max(built_by_year[: i + 1]) for i in range(len(years))]
    planned_b = domains_for(str(build))[0]
    built_b = cumulative[years.index(build)]
    zone_count, service_zone_count = _zone_counts(settings)
    groups_final = math.ceil(cumulative[-1] / per_group) if cumulative[-1] else 0
    blocks, per_block, blocks_used = _address_plan(settings, prefix, groups_final, final, source)

    def slot_cidr(slot: int) -> tuple[str, int]:
        block = blocks[slot // per_block]
        return str(next(itertools.islice(block.subnets(new_prefix=prefix), slot % per_block, None))), slot // per_block

    # slot 0 of block 0: the service subnets (and, for a Dedicated Local Zone, the fabric zone's data subnet)
    services_net = ipaddress.ip_network(slot_cidr(0)[0])
    dlz = settings.site.kind == "dedicated-local-zone"
    parts = service_zone_count + (1 if dlz else 0)
    svc_prefix = max(SERVICE_SUBNET_PREFIX, services_net.prefixlen + math.ceil(math.log2(max(parts, 1))))
    carved = [str(x) for x in itertools.islice(services_net.subnets(new_prefix=svc_prefix), parts)]
    jobs_final = training_domains(forecast, pp, platform.domain_accelerators)
    layout = _group_layout(jobs_final, groups_final, per_group, zone_count)
    groups: list[PodGroup] = []
    remaining = built_b
    for g in range(math.ceil(built_b / per_group) if built_b else 0):
        d = min(per_group, remaining)
        remaining -= d
        cidr, block = slot_cidr(g + 1)
        zone, role, members = layout[g]
        ids = settings.capacity_reservation_ids
        groups.append(PodGroup(name=f"pod-{g:03d}", index=g, zone_index=zone, domains=d,
                               instances=d * platform.instances_per_domain, subnet_cidr=cidr, vpc_block=block,
                               role=role, jobs=members, capacity_id=ids[g] if g < len(ids) else None))
    jobs = {job: {"zone_index": 0, "domains": d, "groups": [x.name for x in groups if job in x.jobs]}
            for job, d in jobs_final.items()}
    bedrock, sagemaker = _serving(forecast, pp, str(build), platform)
    year_doc = pp["years"][str(build)]
    headline = {k: year_doc[k]["provisioned"] for k in
                ("accelerators", "domains", "instances", "hbm_provisioned_tb", "it_power_kw",
                 "facility_power_mw", "cost_usd", "usd_per_million_tokens")}
    return Blueprint(
        name=settings.name, region=settings.region, platform=platform, instance_type=instance_type,
        instance_type_confirmed=platform.instance_type_confirmed or instance_type in efa.EC2_NETWORK,
        ami_parameter=settings.ami_parameter or platform.ami_parameter,
        build_year=build, final_year=final, capacity_type=settings.capacity_type, zone_count=zone_count,
        service_zone_count=service_zone_count, vpc_blocks=tuple(str(x) for x in blocks[:blocks_used]),
        service_subnets=tuple(carved[:service_zone_count]), fabric_subnet=carved[-1] if dlz else None,
        pod_subnet_prefix=prefix, pod_groups=tuple(groups), network=network, interfaces=interfaces,
        network_cards=network.network_cards, domains_planned=planned_b, domains_built=built_b,
        fsx_storage_gib=_fsx_gib(forecast, catalog), fsx_throughput_per_tib=settings.fsx_throughput_per_tib,
        bedrock=tuple(bedrock), sagemaker=tuple(sagemaker),
        facility=_facility(forecast, plan, pp, platform, build, final, planned_b, groups), headline=headline,
        jobs=jobs, site_kind=settings.site.kind,
    )
