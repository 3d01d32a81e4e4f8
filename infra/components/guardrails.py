"""Account guardrails of the factory stack: CloudTrail.

CloudTrail logs every region's API calls (so an attempt outside the allowed regions is seen) to
the in-region logs bucket, encrypted with the factory key, with log-file validation.

The organisation guardrails (service control policies) are NOT created here: SCPs never apply to the
organisation's management account, so a factory stack that could create them would be deployed where
they do not bind. They are a separate program, org/ (infra/organization/), run in the management
account and attached to the factory's OU or account.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.base import child


@dataclass
class GuardrailsArgs:
    name: str
    logs_bucket: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    trail_name: str
    regions: tuple[str, ...]
    depends_on: list[pulumi.Resource] | None = None


class Guardrails(pulumi.ComponentResource):
    def __init__(self, name: str, args: GuardrailsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aifactory:security:Guardrails", name, None, opts)
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail", name=args.trail_name, s3_bucket_name=args.logs_bucket, s3_key_prefix="cloudtrail",
            kms_key_id=args.kms_key_arn, enable_log_file_validation=True, include_global_service_events=True,
            is_multi_region_trail=True, enable_logging=True, opts=child(self, depends_on=args.depends_on or []))
        self.register_outputs({"trail_arn": self.trail.arn})
