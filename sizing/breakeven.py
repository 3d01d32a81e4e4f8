"""How good Trainium's serving must be to win, and how much the unpublished Trn3 power moves the answer.

Two engine-computed what-ifs the plan carries per platform:

- :func:`break_even`: for a Trainium platform, the factor on its achievable serving throughput
  (``engine.size(..., throughput_scale=...)``) at which its final-year cost per million tokens, and
  separately its facility MW, equals that of the best non-Trainium platform of the plan, both at
  the plan's provisioning percentile. Both quantities only fall as throughput rises (fewer
  replicas, fewer domains), so the factor is found by a bracketed search on that monotone quantity
  (:func:`crossing`): the smallest factor (to :data:`REL_TOL`) at which Trainium is no dearer.
- :func:`power_sensitivity`: the final-year facility MW and $ per million tokens with the domain
  IT power pinned at the low and then the high end of its catalog range in every sample, all else
  as the plan samples it (one at a time). Power enters only the budget stage, so the sized plan is
  re-budgeted, not re-sized.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from sizing.budget import Budget, budget
from sizing.catalog import Catalog
from sizing.engine import Sizing, one_platform, size
from sizing.plan import num

BREAK_EVEN_SAMPLES = 1000
FACTOR_RANGE = (0.05, 50.0)
REL_TOL = 0.01
METRICS = {"cost_factor": "usd_per_million_tokens", "power_factor": "facility_power_mw"}

Metrics = dict[str, dict[str, float]]  # platform id -> figure -> final-year provisioned value


def final_year(bud: Budget, sz: Sizing) -> Metrics:
    """Final-year provisioned $ per million tokens and facility MW per platform (NaN = unknown), with
    what explains the capacity: domains built, domains the final year alone needs, and the year
    whose requirement (training included) is the largest (capacity is cumulative)."""
    prov = bud.provisioned
    req = prov["accelerators_required"]  # (Y, P)
    need = np.ceil(req[-1] / sz.scenarios.domain_accelerators - 1e-9)
    return {pid: {**{fig: float(prov[fig][-1, j]) for fig in METRICS.values()},
                  "domains": float(prov["domains"][-1, j]), "final_year_need_domains": float(need[j]),
                  "peak_year": float(sz.forecast.years[int(np.argmax(req[:, j]))])}
            for j, pid in enumerate(sz.platform_ids)}


def best_other(metrics: Metrics, family_of: dict[str, str]) -> str | None:
    """The non-Trainium platform with the lowest $ per million tokens (unknown cost last), then MW."""
    others = [p for p in metrics if family_of[p] != "trainium"]

    def key(p: str) -> tuple[float, float]:
        m = metrics[p]
        cost, mw = m["usd_per_million_tokens"], m["facility_power_mw"]
        return (cost if math.isfinite(cost) else math.inf, mw if math.isfinite(mw) else math.inf)

    return min(others, key=key) if others else None


def crossing(value: Callable[[float], float], target: float) -> tuple[float | None, str]:
    """Smallest factor f in FACTOR_RANGE (to REL_TOL) with ``value(f) <= target``, for a ``value``
    that never rises with f. Returns (f, "met"), or (None, why): "unknown", "never_dearer" (already
    at the low end) or "always_dearer" (still at the high end)."""
    lo, hi = FACTOR_RANGE
    at_one = value(1.0)
    if not (math.isfinite(target) and math.isfinite(at_one)):
        return None, "unknown"
    if at_one <= target:
        hi = 1.0
        if value(lo) <= target:
            return None, "never_dearer"
    else:
        lo = 1.0
        if value(hi) > target:
            return None, "always_dearer"
    # regula falsi (Illinois) on x = 1/f, where the quantity is about linear: a part that scales
    # with serving throughput plus a part that does not. The end that keeps its place twice has its
    # weight halved, so the bracket shrinks from both sides, also across the steps whole domains make
    g_lo, g_hi = value(lo) - target, value(hi) - target
    last_hi: bool | None = None
    while hi / lo > 1.0 + REL_TOL:
        t = g_lo / (g_lo - g_hi)  # from lo (x = 1/lo) towards hi
        mid = 1.0 / (1.0 / lo + t * (1.0 / hi - 1.0 / lo))
        mid = min(max(mid, lo * (1.0 + REL_TOL / 2)), hi / (1.0 + REL_TOL / 2))
        g = value(mid) - target
        moved_hi = g <= 0
        if moved_hi:
            hi, g_hi = mid, g
            g_lo = g_lo / 2 if last_hi else g_lo
        else:
            lo, g_lo = mid, g
            g_hi = g_hi / 2 if last_hi is False else g_hi
        last_hi = moved_hi
    return hi, "met"


def break_even(sz: Sizing, catalog: Catalog, seed: int, base: Budget | None = None,
               software: dict[str, str] | None = None, targets: Metrics | None = None) -> dict[str, Any]:
    """``{trainium id: {"cost_factor", "power_factor", "against", "basis", "reason", "notes", "samples",
    "software"}}``; ``software`` is the Trainium stack the factors are for.

    Runs the engine at ``min(plan samples, BREAK_EVEN_SAMPLES)`` samples with the plan's seed and
    platform list (``base``, the plan's budget, stands for the factor-1 run when that is the plan's
    own run), so only the Trainium platform's throughput differs between runs. ``software`` (platform
    -> stack, over the plan's; then ``base`` must be None) searches only those Trainium platforms,
    each under the stack given: the break-even under the other stack (``sizing.plan.alternatives``).
    ``targets`` (:func:`plan_targets`, the plan's factor-1 figures) spares the factor-1 run of the
    other platforms: sizing and budget are independent per platform, so they do not depend on the
    Trainium stack.
    """
    fc, pids = sz.forecast, list(sz.platform_ids)
    family_of = {p: catalog.platforms[p].family for p in pids}
    trainium = [p for p in pids if family_of[p] == "trainium" and (software is None or p in software)]
    stack_of = {**dict(zip(pids, sz.software, strict=True)), **(software or {})}
    if not trainium:
        return {}
    samples = _samples(sz)
    cache: dict[tuple[str, float], Metrics] = {}

    def run(pid: str, factor: float) -> Metrics:
        if (pid, factor) not in cache:
            if factor == 1.0 and targets is None:
                cache[(pid, factor)] = plan_targets(sz, catalog, seed, base, stack_of)
            else:  # only pid's own figures are read (and the targets): size pid alone
                run_sz = size(fc, catalog, [pid], samples, seed, software={pid: stack_of[pid]},
                              throughput_scale={pid: factor})
                own = final_year(budget(run_sz, catalog), run_sz)
                cache[(pid, factor)] = {**targets, **own} if factor == 1.0 and targets is not None else own
        return cache[(pid, factor)]

    against = best_other(run(trainium[0], 1.0), family_of)
    basis = (f"final year {fc.years[-1]} at the P{fc.provision_percentile:g} provisioning; {samples} Monte Carlo "
             f"samples (seed {seed}); the factor multiplies the Trainium platform's achievable serving throughput "
             "(LLM and diffusion; training unchanged); the smallest factor at which it is no dearer, resolved to "
             f"{REL_TOL:.0%} and searched in {FACTOR_RANGE[0]:g}-{FACTOR_RANGE[1]:g}x")
    return {pid: {"against": against, "basis": basis, "samples": samples, "software": stack_of[pid],
                  **_factors(run, pid, against, catalog.platforms[pid].domain_name)}
            for pid in trainium}


def _samples(sz: Sizing) -> int:
    return min(int(sz.scenario_of_sample.size), BREAK_EVEN_SAMPLES)


def plan_targets(sz: Sizing, catalog: Catalog, seed: int, base: Budget | None = None,
                 stacks: dict[str, str] | None = None) -> Metrics:
    """Every platform's final-year figures at throughput factor 1 and the break-even's samples: the
    plan's own (``base``) when it has no more samples than that, else one run of all its platforms."""
    pids = list(sz.platform_ids)
    stack_of = stacks or dict(zip(pids, sz.software, strict=True))
    samples = _samples(sz)
    if base is not None and samples == int(sz.scenario_of_sample.size):
        return final_year(base, sz)
    run_sz = size(sz.forecast, catalog, pids, samples, seed, software={p: stack_of[p] for p in pids})
    return final_year(budget(run_sz, catalog), run_sz)


def _factors(run: Callable[[str, float], Metrics], pid: str, against: str | None, domain: str) -> dict[str, Any]:
    """The cost and power factors of one Trainium platform, a reason for each null one, and notes
    where the final year's capacity was built for an earlier, larger year."""
    out: dict[str, Any] = {}
    reasons, notes = [], []
    for key, fig in METRICS.items():
        if against is None:
            out[key] = None
            reasons.append(f"{key}: no non-Trainium platform in the plan")
            continue
        target = run(pid, 1.0)[against][fig]

        def value(f: float, fig: str = fig) -> float:
            return run(pid, f)[pid][fig]

        factor, why = crossing(value, target)
        out[key] = factor
        end = {"never_dearer": FACTOR_RANGE[0], "always_dearer": FACTOR_RANGE[1]}.get(why)
        if why == "unknown":
            reasons.append(f"{key}: unknown {fig} (no price or no figure) for {pid} or {against}")
        elif end is not None:
            side = "no dearer" if why == "never_dearer" else "still dearer"
            reasons.append(f"{key}: {side} than {against} at {end:g}x throughput ({fig} "
                           f"{value(end):.4g} against {target:.4g})")
        at = factor if factor is not None else end
        if at is not None:
            m = run(pid, at)[pid]
            if m["domains"] > m["final_year_need_domains"]:
                notes.append(f"{key}: at {at:.4g}x the final year has {m['domains']:.0f} {domain}s, built for "
                             f"{m['peak_year']:.0f} (the largest requirement, training included); the final "
                             f"year alone needs {m['final_year_need_domains']:.0f}")
    out["reason"] = "; ".join(reasons) or None
    out["notes"] = notes
    return out


def power_sensitivity(sz: Sizing, catalog: Catalog, bud: Budget) -> dict[str, Any]:
    """``{platform id: doc}``: final-year facility MW and $ per million tokens with the domain IT
    power pinned at the low and the high end of its catalog range (one at a time), beside the plan's."""
    fc = sz.forecast
    out: dict[str, Any] = {}
    for j, pid in enumerate(sz.platform_ids):
        fig = catalog.platforms[pid].figure("domain_it_power_kw")
        if fig is None:
            continue
        ends = {}
        alone = one_platform(sz, j)  # the power moves only this platform's budget
        for end, kw in (("low", fig.low), ("high", fig.high)):
            power = np.full_like(alone.scenarios.domain_power_w, kw * 1e3)
            pinned = budget(replace(alone, scenarios=replace(alone.scenarios, domain_power_w=power)), catalog)
            ends[end] = final_year(pinned, alone)[pid]
        plan_fig = final_year(bud, sz)[pid]
        out[pid] = {
            "figure": "domain_it_power_kw", "kind": fig.kind, "source": fig.source,
            "low_kw": fig.low, "high_kw": fig.high, "year": fc.years[-1],
            **{name: {"low": ends["low"][name], "high": ends["high"][name], "plan": plan_fig[name]}
               for name in METRICS.values()},
            "basis": (f"one at a time: the domain IT power pinned at each end of its range in every sample, "
                      f"everything else as the plan samples it; final year at the P{fc.provision_percentile:g} "
                      f"provisioned capacity, {sz.scenario_of_sample.size} samples"),
        }
    return out


def annotate(plan: dict[str, Any], sz: Sizing, catalog: Catalog, bud: Budget, seed: int) -> Metrics | None:
    """Add ``power_sensitivity`` to every platform and ``break_even`` to every Trainium platform;
    return the break-even's factor-1 figures (:func:`plan_targets`) for the other-stack break-evens,
    None when the plan has no Trainium platform."""
    for pid, doc in power_sensitivity(sz, catalog, bud).items():
        plan["platforms"][pid]["power_sensitivity"] = _numbers(doc)
    if not any(catalog.platforms[p].family == "trainium" for p in sz.platform_ids):
        return None
    targets = plan_targets(sz, catalog, seed, bud)
    for pid, doc in break_even(sz, catalog, seed, bud, targets=targets).items():
        plan["platforms"][pid]["break_even"] = _numbers(doc)
    return targets


def _numbers(doc: Any) -> Any:
    """Floats as the rest of the plan (:func:`sizing.plan.num`: 6 significant digits, NaN as None)."""
    if isinstance(doc, dict):
        return {k: _numbers(v) for k, v in doc.items()}
    if isinstance(doc, float | np.floating):
        return num(doc)
    return doc
