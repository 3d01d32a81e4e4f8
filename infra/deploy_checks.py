"""What `pulumi up` refuses before creating anything, each with the stack key (or forecast field) to change.

The offline plan still previews such a stack and lists these refusals ("pulumi up would refuse"), so a
platform engineer sees them before any account is touched. The limits are EC2's and SageMaker's
(docs/sources/aws-iac-notes.md, "Deploy-time facts"; SageMaker instance types from botocore's model).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.api_rules import enum
from infra.blueprint import CAPACITY_BLOCK_ACCOUNT_MAX, CAPACITY_BLOCK_MAX_INSTANCES, Blueprint
from infra.components.services import sagemaker_instance_type
from infra.settings import PROJECT, StackSettings
from sizing.words import plural

CONTEXT_VARIANT = re.compile(r".+:\d+k")  # provisioned-throughput model ids carry a context length, e.g. ...:128k


@dataclass(frozen=True)
class Refusal:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def is_ultraserver(bp: Blueprint) -> bool:
    """Several instances form one scale-up domain (UltraServer / NVL72 rack): EC2 sells those as UltraServer
    Capacity Blocks, not On-Demand Capacity Reservations."""
    return bp.platform.instances_per_domain > 1


def refusals(settings: StackSettings, bp: Blueprint) -> list[Refusal]:
    out = []
    if not bp.instance_type_confirmed:
        out.append(Refusal(f"{PROJECT}:instanceType", f"{bp.instance_type} is a placeholder in the catalog (no EC2 "
                           "listing yet): set instanceType to the type EC2 lists for this platform"))
    out += _capacity(settings, bp)
    out += _services(settings, bp)
    return out


def _capacity(settings: StackSettings, bp: Blueprint) -> list[Refusal]:
    key = f"{PROJECT}:capacityReservationIds"
    kind = bp.capacity_type
    out = []
    if kind in ("existing", "capacity-block") and len(settings.capacity_reservation_ids) != len(bp.pod_groups):
        sizes = ", ".join(f"{g.name}: {g.instances} x {bp.instance_type} "
                          f"({plural(g.domains, bp.platform.domain_name)}) "
                          f"in pod zone {g.zone_index}" for g in bp.pod_groups)
        out.append(Refusal(key, f"capacityType {kind} consumes one reservation id per pod group: "
                           f"{len(settings.capacity_reservation_ids)} given, "
                           f"{plural(len(bp.pod_groups), 'group')} ({sizes})"))
    if kind == "capacity-block":
        big = [g.name for g in bp.pod_groups if g.instances > CAPACITY_BLOCK_MAX_INSTANCES]
        if big:
            out.append(Refusal(f"{PROJECT}:domainsPerGroup", f"a Capacity Block holds at most "
                               f"{CAPACITY_BLOCK_MAX_INSTANCES} instances; {', '.join(big)} need more"))
        if bp.instances_built > CAPACITY_BLOCK_ACCOUNT_MAX:
            out.append(Refusal(f"{PROJECT}:capacityType", f"an account holds at most {CAPACITY_BLOCK_ACCOUNT_MAX} "
                               f"Capacity Block instances; the plan builds {bp.instances_built:,}: use existing "
                               "(contracted reservations) or several accounts"))
    if kind in ("reservation", "on-demand") and is_ultraserver(bp):
        what = "On-Demand Capacity Reservations" if kind == "reservation" else "On-Demand instances"
        out.append(Refusal(f"{PROJECT}:capacityType", f"{bp.platform.domain_name} capacity ({bp.instance_type}) is "
                           f"sold as UltraServer Capacity Blocks or contracted capacity, not {what}: use "
                           "capacity-block or existing"))
    return out


def _services(settings: StackSettings, bp: Blueprint) -> list[Refusal]:
    out = []
    if bp.sagemaker:
        itype = sagemaker_instance_type(bp.instance_type)
        if itype not in enum("sagemaker", "ProductionVariantInstanceType"):
            out.append(Refusal(f"{PROJECT}:instanceType", f"SageMaker does not offer {itype} (botocore's "
                               "ProductionVariantInstanceType): serve these workloads on a listed type"))
        if not settings.serving_image:
            out.append(Refusal(f"{PROJECT}:servingImage", "SageMaker models need an image in the factory's ECR "
                               "repository: run `pulumi up` once, push the image, set servingImage to its tag or "
                               "sha256 digest"))
    for b in bp.bedrock:
        if not CONTEXT_VARIANT.fullmatch(b.model_id):
            out.append(Refusal(f"forecast workloads.{b.workload}.serving.model_id",
                               f"{b.model_id!r} is an on-demand model id; provisioned throughput needs the "
                               "context-length variant (e.g. ...:128k) listed by ListFoundationModels "
                               "(byInferenceType=PROVISIONED) in the region"))
    return out
