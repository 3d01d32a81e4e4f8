"""The workload forecast: a YAML file, validated field by field into typed records.

Every mistake raises :class:`~sizing.errors.InputError` naming the file, the field path (such as
``workloads[3].demand.per_year.2029``) and what is allowed. docs/FORECAST.md documents the format;
examples/national.yaml is a complete example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sizing.catalog import PRECISIONS, load_catalog
from sizing.models import ModelSpec, parse_models_mapping, resolve
from sizing.residency import is_cross_region_model_id
from sizing.schema import Node, check_number, load_yaml

KINDS = ("llm_inference", "diffusion_inference", "training")
PLACEMENTS = ("cloud", "hybrid", "edge")
Z90 = 1.2815515655446004  # standard normal quantile at 0.90
DEMAND_UNITS = {
    "llm_inference": ("requests_per_s", "output_tokens_per_s"),
    "diffusion_inference": ("items_per_s",),
}


@lru_cache(maxsize=1)
def applications() -> dict[str, dict[str, Any]]:
    """The enterprise applications with their default placement and mean-to-peak ratio."""
    text = resources.files("sizing").joinpath("data/applications.yaml").read_text(encoding="utf-8")
    data: dict[str, dict[str, Any]] = yaml.safe_load(text)
    return data


@dataclass(frozen=True)
class Uncertainty:
    """Lognormal demand uncertainty: the point forecast times ``median_factor x exp(sigma_y x z)``,
    with ``sigma_y = sigma + sigma_per_year x years ahead`` (forecasts get less sure with time)."""

    sigma: float
    sigma_per_year: float = 0.0
    median_factor: float = 1.0


@dataclass(frozen=True)
class Demand:
    unit: str
    per_year: dict[int, float]  # peak demand for every horizon year (0 before it starts)
    uncertainty: Uncertainty


@dataclass(frozen=True)
class Workload:
    name: str
    path: str  # field path in the forecast, for messages
    kind: str
    application: str
    placement: str
    mean_to_peak: float


SERVING_TARGETS = ("factory", "bedrock", "sagemaker")
BEDROCK_COMMITMENTS = ("OneMonth", "SixMonths")


@dataclass(frozen=True)
class Serving:
    """Where a workload is served: the factory's own pods, Bedrock provisioned throughput, or
    SageMaker endpoints (both run on the AI Factory's hardware, managed by AWS)."""

    target: str = "factory"
    model_id: str | None = None  # Bedrock foundation-model id (in-region, never a cross-region profile)
    model_units: int | None = None  # Bedrock provisioned model units
    commitment: str | None = None  # Bedrock commitment term


@dataclass(frozen=True)
class LlmWorkload(Workload):
    model: ModelSpec
    precision: str
    demand: Demand
    input_tokens: float
    output_tokens: float
    ttft_ms: float | None
    tpot_ms: float | None
    disaggregated: bool | str  # False, True or "auto" (the default: the engine chooses per platform)
    serving: Serving = field(default_factory=Serving)
    quantization: str = "auto"  # auto: a BF16 checkpoint may be served in FP8; none: as the checkpoint
    prefix_hit: float = 0.0  # share of prompt tokens served from the prefix cache
    speculative: tuple[str, int, float, float] | None = None  # (method, tokens, acceptance, draft_params_b)


@dataclass(frozen=True)
class DiffusionWorkload(Workload):
    precision: str
    demand: Demand
    flops_per_item: float
    weight_params_b: float
    latency_s: float | None


@dataclass(frozen=True)
class TrainingWorkload(Workload):
    model: ModelSpec
    precision: str
    tokens_b: float
    seq_len: float
    deadline_days: float
    years: tuple[int, ...]  # horizon years the run occupies capacity
    uncertainty: Uncertainty


@dataclass(frozen=True)
class Site:
    name: str
    region: str
    pue: float
    electricity_usd_per_mwh: float
    power_cap_mw: float | None


@dataclass(frozen=True)
class Forecast:
    source: str
    name: str
    site: Site
    years: tuple[int, ...]
    platforms: tuple[str, ...]
    provision_percentile: float
    headroom: float
    samples: int
    seed: int
    workloads: tuple[Workload, ...]
    models: dict[str, ModelSpec] = field(default_factory=dict)
    software: dict[str, str] = field(default_factory=dict)  # platform id -> serving stack

    def of_kind(self, kind: str) -> list[Any]:
        return [w for w in self.workloads if w.kind == kind]


DEFAULT_SAMPLES = 10_000
DEFAULT_SEED = 0


def load_forecast(path: str | Path) -> Forecast:
    """Read and validate a forecast file."""
    return parse_forecast(load_yaml(path), str(path))


def parse_forecast(doc: Any, source: str) -> Forecast:
    root = Node(doc, source)
    name = root.text("name") or ""
    site = _site(root.node("site"))
    horizon = root.node("horizon")
    start = int(horizon.number("start_year", integer=True, minimum=2024, maximum=2100) or 0)
    count = int(horizon.number("years", integer=True, minimum=1, maximum=30) or 0)
    horizon.done()
    years = tuple(range(start, start + count))

    catalog = load_catalog()
    plat_list = root.items("platforms")
    platforms: list[str] = []
    for i, pid in enumerate(plat_list):
        if not isinstance(pid, str) or pid not in catalog.platforms:
            root.fail(f"unknown platform {pid!r}; allowed: {', '.join(catalog.platforms)}", f"platforms[{i}]")
        if pid in platforms:
            root.fail(f"platform {pid!r} is listed twice", f"platforms[{i}]")
        platforms.append(pid)

    pct = root.number("provision_percentile", minimum=1, maximum=99) or 0.0
    headroom = root.number("headroom", minimum=0, maximum=2) or 0.0
    samples, seed = DEFAULT_SAMPLES, DEFAULT_SEED
    if root.has("monte_carlo"):
        mc = root.node("monte_carlo")
        samples = int(mc.number("samples", required=False, integer=True, minimum=1, maximum=1_000_000)
                      or DEFAULT_SAMPLES)
        s = mc.number("seed", required=False, integer=True, minimum=0)
        seed = DEFAULT_SEED if s is None else int(s)
        mc.done()

    software = _software(root, catalog, platforms) if root.has("software") else {}
    models: dict[str, ModelSpec] = {}
    if root.has("models"):
        models = parse_models_mapping(root.raw("models"), source, "models")

    raw_workloads = root.items("workloads")
    workloads: list[Workload] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_workloads):
        node = Node(raw, source, f"workloads[{i}]")
        w = _workload(node, years, models)
        if w.name in seen:
            node.fail(f"workload name {w.name!r} is already used by workloads[{seen[w.name]}]", "name")
        seen[w.name] = i
        workloads.append(w)
    root.done()
    return Forecast(
        source=source, name=name, site=site, years=years, platforms=tuple(platforms),
        provision_percentile=pct, headroom=headroom, samples=samples, seed=seed,
        workloads=tuple(workloads), models=models, software=software,
    )


def _software(root: Node, catalog: Any, platforms: list[str]) -> dict[str, str]:
    """``software: {platform: stack}``: each key a platform of the forecast, each value a stack of
    that platform's family."""
    node = root.node("software")  # a mapping, or an error naming the field
    out: dict[str, str] = {}
    for pid in list(node.data):
        if pid not in platforms:
            node.fail(f"{pid!r} is not one of the forecast's platforms ({', '.join(platforms)})", str(pid))
        allowed = catalog.stacks_of(catalog.platforms[pid].family)
        out[pid] = node.text(str(pid), choices=allowed) or ""
    node.done()
    return out


def _site(node: Node) -> Site:
    site = Site(
        name=node.text("name") or "",
        region=node.text("region") or "",
        pue=node.number("pue", minimum=1.0, maximum=3.0) or 1.0,
        electricity_usd_per_mwh=node.number("electricity_usd_per_mwh", minimum=0) or 0.0,
        power_cap_mw=node.number("power_cap_mw", required=False, positive=True),
    )
    node.done()
    return site


def _common(node: Node) -> dict[str, Any]:
    apps = applications()
    name = node.text("name") or ""
    kind = node.text("kind", choices=KINDS) or ""
    application = node.text("application", choices=list(apps)) or ""
    placement = node.text("placement", required=False, choices=PLACEMENTS) or apps[application]["placement"]
    mtp = node.number("mean_to_peak", required=False, positive=True, maximum=1.0)
    return {
        "name": name, "path": node.path, "kind": kind, "application": application,
        "placement": placement,
        "mean_to_peak": float(apps[application]["mean_to_peak"]) if mtp is None else mtp,
    }


def _workload(node: Node, years: tuple[int, ...], models: dict[str, ModelSpec]) -> Workload:
    common = _common(node)
    kind = common["kind"]
    w: Workload
    if kind == "llm_inference":
        model = _model(node, models)
        isl = node.number("input_tokens", positive=True, maximum=10_000_000) or 0.0
        osl = node.number("output_tokens", positive=True, maximum=1_000_000) or 0.0
        w = LlmWorkload(
            **common, model=model,
            precision=node.text("precision", choices=PRECISIONS) or "",
            demand=_demand(node.node("demand"), years, kind),
            input_tokens=isl, output_tokens=osl,
            ttft_ms=node.number("ttft_ms", required=False, positive=True),
            tpot_ms=node.number("tpot_ms", required=False, positive=True),
            disaggregated=_disaggregated(node),
            serving=_serving(node.node("serving")) if node.has("serving") else Serving(),
            quantization=node.text("quantization", required=False, choices=QUANTIZATION) or "auto",
            prefix_hit=_prefix_hit(node, isl),
            speculative=_speculative(node.node("speculative")) if node.has("speculative") else None,
        )
    elif kind == "diffusion_inference":
        flops, params = _diffusion_cost(node)
        w = DiffusionWorkload(
            **common,
            precision=node.text("precision", choices=PRECISIONS) or "",
            demand=_demand(node.node("demand"), years, kind),
            flops_per_item=flops, weight_params_b=params,
            latency_s=node.number("latency_s", required=False, positive=True),
        )
    else:
        model = _model(node, models)
        start = int(node.number("start_year", integer=True) or 0)
        if start not in years:
            node.fail(f"start_year {start} is outside the horizon {years[0]}-{years[-1]}", "start_year")
        deadline = node.number("deadline_days", positive=True, maximum=3650) or 1.0
        recurring = bool(node.flag("recurring"))
        span = max(1, math.ceil(deadline / 365.0))
        active = tuple(y for y in years if (y >= start if recurring else start <= y < start + span))
        w = TrainingWorkload(
            **common, model=model,
            precision=node.text("precision", choices=PRECISIONS) or "",
            tokens_b=node.number("tokens_b", positive=True) or 0.0,
            seq_len=node.number("seq_len", positive=True, integer=True, maximum=10_000_000) or 0.0,
            deadline_days=deadline, years=active,
            uncertainty=_uncertainty(node.node("uncertainty")),
        )
    node.done()
    return w


QUANTIZATION = ("auto", "none")
SPEC_METHODS = ("mtp", "eagle", "draft")


def _disaggregated(node: Node) -> bool | str:
    value = node.raw("disaggregated", required=False)
    if value is None:
        return "auto"  # the engine keeps whichever serving mode does more per accelerator
    if isinstance(value, bool):
        return value
    if value == "auto":
        return "auto"
    node.fail(f"must be true, false or auto, got {value!r}", "disaggregated")


def _prefix_hit(node: Node, isl: float) -> float:
    """``prefix_cache_hit`` (share of prompt tokens) or ``shared_prefix_tokens`` (at most the prompt)."""
    if node.has("prefix_cache_hit") and node.has("shared_prefix_tokens"):
        node.fail("give prefix_cache_hit or shared_prefix_tokens, not both", "shared_prefix_tokens")
    hit = node.number("prefix_cache_hit", required=False, minimum=0, maximum=0.99)
    if hit is not None:
        return hit
    shared = node.number("shared_prefix_tokens", required=False, minimum=0)
    if shared is None:
        return 0.0
    if shared >= isl:
        node.fail(f"must be less than input_tokens ({isl:g})", "shared_prefix_tokens")
    return shared / isl


def _speculative(node: Node) -> tuple[str, int, float, float]:
    """``speculative: {method: mtp|eagle|draft, tokens: k, acceptance: a, draft_params_b: (draft only)}``."""
    method = node.text("method", choices=SPEC_METHODS) or ""
    tokens = int(node.number("tokens", integer=True, minimum=1, maximum=16) or 1)
    acceptance = node.number("acceptance", minimum=0, maximum=1) or 0.0
    draft = node.number("draft_params_b", required=method == "draft", positive=True)
    if method != "draft" and draft is not None:
        node.fail("draft_params_b belongs to method draft only (mtp and eagle run one layer)", "draft_params_b")
    node.done()
    return method, tokens, acceptance, float(draft or 0.0)


def _serving(node: Node) -> Serving:
    target = node.text("target", choices=SERVING_TARGETS) or "factory"
    if target != "bedrock":
        node.done()
        return Serving(target=target)
    model_id = node.text("model_id") or ""
    if is_cross_region_model_id(model_id):
        node.fail(f"{model_id!r} is a cross-region inference profile: prompts would leave the region. "
                  "Use an in-region model id (e.g. meta.llama3-3-70b-instruct-v1:0)", "model_id")
    units = int(node.number("model_units", positive=True, integer=True) or 1)
    commitment = node.text("commitment", required=False, choices=BEDROCK_COMMITMENTS)
    node.done()
    return Serving(target=target, model_id=model_id, model_units=units, commitment=commitment)


def _model(node: Node, models: dict[str, ModelSpec]) -> ModelSpec:
    name = node.text("model") or ""
    return resolve(name, models, node.source, node.sub("model"))


def _diffusion_cost(node: Node) -> tuple[float, float]:
    """FLOPs per item and weight parameters (billions) from ``flops_per_item`` or a ``dit`` spec."""
    from sizing.diffusion import flops_per_item

    has_flops, has_dit = node.has("flops_per_item"), node.has("dit")
    if has_flops == has_dit:
        node.fail("give exactly one of flops_per_item (with params_b) or dit (a diffusion-transformer spec)")
    if has_flops:
        flops = node.number("flops_per_item", positive=True) or 0.0
        params = node.number("params_b", positive=True) or 0.0
        return flops, params
    dit = node.node("dit")
    params = dit.number("params_b", positive=True) or 0.0
    cost = flops_per_item(
        params_b=params,
        steps=dit.number("steps", positive=True, integer=True) or 0.0,
        latent_tokens=dit.number("latent_tokens", positive=True) or 0.0,
        layers=dit.number("layers", positive=True, integer=True) or 0.0,
        hidden=dit.number("hidden", positive=True, integer=True) or 0.0,
        guidance_passes=dit.number("guidance_passes", required=False, positive=True, integer=True) or 1.0,
    )
    dit.done()
    return cost, params


def _uncertainty(node: Node) -> Uncertainty:
    if node.has("sigma") and (node.has("low") or node.has("high")):
        node.fail("give either sigma (lognormal) or low and high (P10 and P90 multipliers), not both")
    if node.has("sigma"):
        u = Uncertainty(
            sigma=node.number("sigma", minimum=0, maximum=3) or 0.0,
            sigma_per_year=node.number("sigma_per_year", required=False, minimum=0, maximum=1) or 0.0,
        )
    elif node.has("low") or node.has("high"):
        low = node.number("low", positive=True, maximum=1.0) or 1.0
        high = node.number("high", minimum=1.0, maximum=100.0) or 1.0
        u = Uncertainty(
            sigma=math.log(high / low) / (2 * Z90),
            sigma_per_year=node.number("sigma_per_year", required=False, minimum=0, maximum=1) or 0.0,
            median_factor=math.sqrt(low * high),
        )
    else:
        node.fail("needs sigma (lognormal, e.g. 0.3) or low and high (P10 and P90 multipliers, e.g. 0.7 and 1.5)")
    node.done()
    return u


def _demand(node: Node, years: tuple[int, ...], kind: str) -> Demand:
    unit = node.text("unit", choices=DEMAND_UNITS[kind]) or ""
    has_per_year, has_base = node.has("per_year"), node.has("base")
    if has_per_year == has_base:
        node.fail("give exactly one of per_year (a value per year) or base with growth")
    per_year: dict[int, float] = {}
    if has_per_year:
        table = node.node("per_year")
        listed: dict[int, float] = {}
        for key in table.data:
            try:
                year = int(key)
            except (TypeError, ValueError):
                table.fail(f"years must be whole numbers, got {key!r}", str(key))
            if year not in years:
                table.fail(f"year {year} is outside the horizon {years[0]}-{years[-1]}", str(key))
            listed[year] = check_number(table.raw(key), node.source, table.sub(str(key)), minimum=0)
        table.done()
        first = min(listed)
        missing = [y for y in years if y >= first and y not in listed]
        if missing:
            node.fail(f"no value for {', '.join(map(str, missing))}: list every year from {first} to "
                      f"{years[-1]} (years before the first listed one count as no demand)", "per_year")
        per_year = {y: listed.get(y, 0.0) for y in years}
    else:
        base = node.number("base", minimum=0) or 0.0
        growth = node.number("growth", minimum=-0.99, maximum=10) or 0.0
        start = node.number("start_year", required=False, integer=True)
        first = years[0] if start is None else int(start)
        if first not in years:
            node.fail(f"start_year {first} is outside the horizon {years[0]}-{years[-1]}", "start_year")
        per_year = {y: (base * (1.0 + growth) ** (y - first) if y >= first else 0.0) for y in years}
    demand = Demand(unit=unit, per_year=per_year, uncertainty=_uncertainty(node.node("uncertainty")))
    node.done()
    return demand
