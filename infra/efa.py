"""EFA network-interface layout of an instance type: one layout for the launch template AND subnet sizing.

The network cards, and which of them carry EFA, are EC2's data (DescribeInstanceTypes:
``NetworkInfo.MaximumNetworkCards``, ``EfaInfo.MaximumEfaInterfaces``), recorded in :data:`EC2_NETWORK`
for the types this project builds (tests/test_deploy_rules.py checks the table against the
DescribeInstanceTypes snapshot moto ships; preflight checks it against the live API). Types EC2 does
not list yet (Trn3, p6e-gb300) use the catalog's figures, labelled assumptions there. The rule that
turns cards into interfaces:
- ``recommended`` (EC2 User Guide, "Maximize network bandwidth ... with multiple network cards"): card 0
  device 0 is the ENA primary (``interface``); card 0 device 1 ``efa-only`` when card 0 carries EFA;
  every other EFA card device 0 ``efa-only``. p6-b300: card 0 is ENA-only (17 cards, 16 EFA).
- ``even-efa`` (p6e-gb200 family, as AWS ParallelCluster configures it): even cards ``efa`` (EFA with
  ENA, one IP each), odd cards ``efa-only``. p6e-gb200.36xlarge has 17 cards: 9 IPs per instance.
``efa-only`` interfaces take no IP address, which is what subnet sizing counts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Interface:
    network_card_index: int
    device_index: int
    interface_type: str  # "interface" (ENA), "efa" (EFA with ENA) or "efa-only"

    @property
    def takes_ip(self) -> bool:
        return self.interface_type != "efa-only"


@dataclass(frozen=True)
class NetworkFacts:
    """EC2's network data for one instance type (or the catalog's, for a placeholder)."""

    network_cards: int
    efa_cards: tuple[int, ...]  # card indices that carry EFA
    rule: str
    source: str


def _facts(cards: int, efa: int, rule: str, source: str) -> NetworkFacts:
    # EC2 lists fewer EFA interfaces than cards when card 0 is ENA-only: the EFA cards are the last ones
    return NetworkFacts(cards, tuple(range(cards - efa, cards)), rule, source)


SNAPSHOT = "EC2 DescribeInstanceTypes (moto 5.2.5 snapshot)"
EC2_NETWORK: dict[str, NetworkFacts] = {
    "trn2.48xlarge": _facts(16, 16, "recommended", SNAPSHOT),
    "trn2u.48xlarge": _facts(16, 16, "recommended", SNAPSHOT),
    "p5.48xlarge": _facts(32, 32, "recommended", SNAPSHOT),
    "p5en.48xlarge": _facts(16, 16, "recommended", SNAPSHOT),
    "p6-b200.48xlarge": _facts(8, 8, "recommended", SNAPSHOT),
    "p6-b300.48xlarge": _facts(17, 16, "recommended", SNAPSHOT + ": card 0 ENA-only"),
    "p6e-gb200.36xlarge": _facts(17, 17, "even-efa", "EC2 DescribeInstanceTypes: 17 network cards; AWS "
                                 "ParallelCluster PR 6930 (even cards efa, odd efa-only)"),
}


def facts_for(instance_type: str, catalog_cards: int, catalog_rule: str) -> NetworkFacts:
    """EC2's data when the table has the type, else the catalog's (placeholder types)."""
    known = EC2_NETWORK.get(instance_type)
    if known is not None:
        return known
    return _facts(catalog_cards, catalog_cards, catalog_rule, "catalog (assumption until EC2 lists the type)")


def layout(facts: NetworkFacts) -> tuple[Interface, ...]:
    """The launch template's interfaces for ``facts``."""
    if facts.network_cards < 1:
        raise ValueError("an instance has at least one network card")
    if facts.rule == "even-efa":
        return tuple(Interface(card, 0, "efa" if card % 2 == 0 else "efa-only")
                     for card in range(facts.network_cards))
    if facts.rule != "recommended":
        raise ValueError(f"unknown EFA layout rule {facts.rule!r}")
    out = [Interface(0, 0, "interface")]
    for card in facts.efa_cards:
        out.append(Interface(card, 1 if card == 0 else 0, "efa-only"))
    return tuple(out)


def ips_per_instance(interfaces: tuple[Interface, ...]) -> int:
    return sum(1 for i in interfaces if i.takes_ip)
