"""Preflight and verify against a moto-backed account.

moto implements EC2 (offerings, instance types, VPCs, endpoints, instances, volumes), STS, KMS, S3 and
CloudTrail. What it does not implement uses botocore's Stubber, whose responses botocore validates
against the real API shapes. Each stubbed call is marked STUBBED below: service quotas, capacity
reservations, Capacity Block offerings, Bedrock foundation models, and network-interface types (moto
does not keep InterfaceType).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from moto import mock_aws

from infra.aws import GA_REGION
from infra.blueprint import GATEWAY_ENDPOINTS, INTERFACE_ENDPOINTS
from infra.components.data import PURPOSES
from infra.findings import BLOCKING, Clients
from infra.preflight import preflight
from infra.program import prepare
from infra.settings import PROJECT, parse_settings
from infra.verify import verify
from sizing.words import plural

REGION = "us-east-2"
ACCOUNT = "123456789012"  # moto's account
BASE_MODEL = "meta.llama3-3-70b-instruct-v1:0"  # the on-demand id; provisioned throughput needs a variant
FORECAST = {
    "name": "verify test", "site": {"name": "dc", "region": REGION, "pue": 1.2, "electricity_usd_per_mwh": 90},
    "horizon": {"start_year": 2027, "years": 2}, "platforms": ["trn2"], "provision_percentile": 90,
    "headroom": 0.1, "monte_carlo": {"samples": 200, "seed": 1},
    "workloads": [
        {"name": "chat", "application": "chatbot", "kind": "llm_inference", "model": "llama3.3-70b",
         "precision": "fp8", "input_tokens": 1000, "output_tokens": 300, "ttft_ms": 3000, "tpot_ms": 150,
         "demand": {"unit": "requests_per_s", "base": 20, "growth": 0.3, "uncertainty": {"sigma": 0.1}}},
        {"name": "assistant", "application": "chatbot", "kind": "llm_inference", "model": "llama3.3-70b",
         "precision": "fp8", "input_tokens": 1000, "output_tokens": 300,
         "serving": {"target": "bedrock", "model_id": f"{BASE_MODEL}:128k", "model_units": 1},
         "demand": {"unit": "requests_per_s", "base": 1, "growth": 0.1, "uncertainty": {"sigma": 0.1}}},
    ],
}


@pytest.fixture
def aws(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                 "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def stack(tmp_path):
    path = tmp_path / "forecast.yaml"
    path.write_text(yaml.safe_dump(FORECAST))

    def make(**over):
        values = {f"{PROJECT}:forecast": str(path), "aws:region": REGION, "aws:allowedAccountIds": [ACCOUNT],
                  f"{PROJECT}:platform": "trn2", f"{PROJECT}:buildYear": 2027, f"{PROJECT}:samples": 200,
                  **{f"{PROJECT}:{k}": v for k, v in over.items()}}
        settings = parse_settings(values, "test")
        return settings, prepare(settings)[2]

    return make


def quota(name: str, value: float, code: str) -> dict:
    return {"ServiceCode": code, "ServiceName": code,
            "QuotaArn": f"arn:aws:servicequotas:{REGION}:{ACCOUNT}:{code}/L-1",
            "QuotaCode": "L-1", "QuotaName": name, "Value": value, "Unit": "None", "Adjustable": True,
            "GlobalQuota": False}


def model(m: str, inference=("ON_DEMAND",)) -> dict:
    return {"modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/{m}", "modelId": m, "modelName": m,
            "providerName": "Meta", "inputModalities": ["TEXT"], "outputModalities": ["TEXT"],
            "responseStreamingSupported": True, "customizationsSupported": [], "inferenceTypesSupported":
            list(inference), "modelLifecycle": {"status": "ACTIVE"}}


def reservation(cr: str, count: int, *, itype: str = "trn2.48xlarge", zone: str = f"{REGION}a",
                state: str = "active", end: dt.datetime | None = None) -> dict:
    return {"CapacityReservationId": cr, "InstanceType": itype, "AvailabilityZone": zone, "TotalInstanceCount": count,
            "AvailableInstanceCount": count, "State": state, "InstanceMatchCriteria": "targeted",
            **({"EndDate": end, "EndDateType": "limited"} if end else {})}


def clients(*, trn_vcpus: float = 100_000, offerings: int | None = None, reserved: int = 0,
            models=(BASE_MODEL, f"{BASE_MODEL}:128k"), efa_per_instance: int = 16, instance_ids=(),
            subnets_quota: float = 200, provisioned=None, reservations=None, client_vpn=(),
            ga_denied: bool = False) -> Clients:
    """offerings=None: the stack reserves capacity (reservations stubbed); a number: Capacity Blocks.

    reservations: the answer to DescribeCapacityReservations by id (capacityType existing), or an error code.
    client_vpn: the answer to DescribeClientVpnEndpoints (a list of endpoints, a raw answer dict, or an error code).
    provisioned: the model ids Bedrock sells as PROVISIONED (default: variants of ``models`` with :128k)."""
    s = boto3.Session(region_name=REGION)
    c = Clients(region=REGION, ec2=s.client("ec2"), sts=s.client("sts"), kms=s.client("kms"), s3=s.client("s3"),
                cloudtrail=s.client("cloudtrail"))
    # STUBBED: moto has no Service Quotas for EC2/VPC
    c.quotas = s.client("service-quotas")
    q = Stubber(c.quotas)
    q.add_response("list_service_quotas", {"Quotas": [quota("Running On-Demand Trn instances", trn_vcpus, "ec2")]})
    q.add_response("list_service_quotas", {"Quotas": [quota("IPv4 CIDR blocks per VPC", 5, "vpc")]})
    q.add_response("list_service_quotas", {"Quotas": [quota("Subnets per VPC", subnets_quota, "vpc")]})
    q.activate()
    # STUBBED: moto has no capacity reservations or Capacity Block offerings
    c.ec2_capacity = s.client("ec2")
    cap = Stubber(c.ec2_capacity)
    start = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    if isinstance(reservations, str):  # EC2 refuses the call for all ids, then preflight asks id by id
        for _ in range(2):
            cap.add_client_error("describe_capacity_reservations", service_error_code=reservations)
    elif reservations is not None:
        cap.add_response("describe_capacity_reservations", {"CapacityReservations": reservations})
    elif offerings is None:
        cap.add_response("describe_capacity_reservations", {"CapacityReservations": [
            {"CapacityReservationId": "cr-0123456789abcdef0", "InstanceType": "trn2.48xlarge",
             "AvailabilityZone": f"{REGION}a", "TotalInstanceCount": reserved, "AvailableInstanceCount": reserved,
             "State": "active", "InstanceMatchCriteria": "targeted"}] if reserved else []})
    for _ in range(0 if offerings is None else 4):
        cap.add_response("describe_capacity_block_offerings", {"CapacityBlockOfferings": [
            {"CapacityBlockOfferingId": f"cb-0123456789abcdef{i}", "InstanceType": "trn2.48xlarge",
             "AvailabilityZone": f"{REGION}a", "InstanceCount": 4, "StartDate": start,
             "EndDate": start + dt.timedelta(hours=4368), "CapacityBlockDurationHours": 4368,
             "UpfrontFee": "1000.00", "CurrencyCode": "USD", "Tenancy": "default"} for i in range(offerings or 0)]})
    cap.activate()
    # STUBBED: moto has no Bedrock foundation models
    c.bedrock = s.client("bedrock")
    b = Stubber(c.bedrock)
    b.add_response("list_foundation_models", {"modelSummaries": [model(m) for m in models]})
    sold = [m for m in models if m.endswith("k")] if provisioned is None else provisioned
    b.add_response("list_foundation_models", {"modelSummaries": [model(m, ("PROVISIONED",)) for m in sold]},
                   {"byInferenceType": "PROVISIONED"})
    b.activate()
    # STUBBED: moto does not keep network-interface types (efa / efa-only)
    c.ec2_interfaces = s.client("ec2")
    n = Stubber(c.ec2_interfaces)
    n.add_response("describe_network_interfaces", {"NetworkInterfaces": [
        {"NetworkInterfaceId": f"eni-{k:08x}{j:09x}", "InterfaceType": "efa-only",
         "Attachment": {"InstanceId": iid, "NetworkCardIndex": j, "DeviceIndex": 1 if j == 0 else 0}}
        for k, iid in enumerate(instance_ids) for j in range(efa_per_instance)]})
    n.activate()
    # STUBBED: moto has no Client VPN
    c.ec2_client_vpn = s.client("ec2")
    v = Stubber(c.ec2_client_vpn)
    if isinstance(client_vpn, str):
        v.add_client_error("describe_client_vpn_endpoints", service_error_code=client_vpn)
    else:
        v.add_response("describe_client_vpn_endpoints",
                       client_vpn if isinstance(client_vpn, dict) else {"ClientVpnEndpoints": list(client_vpn)})
    v.activate()
    # STUBBED: moto has no Outpost local gateways
    c.ec2_local_gateway = s.client("ec2")
    lgw = Stubber(c.ec2_local_gateway)
    lgw.add_response("describe_local_gateway_route_table_vpc_associations",
                     {"LocalGatewayRouteTableVpcAssociations": []})
    lgw.activate()
    # STUBBED: moto's Direct Connect has no virtual interfaces nor gateway associations
    c.directconnect = s.client("directconnect")
    dx = Stubber(c.directconnect)
    dx.add_response("describe_virtual_interfaces", {"virtualInterfaces": []})
    for _ in range(2):  # one per gateway of the VPC (a test adds at most two)
        dx.add_response("describe_direct_connect_gateway_associations", {"directConnectGatewayAssociations": []})
    dx.activate()
    # STUBBED: moto has no Global Accelerator (its API is served from us-west-2 only)
    c.globalaccelerator = s.client("globalaccelerator", region_name=GA_REGION)
    ga = Stubber(c.globalaccelerator)
    if ga_denied:  # as the organization guardrails answer (globalaccelerator:* and us-west-2 denied)
        ga.add_client_error("list_accelerators", service_error_code="AccessDeniedException",
                            service_message="explicit deny in a service control policy", http_status_code=400)
    else:
        ga.add_response("list_accelerators", {"Accelerators": []})
        ga.add_response("list_custom_routing_accelerators", {"Accelerators": []})
    ga.activate()
    return c


def blocking(result) -> dict[str, str]:
    return {f.check: f.message for f in result.findings if f.severity == BLOCKING}


# -- preflight -------------------------------------------------------------------------------------


def test_preflight_passes_a_healthy_account(aws, stack):
    settings, bp = stack()
    result = preflight(settings, bp, clients(reserved=bp.instances_built), REGION)
    assert not result.blocking, result.render("")
    checks = {f.check for f in result.findings}
    assert {"region", "account", "instance-type-offered", "efa", "quota", "capacity", "services",
            "vpc-cidr-blocks", "bedrock-models"} <= checks


def test_preflight_finds_a_type_not_offered_in_the_zone(aws, stack):
    settings, bp = stack(site={"kind": "region", "zones": [f"{REGION}a", f"{REGION}d"]})
    found = blocking(preflight(settings, bp, clients(), REGION))
    assert "us-east-2d" in found["instance-type-offered"]


def test_preflight_finds_a_quota_too_low(aws, stack):
    settings, bp = stack()
    found = blocking(preflight(settings, bp, clients(trn_vcpus=96), REGION))
    assert "'Running On-Demand Trn instances' is 96 vCPUs" in found["quota"]


def test_preflight_finds_no_capacity(aws, stack):
    settings, bp = stack(capacityType="capacity-block")
    found = blocking(preflight(settings, bp, clients(offerings=0), REGION))
    assert "no Capacity Block offering" in found["capacity"]


def test_preflight_finds_a_region_not_allowed(aws, stack):
    settings, bp = stack()
    settings = replace(settings, allowed_regions=("eu-central-1",))
    found = blocking(preflight(settings, bp, clients(), REGION))
    assert "us-east-2 is not an allowed region" in found["region"]


def test_preflight_finds_an_account_not_allowed(aws, stack):
    settings, bp = stack()
    settings = replace(settings, allowed_account_ids=("111122223333",))
    assert "not in ['111122223333']" in blocking(preflight(settings, bp, clients(), REGION))["account"]


def test_preflight_finds_a_bedrock_model_missing(aws, stack):
    settings, bp = stack()
    found = blocking(preflight(settings, bp, clients(models=("amazon.nova-pro-v1:0",)), REGION))
    assert f"{BASE_MODEL}:128k is not offered" in found["bedrock-models"]


def test_preflight_bedrock_provisioned_throughput_needs_a_variant_id(aws, stack, tmp_path):
    doc = json.loads(json.dumps(FORECAST))
    doc["workloads"][1]["serving"]["model_id"] = BASE_MODEL  # the on-demand id
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(doc))
    settings, bp = stack(forecast=str(path))
    found = blocking(preflight(settings, bp, clients(), REGION))
    assert f"{BASE_MODEL} is not sold as provisioned throughput" in found["bedrock-provisioned"]
    fix = next(f.fix for f in preflight(settings, bp, clients(), REGION).findings if f.check == "bedrock-provisioned")
    assert f"{BASE_MODEL}:128k" in fix


def test_preflight_bedrock_model_not_sold_provisioned(aws, stack):
    settings, bp = stack()
    found = blocking(preflight(settings, bp, clients(provisioned=[]), REGION))
    assert "is not sold as provisioned throughput" in found["bedrock-provisioned"]


def test_preflight_subnets_per_vpc_quota(aws, stack):
    settings, bp = stack()
    need = bp.vpc_quota_needs()["Subnets per VPC"][0]
    found = blocking(preflight(settings, bp, clients(subnets_quota=need - 1), REGION))
    assert f"needs {need} subnets in one VPC; the quota is {need - 1}" in found["subnets-per-vpc"]


NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_preflight_capacity_block_limits(aws, stack):
    settings, bp = stack(capacityType="capacity-block")
    too_big = replace(bp, pod_groups=tuple(replace(g, instances=80) for g in bp.pod_groups))
    found = blocking(preflight(settings, too_big, clients(offerings=1), REGION, now=NOW))
    assert "a Capacity Block holds at most 64" in found["capacity"]
    many = replace(bp, pod_groups=tuple(replace(g, instances=64) for g in bp.pod_groups) * 5)
    assert many.instances_built > 256
    found = blocking(preflight(settings, many, clients(offerings=1), REGION, now=NOW))
    assert "an account holds at most 256" in found["capacity"]


def test_preflight_capacity_blocks_only_8_weeks_ahead(aws, stack):
    settings, bp = stack(capacityType="capacity-block")
    result = preflight(settings, bp, clients(offerings=0), REGION, now=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    capacity = [f for f in result.findings if f.check == "capacity"]
    assert capacity[0].severity == "warning" and "at most 8 weeks ahead" in capacity[0].message


def _existing(stack, n):
    ids = [f"cr-0a1b2c3d4e5f6{k:04x}" for k in range(n)]
    settings, bp = stack(capacityType="existing", capacityReservationIds=ids,
                         site={"kind": "region", "zones": [f"{REGION}a", f"{REGION}b", f"{REGION}c"]})
    return settings, bp, ids


def test_preflight_existing_reservations_that_fit(aws, stack):
    settings, bp, ids = _existing(stack, 1)
    g = bp.pod_groups[0]
    rows = [reservation(ids[0], g.instances, zone=f"{REGION}{'abc'[g.zone_index]}")]
    result = preflight(settings, bp, clients(reservations=rows), REGION, now=NOW)
    ok = [f for f in result.findings if f.check == "capacity-ids"]
    assert [f.severity for f in ok] == ["ok"], result.render("")


@pytest.mark.parametrize(("change", "expected"), [
    ({"itype": "p5.48xlarge"}, "is for p5.48xlarge"),
    ({"zone": f"{REGION}c"}, "is in us-east-2c"),
    ({"count": 1}, "holds 1 instances"),
    ({"state": "expired"}, "is expired"),
    ({"end": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)}, "ended on 2026-11-01"),
])
def test_preflight_existing_reservation_mismatch(aws, stack, change, expected):
    settings, bp, ids = _existing(stack, 1)
    g = bp.pod_groups[0]
    args = {"itype": "trn2.48xlarge", "zone": f"{REGION}a", "count": g.instances, "state": "active", "end": None,
            **change}
    count = args.pop("count")
    rows = [reservation(ids[0], count, **args)]
    found = blocking(preflight(settings, bp, clients(reservations=rows), REGION, now=NOW))
    assert expected in found["capacity-ids"]


def test_preflight_existing_reservation_unknown_id(aws, stack):
    settings, bp, ids = _existing(stack, 1)
    found = blocking(preflight(settings, bp, clients(reservations="InvalidCapacityReservationId.NotFound"), REGION,
                               now=NOW))
    assert "does not exist in this account and region" in found["capacity-ids"]


def test_preflight_existing_without_enough_ids(aws, stack):
    settings, bp = stack(capacityType="existing")
    found = blocking(preflight(settings, bp, clients(), REGION, now=NOW))
    assert f"{plural(len(bp.pod_groups), 'pod group')} but 0 reservation ids" in found["capacity-ids"]


def test_sagemaker_instance_types_come_from_the_api_model():
    from types import SimpleNamespace

    from infra.preflight import sagemaker_endpoints

    def bp(itype: str):
        return SimpleNamespace(instance_type=itype, sagemaker=[SimpleNamespace(instances=2)])

    found = list(sagemaker_endpoints(bp("trn3p.48xlarge"), Clients(region=REGION)))
    assert found[0].severity == BLOCKING and "ml.trn3p.48xlarge is not a SageMaker instance type" in found[0].message
    quotas = boto3.client("service-quotas", region_name=REGION)
    with Stubber(quotas) as q:
        q.add_response("list_service_quotas", {"Quotas": [quota("ml.trn2.48xlarge for endpoint usage", 1,
                                                                "sagemaker")]})
        found = list(sagemaker_endpoints(bp("trn2.48xlarge"), Clients(region=REGION, quotas=quotas)))
    assert "'ml.trn2.48xlarge for endpoint usage' is 1; the endpoints need 2" in found[0].message


# -- verify ----------------------------------------------------------------------------------------


def delete_default_vpc(ec2) -> None:
    """A sovereign account has no default VPC (moto makes one in every region)."""
    for vpc in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
        for g in ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id",
                                                           "Values": [vpc["VpcId"]]}])["InternetGateways"]:
            ec2.detach_internet_gateway(InternetGatewayId=g["InternetGatewayId"], VpcId=vpc["VpcId"])
            ec2.delete_internet_gateway(InternetGatewayId=g["InternetGatewayId"])
        for sub in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]:
            ec2.delete_subnet(SubnetId=sub["SubnetId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])


def build_factory(bp, *, keep_default_vpc: bool = False) -> dict:
    """What `pulumi up` would have made, created directly in the moto account."""
    ec2, kms, s3, trail = (boto3.client(x, region_name=REGION) for x in ("ec2", "kms", "s3", "cloudtrail"))
    if not keep_default_vpc:
        delete_default_vpc(ec2)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=f"alias/{bp.name}-factory", TargetKeyId=key)
    vpc = ec2.create_vpc(CidrBlock=bp.vpc_blocks[0], TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": f"{bp.name}-vpc"}]}])["Vpc"]["VpcId"]
    subnets = {g.name: ec2.create_subnet(VpcId=vpc, CidrBlock=g.subnet_cidr, AvailabilityZone=f"{REGION}a")["Subnet"]
               ["SubnetId"] for g in bp.pod_groups}
    for subnet in subnets.values():  # moto makes the first subnet of a zone without a default VPC public
        ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": False})
    policy = json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
                                        "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT,
                                                                       "aws:ResourceAccount": ACCOUNT}}}]})
    for svc in INTERFACE_ENDPOINTS + GATEWAY_ENDPOINTS:
        ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.{svc}", PolicyDocument=policy,
                                VpcEndpointType="Gateway" if svc in GATEWAY_ENDPOINTS else "Interface")
    instances: dict[str, list[str]] = {}
    for g in bp.pod_groups:
        run = ec2.run_instances(
            ImageId="ami-12c6146b", InstanceType=bp.instance_type, MinCount=g.instances, MaxCount=g.instances,
            SubnetId=subnets[g.name], MetadataOptions={"HttpTokens": "required"},
            BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 100, "Encrypted": True,
                                                                     "KmsKeyId": key}}],
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": [{"Key": "aifactory:pod-group", "Value": g.name}]}])
        instances[g.name] = [i["InstanceId"] for i in run["Instances"]]
    for purpose in PURPOSES:
        name = f"{bp.name}-{purpose}-{ACCOUNT}-{REGION}"
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]})
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
    trail.create_trail(Name=f"{bp.name}-trail", S3BucketName=f"{bp.name}-logs-{ACCOUNT}-{REGION}", KmsKeyId=key,
                       EnableLogFileValidation=True, IsMultiRegionTrail=True)
    trail.start_logging(Name=f"{bp.name}-trail")
    return {"vpc": vpc, "key": key, "instances": instances, "subnets": subnets, "name": bp.name}


def all_instances(f: dict) -> list[str]:
    return [i for ids in f["instances"].values() for i in ids]


def test_verify_passes_a_matching_account(aws, stack):
    settings, bp = stack()
    f = build_factory(bp)
    result = verify(settings, bp, clients(instance_ids=all_instances(f)))
    assert not result.blocking, result.render("")
    assert any(x.check == "sovereignty" for x in result.findings)


def test_verify_under_the_guardrails_warns_that_global_accelerator_was_not_read(aws, stack):
    """The organization SCPs deny Global Accelerator (and us-west-2, where its API is): a denied read is a
    warning naming why and how to look once, not a blocking finding on every governed account."""
    settings, bp = stack()
    f = build_factory(bp)
    result = verify(settings, bp, clients(instance_ids=all_instances(f), ga_denied=True))
    assert not result.blocking, result.render("")
    (ga,) = [x for x in result.findings if x.check == "sovereignty:global-accelerator"]
    assert ga.severity == "warning" and ga.message.startswith("not checked: ListAccelerators failed")
    assert "guardrails" in ga.message and "list-accelerators --region us-west-2" in ga.fix


def test_verify_finds_an_instance_missing_from_a_pod_group(aws, stack):
    settings, bp = stack()
    f = build_factory(bp)
    gone = f["instances"][bp.pod_groups[0].name][0]
    boto3.client("ec2", region_name=REGION).terminate_instances(InstanceIds=[gone])
    found = blocking(verify(settings, bp, clients(instance_ids=all_instances(f))))
    g = bp.pod_groups[0]
    assert found["pod-groups"] == f"{g.name}: {g.instances - 1} of {g.instances} instances running"


def test_verify_finds_an_unencrypted_volume(aws, stack):
    settings, bp = stack()
    f = build_factory(bp)
    boto3.client("ec2", region_name=REGION).create_volume(
        AvailabilityZone=f"{REGION}a", Size=10, Encrypted=False,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "aifactory:factory", "Value": bp.name}]}])
    found = blocking(verify(settings, bp, clients(instance_ids=all_instances(f))))
    assert "the volume is not encrypted" in found["sovereignty:customer-managed-encryption"]


def test_verify_finds_an_internet_gateway(aws, stack):
    settings, bp = stack()
    f = build_factory(bp)
    ec2 = boto3.client("ec2", region_name=REGION)
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=f["vpc"])
    found = blocking(verify(settings, bp, clients(instance_ids=all_instances(f))))
    assert "an internet gateway opens a path to the internet" in found["sovereignty:no-internet-path"]


def test_verify_finds_missing_efa_interfaces(aws, stack):
    settings, bp = stack()
    f = build_factory(bp)
    found = blocking(verify(settings, bp, clients(instance_ids=all_instances(f), efa_per_instance=8)))
    assert "fewer than 16 EFA interfaces" in found["efa-interfaces"]


def test_verify_without_a_factory_says_so(aws, stack):
    settings, bp = stack()
    found = blocking(verify(settings, bp, clients()))
    assert "no VPC tagged aif-vpc" in found["factory"]


def test_cli_without_credentials_reports_not_crashes(monkeypatch, capsys, tmp_path):
    from aifactory.cli import main

    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(FORECAST))
    code = main(["preflight", str(path), "--region", REGION, "--platform", "trn2", "--samples", "100", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["blocking"] >= 1
    assert any("credentials" in f["message"] for f in out["findings"])


# -- verify: the other egress paths -----------------------------------------------------------------


def _subnet(f) -> str:
    return next(iter(f["subnets"].values()))


def _route_table(ec2, f) -> str:
    return ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [f["vpc"]]}])["RouteTables"][0][
        "RouteTableId"]


def _vpn(ec2, f) -> None:
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    ec2.attach_vpn_gateway(VpnGatewayId=vgw, VpcId=f["vpc"])
    cgw = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="203.0.113.1", BgpAsn=65000)["CustomerGateway"]
    ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw["CustomerGatewayId"], VpnGatewayId=vgw)


def _transit(ec2, f) -> None:
    tgw = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw, VpcId=f["vpc"], SubnetIds=[_subnet(f)])
    ec2.create_route(RouteTableId=_route_table(ec2, f), DestinationCidrBlock="10.200.0.0/16", TransitGatewayId=tgw)


def _carrier(ec2, f) -> None:
    cagw = ec2.create_carrier_gateway(VpcId=f["vpc"])["CarrierGateway"]["CarrierGatewayId"]
    ec2.create_route(RouteTableId=_route_table(ec2, f), DestinationCidrBlock="10.201.0.0/16", CarrierGatewayId=cagw)


def _gwlb(ec2, f) -> None:
    e = ec2.create_vpc_endpoint(VpcId=f["vpc"], VpcEndpointType="GatewayLoadBalancer", SubnetIds=[_subnet(f)],
                                ServiceName=f"com.amazonaws.vpce.{REGION}.vpce-svc-0123456789abcdef0")["VpcEndpoint"]
    ec2.create_route(RouteTableId=_route_table(ec2, f), DestinationCidrBlock="0.0.0.0/0",
                     VpcEndpointId=e["VpcEndpointId"])


def _default_vpc(ec2, f) -> None:
    """Nothing to make: the test keeps the default VPC moto makes in every region."""


def _resolver(ec2, f) -> None:
    r53 = boto3.client("route53resolver", region_name=REGION)
    sg = ec2.create_security_group(GroupName="dns", Description="dns", VpcId=f["vpc"])["GroupId"]
    subnet = _subnet(f)
    ep = r53.create_resolver_endpoint(CreatorRequestId="out", SecurityGroupIds=[sg], Direction="OUTBOUND",
                                      IpAddresses=[{"SubnetId": subnet}, {"SubnetId": subnet}])["ResolverEndpoint"]
    rule = r53.create_resolver_rule(CreatorRequestId="fwd", RuleType="FORWARD", DomainName="corp.example",
                                    TargetIps=[{"Ip": "10.200.0.2", "Port": 53}], ResolverEndpointId=ep["Id"])
    r53.associate_resolver_rule(ResolverRuleId=rule["ResolverRule"]["Id"], VPCId=f["vpc"])


def _studio(ec2, f) -> None:
    boto3.client("sagemaker", region_name=REGION).create_domain(
        DomainName=f"{f['name']}-studio", AuthMode="IAM", VpcId=f["vpc"], SubnetIds=[_subnet(f)],
        DefaultUserSettings={"ExecutionRole": f"arn:aws:iam::{ACCOUNT}:role/studio"},
        AppNetworkAccessType="PublicInternetOnly", KmsKeyId=f["key"])


def _notebook(ec2, f) -> None:
    boto3.client("sagemaker", region_name=REGION).create_notebook_instance(
        NotebookInstanceName="scratch", InstanceType="ml.t3.medium", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/nb",
        DirectInternetAccess="Enabled", KmsKeyId=f["key"])


@pytest.mark.parametrize(("make", "rule", "expected"), [
    (_vpn, "no-external-network", "a virtual private gateway (site-to-site VPN) links"),
    (_vpn, "no-external-network", "a site-to-site VPN connection links"),
    (_vpn, "no-external-network", "a customer gateway (the far end of a VPN) links"),
    (_transit, "no-external-network", "'tgw-attach-"),
    (_transit, "no-internet-path", "a route to 10.200.0.0/16 leaves the VPC through tgw-"),
    (_carrier, "no-internet-path", "a route to 10.201.0.0/16 leaves the VPC through cagw-"),
    (_gwlb, "no-internet-path", "a route to 0.0.0.0/0 leaves the VPC through vpce-"),
    (_gwlb, "no-external-network", "a GatewayLoadBalancer endpoint sends traffic"),
    (_default_vpc, "no-internet-path", "the default VPC (it has an internet gateway)"),
    (_resolver, "no-external-network", "a Route 53 Resolver endpoint"),
    (_resolver, "no-external-network", "a Resolver rule association"),
    (_studio, "sagemaker-no-internet", "appNetworkAccessType is PublicInternetOnly"),
    (_notebook, "sagemaker-no-internet", "directInternetAccess is Enabled"),
], ids=lambda x: getattr(x, "__name__", None))
def test_verify_finds_an_egress_path(aws, stack, make, rule, expected):
    settings, bp = stack()
    f = build_factory(bp, keep_default_vpc=make is _default_vpc)
    ec2 = boto3.client("ec2", region_name=REGION)
    make(ec2, f)
    result = verify(settings, bp, clients(instance_ids=all_instances(f)))
    found = [x.message for x in result.findings if x.check == f"sovereignty:{rule}"]
    assert any(expected in m for m in found), result.render("")
    assert not any(x.message.startswith("could not check") for x in result.findings), result.render("")


def test_verify_ignores_the_system_resolver_rule_and_a_vpc_only_studio(aws, stack):
    settings, bp = stack()
    f = build_factory(bp)
    boto3.client("sagemaker", region_name=REGION).create_domain(
        DomainName=f"{bp.name}-studio", AuthMode="IAM", VpcId=f["vpc"], SubnetIds=[_subnet(f)],
        DefaultUserSettings={"ExecutionRole": f"arn:aws:iam::{ACCOUNT}:role/studio"}, AppNetworkAccessType="VpcOnly",
        KmsKeyId=f["key"])
    c = clients(instance_ids=all_instances(f))
    c.resolver = boto3.client("route53resolver", region_name=REGION)  # STUBBED: a SYSTEM rule association
    with Stubber(c.resolver) as r:
        r.add_response("list_resolver_endpoints", {"ResolverEndpoints": []})
        r.add_response("list_resolver_rules", {"ResolverRules": []}, {"Filters": [{"Name": "TYPE",
                                                                                    "Values": ["FORWARD"]}]})
        r.add_response("list_resolver_rule_associations", {"ResolverRuleAssociations": [
            {"Id": "rslvr-autodefined-assoc-1", "ResolverRuleId": "rslvr-autodefined-rr-internet-resolver",
             "Name": "System Rule Association", "VPCId": f["vpc"], "Status": "COMPLETE"}]})
        result = verify(settings, bp, c)
    assert not result.blocking, result.render("")
    assert any(x.message.startswith("sagemaker passes") and "(1 resources read)" in x.message
               for x in result.findings), result.render("")


def test_verify_finds_a_client_vpn_endpoint(aws, stack):
    settings, bp = stack()
    f = build_factory(bp)
    endpoint = {"ClientVpnEndpointId": "cvpn-endpoint-0123456789abcdef0", "VpcId": f["vpc"],
                "Status": {"Code": "available"}}
    elsewhere = {**endpoint, "ClientVpnEndpointId": "cvpn-endpoint-0123456789abcdef1", "VpcId": "vpc-0ther"}
    found = blocking(verify(settings, bp, clients(instance_ids=all_instances(f), client_vpn=[endpoint, elsewhere])))
    assert "'cvpn-endpoint-0123456789abcdef0': a Client VPN resource" in found["sovereignty:no-external-network"]
    assert "abcdef1" not in found["sovereignty:no-external-network"]


def test_verify_reads_outpost_and_cloud_wan_routes_and_subnets():
    """STUBBED: moto keeps no customer-owned IPs, local gateway or Cloud WAN routes, nor endpoints' ServiceRegion."""
    from infra.rules import Context, Resource, check_all
    from infra.verify_network import network

    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    vpc = "vpc-0123456789abcdef0"
    with Stubber(ec2) as stub:
        stub.add_response("describe_subnets", {"Subnets": [{"SubnetId": "subnet-0a", "MapCustomerOwnedIpOnLaunch": True,
                                                            "CustomerOwnedIpv4Pool": "ipv4pool-coip-0a"}]})
        for operation, key in (("describe_internet_gateways", "InternetGateways"),
                               ("describe_nat_gateways", "NatGateways"),
                               ("describe_vpc_peering_connections", "VpcPeeringConnections"),
                               ("describe_vpc_peering_connections", "VpcPeeringConnections")):
            stub.add_response(operation, {key: []})
        stub.add_response("describe_route_tables", {"RouteTables": [{"RouteTableId": "rtb-0a", "Routes": [
            {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"},
            {"DestinationPrefixListId": "pl-63a5400a", "GatewayId": "vpce-0s3gateway"},  # the S3 gateway endpoint
            {"DestinationCidrBlock": "0.0.0.0/0", "LocalGatewayId": "lgw-0a"},
            {"DestinationCidrBlock": "10.50.0.0/16", "CoreNetworkArn": "arn:aws:networkmanager::1:core-network/c"}]}]})
        stub.add_response("describe_vpc_endpoints", {"VpcEndpoints": [
            {"VpcEndpointId": "vpce-0b", "VpcEndpointType": "Interface", "ServiceRegion": "eu-west-1",
             "ServiceName": "com.amazonaws.eu-west-1.s3"}]})
        found: list[Resource] = []
        network(Clients(region=REGION, ec2=ec2), vpc, lambda t, n, p: found.append(Resource(t, n, p)))
    report = check_all(found, Context((REGION,)))
    messages = "\n".join(v.message for v in report.violations)
    assert "it maps customer-owned IPs" in messages
    assert "a route to 0.0.0.0/0 leaves the VPC through lgw-0a" in messages
    assert "leaves the VPC through arn:aws:networkmanager" in messages
    assert "serviceRegion is 'eu-west-1'" in messages
    assert "pl-63a5400a" not in messages and "vpce-0s3gateway" not in messages


@pytest.mark.parametrize("fault", ["client-vpn-denied", "client-vpn-empty", "resolver-empty", "domain-empty"])
def test_verify_unreadable_egress_answers_are_could_not_check(aws, stack, fault):
    settings, bp = stack()
    f = build_factory(bp)
    vpn = {"client-vpn-denied": "UnauthorizedOperation", "client-vpn-empty": {}}.get(fault, ())
    c = clients(instance_ids=all_instances(f), client_vpn=vpn)
    if fault == "resolver-empty":
        c.resolver = boto3.client("route53resolver", region_name=REGION)
        r = Stubber(c.resolver)
        r.add_response("list_resolver_endpoints", {})
        r.activate()
    if fault == "domain-empty":
        c.sagemaker = boto3.client("sagemaker", region_name=REGION)
        s = Stubber(c.sagemaker)
        s.add_response("list_domains", {"Domains": [{"DomainId": "d-0a", "DomainName": f"{bp.name}-studio"}]})
        s.add_response("describe_domain", {})
        s.add_response("list_endpoints", {"Endpoints": []}, {"NameContains": bp.name})  # sagemaker-models reads on
        s.activate()
    result = verify(settings, bp, c)
    check = {"resolver-empty": "route53-resolver", "domain-empty": "sagemaker"}.get(fault, "vpn-transit-client-vpn")
    found = blocking(result)
    assert list(found) == [f"sovereignty:{check}"], result.render("")
    assert found[f"sovereignty:{check}"].startswith("could not check")
    assert any(x.check == "sovereignty" and x.severity == "ok" for x in result.findings)
