"""`aifactory verify-org`: the organisation's live SCPs and their attachments, judged by the org program's rules.

Reads (boto3, Organizations): every customer-managed SERVICE_CONTROL_POLICY (list_policies, describe_policy for
its content) and the targets it is attached to (list_targets_for_policy). With ``target`` (the factory's OU or
account id) only the SCPs that bind it are judged: those attached to it or to one of its parents up to the root
(list_parents). The reads become the Pulumi shapes the org program creates (aws:organizations/policy:Policy,
.../policyAttachment:PolicyAttachment), so the SAME rules judge them (infra/rules.py: scp-complete with
REQUIRED_DENIALS and the on-site CIDR exception, scp-without-holes, scp-attached): one rule, one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from infra.aws import need, pages
from infra.findings import BLOCKING, OK, Check, Finding, Result, run_checks
from infra.rules import SCP_ATTACHMENT, Context, Resource, check_all
from sizing.words import plural

SCP = "aws:organizations/policy:Policy"
MAX_DEPTH = 6  # Organizations nests OUs at most five deep under the root


def ancestors(org: Any, target: str) -> list[str]:
    """``target`` and each parent up to the root (an SCP on any of them binds the target)."""
    chain = [target]
    for _ in range(MAX_DEPTH):
        parents = need(org.list_parents(ChildId=chain[-1]), "Parents")
        if not parents:
            break
        chain.append(str(parents[0]["Id"]))
        if parents[0].get("Type") == "ROOT":
            break
    return chain


def read_scps(org: Any, target: str | None = None) -> list[Resource]:
    """The live customer-managed SCPs (those binding ``target`` when given) and their attachments."""
    binding = set(ancestors(org, target)) if target else None
    out: list[Resource] = []
    for summary in pages(org, "list_policies", "Policies", Filter="SERVICE_CONTROL_POLICY"):
        if summary.get("AwsManaged"):
            continue  # FullAWSAccess: AWS's allow-all, not a guardrail
        pid, name = str(summary["Id"]), str(summary.get("Name") or summary["Id"])
        targets = [str(t["TargetId"]) for t in pages(org, "list_targets_for_policy", "Targets", PolicyId=pid)]
        if binding is not None and not binding & set(targets):
            continue
        policy = need(org.describe_policy(PolicyId=pid), "Policy")
        out.append(Resource(SCP, name, {"name": name, "type": "SERVICE_CONTROL_POLICY",
                                        "content": need(policy, "Content")}, id=pid))
        out += [Resource(SCP_ATTACHMENT, f"{name}->{t}", {"policyId": pid, "targetId": t}, id=f"{pid}|{t}")
                for t in targets]
    return out


def verify_org(org: Any, on_site_cidrs: tuple[str, ...] = (), target: str | None = None,
               budget: Any = None) -> Result:
    """Findings: one per rule violation (blocking), or one OK naming how many SCPs passed; unreadable: says so."""
    def run() -> Iterator[Finding]:
        resources = read_scps(org, target)
        scps = [r for r in resources if r.type == SCP]
        where = f"binding {target}" if target else "in the organisation"
        if not scps:
            yield Finding("scps", BLOCKING, f"no customer-managed SCP {where}",
                          "deploy the org program (org/) and attach its SCPs to the factory's OU or account")
            return
        report = check_all(resources, Context(on_site_cidrs=on_site_cidrs))
        for v in report.violations:
            yield Finding(f"sovereignty:{v.rule}", BLOCKING, v.message)
        if report.ok:
            attached = len(resources) - len(scps)
            yield Finding("scps", OK, f"{plural(len(scps), 'SCP')} {where} ({plural(attached, 'attachment')}) "
                          "pass the org program's rules")

    return run_checks([Check("scps", run, "allow organizations:ListPolicies, DescribePolicy, "
                             "ListTargetsForPolicy and ListParents (the management or delegated admin account)")],
                      budget)
