"""Preflight: will `pulumi up` work in this account, and keep residency, before anyone runs it?

Each check is one question asked of the account with boto3:

- the region is allowed, and the account is in the allow-list;
- the instance type is offered in the zones the pods use;
- EC2's EFA support and network cards agree with the catalog (the layout follows EC2 when they differ);
- the On-Demand vCPU quota covers the planned instances (ParallelCluster never checks this);
- Capacity Block offerings, or existing reservations, exist for the planned UltraServers;
- KMS, S3 and every interface endpoint service the factory uses exist in the region;
- the VPC's extra address blocks fit the CIDR-blocks-per-VPC quota, its subnets the Subnets-per-VPC quota;
- the Bedrock models the forecast serves are offered in the region (in-region ids only), and sold as
  provisioned throughput under the id given (a context-length variant such as ``...:128k``);
- SageMaker knows the endpoint instance type (botocore's API model) and its endpoint quota covers it;
- Capacity Blocks stay within EC2's limits (64 instances a block, 256 an account, 8 weeks ahead);
- capacityType existing: every supplied reservation id exists and fits its pod group (instance type,
  zone, count, state, end date).

Every call goes through infra/aws.py: a failure is "could not check", never a traceback or a false finding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from infra.api_rules import enum
from infra.aws import error_code, need, pages
from infra.blueprint import (
    CAPACITY_BLOCK_ACCOUNT_MAX,
    CAPACITY_BLOCK_HOURS,
    CAPACITY_BLOCK_MAX_DAYS_AHEAD,
    CAPACITY_BLOCK_MAX_INSTANCES,
    GATEWAY_ENDPOINTS,
    INTERFACE_ENDPOINTS,
    Blueprint,
)
from infra.components.services import sagemaker_instance_type
from infra.findings import BLOCKING, OK, WARNING, Check, Clients, Finding, Result, run_checks
from infra.settings import StackSettings
from sizing.words import plural

QUOTA_BY_FAMILY = {
    "p": "Running On-Demand P instances",
    "trn": "Running On-Demand Trn instances",
    "g": "Running On-Demand G and VT instances",
    "inf": "Running On-Demand Inf instances",
}
VPC_BLOCKS_QUOTA = "IPv4 CIDR blocks per VPC"


def quota_name(instance_type: str) -> str | None:
    family = instance_type.split(".", 1)[0]
    for prefix in ("trn", "inf", "p", "g"):
        if family.startswith(prefix):
            return QUOTA_BY_FAMILY[prefix]
    return None


def _quota(clients: Clients, service: str, name: str) -> float | None:
    """The applied value of a quota by name (None when Service Quotas does not list it)."""
    for q in pages(clients.quotas, "list_service_quotas", "Quotas", ServiceCode=service):
        if q.get("QuotaName") == name:
            return float(need(q, "Value"))
    return None


def _instance_type(clients: Clients, itype: str) -> dict[str, Any] | None:
    """EC2's description of an instance type, or None when EC2 does not know it (a placeholder name)."""
    try:
        found = need(clients.ec2.describe_instance_types(InstanceTypes=[itype]), "InstanceTypes")
    except Exception as exc:
        if error_code(exc).startswith("InvalidInstanceType"):
            return None
        raise
    if not found:
        return None
    return dict(found[0])


def preflight(settings: StackSettings, blueprint: Blueprint, clients: Clients, forecast_region: str,
              now: dt.datetime | None = None) -> Result:
    """Every check, in order; ``now`` (UTC) is for tests of date rules (Capacity Block lead time, end dates)."""
    bp, region, itype = blueprint, clients.region, blueprint.instance_type
    now = now or dt.datetime.now(dt.UTC)
    zones = list(settings.site.zones)

    def region_allowed() -> Iterator[Finding]:
        if region not in settings.regions:
            yield Finding("region", BLOCKING, f"{region} is not an allowed region ({', '.join(settings.regions)})",
                          "deploy to an allowed region, or change allowedRegions deliberately")
        elif forecast_region != region:
            yield Finding("region", WARNING, f"the forecast's site is in {forecast_region}, the stack in {region}",
                          "align site.region in the forecast with aws:region")
        else:
            yield Finding("region", OK, f"{region} is allowed")

    def account_allowed() -> Iterator[Finding]:
        account = need(clients.sts.get_caller_identity(), "Account")
        if not settings.allowed_account_ids:
            yield Finding("account", WARNING, f"account {account}: no aws:allowedAccountIds configured",
                          "set aws:allowedAccountIds so the provider refuses any other account")
        elif account not in settings.allowed_account_ids:
            yield Finding("account", BLOCKING, f"credentials are for account {account}, not in "
                          f"{list(settings.allowed_account_ids)}", "use credentials for an allowed account")
        else:
            yield Finding("account", OK, f"account {account} is allowed")

    def type_offered() -> Iterator[Finding]:
        offers = pages(clients.ec2, "describe_instance_type_offerings", "InstanceTypeOfferings",
                       LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [itype]}])
        offered = sorted(need(o, "Location") for o in offers)
        placeholder = "" if bp.instance_type_confirmed else " (a placeholder name: set instanceType to the real one)"
        if not offered:
            yield Finding("instance-type-offered", BLOCKING, f"{itype} is not offered in any zone of {region}"
                          f"{placeholder}", "choose a region or Local Zone that offers it, or another platform")
            return
        missing = [z for z in zones if z not in offered]
        if missing:
            yield Finding("instance-type-offered", BLOCKING, f"{itype} is not offered in {', '.join(missing)} "
                          f"(offered in {', '.join(offered)})", "use zones that offer it (site.zones)")
        elif not zones and len(offered) < bp.zone_count:
            yield Finding("instance-type-offered", WARNING, f"{itype} is offered in {plural(len(offered), 'zone')}, "
                          "the pods "
                          f"spread over {bp.zone_count}", f"set site.zones to {offered}")
        else:
            yield Finding("instance-type-offered", OK, f"{itype} is offered in {', '.join(zones or offered)}")

    def efa_matches() -> Iterator[Finding]:
        described = _instance_type(clients, itype)
        if described is None:  # an unknown type: instance-type-offered reports it as blocking
            yield Finding("efa", WARNING, f"EC2 does not describe {itype}; the catalog's layout "
                          f"({bp.network_cards} cards) will be used", "confirm the layout with AWS")
            return
        info = need(described, "NetworkInfo")
        cards = int(info.get("MaximumNetworkCards") or 1)
        if not info.get("EfaSupported"):
            yield Finding("efa", BLOCKING, f"{itype} does not support EFA", "choose an EFA instance type")
        elif cards != bp.network_cards:
            yield Finding("efa", WARNING, f"EC2 lists {cards} network cards for {itype}, the catalog "
                          f"{bp.network_cards}; the launch template follows EC2", "update network_cards in the catalog")
        else:
            yield Finding("efa", OK, f"{itype}: EFA supported, {cards} network cards as in the catalog")

    def quota_covers() -> Iterator[Finding]:
        if bp.capacity_type == "capacity-block":
            yield Finding("quota", OK, "Capacity Blocks do not draw on the On-Demand vCPU quota")
            return
        name = quota_name(itype)
        vcpus_fig = bp.platform.figure("vcpus_per_instance")
        per = int(vcpus_fig.nominal) if vcpus_fig else 0
        described = _instance_type(clients, itype)  # a placeholder type EC2 does not know: the catalog's figure
        if described is not None:
            per = int(need(need(described, "VCpuInfo"), "DefaultVCpus"))
        vcpus = bp.instances_built * per
        have = _quota(clients, "ec2", name) if name else None
        if name is None or have is None:
            yield Finding("quota", WARNING, f"no On-Demand vCPU quota found for {itype} ({name})",
                          "check Service Quotas for the instance family")
        elif have < vcpus:
            yield Finding("quota", BLOCKING, f"'{name}' is {have:,.0f} vCPUs; the plan needs {vcpus:,} "
                          f"({bp.instances_built:,} x {itype} x {per} vCPUs)",
                          f"request an increase of '{name}' to at least {vcpus:,} in Service Quotas")
        else:
            yield Finding("quota", OK, f"'{name}' {have:,.0f} vCPUs covers {vcpus:,}")

    def capacity() -> Iterator[Finding]:
        if bp.capacity_type == "capacity-block":
            yield from capacity_blocks(settings, bp, clients, now)
        elif bp.capacity_type == "existing":
            yield Finding("capacity", OK, f"capacity is contracted: "
                          f"{plural(len(settings.capacity_reservation_ids), 'reservation id')} supplied "
                          "(checked one by one under capacity-ids)")
        elif bp.capacity_type == "reservation":
            found = pages(clients.ec2_capacity, "describe_capacity_reservations", "CapacityReservations",
                          Filters=[{"Name": "instance-type", "Values": [itype]},
                                   {"Name": "state", "Values": ["active"]}])
            total = sum(int(need(r, "TotalInstanceCount")) for r in found)
            wanted = bp.instances_built
            if total >= wanted:
                yield Finding("capacity", OK, f"{total} reserved {itype} already active")
            else:
                yield Finding("capacity", WARNING, f"{total} of {wanted} {itype} reserved today; the program will "
                              "request targeted reservations for the rest, which fail if EC2 lacks capacity",
                              "agree the capacity with AWS first (for an AI Factory it is contracted)")
        else:
            yield Finding("capacity", WARNING, f"on-demand capacity for {bp.instances_built} x {itype} is not "
                          "guaranteed", "prefer capacityType reservation or capacity-block")

    def services_exist() -> Iterator[Finding]:
        need(clients.kms.list_keys(Limit=1), "Keys")
        need(clients.s3.list_buckets(), "Buckets")
        names = set(pages(clients.ec2, "describe_vpc_endpoint_services", "ServiceNames"))
        missing = [s for s in INTERFACE_ENDPOINTS + GATEWAY_ENDPOINTS if not any(n.endswith(f".{region}.{s}")
                                                                                 for n in names)]
        if missing:
            yield Finding("services", BLOCKING, f"no VPC endpoint service in {region} for: {', '.join(missing)}",
                          "a closed network needs every one: choose a region that offers them")
        else:
            yield Finding("services", OK, f"KMS, S3 and all {len(INTERFACE_ENDPOINTS) + 1} endpoint services exist")

    def vpc_blocks() -> Iterator[Finding]:
        blocks, default = bp.vpc_quota_needs()[VPC_BLOCKS_QUOTA]
        listed = _quota(clients, "vpc", VPC_BLOCKS_QUOTA)
        quota, source = (listed, "") if listed is not None else (float(default),
                                                                  " (AWS's default: Service Quotas lists none)")
        if blocks > quota:
            yield Finding("vpc-cidr-blocks", BLOCKING, f"the plan needs {blocks} /16 blocks in one VPC; the quota is "
                          f"{quota:.0f}{source}", f"raise '{VPC_BLOCKS_QUOTA}' to {blocks} in Service Quotas")
        else:
            yield Finding("vpc-cidr-blocks", OK,
                          f"{plural(blocks, 'address block')} within the quota of {quota:.0f}{source}")

    def bedrock_models() -> Iterator[Finding]:
        if not bp.bedrock:
            return
        models = need(clients.bedrock.list_foundation_models(), "modelSummaries")
        offered = {need(m, "modelId") for m in models}
        for b in bp.bedrock:
            if b.model_id not in offered:
                yield Finding("bedrock-models", BLOCKING, f"{b.workload}: {b.model_id} is not offered in {region}",
                              "pick an in-region model (aws bedrock list-foundation-models) or serve it on the pods")
            else:
                yield Finding("bedrock-models", OK, f"{b.workload}: {b.model_id} is offered in {region}")

    checks = [Check("region", region_allowed), Check("account", account_allowed),
              Check("instance-type-offered", type_offered), Check("efa", efa_matches), Check("quota", quota_covers),
              Check("capacity", capacity), Check("services", services_exist), Check("vpc-cidr-blocks", vpc_blocks),
              Check("bedrock-models", bedrock_models),
              Check("capacity-ids", lambda: reservation_ids(settings, bp, clients, now)),
              Check("subnets-per-vpc", lambda: subnets_per_vpc(bp, clients)),
              Check("bedrock-provisioned", lambda: bedrock_provisioned(bp, clients)),
              Check("sagemaker", lambda: sagemaker_endpoints(bp, clients))]
    return run_checks(checks, clients.budget)



# -- issue 11: capacity handed over by id, Capacity Block limits, subnets, Bedrock PT, SageMaker ---------------
BLOCK_LEAD = dt.timedelta(days=CAPACITY_BLOCK_MAX_DAYS_AHEAD)  # the limits live in infra/blueprint.py
SUBNETS_QUOTA = "Subnets per VPC"
USABLE_STATES = {"active", "scheduled", "payment-pending"}


def capacity_blocks(settings: StackSettings, bp: Blueprint, clients: Clients, now: dt.datetime) -> Iterator[Finding]:
    """Capacity Block limits (64 per block, 256 per account, 8 weeks ahead), then offerings when no ids."""
    itype, groups = bp.instance_type, bp.pod_groups
    big = [g for g in groups if g.instances > CAPACITY_BLOCK_MAX_INSTANCES]
    if big:
        yield Finding("capacity", BLOCKING, f"{plural(len(big), 'pod group')} need more than "
                      f"{CAPACITY_BLOCK_MAX_INSTANCES} instances (e.g. {big[0].name}: {big[0].instances}); a "
                      f"Capacity Block holds at most {CAPACITY_BLOCK_MAX_INSTANCES}",
                      "lower domainsPerGroup so that each pod group fits one block")
    if bp.instances_built > CAPACITY_BLOCK_ACCOUNT_MAX:
        yield Finding("capacity", BLOCKING, f"the plan needs {bp.instances_built:,} instances in Capacity Blocks; "
                      f"an account holds at most {CAPACITY_BLOCK_ACCOUNT_MAX} across its blocks",
                      "use capacityType existing with reservations agreed with AWS, or ask AWS to raise the limit")
    if big or bp.instances_built > CAPACITY_BLOCK_ACCOUNT_MAX or settings.capacity_reservation_ids:
        return  # bought blocks are checked by id under capacity-ids
    start = max(now, dt.datetime(bp.build_year, 1, 1, tzinfo=dt.UTC))
    if start > now + BLOCK_LEAD:
        yield Finding("capacity", WARNING, f"the build year {bp.build_year} starts more than 8 weeks from now; "
                      "Capacity Blocks are offered at most 8 weeks ahead, so none can be checked yet",
                      f"rerun preflight after {(start - BLOCK_LEAD).date()} to see the offerings")
        return
    for n in sorted({g.instances for g in groups}):
        offers = need(clients.ec2_capacity.describe_capacity_block_offerings(
            InstanceType=itype, InstanceCount=n, CapacityDurationHours=CAPACITY_BLOCK_HOURS,
            StartDateRange=start, EndDateRange=now + BLOCK_LEAD), "CapacityBlockOfferings")
        if offers:
            yield Finding("capacity", OK, f"Capacity Block offerings exist for {n} x {itype}")
        else:
            yield Finding("capacity", BLOCKING, f"no Capacity Block offering for {n} x {itype} "
                          f"({CAPACITY_BLOCK_HOURS} h) in the next 8 weeks",
                          "ask AWS for capacity, or use capacityType existing with contracted reservations")


def _reservations(clients: Clients, ids: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The supplied reservations EC2 knows, by id (one call per 100 ids; one by one if an id is unknown)."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 100):
        part = list(ids[start:start + 100])
        try:
            rows = pages(clients.ec2_capacity, "describe_capacity_reservations", "CapacityReservations",
                         CapacityReservationIds=part)
        except Exception as exc:
            if not error_code(exc).startswith("InvalidCapacityReservationId"):
                raise
            rows = []
            for cr in part:  # which ones are unknown: EC2 refuses the whole call for one of them
                try:
                    rows += pages(clients.ec2_capacity, "describe_capacity_reservations", "CapacityReservations",
                                  CapacityReservationIds=[cr])
                except Exception as one:
                    if not error_code(one).startswith("InvalidCapacityReservationId"):
                        raise
        found.update({str(need(r, "CapacityReservationId")): r for r in rows})
    return found


def _reservation_problems(r: dict[str, Any] | None, bp: Blueprint, instances: int, zone: str | None,
                          now: dt.datetime) -> list[str]:
    """What is wrong with one reservation for one pod group (empty: it fits)."""
    if r is None:
        return ["does not exist in this account and region"]
    problems = []
    if need(r, "InstanceType") != bp.instance_type:
        problems.append(f"is for {r['InstanceType']}, the pods use {bp.instance_type}")
    if zone and r.get("AvailabilityZone") != zone:
        problems.append(f"is in {r.get('AvailabilityZone')}, the pod group in {zone}")
    if int(need(r, "TotalInstanceCount")) < instances:
        problems.append(f"holds {r['TotalInstanceCount']} instances, the pod group needs {instances}")
    if need(r, "State") not in USABLE_STATES:
        problems.append(f"is {r['State']}")
    end = r.get("EndDate")
    if isinstance(end, dt.datetime) and end <= now:
        problems.append(f"ended on {end.date()}")
    return problems


def reservation_ids(settings: StackSettings, bp: Blueprint, clients: Clients, now: dt.datetime) -> Iterator[Finding]:
    """capacityType existing (or bought blocks): one reservation id per pod group, each existing and fitting."""
    ids = settings.capacity_reservation_ids
    if bp.capacity_type not in ("existing", "capacity-block") or (bp.capacity_type == "capacity-block" and not ids):
        return
    key = "sovereign-ai-factory:capacityReservationIds"
    if len(ids) < len(bp.pod_groups):
        yield Finding("capacity-ids", BLOCKING,
                      f"{plural(len(bp.pod_groups), 'pod group')} but {plural(len(ids), 'reservation id')}",
                      f"set {key} to one id per pod group, in group order (the ids AWS handed over)")
        if not ids:
            return
    found = _reservations(clients, ids)
    zones = settings.site.zones
    bad = 0
    for g, cr in zip(bp.pod_groups, ids, strict=False):
        zone = zones[g.zone_index] if g.zone_index < len(zones) else None
        problems = _reservation_problems(found.get(cr), bp, g.instances, zone, now)
        if problems:
            bad += 1
            yield Finding("capacity-ids", BLOCKING, f"{g.name}: {cr} {'; '.join(problems)}",
                          f"check {key} against `aws ec2 describe-capacity-reservations` (or ask AWS)")
    if not bad:
        yield Finding("capacity-ids", OK, f"{plural(min(len(ids), len(bp.pod_groups)), 'reservation')} match their pod "
                      f"groups: {bp.instance_type}, zone, count, state and dates")


def subnets_per_vpc(bp: Blueprint, clients: Clients) -> Iterator[Finding]:
    """The blueprint's subnets (Blueprint.vpc_quota_needs) within the account's Subnets-per-VPC quota."""
    subnets, default = bp.vpc_quota_needs()[SUBNETS_QUOTA]
    listed = _quota(clients, "vpc", SUBNETS_QUOTA)
    quota, source = (listed, "") if listed is not None else (float(default), " (AWS's default: not listed)")
    if subnets > quota:
        yield Finding("subnets-per-vpc", BLOCKING, f"the plan needs {subnets} subnets in one VPC; the quota is "
                      f"{quota:.0f}{source}", f"raise '{SUBNETS_QUOTA}' to {subnets} in Service Quotas")
    else:
        yield Finding("subnets-per-vpc", OK, f"{subnets} subnets within the quota of {quota:.0f}{source}")


def bedrock_provisioned(bp: Blueprint, clients: Clients) -> Iterator[Finding]:
    """Provisioned throughput needs a model id (a context-length variant) that Bedrock sells as PROVISIONED."""
    if not bp.bedrock:
        return
    models = need(clients.bedrock.list_foundation_models(byInferenceType="PROVISIONED"), "modelSummaries")
    offered = {need(m, "modelId") for m in models if "PROVISIONED" in (m.get("inferenceTypesSupported") or [])}
    for b in bp.bedrock:
        if b.model_id in offered:
            yield Finding("bedrock-provisioned", OK, f"{b.workload}: {b.model_id} is sold as provisioned throughput")
            continue
        variants = sorted(m for m in offered if m.startswith(b.model_id + ":"))
        hint = f"use a context-length variant id: {', '.join(variants[:4])}" if variants else \
            "serve it on the pods, or pick a model Bedrock sells as provisioned throughput in this region"
        yield Finding("bedrock-provisioned", BLOCKING, f"{b.workload}: {b.model_id} is not sold as provisioned "
                      "throughput in this region", hint)


def sagemaker_endpoints(bp: Blueprint, clients: Clients) -> Iterator[Finding]:
    """The endpoint instance type exists in SageMaker's API, and the endpoint quota covers the instances."""
    if not bp.sagemaker:
        return
    mltype = sagemaker_instance_type(bp.instance_type)
    allowed = enum("sagemaker", "ProductionVariantInstanceType")
    if mltype not in allowed:
        near = sorted(t for t in allowed if t.split(".")[1][:3] == mltype.split(".")[1][:3])[:4]
        yield Finding("sagemaker", BLOCKING, f"{mltype} is not a SageMaker instance type"
                      f"{' (the API knows ' + ', '.join(near) + ')' if near else ''}",
                      "serve these workloads on the pods, or set an instance type SageMaker offers")
        return
    wanted = sum(s.instances for s in bp.sagemaker)
    name = f"{mltype} for endpoint usage"
    have = _quota(clients, "sagemaker", name)
    if have is None or have < wanted:
        yield Finding("sagemaker", BLOCKING, f"'{name}' is {0 if have is None else have:.0f}; the endpoints need "
                      f"{wanted}", f"request '{name}' of at least {wanted} in Service Quotas")
    else:
        yield Finding("sagemaker", OK, f"'{name}' {have:.0f} covers {plural(wanted, 'endpoint instance')}")
