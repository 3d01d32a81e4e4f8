"""The sovereignty rules, each written once, used by the CrossGuard pack (policies/) and `aifactory plan`.

A rule is a class with one check and a message that names the resource and the fix (as AWS
ParallelCluster's validators do). Resource rules see one resource's input properties (camelCase keys,
as the Pulumi engine and its mocks present them); stack rules see all of them, to check relations
(a bucket has its encryption and public-access block; an EFA launch template uses a security group
that admits EFA traffic). A rule that meets an unknown value (a preview before ids exist) stays
silent rather than guessing.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sizing.residency import is_cross_region_model_id

AWS_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-east-2", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
    "ap-southeast-7", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ca-central-1", "ca-west-1",
    "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2",
    "eu-north-1", "il-central-1", "me-south-1", "me-central-1", "mx-central-1", "sa-east-1", "us-gov-east-1",
    "us-gov-west-1", "cn-north-1", "cn-northwest-1", "eusc-de-east-1",
)


@dataclass(frozen=True)
class Resource:
    """What a rule sees of a resource, whichever runner presents it."""

    type: str
    name: str
    props: Mapping[str, Any]
    id: str | None = None
    provider_region: str | None = None
    protect: bool | None = None
    refs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # property -> names of resources it uses


@dataclass(frozen=True)
class Context:
    allowed_regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Violation:
    rule: str
    resource_type: str
    resource_name: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


def _known(value: Any) -> bool:
    """False for values Pulumi has not resolved yet (previews show them as None or unknown markers)."""
    return value is not None and not (isinstance(value, str) and value.startswith("04da6b54-"))


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    fix: str
    stack: bool = False

    def message(self, r: Resource, problem: str) -> str:
        return f"{r.type} '{r.name}': {problem}. Fix: {self.fix}"

    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        """Problems with one resource (resource rules)."""
        return iter(())

    def check_stack(self, resources: list[Resource], ctx: Context) -> Iterator[tuple[Resource, str]]:
        """Problems among resources (stack rules)."""
        return iter(())

    def violations(self, resources: list[Resource], ctx: Context) -> list[Violation]:
        found: list[Violation] = []
        if self.stack:
            for r, problem in self.check_stack(resources, ctx):
                found.append(Violation(self.name, r.type, r.name, self.message(r, problem)))
        else:
            for r in resources:
                for problem in self.check(r, ctx):
                    found.append(Violation(self.name, r.type, r.name, self.message(r, problem)))
        return found


# -- 1. region ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowedRegion(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        allowed = ctx.allowed_regions or ((r.provider_region,) if r.provider_region else ())
        if not allowed:
            return
        for key in ("region", "serviceRegion"):
            value = r.props.get(key)
            if isinstance(value, str) and _known(value) and value not in allowed:
                yield f"{key} is {value!r}, outside the allowed regions {list(allowed)}"
        if r.provider_region and r.provider_region not in allowed:
            yield f"its provider deploys to {r.provider_region!r}, outside the allowed regions {list(allowed)}"


# -- 2. no internet -------------------------------------------------------------------------------

INTERNET_TYPES = {
    "aws:ec2/internetGateway:InternetGateway": "an internet gateway",
    "aws:ec2/internetGatewayAttachment:InternetGatewayAttachment": "an internet gateway attachment",
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway": "an egress-only internet gateway",
    "aws:ec2/natGateway:NatGateway": "a NAT gateway",
    "aws:ec2/eip:Eip": "an Elastic (public) IP",
    "aws:ec2/eipAssociation:EipAssociation": "an Elastic (public) IP association",
    "aws:ec2/vpcPeeringConnection:VpcPeeringConnection": "a VPC peering connection",
    "aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter": "a VPC peering accepter",
    "aws:ec2/carrierGateway:CarrierGateway": "a carrier gateway",
}


@dataclass(frozen=True)
class NoInternetPath(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        if r.type in INTERNET_TYPES:
            yield f"{INTERNET_TYPES[r.type]} opens a path to the internet"
        p = r.props
        if r.type == "aws:ec2/subnet:Subnet" and _truthy(p.get("mapPublicIpOnLaunch")):
            yield "mapPublicIpOnLaunch gives instances public IPs"
        if r.type == "aws:ec2/instance:Instance" and _truthy(p.get("associatePublicIpAddress")):
            yield "associatePublicIpAddress gives the instance a public IP"
        if r.type == "aws:ec2/launchTemplate:LaunchTemplate":
            for i in p.get("networkInterfaces") or []:
                if _truthy(i.get("associatePublicIpAddress")):
                    yield f"network card {i.get('networkCardIndex')} asks for a public IP"
        routes = [p] if r.type == "aws:ec2/route:Route" else (p.get("routes") or []) \
            if r.type == "aws:ec2/routeTable:RouteTable" else []
        for route in routes:
            target = next((route.get(k) for k in ("gatewayId", "natGatewayId", "vpcPeeringConnectionId",
                                                    "egressOnlyGatewayId", "carrierGatewayId") if route.get(k)), None)
            dest = route.get("destinationCidrBlock") or route.get("cidrBlock") or route.get("destinationIpv6CidrBlock")
            if target and target != "local":
                yield f"a route to {dest} leaves the VPC through {target}"
            elif dest in ("0.0.0.0/0", "::/0"):
                yield f"a default route ({dest}) has no place in a closed network"


# -- 3. customer-managed encryption ----------------------------------------------------------------


def _cmk(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "alias/aws/" not in value


@dataclass(frozen=True)
class CustomerManagedEncryption(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        p, t = r.props, r.type
        simple = {
            "aws:fsx/lustreFileSystem:LustreFileSystem": "kmsKeyId",
            "aws:cloudwatch/logGroup:LogGroup": "kmsKeyId",
            "aws:sagemaker/domain:Domain": "kmsKeyId",
            "aws:sagemaker/notebookInstance:NotebookInstance": "kmsKeyId",
            "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "kmsKeyArn",
            "aws:bedrock/guardrail:Guardrail": "kmsKeyArn",
            "aws:cloudtrail/trail:Trail": "kmsKeyId",
            "aws:ebs/volume:Volume": "kmsKeyId",
        }
        if t in simple:
            key = p.get(simple[t])
            if _known(key) and not _cmk(key) or key is None:
                yield f"{simple[t]} is not set to the factory's customer-managed key"
            if t == "aws:ebs/volume:Volume" and not _truthy(p.get("encrypted")):
                yield "the volume is not encrypted"
        elif t == "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
            for rule in p.get("rules") or [{}]:
                d = rule.get("applyServerSideEncryptionByDefault") or {}
                if d.get("sseAlgorithm") not in ("aws:kms", "aws:kms:dsse") or not _cmk(d.get("kmsMasterKeyId")):
                    yield "default encryption is not SSE-KMS with the factory's key"
        elif t == "aws:ec2/launchTemplate:LaunchTemplate":
            for m in p.get("blockDeviceMappings") or []:
                ebs = m.get("ebs") or {}
                if not _truthy(ebs.get("encrypted")) or not _cmk(ebs.get("kmsKeyId")):
                    yield f"volume {m.get('deviceName')} is not encrypted with the factory's key"
        elif t == "aws:ec2/instance:Instance":
            for dev in [p.get("rootBlockDevice") or {}] + list(p.get("ebsBlockDevices") or []):
                if not _truthy(dev.get("encrypted")) or not _cmk(dev.get("kmsKeyId")):
                    yield "a volume of the instance is not encrypted with the factory's key"
        elif t == "aws:ecr/repository:Repository":
            enc = (p.get("encryptionConfigurations") or [{}])[0]
            if enc.get("encryptionType") != "KMS" or not _cmk(enc.get("kmsKey")):
                yield "images are not encrypted with the factory's key"
        elif t == "aws:kms/key:Key" and not _truthy(p.get("enableKeyRotation")):
            yield "key rotation is off"


def _by_id(resources: Iterable[Resource], type_: str) -> dict[str, Resource]:
    out: dict[str, Resource] = {}
    for r in resources:
        if r.type == type_:
            for ident in (r.id, r.props.get("bucket"), r.name):
                if isinstance(ident, str) and ident:
                    out[ident] = r
    return out


@dataclass(frozen=True)
class BucketsHaveEncryption(Rule):
    stack: bool = True

    def check_stack(self, resources: list[Resource], ctx: Context) -> Iterator[tuple[Resource, str]]:
        yield from _bucket_companions(resources, "aws:s3/bucketServerSideEncryptionConfiguration:"
                                                 "BucketServerSideEncryptionConfiguration", "no default encryption")


def _bucket_companions(resources: list[Resource], companion: str, problem: str) -> Iterator[tuple[Resource, str]]:
    buckets = [r for r in resources if r.type == "aws:s3/bucket:Bucket"]
    covered = {r.props.get("bucket") for r in resources if r.type == companion}
    if any(not _known(c) for c in covered):
        return  # a preview: companions point at ids that do not exist yet
    for b in buckets:
        names = {b.id, b.props.get("bucket"), b.name}
        if not names & covered:
            yield b, problem


# -- 4. public access ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicAccessBlocked(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        p = r.props
        if r.type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
            off = [k for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
                   if not _truthy(p.get(k))]
            if off:
                yield f"{', '.join(off)} not true"
        elif r.type in ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"):
            if str(p.get("acl", "")).startswith("public"):
                yield f"the ACL {p.get('acl')!r} is public"
        elif r.type == "aws:s3/bucketPolicy:BucketPolicy" and _known(p.get("policy")):
            try:
                doc = json.loads(p["policy"]) if isinstance(p.get("policy"), str) else p.get("policy") or {}
            except ValueError:
                return
            for s in doc.get("Statement", []):
                if s.get("Effect") == "Allow" and s.get("Principal") in ("*", {"AWS": "*"}) and not s.get("Condition"):
                    yield f"statement {s.get('Sid', '')!r} allows anyone"


@dataclass(frozen=True)
class BucketsBlockPublicAccess(Rule):
    stack: bool = True

    def check_stack(self, resources: list[Resource], ctx: Context) -> Iterator[tuple[Resource, str]]:
        yield from _bucket_companions(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                                      "no public access block")


# -- 5. Bedrock stays in region --------------------------------------------------------------------


@dataclass(frozen=True)
class NoCrossRegionInference(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        p = r.props
        if r.type == "aws:bedrock/guardrail:Guardrail" and p.get("crossRegionConfig"):
            yield "crossRegionConfig routes guardrail evaluation to other regions"
        if r.type == "aws:bedrock/provisionedModelThroughput:ProvisionedModelThroughput":
            arn = p.get("modelArn")
            if isinstance(arn, str) and is_cross_region_model_id(arn):
                yield f"model {arn!r} is a cross-region inference profile"
        if r.type == "aws:bedrock/inferenceProfile:InferenceProfile":
            src = (p.get("modelSource") or {}).get("copyFrom")
            if isinstance(src, str) and is_cross_region_model_id(src):
                yield f"it copies the cross-region profile {src!r}"


# -- 6. IMDSv2 -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Imdsv2Required(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        if r.type in ("aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance"):
            tokens = (r.props.get("metadataOptions") or {}).get("httpTokens")
            if tokens != "required":
                yield f"metadataOptions.httpTokens is {tokens!r}, so IMDSv1 stays open"


# -- 7. user data ----------------------------------------------------------------------------------

URL = re.compile(r"(?:https?|ftp)://([A-Za-z0-9.\-]+)")


def _script(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
        return decoded
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return value


@dataclass(frozen=True)
class UserDataStaysInRegion(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        if r.type not in ("aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance"):
            return
        script = _script(r.props.get("userData"))
        allowed = ctx.allowed_regions or ((r.provider_region,) if r.provider_region else ())
        for host in URL.findall(script):
            if not any(host.endswith(f".{reg}.amazonaws.com") or host.endswith(f".{reg}.amazonaws.eu")
                       for reg in allowed):
                yield f"user data fetches from {host}, outside the allowed regions"
        for region in AWS_REGIONS:
            if allowed and region not in allowed and re.search(rf"\b{re.escape(region)}\b", script):
                yield f"user data names the region {region}"


# -- 8. EFA security group -------------------------------------------------------------------------


def _admits_efa(sg: Resource) -> bool:
    def self_all(rules: Any) -> bool:
        return any(str(x.get("protocol")) == "-1" and _truthy(x.get("self")) for x in rules or [])

    return self_all(sg.props.get("ingress")) and self_all(sg.props.get("egress"))


@dataclass(frozen=True)
class EfaSecurityGroup(Rule):
    stack: bool = True

    def check_stack(self, resources: list[Resource], ctx: Context) -> Iterator[tuple[Resource, str]]:
        sgs = [r for r in resources if r.type == "aws:ec2/securityGroup:SecurityGroup"]
        by_id = {r.id: r for r in sgs if r.id}
        by_name = {r.name: r for r in sgs}
        for lt in (r for r in resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate"):
            efa = [i for i in lt.props.get("networkInterfaces") or []
                   if i.get("interfaceType") in ("efa", "efa-only")]
            if not efa:
                continue
            ids = {sg for i in efa for sg in i.get("securityGroups") or []}
            if not ids:
                yield lt, "its EFA interfaces have no security group"
                continue
            # by id where ids are known (offline manifest), else by the engine's property dependencies
            referenced = [by_id[x] for x in ids if x in by_id] or \
                [by_name[n] for n in lt.refs.get("networkInterfaces", ()) if n in by_name]
            if not referenced:
                continue
            if not any(_admits_efa(g) for g in referenced):
                yield lt, ("none of its EFA interfaces' security groups has all-protocol ingress and egress "
                           "to itself (EFA traffic is neither IPv4 nor IPv6)")


# -- 9. endpoint policies --------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointPolicyPresent(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        if r.type != "aws:ec2/vpcEndpoint:VpcEndpoint":
            return
        policy = r.props.get("policy")
        if policy is None:
            yield "it has no endpoint policy, so any principal may use it"
            return
        if not _known(policy):
            return
        try:
            doc = json.loads(policy) if isinstance(policy, str) else policy
        except ValueError:
            yield "its endpoint policy is not valid JSON"
            return
        for s in doc.get("Statement", []):
            if s.get("Effect") == "Allow" and not s.get("Condition"):
                yield f"statement {s.get('Sid', '')!r} allows any principal without a condition"


# -- 10. protection of stateful resources -----------------------------------------------------------

STATEFUL_TYPES = ("aws:kms/key:Key", "aws:s3/bucket:Bucket", "aws:fsx/lustreFileSystem:LustreFileSystem")


@dataclass(frozen=True)
class StatefulProtected(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        if r.type in STATEFUL_TYPES and r.protect is False:
            yield "it holds data but is not protected against deletion"


RULES: tuple[Rule, ...] = (
    AllowedRegion("allowed-region", "Every resource, its provider and endpoint service region stay in the "
                  "allowed regions.", "deploy to an allowed region (aws:region, allowedRegions)"),
    NoInternetPath("no-internet-path", "No internet gateway, NAT, egress-only gateway, peering, public IP or "
                   "route out of the VPC.", "reach AWS services through VPC endpoints; remove the public path"),
    CustomerManagedEncryption("customer-managed-encryption", "Buckets, volumes, file systems, log groups, "
                              "SageMaker and Bedrock resources are encrypted with a customer-managed KMS key.",
                              "encrypt with the factory's KMS key (kms_key_id / kms_key_arn)"),
    BucketsHaveEncryption("bucket-encryption-configured", "Every bucket has default SSE-KMS encryption.",
                          "add a BucketServerSideEncryptionConfiguration with the factory's key"),
    PublicAccessBlocked("public-access-blocked", "S3 public access is blocked and no bucket is public.",
                        "set all four public-access-block flags true and remove public ACLs or statements"),
    BucketsBlockPublicAccess("bucket-public-access-block", "Every bucket has a public access block.",
                             "add a BucketPublicAccessBlock with all flags true"),
    NoCrossRegionInference("no-cross-region-inference", "No Bedrock cross-region inference profile or guardrail "
                           "cross-region configuration.", "use in-region model ids and no crossRegionConfig"),
    Imdsv2Required("imdsv2-required", "Instances require IMDSv2.", "set metadata_options.http_tokens = 'required'"),
    UserDataStaysInRegion("user-data-in-region", "User data fetches nothing from outside the allowed regions.",
                          "bake software into the AMI or fetch it through in-region endpoints"),
    EfaSecurityGroup("efa-security-group", "EFA interfaces use a security group with all-protocol ingress and "
                     "egress to itself.", "add protocol -1 self rules for ingress and egress"),
    EndpointPolicyPresent("endpoint-policy", "Every VPC endpoint has a policy restricting who may use it.",
                          "attach a policy conditioned on aws:PrincipalAccount or aws:PrincipalOrgID"),
    StatefulProtected("stateful-protected", "KMS keys, buckets and file systems are protected.",
                      "set protect=True (and retain_on_delete) on the resource"),
)


@dataclass(frozen=True)
class Report:
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def check_all(resources: list[Resource], ctx: Context, rules: Iterable[Rule] = RULES) -> Report:
    """Run every rule over a set of resources (the offline manifest, or a stack in a test)."""
    return Report([v for rule in rules for v in rule.violations(resources, ctx)])
