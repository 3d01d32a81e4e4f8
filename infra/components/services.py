"""Model services on top of the factory: Bedrock and SageMaker, wired to stay in the region.

- Bedrock: model-invocation logging to the in-region logs bucket and a log group encrypted with the
  factory key; a guardrail encrypted with the factory key and no cross-region configuration;
  provisioned throughput for workloads the forecast puts on Bedrock, always on in-region
  foundation models (never a cross-region inference profile).
- SageMaker: a VpcOnly domain with the factory key, and for workloads served on SageMaker a model
  with network isolation inside the VPC, an endpoint configuration encrypted with the factory key
  on the plan's accelerator instance type and count, and the endpoint. Serving images come from
  the factory's own KMS-encrypted ECR repository.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.blueprint import Blueprint
from infra.components.base import assume_role_policy, child, policy_json


@dataclass
class ModelServicesArgs:
    blueprint: Blueprint
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    logs_bucket: pulumi.Input[str]
    checkpoints_bucket_arn: pulumi.Input[str]
    logs_bucket_policy: pulumi.Resource
    serving_image: str | None = None  # tag or digest in the factory's ECR repository, pushed after the first up


# SageMaker CreateEndpointConfig: "do not specify KmsKeyId" for instance types with local NVMe instance storage
# (SageMaker developer guide, "Host instance storage volumes"): every accelerator family this project serves on
LOCAL_NVME_FAMILIES = ("ml.p", "ml.trn", "ml.inf", "ml.g4dn", "ml.g5", "ml.g6", "ml.c5d", "ml.m5d", "ml.r5d")


def sagemaker_instance_type(instance_type: str) -> str:
    return f"ml.{instance_type}"


def endpoint_kms_key(instance_type: str, key_arn: pulumi.Input[str]) -> pulumi.Input[str] | None:
    """The key for the endpoint's ML storage volume, or None where the instance type has local NVMe storage
    (encrypted by the hardware; SageMaker refuses a KmsKeyId there)."""
    return None if instance_type.startswith(LOCAL_NVME_FAMILIES) else key_arn


def foundation_model_arn(partition: str, region: str, model_id: str) -> str:
    return f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}"


class ModelServices(pulumi.ComponentResource):
    def __init__(self, name: str, args: ModelServicesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aifactory:services:ModelServices", name, None, opts)
        bp = args.blueprint
        region = bp.region

        # -- Bedrock ------------------------------------------------------------------------------
        log_group = aws.cloudwatch.LogGroup(f"{name}-bedrock-invocations", name=f"/{bp.name}/bedrock-invocations",
                                            retention_in_days=365, kms_key_id=args.kms_key_arn, opts=child(self))
        log_role = aws.iam.Role(f"{name}-bedrock-logging",
                                assume_role_policy=assume_role_policy("bedrock.amazonaws.com", args.account_id),
                                opts=child(self))
        log_role_policy = aws.iam.RolePolicy(f"{name}-bedrock-logging", role=log_role.id, policy=policy_json(
            log_group.arn, build=lambda arn: {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [arn, f"{arn}:*"]}]}), opts=child(self))
        self.invocation_logging = aws.bedrockmodel.InvocationLoggingConfiguration(
            f"{name}-invocation-logging", region=region, logging_config={
                "cloudwatch_config": {"log_group_name": log_group.name, "role_arn": log_role.arn},
                "s3_config": {"bucket_name": args.logs_bucket, "key_prefix": "bedrock"},
                "text_data_delivery_enabled": True, "image_data_delivery_enabled": True,
                "embedding_data_delivery_enabled": True, "video_data_delivery_enabled": True,
            }, opts=child(self, depends_on=[args.logs_bucket_policy, log_role_policy]))
        self.guardrail = aws.bedrock.Guardrail(
            f"{name}-guardrail", name=f"{bp.name}-guardrail", region=region, kms_key_arn=args.kms_key_arn,
            description="Sovereign factory default guardrail",
            blocked_input_messaging="This request is not allowed by the factory's usage policy.",
            blocked_outputs_messaging="The response was withheld by the factory's usage policy.",
            content_policy_config={"filters_configs": [
                {"type": t, "input_strength": "HIGH", "output_strength": "HIGH"}
                for t in ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")
            ] + [{"type": "PROMPT_ATTACK", "input_strength": "HIGH", "output_strength": "NONE"}]},
            sensitive_information_policy_config={"pii_entities_configs": [
                {"type": t, "action": "ANONYMIZE"} for t in ("EMAIL", "PHONE", "NAME", "ADDRESS")
            ] + [{"type": t, "action": "BLOCK"} for t in ("CREDIT_DEBIT_CARD_NUMBER", "PASSWORD")]},
            opts=child(self))
        self.guardrail_version = aws.bedrock.GuardrailVersion(
            f"{name}-guardrail-v1", guardrail_arn=self.guardrail.guardrail_arn, region=region,
            description="initial", opts=child(self))
        self.provisioned = [
            aws.bedrock.ProvisionedModelThroughput(
                f"{name}-{b.workload}", provisioned_model_name=f"{bp.name}-{b.workload}", region=region,
                model_arn=pulumi.Output.from_input(args.partition).apply(
                    lambda p, m=b.model_id: foundation_model_arn(p, region, m)),
                model_units=b.model_units, commitment_duration=b.commitment, opts=child(self))
            for b in bp.bedrock
        ]

        self._sagemaker(name, bp, args)
        self.register_outputs({
            "guardrail_id": self.guardrail.guardrail_id,
            "sagemaker_domain_id": self.domain.id,
            "sagemaker_endpoints": [e.name for e in self.endpoints],
            "bedrock_provisioned": [p.provisioned_model_name for p in self.provisioned],
        })

    def _sagemaker(self, name: str, bp: Blueprint, args: ModelServicesArgs) -> None:
        """The serving repository, a VpcOnly Studio domain, and models/endpoints once the image exists."""
        # -- SageMaker ---------------------------------------------------------------------------
        self.repository = aws.ecr.Repository(
            f"{name}-serving-images", name=f"{bp.name}/serving", image_tag_mutability="IMMUTABLE",
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": args.kms_key_arn}],
            image_scanning_configuration={"scan_on_push": True}, opts=child(self))
        exec_role = aws.iam.Role(f"{name}-sagemaker",
                                 assume_role_policy=assume_role_policy("sagemaker.amazonaws.com", args.account_id),
                                 opts=child(self))
        aws.iam.RolePolicy(f"{name}-sagemaker", role=exec_role.id, policy=policy_json(
            args.checkpoints_bucket_arn, args.kms_key_arn, self.repository.arn,
            build=lambda bucket, key, repo: {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": [bucket, f"{bucket}/*"]},
                {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant",
                                               "kms:DescribeKey"], "Resource": key},
                {"Effect": "Allow", "Action": ["ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage",
                                               "ecr:BatchCheckLayerAvailability"], "Resource": repo},
                {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                {"Effect": "Allow", "Action": ["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
                                               "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission",
                                               "ec2:Describe*"], "Resource": "*"},
            ]}), opts=child(self))
        self.domain = aws.sagemaker.Domain(
            f"{name}-studio", domain_name=f"{bp.name}-studio", auth_mode="IAM", vpc_id=args.vpc_id,
            subnet_ids=args.subnet_ids, app_network_access_type="VpcOnly", kms_key_id=args.kms_key_arn,
            default_user_settings={"execution_role": exec_role.arn, "security_groups": [args.security_group_id]},
            opts=child(self))
        self.endpoints = []
        # the serving image must exist before CreateModel: models come once servingImage names a pushed image
        for sm in bp.sagemaker if args.serving_image else ():
            image = args.serving_image
            itype = sagemaker_instance_type(bp.instance_type)
            model = aws.sagemaker.Model(
                f"{name}-{sm.workload}-model", name=f"{bp.name}-{sm.workload}", execution_role_arn=exec_role.arn,
                enable_network_isolation=True,
                primary_container={"image": self.repository.repository_url.apply(
                    lambda u, i=image: f"{u}@{i}" if i.startswith("sha256:") else f"{u}:{i}")},
                vpc_config={"subnets": args.subnet_ids, "security_group_ids": [args.security_group_id]},
                opts=child(self))
            config = aws.sagemaker.EndpointConfiguration(
                f"{name}-{sm.workload}-config", name=f"{bp.name}-{sm.workload}",
                kms_key_arn=endpoint_kms_key(itype, args.kms_key_arn),
                production_variants=[{"variant_name": "primary", "model_name": model.name, "instance_type": itype,
                                      "initial_instance_count": sm.instances}], opts=child(self))
            self.endpoints.append(aws.sagemaker.Endpoint(
                f"{name}-{sm.workload}", name=f"{bp.name}-{sm.workload}", endpoint_config_name=config.name,
                opts=child(self)))
