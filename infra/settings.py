"""Stack settings: everything the program needs besides the plan, validated with clear messages.

The same parser serves `pulumi up` (values from the stack's config) and `aifactory plan` (a
Pulumi.<stack>.yaml file, or defaults taken from the forecast's site). Keys are the project's config
keys (see Pulumi.yaml); `aws:region` and `aws:allowedAccountIds` come from the aws namespace.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.rules import Context
from sizing.errors import InputError
from sizing.schema import Node, load_yaml

PROJECT = "sovereign-ai-factory"
CAPACITY_TYPES = ("existing", "capacity-block", "reservation", "on-demand")
SITE_KINDS = ("region", "ai-factory", "dedicated-local-zone", "outpost")
AWS_KEYS = ("region", "allowedAccountIds")  # the aws: keys the program's explicit provider is given
# Top-level keys Pulumi itself writes into a stack file besides ``config:`` (secrets providers, passphrase salt).
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")
# VPC pools AWS's VPC User Guide allows: the RFC 1918 blocks and the shared 100.64.0.0/10 block.
VPC_POOLS = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                     "100.64.0.0/10"))
RESERVATION_ID = re.compile(r"cr-[0-9a-f]{17}")  # EC2 capacity reservation (ODCR or Capacity Block) id
NAME = re.compile(r"[a-z][a-z0-9-]{0,14}[a-z0-9]")  # fits every derived name (see infra/api_rules.py)
REGION_CODE = re.compile(r"[a-z]{2,5}(-[a-z]+)+-\d+")


@dataclass(frozen=True)
class SiteSettings:
    """Where the factory stands (see README "Site kinds").

    ``region``: a public Region's AZs. ``ai-factory``: an AWS AI Factory, a private Region in the
    customer's data centre (``aws:region`` is its code). ``dedicated-local-zone``: pods (and FSx where
    offered) in the zone(s), endpoints and control-plane services in the parent Region's
    ``service_zones``. ``outpost``: one anchor AZ, pods on the Outpost, local-gateway routing.
    """

    kind: str = "region"
    zones: tuple[str, ...] = ()  # where pods go: AZs, Dedicated Local Zones, or the Outpost's anchor AZ
    service_zones: tuple[str, ...] = ()  # dedicated-local-zone: parent-Region AZs for endpoints and services
    zone_group: str | None = None  # dedicated-local-zone: zone group to opt in to (when AWS has not)
    outpost_arn: str | None = None
    local_gateway_route_table_id: str | None = None  # outpost: LGW route table the VPC is associated with


@dataclass(frozen=True)
class StackSettings:
    region: str
    forecast: str
    platform: str = "trn3"  # the default is decided in infra.program.default_platform
    build_year: int = 0  # 0 = the forecast's last year
    percentile: float | None = None
    samples: int | None = None  # None = the forecast's own (monte_carlo.samples)
    seed: int | None = None  # None = the forecast's own (monte_carlo.seed)
    capacity_type: str = "on-demand"
    capacity_reservation_ids: tuple[str, ...] = ()  # cr-... ids handed over or bought outside Pulumi
    allowed_regions: tuple[str, ...] = ()
    allowed_account_ids: tuple[str, ...] = ()
    site: SiteSettings = field(default_factory=SiteSettings)
    vpc_cidr: str = "10.64.0.0/12"
    domains_per_group: int = 32
    instance_type: str | None = None  # override the catalog's (placeholder) instance type
    ami_parameter: str | None = None
    organization_id: str | None = None
    root_volume_gib: int = 512
    fsx_throughput_per_tib: int = 500
    name: str = "aif"
    stack: str = "dev"
    serving_image: str | None = None  # tag or sha256 digest in the factory's ECR repository (SageMaker models)
    platform_given: bool = False  # the stack set `platform` (otherwise infra.program decides it)
    # the customer's own networks an ai-factory/outpost site's local gateway may route to (rules.Context)
    on_site_cidrs: tuple[str, ...] = ()

    @property
    def regions(self) -> tuple[str, ...]:
        return self.allowed_regions or (self.region,)

    def rules_context(self) -> Context:
        """THE sovereignty-rules context of this stack (plan, verify and `pulumi up` judge with it)."""
        return Context(self.regions, self.on_site_cidrs)


_KEYS = {
    "forecast", "platform", "buildYear", "percentile", "samples", "seed", "capacityType",
    "capacityReservationIds", "allowedRegions", "site", "vpcCidr", "domainsPerGroup", "instanceType",
    "amiParameter", "organizationId", "rootVolumeGib", "fsxThroughputPerTib", "name", "servingImage", "onSiteCidrs",
}
ON_SITE_KINDS = ("ai-factory", "outpost")  # sites with a local gateway to the customer's own networks


@dataclass(frozen=True)
class Secure:
    """A ``{secure: v1:...}`` value from a stack file: Pulumi decrypts it, ``aifactory plan`` cannot."""

    ciphertext: str


def _split(values: dict[str, Any], source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    own: dict[str, Any] = {}
    aws: dict[str, Any] = {}
    for key, value in values.items():
        ns, _, short = key.partition(":")
        if not short:
            raise InputError(source, key, f"config keys are namespaced: {PROJECT}:{key} or aws:{key}")
        if isinstance(value, Secure):
            raise InputError(source, key, "is a secret ({secure: v1:...}) that only Pulumi can decrypt, and the "
                             "offline plan needs its value: store it in plain text (pulumi config set "
                             f"{short} <value>, without --secret); it is not sensitive")
        if ns == PROJECT:
            own[short] = value
        elif ns == "aws":
            if short not in AWS_KEYS:
                raise InputError(source, key, f"unknown aws: key (the program's provider would ignore it); "
                                 f"allowed: {', '.join('aws:' + k for k in AWS_KEYS)}")
            aws[short] = value
        else:
            raise InputError(source, key, f"unknown config namespace {ns!r}; allowed: {PROJECT}, aws")
    return own, aws


def known_region(region: str) -> bool:
    """True when botocore's endpoint data lists ``region`` in any partition."""
    import botocore.loaders

    data = botocore.loaders.create_loader().load_data("endpoints")
    return any(region in p.get("regions", {}) for p in data["partitions"])


def _region(aws: dict[str, Any], default: str | None, kind: str, source: str) -> str:
    region = aws.get("region", default)
    if not isinstance(region, str) or not region:
        raise InputError(source, "aws:region", "required: the AWS region the factory is built in")
    if kind == "ai-factory":
        if not REGION_CODE.fullmatch(region):
            raise InputError(source, "aws:region", f"{region!r} is not a region code (e.g. eu-central-1 or the "
                             "private region code AWS gave the AI Factory)")
    elif not known_region(region):
        raise InputError(source, "aws:region", f"unknown region {region!r} (not in botocore's endpoint data); "
                         "for an AWS AI Factory's private region code set site.kind: ai-factory")
    return region


def _vpc_cidr(node: Node) -> str:
    cidr = node.text("vpcCidr", required=False) or "10.64.0.0/12"
    try:
        net = ipaddress.ip_network(cidr)
    except ValueError:
        node.fail(f"{cidr!r} is not a CIDR block (e.g. 10.64.0.0/12)", "vpcCidr")
    if net.version != 4 or not 8 <= net.prefixlen <= 16 or not any(
            isinstance(net, ipaddress.IPv4Network) and net.subnet_of(pool) for pool in VPC_POOLS):
        node.fail(f"{cidr!r} must be an IPv4 block between /8 and /16 inside "
                  f"{', '.join(map(str, VPC_POOLS))} (AWS refuses 0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, ...)",
                  "vpcCidr")
    return cidr


def _capacity(node: Node, source: str, kind: str) -> tuple[str, tuple[str, ...]]:
    default = "existing" if kind == "ai-factory" else "on-demand"
    capacity = node.text("capacityType", required=False, choices=CAPACITY_TYPES) or default
    path = f"{PROJECT}:capacityReservationIds"
    ids = _text_list(node.raw("capacityReservationIds", required=False), source, path)
    for i, cr in enumerate(ids):
        if not RESERVATION_ID.fullmatch(cr):
            raise InputError(source, f"{path}[{i}]", f"{cr!r} is not a capacity reservation id (cr- and 17 hex "
                             "digits, as EC2 lists ODCRs and Capacity Blocks)")
    if len(set(ids)) != len(ids):
        raise InputError(source, path, "lists an id twice")
    # existing / capacity-block without ids still preview offline; `pulumi up` refuses (infra.deploy_checks)
    if capacity in ("reservation", "on-demand") and ids:
        raise InputError(source, path, f"capacityType {capacity} does not consume ids; use capacityType existing")
    return capacity, ids


def parse_settings(values: dict[str, Any], source: str, *, default_region: str | None = None,
                   default_forecast: str | None = None, stack: str = "dev") -> StackSettings:
    """Settings from a flat mapping of config keys (``aws:region``, ``sovereign-ai-factory:platform``...)."""
    from sizing.catalog import load_catalog

    own, aws = _split(values, source)
    node = Node(own, source, PROJECT)
    for key in own:
        if key not in _KEYS:
            node.fail(f"unknown config key; allowed: {', '.join(sorted(_KEYS))}", key)
    site = _site(own.get("site"), source)
    region = _region(aws, default_region, site.kind, source)
    _site_in_region(site, region, source)
    forecast = own.get("forecast", default_forecast)
    if not isinstance(forecast, str) or not forecast:
        node.fail("required: the forecast YAML file to size", "forecast")
    platform = own.get("platform", "trn3")
    load_catalog().platform(str(platform), source=source, path=f"{PROJECT}:platform")

    def whole(key: str, default: int | None, minimum: int) -> int | None:
        v = node.number(key, required=False, integer=True, minimum=minimum)
        return default if v is None else int(v)

    pct = node.number("percentile", required=False, minimum=0, maximum=99)
    capacity, ids = _capacity(node, source, site.kind)
    allowed = _text_list(own.get("allowedRegions"), source, f"{PROJECT}:allowedRegions")
    if allowed and region not in allowed:
        raise InputError(source, "aws:region", f"{region!r} is not in allowedRegions {list(allowed)}")
    if site.kind == "ai-factory" and set(allowed) - {region}:
        raise InputError(source, f"{PROJECT}:allowedRegions", f"an AWS AI Factory keeps every service and all data "
                         f"in its own region {region!r}: allowedRegions may list only it")
    accounts = _text_list(aws.get("allowedAccountIds"), source, "aws:allowedAccountIds")
    for a in accounts:
        if not (a.isdigit() and len(a) == 12):
            raise InputError(source, "aws:allowedAccountIds", f"{a!r} is not a 12-digit AWS account id")
    name = node.text("name", required=False) or "aif"
    if not NAME.fullmatch(name):
        node.fail(f"{name!r}: 2-16 lowercase letters, digits and hyphens, starting with a letter and not ending "
                  "with a hyphen (it starts S3 bucket, SageMaker and IAM names)", "name")
    return StackSettings(
        region=region, forecast=forecast, platform=str(platform), platform_given="platform" in own,
        build_year=whole("buildYear", 0, 0) or 0,
        percentile=pct if pct else None,
        samples=whole("samples", None, 1), seed=whole("seed", None, 0),
        capacity_type=capacity, capacity_reservation_ids=ids,
        allowed_regions=allowed or (region,), allowed_account_ids=accounts,
        site=site, vpc_cidr=_vpc_cidr(node), domains_per_group=whole("domainsPerGroup", 32, 1) or 32,
        instance_type=node.text("instanceType", required=False),
        ami_parameter=node.text("amiParameter", required=False),
        organization_id=node.text("organizationId", required=False),
        serving_image=node.text("servingImage", required=False),
        root_volume_gib=whole("rootVolumeGib", 512, 64) or 512,
        fsx_throughput_per_tib=_choice_int(node, "fsxThroughputPerTib", (125, 250, 500, 1000), 500),
        name=name, stack=stack,
        on_site_cidrs=_on_site_cidrs(own.get("onSiteCidrs"), site.kind, _vpc_cidr(node), source),
    )


def _on_site_cidrs(raw: Any, kind: str, vpc_cidr: str, source: str) -> tuple[str, ...]:
    """The customer's on-site networks: private IPv4 blocks (RFC 1918, or 100.64.0.0/10 as the VPC may use), no
    default route, none overlapping the factory VPC or each other, and only on a site with a local gateway."""
    path = f"{PROJECT}:onSiteCidrs"
    cidrs = _text_list(raw, source, path)
    if cidrs and kind not in ON_SITE_KINDS:
        raise InputError(source, path, f"only a site with a local gateway ({' or '.join(ON_SITE_KINDS)}) reaches "
                         f"on-site networks; this stack's site.kind is {kind}")
    return check_on_site_cidrs(cidrs, source, path, vpc_cidr)


def check_on_site_cidrs(cidrs: tuple[str, ...], source: str, path: str, vpc_cidr: str | None) -> tuple[str, ...]:
    """THE check of declared on-site networks (stack setting, `verify-org --on-site-cidr`): private IPv4 blocks,
    never a default route, not overlapping each other nor ``vpc_cidr`` when given."""
    vpc = ipaddress.IPv4Network(vpc_cidr) if vpc_cidr else None
    seen: list[ipaddress.IPv4Network] = []
    for i, text in enumerate(cidrs):
        where = f"{path}[{i}]"
        try:
            net = ipaddress.ip_network(text)
        except ValueError as exc:
            raise InputError(source, where, f"{text!r} is not an IPv4 CIDR block ({exc}); "
                             "e.g. 192.168.10.0/24") from None
        if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen == 0:
            raise InputError(source, where, f"{text!r}: an IPv4 block, never a default route (0.0.0.0/0)")
        if not any(net.subnet_of(pool) for pool in VPC_POOLS):
            raise InputError(source, where, f"{text!r} is not a private block; allowed: inside "
                             f"{', '.join(map(str, VPC_POOLS))} (a public block reaches beyond the customer's site)")
        if vpc is not None and net.overlaps(vpc):
            raise InputError(source, where, f"{text!r} overlaps the factory VPC {vpc_cidr} (vpcCidr)")
        clash = next((str(s) for s in seen if net.overlaps(s)), None)
        if clash:
            raise InputError(source, where, f"{text!r} overlaps {clash}, listed before it")
        seen.append(net)
    return tuple(str(n) for n in seen)


def _choice_int(node: Node, key: str, allowed: tuple[int, ...], default: int) -> int:
    v = node.number(key, required=False, integer=True)
    if v is None:
        return default
    if int(v) not in allowed:
        node.fail(f"must be one of {', '.join(map(str, allowed))}, got {int(v)}", key)
    return int(v)


def _text_list(value: Any, source: str, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(source, path, f"must be a list of text values, got {value!r}")
    return tuple(str(v) for v in value)


def _site(raw: Any, source: str) -> SiteSettings:
    if raw is None:
        return SiteSettings()
    node = Node(raw, source, f"{PROJECT}:site")
    kind = node.text("kind", choices=SITE_KINDS) or "region"
    zones = _text_list(node.raw("zones", required=False), source, node.sub("zones"))
    service = _text_list(node.raw("serviceZones", required=False), source, node.sub("serviceZones"))
    group = node.text("zoneGroup", required=False)
    outpost = node.text("outpostArn", required=False)
    lgw = node.text("localGatewayRouteTableId", required=False)
    node.done()
    if kind == "dedicated-local-zone" and (not zones or not service):
        node.fail("a dedicated-local-zone site needs zones (the Dedicated Local Zone names, where pods go) and "
                  "serviceZones (parent-Region AZs for endpoints, SageMaker and the control plane)")
    if service and kind != "dedicated-local-zone":
        node.fail("serviceZones is only for a dedicated-local-zone site", "serviceZones")
    if kind == "outpost":
        if not outpost:
            node.fail("an outpost site needs outpostArn", "outpostArn")
        if len(zones) != 1:
            node.fail("an outpost site needs exactly one zone: the AZ the Outpost is anchored to", "zones")
    elif outpost or lgw:
        node.fail("outpostArn and localGatewayRouteTableId are only for an outpost site",
                  "outpostArn" if outpost else "localGatewayRouteTableId")
    if lgw is not None and not re.fullmatch(r"lgw-rtb-[0-9a-f]{17}", lgw):
        node.fail(f"{lgw!r} is not a local gateway route table id (lgw-rtb-...)", "localGatewayRouteTableId")
    return SiteSettings(kind=kind, zones=zones, service_zones=service, zone_group=group, outpost_arn=outpost,
                        local_gateway_route_table_id=lgw)


OUTPOST_ARN = re.compile(r"arn:[a-z-]+:outposts:(?P<region>[a-z0-9-]+):\d{12}:outpost/op-[0-9a-f]{17}")


def _site_in_region(site: SiteSettings, region: str, source: str) -> None:
    """Zones and the Outpost must belong to ``aws:region`` (AWS names zones after their region)."""
    path = f"{PROJECT}:site"
    az = re.compile(re.escape(region) + r"[a-z]")
    local = re.compile(re.escape(region) + r"-[a-z0-9-]+[a-z]")
    pod_zone = local if site.kind == "dedicated-local-zone" else az
    for key, zones, rule in (("zones", site.zones, pod_zone), ("serviceZones", site.service_zones, az)):
        for i, zone in enumerate(zones):
            if not rule.fullmatch(zone):
                what = "a Local Zone name" if rule is local else "an Availability Zone name"
                raise InputError(source, f"{path}.{key}[{i}]", f"{zone!r} is not {what} of {region} "
                                 f"(e.g. {region}{'-dlz-1a' if rule is local else 'a'})")
    if site.outpost_arn is not None:
        m = OUTPOST_ARN.fullmatch(site.outpost_arn)
        if m is None:
            raise InputError(source, f"{path}.outpostArn", f"{site.outpost_arn!r} is not an Outpost ARN "
                             "(arn:aws:outposts:<region>:<account>:outpost/op-<17 hex>)")
        if m["region"] != region:
            raise InputError(source, f"{path}.outpostArn", f"the Outpost is in {m['region']}, the stack in {region}")


def load_stack_file(path: str | Path, *, default_forecast: str | None = None) -> StackSettings:
    """Settings from a Pulumi.<stack>.yaml file as Pulumi writes it.

    Besides ``config:`` Pulumi writes ``secretsprovider:``/``encryptedkey:`` (``pulumi stack init
    --secrets-provider awskms://...``) or ``encryptionsalt:`` (passphrase); secrets are ``{secure: v1:...}``
    values, read as :class:`Secure` (an error only where the offline plan needs the value).
    """
    doc = load_yaml(path)
    node = Node(doc, str(path))
    for key in STACK_FILE_KEYS:
        node.raw(key, required=False)
    config = node.raw("config", required=False)
    if config is None:
        config = {}
    if not isinstance(config, dict):
        node.fail("config must be a mapping of keys to values", "config")
    node.done()
    values = {k: _secure(v) for k, v in config.items()}
    stack = Path(path).stem.split(".", 1)[1] if "." in Path(path).stem else "dev"
    return parse_settings(values, str(path), default_forecast=default_forecast, stack=stack)


def _secure(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str):
        return Secure(value["secure"])
    return value
