"""verify's read of Global Accelerator (infra/verify_links.global_accelerator): an accelerator with an endpoint in
the factory's VPC is an internet edge in front of it, judged by the program's own no-internet-path rule.

moto has no Global Accelerator (its ListAccelerators answers "Not yet implemented"), so that client is botocore's
Stubber, which refuses any key the service model lacks; the VPC's load balancers, addresses, instances and subnets
are moto's."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from infra.aws import GA_REGION
from infra.findings import Check, Clients, run_checks
from infra.rules import Context, Resource, check_all
from infra.verify_links import global_accelerator

REGION = "eu-central-1"
KEYS = {"aws_access_key_id": "x", "aws_secret_access_key": "x"}
ACC = "arn:aws:globalaccelerator::111122223333:accelerator/0a1b2c3d-1111-2222-3333-444455556666"
LISTENER = ACC + "/listener/0a1b2c3d"
CUSTOM = "arn:aws:globalaccelerator::111122223333:accelerator/9f8e7d6c-1111-2222-3333-444455556666"


def read(clients: Clients, vpc: str) -> list[Resource]:
    found: list[Resource] = []
    global_accelerator(clients, vpc, lambda t, n, p: found.append(Resource(t, n, p, id=n, provider_region=REGION)))
    return found


def internet_rules(found: list[Resource]) -> dict[str, str]:
    return {v.rule: v.message for v in check_all(found, Context((REGION,))).violations}


def _accelerator(arn: str, name: str) -> dict[str, Any]:
    return {"AcceleratorArn": arn, "Name": name, "IpAddressType": "IPV4", "Enabled": True, "DnsName": f"{name}.x",
            "Status": "DEPLOYED", "CreatedTime": "2026-01-01T00:00:00Z", "LastModifiedTime": "2026-01-01T00:00:00Z"}


def _standard(ga: Stubber, endpoint_ids: list[str], pages: int = 1) -> None:
    """One accelerator (after ``pages`` - 1 empty pages), one TCP listener, one endpoint group."""
    for page in range(pages - 1):
        ga.add_response("list_accelerators", {"Accelerators": [], "NextToken": f"t{page}"})
    ga.add_response("list_accelerators", {"Accelerators": [_accelerator(ACC, "front")]})
    ga.add_response("list_listeners", {"Listeners": [{"ListenerArn": LISTENER, "Protocol": "TCP",
                                                      "PortRanges": [{"FromPort": 443, "ToPort": 443}]}]},
                    {"AcceleratorArn": ACC})
    ga.add_response("list_endpoint_groups", {"EndpointGroups": [{
        "EndpointGroupArn": LISTENER + "/endpoint-group/0a", "EndpointGroupRegion": REGION,
        "EndpointDescriptions": [{"EndpointId": e, "Weight": 128} for e in endpoint_ids]}]},
        {"ListenerArn": LISTENER})


def _no_custom(ga: Stubber) -> None:
    ga.add_response("list_custom_routing_accelerators", {"Accelerators": []})


@pytest.fixture()
def factory():
    """A VPC in moto with a subnet, an NLB, an instance and an Elastic IP on an interface; an NLB elsewhere."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION, **KEYS)
        elb = boto3.client("elbv2", region_name=REGION, **KEYS)
        ids = {}
        for name, cidr in (("vpc", "10.64.0.0/16"), ("other", "10.65.0.0/16")):
            vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr.replace("/16", "/24"),
                                       AvailabilityZone=REGION + "a")["Subnet"]["SubnetId"]
            nlb = elb.create_load_balancer(Name=f"{name}-nlb", Subnets=[subnet], Type="network",
                                           Scheme="internal")["LoadBalancers"][0]["LoadBalancerArn"]
            ids[name] = {"vpc": vpc, "subnet": subnet, "nlb": nlb}
        eni = ec2.create_network_interface(SubnetId=ids["vpc"]["subnet"])["NetworkInterface"]["NetworkInterfaceId"]
        alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ec2.associate_address(AllocationId=alloc, NetworkInterfaceId=eni)
        ids["vpc"]["eip"] = alloc
        ga = boto3.client("globalaccelerator", region_name=GA_REGION, **KEYS)
        with Stubber(ga) as stub:
            yield ids, stub, Clients(region=REGION, ec2=ec2, elbv2=elb, globalaccelerator=ga)
            stub.assert_no_pending_responses()


def test_no_accelerator_reads_nothing_of_the_vpc(factory):
    ids, ga, clients = factory
    ga.add_response("list_accelerators", {"Accelerators": []})
    _no_custom(ga)
    clients.elbv2 = None  # not even created: the VPC is read only once an accelerator exists
    assert read(clients, ids["vpc"]["vpc"]) == []
    assert clients.elbv2 is None


@pytest.mark.parametrize("target", ["nlb", "eip"])
def test_an_accelerator_fronting_the_factory_is_an_internet_path(factory, target):
    ids, ga, clients = factory
    _standard(ga, [ids["vpc"][target]])
    _no_custom(ga)
    (found,) = read(clients, ids["vpc"]["vpc"])
    assert found.type == "aws:globalaccelerator/accelerator:Accelerator" and found.name == ACC
    assert found.props["endpoints"] == [ids["vpc"][target]] and found.props["name"] == "front"
    assert "Global Accelerator" in internet_rules([found])["no-internet-path"]


def test_an_accelerator_fronting_another_vpc_is_not_the_factorys(factory):
    ids, ga, clients = factory
    _standard(ga, [ids["other"]["nlb"]])
    _no_custom(ga)
    assert read(clients, ids["vpc"]["vpc"]) == []


def test_accelerators_on_a_later_page_are_read(factory):
    ids, ga, clients = factory
    _standard(ga, [ids["vpc"]["nlb"]], pages=2)
    _no_custom(ga)
    assert [r.name for r in read(clients, ids["vpc"]["vpc"])] == [ACC]


def test_a_custom_routing_accelerator_into_a_factory_subnet_is_an_internet_path(factory):
    ids, ga, clients = factory
    ga.add_response("list_accelerators", {"Accelerators": []})
    ga.add_response("list_custom_routing_accelerators", {"Accelerators": [_accelerator(CUSTOM, "custom")]})
    listener = CUSTOM + "/listener/0b"
    ga.add_response("list_custom_routing_listeners", {"Listeners": [
        {"ListenerArn": listener, "PortRanges": [{"FromPort": 5000, "ToPort": 5100}]}]}, {"AcceleratorArn": CUSTOM})
    ga.add_response("list_custom_routing_endpoint_groups", {"EndpointGroups": [{
        "EndpointGroupArn": listener + "/endpoint-group/0b", "EndpointGroupRegion": REGION,
        "EndpointDescriptions": [{"EndpointId": ids["vpc"]["subnet"]}]}]}, {"ListenerArn": listener})
    (found,) = read(clients, ids["vpc"]["vpc"])
    assert found.name == CUSTOM and found.props["endpoints"] == [ids["vpc"]["subnet"]]


@pytest.mark.parametrize("code, status", [("AccessDeniedException", 400), ("ThrottlingException", 400)])
def test_access_denied_or_throttled_is_a_could_not_check_finding(code, status):
    ga = boto3.client("globalaccelerator", region_name=GA_REGION, **KEYS)
    with Stubber(ga) as stub:
        stub.add_client_error("list_accelerators", service_error_code=code, http_status_code=status)
        clients = Clients(region=REGION, globalaccelerator=ga)
        (f,) = run_checks([Check("read", lambda: read(clients, "vpc-0123456789abcdef0"))]).findings
    assert f.severity == "blocking" and f.message.startswith("could not check:") and f.fix


def test_the_client_is_made_in_the_global_accelerator_region():
    """Without a client in the slot, the one verify makes talks to us-west-2, whatever the factory's region."""
    from infra.verify_network import client

    clients = Clients(region=REGION)
    made = client(clients, "globalaccelerator", "globalaccelerator", region=GA_REGION)
    assert clients.globalaccelerator is made
    assert made.meta.region_name == GA_REGION
