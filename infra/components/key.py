"""The factory's customer-managed KMS key: everything the factory stores is encrypted with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.base import child, policy_json, stateful


@dataclass
class FactoryKeyArgs:
    name: str
    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    dns_suffix: pulumi.Input[str]


class FactoryKey(pulumi.ComponentResource):
    """A KMS key with rotation on, a key policy for the services that write the factory's logs, and an alias.

    The policy names only the account and service principals: a role named there must exist before
    CreateKey (infra/api_rules.py checks it). Roles get the key through IAM or a ``kms.Grant``.
    """

    def __init__(self, name: str, args: FactoryKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aifactory:security:FactoryKey", name, None, opts)
        region = args.region

        def build(acct: str, part: str, dns: str) -> dict[str, Any]:
            root = f"arn:{part}:iam::{acct}:root"
            use = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
            return {"Version": "2012-10-17", "Statement": [
                {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*",
                 "Resource": "*"},
                {"Sid": "CloudWatchLogsInRegion", "Effect": "Allow",
                 "Principal": {"Service": f"logs.{region}.{dns}"}, "Action": use, "Resource": "*",
                 "Condition": {"ArnLike": {
                     "kms:EncryptionContext:aws:logs:arn": f"arn:{part}:logs:{region}:{acct}:*"}}},
                {"Sid": "CloudTrail", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                 "Action": ["kms:GenerateDataKey*", "kms:DescribeKey", "kms:Decrypt"], "Resource": "*",
                 "Condition": {"StringEquals": {"aws:SourceAccount": acct}}},
                {"Sid": "LogDelivery", "Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"},
                 "Action": use, "Resource": "*", "Condition": {"StringEquals": {"aws:SourceAccount": acct}}},
                # Bedrock writes invocation logs to the SSE-KMS logs bucket (Bedrock user guide, model invocation
                # logging: "key policy for the S3 bucket's KMS key")
                {"Sid": "BedrockInvocationLogs", "Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"},
                 "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"], "Resource": "*",
                 "Condition": {"StringEquals": {"aws:SourceAccount": acct},
                               "ArnLike": {"aws:SourceArn": f"arn:{part}:bedrock:{region}:{acct}:*"}}},
            ]}

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"{args.name}: sovereign AI factory data key ({region})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            key_usage="ENCRYPT_DECRYPT",
            policy=policy_json(args.account_id, args.partition, args.dns_suffix, build=build),
            opts=stateful(self),
        )
        self.alias = aws.kms.Alias(f"{name}-alias", name=f"alias/{args.name}-factory", target_key_id=self.key.key_id,
                                   opts=child(self))
        self.arn = self.key.arn
        self.register_outputs({"arn": self.key.arn, "alias": self.alias.name})
