"""The sizing engine: forecast -> accelerators per workload, year, Monte Carlo sample and platform.

Two stages, both as whole arrays:

1. Performance (demand-independent): every inference workload x platform x catalog scenario x
   replica size x batch is evaluated (``sizing.llm``, ``sizing.diffusion``) and reduced to the
   best throughput per replica size. Training workloads get accelerators for their deadline.
2. Demand: every workload x year x sample x platform x replica size gets the replicas it needs
   (``ceil(demand x (1 + headroom) / per-replica throughput)``) and the accelerators those occupy
   once packed into scale-up domains (see :func:`slot_accelerators`); the cheapest replica size
   wins per sample. Samples are processed in chunks to bound memory, not one at a time.

The result, :class:`Sizing`, is what ``sizing.budget`` turns into domains, power and cost.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from sizing import diffusion, llm, training
from sizing.catalog import PRECISIONS, Catalog, Scenarios, scenarios
from sizing.errors import InputError
from sizing.forecast import (
    DiffusionWorkload,
    Forecast,
    LlmWorkload,
    TrainingWorkload,
    Uncertainty,
)
from sizing.llm_search import search_best
from sizing.models import ModelArrays

MAX_SCENARIOS = 32
CHUNK_ELEMENTS = 300_000  # stage 2's arrays per chunk of samples: a few MB, so each pass stays in the CPU caches
MIN_CHUNK_SAMPLES = 16  # large forecasts: bound the number of chunks (the per-chunk Python overhead)
SECONDS_PER_YEAR = 365.0 * 86400.0


def slot_accelerators(sizes: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """Accelerators a replica of ``sizes`` really occupies once packed into domains.

    A replica must not straddle domains, so a domain of D holds floor(D/n) replicas of n and
    each occupies D/floor(D/n) (a 48-chip replica takes a whole 72-GPU rack); a replica larger
    than a domain takes whole domains. Different workloads share the leftover domains.
    """
    d = domain.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = d / np.floor(d / sizes)
        across = np.ceil(sizes / d) * d
    return np.where(sizes <= d, inside, across)


@dataclass(frozen=True)
class InferenceDetail:
    """Nominal-scenario serving configuration per (workload, platform, replica size)."""

    batch: np.ndarray
    ttft_s: np.ndarray
    tpot_s: np.ndarray
    bound: np.ndarray  # index into llm.BOUNDS, -1 for diffusion (compute)
    memory_bytes: np.ndarray
    disaggregated: np.ndarray  # bool: two pools (prefill, decode)
    speculative: np.ndarray  # bool: drafted tokens (MTP, EAGLE, draft model)
    prefill_share: np.ndarray  # share of the accelerators in the prefill pool (0 when aggregated)


@dataclass(frozen=True)
class Sizing:
    """Everything the budget needs, as arrays over (workload, year, platform, sample)."""

    forecast: Forecast
    platform_ids: tuple[str, ...]
    software: tuple[str, ...]  # serving stack per platform
    scenarios: Scenarios
    scenario_of_sample: np.ndarray  # (S,) index into scenarios
    workload_names: tuple[str, ...]
    workload_kinds: tuple[str, ...]
    in_factory: np.ndarray  # (W,) bool: not at the edge
    sizes: np.ndarray  # (P, Nc) replica sizes, NaN padded
    slot: np.ndarray  # (P, Nc) accelerators each replica occupies
    accelerators: np.ndarray  # (W, Y, P, S) slot accelerators
    hbm_required_bytes: np.ndarray  # (W, Y, P, S)
    busy_fraction: np.ndarray  # (W,) share of the year the capacity is busy on average
    mean_to_peak: np.ndarray  # (W,) mean demand / peak demand (0 for training)
    output_tokens_per_s: np.ndarray  # (W, Y, S) peak demand in output tokens/s (0 for non-LLM)
    tokens_per_output_token: np.ndarray  # (W,) (input + output) / output for LLMs, else 0
    nominal_choice: np.ndarray  # (W, Y, P) index into sizes at P50 demand, nominal catalog; -1 none
    nominal_replicas: np.ndarray  # (W, Y, P)
    detail: InferenceDetail  # (Wi, P, Nc) for inference workloads (first Wi of W)
    training_accelerators_nominal: np.ndarray  # (Wt, P) real-valued need at nominal scenario
    configurations: int


def one_platform(sz: Sizing, j: int) -> Sizing:
    """The run restricted to its platform ``j``: sizing and budget are independent per platform, so
    this is what sizing that platform alone gives, without rerunning the engine (what-ifs that
    change one platform's budget, e.g. its power, re-budget only it)."""
    sc = sz.scenarios
    per_platform = {f.name: getattr(sc, f.name)[j:j + 1] for f in fields(Scenarios)
                    if isinstance(getattr(sc, f.name), np.ndarray) and f.name != "facility_capex_usd_per_w"}
    one_sc = replace(sc, platform_ids=sc.platform_ids[j:j + 1], stacks=sc.stacks[j:j + 1],
                     eff={name: a[j:j + 1] for name, a in sc.eff.items()}, **per_platform)
    detail = InferenceDetail(**{f.name: getattr(sz.detail, f.name)[:, j:j + 1] for f in fields(InferenceDetail)})
    return replace(
        sz, platform_ids=sz.platform_ids[j:j + 1], software=sz.software[j:j + 1], scenarios=one_sc,
        sizes=sz.sizes[j:j + 1], slot=sz.slot[j:j + 1], accelerators=sz.accelerators[:, :, j:j + 1],
        hbm_required_bytes=sz.hbm_required_bytes[:, :, j:j + 1], nominal_choice=sz.nominal_choice[:, :, j:j + 1],
        nominal_replicas=sz.nominal_replicas[:, :, j:j + 1], detail=detail,
        training_accelerators_nominal=sz.training_accelerators_nominal[:, j:j + 1],
    )


def workload_normals(seed: int, name: str, samples: int) -> np.ndarray:
    """Standard normals for one workload, from a stream keyed on the seed and the workload's name:
    adding, removing or reordering other workloads leaves its samples unchanged (common random
    numbers, so two forecasts compare like for like)."""
    return np.random.default_rng([seed, 1, zlib.crc32(name.encode("utf-8"))]).standard_normal(samples)


def _sigma_by_year(u: Uncertainty, n_years: int) -> np.ndarray:
    return u.sigma + u.sigma_per_year * np.arange(n_years)


def _lognormal(point: np.ndarray, uncertainty: list[Uncertainty], z: np.ndarray) -> np.ndarray:
    """Demand samples (W, Y, S): the point forecast is the median; one z per workload and sample
    is shared across years (a high path stays high)."""
    n_years = point.shape[1]
    sig = np.stack([_sigma_by_year(u, n_years) for u in uncertainty])  # (W, Y)
    med = np.array([u.median_factor for u in uncertainty])[:, None, None]
    return point[:, :, None] * med * np.exp(sig[:, :, None] * z[:, None, :])


def _candidate_sizes(catalog: Catalog, platform_ids: list[str]) -> np.ndarray:
    lists = [llm.replica_sizes(catalog.platforms[p].domain_accelerators) for p in platform_ids]
    width = max(len(x) for x in lists)
    out = np.full((len(lists), width), np.nan)
    for i, x in enumerate(lists):
        out[i, : len(x)] = x
    return out


@dataclass(frozen=True)
class LatencyFloor:
    """Best p99 latencies any replica reaches (nominal catalog), for messages: (W, P) seconds."""

    ttft_s: np.ndarray
    tpot_s: np.ndarray


def llm_cases(catalog: Catalog, ws: list[LlmWorkload], tpot: bool = True) -> llm.LlmCases:
    """The serving cases of LLM workloads, as the engine scores them (``tpot=False`` drops the TPOT
    target, so every batch is scored: the Pareto curve's view)."""
    return llm.LlmCases.of(
        catalog, [w.model for w in ws], [w.precision for w in ws], [w.input_tokens for w in ws],
        [w.output_tokens for w in ws], [w.ttft_ms for w in ws], [w.tpot_ms if tpot else None for w in ws],
        [w.disaggregated for w in ws], [w.quantization == "auto" for w in ws], [w.prefix_hit for w in ws],
        [w.speculative for w in ws],
    )


def _search_by_group(catalog: Catalog, ws: list[LlmWorkload], sc: Scenarios, sizes: np.ndarray,
                     usable: float) -> tuple[llm.BestPerSize, int]:
    """The batch search run separately on workloads that may draft tokens (explicit speculation or MTP
    modules) or not, and may run two pools or not: each group is scored only under the serving
    variants it allows (a variant a workload does not allow never wins, so the answer is the same;
    every workload's evaluation is row by row), and each distinct serving case once."""
    serving = [(w.model, w.precision, w.input_tokens, w.output_tokens, w.ttft_ms, w.tpot_ms,
                str(w.disaggregated).lower(), w.quantization == "auto", w.prefix_hit, w.speculative) for w in ws]
    unique = list(dict.fromkeys(serving))
    if len(unique) < len(ws):  # workloads that differ only in demand (the tornado's clones): once each
        first = {key: i for i, key in reversed(list(enumerate(serving)))}
        best, points = _search_by_group(catalog, [ws[first[key]] for key in unique], sc, sizes, usable)
        position = {key: i for i, key in enumerate(unique)}
        row = np.array([position[key] for key in serving])
        return llm.BestPerSize(**{f.name: getattr(best, f.name)[row] for f in fields(llm.BestPerSize)}), points
    keys = [(w.speculative is not None or w.model.mtp_layers > 0, str(w.disaggregated).lower() != "false")
            for w in ws]
    groups = [[i for i, k in enumerate(keys) if k == key] for key in dict.fromkeys(keys)]
    if len(groups) == 1:
        return search_best(llm_cases(catalog, ws), sc, sizes, llm.BATCHES, usable)
    parts = [(g, *search_best(llm_cases(catalog, [ws[i] for i in g]), sc, sizes, llm.BATCHES, usable))
             for g in groups]
    out: dict[str, np.ndarray] = {}
    for f in fields(llm.BestPerSize):
        first = getattr(parts[0][1], f.name)
        out[f.name] = np.empty((len(ws),) + first.shape[1:], dtype=first.dtype)
        for g, best, _ in parts:
            out[f.name][g] = getattr(best, f.name)
    return llm.BestPerSize(**out), sum(n for _, _, n in parts)


def _llm_performance(catalog: Catalog, ws: list[LlmWorkload], sc: Scenarios, sizes: np.ndarray,
                     usable: float) -> tuple[llm.BestPerSize, int, LatencyFloor | None]:
    """The best batch per (workload, platform, scenario, replica size) by the batch search (the
    exhaustive grid's answer, ``sizing.llm_search``), the points it scored, and, only when some
    workload fits no replica on a platform, the latency floor its error message quotes."""
    best, points = _search_by_group(catalog, ws, sc, sizes, usable)
    if best.feasible[:, :, 0, :].any(axis=-1).all():
        return best, points, None
    cases = llm_cases(catalog, ws)
    grid = llm.evaluate(cases, sc, sizes, llm.BATCHES, usable)  # error path only: every batch's latencies
    fits = grid.fits[:, :, 0] & np.isfinite(grid.tpot_s[:, :, 0])
    floor = LatencyFloor(
        ttft_s=np.where(fits, grid.ttft_p99_s[:, :, 0], np.inf).min(axis=(-1, -2)),
        tpot_s=np.where(fits, grid.tpot_p99_s[:, :, 0], np.inf).min(axis=(-1, -2)),
    )
    return best, points, floor


def _diffusion_performance(catalog: Catalog, ws: list[DiffusionWorkload], sc: Scenarios, sizes: np.ndarray,
                           usable: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    prec = np.array([PRECISIONS.index(w.precision) for w in ws])
    peak = np.moveaxis(sc.peak_flops[:, :, prec], 2, 0)
    weight_bytes = np.array([w.weight_params_b * 1e9 * catalog.weight_bytes_per_param(w.precision) for w in ws])
    latency = np.array([np.inf if w.latency_s is None else w.latency_s for w in ws])
    thr, feasible = diffusion.replica_throughput(
        np.array([w.flops_per_item for w in ws]), weight_bytes, latency, sizes, peak,
        sc.eff["prefill_compute_fraction"], sc.hbm_bytes, usable,
    )
    memory = np.broadcast_to(weight_bytes[:, None, None, None], thr.shape)
    return thr, feasible, memory


def _check_feasible(forecast: Forecast, catalog: Catalog, ws: list, feasible: np.ndarray,
                    platform_ids: list[str], floor: LatencyFloor | None = None) -> None:
    """A workload that fits no replica on a platform (nominal catalog) is an input error that
    says why: unsupported precision, too large for any replica, or the best latencies reachable."""
    ok = np.asarray(feasible[:, :, 0, :].any(axis=-1))  # (W, P)
    for i, w in enumerate(ws):
        for j, pid in enumerate(platform_ids):
            if ok[i, j]:
                continue
            if not isinstance(w, LlmWorkload) and not catalog.platforms[pid].supports(w.precision):
                why = f"{pid} has no {w.precision} support"
            elif floor is not None and np.isfinite(floor.tpot_s[i, j]):
                why = (f"the best any replica reaches there is p99 TTFT {floor.ttft_s[i, j] * 1e3:,.0f} ms and "
                       f"p99 TPOT {floor.tpot_s[i, j] * 1e3:,.1f} ms (targets: ttft_ms {w.ttft_ms}, "
                       f"tpot_ms {w.tpot_ms})")
            elif floor is not None:
                why = "the weights and KV cache fit no replica of up to 16 scale-up domains"
            else:
                why = f"no replica of up to 16 scale-up domains meets latency_s {w.latency_s} or holds the model"
            raise InputError(
                forecast.source, w.path,
                f"workload {w.name!r} cannot be served on {pid}: {why}. Relax the targets, change precision, "
                "or leave the platform out with --platform",
            )


def _scale(throughput_scale: Mapping[str, float] | None, platform_ids: list[str]) -> np.ndarray:
    """Per-platform throughput factors (1, P, 1, 1); an unknown platform or a factor that is not a
    positive finite number is an input error."""
    scale = dict(throughput_scale or {})
    for pid, f in scale.items():
        where = f"throughput_scale.{pid}"
        if pid not in platform_ids:
            raise InputError("command line", where, f"not a platform of this run ({', '.join(platform_ids)})")
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not (np.isfinite(f) and f > 0):
            raise InputError("command line", where, f"must be a positive finite number, got {f!r}")
    return np.array([float(scale.get(p, 1.0)) for p in platform_ids])[None, :, None, None]


def software_of(forecast: Forecast, catalog: Catalog, platform_ids: list[str],
                software: Mapping[str, str] | None = None) -> list[str]:
    """The serving stack per platform: ``software`` (e.g. --software) over the forecast's
    ``software`` mapping over the family default; an unknown stack is an input error."""
    out = []
    for pid in platform_ids:
        given = (software or {}).get(pid)
        where, path = ("command line", "--software") if given else (forecast.source, f"software.{pid}")
        given = given or forecast.software.get(pid)
        out.append(catalog.stack_for(catalog.platforms[pid], given, source=where, path=path))
    return out


@dataclass(frozen=True)
class Performance:
    """Stage 1: what one replica of each size achieves per workload, platform and catalog scenario,
    before the calibration residual and any throughput what-if (demand-independent)."""

    throughput: np.ndarray  # (Wi, P, K, Nc) output tokens (or items) per second per replica
    memory_bytes: np.ndarray  # (Wi, P, K, Nc)
    detail: InferenceDetail
    configurations: int


Stage1 = tuple[Scenarios, np.ndarray, Performance]  # catalog scenarios, candidate sizes, stage 1
CACHE_ENTRIES = 32  # stage-1 results kept (each is small: (Wi, 1, K, Nc) arrays)
_CACHE: OrderedDict[tuple[Any, ...], tuple[Forecast, Catalog, Performance]] = OrderedDict()


def _platform_performance(forecast: Forecast, catalog: Catalog, pid: str, stack: str, K: int, seed: int,
                          width: int) -> Performance:
    """Stage 1 of one platform under one serving stack, remembered per (forecast object, catalog object,
    platform, stack, K, seed, width): stage 1 is independent per platform (each draws its catalog
    scenarios from its own stream), so a run over any platform list, the break-even and tornado
    what-ifs and a second stack's run reuse what an earlier run computed. The objects are kept with
    the entry, so an identity cannot be reused while it is cached; both are immutable."""
    key = (id(forecast), id(catalog), pid, stack, K, seed, width)
    for k, (f, c, perf) in reversed(_CACHE.items()):
        if k[:-1] == key[:-1] and k[-1] >= width and f is forecast and c is catalog:
            _CACHE.move_to_end(k)
            return perf if k[-1] == width else _narrow(perf, width)
    sc = scenarios(catalog, [pid], K, seed, [stack])
    sizes = _candidate_sizes(catalog, [pid])
    sizes = np.concatenate([sizes, np.full((1, width - sizes.shape[1]), np.nan)], axis=1)
    perf = _performance(forecast, catalog, [pid], sc, sizes)
    _CACHE[key] = (forecast, catalog, perf)
    while len(_CACHE) > CACHE_ENTRIES:
        _CACHE.popitem(last=False)
    return perf


def _narrow(perf: Performance, width: int) -> Performance:
    """A stage 1 evaluated at more (NaN-padded) replica-size columns, cut to ``width``: every column is
    evaluated on its own, so this is what an evaluation at ``width`` gives (its count scaled alike)."""
    detail = InferenceDetail(**{f.name: getattr(perf.detail, f.name)[..., :width] for f in fields(InferenceDetail)})
    configurations = perf.configurations * width // perf.throughput.shape[-1]
    return Performance(throughput=perf.throughput[..., :width], memory_bytes=perf.memory_bytes[..., :width],
                       detail=detail, configurations=configurations)


def _join(parts: list[Performance]) -> Performance:
    """Per-platform stage-1 results side by side (platform axis 1)."""
    detail = InferenceDetail(**{f.name: np.concatenate([getattr(p.detail, f.name) for p in parts], axis=1)
                                for f in fields(InferenceDetail)})
    return Performance(throughput=np.concatenate([p.throughput for p in parts], axis=1),
                       memory_bytes=np.concatenate([p.memory_bytes for p in parts], axis=1),
                       detail=detail, configurations=sum(p.configurations for p in parts))


def _performance_cached(forecast: Forecast, catalog: Catalog, platform_ids: list[str], K: int, seed: int,
                        software: Mapping[str, str] | None) -> tuple[Scenarios, np.ndarray, Performance]:
    """Scenarios, candidate sizes and stage 1, assembled from the per-platform cache
    (:func:`_platform_performance`; each platform evaluated at the run's common size width, so the
    arrays are those of one evaluation over all platforms)."""
    stacks = software_of(forecast, catalog, platform_ids, software)
    sc = scenarios(catalog, platform_ids, K, seed, stacks)
    sizes = _candidate_sizes(catalog, platform_ids)
    parts = [_platform_performance(forecast, catalog, pid, st, K, seed, sizes.shape[1])
             for pid, st in zip(platform_ids, stacks, strict=True)]
    return sc, sizes, parts[0] if len(parts) == 1 else _join(parts)


def _performance(forecast: Forecast, catalog: Catalog, platform_ids: list[str], sc: Scenarios,
                 sizes: np.ndarray) -> Performance:
    """Stage 1 for every inference workload (LLM, then diffusion), with the per-size detail."""
    usable = catalog.facility["usable_hbm_fraction"].nominal
    llm_ws: list[LlmWorkload] = forecast.of_kind("llm_inference")
    dif_ws: list[DiffusionWorkload] = forecast.of_kind("diffusion_inference")
    P, K, Nc = len(platform_ids), sc.count, sizes.shape[1]
    configurations = 0
    thr_parts, mem_parts = [], []
    det_batch, det_ttft, det_tpot, det_bound = [], [], [], []
    det_dis, det_spec, det_share = [], [], []
    if llm_ws:
        best, n_cfg, floor = _llm_performance(catalog, llm_ws, sc, sizes, usable)
        configurations += n_cfg
        _check_feasible(forecast, catalog, llm_ws, best.feasible, platform_ids, floor)
        thr_parts.append(best.output_tokens_per_s)
        mem_parts.append(best.memory_bytes)
        det_batch.append(best.batch[:, :, 0])
        det_ttft.append(best.ttft_s[:, :, 0])
        det_tpot.append(best.tpot_s[:, :, 0])
        det_bound.append(best.bound[:, :, 0])
        det_dis.append(best.disaggregated[:, :, 0])
        det_spec.append(best.speculative[:, :, 0])
        det_share.append(best.prefill_share[:, :, 0])
    if dif_ws:
        thr_d, feas_d, mem_d = _diffusion_performance(catalog, dif_ws, sc, sizes, usable)
        configurations += int(thr_d.size)
        _check_feasible(forecast, catalog, dif_ws, feas_d, platform_ids)
        thr_parts.append(thr_d)
        mem_parts.append(mem_d)
        shape = (len(dif_ws), P, Nc)
        det_batch.append(np.ones(shape))
        lat = np.where(thr_d[:, :, 0] > 0, 1.0 / np.where(thr_d[:, :, 0] > 0, thr_d[:, :, 0], 1.0), np.nan)
        det_ttft.append(lat)
        det_tpot.append(np.full(shape, np.nan))
        det_bound.append(np.ones(shape, dtype=int))  # compute
        det_dis.append(np.zeros(shape, dtype=bool))
        det_spec.append(np.zeros(shape, dtype=bool))
        det_share.append(np.zeros(shape))
    Wi = len(llm_ws) + len(dif_ws)
    thr = np.concatenate(thr_parts) if Wi else np.zeros((0, P, K, Nc))
    mem_rep = np.concatenate(mem_parts) if Wi else np.zeros((0, P, K, Nc))
    detail = InferenceDetail(
        batch=np.concatenate(det_batch) if det_batch else np.zeros((0, P, Nc)),
        ttft_s=np.concatenate(det_ttft) if det_ttft else np.zeros((0, P, Nc)),
        tpot_s=np.concatenate(det_tpot) if det_tpot else np.zeros((0, P, Nc)),
        bound=np.concatenate(det_bound) if det_bound else np.zeros((0, P, Nc), dtype=int),
        memory_bytes=mem_rep[:, :, 0, :],
        disaggregated=np.concatenate(det_dis) if det_dis else np.zeros((0, P, Nc), dtype=bool),
        speculative=np.concatenate(det_spec) if det_spec else np.zeros((0, P, Nc), dtype=bool),
        prefill_share=np.concatenate(det_share) if det_share else np.zeros((0, P, Nc)),
    )
    return Performance(throughput=thr, memory_bytes=mem_rep, detail=detail, configurations=configurations)


def stage1_at(forecast: Forecast, catalog: Catalog, pid: str, sc: Scenarios) -> Stage1:
    """Stage 1 of one platform under catalog scenarios given, not drawn (the tornado's pinned values
    side by side, one scenario each), for :func:`size`'s ``stage1``."""
    sizes = _candidate_sizes(catalog, [pid])
    return sc, sizes, _performance(forecast, catalog, [pid], sc, sizes)


def size(forecast: Forecast, catalog: Catalog, platform_ids: list[str], samples: int, seed: int,
         progress: Callable[[float], None] | None = None, software: Mapping[str, str] | None = None,
         throughput_scale: Mapping[str, float] | None = None, stage1: Stage1 | None = None) -> Sizing:
    """Size every workload on every platform for every year and Monte Carlo sample.

    ``progress`` (optional) is called with the fraction of samples done, chunk by chunk.
    ``software`` maps platform id -> serving stack (over the forecast's choice); ``throughput_scale``
    maps platform id -> a factor on its achievable serving throughput (LLM and diffusion), the hook
    the break-even analysis uses. ``stage1`` (:func:`stage1_at`) replaces the drawn catalog
    scenarios and their stage 1; sample i then uses scenario i modulo their count.
    """
    tput_scale = _scale(throughput_scale, platform_ids)
    if stage1 is None:
        K = min(MAX_SCENARIOS, samples)
        sc, sizes, perf = _performance_cached(forecast, catalog, platform_ids, K, seed, software)
    else:
        sc, sizes, perf = stage1
        K = sc.count
    scenario_of_sample = np.arange(samples) % K
    usable = catalog.facility["usable_hbm_fraction"].nominal
    slot = slot_accelerators(sizes, sc.domain_accelerators[:, None])
    years = forecast.years
    Y, P, S = len(years), len(platform_ids), samples

    llm_ws: list[LlmWorkload] = forecast.of_kind("llm_inference")
    dif_ws: list[DiffusionWorkload] = forecast.of_kind("diffusion_inference")
    trn_ws: list[TrainingWorkload] = forecast.of_kind("training")
    inf_ws: list[LlmWorkload | DiffusionWorkload] = [*llm_ws, *dif_ws]
    all_ws = [*inf_ws, *trn_ws]
    Wi, Wt = len(inf_ws), len(trn_ws)
    Nc = sizes.shape[1]
    configurations = perf.configurations
    detail, mem_rep = perf.detail, perf.memory_bytes
    if Wi:
        thr = perf.throughput * sc.residual[None, :, :, None] * tput_scale
        # a catalog scenario where nothing fits falls back to the nominal one (k = 0)
        none_fit = ~(thr > 0).any(axis=-1, keepdims=True)
        thr = np.where(none_fit, thr[:, :, :1, :], thr)
    else:
        thr = np.zeros((0, P, K, Nc))

    # -- demand samples -------------------------------------------------------------------------
    z = np.stack([workload_normals(seed, w.name, S) for w in all_ws]) if all_ws else np.zeros((0, S))
    point = np.array([[w.demand.per_year[y] for y in years] for w in inf_ws]).reshape(Wi, Y)
    to_tokens = np.array([w.output_tokens if (isinstance(w, LlmWorkload) and w.demand.unit == "requests_per_s")
                          else 1.0 for w in inf_ws])
    demand = _lognormal(point * to_tokens[:, None], [w.demand.uncertainty for w in inf_ws], z[:Wi])
    scale = 1.0 + forecast.headroom

    # -- stage 2: replicas and slot accelerators, chunked over samples ---------------------------
    acc = np.zeros((len(all_ws), Y, P, S))
    hbm = np.zeros((len(all_ws), Y, P, S))
    # seconds of one replica per unit of demand; a replica size that cannot serve costs "infinitely"
    inv_thr = np.where(thr > 0, 1.0 / np.where(thr > 0, thr, 1.0), 1e30)
    safe_thr = np.where(thr > 0, thr, np.nan)
    chunk = max(MIN_CHUNK_SAMPLES, CHUNK_ELEMENTS // max(1, Wi * Y * P * Nc))
    slot_b = np.where(np.isfinite(slot), slot, 1e30)[None, None, :, None, :]  # padding sizes never win
    w_i, p_i = np.arange(Wi)[:, None, None, None], np.arange(P)[None, None, :, None]
    for start in range(0, S, chunk):
        s = slice(start, min(S, start + chunk))
        k = scenario_of_sample[s]
        d = demand[:, :, None, s, None] * scale  # (Wi, Y, 1, Sc, 1)
        cost = d * inv_thr[:, :, k, :][:, None]  # (Wi, Y, P, Sc, Nc), in place: replicas, then their slots
        np.ceil(cost, out=cost)
        np.multiply(cost, slot_b, out=cost)
        best = np.argmin(cost, axis=-1)  # (Wi, Y, P, Sc)
        acc[:Wi, :, :, s] = np.take_along_axis(cost.reshape(-1, Nc), best.reshape(-1, 1), axis=-1).reshape(best.shape)
        k_i = k[None, None, None, :]
        # the chosen size's replicas, recomputed as above (the same float operations)
        chosen_reps = np.ceil(d[..., 0] * inv_thr[w_i, p_i, k_i, best])
        hbm[:Wi, :, :, s] = chosen_reps * mem_rep[w_i, p_i, k_i, best]
        configurations += int(cost.size)
        if progress is not None:
            progress(min(S, start + chunk) / S)

    # nominal configuration per workload/year/platform at the P50 demand
    nominal_choice = np.full((len(all_ws), Y, P), -1)
    nominal_replicas = np.zeros((len(all_ws), Y, P))
    if Wi:
        med = point * to_tokens[:, None] * np.array([w.demand.uncertainty.median_factor for w in inf_ws])[:, None]
        reps = np.ceil(med[:, :, None, None] * scale / safe_thr[:, None, :, 0, :])
        cost = np.where(np.isnan(reps), np.inf, reps * slot[None, None])
        choice = np.argmin(cost, axis=-1)
        nominal_choice[:Wi] = np.where(med[:, :, None] > 0, choice, -1)
        nominal_replicas[:Wi] = np.take_along_axis(np.nan_to_num(reps, nan=0.0), choice[..., None], axis=-1)[..., 0]

    # -- training -------------------------------------------------------------------------------
    trn_nominal = np.zeros((Wt, P))
    for w in trn_ws:  # training needs its format in hardware (FP4 training: Blackwell only)
        for pid in platform_ids:
            if not catalog.platforms[pid].supports(w.precision):
                ok = ", ".join(p for p in PRECISIONS if catalog.platforms[pid].supports(p))
                raise InputError(forecast.source, f"{w.path}.precision",
                                 f"{pid} has no {w.precision} training support; allowed there: {ok}. "
                                 "Change precision, or leave the platform out with --platform")
    if trn_ws:
        trn_acc, trn_hbm, trn_nominal = _training(catalog, forecast, trn_ws, sc, scenario_of_sample, z[Wi:],
                                                  usable)
        acc[Wi:] = trn_acc
        hbm[Wi:] = trn_hbm
        configurations += int(trn_acc.size)

    # a training run is busy for its deadline in each year it is active (time-bounded, not a year)
    busy = np.array([w.mean_to_peak for w in inf_ws] + [min(1.0, w.deadline_days / 365.0) for w in trn_ws])
    out_tok = np.zeros((len(all_ws), Y, S))
    is_llm_tokens = np.array([isinstance(w, LlmWorkload) for w in inf_ws], dtype=bool)
    out_tok[:Wi] = np.where(is_llm_tokens[:, None, None], demand, 0.0)
    tok_ratio = np.array(
        [(w.input_tokens + w.output_tokens) / w.output_tokens if isinstance(w, LlmWorkload) else 0.0
         for w in all_ws]
    )
    return Sizing(
        forecast=forecast,
        platform_ids=tuple(platform_ids),
        software=sc.stacks,
        scenarios=sc,
        scenario_of_sample=scenario_of_sample,
        workload_names=tuple(w.name for w in all_ws),
        workload_kinds=tuple(w.kind for w in all_ws),
        in_factory=np.array([w.placement != "edge" for w in all_ws], dtype=bool),
        sizes=sizes,
        slot=slot,
        accelerators=acc,
        hbm_required_bytes=hbm,
        busy_fraction=busy,
        mean_to_peak=np.array([w.mean_to_peak for w in inf_ws] + [0.0] * Wt),
        output_tokens_per_s=out_tok,
        tokens_per_output_token=tok_ratio,
        nominal_choice=nominal_choice,
        nominal_replicas=nominal_replicas,
        detail=detail,
        training_accelerators_nominal=trn_nominal,
        configurations=configurations,
    )


def training_need(catalog: Catalog, models: ModelArrays, precisions: list[str], tokens: np.ndarray,
                  seq_len: np.ndarray, deadline_s: np.ndarray, sc: Scenarios,
                  usable: float, scenario_of: np.ndarray | None = None) -> np.ndarray:
    """Real-valued accelerators per (run, platform, scenario, tokens sample).

    ``tokens`` is (Wt, X) samples; returns (Wt, P, K, X) before residual and packing, or with
    ``scenario_of`` (X,) (the scenario of each sample) (Wt, P, X): each sample only at its scenario.
    """
    def at(a: np.ndarray) -> np.ndarray:  # (..., K) -> (..., K, 1), or (..., X) at each sample's scenario
        if scenario_of is None:
            return a[..., None]
        return a if a.shape[-1] == 1 else a[..., scenario_of]  # a constant over scenarios broadcasts as is

    def run(a: np.ndarray) -> np.ndarray:  # (Wt,) -> broadcast against the result
        return a[:, None, None, None] if scenario_of is None else a[:, None, None]

    prec = np.array([PRECISIONS.index(p) for p in precisions])
    peak = np.moveaxis(sc.peak_flops[:, :, prec], 2, 0)  # (Wt, P, K)
    prec_arr = np.array(precisions)[:, None, None]
    ratio = np.where(prec_arr == "fp8", sc.eff["fp8_training_mfu_ratio"][None],
                     np.where(prec_arr == "fp4", sc.eff["fp4_training_mfu_ratio"][None], 1.0))
    total = tokens * training.flops_per_token(models, seq_len)[:, None]  # (Wt, X)
    samples = total[:, None, None, :] if scenario_of is None else total[:, None, :]
    n = training.accelerators_for_deadline(
        samples, run(deadline_s), at(peak), at(sc.eff["mfu_at_1024"][None]), at(sc.eff["mfu_scale_exponent"][None]),
        at(ratio),
    )
    n = n / at(sc.training_residual[None])  # the training calibration's spread, not serving's
    floor = training.memory_floor(
        run(models.total_params), catalog.training["state_bytes_per_param"].nominal,
        catalog.training["activation_overhead"].nominal, at(sc.hbm_bytes[None]), usable,
    )
    return np.maximum(n, floor)


def _training(catalog: Catalog, forecast: Forecast, ws: list[TrainingWorkload], sc: Scenarios,
              scenario_of_sample: np.ndarray, z: np.ndarray,
              usable: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accelerators a run holds while it runs (W, Y, P, S): its deadline is the target, so no demand
    headroom is added (the token count's uncertainty is sampled)."""
    years = forecast.years
    P, S = len(sc.platform_ids), z.shape[1]
    models = ModelArrays.of([w.model for w in ws])
    med = np.array([w.tokens_b * 1e9 * w.uncertainty.median_factor for w in ws])
    sig = np.array([w.uncertainty.sigma for w in ws])
    tokens = med[:, None] * np.exp(sig[:, None] * z)  # (Wt, S)
    seq = np.array([w.seq_len for w in ws])
    deadline = np.array([w.deadline_days * 86400.0 for w in ws])
    precs = [w.precision for w in ws]
    # (Wt, P, K, S) is small: K scenarios x S samples only for the few training runs
    need = training_need(catalog, models, precs, tokens, seq, deadline, sc, usable, scenario_of_sample)  # (Wt, P, S)
    domain = sc.domain_accelerators[None, :, None].astype(float)
    rounded = np.where(need <= domain, 2.0 ** np.ceil(np.log2(np.maximum(need, 1.0))), need)
    slots = slot_accelerators(np.minimum(rounded, np.where(need <= domain, domain, np.inf)), domain)
    active = np.array([[y in w.years for y in years] for w in ws])  # (Wt, Y)
    acc = np.where(active[:, :, None, None], slots[:, None], 0.0)
    state = models.total_params * catalog.training["state_bytes_per_param"].nominal
    hbm = np.where(active[:, :, None, None], state[:, None, None, None], 0.0) * np.ones((1, 1, P, S))
    nominal = training_need(catalog, models, precs, med[:, None], seq, deadline, sc, usable)[:, :, 0, 0]
    return acc, hbm, nominal
