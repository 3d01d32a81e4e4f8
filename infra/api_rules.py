"""Offline checks of what AWS itself (or the provider, before any API call) refuses: names, descriptions,
enums, and KMS key-policy principals that may not exist yet.

Each rule is written once, with its source:
- botocore's service models in the installed package (``botocore/data/<service>/<version>/service-2.json``):
  a shape's ``pattern``, ``min``/``max`` and ``enum`` are the API's own constraints;
- the Terraform AWS provider's validators (pulumi-aws bridges them, so they run before any API call),
  where the provider is stricter than, or the model silent about, the API;
- the S3 User Guide's bucket naming rules.

The manifest's resources arrive with camelCase input keys (as the Pulumi engine records them).
:func:`check_manifest` runs every rule over every resource of a manifest; `aifactory plan` refuses a
plan with a violation, and tests/test_deploy_rules.py runs it over the national and AI Factory stacks.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

EC2_DESCRIPTION = re.compile(r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*")
TF_SG = ("hashicorp/terraform-provider-aws internal/service/ec2 validSecurityGroupRuleDescription "
         "(after EC2 API_IpRange: a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*, at most 255)")
S3_NAMES = "Amazon S3 User Guide, bucket naming rules (terraform-provider-aws validBucketName)"
AUTONAME_SUFFIX = 8  # Pulumi auto-names a resource `<logical name>-<7 random characters>`


@dataclass(frozen=True)
class Violation:
    resource: str
    type: str
    path: str
    value: str
    message: str
    source: str

    def __str__(self) -> str:
        return f"{self.type} {self.resource}: {self.path} = {self.value!r}: {self.message} [{self.source}]"


@functools.cache
def shape(service: str, name: str) -> dict[str, Any]:
    """A shape of a botocore service model (the API's own constraints)."""
    import botocore.loaders

    model = botocore.loaders.create_loader().load_service_model(service, "service-2")
    return dict(model["shapes"][name])


def enum(service: str, name: str) -> tuple[str, ...]:
    return tuple(shape(service, name).get("enum", ()))


def check_shape(service: str, name: str, value: str) -> str | None:
    """What is wrong with ``value`` for a botocore string shape, or None."""
    s = shape(service, name)
    if len(value) < int(s.get("min", 0)):
        return f"shorter than {s['min']} characters"
    if "max" in s and len(value) > int(s["max"]):
        return f"longer than {s['max']} characters"
    if "enum" in s and value not in s["enum"]:
        return f"not one of the API's {len(s['enum'])} values"
    if "pattern" in s and not re.fullmatch(s["pattern"], value):
        return f"does not match the API pattern {s['pattern']}"
    return None


def ec2_description(value: str) -> str | None:
    if len(value) > 255:
        return "longer than 255 characters"
    bad = sorted({c for c in value if not EC2_DESCRIPTION.fullmatch(c)})
    return f"characters EC2 refuses: {''.join(bad)!r}" if bad else None


def s3_bucket_name(value: str) -> str | None:
    if not 3 <= len(value) <= 63:
        return "must be 3-63 characters"
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", value):
        return "only lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
    if ".." in value or value.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or value.endswith(
            ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")):
        return "uses a prefix, suffix or '..' S3 reserves"
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return None
    return "must not look like an IP address"


Check = Callable[[str], str | None]


def _model(service: str, name: str) -> tuple[Check, str]:
    version = "botocore " + __import__("botocore").__version__
    return (lambda v: check_shape(service, name, v)), f"{version} {service} shape {name}"


# (resource type, property path, check, source); `[]` walks a list, `@auto` is Pulumi's auto-name
RULES: tuple[tuple[str, str, Check, str], ...] = (
    ("aws:ec2/securityGroup:SecurityGroup", "description", ec2_description, TF_SG),
    ("aws:ec2/securityGroup:SecurityGroup", "ingress[].description", ec2_description, TF_SG),
    ("aws:ec2/securityGroup:SecurityGroup", "egress[].description", ec2_description, TF_SG),
    ("aws:ec2/securityGroupRule:SecurityGroupRule", "description", ec2_description, TF_SG),
    ("aws:s3/bucket:Bucket", "bucket", s3_bucket_name, S3_NAMES),
    ("aws:sagemaker/model:Model", "name", *_model("sagemaker", "ModelName")),
    ("aws:sagemaker/endpoint:Endpoint", "name", *_model("sagemaker", "EndpointName")),
    ("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "name", *_model("sagemaker", "EndpointConfigName")),
    ("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "productionVariants[].variantName",
     *_model("sagemaker", "VariantName")),
    ("aws:sagemaker/domain:Domain", "domainName", *_model("sagemaker", "DomainName")),
    ("aws:bedrock/provisionedModelThroughput:ProvisionedModelThroughput", "provisionedModelName",
     *_model("bedrock", "ProvisionedModelName")),
    ("aws:bedrock/guardrail:Guardrail", "name", *_model("bedrock", "GuardrailName")),
    ("aws:bedrock/guardrail:Guardrail", "description", *_model("bedrock", "GuardrailDescription")),
    ("aws:bedrock/guardrail:Guardrail", "blockedInputMessaging", *_model("bedrock", "GuardrailBlockedMessaging")),
    ("aws:bedrock/guardrail:Guardrail", "blockedOutputsMessaging", *_model("bedrock", "GuardrailBlockedMessaging")),
    ("aws:kms/alias:Alias", "name", *_model("kms", "AliasNameType")),
    ("aws:kms/key:Key", "description", *_model("kms", "DescriptionType")),
    ("aws:cloudwatch/logGroup:LogGroup", "name", *_model("logs", "LogGroupName")),
    ("aws:ecr/repository:Repository", "name", *_model("ecr", "RepositoryName")),
    ("aws:iam/role:Role", "@auto", *_model("iam", "roleNameType")),
    ("aws:iam/instanceProfile:InstanceProfile", "@auto", *_model("iam", "instanceProfileNameType")),
    ("aws:iam/serviceLinkedRole:ServiceLinkedRole", "customSuffix", *_model("iam", "customSuffixType")),
)


def _values(inputs: dict[str, Any], path: str, name: str) -> Iterator[tuple[str, Any]]:
    if path == "@auto":
        if "name" not in inputs and "namePrefix" not in inputs:
            yield "name (auto-named)", name + "-" + "x" * (AUTONAME_SUFFIX - 1)
        return
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        for i, item in enumerate(inputs.get(head[:-2]) or []):
            if isinstance(item, dict):
                for sub, v in _values(item, rest, name):
                    yield f"{head[:-2]}[{i}].{sub}", v
        return
    if head in inputs:
        if rest:
            if isinstance(inputs[head], dict):
                yield from ((f"{head}.{p}", v) for p, v in _values(inputs[head], rest, name))
        else:
            yield head, inputs[head]


def check_resources(resources: Iterable[dict[str, Any]]) -> list[Violation]:
    """Every rule over every resource (``{"type", "name", "inputs"}`` as in the offline manifest)."""
    out: list[Violation] = []
    for r in resources:
        for typ, path, check, source in RULES:
            if r["type"] != typ:
                continue
            for where, value in _values(r["inputs"], path, r["name"]):
                if isinstance(value, str):
                    problem = check(value)
                    if problem:
                        out.append(Violation(r["name"], typ, where, value, problem, source))
        out.extend(kms_principals(r))
    return out


KMS_SOURCE = ("AWS KMS API CreateKey/PutKeyPolicy: MalformedPolicyDocumentException when a principal does not "
              "exist (docs: key-policy-default, 'principals that do not exist')")


def kms_principals(r: dict[str, Any]) -> list[Violation]:
    """A KMS key policy may name only principals that exist before the key: the account itself and service
    principals. Roles (service-linked or not) are created later, or lazily by AWS: grant them through a
    ``kms.Grant`` that depends on the role, or through IAM policies the account root delegates to."""
    if r["type"] != "aws:kms/key:Key" or not isinstance(r["inputs"].get("policy"), str):
        return []
    out = []
    for i, stmt in enumerate(json.loads(r["inputs"]["policy"]).get("Statement", [])):
        principal = stmt.get("Principal", {})
        arns = principal.get("AWS", []) if isinstance(principal, dict) else []
        for arn in [arns] if isinstance(arns, str) else arns:
            if not re.fullmatch(r"(arn:[a-z-]+:iam::\d{12}:root|\d{12})", arn):
                out.append(Violation(r["name"], r["type"], f"policy.Statement[{i}].Principal.AWS", arn,
                                     "names a principal that may not exist when the key is created", KMS_SOURCE))
    return out
