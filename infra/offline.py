"""The offline plan: run the Pulumi program under the SDK's mocks, with no account and no Pulumi CLI.

A built-in offline view of AWS answers the program's data-source calls: Availability Zone names,
partition, account, endpoint service names, instance-type facts from the catalog, and a Capacity
Block offering. Every resource the program registers is recorded with its type, name, parent and
input properties. The result is the manifest, an OFFLINE PREVIEW of what `pulumi up` would create.
It is not a live read of any account.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pulumi.runtime import mocks as pmocks
from pulumi.runtime.settings import ROOT as PULUMI_ROOT
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.blueprint import Blueprint
from infra.rules import Report, Resource, check_all
from infra.settings import PROJECT, StackSettings
from sizing.catalog import Catalog, load_catalog
from sizing.forecast import Forecast
from sizing.words import plural

OFFLINE_ACCOUNT = "000000000000"
BANNER = "OFFLINE PREVIEW: the Pulumi program run with mocks and an offline view of AWS; nothing was deployed"


class OfflineAws(pmocks.Mocks):
    """Answers the program's AWS calls from the catalog and the stack's settings."""

    def __init__(self, settings: StackSettings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.region = settings.region
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}
        self.ids: dict[tuple[str, str], str] = {}
        self.order: list[tuple[str, str]] = []

    # -- resources ------------------------------------------------------------------------------
    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        key = (args.typ, args.name)
        self.inputs[key] = dict(args.inputs)
        self.order.append(key)
        digest = hashlib.sha1(f"{args.typ}/{args.name}".encode()).hexdigest()[:17]
        rid = f"{args.typ.rsplit(':', 1)[-1].lower()}-{digest}"
        self.ids[key] = rid
        state = dict(args.inputs)
        service = args.typ.split(":")[1].split("/")[0] if ":" in args.typ else "aws"
        state.setdefault("arn", f"arn:aws:{service}:{self.region}:{OFFLINE_ACCOUNT}:{args.name}")
        state.setdefault("name", args.name)
        extras: dict[str, dict[str, Any]] = {
            "aws:kms/key:Key": {"keyId": rid},
            "aws:fsx/lustreFileSystem:LustreFileSystem": {
                "dnsName": f"{rid}.fsx.{self.region}.amazonaws.com", "mountName": digest[:8]},
            "aws:ec2/launchTemplate:LaunchTemplate": {"latestVersion": 1},
            "aws:ecr/repository:Repository": {
                "repositoryUrl": f"{OFFLINE_ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com/{args.inputs.get('name')}"},
            "aws:bedrock/guardrail:Guardrail": {"guardrailArn": state["arn"], "guardrailId": digest[:12]},
            "aws:s3/bucket:Bucket": {"bucket": args.inputs.get("bucket", args.name)},
        }
        state.update(extras.get(args.typ, {}))
        return rid, state

    # -- data sources ---------------------------------------------------------------------------
    def call(self, args: pmocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return self._answer(args.token, dict(args.args)), []

    def _answer(self, token: str, a: dict[str, Any]) -> dict[str, Any]:
        zones = [f"{self.region}{c}" for c in "abcdef"]
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": OFFLINE_ACCOUNT, "arn": f"arn:aws:iam::{OFFLINE_ACCOUNT}:user/offline",
                    "userId": "OFFLINE", "id": OFFLINE_ACCOUNT}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws",
                    "id": "aws"}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": zones[:3], "zoneIds": [f"{self.region}-az{i}" for i in range(1, 4)], "id": self.region}
        if token == "aws:ec2/getVpcEndpointService:getVpcEndpointService":
            service = a.get("service", "")
            return {"service": service, "serviceName": f"com.amazonaws.{self.region}.{service}",
                    "serviceType": a.get("serviceType", "Interface"), "availabilityZones": zones[:3],
                    "owner": "amazon", "id": f"offline-{service}"}
        if token == "aws:ec2/getLocalGatewayRouteTable:getLocalGatewayRouteTable":
            table = str(a.get("localGatewayRouteTableId", ""))
            return {"localGatewayRouteTableId": table, "localGatewayId": "lgw-" + table[-17:].rjust(17, "0"),
                    "outpostArn": self.settings.site.outpost_arn or "", "state": "available", "id": table}
        if token == "aws:ec2/getInstanceType:getInstanceType":
            return self._instance_type(a.get("instanceType", ""))
        if token == "aws:ec2/getCapacityBlockOffering:getCapacityBlockOffering":
            return {"capacityBlockOfferingId": f"cbo-offline-{a.get('instanceCount')}",
                    "availabilityZone": zones[0], "currencyCode": "USD", "upfrontFee": "0", "tenancy": "default",
                    **{k: v for k, v in a.items()}}
        return {}

    def _instance_type(self, name: str) -> dict[str, Any]:
        from infra.efa import EC2_NETWORK

        if name in EC2_NETWORK:
            f = EC2_NETWORK[name]
            return {"instanceType": name, "maximumNetworkCards": f.network_cards, "efaSupported": True,
                    "efaMaximumInterfaces": len(f.efa_cards), "id": name}
        for p in self.catalog.platforms.values():
            fig = p.figure("network_cards")
            if p.instance_type == name:
                cards = int(fig.nominal) if fig is not None else 1
                return {"instanceType": name, "maximumNetworkCards": cards, "efaSupported": True,
                        "efaMaximumInterfaces": cards, "id": name}
        return {"instanceType": name, "maximumNetworkCards": 1, "efaSupported": False, "id": name}


class RecordingMonitor(pmocks.MockMonitor):
    """The SDK's mock monitor, also noting each resource's parent (the mocks API does not pass it)."""

    def __init__(self, mocks: pmocks.Mocks) -> None:
        super().__init__(mocks)
        self.parents: dict[tuple[str, str], str] = {}
        self.protect: dict[tuple[str, str], bool] = {}
        self.provider: dict[tuple[str, str], str] = {}
        self.depends_on: dict[tuple[str, str], list[str]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        key = (request.type, request.name)
        self.parents[key] = request.parent
        self.protect[key] = bool(request.protect)
        self.provider[key] = request.provider
        self.depends_on[key] = sorted(u.rsplit("::", 1)[-1] for u in request.dependencies)
        return super().RegisterResource(request)


def _urn(monitor: RecordingMonitor, key: tuple[str, str]) -> str:
    return monitor.make_urn(monitor.parents.get(key, ""), key[0], key[1])


@dataclass(frozen=True)
class Manifest:
    resources: list[dict[str, Any]]
    blueprint: Blueprint
    plan: dict[str, Any]
    settings: StackSettings
    seconds: float

    def custom(self) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["custom"]]

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == type_]

    def rule_resources(self) -> list[Resource]:
        """The manifest as the sovereignty rules see it (same shape as CrossGuard's view)."""
        return [Resource(type=r["type"], name=r["name"], props=r["inputs"], id=r["id"],
                         provider_region=r["provider_region"], protect=r["protect"]) for r in self.custom()]

    def check(self) -> Report:
        return check_all(self.rule_resources(), self.settings.rules_context())

    def api_violations(self) -> list[Any]:
        """What AWS or the provider would refuse in names and descriptions (infra/api_rules.py)."""
        from infra.api_rules import check_resources

        return check_resources(self.custom())

    def by_type(self) -> Counter[str]:
        return Counter(r["type"] for r in self.custom())

    def by_component(self) -> Counter[str]:
        components = {(r["type"], r["name"]) for r in self.resources if not r["custom"]}
        counts: Counter[str] = Counter()
        for r in self.custom():
            parent = r["parent"] or "(stack)"
            counts[parent if (r["parent_type"], parent) in components else "(stack)"] += 1
        return counts


def run_offline(settings: StackSettings, catalog: Catalog | None = None,
                sized: tuple[Forecast, dict[str, Any]] | None = None, source: str = "stack config") -> Manifest:
    """Run the program with mocks; raises InputError for bad settings or forecast, like `pulumi up` would.

    ``sized`` reuses a forecast and plan the caller already has (see ``infra.program.prepare``).
    """
    from infra.program import build, prepare

    catalog = catalog or load_catalog()
    forecast, plan, blueprint = prepare(settings, source, sized=sized)
    offline = OfflineAws(settings, catalog)
    monitor = RecordingMonitor(offline)
    PULUMI_ROOT.set(None)
    pmocks.set_mocks(offline, project=PROJECT, stack=settings.stack, preview=False, monitor=monitor)
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    started = time.perf_counter()
    def program() -> None:
        build(settings, forecast, blueprint)

    _sync_await(run_pulumi_func(program))
    seconds = time.perf_counter() - started
    provider_region = {f"{_urn(monitor, k)}::{offline.ids[k]}": offline.inputs[k].get("region")
                       for k in offline.order if k[0].startswith("pulumi:providers:")}
    resources = []
    # registration is asynchronous: sort by name (component prefix first) for a reproducible manifest
    for typ, name in sorted(offline.order, key=lambda k: (k[1], k[0])):
        parent_urn = monitor.parents.get((typ, name), "")
        parent_name = parent_urn.rsplit("::", 1)[-1] if parent_urn else None
        parent_type = parent_urn.split("::")[2].split("$")[-1] if parent_urn else None
        if parent_type == "pulumi:pulumi:Stack":
            parent_name, parent_type = None, None
        resources.append({
            "type": typ, "name": name, "id": offline.ids[(typ, name)], "parent": parent_name,
            "parent_type": parent_type, "custom": not typ.startswith("aifactory:"),
            "protect": monitor.protect.get((typ, name), False),
            "provider_region": provider_region.get(monitor.provider.get((typ, name), "")),
            "depends_on": monitor.depends_on.get((typ, name), []),
            "inputs": offline.inputs[(typ, name)],
        })
    return Manifest(resources=resources, blueprint=blueprint, plan=plan, settings=settings, seconds=seconds)


def summary(m: Manifest) -> str:
    bp = m.blueprint
    head = bp.headline
    fac = bp.facility
    lines = [
        BANNER,
        f"stack {m.settings.stack} in {m.settings.region}: {bp.platform.name}, build year {bp.build_year} "
        f"(cumulative capacity), capacity type {bp.capacity_type}",
        *([] if m.settings.platform_given else
          [f"platform {bp.platform.id}: the plan's recommendation ({m.plan['recommendation']['reason']}); "
           "set the stack's platform to build another"]),
        f"plan at P{m.plan['forecast']['provision_percentile']:g}: "
        f"{plural(round(head['domains']), bp.platform.domain_name)}, "
        f"{plural(round(head['accelerators']), 'accelerator')}, {head['facility_power_mw']:,.1f} MW facility, "
        f"{head['hbm_provisioned_tb']:,.0f} TB HBM"
        + (f", ${head['cost_usd'] / 1e6:,.1f}M/yr" if head.get("cost_usd") else ""),
        f"pods: {plural(len(bp.pod_groups), 'group')}, {plural(bp.domains_built, 'domain')}, "
        f"{bp.instances_built:,} x {bp.instance_type}"
        + ("" if bp.instance_type_confirmed else " (placeholder instance type: confirm before deploying)")
        + (f"; the work of {plural(bp.domains_planned - bp.domains_built, 'more domain')} served by SageMaker/Bedrock"
           if bp.domains_planned != bp.domains_built else ""),
        f"customer site must provide: {fac['facility_power_mw']:,.1f} MW, "
        f"{plural(fac['domains'], bp.platform.domain_name)}, "
        f"{'liquid cooling' if fac['liquid_cooling_required'] else 'air cooling'}"
        + (f" (power cap {fac['power_cap_mw']} MW: {'met' if fac['power_cap_met'] else 'EXCEEDED'})"
           if fac["power_cap_mw"] else ""),
        *_refusal_lines(m),
        "",
        f"{plural(len(m.custom()), 'resource')} in "
        f"{plural(len([r for r in m.resources if not r['custom']]), 'component')} "
        f"(registered in {m.seconds:.1f} s)",
        "",
        "by component:",
    ]
    for comp, n in sorted(m.by_component().items()):
        lines.append(f"  {n:6,}  {comp}")
    lines += ["", "by type:"]
    for typ, n in sorted(m.by_type().items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {n:6,}  {typ}")
    return "\n".join(lines) + "\n"


def _deploy_refusals(m: Manifest) -> list[Any]:
    from infra.deploy_checks import refusals

    return list(refusals(m.settings, m.blueprint))


def _refusal_lines(m: Manifest) -> list[str]:
    jobs = [f"training job {j}: {plural(v['domains'], 'domain')} in pod zone {v['zone_index']} "
            "(the fabric zone, with FSx), "
            f"groups {', '.join(v['groups']) or '(none built yet)'}" for j, v in m.blueprint.jobs.items()]
    found = _deploy_refusals(m)
    quotas = [f"quota to raise before pulumi up: '{name}' {need} (default {default})"
              for name, (need, default) in m.blueprint.vpc_quota_needs().items() if need > default]
    return jobs + quotas + ([f"pulumi up would refuse ({len(found)}); the offline preview shows the rest:"]
                   + [f"  {r}" for r in found] if found else ["pulumi up: no refusals"])


def manifest_document(m: Manifest) -> dict[str, Any]:
    return {
        "offline_preview": True,
        "notice": BANNER,
        "stack": {"name": m.settings.stack, "region": m.settings.region, "platform": m.blueprint.platform.id,
                  "build_year": m.blueprint.build_year, "capacity_type": m.blueprint.capacity_type},
        "headline": m.blueprint.headline,
        "facility_budget": m.blueprint.facility,
        "training_jobs": m.blueprint.jobs,
        "deploy_refusals": [str(r) for r in _deploy_refusals(m)],
        "api_rule_violations": [str(v) for v in m.api_violations()],
        "resource_count": len(m.custom()),
        "sovereignty": [str(v) for v in m.check().violations],
        "resources": [{k: v for k, v in r.items() if k != "custom"} for r in m.custom()],
        "components": [{"type": r["type"], "name": r["name"], "parent": r["parent"]}
                       for r in m.resources if not r["custom"]],
    }

