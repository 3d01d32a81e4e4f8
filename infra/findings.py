"""Findings of the boto3 checks (preflight, verify): one check per class, a severity, a message, a fix.

Modelled on AWS ParallelCluster's validators. A check that cannot run (no credentials, an API the
account cannot call) says so as a finding instead of raising: a user never sees a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

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

    @staticmethod
    def for_region(region: str) -> Clients:
        """Clients from the default credential chain (honours AWS_ENDPOINT_URL and AWS_PROFILE)."""
        session = boto3.Session(region_name=region)
        ec2 = session.client("ec2")
        return Clients(region=region, ec2=ec2, ec2_capacity=ec2, ec2_interfaces=ec2, sts=session.client("sts"),
                       quotas=session.client("service-quotas"), bedrock=session.client("bedrock"),
                       kms=session.client("kms"), s3=session.client("s3"), cloudtrail=session.client("cloudtrail"))


@dataclass
class Check:
    """One check: ``run`` returns its findings; failures to call AWS become a finding."""

    name: str
    fn: Callable[[], Iterable[Finding]]
    fix_on_error: str = "check credentials (aws sts get-caller-identity) and the IAM permissions for this call"

    def run(self) -> list[Finding]:
        try:
            return list(self.fn())
        except ClientError as exc:
            err = exc.response.get("Error", {})
            return [Finding(self.name, BLOCKING, f"could not check: {err.get('Code')}: {err.get('Message')}",
                            self.fix_on_error)]
        except BotoCoreError as exc:
            return [Finding(self.name, BLOCKING, f"could not check: {exc}", self.fix_on_error)]


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
                      f"{sum(f.severity == WARNING for f in self.findings)} warnings, "
                      f"{sum(f.severity == OK for f in self.findings)} ok"]
        return "\n".join(lines) + "\n"


def run_checks(checks: Iterable[Check]) -> Result:
    return Result([f for c in checks for f in c.run()])
