"""Preflight: will `pulumi up` work in this account, and keep residency, before anyone runs it?

Each check is one question asked of the account with boto3:

- the region is allowed, and the account is in the allow-list;
- the instance type is offered in the zones the pods use;
- EC2's EFA support and network cards agree with the catalog (the layout follows EC2 when they differ);
- the On-Demand vCPU quota covers the planned instances (ParallelCluster never checks this);
- Capacity Block offerings, or existing reservations, exist for the planned UltraServers;
- KMS, S3 and every interface endpoint service the factory uses exist in the region;
- the VPC's extra address blocks fit the CIDR-blocks-per-VPC quota;
- the Bedrock models the forecast serves are offered in the region (in-region ids only).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from infra.aws import error_code, need, pages
from infra.blueprint import CAPACITY_BLOCK_HOURS, GATEWAY_ENDPOINTS, INTERFACE_ENDPOINTS, Blueprint
from infra.findings import BLOCKING, OK, WARNING, Check, Clients, Finding, Result, run_checks
from infra.settings import StackSettings

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


def preflight(settings: StackSettings, blueprint: Blueprint, clients: Clients, forecast_region: str) -> Result:
    bp, region, itype = blueprint, clients.region, blueprint.instance_type
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
            yield Finding("instance-type-offered", WARNING, f"{itype} is offered in {len(offered)} zones, the pods "
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
            sizes = sorted({g.instances for g in bp.pod_groups})
            start = dt.datetime(bp.build_year, 1, 1, tzinfo=dt.UTC)
            for n in sizes:
                offers = clients.ec2_capacity.describe_capacity_block_offerings(
                    InstanceType=itype, InstanceCount=n, CapacityDurationHours=CAPACITY_BLOCK_HOURS,
                    StartDateRange=start, EndDateRange=start + dt.timedelta(days=364))
                if not need(offers, "CapacityBlockOfferings"):
                    yield Finding("capacity", BLOCKING, f"no Capacity Block offering for {n} x {itype} "
                                  f"({CAPACITY_BLOCK_HOURS} h) in {bp.build_year}",
                                  "ask AWS for capacity, shift buildYear, or use capacityType reservation")
                else:
                    yield Finding("capacity", OK, f"Capacity Block offerings exist for {n} x {itype}")
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
        blocks = len(bp.vpc_blocks)
        listed = _quota(clients, "vpc", VPC_BLOCKS_QUOTA)
        quota, source = (listed, "") if listed is not None else (5.0, " (AWS's default: Service Quotas lists none)")
        if blocks > quota:
            yield Finding("vpc-cidr-blocks", BLOCKING, f"the plan needs {blocks} /16 blocks in one VPC; the quota is "
                          f"{quota:.0f}{source}", f"raise '{VPC_BLOCKS_QUOTA}' to {blocks} in Service Quotas")
        else:
            yield Finding("vpc-cidr-blocks", OK, f"{blocks} address block(s) within the quota of {quota:.0f}{source}")

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
              Check("bedrock-models", bedrock_models)]
    return run_checks(checks, clients.budget)

