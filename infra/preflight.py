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

import contextlib
import datetime as dt
from collections.abc import Iterator

from botocore.exceptions import ClientError

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
    token = None
    while True:
        kwargs = {"ServiceCode": service, **({"NextToken": token} if token else {})}
        page = clients.quotas.list_service_quotas(**kwargs)
        for q in page.get("Quotas", []):
            if q.get("QuotaName") == name:
                return float(q["Value"])
        token = page.get("NextToken")
        if not token:
            return None


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
        account = clients.sts.get_caller_identity()["Account"]
        if not settings.allowed_account_ids:
            yield Finding("account", WARNING, f"account {account}: no aws:allowedAccountIds configured",
                          "set aws:allowedAccountIds so the provider refuses any other account")
        elif account not in settings.allowed_account_ids:
            yield Finding("account", BLOCKING, f"credentials are for account {account}, not in "
                          f"{list(settings.allowed_account_ids)}", "use credentials for an allowed account")
        else:
            yield Finding("account", OK, f"account {account} is allowed")

    def type_offered() -> Iterator[Finding]:
        offers = clients.ec2.describe_instance_type_offerings(
            LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [itype]}])
        offered = sorted(o["Location"] for o in offers.get("InstanceTypeOfferings", []))
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
        try:
            info = clients.ec2.describe_instance_types(InstanceTypes=[itype])["InstanceTypes"][0]["NetworkInfo"]
        except ClientError as exc:  # an unknown type: instance-type-offered reports it as blocking
            if "InvalidInstanceType" not in str(exc):
                raise
            yield Finding("efa", WARNING, f"EC2 does not describe {itype}; the catalog's layout "
                          f"({bp.network_cards} cards) will be used", "confirm the layout with AWS")
            return
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
        with contextlib.suppress(ClientError):  # a placeholder type EC2 does not know: the catalog's figure stands
            per = clients.ec2.describe_instance_types(InstanceTypes=[itype])["InstanceTypes"][0]["VCpuInfo"][
                "DefaultVCpus"]
        need = bp.instances_built * per
        have = _quota(clients, "ec2", name) if name else None
        if name is None or have is None:
            yield Finding("quota", WARNING, f"no On-Demand vCPU quota found for {itype} ({name})",
                          "check Service Quotas for the instance family")
        elif have < need:
            yield Finding("quota", BLOCKING, f"'{name}' is {have:,.0f} vCPUs; the plan needs {need:,} "
                          f"({bp.instances_built:,} x {itype} x {per} vCPUs)",
                          f"request an increase of '{name}' to at least {need:,} in Service Quotas")
        else:
            yield Finding("quota", OK, f"'{name}' {have:,.0f} vCPUs covers {need:,}")

    def capacity() -> Iterator[Finding]:
        if bp.capacity_type == "capacity-block":
            sizes = sorted({g.instances for g in bp.pod_groups})
            start = dt.datetime(bp.build_year, 1, 1, tzinfo=dt.UTC)
            for n in sizes:
                offers = clients.ec2_capacity.describe_capacity_block_offerings(
                    InstanceType=itype, InstanceCount=n, CapacityDurationHours=CAPACITY_BLOCK_HOURS,
                    StartDateRange=start, EndDateRange=start + dt.timedelta(days=364))
                if not offers.get("CapacityBlockOfferings"):
                    yield Finding("capacity", BLOCKING, f"no Capacity Block offering for {n} x {itype} "
                                  f"({CAPACITY_BLOCK_HOURS} h) in {bp.build_year}",
                                  "ask AWS for capacity, shift buildYear, or use capacityType reservation")
                else:
                    yield Finding("capacity", OK, f"Capacity Block offerings exist for {n} x {itype}")
        elif bp.capacity_type == "reservation":
            found = clients.ec2_capacity.describe_capacity_reservations(
                Filters=[{"Name": "instance-type", "Values": [itype]}, {"Name": "state", "Values": ["active"]}])
            total = sum(r.get("TotalInstanceCount", 0) for r in found.get("CapacityReservations", []))
            need = bp.instances_built
            if total >= need:
                yield Finding("capacity", OK, f"{total} reserved {itype} already active")
            else:
                yield Finding("capacity", WARNING, f"{total} of {need} {itype} reserved today; the program will "
                              "request targeted reservations for the rest, which fail if EC2 lacks capacity",
                              "agree the capacity with AWS first (for an AI Factory it is contracted)")
        else:
            yield Finding("capacity", WARNING, f"on-demand capacity for {bp.instances_built} x {itype} is not "
                          "guaranteed", "prefer capacityType reservation or capacity-block")

    def services_exist() -> Iterator[Finding]:
        clients.kms.list_keys(Limit=1)
        clients.s3.list_buckets()
        names = set()
        token = None
        while True:
            page = clients.ec2.describe_vpc_endpoint_services(**({"NextToken": token} if token else {}))
            names |= set(page.get("ServiceNames", []))
            token = page.get("NextToken")
            if not token:
                break
        missing = [s for s in INTERFACE_ENDPOINTS + GATEWAY_ENDPOINTS if not any(n.endswith(f".{region}.{s}")
                                                                                 for n in names)]
        if missing:
            yield Finding("services", BLOCKING, f"no VPC endpoint service in {region} for: {', '.join(missing)}",
                          "a closed network needs every one: choose a region that offers them")
        else:
            yield Finding("services", OK, f"KMS, S3 and all {len(INTERFACE_ENDPOINTS) + 1} endpoint services exist")

    def vpc_blocks() -> Iterator[Finding]:
        need = len(bp.vpc_blocks)
        quota = _quota(clients, "vpc", VPC_BLOCKS_QUOTA) or 5.0
        if need > quota:
            yield Finding("vpc-cidr-blocks", BLOCKING, f"the plan needs {need} /16 blocks in one VPC; the quota is "
                          f"{quota:.0f}", f"raise '{VPC_BLOCKS_QUOTA}' to {need} in Service Quotas")
        else:
            yield Finding("vpc-cidr-blocks", OK, f"{need} address block(s) within the quota of {quota:.0f}")

    def bedrock_models() -> Iterator[Finding]:
        if not bp.bedrock:
            return
        models = clients.bedrock.list_foundation_models().get("modelSummaries", [])
        offered = {m["modelId"] for m in models}
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
    return run_checks(checks)

