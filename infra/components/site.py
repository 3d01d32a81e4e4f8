"""Where the factory stands: a region's AZs, a Local Zone (opted in), or a customer site.

A customer site is an AWS AI Factory or Outpost, given by its ARN and its anchor zone. The site's
output is the list of zones that subnets, capacity and endpoints use, plus the facility budget the
customer must provide: MW, racks or UltraServers, liquid cooling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.base import child
from infra.settings import SiteSettings


@dataclass
class SiteArgs:
    site: SiteSettings
    zone_count: int
    facility: dict[str, Any]


class Site(pulumi.ComponentResource):
    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aifactory:site:Site", name, None, opts)
        s = args.site
        self.outpost_arn: str | None = s.outpost_arn
        if s.kind == "dedicated-local-zone" and s.zone_group:
            aws.ec2.AvailabilityZoneGroup(f"{name}-opt-in", group_name=s.zone_group or "", opt_in_status="opted-in",
                                          opts=child(self))
        if s.zones:
            self.pod_zones: pulumi.Output[list[str]] = pulumi.Output.from_input(list(s.zones))
        else:
            azs = aws.get_availability_zones_output(state="available",
                                                    filters=[{"name": "opt-in-status",
                                                              "values": ["opt-in-not-required"]}],
                                                    opts=pulumi.InvokeOptions(parent=self))
            self.pod_zones = azs.names.apply(lambda names: list(names)[: args.zone_count])
        # endpoints and control-plane services: the parent Region's AZs for a Dedicated Local Zone, the
        # anchor AZ for an Outpost (endpoints cannot live on it), else the pods' zones
        self.service_zones: pulumi.Output[list[str]] = (
            pulumi.Output.from_input(list(s.service_zones)) if s.service_zones else self.pod_zones)
        self.facility = args.facility
        self.register_outputs({"pod_zones": self.pod_zones, "service_zones": self.service_zones,
                               "facility": args.facility})
