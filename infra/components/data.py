"""The factory's data: S3 buckets for datasets, checkpoints and logs, and FSx for Lustre.

Every bucket is versioned, encrypted by default with the factory key, closed to the public, owned
by the bucket owner, and has a policy that refuses plain HTTP and any encryption other than the
factory's key. The file system is PERSISTENT_2, encrypted with the factory key, EFA-enabled, and
sized from the plan's training runs: checkpoints kept and the datasets they read. Data-bearing
resources are protected against deletion and replacement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.blueprint import Blueprint
from infra.components.base import child, policy_json, stateful

PURPOSES = ("datasets", "checkpoints", "logs")


@dataclass
class DataArgs:
    blueprint: Blueprint
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    subnet_id: pulumi.Input[str]  # in the fabric zone, where the training groups sit (EFA does not cross AZs)
    efa_security_group_id: pulumi.Input[str]
    trail_name: str
    outpost_arn: str | None = None
    on_site_subnet_id: pulumi.Input[str] | None = None  # an Outpost subnet for the S3 on Outposts endpoint


def bucket_policy(bucket_arn: str, key_arn: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    """TLS only, and nothing written under another key or another kind of encryption."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "KmsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"{bucket_arn}/*",
         "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
        {"Sid": "FactoryKeyOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"{bucket_arn}/*",
         "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}}},
        *extra,
    ]}


class Data(pulumi.ComponentResource):
    def __init__(self, name: str, args: DataArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aifactory:data:Data", name, None, opts)
        bp = args.blueprint
        self.buckets: dict[str, aws.s3.Bucket] = {}
        self.policies: dict[str, aws.s3.BucketPolicy] = {}
        for purpose in PURPOSES:
            bucket = aws.s3.Bucket(
                f"{name}-{purpose}",
                bucket=pulumi.Output.from_input(args.account_id).apply(
                    lambda acct, p=purpose: f"{bp.name}-{p}-{acct}-{bp.region}"),
                force_destroy=False, opts=stateful(self))
            self.buckets[purpose] = bucket
            aws.s3.BucketVersioning(f"{name}-{purpose}-versioning", bucket=bucket.id,
                                    versioning_configuration={"status": "Enabled"}, opts=child(self))
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-{purpose}-encryption", bucket=bucket.id,
                rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                                    "kms_master_key_id": args.kms_key_arn},
                        "bucket_key_enabled": True}], opts=child(self))
            access = aws.s3.BucketPublicAccessBlock(
                f"{name}-{purpose}-public-access", bucket=bucket.id, block_public_acls=True,
                block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True, opts=child(self))
            aws.s3.BucketOwnershipControls(f"{name}-{purpose}-ownership", bucket=bucket.id,
                                           rule={"object_ownership": "BucketOwnerEnforced"}, opts=child(self))
            self.policies[purpose] = aws.s3.BucketPolicy(
                f"{name}-{purpose}-policy", bucket=bucket.id,
                policy=policy_json(bucket.arn, args.kms_key_arn, args.account_id, args.partition,
                                   build=lambda arn, key, acct, part, p=purpose: bucket_policy(
                                       arn, key, _service_writes(p, arn, acct, part, bp.region, args.trail_name))),
                opts=child(self, depends_on=[access]))

        self.file_system = aws.fsx.LustreFileSystem(
            f"{name}-lustre", deployment_type="PERSISTENT_2", storage_type="SSD",
            storage_capacity=bp.fsx_storage_gib, per_unit_storage_throughput=bp.fsx_throughput_per_tib,
            metadata_configuration={"mode": "AUTOMATIC"}, efa_enabled=True, data_compression_type="LZ4",
            subnet_ids=args.subnet_id, security_group_ids=[args.efa_security_group_id],
            kms_key_id=args.kms_key_arn, automatic_backup_retention_days=7, copy_tags_to_backups=True,
            tags={"Name": f"{bp.name}-lustre"}, opts=stateful(self))
        self.on_site: aws.s3control.Bucket | None = None
        if args.outpost_arn and args.on_site_subnet_id is not None:
            self.on_site = s3_on_outposts(self, name, bp, args)
        self.register_outputs({
            "buckets": {p: b.bucket for p, b in self.buckets.items()},
            "fsx_dns_name": self.file_system.dns_name,
            "fsx_mount_name": self.file_system.mount_name,
        })


def _outpost_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def s3_on_outposts(parent: pulumi.Resource, name: str, bp: Blueprint, args: DataArgs) -> aws.s3control.Bucket:
    """Data that must stay on site: an S3 on Outposts bucket and its endpoint in an Outpost subnet."""
    assert args.outpost_arn is not None and args.on_site_subnet_id is not None
    outpost = _outpost_id(args.outpost_arn)
    bucket = aws.s3control.Bucket(f"{name}-on-site", bucket=f"{bp.name}-on-site", outpost_id=outpost,
                                  opts=stateful(parent))
    aws.s3outposts.Endpoint(f"{name}-on-site-endpoint", outpost_id=outpost, subnet_id=args.on_site_subnet_id,
                            security_group_id=args.efa_security_group_id, access_type="Private", opts=child(parent))
    return bucket


def _service_writes(purpose: str, bucket_arn: str, acct: str, part: str, region: str,
                    trail: str) -> list[dict[str, Any]]:
    """The logs bucket admits CloudTrail and Bedrock invocation logs from this account and region only."""
    if purpose != "logs":
        return []
    trail_arn = f"arn:{part}:cloudtrail:{region}:{acct}:trail/{trail}"
    return [
        {"Sid": "CloudTrailAcl", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:GetBucketAcl", "Resource": bucket_arn,
         "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}}},
        {"Sid": "CloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": f"{bucket_arn}/cloudtrail/AWSLogs/{acct}/*",
         "Condition": {"StringEquals": {"aws:SourceArn": trail_arn,
                                        "s3:x-amz-acl": "bucket-owner-full-control"}}},
        {"Sid": "BedrockInvocationLogs", "Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": f"{bucket_arn}/bedrock/*",
         "Condition": {"StringEquals": {"aws:SourceAccount": acct},
                       "ArnLike": {"aws:SourceArn": f"arn:{part}:bedrock:{region}:{acct}:*"}}},
    ]
