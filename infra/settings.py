"""Stack settings: everything the program needs besides the plan, validated with clear messages.

The same parser serves `pulumi up` (values from the stack's config) and `aifactory plan` (a
Pulumi.<stack>.yaml file, or defaults taken from the forecast's site). Keys are the project's config
keys (see Pulumi.yaml); `aws:region` and `aws:allowedAccountIds` come from the aws namespace.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sizing.errors import InputError
from sizing.schema import Node, load_yaml

PROJECT = "sovereign-ai-factory"
CAPACITY_TYPES = ("capacity-block", "reservation", "on-demand")
SITE_KINDS = ("region", "local-zone", "outpost")


@dataclass(frozen=True)
class SiteSettings:
    """Where the factory stands: a region's AZs, a Local Zone, or a customer site (Outpost / AI Factory)."""

    kind: str = "region"
    zones: tuple[str, ...] = ()  # AZ or Local Zone names; empty = the region's first AZs
    zone_group: str | None = None  # Local Zone group to opt in to
    outpost_arn: str | None = None


@dataclass(frozen=True)
class StackSettings:
    region: str
    forecast: str
    platform: str = "trn3"
    build_year: int = 0  # 0 = the forecast's last year
    percentile: float | None = None
    samples: int = 10_000
    seed: int = 0
    capacity_type: str = "reservation"
    allowed_regions: tuple[str, ...] = ()
    allowed_account_ids: tuple[str, ...] = ()
    site: SiteSettings = field(default_factory=SiteSettings)
    vpc_cidr: str = "10.64.0.0/12"
    domains_per_group: int = 32
    instance_type: str | None = None  # override the catalog's (placeholder) instance type
    ami_parameter: str | None = None
    organization_management: bool = False
    scp_target_id: str | None = None
    organization_id: str | None = None
    root_volume_gib: int = 512
    fsx_throughput_per_tib: int = 500
    name: str = "aif"
    stack: str = "dev"

    @property
    def regions(self) -> tuple[str, ...]:
        return self.allowed_regions or (self.region,)


_KEYS = {
    "forecast", "platform", "buildYear", "percentile", "samples", "seed", "capacityType", "allowedRegions",
    "site", "vpcCidr", "domainsPerGroup", "instanceType", "amiParameter", "organizationManagement",
    "scpTargetId", "organizationId", "rootVolumeGib", "fsxThroughputPerTib", "name",
}


def parse_settings(values: dict[str, Any], source: str, *, default_region: str | None = None,
                   default_forecast: str | None = None, stack: str = "dev") -> StackSettings:
    """Settings from a flat mapping of config keys (``aws:region``, ``sovereign-ai-factory:platform``...)."""
    from sizing.catalog import load_catalog

    own: dict[str, Any] = {}
    aws: dict[str, Any] = {}
    for key, value in values.items():
        ns, _, short = key.partition(":")
        if not short:
            raise InputError(source, key, f"config keys are namespaced: {PROJECT}:{key} or aws:{key}")
        if ns == PROJECT:
            own[short] = value
        elif ns == "aws":
            aws[short] = value
        else:
            raise InputError(source, key, f"unknown config namespace {ns!r}; allowed: {PROJECT}, aws")
    node = Node(own, source, PROJECT)
    for key in own:
        if key not in _KEYS:
            node.fail(f"unknown config key; allowed: {', '.join(sorted(_KEYS))}", key)

    region = aws.get("region", default_region)
    if not isinstance(region, str) or not region:
        raise InputError(source, "aws:region", "required: the AWS region the factory is built in")
    forecast = own.get("forecast", default_forecast)
    if not isinstance(forecast, str) or not forecast:
        node.fail("required: the forecast YAML file to size", "forecast")
    catalog = load_catalog()
    platform = own.get("platform", "trn3")
    catalog.platform(str(platform), source=source, path=f"{PROJECT}:platform")

    def whole(key: str, default: int, minimum: int) -> int:
        v = node.number(key, required=False, integer=True, minimum=minimum)
        return default if v is None else int(v)

    pct = node.number("percentile", required=False, minimum=0, maximum=99)
    capacity = node.text("capacityType", required=False, choices=CAPACITY_TYPES) or "reservation"
    allowed = _text_list(own.get("allowedRegions"), source, f"{PROJECT}:allowedRegions")
    if allowed and region not in allowed:
        raise InputError(source, "aws:region", f"{region!r} is not in allowedRegions {list(allowed)}")
    accounts = _text_list(aws.get("allowedAccountIds"), source, "aws:allowedAccountIds")
    for a in accounts:
        if not (a.isdigit() and len(a) == 12):
            raise InputError(source, "aws:allowedAccountIds", f"{a!r} is not a 12-digit AWS account id")
    cidr = node.text("vpcCidr", required=False) or "10.64.0.0/12"
    try:
        net = ipaddress.ip_network(cidr)
    except ValueError:
        node.fail(f"{cidr!r} is not a CIDR block (e.g. 10.64.0.0/12)", "vpcCidr")
    if not net.is_private or net.version != 4 or not 8 <= net.prefixlen <= 16:
        node.fail(f"{cidr!r} must be a private IPv4 block between /8 and /16", "vpcCidr")
    site = _site(own.get("site"), source)
    return StackSettings(
        region=region, forecast=forecast, platform=str(platform),
        build_year=whole("buildYear", 0, 0),
        percentile=pct if pct else None,
        samples=whole("samples", 10_000, 1), seed=whole("seed", 0, 0),
        capacity_type=capacity, allowed_regions=allowed or (region,), allowed_account_ids=accounts,
        site=site, vpc_cidr=cidr, domains_per_group=whole("domainsPerGroup", 32, 1),
        instance_type=node.text("instanceType", required=False),
        ami_parameter=node.text("amiParameter", required=False),
        organization_management=bool(node.flag("organizationManagement")),
        scp_target_id=node.text("scpTargetId", required=False),
        organization_id=node.text("organizationId", required=False),
        root_volume_gib=whole("rootVolumeGib", 512, 64),
        fsx_throughput_per_tib=_choice_int(node, "fsxThroughputPerTib", (125, 250, 500, 1000), 500),
        name=node.text("name", required=False) or "aif",
        stack=stack,
    )


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
    group = node.text("zoneGroup", required=False)
    outpost = node.text("outpostArn", required=False)
    node.done()
    if kind == "local-zone" and (not zones or not group):
        node.fail("a Local Zone site needs zones (the Local Zone names) and zoneGroup (to opt in)")
    if kind == "outpost" and not outpost:
        node.fail("an outpost site (AWS AI Factory or Outpost) needs outpostArn", "outpostArn")
    if outpost is not None and not outpost.startswith("arn:"):
        node.fail(f"{outpost!r} is not an ARN", "outpostArn")
    if kind == "outpost" and not zones:
        node.fail("an outpost site needs zones: the Availability Zone the Outpost is anchored to", "zones")
    return SiteSettings(kind=kind, zones=zones, zone_group=group, outpost_arn=outpost)


def load_stack_file(path: str | Path, *, default_forecast: str | None = None) -> StackSettings:
    """Settings from a Pulumi.<stack>.yaml file (its ``config:`` mapping)."""
    doc = load_yaml(path)
    node = Node(doc, str(path))
    config = node.raw("config")
    if not isinstance(config, dict):
        node.fail("config must be a mapping of keys to values", "config")
    node.done()
    stack = Path(path).stem.split(".", 1)[1] if "." in Path(path).stem else "dev"
    return parse_settings(config, str(path), default_forecast=default_forecast, stack=stack)
