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
import fnmatch
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.organization.scps import LOCAL_GATEWAY_ACTIONS, REGION_EXEMPT_ACTIONS, REQUIRED_DENIALS
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
    # The customer's own on-site networks an Outpost site may reach through its local gateway (CIDRs). Empty (the
    # default): every local-gateway route is an egress path. Never a default route, whatever is listed here.
    on_site_cidrs: tuple[str, ...] = ()


def _on_site(dest: Any, ctx: Context) -> bool:
    """The destination lies inside one of the customer's declared on-site networks (and is not a default route)."""
    try:
        net = ipaddress.ip_network(str(dest), strict=False)
        return net.prefixlen > 0 and any(net.subnet_of(ipaddress.ip_network(c, strict=False))  # type: ignore[arg-type]
                                         for c in ctx.on_site_cidrs
                                         if ipaddress.ip_network(c, strict=False).version == net.version)
    except ValueError:
        return False


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


# -- 2. no internet, no other network ------------------------------------------------------------

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
    "aws:ec2/defaultVpc:DefaultVpc": "the default VPC (it has an internet gateway)",
    "aws:ec2/defaultSubnet:DefaultSubnet": "a default subnet (public IPs, internet gateway route)",
    "aws:globalaccelerator/accelerator:Accelerator": "a Global Accelerator (an internet edge)",
}
ROUTE_TARGETS = ("gatewayId", "natGatewayId", "vpcPeeringConnectionId", "egressOnlyGatewayId", "carrierGatewayId",
                 "transitGatewayId", "localGatewayId", "coreNetworkArn", "vpcEndpointId")


def _routes(r: Resource) -> list[Mapping[str, Any]]:
    if r.type == "aws:ec2/route:Route":
        return [r.props]
    if r.type == "aws:ec2/routeTable:RouteTable":
        return list(r.props.get("routes") or [])
    return []


@dataclass(frozen=True)
class NoInternetPath(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        if r.type in INTERNET_TYPES:
            yield f"{INTERNET_TYPES[r.type]} opens a path to the internet"
        p = r.props
        if r.type == "aws:ec2/subnet:Subnet" and _truthy(p.get("mapPublicIpOnLaunch")):
            yield "mapPublicIpOnLaunch gives instances public IPs"
        if r.type == "aws:ec2/subnet:Subnet" and (_truthy(p.get("mapCustomerOwnedIpOnLaunch"))
                                                 or p.get("customerOwnedIpv4Pool")):
            yield "it maps customer-owned IPs (the Outpost local gateway's address pool) onto instances"
        if r.type == "aws:ec2/instance:Instance" and _truthy(p.get("associatePublicIpAddress")):
            yield "associatePublicIpAddress gives the instance a public IP"
        if r.type == "aws:ec2/launchTemplate:LaunchTemplate":
            for i in p.get("networkInterfaces") or []:
                if _truthy(i.get("associatePublicIpAddress")):
                    yield f"network card {i.get('networkCardIndex')} asks for a public IP"
        for route in _routes(r):
            target = next((route.get(k) for k in ROUTE_TARGETS if route.get(k)), None)
            dest = route.get("destinationCidrBlock") or route.get("cidrBlock") or route.get("destinationIpv6CidrBlock")
            if route.get("localGatewayId") and _on_site(dest, ctx):
                continue  # an Outpost site's route to the customer's declared on-site network
            if target and target != "local":
                yield f"a route to {dest} leaves the VPC through {target}"
            elif dest in ("0.0.0.0/0", "::/0"):
                yield f"a default route ({dest}) has no place in a closed network"


# Pulumi type prefixes (whole families) and types that join the VPC to a network outside the factory.
EXTERNAL_FAMILIES = {
    "aws:ec2transitgateway/": "a Transit Gateway resource (joins the VPC to other VPCs and networks)",
    "aws:directconnect/": "a Direct Connect resource (a private line to another network)",
    "aws:ec2clientvpn/": "a Client VPN resource (remote users into the VPC)",
}
EXTERNAL_TYPES = {
    "aws:ec2/vpnGateway:VpnGateway": "a virtual private gateway (site-to-site VPN)",
    "aws:ec2/vpnGatewayAttachment:VpnGatewayAttachment": "a VPN gateway attachment",
    "aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation": "VPN route propagation",
    "aws:ec2/vpnConnection:VpnConnection": "a site-to-site VPN connection",
    "aws:ec2/vpnConnectionRoute:VpnConnectionRoute": "a VPN connection route",
    "aws:ec2/vpnConcentrator:VpnConcentrator": "a VPN concentrator",
    "aws:ec2/customerGateway:CustomerGateway": "a customer gateway (the far end of a VPN)",
    # An Outpost site's VPC association with its local gateway route table creates no route by itself: the paths
    # are a VPC route to the local gateway (no-internet-path) and a local-gateway route (here), both held to the
    # customer's declared on-site networks (Context.on_site_cidrs).
    "aws:ec2/localGatewayRoute:LocalGatewayRoute": "an Outpost local-gateway route (to the on-premises network)",
    "aws:route53/resolverEndpoint:ResolverEndpoint": "a Route 53 Resolver endpoint (DNS to or from another network)",
    "aws:route53/resolverRuleAssociation:ResolverRuleAssociation":
        "a Resolver rule association (sends the VPC's DNS queries where the rule says)",
    "aws:vpclattice/serviceNetworkVpcAssociation:ServiceNetworkVpcAssociation":
        "a VPC Lattice service network association (services of other accounts)",
    "aws:networkmanager/vpcAttachment:VpcAttachment": "a Cloud WAN attachment",
    "aws:networkmanager/siteToSiteVpnAttachment:SiteToSiteVpnAttachment": "a Cloud WAN VPN attachment",
}
AWS_ENDPOINT_TYPES = ("Interface", "Gateway")  # GatewayLoadBalancer, Resource, ServiceNetwork reach others' networks


@dataclass(frozen=True)
class NoExternalNetwork(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        family = next((what for prefix, what in EXTERNAL_FAMILIES.items() if r.type.startswith(prefix)), None)
        what = family or EXTERNAL_TYPES.get(r.type)
        if what and not self._on_site_link(r, ctx):
            yield f"{what} links the factory to a network outside it"
        p = r.props
        if r.type == "aws:route53/resolverRule:ResolverRule" and str(p.get("ruleType", "")).upper() == "FORWARD":
            yield "a FORWARD resolver rule sends DNS queries out of the VPC"
        if r.type == "aws:ec2/vpcEndpoint:VpcEndpoint":
            kind = p.get("vpcEndpointType") or "Gateway"
            service = p.get("serviceName")
            if _known(kind) and kind not in AWS_ENDPOINT_TYPES:
                yield f"a {kind} endpoint sends traffic to a network the factory does not own"
            if isinstance(service, str) and _known(service) and ("vpce-svc-" in service or ".vpce." in service):
                yield f"the endpoint service {service} is a PrivateLink service not owned by AWS"


    @staticmethod
    def _on_site_link(r: Resource, ctx: Context) -> bool:
        """An Outpost local-gateway route to one of the customer's declared on-site networks."""
        if r.type == "aws:ec2/localGatewayRoute:LocalGatewayRoute":
            return _on_site(r.props.get("destinationCidrBlock"), ctx)
        return False


@dataclass(frozen=True)
class SageMakerNoInternet(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        p = r.props
        if r.type == "aws:sagemaker/domain:Domain":
            mode = p.get("appNetworkAccessType")
            if mode != "VpcOnly" and (mode is None or _known(mode)):
                yield f"appNetworkAccessType is {mode or 'PublicInternetOnly (the default)'}: Studio has internet"
        if r.type == "aws:sagemaker/notebookInstance:NotebookInstance":
            access = p.get("directInternetAccess")
            if access != "Disabled" and (access is None or _known(access)):
                yield f"directInternetAccess is {access or 'Enabled (the default)'}"
        if r.type == "aws:sagemaker/model:Model" and not p.get("vpcConfig") \
                and not _truthy(p.get("enableNetworkIsolation")):
            yield "the model runs outside the VPC without network isolation, so its containers reach the internet"


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


# -- 9. endpoint policies: who may call, and whose resources --------------------------------------


def _policy_doc(value: Any) -> dict[str, Any] | None:
    """A policy document from a JSON string or mapping; None when it is not valid JSON."""
    try:
        doc = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = doc.get("Statement", [])
    return [s for s in ([found] if isinstance(found, dict) else found) if isinstance(s, dict)]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition(statement: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A statement's Condition as {operator: {key: value}}, dropping anything malformed."""
    cond = statement.get("Condition")
    return {op: pairs for op, pairs in cond.items() if isinstance(pairs, dict)} if isinstance(cond, dict) else {}


@dataclass(frozen=True)
class EndpointPolicyPresent(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        if r.type != "aws:ec2/vpcEndpoint:VpcEndpoint":
            return
        policy = r.props.get("policy")
        if policy is None:
            yield "it has no endpoint policy, so any principal may use it"
        elif _known(policy) and _policy_doc(policy) is None:
            yield "its endpoint policy is not valid JSON"


PRINCIPAL_PERIMETER = {"aws:principalaccount": "account", "aws:principalorgid": "org"}
RESOURCE_PERIMETER = {"aws:resourceaccount": "account", "aws:resourceorgid": "org"}
PERIMETER_VALUE = {"account": re.compile(r"^\d{12}$"), "org": re.compile(r"^o-[a-z0-9]{10,32}$")}

# AWS-owned buckets a service in the VPC may need through the S3 endpoint, by region. Source: AWS's data
# perimeter examples, vpc_endpoint_policies/s3_endpoint_policy.json ("AllowRequestsToAWSOwnedResources") in
# github.com/aws-samples/data-perimeter-policy-examples. Only names fixed by AWS with the region in them.
AWS_OWNED_BUCKETS = (
    "prod-{region}-starport-layer-bucket",  # ECR image layers
    "packages.{region}.amazonaws.com", "repo.{region}.amazonaws.com", "amazonlinux.{region}.amazonaws.com",
    "amazonlinux-2-repos-{region}", "al2023-repos-{region}-de612dc2", "al2023-{region}",
    "aws-ssm-{region}", "amazon-ssm-{region}", "amazon-ssm-packages-{region}", "{region}-birdwatcher-prod",
    "aws-ssm-distributor-file-{region}", "aws-ssm-document-attachments-{region}", "patch-baseline-snapshot-{region}",
    "amazoncloudwatch-agent-{region}", "ec2imagebuilder-toe-{region}-prod",
)
S3_ARN = re.compile(r"^arn:aws[a-z-]*:s3:::([^/]+)(/.*)?$")


def _perimeter(cond: Mapping[str, Mapping[str, Any]], kinds: Mapping[str, str]) -> dict[str, set[str]] | None:
    """The perimeter values a statement's StringEquals sets for the given keys, by kind; None if any is invalid.

    Only StringEquals counts: IfExists, negated or wildcard operators let requests without the key through.
    """
    found: dict[str, set[str]] = {}
    for op, pairs in cond.items():
        for key, value in pairs.items():
            kind = kinds.get(str(key).lower())
            if kind is None:
                continue
            if op != "StringEquals":
                return None
            values = [str(v) for v in _as_list(value)]
            if not values or not all(PERIMETER_VALUE[kind].match(v) or not _known(v) for v in values):
                return None
            found.setdefault(kind, set()).update(values)
    return found


# Foundation models belong to no account (the ARN's account field is empty): AWS-owned, named one by one.
FOUNDATION_MODEL_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:([a-z0-9-]+)::foundation-model/[^*?]+$")
READ_ONLY = re.compile(r"^[a-z0-9-]+:(Get|List|Describe|Head)[A-Za-z]*$")


def _aws_owned(arn: Any, regions: tuple[str, ...]) -> bool:
    """An exact ARN of an AWS-owned resource in one of the factory's regions: a listed bucket, a foundation model."""
    if not isinstance(arn, str):
        return False
    m = S3_ARN.match(arn)
    if m:
        return m.group(1) in {t.format(region=reg) for t in AWS_OWNED_BUCKETS for reg in regions}
    model = FOUNDATION_MODEL_ARN.match(arn)
    return model is not None and model.group(1) in regions


@dataclass(frozen=True)
class EndpointResourcePerimeter(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        if r.type != "aws:ec2/vpcEndpoint:VpcEndpoint" or not _known(r.props.get("policy")):
            return
        doc = _policy_doc(r.props.get("policy"))
        regions = ctx.allowed_regions or ((r.provider_region,) if r.provider_region else ())
        for i, s in enumerate(_statements(doc or {})):
            if s.get("Effect") == "Allow":
                yield from self._allow(s, str(s.get("Sid") or f"#{i}"), regions)

    def _allow(self, s: Mapping[str, Any], sid: str, regions: tuple[str, ...]) -> Iterator[str]:
        """An Allow passes as (own principals, own resources), or as a list of AWS-owned resources."""
        loose = [k for k in ("NotAction", "NotResource", "NotPrincipal") if k in s]
        if loose:
            yield f"statement {sid!r} allows through {', '.join(loose)}, which admits everything not listed"
            return
        cond = _condition(s)
        who, whose = _perimeter(cond, PRINCIPAL_PERIMETER), _perimeter(cond, RESOURCE_PERIMETER)
        if whose:
            if not who:
                yield (f"statement {sid!r} admits principals outside the account or organisation (no StringEquals "
                       "on aws:PrincipalAccount or aws:PrincipalOrgID)")
            for kind, values in whose.items():
                own = (who or {}).get(kind, set())
                if who and not values <= own and all(_known(v) for v in values | own):
                    yield (f"statement {sid!r} lets the factory's principals reach resources of "
                           f"{sorted(values - own)}, outside their own {kind} (the resource perimeter must name "
                           "the account or organisation of the principal perimeter)")
            return
        resources = _as_list(s.get("Resource"))
        outside = [a for a in resources if not _aws_owned(a, regions)]
        if outside:
            yield (f"statement {sid!r} reaches resources of any account: no StringEquals on aws:ResourceAccount or "
                   f"aws:ResourceOrgID, and {outside[:3]} are not AWS-owned resources of {list(regions)}")
        writes = [a for a in _as_list(s.get("Action")) if not READ_ONLY.match(str(a))]
        if not who and writes:
            yield (f"statement {sid!r} admits principals outside the account or organisation (no StringEquals on "
                   f"aws:PrincipalAccount or aws:PrincipalOrgID) to {writes[:3]}, which are not read-only")


# -- 10. organisation guardrails: SCPs attached, without holes --------------------------------------

SCP_TYPES = ("aws:organizations/policy:Policy",)
SCP_ATTACHMENT = "aws:organizations/policyAttachment:PolicyAttachment"


def _scps(resources: Iterable[Resource]) -> list[tuple[Resource, dict[str, Any]]]:
    found = []
    for r in resources:
        if r.type in SCP_TYPES and r.props.get("type", "SERVICE_CONTROL_POLICY") == "SERVICE_CONTROL_POLICY":
            doc = _policy_doc(r.props.get("content")) if _known(r.props.get("content")) else None
            found.append((r, doc or {}))
    return found


@dataclass(frozen=True)
class ScpAttached(Rule):
    stack: bool = True

    def check_stack(self, resources: list[Resource], ctx: Context) -> Iterator[tuple[Resource, str]]:
        attached = [a.props.get("policyId") for a in resources if a.type == SCP_ATTACHMENT]
        if any(not _known(p) for p in attached):
            return  # a preview: attachments point at policy ids that do not exist yet
        by_ref = {n for a in resources if a.type == SCP_ATTACHMENT for n in a.refs.get("policyId", ())}
        for r, _ in _scps(resources):
            if not {r.id, r.name} & (set(attached) | by_ref):
                yield r, "it is attached to no OU or account, so it constrains nothing"


_EXEMPT_OPS = ("ArnNotEquals", "StringNotEquals", "ArnNotLike", "StringNotLike")


def _exemptions(sid: str, cond: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    """Problems with a Deny's principal exemption: only ArnNotEquals/StringNotEquals of exact ARNs hold."""
    for op, pairs in cond.items():
        for key, value in pairs.items():
            loose = [v for v in _as_list(value) if "*" in str(v) or "?" in str(v)]
            if str(key).lower() == "aws:principalarn" and (op not in ("ArnNotEquals", "StringNotEquals") or loose):
                yield (f"statement {sid!r} exempts principals by pattern ({op} {loose or value}): anyone who can "
                       "create a role with a matching name escapes it")


@dataclass(frozen=True)
class ScpWithoutHoles(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        for _, doc in _scps([r]):
            for i, s in enumerate(_statements(doc)):
                if s.get("Effect") != "Deny":
                    continue
                sid = str(s.get("Sid") or f"#{i}")
                yield from _exemptions(sid, _condition(s))
                extra = [a for a in _as_list(s.get("NotAction") or []) if a not in REGION_EXEMPT_ACTIONS]
                if extra:
                    yield f"statement {sid!r} exempts {extra[:4]}, beyond the justified global-service actions"
                # with an explicit allow-list (policy config allowedRegions), the region deny may spare no other
                spared = [str(v) for pairs in _condition(s).values() for key, value in pairs.items()
                          if key.lower() == "aws:requestedregion" for v in _as_list(value)]
                outside = [reg for reg in spared if ctx.allowed_regions and reg not in ctx.allowed_regions]
                if outside:
                    yield f"statement {sid!r} spares {outside}, outside the allowed regions {list(ctx.allowed_regions)}"


def _covers(statement: Mapping[str, Any], action: str, key: str | None) -> bool:
    """A Deny statement denies the action: unconditionally (key None), or under a condition on the key."""
    if statement.get("Effect") != "Deny" or not any(
            fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(statement.get("Action") or [])):
        return False
    cond = _condition(statement)
    keys = {str(k).lower() for pairs in cond.values() for k in pairs}
    return not cond if key is None else key.lower() in keys


@dataclass(frozen=True)
class ScpComplete(Rule):
    stack: bool = True

    def check_stack(self, resources: list[Resource], ctx: Context) -> Iterator[tuple[Resource, str]]:
        scps = _scps(resources)
        if not scps or any(not doc for _, doc in scps):
            return  # no organisation guardrails here (the factory's own stack), or a preview
        statements = [s for _, doc in scps for s in _statements(doc)]
        required = [(a, k) for a, k in REQUIRED_DENIALS if not (ctx.on_site_cidrs and a in LOCAL_GATEWAY_ACTIONS)]
        missing = [f"{a}" + (f" on {k}" if k else "") for a, k in required
                   if not any(_covers(s, a, k) for s in statements)]
        if missing:
            yield scps[0][0], f"no SCP denies {missing[:4]}{' ...' if len(missing) > 4 else ''}"
        if not any(s.get("Effect") == "Deny" and "NotAction" in s and "aws:RequestedRegion" in json.dumps(s)
                   for s in statements):
            yield scps[0][0], "no SCP denies requests outside the allowed regions (aws:RequestedRegion)"


# -- 11. protection of stateful resources -----------------------------------------------------------

STATEFUL_TYPES = ("aws:kms/key:Key", "aws:s3/bucket:Bucket", "aws:fsx/lustreFileSystem:LustreFileSystem")


@dataclass(frozen=True)
class StatefulProtected(Rule):
    def check(self, r: Resource, ctx: Context) -> Iterator[str]:
        if r.type in STATEFUL_TYPES and r.protect is False:
            yield "it holds data but is not protected against deletion"


# The principal and resource perimeter of endpoint policies (issue 11, item 17)
ENDPOINT_PERIMETER = EndpointResourcePerimeter(
    "endpoint-perimeter", "Every Allow of an endpoint policy admits only the account's (or organisation's) "
    "principals, and reaches only its resources (aws:ResourceAccount or aws:ResourceOrgID) or listed AWS-owned "
    "buckets of the region.", "condition each Allow on StringEquals aws:PrincipalAccount/aws:PrincipalOrgID and "
    "aws:ResourceAccount/aws:ResourceOrgID; list AWS-owned buckets by exact ARN")

RULES: tuple[Rule, ...] = (
    AllowedRegion("allowed-region", "Every resource, its provider and endpoint service region stay in the "
                  "allowed regions.", "deploy to an allowed region (aws:region, allowedRegions)"),
    NoInternetPath("no-internet-path", "No internet gateway, NAT, egress-only gateway, peering, default VPC, public "
                   "or customer-owned IP, Global Accelerator or route out of the VPC.",
                   "reach AWS services through VPC endpoints; remove the public path"),
    NoExternalNetwork("no-external-network", "No VPN, Transit Gateway, Direct Connect, Client VPN, Cloud WAN, VPC "
                      "Lattice, Resolver endpoint or forwarding rule, Outpost local-gateway route, or endpoint to a "
                      "PrivateLink service not owned by AWS.",
                      "keep the factory's only links to VPC endpoints of AWS services in the region"),
    SageMakerNoInternet("sagemaker-no-internet", "SageMaker runs only in its VPC-only modes: Studio VpcOnly, "
                        "notebooks without direct internet access, models in the VPC or network-isolated.",
                        "set app_network_access_type='VpcOnly', direct_internet_access='Disabled', and vpc_config "
                        "or enable_network_isolation on models"),
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
    EndpointPolicyPresent("endpoint-policy", "Every VPC endpoint has a valid policy (without one, AWS attaches a "
                          "policy that allows everything).", "attach an endpoint policy with the factory's perimeter"),
    ENDPOINT_PERIMETER,
    ScpAttached("scp-attached", "Every service control policy is attached to an OU or account.",
                "attach it to the factory's OU or account (org program config targetIds)"),
    ScpWithoutHoles("scp-without-holes", "SCPs exempt only one exact role ARN and the justified global-service "
                    "actions.", "exempt the deployer by exact ARN (ArnNotEquals aws:PrincipalArn) and keep NotAction "
                    "to infra/organization/scps.py REGION_EXEMPT_ACTIONS"),
    ScpComplete("scp-complete", "The organisation's SCPs deny every egress path, unencrypted volume, SageMaker "
                "internet mode and request outside the allowed regions.",
                "deploy the SCPs of the org/ program unchanged"),
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
