"""Findings of the boto3 checks (preflight, verify): one check per class, a severity, a message, a fix.

Modelled on AWS ParallelCluster's validators. A check that cannot run (no credentials, an API the
account cannot call, an unreadable answer, a dead endpoint, the run's time budget spent) says so as a
finding "could not check: why" with a fix instead of raising (infra/aws.py explains the failure): a user
never sees a traceback, and no finding is drawn from an answer that could not be read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from infra.aws import BUDGET_S, GA_REGION, Budget, explain, session_clients
from sizing.words import plural

BLOCKING, WARNING, OK = "blocking", "warning", "ok"


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str
    message: str
    fix: str = ""


@dataclass
class Clients:
    """boto3 clients for one region; tests swap in moto-backed or Stubber-backed ones per slot."""

    region: str
    ec2: Any = None
    ec2_capacity: Any = None  # capacity reservations and Capacity Block offerings (moto lacks them)
    ec2_interfaces: Any = None  # network-interface types (moto does not keep them)
    sts: Any = None
    quotas: Any = None
    bedrock: Any = None
    kms: Any = None
    s3: Any = None
    cloudtrail: Any = None
    ec2_client_vpn: Any = None  # Client VPN endpoints (moto's server lacks them: tests stub this slot)
    resolver: Any = None  # Route 53 Resolver
    sagemaker: Any = None
    ec2_local_gateway: Any = None  # local-gateway route tables and routes (moto lacks them: tests stub this slot)
    directconnect: Any = None
    lattice: Any = None  # VPC Lattice
    elbv2: Any = None  # load balancers (what a Global Accelerator endpoint may name)
    globalaccelerator: Any = None  # Global Accelerator: its API is served from us-west-2 only (verify_links.GA_REGION)

    budget: Budget | None = None

    @staticmethod
    def for_region(region: str, *, budget_s: float = BUDGET_S, connect_timeout_s: float | None = None,
                   read_timeout_s: float | None = None) -> Clients:
        """Lazy clients from the default credential chain (honours AWS_ENDPOINT_URL and AWS_PROFILE).

        Nothing is created here: a bad region, profile or endpoint fails inside the first check that calls.
        """
        budget = Budget(budget_s)
        timeouts = {k: v for k, v in (("connect_timeout_s", connect_timeout_s), ("read_timeout_s", read_timeout_s))
                    if v is not None}
        made = session_clients(region, {"ec2": "ec2", "sts": "sts", "quotas": "service-quotas",
                                        "bedrock": "bedrock", "kms": "kms", "s3": "s3", "cloudtrail": "cloudtrail",
                                        "resolver": "route53resolver", "sagemaker": "sagemaker",
                                        "directconnect": "directconnect", "lattice": "vpc-lattice",
                                        "elbv2": "elbv2"},
                               budget, **timeouts)
        made.update(session_clients(GA_REGION, {"globalaccelerator": "globalaccelerator"}, budget, **timeouts))
        return Clients(region=region, ec2_capacity=made["ec2"], ec2_interfaces=made["ec2"],
                       ec2_client_vpn=made["ec2"], ec2_local_gateway=made["ec2"], budget=budget, **made)


@dataclass
class Check:
    """One check: ``run`` returns its findings; failures to call AWS become a finding."""

    name: str
    fn: Callable[[], Iterable[Finding]]
    fix_on_error: str = "check credentials (aws sts get-caller-identity) and the IAM permissions for this call"

    def run(self, budget: Budget | None = None) -> list[Finding]:
        if budget is not None and budget.spent:
            return [Finding(self.name, BLOCKING, f"not checked: the run's time budget of {budget.seconds:g} s "
                            "for AWS calls is spent", "rerun when the slow service answers, or give the run "
                            "more time (--time-budget)")]
        try:
            return list(self.fn())
        except Exception as exc:  # the AWS boundary: any failure is a finding, never a traceback
            why, fix = explain(exc)
            return [Finding(self.name, BLOCKING, f"could not check: {why}", fix or self.fix_on_error)]


@dataclass
class Result:
    findings: list[Finding] = field(default_factory=list)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == BLOCKING]

    def to_json(self) -> str:
        return json.dumps({"blocking": len(self.blocking), "findings": [asdict(f) for f in self.findings]},
                          indent=2) + "\n"

    def render(self, title: str) -> str:
        lines = [title, ""]
        mark = {BLOCKING: "BLOCKING", WARNING: "warning ", OK: "ok      "}
        for f in self.findings:
            lines.append(f"{mark.get(f.severity, f.severity)}  {f.check}: {f.message}")
            if f.fix and f.severity != OK:
                lines.append(f"          fix: {f.fix}")
        lines += ["", f"{len(self.blocking)} blocking, "
                      f"{plural(sum(f.severity == WARNING for f in self.findings), 'warning')}, "
                      f"{sum(f.severity == OK for f in self.findings)} ok"]
        return "\n".join(lines) + "\n"


def run_checks(checks: Iterable[Check], budget: Budget | None = None) -> Result:
    """Run each check in turn; once ``budget`` is spent the remaining ones say they were not checked."""
    return Result([f for c in checks for f in c.run(budget)])
