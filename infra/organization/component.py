"""OrganizationGuardrails: the factory's SCPs, each attached to every target (the factory's OU or account)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.base import child
from infra.organization.scps import documents
from infra.organization.settings import OrgSettings


@dataclass
class OrganizationGuardrailsArgs:
    settings: OrgSettings


class OrganizationGuardrails(pulumi.ComponentResource):
    """Three SCPs (regions, no-egress, data), attached to each target; never created unattached."""

    def __init__(self, name: str, args: OrganizationGuardrailsArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aifactory:organization:Guardrails", name, None, opts)
        st = args.settings
        if not st.target_ids:
            raise ValueError("service control policies need targetIds: an SCP attached to nothing constrains nothing")
        self.policies: dict[str, aws.organizations.Policy] = {}
        self.attachments: list[aws.organizations.PolicyAttachment] = []
        docs = documents(st.allowed_regions, st.deployer_role_arn, st.endpoint_service_owners,
                         st.local_gateway_routing)
        for label, doc in docs.items():
            policy = aws.organizations.Policy(
                f"{name}-{label}", name=f"{st.name}-{label}", type="SERVICE_CONTROL_POLICY",
                description=f"sovereign AI factory {st.name}: {label}",
                content=json.dumps(doc, sort_keys=True, separators=(",", ":")), opts=child(self))
            self.policies[label] = policy
            for target in st.target_ids:
                self.attachments.append(aws.organizations.PolicyAttachment(
                    f"{name}-{label}-{target}", policy_id=policy.id, target_id=target, opts=child(self)))
        self.register_outputs({"policy_ids": {k: p.id for k, p in self.policies.items()},
                               "targets": list(st.target_ids)})
