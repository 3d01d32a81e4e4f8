"""Issue 11: what `pulumi up` would refuse or break, caught offline. Each test fails on the code before the fix."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from infra import api_rules
from infra.deploy_checks import refusals
from infra.offline import run_offline
from infra.settings import PROJECT, load_stack_file, parse_settings
from sizing.errors import InputError
from sizing.words import plural
from tests.conftest import EXAMPLE, ROOT

AI_FACTORY = ROOT / "examples" / "Pulumi.ai-factory.yaml"
NATIONAL = ROOT / "examples" / "Pulumi.national.yaml"


def settings(**over):
    values = {f"{PROJECT}:forecast": str(EXAMPLE), "aws:region": "eu-central-1", f"{PROJECT}:samples": 400,
              **{f"{PROJECT}:{k}": v for k, v in over.items()}}
    return parse_settings(values, "test")


def props(m, type_):
    return [r["inputs"] for r in m.of_type(type_)]


@pytest.fixture(scope="module")
def national():
    return run_offline(replace(load_stack_file(NATIONAL), samples=400, forecast=str(EXAMPLE)))


@pytest.fixture(scope="module")
def ai_factory():
    return run_offline(replace(load_stack_file(AI_FACTORY), samples=400, forecast=str(EXAMPLE)))


@pytest.fixture(scope="module")
def gb300():
    return run_offline(settings(platform="gb300_nvl72", buildYear=2028, servingImage="serve-1.0"))


# -- API rules over whole manifests (items 2, 3, 19) --------------------------------------------------


def test_no_name_or_description_aws_would_refuse(national, ai_factory, gb300):
    for m in (national, ai_factory, gb300):
        assert m.api_violations() == []


@pytest.mark.parametrize("resource, path, value", [
    ({"type": "aws:ec2/securityGroup:SecurityGroup", "name": "sg",
      "inputs": {"egress": [{"description": "the VPC's interface endpoints"}]}}, "egress[0].description", "'"),
    ({"type": "aws:s3/bucket:Bucket", "name": "b", "inputs": {"bucket": "AIF-data"}}, "bucket", "lowercase"),
    ({"type": "aws:sagemaker/model:Model", "name": "m", "inputs": {"name": "aif_chat"}}, "name", "pattern"),
    ({"type": "aws:bedrock/guardrail:Guardrail", "name": "g", "inputs": {"name": "x" * 51}}, "name", "longer"),
    ({"type": "aws:iam/role:Role", "name": "r" * 60, "inputs": {}}, "name (auto-named)", "longer than 64"),
])
def test_each_rule_catches_what_the_api_refuses(resource, path, value):
    (v,) = api_rules.check_resources([resource])
    assert v.path == path and value in v.message and v.source


def test_kms_key_policy_names_no_principal_that_may_not_exist(national):
    (key,) = national.of_type("aws:kms/key:Key")
    assert api_rules.kms_principals(key) == []
    principals = [s["Principal"] for s in json.loads(key["inputs"]["policy"])["Statement"]]
    assert not [p for p in principals if "AWSServiceRoleForAutoScaling" in json.dumps(p)]
    slr = api_rules.kms_principals({"type": "aws:kms/key:Key", "name": "k", "inputs": {"policy": json.dumps({
        "Statement": [{"Principal": {"AWS": "arn:aws:iam::111122223333:role/aws-service-role/autoscaling."
                                            "amazonaws.com/AWSServiceRoleForAutoScaling"}}]})}})
    assert len(slr) == 1 and "may not exist" in slr[0].message
    # the Auto Scaling role the groups use is the program's own, granted the key after both exist
    (role,) = props(national, "aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert role["awsServiceName"] == "autoscaling.amazonaws.com" and role["customSuffix"] == "aif"
    assert props(national, "aws:kms/grant:Grant")


def test_bedrock_logging_can_use_the_key_and_waits_for_its_policies(national):
    (key,) = props(national, "aws:kms/key:Key")
    sids = {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}
    assert sids["BedrockInvocationLogs"]["Principal"] == {"Service": "bedrock.amazonaws.com"}
    (logging,) = national.of_type("aws:bedrockmodel/invocationLoggingConfiguration:InvocationLoggingConfiguration")
    assert {"aif-data-logs-policy", "aif-services-bedrock-logging"} <= set(logging["depends_on"])


# -- network paths (items 9, 14) ---------------------------------------------------------------------


def test_nodes_and_sagemaker_reach_s3_through_the_gateway_prefix_list(national):
    groups = {p["description"]: p for p in props(national, "aws:ec2/securityGroup:SecurityGroup")}
    for label in ("EFA pods", "SageMaker Studio"):
        (sg,) = [v for k, v in groups.items() if k.startswith(label)]
        assert any(r.get("prefixListIds") for r in sg["egress"]), label
    studio = [v for k, v in groups.items() if k.startswith("SageMaker Studio")][0]
    (domain,) = props(national, "aws:sagemaker/domain:Domain")
    assert studio["egress"] and domain["defaultUserSettings"]["securityGroups"]


def test_pulumi_up_waits_for_the_instances(national):
    for asg in props(national, "aws:autoscaling/group:Group"):
        assert asg["waitForCapacityTimeout"] not in ("0", "0m") and asg["serviceLinkedRoleArn"]


# -- capacity (items 4, 5) ---------------------------------------------------------------------------


def test_placeholder_types_preview_but_pulumi_up_refuses_them(national):
    text = [str(r) for r in refusals(national.settings, national.blueprint)]
    assert any(t.startswith(f"{PROJECT}:instanceType") and "placeholder" in t for t in text)


@pytest.mark.parametrize("kind, what", [("reservation", "not On-Demand Capacity Reservations"),
                                        ("on-demand", "not On-Demand instances")])
def test_ultraserver_types_are_not_sold_as_odcrs_or_on_demand(kind, what):
    m = run_offline(settings(platform="gb300_nvl72", buildYear=2027, capacityType=kind))
    assert any(what in str(r) and r.key.endswith("capacityType") for r in refusals(m.settings, m.blueprint))
    hgx = run_offline(settings(platform="b200_hgx", buildYear=2027, capacityType=kind))
    assert not [r for r in refusals(hgx.settings, hgx.blueprint) if r.key.endswith("capacityType")]


def test_capacity_blocks_are_consumed_by_id_within_the_api_limits():
    ids = [f"cr-{i:017x}" for i in range(1, 40)]
    m = run_offline(settings(platform="gb200_nvl72", buildYear=2027, capacityType="capacity-block",
                             domainsPerGroup=8, capacityReservationIds=ids[:3]))
    # nothing buys, renames (buildYear) or deletes a block: it is consumed by id
    assert not m.of_type("aws:ec2/capacityBlockReservation:CapacityBlockReservation")
    assert not m.of_type("aws:ec2/placementGroup:PlacementGroup")
    for lt in props(m, "aws:ec2/launchTemplate:LaunchTemplate"):
        assert lt["instanceMarketOptions"]["marketType"] == "capacity-block"
        assert lt["capacityReservationSpecification"]["capacityReservationTarget"]["capacityReservationId"] in ids
    text = " ".join(str(r) for r in refusals(m.settings, m.blueprint))
    assert m.blueprint.pod_groups[0].instances > 64
    assert "at most 64 instances; pod-000" in text
    assert f"3 given, {plural(len(m.blueprint.pod_groups), 'group')} (" in text
    many = replace(m.blueprint, pod_groups=m.blueprint.pod_groups * 3)
    assert many.instances_built > 256  # more instances in one account than Capacity Blocks allow
    assert "at most 256" in " ".join(str(r) for r in refusals(m.settings, many))


def test_ai_factory_consumes_the_handed_over_reservations(ai_factory):
    bp = ai_factory.blueprint
    assert bp.capacity_type == "existing" and bp.site_kind == "ai-factory"
    assert not ai_factory.of_type("aws:ec2/capacityReservation:CapacityReservation")
    targets = [lt["capacityReservationSpecification"]["capacityReservationTarget"]["capacityReservationId"]
               for lt in props(ai_factory, "aws:ec2/launchTemplate:LaunchTemplate")]
    assert targets == list(ai_factory.settings.capacity_reservation_ids)
    assert not [r for r in refusals(ai_factory.settings, bp) if "capacityReservationIds" in r.key]


# -- services (items 6, 7) ---------------------------------------------------------------------------


def test_sagemaker_types_and_images_and_bedrock_ids_are_checked(national):
    text = " ".join(str(r) for r in refusals(national.settings, national.blueprint))
    assert "SageMaker does not offer ml.trn3p.48xlarge" in text
    assert "servingImage" in text and "context-length variant" in text
    # no model points at an image in a repository this run just created empty
    assert not national.of_type("aws:sagemaker/model:Model")


# -- fabric and topology (items 10, 11, 12, 13) --------------------------------------------------------


def test_a_training_job_and_its_file_system_share_one_zone(ai_factory, gb300):
    for m in (ai_factory, gb300):
        bp = m.blueprint
        assert bp.jobs and all(j["zone_index"] == 0 for j in bp.jobs.values())
        training = [g for g in bp.pod_groups if g.role == "training"]
        assert training and all(g.zone_index == 0 for g in training)
        subnets = {r["name"]: r["inputs"] for r in m.of_type("aws:ec2/subnet:Subnet")}
        (fsx,) = props(m, "aws:fsx/lustreFileSystem:LustreFileSystem")
        fsx_zone = [v["availabilityZone"] for k, v in subnets.items() if k.endswith("services-0")][0]
        assert {subnets[f"aif-network-{g.name}"]["availabilityZone"] for g in training} == {fsx_zone}
        assert fsx["efaEnabled"] is True
    # the national foundation-model run gets, in its one fabric zone, every accelerator the plan sizes it for
    bp = ai_factory.blueprint
    run = next(t for t in ai_factory.plan["platforms"][bp.platform.id]["training"]
               if t["workload"] == "sovereign-foundation-model")
    assert run["mode"] == "build" and run["accelerators"] > 1_000
    assert bp.jobs["sovereign-foundation-model"]["domains"] * bp.platform.domain_accelerators >= run["accelerators"]


def test_nvl72_domains_get_their_imex_node_list_and_domain_tag(gb300):
    script = base64.b64decode(props(gb300, "aws:ec2/launchTemplate:LaunchTemplate")[0]["userData"]).decode()
    assert "/etc/nvidia-imex/nodes_config.cfg" in script and "describe-instance-topology" in script
    assert "aifactory:domain" in script and "lnetctl net add --net efa" in script


def test_dedicated_local_zone_keeps_endpoints_and_services_in_the_parent_region():
    m = run_offline(settings(platform="gb300_nvl72", buildYear=2027,
                             site={"kind": "dedicated-local-zone", "zones": ["eu-central-1-dlz-1a"],
                                   "serviceZones": ["eu-central-1a", "eu-central-1b"]}))
    subnets = {r["name"]: r["inputs"] for r in m.of_type("aws:ec2/subnet:Subnet")}
    assert {v["availabilityZone"] for k, v in subnets.items() if "services" in k} == {"eu-central-1a", "eu-central-1b"}
    assert subnets["aif-network-fabric-data"]["availabilityZone"] == "eu-central-1-dlz-1a"
    for e in props(m, "aws:ec2/vpcEndpoint:VpcEndpoint"):
        if e["vpcEndpointType"] == "Interface":
            assert len(e["subnetIds"]) == 2


def test_facility_budget_per_pod_group(gb300):
    fac = gb300.blueprint.facility
    groups = fac["pod_groups"]
    assert sum(g["racks_or_ultraservers"] for g in groups) == gb300.blueprint.domains_built
    assert fac["cooling_loops"] == len(groups) and groups[0]["rack_range"][0] == 0
    assert sum(g["it_power_kw"] for g in groups) <= fac["it_power_kw"] + 1


# -- stack settings (item 19) -------------------------------------------------------------------------


@pytest.mark.parametrize("values, path, needle", [
    ({f"{PROJECT}:vpcCidr": "127.0.0.0/8"}, f"{PROJECT}.vpcCidr", "refuses"),
    ({f"{PROJECT}:vpcCidr": "169.254.0.0/16"}, f"{PROJECT}.vpcCidr", "refuses"),
    ({f"{PROJECT}:vpcCidr": "0.0.0.0/8"}, f"{PROJECT}.vpcCidr", "refuses"),
    ({f"{PROJECT}:site": {"kind": "region", "zones": ["eu-west-1a"]}}, f"{PROJECT}:site.zones[0]", "eu-central-1"),
    ({f"{PROJECT}:site": {"kind": "outpost", "zones": ["eu-central-1a"],
                          "outpostArn": "arn:aws:outposts:eu-west-1:111122223333:outpost/op-0123456789abcdef0"}},
     f"{PROJECT}:site.outpostArn", "in eu-west-1"),
    ({"aws:region": "eu-centrl-1"}, "aws:region", "unknown region"),
    ({f"{PROJECT}:name": "AIF_prod"}, f"{PROJECT}.name", "lowercase"),
    ({"aws:profile": "admin"}, "aws:profile", "unknown aws: key"),
    ({f"{PROJECT}:capacityReservationIds": ["cr-123"]}, f"{PROJECT}:capacityReservationIds[0]", "17 hex"),
])
def test_stack_config_refuses_what_aws_refuses(values, path, needle):
    with pytest.raises(InputError) as info:
        parse_settings({f"{PROJECT}:forecast": "f.yaml", "aws:region": "eu-central-1", **values}, "Pulumi.dev.yaml")
    assert info.value.path == path and needle in info.value.message


def test_a_pod_group_larger_than_a_subnet_is_an_error_not_a_silent_cap():
    with pytest.raises(InputError) as info:
        run_offline(settings(platform="gb200_nvl72", buildYear=2027, domainsPerGroup=400))
    assert info.value.path.endswith("domainsPerGroup") and "lower domainsPerGroup" in info.value.message


def test_stack_file_as_pulumi_writes_it(tmp_path):
    text = AI_FACTORY.read_text()
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text("secretsprovider: awskms://alias/aif-pulumi?region=eu-central-1\n"
                    "encryptedkey: AQICAHhExampleCiphertext==\n" + text)
    s = load_stack_file(path)
    assert s.stack == "prod" and s.site.kind == "ai-factory"
    # a secret the offline plan needs: a clear error naming the key, never a traceback
    path.write_text(path.read_text() + "  sovereign-ai-factory:organizationId:\n    secure: v1:abc==\n")
    with pytest.raises(InputError) as info:
        load_stack_file(path)
    assert info.value.path == f"{PROJECT}:organizationId" and "secure" in info.value.message


def test_seed_and_samples_default_to_the_forecast_own():
    from infra.program import plan_sampling
    from sizing.forecast import load_forecast

    forecast = load_forecast(EXAMPLE)
    s = parse_settings({f"{PROJECT}:forecast": str(EXAMPLE), "aws:region": "eu-central-1"}, "test")
    assert plan_sampling(s, forecast) == (forecast.samples, forecast.seed)


def test_pulumi_up_refuses_before_creating_anything(monkeypatch):
    import pulumi

    from infra import program

    created = []
    monkeypatch.setattr(program, "settings_from_pulumi", lambda: settings(buildYear=2027))
    monkeypatch.setattr(program, "build", lambda *a: created.append(a))
    with pytest.raises(pulumi.RunError) as info:
        program.main()
    assert f"{PROJECT}:instanceType" in str(info.value) and "placeholder" in str(info.value) and not created


def test_ai_factory_region_codes_and_site_kinds():
    base = {f"{PROJECT}:forecast": "f.yaml", "aws:region": "eu-aif-1"}
    s = parse_settings({**base, f"{PROJECT}:site": {"kind": "ai-factory", "zones": ["eu-aif-1a"]}}, "t")
    assert s.region == "eu-aif-1" and s.capacity_type == "existing"  # a private region code, contracted capacity
    with pytest.raises(InputError) as info:  # the same code for a public-region stack is unknown
        parse_settings(base, "t")
    assert info.value.path == "aws:region" and "ai-factory" in info.value.message
    with pytest.raises(InputError) as info:
        parse_settings({**base, f"{PROJECT}:site": {"kind": "ai-factory"},
                        f"{PROJECT}:allowedRegions": ["eu-aif-1", "eu-central-1"]}, "t")
    assert info.value.path == f"{PROJECT}:allowedRegions"
    with pytest.raises(InputError) as info:
        parse_settings({**base, f"{PROJECT}:site": {"kind": "local-zone"}}, "t")
    assert "dedicated-local-zone" in info.value.message and info.value.path == f"{PROJECT}:site.kind"


def test_plan_and_size_give_one_answer_on_the_national_example():
    """`pulumi up` (infra.program.prepare, stack leaves platform/seed/samples unset) builds the
    platform `aifactory size` recommends, with the same figures: one answer everywhere."""
    from infra.program import prepare
    from sizing.forecast import load_forecast
    from sizing.plan import make_plan

    sized = make_plan(load_forecast(EXAMPLE))  # what `aifactory size examples/national.yaml` prints
    best = sized["recommendation"]["platform"]
    s = parse_settings({f"{PROJECT}:forecast": str(EXAMPLE), "aws:region": "eu-central-1"}, "test")
    _forecast, plan, blueprint = prepare(s)
    assert blueprint.platform.id == best
    final = str(sized["forecast"]["years"][-1])
    for figure in ("domains", "accelerators", "facility_power_mw", "cost_usd"):
        assert plan["platforms"][best]["years"][final][figure] == sized["platforms"][best]["years"][final][figure]
