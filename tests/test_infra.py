"""The Pulumi program under the SDK's mocks (the same `build` `pulumi up` runs), component by component."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from aifactory.cli import main
from infra import efa
from infra.blueprint import GATEWAY_ENDPOINTS, INTERFACE_ENDPOINTS
from infra.offline import OfflineAws, run_offline
from infra.settings import PROJECT, parse_settings
from sizing.catalog import load_catalog
from sizing.errors import InputError
from tests.conftest import EXAMPLE

CAT = load_catalog()
FORBIDDEN_TYPES = (
    "aws:ec2/internetGateway:InternetGateway", "aws:ec2/natGateway:NatGateway", "aws:ec2/eip:Eip",
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway",
    "aws:ec2/vpcPeeringConnection:VpcPeeringConnection", "aws:ec2/internetGatewayAttachment:InternetGatewayAttachment",
)


def settings(**over):
    values = {f"{PROJECT}:forecast": str(EXAMPLE), "aws:region": "eu-central-1", f"{PROJECT}:samples": 600,
              **{f"{PROJECT}:{k}": v for k, v in over.items()}}
    return parse_settings(values, "test")


@pytest.fixture(scope="module")
def gb300():
    return run_offline(settings(platform="gb300_nvl72", buildYear=2029, servingImage="serve-1.0"))


@pytest.fixture(scope="module")
def trn3():
    return run_offline(settings(platform="trn3", buildYear=2028))


def props(m, type_):
    return [r["inputs"] for r in m.of_type(type_)]


def key_arn(m):
    (key,) = m.of_type("aws:kms/key:Key")
    return f"arn:aws:kms:eu-central-1:000000000000:{key['name']}"


# -- network -------------------------------------------------------------------------------------


def test_efa_security_group_allows_all_traffic_to_and_from_itself(gb300):
    (sg,) = [p for p in props(gb300, "aws:ec2/securityGroup:SecurityGroup") if "EFA" in p["description"]]
    ingress = [r for r in sg["ingress"] if r["protocol"] == "-1"]
    egress = [r for r in sg["egress"] if r["protocol"] == "-1"]
    assert ingress and all(r["self"] is True for r in ingress)
    assert egress and all(r["self"] is True for r in egress)
    # nothing leaves for the internet: other egress is HTTPS to the VPC's own blocks only
    for rule in sg["egress"]:
        assert "0.0.0.0/0" not in rule.get("cidrBlocks", [])


def test_no_internet_path_anywhere(gb300, trn3):
    for m in (gb300, trn3):
        types = {r["type"] for r in m.custom()}
        assert not types & set(FORBIDDEN_TYPES)
        for subnet in props(m, "aws:ec2/subnet:Subnet"):
            assert subnet["mapPublicIpOnLaunch"] is False
        for route_table in props(m, "aws:ec2/routeTable:RouteTable"):
            assert not route_table.get("routes")
        for lt in props(m, "aws:ec2/launchTemplate:LaunchTemplate"):
            assert all(i["associatePublicIpAddress"] == "false" for i in lt["networkInterfaces"])


def test_every_service_has_an_endpoint_with_a_policy(gb300):
    endpoints = props(gb300, "aws:ec2/vpcEndpoint:VpcEndpoint")
    names = {e["serviceName"] for e in endpoints}
    for service in INTERFACE_ENDPOINTS + GATEWAY_ENDPOINTS:
        assert f"com.amazonaws.eu-central-1.{service}" in names  # resolved by EC2 (here its offline view)
    for e in endpoints:
        policy = json.loads(e["policy"])
        # item 17: who calls AND whose resource is touched; AWS-owned resources only by exact ARN in the region
        own = {"StringEquals": {"aws:PrincipalAccount": "000000000000", "aws:ResourceAccount": "000000000000"}}
        assert policy["Statement"][0]["Condition"] == own and policy["Statement"][0]["Resource"] == "*"
        for stmt in policy["Statement"][1:]:
            assert stmt["Resource"] and all("eu-central-1" in arn and arn != "*" for arn in stmt["Resource"])
        if e["vpcEndpointType"] == "Interface":
            assert e["privateDnsEnabled"] is True and e["subnetIds"]
    (gateway,) = [e for e in endpoints if e["vpcEndpointType"] == "Gateway"]
    assert gateway["serviceName"].endswith(".s3")


def test_endpoint_policy_can_name_the_organisation():
    m = run_offline(settings(platform="gb300_nvl72", buildYear=2027, organizationId="o-abc123"))
    policy = json.loads(props(m, "aws:ec2/vpcEndpoint:VpcEndpoint")[0]["policy"])
    assert policy["Statement"][0]["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abc123", "aws:ResourceOrgID": "o-abc123"}}


def test_flow_logs_are_on_and_encrypted(gb300):
    (flow,) = props(gb300, "aws:ec2/flowLog:FlowLog")
    assert flow["trafficType"] == "ALL"
    groups = props(gb300, "aws:cloudwatch/logGroup:LogGroup")
    assert groups and all(g["kmsKeyId"] == key_arn(gb300) for g in groups)


def test_subnets_fit_the_interfaces_and_do_not_overlap(gb300):
    import ipaddress

    bp = gb300.blueprint
    cidrs = [ipaddress.ip_network(s["cidrBlock"]) for s in props(gb300, "aws:ec2/subnet:Subnet")]
    for i, a in enumerate(cidrs):
        assert all(not a.overlaps(b) for b in cidrs[i + 1:])
    ips = efa.ips_per_instance(bp.interfaces)
    for g in bp.pod_groups:
        size = ipaddress.ip_network(g.subnet_cidr).num_addresses
        assert size >= 32 * bp.instances_per_domain * ips + 5  # a full group's interfaces fit


# -- accelerator pods ------------------------------------------------------------------------------


def test_efa_layout_rules():
    trn2 = efa.layout(efa.EC2_NETWORK["trn2.48xlarge"])
    assert trn2[0] == efa.Interface(0, 0, "interface")
    assert trn2[1] == efa.Interface(0, 1, "efa-only")
    assert [i.interface_type for i in trn2[2:]] == ["efa-only"] * 15
    assert [i.network_card_index for i in trn2[1:]] == list(range(16))
    assert efa.ips_per_instance(trn2) == 1
    # item 12: p6e-gb200 has 17 network cards (even efa, odd efa-only): 9 IPs per instance, not the catalog's 4
    gb200 = efa.layout(efa.EC2_NETWORK["p6e-gb200.36xlarge"])
    assert [(i.network_card_index, i.interface_type) for i in gb200] == [
        (c, "efa" if c % 2 == 0 else "efa-only") for c in range(17)]
    assert all(i.device_index == 0 for i in gb200)
    assert efa.ips_per_instance(gb200) == 9
    # p6-b300: card 0 is ENA-only, so no efa-only interface on card 0 (the generic layout fails to launch)
    b300 = efa.layout(efa.EC2_NETWORK["p6-b300.48xlarge"])
    assert b300[0] == efa.Interface(0, 0, "interface")
    assert [(i.network_card_index, i.device_index) for i in b300[1:]] == [(c, 0) for c in range(1, 17)]


def test_the_ec2_table_matches_describe_instance_types():
    """infra/efa.py's table against the DescribeInstanceTypes snapshot moto ships (where it has the type)."""
    import gzip
    from importlib import resources

    data = json.loads(gzip.decompress((resources.files("moto.ec2") / "resources" / "instance_types.json.gz")
                                      .read_bytes()))
    checked = 0
    for itype, facts in efa.EC2_NETWORK.items():
        if itype in data:
            net = data[itype]["NetworkInfo"]
            assert facts.network_cards == net["MaximumNetworkCards"], itype
            assert len(facts.efa_cards) == net["EfaInfo"]["MaximumEfaInterfaces"], itype
            checked += 1
    assert checked >= 6


def test_subnets_are_sized_from_the_layout_the_template_uses():
    # item 12: gb200's 17 cards take 9 IPs per instance; the subnet is sized from the same layout
    m = run_offline(settings(platform="gb200_nvl72", buildYear=2027, domainsPerGroup=8))
    bp = m.blueprint
    lt = props(m, "aws:ec2/launchTemplate:LaunchTemplate")[0]
    assert len(lt["networkInterfaces"]) == 17
    ips = sum(1 for i in lt["networkInterfaces"] if i["interfaceType"] != "efa-only")
    assert ips == 9
    size = 2 ** (32 - bp.pod_subnet_prefix)
    assert size - 5 >= max(g.instances for g in bp.pod_groups) * ips * 1.5


def test_placeholder_types_use_the_catalog_layout(gb300, trn3):
    for m, pid in ((gb300, "gb300_nvl72"), (trn3, "trn3")):
        plat = CAT.platforms[pid]
        facts = efa.facts_for(plat.instance_type, int(plat.figure("network_cards").nominal), plat.efa_layout)
        assert "catalog" in facts.source
        expected = efa.layout(facts)
        for lt in props(m, "aws:ec2/launchTemplate:LaunchTemplate"):
            got = [(i["networkCardIndex"], i["deviceIndex"], i["interfaceType"]) for i in lt["networkInterfaces"]]
            assert got == [(i.network_card_index, i.device_index, i.interface_type) for i in expected]
            assert lt["instanceType"] == plat.instance_type


def test_an_instance_type_override_does_not_switch_to_the_catalog_layout():
    # item 12: instanceType p6-b300 on the b200 platform takes p6-b300's EC2 layout (card 0 ENA-only)
    m = run_offline(settings(platform="b200_hgx", buildYear=2027, instanceType="p6-b300.48xlarge"))
    lt = props(m, "aws:ec2/launchTemplate:LaunchTemplate")[0]
    assert len(lt["networkInterfaces"]) == 17
    assert not [i for i in lt["networkInterfaces"] if i["networkCardIndex"] == 0 and i["deviceIndex"] == 1]


def test_pulumi_up_stops_when_ec2_disagrees_with_the_table(monkeypatch, tmp_path):
    monkeypatch.setattr(OfflineAws, "_instance_type", lambda self, name: {
        "instanceType": name, "maximumNetworkCards": 6, "efaMaximumInterfaces": 6, "efaSupported": True,
        "id": name})
    import yaml

    from tests.conftest import SMALL

    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    with pytest.raises(Exception, match="EC2_NETWORK has 16 / 16"):
        run_offline(replace(settings(platform="trn2", buildYear=2027), forecast=str(path)))


def test_launch_template_is_imdsv2_encrypted_ssm_ami(gb300):
    for lt in props(gb300, "aws:ec2/launchTemplate:LaunchTemplate"):
        assert lt["metadataOptions"]["httpTokens"] == "required"
        ebs = lt["blockDeviceMappings"][0]["ebs"]
        assert ebs["encrypted"] == "true" and ebs["kmsKeyId"] == key_arn(gb300)
        assert lt["imageId"] == f"resolve:ssm:{CAT.platforms['gb300_nvl72'].ami_parameter}"


def test_user_data_downloads_nothing(gb300):
    lt = props(gb300, "aws:ec2/launchTemplate:LaunchTemplate")[0]
    script = base64.b64decode(lt["userData"]).decode()
    for banned in ("http://", "https://", "curl ", "wget ", "pip install", "apt-get", "s3 cp", "us-west-2"):
        assert banned not in script
    assert "AWS_REGION=eu-central-1" in script and "@tcp:/" in script and "nvidia-imex" in script


@pytest.mark.parametrize("capacity", ["reservation", "on-demand"])
def test_placement_group_only_where_capacity_allows(capacity):
    m = run_offline(settings(platform="gb300_nvl72", buildYear=2027, capacityType=capacity))
    groups = m.blueprint.pod_groups
    pgs = m.of_type("aws:ec2/placementGroup:PlacementGroup")
    reservations = props(m, "aws:ec2/capacityReservation:CapacityReservation")
    blocks = props(m, "aws:ec2/capacityBlockReservation:CapacityBlockReservation")
    lts = props(m, "aws:ec2/launchTemplate:LaunchTemplate")
    if capacity == "capacity-block":
        assert not pgs and len(blocks) == len(groups) and not reservations
        assert all(lt["instanceMarketOptions"]["marketType"] == "capacity-block" for lt in lts)
        assert all(a.get("placementGroup") is None for a in props(m, "aws:autoscaling/group:Group"))
    elif capacity == "reservation":
        assert len(pgs) == len(reservations) == len(groups)
        # the reservation is created inside the group's placement group, so the two agree
        assert all(r["placementGroupArn"] and r["instanceMatchCriteria"] == "targeted" for r in reservations)
        assert all("capacityReservationSpecification" in lt for lt in lts)
    else:
        assert len(pgs) == len(groups) and not reservations and not blocks


def test_counts_match_the_plan(gb300):
    bp = gb300.blueprint
    asgs = props(gb300, "aws:autoscaling/group:Group")
    assert len(asgs) == len(bp.pod_groups)
    assert sum(a["desiredCapacity"] for a in asgs) == bp.domains_built * bp.instances_per_domain
    plan_domains = gb300.plan["platforms"]["gb300_nvl72"]["years"]["2029"]["domains"]["provisioned"]
    assert bp.domains_planned == plan_domains
    # SageMaker and Bedrock serve their own share of the plan: the pods build the rest, no more
    assert bp.domains_built <= bp.domains_planned
    (config,) = props(gb300, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    assert config["productionVariants"][0]["initialInstanceCount"] == bp.sagemaker[0].instances
    assert config["productionVariants"][0]["instanceType"] == "ml.p6e-gb300.36xlarge"
    # item 6: no KMS key on an endpoint config whose instance type has local NVMe storage
    assert "kmsKeyArn" not in config


# -- data ------------------------------------------------------------------------------------------


def test_everything_encrypted_with_the_factory_key(gb300):
    key = key_arn(gb300)
    (k,) = props(gb300, "aws:kms/key:Key")
    assert k["enableKeyRotation"] is True
    sse = props(gb300, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert len(sse) == 3
    for s in sse:
        rule = s["rules"][0]["applyServerSideEncryptionByDefault"]
        assert rule == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key}
    (fsx,) = props(gb300, "aws:fsx/lustreFileSystem:LustreFileSystem")
    assert fsx["kmsKeyId"] == key
    assert props(gb300, "aws:sagemaker/domain:Domain")[0]["kmsKeyId"] == key
    # endpoint configs on local-NVMe types carry no key (SageMaker refuses one; the NVMe is hardware-encrypted)
    assert props(gb300, "aws:bedrock/guardrail:Guardrail")[0]["kmsKeyArn"] == key
    assert props(gb300, "aws:ecr/repository:Repository")[0]["encryptionConfigurations"][0]["kmsKey"] == key
    assert props(gb300, "aws:cloudtrail/trail:Trail")[0]["kmsKeyId"] == key


def test_buckets_are_private_versioned_tls_and_kms_only(gb300):
    assert all(p["status"] == "Enabled" for p in
               [v["versioningConfiguration"] for v in props(gb300, "aws:s3/bucketVersioning:BucketVersioning")])
    for block in props(gb300, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"):
        assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                              "restrictPublicBuckets"))
    for p in props(gb300, "aws:s3/bucketPolicy:BucketPolicy"):
        sids = {s["Sid"] for s in json.loads(p["policy"])["Statement"]}
        assert {"TlsOnly", "KmsOnly", "FactoryKeyOnly"} <= sids
    names = [b["bucket"] for b in props(gb300, "aws:s3/bucket:Bucket")]
    assert all(n.endswith("-eu-central-1") for n in names)


def test_lustre_is_persistent_efa_and_sized_from_training(gb300):
    (fsx,) = props(gb300, "aws:fsx/lustreFileSystem:LustreFileSystem")
    assert fsx["deploymentType"] == "PERSISTENT_2" and fsx["efaEnabled"] is True
    assert fsx["metadataConfiguration"] == {"mode": "AUTOMATIC"}
    # the 405B foundation-model run: 2 checkpoints x 405.9e9 x 16 B + 15.6T tokens x 4 B, +20%
    need_gib = (2 * 405.9e9 * 16 + 15_600e9 * 4 + 2 * 70.6e9 * 16 + 60e9 * 4) * 1.2 / 2**30
    assert need_gib <= fsx["storageCapacity"] < need_gib + 2400
    assert fsx["storageCapacity"] % 2400 == 0


# -- model services --------------------------------------------------------------------------------


def test_sagemaker_is_vpc_only_and_isolated(gb300):
    (domain,) = props(gb300, "aws:sagemaker/domain:Domain")
    assert domain["appNetworkAccessType"] == "VpcOnly"
    for model in props(gb300, "aws:sagemaker/model:Model"):
        assert model["enableNetworkIsolation"] is True and model["vpcConfig"]["subnets"]


def test_bedrock_logs_in_region_and_no_cross_region(gb300):
    (logging,) = props(gb300, "aws:bedrockmodel/invocationLoggingConfiguration:InvocationLoggingConfiguration")
    assert logging["region"] == "eu-central-1"
    logs_bucket = [b["bucket"] for b in props(gb300, "aws:s3/bucket:Bucket") if "-logs-" in b["bucket"]][0]
    assert logging["loggingConfig"]["s3Config"]["bucketName"] == logs_bucket
    (guardrail,) = props(gb300, "aws:bedrock/guardrail:Guardrail")
    assert "crossRegionConfig" not in guardrail
    (pt,) = props(gb300, "aws:bedrock/provisionedModelThroughput:ProvisionedModelThroughput")
    assert pt["modelArn"] == "arn:aws:bedrock:eu-central-1::foundation-model/meta.llama3-3-70b-instruct-v1:0"
    assert pt["modelUnits"] == 8


def test_cross_region_bedrock_model_is_refused(tmp_path):
    import yaml

    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["workloads"][0]["serving"]["model_id"] = "eu.meta.llama3-3-70b-instruct-v1:0"
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(doc))
    from sizing.forecast import load_forecast

    with pytest.raises(InputError) as info:
        load_forecast(path)
    assert info.value.path == "workloads[0].serving.model_id" and "cross-region" in info.value.message


# -- guardrails, site, outputs ---------------------------------------------------------------------


def test_cloudtrail_validates_and_the_factory_creates_no_scps(gb300):
    (trail,) = props(gb300, "aws:cloudtrail/trail:Trail")
    assert trail["enableLogFileValidation"] is True and trail["isMultiRegionTrail"] is True
    # SCPs never apply to the management account: they live in the separate organisation program
    assert not [r for r in gb300.custom() if r["type"].startswith("aws:organizations/")]
    for key in ("organizationManagement", "scpTargetId"):
        with pytest.raises(InputError) as info:
            settings(**{key: "x"})
        assert info.value.path == f"{PROJECT}.{key}" and "unknown config key" in info.value.message


def test_provider_pins_region_and_accounts():
    s = parse_settings({f"{PROJECT}:forecast": str(EXAMPLE), "aws:region": "eu-central-1", f"{PROJECT}:samples": 300,
                        "aws:allowedAccountIds": ["111122223333"], f"{PROJECT}:buildYear": 2027}, "test")
    m = run_offline(s)
    (provider,) = props(m, "pulumi:providers:aws")
    assert provider["region"] == "eu-central-1"
    assert json.loads(provider["allowedAccountIds"]) == ["111122223333"]


def test_dedicated_local_zone_site_opts_in_and_puts_pods_in_its_zone():
    m = run_offline(settings(platform="gb300_nvl72", buildYear=2027,
                             site={"kind": "dedicated-local-zone", "zones": ["eu-central-1-ham-1a"],
                                   "serviceZones": ["eu-central-1a", "eu-central-1b"],
                                   "zoneGroup": "eu-central-1-ham-1"}))
    (group,) = props(m, "aws:ec2/availabilityZoneGroup:AvailabilityZoneGroup")
    assert group == {"groupName": "eu-central-1-ham-1", "optInStatus": "opted-in"}
    subnets = {r["name"]: r["inputs"] for r in m.of_type("aws:ec2/subnet:Subnet")}
    assert {v["availabilityZone"] for k, v in subnets.items() if "-pod-" in k} == {"eu-central-1-ham-1a"}


def test_outpost_site_one_anchor_zone_local_gateway_and_s3_on_outposts():
    arn = "arn:aws:outposts:eu-central-1:111122223333:outpost/op-0123456789abcdef0"
    m = run_offline(settings(platform="b200_hgx", buildYear=2027, capacityType="reservation",
                             site={"kind": "outpost", "zones": ["eu-central-1a"], "outpostArn": arn,
                                   "localGatewayRouteTableId": "lgw-rtb-0123456789abcdef0"}))
    subnets = {r["name"]: r["inputs"] for r in m.of_type("aws:ec2/subnet:Subnet")}
    assert all(v.get("outpostArn") == arn for k, v in subnets.items() if "-pod-" in k)
    assert all("outpostArn" not in v for k, v in subnets.items() if "services" in k)
    assert all(r["outpostArn"] == arn for r in props(m, "aws:ec2/capacityReservation:CapacityReservation"))
    assert {v["availabilityZone"] for v in subnets.values()} == {"eu-central-1a"}
    (lgw,) = props(m, "aws:ec2/localGatewayRouteTableVpcAssociation:LocalGatewayRouteTableVpcAssociation")
    assert lgw["localGatewayRouteTableId"] == "lgw-rtb-0123456789abcdef0"
    (bucket,) = props(m, "aws:s3control/bucket:Bucket")
    assert bucket["outpostId"] == "op-0123456789abcdef0"


def test_outposts_do_not_offer_ultraservers():
    arn = "arn:aws:outposts:eu-central-1:111122223333:outpost/op-0123456789abcdef0"
    with pytest.raises(InputError) as info:
        run_offline(settings(platform="gb300_nvl72", buildYear=2027,
                             site={"kind": "outpost", "zones": ["eu-central-1a"], "outpostArn": arn}))
    assert info.value.path.endswith("site.kind") and "Outposts do not offer NVL72 racks" in info.value.message


def test_every_resource_has_a_component_parent(gb300):
    components = {r["name"] for r in gb300.resources if not r["custom"]}
    for r in gb300.custom():
        if r["type"] == "pulumi:providers:aws":
            continue
        assert r["parent"] in components, r["name"]


# -- growth ----------------------------------------------------------------------------------------

STATEFUL = ("aws:kms/key:Key", "aws:s3/bucket:Bucket", "aws:fsx/lustreFileSystem:LustreFileSystem",
            "aws:ec2/vpc:Vpc", "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation",
            "aws:ec2/subnet:Subnet", "aws:cloudwatch/logGroup:LogGroup", "aws:cloudtrail/trail:Trail",
            "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/vpcEndpoint:VpcEndpoint",
            "aws:s3/bucketPolicy:BucketPolicy", "aws:sagemaker/domain:Domain", "aws:ecr/repository:Repository")


def test_growth_keeps_stateful_resources_and_only_adds_capacity():
    # 2030 -> 2031: demand grows, the plan adds UltraServers
    year_n = run_offline(settings(platform="trn3", buildYear=2030))
    year_n1 = run_offline(settings(platform="trn3", buildYear=2031))
    before = {(r["type"], r["name"]): r["inputs"] for r in year_n.custom()}
    after = {(r["type"], r["name"]): r["inputs"] for r in year_n1.custom()}
    for key, inputs in before.items():
        assert key in after, f"{key} would be deleted"
        if key[0] in STATEFUL:
            assert after[key] == inputs, f"{key} would change (replacement risk)"
    asg_before = {k[1]: v["desiredCapacity"] for k, v in before.items() if k[0] == "aws:autoscaling/group:Group"}
    asg_after = {k[1]: v["desiredCapacity"] for k, v in after.items() if k[0] == "aws:autoscaling/group:Group"}
    assert all(asg_after[name] >= n for name, n in asg_before.items())
    assert sum(asg_after.values()) > sum(asg_before.values())


# -- settings and command line ---------------------------------------------------------------------


@pytest.mark.parametrize("values, path, needle", [
    ({"aws:region": "eu-central-1", f"{PROJECT}:platfrom": "trn3"}, f"{PROJECT}.platfrom", "unknown config key"),
    ({"aws:region": "eu-central-1", f"{PROJECT}:allowedRegions": ["eu-west-1"]}, "aws:region",
     "not in allowedRegions"),
    ({"aws:region": "eu-central-1", f"{PROJECT}:vpcCidr": "8.8.0.0/16"}, f"{PROJECT}.vpcCidr", "inside 10.0.0.0/8"),
    ({"aws:region": "eu-central-1", f"{PROJECT}:capacityType": "spot"}, f"{PROJECT}.capacityType",
     "capacity-block"),
    ({"aws:region": "eu-central-1", f"{PROJECT}:site": {"kind": "dedicated-local-zone", "zones": ["x"]}},
     f"{PROJECT}:site", "serviceZones"),
    ({"aws:region": "eu-central-1", "aws:allowedAccountIds": ["123"]}, "aws:allowedAccountIds", "12-digit"),
    ({"aws:region": "eu-central-1", f"{PROJECT}:platform": "tpu"}, f"{PROJECT}:platform", "unknown platform"),
    ({"gcp:region": "x"}, "gcp:region", "unknown config namespace"),
])
def test_bad_stack_config_is_a_clear_error(values, path, needle):
    with pytest.raises(InputError) as info:
        parse_settings({f"{PROJECT}:forecast": "f.yaml", **values}, "Pulumi.dev.yaml")
    assert info.value.source == "Pulumi.dev.yaml" and info.value.path == path and needle in info.value.message


def test_build_year_outside_horizon():
    with pytest.raises(InputError) as info:
        run_offline(replace(settings(), build_year=2040))
    assert "buildYear" in info.value.path and "horizon" in info.value.message


def test_cli_plan_summary_and_manifest(tmp_path, capsys):
    out = tmp_path / "manifest.json"
    code = main(["plan", str(EXAMPLE), "--samples", "400", "--platform", "gb300_nvl72", "--year", "2027",
                 "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert text.startswith("OFFLINE PREVIEW") and "by component:" in text and "MW" in text
    doc = json.loads(out.read_text())
    assert doc["offline_preview"] is True and doc["resource_count"] == len(doc["resources"]) > 50
    assert all({"type", "name", "parent", "inputs"} <= r.keys() for r in doc["resources"])


def test_cli_plan_with_the_example_stack_file(capsys):
    from tests.conftest import ROOT

    code = main(["plan", str(EXAMPLE), "--stack-config", str(ROOT / "examples" / "Pulumi.national.yaml"),
                 "--samples", "300", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["stack"] == {"name": "national", "region": "eu-central-1", "platform": "trn3",
                                          "build_year": 2028, "capacity_type": "existing"}
