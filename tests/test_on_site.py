"""The stack setting sovereign-ai-factory:onSiteCidrs: the customer's own networks an Outpost / AI Factory site's local
gateway may reach. Validated with clear errors; wired into the rules' Context (plan, verify) and into the network's
local-gateway routes; a route to a declared network passes, 0.0.0.0/0 or an undeclared one fails."""

from __future__ import annotations

from dataclasses import replace

import pytest

from infra.offline import run_offline
from infra.rules import Resource, check_all
from infra.settings import PROJECT, parse_settings
from sizing.errors import InputError
from tests.conftest import EXAMPLE

ARN = "arn:aws:outposts:eu-central-1:111122223333:outpost/op-0123456789abcdef0"
OUTPOST = {"kind": "outpost", "zones": ["eu-central-1a"], "outpostArn": ARN,
           "localGatewayRouteTableId": "lgw-rtb-0123456789abcdef0"}
KEY = f"{PROJECT}:onSiteCidrs"


def settings(site=None, **over):
    values = {f"{PROJECT}:forecast": str(EXAMPLE), "aws:region": "eu-central-1", f"{PROJECT}:samples": 300,
              f"{PROJECT}:site": site or OUTPOST, **{f"{PROJECT}:{k}": v for k, v in over.items()}}
    return parse_settings(values, "Pulumi.site.yaml")


def test_declared_networks_reach_the_rules_context():
    s = settings(onSiteCidrs=["192.168.0.0/16", "172.20.0.0/16"])
    assert s.on_site_cidrs == ("192.168.0.0/16", "172.20.0.0/16")
    assert s.rules_context().on_site_cidrs == s.on_site_cidrs and s.rules_context().allowed_regions == s.regions
    ai = settings(site={"kind": "ai-factory", "zones": ["eu-central-1a"]}, onSiteCidrs="10.200.0.0/16")
    assert ai.on_site_cidrs == ("10.200.0.0/16",)
    assert settings().on_site_cidrs == ()


@pytest.mark.parametrize("value, index, needle", [
    (["0.0.0.0/0"], 0, "never a default route"),
    (["192.168.1.0/33"], 0, "is not an IPv4 CIDR block"),
    (["192.168.1.1/24"], 0, "is not an IPv4 CIDR block"),  # host bits set: say the network, not an address
    (["fd00::/8"], 0, "an IPv4 block"),
    (["8.8.8.0/24"], 0, "is not a private block"),
    (["192.168.0.0/16", "10.70.0.0/16"], 1, "overlaps the factory VPC 10.64.0.0/12"),
    (["192.168.0.0/16", "192.168.4.0/24"], 1, "overlaps 192.168.0.0/16"),
])
def test_bad_on_site_networks_are_refused_naming_the_file_and_field(value, index, needle):
    with pytest.raises(InputError) as info:
        settings(onSiteCidrs=value)
    assert info.value.source == "Pulumi.site.yaml" and info.value.path == f"{KEY}[{index}]"
    assert needle in info.value.message


def test_on_site_networks_need_a_site_with_a_local_gateway_and_a_list():
    with pytest.raises(InputError) as info:
        settings(site={"kind": "region"}, onSiteCidrs=["192.168.0.0/16"])
    assert info.value.path == KEY and "ai-factory or outpost" in info.value.message
    with pytest.raises(InputError) as info:
        settings(onSiteCidrs={"lan": "192.168.0.0/16"})
    assert info.value.path == KEY and "list of text values" in info.value.message


@pytest.fixture(scope="module")
def outpost():
    return run_offline(replace(settings(platform="b200_hgx", buildYear=2027, capacityType="reservation",
                                        onSiteCidrs=["192.168.0.0/16"]), samples=300))


def _routes(m):
    return [r for r in m.rule_resources() if r.type == "aws:ec2/route:Route" and r.props.get("localGatewayId")]


def test_the_network_routes_declared_networks_to_the_local_gateway_and_the_rules_pass(outpost):
    (route,) = _routes(outpost)
    assert route.props["destinationCidrBlock"] == "192.168.0.0/16"
    assert str(route.props["localGatewayId"]).startswith("lgw-")
    assert outpost.check().ok, [str(v) for v in outpost.check().violations]


@pytest.mark.parametrize("dest", ["0.0.0.0/0", "172.16.0.0/16", "192.0.0.0/8"])
def test_a_local_gateway_route_beyond_the_declared_networks_fails(outpost, dest):
    (route,) = _routes(outpost)
    others = [r for r in outpost.rule_resources() if r.name != route.name]
    bad = Resource(route.type, route.name, {**route.props, "destinationCidrBlock": dest}, route.id,
                   route.provider_region)
    rules = {v.rule for v in check_all([*others, bad], outpost.settings.rules_context()).violations}
    assert "no-internet-path" in rules


def test_without_declared_networks_the_same_route_is_an_egress_path(outpost):
    undeclared = replace(outpost.settings, on_site_cidrs=())
    assert not check_all(outpost.rule_resources(), outpost.settings.rules_context()).violations
    assert {v.rule for v in check_all(outpost.rule_resources(), undeclared.rules_context()).violations} \
        == {"no-internet-path"}
