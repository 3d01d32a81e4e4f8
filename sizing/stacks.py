"""Serving stacks as the plan labels them: what each rests on (measured or an assumption), and which
other stacks of its family a platform could be served with.

The plan carries a label for the stack every platform was sized with (``platforms.<id>.stack``) and,
for each Trainium platform, the same figures under the other Trainium stack(s)
(``platforms.<id>.alternatives.<stack>``, made by ``sizing.plan``), because on Trainium the serving
software is the largest open question: ``neuron-oss`` is fitted on public measurements,
``neuron-aws`` is an assumption (NVIDIA-parity efficiency) resting on vendor claims.
"""

from __future__ import annotations

import functools
from typing import Any

from sizing.calibration import DEFAULT_DIR, load_rows
from sizing.catalog import Catalog

COMPARED_FAMILIES = ("trainium",)  # families whose platforms are also sized under their other stacks


@functools.cache
def _row_stacks() -> tuple[tuple[str, str, str], ...]:
    """(row id, platform, stack named in its notes or "") of every inference row in calibration/."""
    if not (DEFAULT_DIR / "inference.csv").is_file():
        return ()
    seen: dict[str, tuple[str, str, str]] = {}
    for r in load_rows(DEFAULT_DIR):
        if r.kind == "inference":
            rid = r.id.split(".")[0]
            seen.setdefault(rid, (rid, r.platform, r.stack))
    return tuple(seen.values())


def rows_of_stack(catalog: Catalog, stack: str) -> list[str]:
    """Ids of the calibration rows measured on ``stack`` (a row's own ``stack:`` note, else its
    platform family's default stack); empty where calibration/ is not at hand."""
    family = catalog.efficiency[stack].family
    out = []
    for rid, pid, row_stack in _row_stacks():
        plat = catalog.platforms.get(pid)
        if plat is not None and plat.family == family and (row_stack or catalog.default_stack(family)) == stack:
            out.append(rid)
    return out


def stack_label(catalog: Catalog, stack: str) -> dict[str, Any]:
    """What a serving stack rests on: ``basis`` "measured" (fitted on ``calibration_rows``) or
    "assumption" (no public measurement; ``claims`` cites what it rests on), and its description."""
    eff = catalog.efficiency[stack]
    return {"software": stack, "family": eff.family, "basis": eff.basis, "description": eff.software,
            "claims": eff.claims or None, "relative_to": eff.relative_to or None,
            "calibration_rows": rows_of_stack(catalog, stack) if eff.fitted else []}


def other_stacks(catalog: Catalog, pid: str, sized_with: str) -> list[str]:
    """The stacks of ``pid``'s family other than the one it was sized with, for the families compared
    under every stack (:data:`COMPARED_FAMILIES`); none for other families."""
    family = catalog.platforms[pid].family
    if family not in COMPARED_FAMILIES:
        return []
    return [s for s in catalog.stacks_of(family) if s != sized_with]
