"""Verify, after `pulumi up`: is what runs what was approved?

Two kinds of findings:

- **Sovereignty**: the live account (the factory's VPC, subnets, gateways, routes, endpoints,
  instances, volumes, buckets, trail) is read with boto3 and turned into the resource shape of
  infra/rules.py. The *same* rules the policy pack and `aifactory plan` enforce then judge it, so a
  rule is never written twice. The other egress paths (VPN, Transit Gateway, Client VPN, the default
  VPC; Route 53 Resolver; SageMaker) are read and judged each in a check of its own
  (infra/verify_network.py), so one unreadable service does not hide the rest.
- **Drift from the plan**: instances per pod group, EFA interfaces per instance, every endpoint
  service, the trail logging with validation, volumes on the factory's own key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from infra.aws import DENIED_CODES, GA_REGION, error_code, explain, need
from infra.blueprint import GATEWAY_ENDPOINTS, INTERFACE_ENDPOINTS, Blueprint
from infra.components.data import PURPOSES
from infra.findings import BLOCKING, OK, WARNING, Check, Clients, Finding, Result, run_checks
from infra.rules import Resource, check_all
from infra.settings import StackSettings
from infra.verify_links import direct_connect, elastic_ips, global_accelerator, lattice, local_gateway, sagemaker_models
from infra.verify_network import _ec2, links, network, resolver, sagemaker

EFA_TYPES = ("efa", "efa-only")


@dataclass
class LiveFactory:
    """What verify read from the account."""

    vpc_id: str | None = None
    key_arn: str | None = None
    instances: list[dict[str, Any]] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    endpoint_services: set[str] = field(default_factory=set)
    trail: dict[str, Any] | None = None
    trail_logging: bool = False
    missing_buckets: list[str] = field(default_factory=list)


# The organization guardrails (infra/organization/scps.py) deny globalaccelerator:* and every request outside the
# allowed regions, and Global Accelerator's API is in us-west-2 only: under them the read is denied, and expected.
GA_DENIED = ("the organization guardrails deny globalaccelerator:* and requests outside the allowed regions: no "
             "accelerator can be made under them, but one made before them is not seen here",
             "list accelerators once as the management account: aws globalaccelerator list-accelerators "
             f"--region {GA_REGION} (and list-custom-routing-accelerators)")


def _missing(exc: Exception, *codes: str) -> bool:
    """True when ``exc`` is AWS saying the thing does not exist (any other failure is re-raised)."""
    if error_code(exc) in codes:
        return True
    raise exc


def _key_arn(bp: Blueprint, clients: Clients) -> str | None:
    try:
        return str(need(need(clients.kms.describe_key(KeyId=f"alias/{bp.name}-factory"), "KeyMetadata"), "Arn"))
    except Exception as exc:
        _missing(exc, "NotFoundException")
        return None


def _compute(bp: Blueprint, live: LiveFactory, clients: Clients, vpc: str, res: Callable[..., None]) -> None:
    """Running instances and their volumes (attached, or tagged for the factory)."""
    reservations = _ec2(clients, "describe_instances", "Reservations",
                        ("vpc-id", vpc), ("instance-state-name", ["pending", "running"]))
    live.instances = [i for r in reservations for i in need(r, "Instances")]
    ids = [i["InstanceId"] for i in live.instances]
    volumes = _ec2(clients, "describe_volumes", "Volumes", ("attachment.instance-id", ids)) if ids else []
    volumes += _ec2(clients, "describe_volumes", "Volumes", ("tag:aifactory:factory", bp.name))
    by_id = {v["VolumeId"]: v for v in volumes}
    for v in by_id.values():
        res("aws:ebs/volume:Volume", v["VolumeId"], {"encrypted": v.get("Encrypted", False),
                                                    "kmsKeyId": v.get("KmsKeyId")})
    for i in live.instances:
        root = next((m["Ebs"]["VolumeId"] for m in i.get("BlockDeviceMappings", [])
                     if m.get("DeviceName") == i.get("RootDeviceName") and "Ebs" in m), None)
        vol = by_id.get(root or "", {})
        res("aws:ec2/instance:Instance", i["InstanceId"], {
            "metadataOptions": {"httpTokens": (i.get("MetadataOptions") or {}).get("HttpTokens")},
            "associatePublicIpAddress": bool(i.get("PublicIpAddress")),
            "rootBlockDevice": {"encrypted": vol.get("Encrypted", False), "kmsKeyId": vol.get("KmsKeyId")}})


def _bucket(name: str, clients: Clients, res: Callable[..., None]) -> bool:
    """One factory bucket with its encryption and public-access block; False when it does not exist."""
    try:
        clients.s3.head_bucket(Bucket=name)
    except Exception as exc:
        return not _missing(exc, "404", "NoSuchBucket", "NotFound")
    res("aws:s3/bucket:Bucket", name, {"bucket": name})
    try:
        config = need(clients.s3.get_bucket_encryption(Bucket=name), "ServerSideEncryptionConfiguration")
        rules = [need(r, "ApplyServerSideEncryptionByDefault") for r in need(config, "Rules")]
        res("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"{name}-encryption", {"bucket": name, "rules": [{"applyServerSideEncryptionByDefault": {
                "sseAlgorithm": need(r, "SSEAlgorithm"), "kmsMasterKeyId": r.get("KMSMasterKeyID")}} for r in rules]})
    except Exception as exc:  # none: the bucket-encryption rule reports it
        _missing(exc, "ServerSideEncryptionConfigurationNotFoundError")
    try:
        pab = need(clients.s3.get_public_access_block(Bucket=name), "PublicAccessBlockConfiguration")
        res("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{name}-public-access", {
            "bucket": name, "blockPublicAcls": pab.get("BlockPublicAcls"),
            "blockPublicPolicy": pab.get("BlockPublicPolicy"), "ignorePublicAcls": pab.get("IgnorePublicAcls"),
            "restrictPublicBuckets": pab.get("RestrictPublicBuckets")})
    except Exception as exc:  # none: the public-access rule reports it
        _missing(exc, "NoSuchPublicAccessBlockConfiguration")
    return True


def read_factory(bp: Blueprint, clients: Clients) -> LiveFactory:
    """Read the factory's resources from the account (only what verify judges).

    Anything that cannot be read raises (the check turns it into "could not check"); only AWS saying
    "not found" counts as missing, so a failed call never becomes a finding that something is absent.
    """
    live = LiveFactory()
    region = clients.region

    def res(type_: str, name: str, props: dict[str, Any], protect: bool | None = None) -> None:
        live.resources.append(Resource(type_, name, props, id=name, provider_region=region, protect=protect))

    live.key_arn = _key_arn(bp, clients)
    vpcs = _ec2(clients, "describe_vpcs", "Vpcs", ("tag:Name", f"{bp.name}-vpc"))
    if not vpcs:
        return live
    vpc = live.vpc_id = vpcs[0]["VpcId"]
    live.endpoint_services = network(clients, vpc, res)
    _compute(bp, live, clients, vpc, res)
    account = need(clients.sts.get_caller_identity(), "Account")
    for purpose in PURPOSES:
        name = f"{bp.name}-{purpose}-{account}-{region}"
        if not _bucket(name, clients, res):
            live.missing_buckets.append(name)
    trails = need(clients.cloudtrail.describe_trails(trailNameList=[f"{bp.name}-trail"]), "trailList")
    if trails:
        live.trail = trails[0]
        res("aws:cloudtrail/trail:Trail", trails[0]["Name"], {"kmsKeyId": trails[0].get("KmsKeyId")})
        live.trail_logging = bool(need(clients.cloudtrail.get_trail_status(Name=trails[0]["Name"]), "IsLogging"))
    return live


def verify(settings: StackSettings, bp: Blueprint, clients: Clients) -> Result:
    found: list[LiveFactory] = []

    def read() -> Iterator[Finding]:
        live = read_factory(bp, clients)
        found.append(live)
        if live.vpc_id is None:
            yield Finding("factory", BLOCKING, f"no VPC tagged {bp.name}-vpc in {clients.region}",
                          "run `pulumi up` for this stack first, or check the region and name")
        else:
            yield Finding("factory", OK, f"factory VPC {live.vpc_id}, {len(live.instances)} instances running")

    result = run_checks([Check("factory", read)], clients.budget)
    if not found:
        return result  # the account could not be read: that finding says why
    live = found[0]

    def judge(resources: list[Resource], what: str) -> Iterator[Finding]:
        report = check_all(resources, settings.rules_context())
        for v in report.violations:
            yield Finding(f"sovereignty:{v.rule}", BLOCKING, v.message)
        if report.ok:
            yield Finding("sovereignty", OK, f"{what} passes the sovereignty rules ({len(resources)} resources read)")

    def sovereignty() -> Iterator[Finding]:
        yield from judge(live.resources, "the live factory")

    def paths(name: str, read: Callable[[Callable[..., None]], None],
              denied: tuple[str, str] | None = None) -> Check:
        """One more source of egress paths, judged on its own: if it cannot be read, only it says so;
        ``denied`` (why it is expected, the fix) makes a denied read a warning instead."""
        def run() -> Iterator[Finding]:
            found: list[Resource] = []
            try:
                read(lambda t, n, p: found.append(Resource(t, n, p, id=n, provider_region=clients.region)))
            except Exception as exc:
                if denied is None or error_code(exc) not in DENIED_CODES:
                    raise
                yield Finding(f"sovereignty:{name}", WARNING, f"not checked: {explain(exc)[0]}; {denied[0]}",
                              denied[1])
                return
            yield from judge(found, name)
        return Check(f"sovereignty:{name}", run)

    def pod_groups() -> Iterator[Finding]:
        counts = Counter(next((t["Value"] for t in i.get("Tags", []) if t["Key"] == "aifactory:pod-group"), None)
                         for i in live.instances)
        for g in bp.pod_groups:
            have = counts.get(g.name, 0)
            if have < g.instances:
                yield Finding("pod-groups", BLOCKING, f"{g.name}: {have} of {g.instances} instances running",
                              "check the Auto Scaling group's activity (capacity, quota) and rerun `pulumi up`")
            else:
                yield Finding("pod-groups", OK, f"{g.name}: {have} of {g.instances} instances running")

    def efa_interfaces() -> Iterator[Finding]:
        if not live.instances:
            return
        expected = sum(1 for i in bp.interfaces if i.interface_type in EFA_TYPES)
        ids = [i["InstanceId"] for i in live.instances]
        interfaces = _ec2(clients, "describe_network_interfaces", "NetworkInterfaces",
                          ("attachment.instance-id", ids), client=clients.ec2_interfaces)
        per: Counter[str] = Counter(n["Attachment"]["InstanceId"] for n in interfaces
                                    if n.get("InterfaceType") in EFA_TYPES and n.get("Attachment"))
        short = [i for i in ids if per.get(i, 0) < expected]
        if short:
            yield Finding("efa-interfaces", BLOCKING, f"{len(short)} instance(s) have fewer than {expected} EFA "
                          f"interfaces (e.g. {short[0]}: {per.get(short[0], 0)})",
                          "relaunch them from the pod group's launch template")
        else:
            yield Finding("efa-interfaces", OK, f"every instance has its {expected} EFA interfaces")

    def endpoints() -> Iterator[Finding]:
        missing = [s for s in INTERFACE_ENDPOINTS + GATEWAY_ENDPOINTS
                   if not any(n.endswith(f".{clients.region}.{s}") for n in live.endpoint_services)]
        if missing:
            yield Finding("endpoints", BLOCKING, f"missing VPC endpoints: {', '.join(missing)}",
                          "rerun `pulumi up`; without them nodes cannot reach these AWS services")
        else:
            total = len(INTERFACE_ENDPOINTS) + len(GATEWAY_ENDPOINTS)
            yield Finding("endpoints", OK, f"all {total} endpoints present")

    def trail_and_keys() -> Iterator[Finding]:
        if live.trail is None or not live.trail_logging:
            state = "missing" if live.trail is None else "not logging"
            yield Finding("cloudtrail", BLOCKING, f"trail {bp.name}-trail is {state}",
                          "restore the trail and start logging (aws cloudtrail start-logging)")
        elif not live.trail.get("LogFileValidationEnabled"):
            yield Finding("cloudtrail", BLOCKING, "log-file validation is off", "enable log-file validation")
        else:
            yield Finding("cloudtrail", OK, "the trail is logging with file validation")
        if live.key_arn is None:
            yield Finding("factory-key", BLOCKING, f"alias/{bp.name}-factory is missing", "restore the factory key")
        other = [r.name for r in live.resources if r.type == "aws:ebs/volume:Volume" and r.props.get("encrypted")
                 and r.props.get("kmsKeyId") not in (live.key_arn, None)]
        if other:
            yield Finding("factory-key", BLOCKING, f"{len(other)} volume(s) use another key (e.g. {other[0]})",
                          "re-create them with the factory key")
        for name in live.missing_buckets:
            yield Finding("buckets", BLOCKING, f"bucket {name} is missing", "rerun `pulumi up`")

    checks = [Check("cloudtrail", trail_and_keys)]
    if live.vpc_id is not None:
        vpc = live.vpc_id
        checks = [Check("sovereignty", sovereignty),
                  paths("vpn-transit-client-vpn", lambda res: links(clients, vpc, res)),
                  paths("route53-resolver", lambda res: resolver(clients, vpc, res)),
                  paths("sagemaker", lambda res: sagemaker(clients, f"{bp.name}-studio", res)),
                  paths("local-gateway", lambda res: local_gateway(clients, vpc, res)),
                  paths("direct-connect", lambda res: direct_connect(clients, vpc, res)),
                  paths("vpc-lattice", lambda res: lattice(clients, vpc, res)),
                  paths("elastic-ips", lambda res: elastic_ips(clients, vpc, res)),
                  paths("global-accelerator", lambda res: global_accelerator(clients, vpc, res), GA_DENIED),
                  paths("sagemaker-models", lambda res: sagemaker_models(clients, bp.name, res)),
                  Check("pod-groups", pod_groups),
                  Check("efa-interfaces", efa_interfaces), Check("endpoints", endpoints), *checks]
    result.findings += run_checks(checks, clients.budget).findings
    return result
