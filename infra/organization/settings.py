"""Settings of the organisation guardrails program (org/Pulumi.yaml), validated with clear messages.

The same parser serves `pulumi up` in org/ (values from the stack's config) and the tests (a
Pulumi.<stack>.yaml file). The SCPs are never created without somewhere to attach them: `targetIds`
(the factory's OU or account, never the organisation root) is required, and the only exemption is
`deployerRoleArn`, an exact role ARN in `factoryAccountId` (no wildcard, no name pattern).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sizing.errors import InputError
from sizing.schema import load_yaml

PROJECT = "sovereign-ai-factory-org"
KEYS = ("targetIds", "allowedRegions", "factoryAccountId", "deployerRoleArn", "endpointServiceOwners",
        "localGatewayRouting", "name")
# Organizations' PolicyTargetId pattern (botocore organizations/2016-11-28 service model), without the root form
TARGET_ID = re.compile(r"^(\d{12}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$")
ROOT_ID = re.compile(r"^r-[0-9a-z]{4,32}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
# an IAM role ARN: partition, account, optional path, role name of IAM's characters (no * or ?)
ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


@dataclass(frozen=True)
class OrgSettings:
    target_ids: tuple[str, ...]
    allowed_regions: tuple[str, ...]
    factory_account_id: str
    deployer_role_arn: str
    endpoint_service_owners: tuple[str, ...] = ()
    local_gateway_routing: bool = False  # an Outpost site may route to the customer's on-site network
    name: str = "aif"
    region: str | None = None  # the management account's provider region (aws:region)
    allowed_account_ids: tuple[str, ...] = ()  # aws:allowedAccountIds: the management account, pinned


def _texts(value: Any, source: str, key: str, pattern: re.Pattern[str], what: str,
           namespace: str = PROJECT) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(source, f"{namespace}:{key}", f"must be a list of {what}, got {value!r}"[:200])
    for v in value:
        if not pattern.match(v):
            raise InputError(source, f"{namespace}:{key}", f"{v[:100]!r} is not {what}")
    return tuple(value)


def _text(own: dict[str, Any], source: str, key: str, pattern: re.Pattern[str], what: str) -> str:
    value = own.get(key)
    if value is None:
        raise InputError(source, f"{PROJECT}:{key}", f"required: {what}")
    if not isinstance(value, str) or not pattern.match(value):
        raise InputError(source, f"{PROJECT}:{key}", f"{str(value)[:100]!r} is not {what}")
    return value


def parse_org_settings(values: dict[str, Any], source: str) -> OrgSettings:
    """Settings from a flat mapping of config keys (``sovereign-ai-factory-org:targetIds``, ``aws:region``)."""
    own: dict[str, Any] = {}
    aws: dict[str, Any] = {}
    for key, value in values.items():
        ns, _, short = str(key).partition(":")
        if ns == PROJECT and short in KEYS:
            own[short] = value
        elif ns == "aws" and short in ("region", "allowedAccountIds", "profile"):
            aws[short] = value
        else:
            allowed = ", ".join([f"{PROJECT}:{k}" for k in KEYS] + ["aws:region", "aws:allowedAccountIds",
                                                                     "aws:profile"])
            raise InputError(source, str(key), f"unknown config key; allowed: {allowed}")
    raw_targets = own.get("targetIds")
    if isinstance(raw_targets, list) and any(isinstance(t, str) and ROOT_ID.match(t) for t in raw_targets):
        raise InputError(source, f"{PROJECT}:targetIds", "the organisation root is not a target: attach the SCPs to "
                                                          "the factory's OU (ou-...) or account (12 digits)")
    targets = _texts(raw_targets, source, "targetIds", TARGET_ID, "an OU id (ou-...) or a 12-digit account id")
    if not targets:
        raise InputError(source, f"{PROJECT}:targetIds", "required: the factory's OU or account id(s); SCPs attached "
                                                          "to nothing constrain nothing, so none are created")
    regions = _texts(own.get("allowedRegions"), source, "allowedRegions", REGION, "a region name (e.g. eu-central-1)")
    if not regions:
        raise InputError(source, f"{PROJECT}:allowedRegions", "required: the regions the factory may use")
    account = _text(own, source, "factoryAccountId", ACCOUNT_ID, "the factory's 12-digit account id")
    arn = _text(own, source, "deployerRoleArn", ROLE_ARN,
                "an exact IAM role ARN (arn:aws:iam::<account>:role/<name>, no wildcard)")
    if arn.split(":")[4] != account:
        raise InputError(source, f"{PROJECT}:deployerRoleArn",
                         f"the deployer role must be in the factory account {account}, not {arn.split(':')[4]}")
    owners = _texts(own.get("endpointServiceOwners"), source, "endpointServiceOwners", ACCOUNT_ID,
                    "a 12-digit account id (an organisation account that owns a PrivateLink service)")
    lgw = own.get("localGatewayRouting", False)
    if not isinstance(lgw, bool):
        raise InputError(source, f"{PROJECT}:localGatewayRouting", f"must be true or false, got {str(lgw)[:40]!r}")
    name = own.get("name", "aif")
    if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9-]{0,31}$", name):
        raise InputError(source, f"{PROJECT}:name", f"{str(name)[:40]!r} is not a short lowercase name (a-z, 0-9, -)")
    region = aws.get("region")
    if region is not None and (not isinstance(region, str) or not REGION.match(region)):
        raise InputError(source, "aws:region", f"{str(region)[:40]!r} is not a region name (e.g. eu-central-1)")
    pinned = _texts(aws.get("allowedAccountIds"), source, "allowedAccountIds", ACCOUNT_ID, "a 12-digit account id",
                    namespace="aws")
    if account in pinned:
        raise InputError(source, "aws:allowedAccountIds", f"the org program runs in the management account, not the "
                                                          f"factory account {account}: SCPs never apply to the "
                                                          "management account")
    return OrgSettings(target_ids=targets, allowed_regions=regions, factory_account_id=account,
                       deployer_role_arn=arn, endpoint_service_owners=owners, local_gateway_routing=lgw, name=name,
                       region=region, allowed_account_ids=pinned)


def load_org_stack_file(path: str | Path) -> OrgSettings:
    """Settings from an org/Pulumi.<stack>.yaml file (its ``config:`` mapping)."""
    doc = load_yaml(path)
    config = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(config, dict):
        raise InputError(str(path), "config", "must be a mapping of config keys to values")
    return parse_org_settings(config, str(path))
