"""The policies of the pack, built from infra/rules.py: one definition per rule, shared with `aifactory plan`.

Importable without starting anything (the PolicyPack server is created only in __main__.py), so tests
can call each policy's `validate` exactly as the Pulumi engine would.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from infra.rules import RULES, Context, Resource, Rule  # noqa: E402

PACK_NAME = "sovereign-ai-factory"
CONFIG = PolicyConfigSchema(properties={
    "allowedRegions": {"type": "array", "items": {"type": "string"},
                       "description": "Regions resources may use; default: the region of each resource's provider"},
    "onSiteCidrs": {"type": "array", "items": {"type": "string"},
                    "description": "An Outpost site's own on-premises networks its local gateway may route to; "
                                   "default none (every local-gateway route is refused)"},
})


def _region(provider: Any) -> str | None:
    props = getattr(provider, "props", None) or {}
    region = props.get("region") if isinstance(props, Mapping) else None
    return region if isinstance(region, str) else None


def _protect(opts: Any) -> bool | None:
    value = getattr(opts, "protect", None)
    return value if isinstance(value, bool) else None


def as_resource(args: Any) -> Resource:
    """A CrossGuard resource (validation args or stack resource) as the rules see it."""
    props = args.props
    deps = getattr(args, "property_dependencies", None) or {}
    refs = {k: tuple(d.name for d in v) for k, v in deps.items()}
    return Resource(type=args.resource_type, name=args.name, props=props, id=props.get("id") if props else None,
                    provider_region=_region(getattr(args, "provider", None)),
                    protect=_protect(getattr(args, "opts", None)), refs=refs)


def _context(config: Mapping[str, Any] | None) -> Context:
    regions = (config or {}).get("allowedRegions") or ()
    on_site = (config or {}).get("onSiteCidrs") or ()
    return Context(tuple(str(r) for r in regions), tuple(str(c) for c in on_site))


def _resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: Any, report_violation: Callable[..., None]) -> None:
        for problem in rule.check(as_resource(args), _context(args.get_config())):
            report_violation(rule.message(as_resource(args), problem))

    return ResourceValidationPolicy(name=rule.name, description=rule.description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY, config_schema=CONFIG)


def _stack_policy(rule: Rule) -> StackValidationPolicy:
    def validate(args: Any, report_violation: Callable[..., None]) -> None:
        resources = [as_resource(r) for r in args.resources]
        urns = {(r.resource_type, r.name): r.urn for r in args.resources}
        for res, problem in rule.check_stack(resources, _context(args.get_config())):
            report_violation(rule.message(res, problem), urns.get((res.type, res.name)))

    return StackValidationPolicy(name=rule.name, description=rule.description, validate=validate,
                                 enforcement_level=EnforcementLevel.MANDATORY, config_schema=CONFIG)


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    return [_stack_policy(r) if r.stack else _resource_policy(r) for r in RULES]
