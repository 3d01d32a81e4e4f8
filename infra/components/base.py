"""Small helpers every component uses: child options, stateful-resource protection, JSON policies."""

from __future__ import annotations

import json
from typing import Any

import pulumi


def child(parent: pulumi.Resource, **kwargs: Any) -> pulumi.ResourceOptions:
    """Options for a resource owned by a component (inherits the component's provider)."""
    return pulumi.ResourceOptions(parent=parent, **kwargs)


def stateful(parent: pulumi.Resource, **kwargs: Any) -> pulumi.ResourceOptions:
    """Options for data-bearing resources: never deleted or replaced by accident."""
    return pulumi.ResourceOptions(parent=parent, protect=True, retain_on_delete=True, **kwargs)


def policy_json(*parts: Any, build: Any) -> pulumi.Output[str]:
    """A JSON policy document from resolved Outputs: ``build(*values) -> dict``."""
    return pulumi.Output.all(*parts).apply(lambda vals: json.dumps(build(*vals), sort_keys=True))


def assume_role_policy(service: str, account_id: pulumi.Input[str] | None = None) -> pulumi.Output[str]:
    """Trust policy for an AWS service principal, scoped to the account when given."""

    def build(acct: str | None) -> dict[str, Any]:
        stmt: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        if acct:
            stmt["Condition"] = {"StringEquals": {"aws:SourceAccount": acct}}
        return {"Version": "2012-10-17", "Statement": [stmt]}

    return pulumi.Output.from_input(account_id).apply(lambda acct: json.dumps(build(acct), sort_keys=True))
