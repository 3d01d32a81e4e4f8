"""Verify's reads of the factory's network and its other egress paths, as infra/rules.py resources.

Each reader takes ``res(type, name, props)`` and reports what it read with the Pulumi type token and
camelCase props the rules inspect. Every call goes through infra/aws.py (paged, checked answers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.aws import FILTER_VALUES, Budget, chunks, need, pages, session_clients
from infra.findings import Clients

Res = Callable[..., None]
GONE = ("deleted", "deleting", "failed", "rejected")


def _f(*pairs: tuple[str, Any]) -> list[dict[str, Any]]:
    """EC2 filters from (name, value or values) pairs, names as the API spells them."""
    return [{"Name": name, "Values": value if isinstance(value, list) else [value]} for name, value in pairs]


def _ec2(clients: Clients, operation: str, key: str, *pairs: tuple[str, Any], client: Any = None) -> list[Any]:
    """Every item of a paged EC2 describe call; a filter with many values is sent in slices of 200."""
    client = client or clients.ec2
    many = [(i, p) for i, p in enumerate(pairs) if isinstance(p[1], list) and len(p[1]) > FILTER_VALUES]
    if not many:
        return pages(client, operation, key, Filters=_f(*pairs))
    index, (name, values) = many[0]
    items: list[Any] = []
    for part in chunks(values):
        sliced = list(pairs)
        sliced[index] = (name, part)
        items += _ec2(clients, operation, key, *sliced, client=client)
    return items


def _live(items: list[dict[str, Any]], state: str = "State") -> list[dict[str, Any]]:
    """Items whose state (a string, or a {"Code": ...} status) is not gone."""
    def code(value: Any) -> Any:
        return value.get("Code") if isinstance(value, dict) else value
    return [i for i in items if code(i.get(state)) not in GONE]


def _route(r: dict[str, Any]) -> dict[str, Any]:
    """One EC2 route as a pulumi-aws routeTable route; a vpce- target on a CIDR is a Gateway Load Balancer endpoint."""
    gateway = r.get("GatewayId") or ""
    endpoint = gateway if gateway.startswith("vpce-") else None
    return {"cidrBlock": r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock")
            or r.get("DestinationPrefixListId"),  # a prefix-list destination, named in the rule's message
            "gatewayId": None if endpoint else r.get("GatewayId"), "vpcEndpointId": endpoint,
            "natGatewayId": r.get("NatGatewayId"), "vpcPeeringConnectionId": r.get("VpcPeeringConnectionId"),
            "egressOnlyGatewayId": r.get("EgressOnlyInternetGatewayId"), "carrierGatewayId": r.get("CarrierGatewayId"),
            "transitGatewayId": r.get("TransitGatewayId"), "localGatewayId": r.get("LocalGatewayId"),
            "coreNetworkArn": r.get("CoreNetworkArn")}


def _gateway_endpoint_route(r: dict[str, Any]) -> bool:
    """A Gateway endpoint's (S3, DynamoDB) route: a prefix list to a vpce- target, the factory's own path."""
    return bool(r.get("DestinationPrefixListId")) and str(r.get("GatewayId", "")).startswith("vpce-")


def network(clients: Clients, vpc: str, res: Res) -> set[str]:
    """Subnets, gateways, peerings, routes and endpoints of the factory's VPC; returns the endpoint services."""
    for s in _ec2(clients, "describe_subnets", "Subnets", ("vpc-id", vpc)):
        res("aws:ec2/subnet:Subnet", s["SubnetId"], {
            "mapPublicIpOnLaunch": s.get("MapPublicIpOnLaunch", False),
            "mapCustomerOwnedIpOnLaunch": s.get("MapCustomerOwnedIpOnLaunch", False),
            "customerOwnedIpv4Pool": s.get("CustomerOwnedIpv4Pool")})
    for g in _ec2(clients, "describe_internet_gateways", "InternetGateways", ("attachment.vpc-id", vpc)):
        res("aws:ec2/internetGateway:InternetGateway", g["InternetGatewayId"], {})
    for n in _live(_ec2(clients, "describe_nat_gateways", "NatGateways", ("vpc-id", vpc))):
        res("aws:ec2/natGateway:NatGateway", n["NatGatewayId"], {"subnetId": n.get("SubnetId")})
    for side in ("requester-vpc-info.vpc-id", "accepter-vpc-info.vpc-id"):
        for p in _ec2(clients, "describe_vpc_peering_connections", "VpcPeeringConnections", (side, vpc)):
            if p.get("Status", {}).get("Code") in ("active", "pending-acceptance", "provisioning"):
                res("aws:ec2/vpcPeeringConnection:VpcPeeringConnection", p["VpcPeeringConnectionId"], {})
    for rt in _ec2(clients, "describe_route_tables", "RouteTables", ("vpc-id", vpc)):
        routes = [_route(r) for r in rt.get("Routes", [])
                  if r.get("GatewayId") != "local" and not _gateway_endpoint_route(r)]
        res("aws:ec2/routeTable:RouteTable", rt["RouteTableId"], {"routes": routes})
    services = set()
    for e in _ec2(clients, "describe_vpc_endpoints", "VpcEndpoints", ("vpc-id", vpc)):
        services.add(e["ServiceName"])
        res("aws:ec2/vpcEndpoint:VpcEndpoint", e["VpcEndpointId"], {
            "policy": e.get("PolicyDocument"), "serviceName": e["ServiceName"],
            "vpcEndpointType": e.get("VpcEndpointType"), "serviceRegion": e.get("ServiceRegion")})
    return services


def links(clients: Clients, vpc: str, res: Res) -> None:
    """VPN, Transit Gateway and Client VPN links of the VPC, and the region's default VPC."""
    vgws = vpn_gateways(clients, vpc)
    for g in vgws:
        res("aws:ec2/vpnGateway:VpnGateway", g["VpnGatewayId"], {"vpcId": vpc})
    tgws = transit_attachments(clients, vpc)
    for a in tgws:
        res("aws:ec2transitgateway/vpcAttachment:VpcAttachment", a["TransitGatewayAttachmentId"],
            {"vpcId": vpc, "transitGatewayId": a.get("TransitGatewayId")})
    vpns: dict[str, dict[str, Any]] = {}
    for name, ids in (("vpn-gateway-id", [g["VpnGatewayId"] for g in vgws]),
                      ("transit-gateway-id", sorted({a["TransitGatewayId"] for a in tgws}))):
        found = _ec2(clients, "describe_vpn_connections", "VpnConnections", (name, ids)) if ids else []
        vpns |= {v["VpnConnectionId"]: v for v in _live(found)}
    for v in vpns.values():
        res("aws:ec2/vpnConnection:VpnConnection", v["VpnConnectionId"], {"customerGatewayId": v.get(
            "CustomerGatewayId"), "vpnGatewayId": v.get("VpnGatewayId"), "transitGatewayId": v.get("TransitGatewayId")})
    far = sorted({v["CustomerGatewayId"] for v in vpns.values() if v.get("CustomerGatewayId")})
    for c in _live(_ec2(clients, "describe_customer_gateways", "CustomerGateways", ("customer-gateway-id", far))
                   if far else []):
        res("aws:ec2/customerGateway:CustomerGateway", c["CustomerGatewayId"], {"ipAddress": c.get("IpAddress")})
    remote = client(clients, "ec2_client_vpn", "ec2")  # its own slot: tests stub it (moto has no Client VPN)
    for e in _live(pages(remote, "describe_client_vpn_endpoints", "ClientVpnEndpoints"), "Status"):
        if e.get("VpcId") == vpc:  # the API has no VPC filter
            res("aws:ec2clientvpn/endpoint:Endpoint", e["ClientVpnEndpointId"], {"vpcId": vpc})
    for d in _ec2(clients, "describe_vpcs", "Vpcs", ("is-default", "true")):
        res("aws:ec2/defaultVpc:DefaultVpc", d["VpcId"], {"isDefault": True})


def vpn_gateways(clients: Clients, vpc: str) -> list[dict[str, Any]]:
    """The virtual private gateways attached (or attaching) to the VPC."""
    return _live(_ec2(clients, "describe_vpn_gateways", "VpnGateways", ("attachment.vpc-id", vpc),
                      ("attachment.state", ["attaching", "attached", "detaching"])))


def transit_attachments(clients: Clients, vpc: str) -> list[dict[str, Any]]:
    """The VPC's Transit Gateway attachments."""
    return _live(_ec2(clients, "describe_transit_gateway_vpc_attachments", "TransitGatewayVpcAttachments",
                      ("vpc-id", vpc)))


def client(clients: Clients, slot: str, service: str, region: str | None = None) -> Any:
    """``clients.<slot>`` (``Clients.for_region`` fills every slot lazily; a test's Clients may leave one
    empty), else a lazy client made through the AWS boundary, in ``region`` (default: the factory's)."""
    found = getattr(clients, slot)
    if found is None:
        found = session_clients(region or clients.region, {slot: service}, clients.budget or Budget())[slot]
        setattr(clients, slot, found)
    return found


def resolver(clients: Clients, vpc: str, res: Res) -> None:
    """Route 53 Resolver endpoints in the VPC and its associations with FORWARD rules (not the SYSTEM one)."""
    r53 = client(clients, "resolver", "route53resolver")
    for e in pages(r53, "list_resolver_endpoints", "ResolverEndpoints", Filters=[{"Name": "HostVPCId",
                                                                                   "Values": [vpc]}]):
        res("aws:route53/resolverEndpoint:ResolverEndpoint", e["Id"], {"direction": e.get("Direction")})
    forward = {r["Id"] for r in pages(r53, "list_resolver_rules", "ResolverRules",
                                      Filters=[{"Name": "TYPE", "Values": ["FORWARD"]}])}
    for a in pages(r53, "list_resolver_rule_associations", "ResolverRuleAssociations",
                   Filters=[{"Name": "VPCId", "Values": [vpc]}]):
        if a.get("ResolverRuleId") in forward and a.get("Status") != "FAILED":
            res("aws:route53/resolverRuleAssociation:ResolverRuleAssociation", a["Id"],
                {"resolverRuleId": a["ResolverRuleId"], "vpcId": vpc})


def sagemaker(clients: Clients, domain_name: str, res: Res) -> None:
    """The factory's Studio domain (by name) and the region's notebook instances."""
    sm = client(clients, "sagemaker", "sagemaker")
    for d in pages(sm, "list_domains", "Domains"):
        if d.get("DomainName") == domain_name:
            desc = sm.describe_domain(DomainId=need(d, "DomainId"))
            res("aws:sagemaker/domain:Domain", need(desc, "DomainId"), {
                "appNetworkAccessType": desc.get("AppNetworkAccessType"), "kmsKeyId": desc.get("KmsKeyId")})
    for n in pages(sm, "list_notebook_instances", "NotebookInstances"):
        desc = sm.describe_notebook_instance(NotebookInstanceName=need(n, "NotebookInstanceName"))
        res("aws:sagemaker/notebookInstance:NotebookInstance", need(desc, "NotebookInstanceName"), {
            "directInternetAccess": desc.get("DirectInternetAccess"), "kmsKeyId": desc.get("KmsKeyId")})
