"""EFA network-interface layout, derived from an instance type's data rather than hard-coded.

The number of network cards and EFA interfaces comes from EC2 (DescribeInstanceTypes, via
``aws.ec2.get_instance_type``) where the type is known to the API, and from the catalog for types it
does not know yet (Trn3, p6e-gb300). The rule that turns cards into interfaces is per family:

- ``recommended`` (AWS's guidance for multi-card EFA types): card 0 device 0 is the ENA primary
  (``interface``), card 0 device 1 ``efa-only``, every other card device 0 ``efa-only``.
- ``even-efa`` (the p6e-gb200 family, as AWS ParallelCluster configures it): even cards ``efa``
  (EFA with ENA), odd cards ``efa-only``.

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


def layout(rule: str, network_cards: int, efa_interfaces: int | None = None) -> tuple[Interface, ...]:
    """Interfaces for ``network_cards`` cards under ``rule``, using at most ``efa_interfaces`` EFAs."""
    if network_cards < 1:
        raise ValueError("an instance has at least one network card")
    budget = network_cards if efa_interfaces is None else efa_interfaces
    out: list[Interface] = []
    if rule == "even-efa":
        for card in range(min(network_cards, budget)):
            out.append(Interface(card, 0, "efa" if card % 2 == 0 else "efa-only"))
        return tuple(out) or (Interface(0, 0, "interface"),)
    if rule != "recommended":
        raise ValueError(f"unknown EFA layout rule {rule!r}")
    out.append(Interface(0, 0, "interface"))
    for card in range(network_cards):
        if budget <= 0:
            break
        out.append(Interface(card, 1 if card == 0 else 0, "efa-only"))
        budget -= 1
    return tuple(out)


def ips_per_instance(interfaces: tuple[Interface, ...]) -> int:
    return sum(1 for i in interfaces if i.takes_ip)
