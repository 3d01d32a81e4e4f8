"""verify's reads of Direct Connect, VPC Lattice, Elastic IPs, local-gateway route tables and SageMaker model isolation
(infra/verify_links.py), judged by the same rules as the Pulumi program. Stubber answers use botocore's real shapes
(it refuses any key the service model does not have); moto where it implements the API (Elastic IPs, Lattice)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from infra.findings import Check, Clients, run_checks
from infra.rules import Context, Resource, check_all
from infra.verify_links import direct_connect, elastic_ips, lattice, local_gateway, sagemaker_models

REGION = "eu-central-1"
VPC = "vpc-0123456789abcdef0"
TABLE = "lgw-rtb-0123456789abcdef0"
EP_ARN = "arn:aws:sagemaker:eu-central-1:111122223333:endpoint/aif-chat"
KEYS = {"region_name": REGION, "aws_access_key_id": "x", "aws_secret_access_key": "x"}


def read(reader, clients, *args) -> list[Resource]:
    found: list[Resource] = []
    reader(clients, *args, lambda t, n, p: found.append(Resource(t, n, p, id=n, provider_region=REGION)))
    return found


REGION_ONLY = Context((REGION,))


def rules(found, ctx=REGION_ONLY) -> dict[str, str]:
    return {v.rule: v.message for v in check_all(found, ctx).violations}


def lgw_client(dest: str):
    ec2 = boto3.client("ec2", **KEYS)
    stub = Stubber(ec2)
    stub.add_response("describe_local_gateway_route_table_vpc_associations", {
        "LocalGatewayRouteTableVpcAssociations": [{"LocalGatewayRouteTableVpcAssociationId": "lgw-vpc-assoc-0a",
                                                   "LocalGatewayRouteTableId": TABLE, "VpcId": VPC,
                                                   "State": "associated"}]},
        {"Filters": [{"Name": "vpc-id", "Values": [VPC]}]})
    stub.add_response("search_local_gateway_routes", {"Routes": [
        {"DestinationCidrBlock": dest, "LocalGatewayVirtualInterfaceGroupId": "lgw-vif-grp-0a", "Type": "static",
         "State": "active", "LocalGatewayRouteTableId": TABLE},
        {"DestinationCidrBlock": "10.64.0.0/24", "NetworkInterfaceId": "eni-0a", "Type": "static", "State": "active"},
    ]}, {"LocalGatewayRouteTableId": TABLE})
    stub.activate()
    return Clients(region=REGION, ec2=ec2, ec2_local_gateway=ec2)


@pytest.mark.parametrize("dest, ok", [("192.168.10.0/24", True), ("0.0.0.0/0", False), ("172.16.0.0/16", False)])
def test_local_gateway_routes_pass_only_to_declared_on_site_networks(dest, ok):
    found = read(local_gateway, lgw_client(dest), VPC)
    assert {r.type.rsplit(":", 1)[1] for r in found} == {"LocalGatewayRouteTableVpcAssociation", "LocalGatewayRoute"}
    assert len(found) == 2  # the ENI route brings site traffic in: not egress, not read
    on_site = Context((REGION,), on_site_cidrs=("192.168.0.0/16",))
    assert (not rules(found, on_site)) is ok
    assert "no-external-network" in rules(found)  # undeclared: every local-gateway route is an egress path


def test_direct_connect_on_the_factory_gateways_is_an_external_network():
    ec2, dx = boto3.client("ec2", **KEYS), boto3.client("directconnect", **KEYS)
    with Stubber(ec2) as e, Stubber(dx) as d:
        e.add_response("describe_vpn_gateways", {"VpnGateways": [{"VpnGatewayId": "vgw-0a", "State": "available"}]})
        e.add_response("describe_transit_gateway_vpc_attachments", {"TransitGatewayVpcAttachments": []})
        d.add_response("describe_virtual_interfaces", {"virtualInterfaces": [
            {"virtualInterfaceId": "dxvif-0a", "virtualGatewayId": "vgw-0a", "virtualInterfaceState": "available",
             "connectionId": "dxcon-0a"},
            {"virtualInterfaceId": "dxvif-0b", "virtualGatewayId": "vgw-0ther", "virtualInterfaceState": "available"},
            {"virtualInterfaceId": "dxvif-0c", "virtualGatewayId": "vgw-0a", "virtualInterfaceState": "deleted"}]})
        d.add_response("describe_direct_connect_gateway_associations", {"directConnectGatewayAssociations": [
            {"associationId": "dxgwassoc-0a", "directConnectGatewayId": "dxgw-0a", "associationState": "associated"}]},
            {"virtualGatewayId": "vgw-0a"})
        found = read(direct_connect, Clients(region=REGION, ec2=ec2, directconnect=dx), VPC)
    assert sorted(r.name for r in found) == ["dxgwassoc-0a", "dxvif-0a"]
    assert "Direct Connect resource" in rules(found)["no-external-network"]


def test_lattice_association_of_the_factory_vpc_is_an_external_network(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        vl = boto3.client("vpc-lattice", **KEYS)
        net = vl.create_service_network(name="shared")["id"]
        vl.create_service_network_vpc_association(serviceNetworkIdentifier=net, vpcIdentifier=VPC)
        found = read(lattice, Clients(region=REGION, lattice=vl), VPC)
        assert not read(lattice, Clients(region=REGION, lattice=vl), "vpc-0ther000000000000")
    assert [r.type for r in found] == ["aws:vpclattice/serviceNetworkVpcAssociation:ServiceNetworkVpcAssociation"]
    assert "VPC Lattice" in rules(found)["no-external-network"]


def test_elastic_ips_on_the_factory_interfaces_are_internet_paths(monkeypatch):
    with mock_aws():
        ec2 = boto3.client("ec2", **KEYS)
        vpc = ec2.create_vpc(CidrBlock="10.64.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.64.0.0/24")["Subnet"]["SubnetId"]
        eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
        ec2.associate_address(AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"], NetworkInterfaceId=eni)
        ec2.allocate_address(Domain="vpc")  # unassociated: not the factory's
        found = read(elastic_ips, Clients(region=REGION, ec2=ec2), vpc)
    assert [r.props["networkInterface"] for r in found] == [eni]
    assert "Elastic (public) IP" in rules(found)["no-internet-path"]


@pytest.mark.parametrize("isolated, vpc_config, ok", [(True, None, True), (False, True, True), (False, None, False)])
def test_models_behind_the_factory_endpoints_are_isolated(isolated, vpc_config, ok):
    sm = boto3.client("sagemaker", **KEYS)
    model = {"ModelName": "aif-serve", "ExecutionRoleArn": "arn:aws:iam::111122223333:role/r",
             "CreationTime": "2026-01-01T00:00:00Z", "ModelArn": "arn:aws:sagemaker:eu-central-1:1:model/aif-serve",
             "EnableNetworkIsolation": isolated}
    if vpc_config:
        model["VpcConfig"] = {"SecurityGroupIds": ["sg-0a"], "Subnets": ["subnet-0a"]}
    with Stubber(sm) as s:
        s.add_response("list_endpoints", {"Endpoints": [{"EndpointName": "aif-chat", "EndpointArn": EP_ARN,
                                                         "CreationTime": "2026-01-01T00:00:00Z",
                                                         "LastModifiedTime": "2026-01-01T00:00:00Z",
                                                         "EndpointStatus": "InService"}]}, {"NameContains": "aif"})
        s.add_response("describe_endpoint", {"EndpointName": "aif-chat", "EndpointArn": EP_ARN,
                                             "EndpointConfigName": "aif-chat-config", "EndpointStatus": "InService",
                                             "CreationTime": "2026-01-01T00:00:00Z",
                                             "LastModifiedTime": "2026-01-01T00:00:00Z"})
        s.add_response("describe_endpoint_config", {"EndpointConfigName": "aif-chat-config",
                                                    "EndpointConfigArn": EP_ARN + "-config",
                                                    "CreationTime": "2026-01-01T00:00:00Z", "ProductionVariants": [
                                                        {"VariantName": "v1", "ModelName": "aif-serve"}]})
        s.add_response("describe_model", model, {"ModelName": "aif-serve"})
        found = read(sagemaker_models, Clients(region=REGION, sagemaker=sm), "aif")
    assert [r.name for r in found] == ["aif-serve"]
    assert ("sagemaker-no-internet" not in rules(found)) is ok


@pytest.mark.parametrize("code", ["AccessDenied", "Throttling", "TooManyRequestsException"])
@pytest.mark.parametrize("reader, slot, service, operation", [
    (local_gateway, "ec2_local_gateway", "ec2", "describe_local_gateway_route_table_vpc_associations"),
    (lattice, "lattice", "vpc-lattice", "list_service_network_vpc_associations"),
    (elastic_ips, "ec2", "ec2", "describe_network_interfaces"),
    (sagemaker_models, "sagemaker", "sagemaker", "list_endpoints"),
])
def test_access_denied_and_throttling_on_each_read_are_findings(reader, slot, service, operation, code):
    c = boto3.client(service, **KEYS)
    with Stubber(c) as stub:
        stub.add_client_error(operation, service_error_code=code, http_status_code=403 if code == "AccessDenied"
                              else 429)
        arg = "aif" if reader is sagemaker_models else VPC
        clients = Clients(region=REGION, **{slot: c, **({"ec2": c} if slot == "ec2_local_gateway" else {})})
        (f,) = run_checks([Check("read", lambda: read(reader, clients, arg))]).findings
    assert f.severity == "blocking" and f.message.startswith("could not check:") and f.fix


def test_access_denied_on_direct_connect_is_a_finding():
    ec2, dx = boto3.client("ec2", **KEYS), boto3.client("directconnect", **KEYS)
    with Stubber(ec2) as e, Stubber(dx) as d:
        e.add_response("describe_vpn_gateways", {"VpnGateways": [{"VpnGatewayId": "vgw-0a", "State": "available"}]})
        e.add_response("describe_transit_gateway_vpc_attachments", {"TransitGatewayVpcAttachments": []})
        d.add_client_error("describe_virtual_interfaces", service_error_code="DirectConnectClientException",
                           service_message="not authorized", http_status_code=400)
        clients = Clients(region=REGION, ec2=ec2, directconnect=dx)
        (f,) = run_checks([Check("read", lambda: read(direct_connect, clients, VPC))]).findings
    assert f.severity == "blocking" and f.message.startswith("could not check:")
