"""The report's Trainium serving-stack sections: each Trainium platform under both stacks side by
side, the headline's range when the choice depends on the stack, and the break-even naming its stack.

Every figure is the plan's (``platforms.<id>.alternatives.<stack>``, ``recommendation.by_stack``,
``...break_even``), printed through ``Facts`` with its key; a stack is always shown with its basis
(measured, or an assumption resting on cited claims).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sizing.words import noun_of

if TYPE_CHECKING:
    from aifactory.report import Facts


def _docs(plan: dict[str, Any]) -> list[tuple[str, dict[str, Any], tuple[str, ...], dict[str, Any]]]:
    """(platform id, stack label, plan path of the figures, figures doc): each platform as sized, then
    each Trainium platform under its other stack(s)."""
    out: list[tuple[str, dict[str, Any], tuple[str, ...], dict[str, Any]]] = []
    for pid, p in plan["platforms"].items():
        if "stack" in p:
            out.append((pid, p["stack"], ("platforms", pid), p))
        for stack, alt in (p.get("alternatives") or {}).items():
            out.append((pid, alt, ("platforms", pid, "alternatives", stack), alt))
    return out


def stack_table(plan: dict[str, Any], F: Facts) -> list[dict[str, Any]]:
    """Rows of the side-by-side table; empty unless a Trainium platform carries alternatives."""
    if not any(p.get("alternatives") for p in plan["platforms"].values()):
        return []
    final = str(plan["forecast"]["years"][-1])
    rows = []
    for pid, label, at, doc in _docs(plan):
        y, be = doc["years"][final], doc.get("break_even") or {}

        def fig(*parts: str, kind: str = "int", at: tuple[str, ...] = at, src: dict[str, Any] = doc) -> Any:
            value: Any = src
            for part in parts:
                value = value[part]
            return F.plan(*at, *parts, kind=kind) if value is not None else "n/a"

        rows.append({
            "id": f"stacks-{pid}-{label['software']}", "name": plan["platforms"][pid]["name"],
            "stack": label["software"], "basis": label["basis"],
            "unit": noun_of(y["domains"]["provisioned"], plan["platforms"][pid]["domain_name"]),
            "domains": fig("years", final, "domains", "provisioned"),
            "accelerators": fig("years", final, "accelerators", "provisioned"),
            "mw": fig("years", final, "facility_power_mw", "provisioned", kind="mw"),
            "per_mtok": fig("years", final, "usd_per_million_tokens", "provisioned", kind="usd"),
            "capex": fig("horizon", "capex_usd", "provisioned", kind="money"),
            "tco": fig("horizon", "tco_usd", "provisioned", kind="money"),
            **{k: (F.plan(*at, "break_even", k, kind="factor") if be.get(k) is not None else
                   ("none" if be else "-")) for k in ("cost_factor", "power_factor")}})
    return rows


def stack_range(plan: dict[str, Any], F: Facts) -> dict[str, Any] | None:
    """The choice under each Trainium stack (``recommendation.by_stack``), measured stacks first, with
    the figures of the platform chosen; ``depends`` when the choices differ (the headline is a range)."""
    rec = plan.get("recommendation") or {}
    by = rec.get("by_stack")
    if not by:
        return None
    choices = []
    for stack in sorted(by, key=lambda s: by[s]["basis"] != "measured"):
        c, at = by[stack], ("recommendation", "by_stack", stack)
        p = plan["platforms"][c["platform"]]
        choices.append({
            "stack": stack, "basis": c["basis"], "name": p["name"], "unit": noun_of(c["domains"], p["domain_name"]),
            "domains": F.plan(*at, "domains"), "accelerators": F.plan(*at, "accelerators"),
            "mw": F.plan(*at, "facility_power_mw", kind="mw"),
            "tco": F.plan(*at, "tco_usd", kind="money") if c["tco_usd"] is not None else None,
            "per_mtok": F.plan(*at, "usd_per_million_tokens", kind="usd")
            if c["usd_per_million_tokens"] is not None else None})
    claims = {lab["software"]: lab["claims"] for _pid, lab, _at, _doc in _docs(plan)
              if lab["basis"] == "assumption" and lab.get("claims")}
    return {"depends": bool(rec.get("depends_on_stack")), "choices": choices, "note": rec.get("stack_note") or "",
            "claims": [{"stack": k, "text": v} for k, v in claims.items()]}


def break_even(plan: dict[str, Any], F: Facts) -> list[dict[str, Any]]:
    """Per Trainium platform and stack, the engine's ``break_even``: the factor on its serving throughput
    under that stack from which it costs no more per million tokens (``cost_factor``) and draws no more
    facility power (``power_factor``) than ``against``. A null factor comes with the engine's reason."""
    out = []
    for pid, label, at, doc in _docs(plan):
        be = doc.get("break_even")
        if not isinstance(be, dict):
            continue
        against = be.get("against")
        factor = {k: F.plan(*at, "break_even", k, kind="factor") if be.get(k) is not None else None
                  for k in ("cost_factor", "power_factor")}
        out.append({"pid": pid, "id": f"{pid}-{label['software']}" if at[-1] != pid else pid,
                    "name": plan["platforms"][pid]["name"], "stack": be.get("software") or label["software"],
                    "basis_label": label["basis"],
                    "against": plan["platforms"][against]["name"] if against in plan["platforms"] else against,
                    "basis": be.get("basis") or "", "reason": be.get("reason") or "",
                    "notes": list(be.get("notes") or []), **factor})
    return out
