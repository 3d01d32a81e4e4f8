"""The hardware catalog: sourced figures per platform, and Monte Carlo scenarios drawn from them.

`data/hardware.yaml` holds every hardware, price and efficiency figure the engine uses. A figure is
a value or a low/high range with its kind (published, range, derived, assumption) and source.
:func:`scenarios` turns the catalog into arrays of shape (platforms, scenarios): scenario 0 is the
nominal catalog (range midpoints), the others sample uniformly inside each range, so the plan's
bands include what the sources disagree on.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from sizing.errors import InputError

PRECISIONS = ("fp4", "fp8", "bf16")
GIB = 2**30
KINDS = ("published", "range", "derived", "assumption")


@dataclass(frozen=True)
class Figure:
    """One catalog number: a value, or a low/high range, with where it comes from."""

    low: float
    high: float
    kind: str
    source: str
    note: str = ""

    @property
    def nominal(self) -> float:
        return 0.5 * (self.low + self.high)

    @property
    def is_range(self) -> bool:
        return self.high != self.low

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "source": self.source}
        if self.is_range:
            out.update(low=self.low, high=self.high)
        else:
            out["value"] = self.low
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Efficiency:
    """Achievable fractions of peak and runtime limits of one serving software stack on one
    platform family (TensorRT-LLM or vLLM on NVIDIA; open-source or AWS-managed Neuron on Trainium).

    ``software_generations`` maps an older software generation (as named in calibration rows) to
    its throughput relative to ``software``, the generation the constants describe. A stack that is
    not ``fitted`` has no public measurement: its constants derive from ``relative_to``'s, its
    ``claims`` say what the assumption rests on and ``extra_sigma`` widens its bands.
    """

    family: str
    software: str
    figures: dict[str, Figure]
    software_generations: dict[str, float] = field(default_factory=dict)
    stack: str = ""
    default: bool = False
    fitted: bool = True
    relative_to: str = ""
    extra_sigma: float = 0.0
    claims: str = ""

    def value(self, name: str) -> float:
        return self.figures[name].nominal

    @property
    def basis(self) -> str:
        """measured (fitted on calibration rows) or assumption (no public measurement)."""
        return "measured" if self.fitted else "assumption"


@dataclass(frozen=True)
class Platform:
    """A platform: one accelerator type in its scale-up domain (UltraServer, NVL72 rack, HGX)."""

    id: str
    name: str
    accelerator: str
    family: str
    domain_name: str
    domain_accelerators: int
    accelerators_per_instance: int
    instance_type: str
    instance_type_confirmed: bool
    calibration_basis: str
    efa_layout: str
    ami_parameter: str
    cpu_architecture: str
    liquid_cooled: bool
    figures: dict[str, Figure] = field(repr=False)
    dense_tflops: dict[str, Figure | None] = field(repr=False)

    @property
    def instances_per_domain(self) -> int:
        return self.domain_accelerators // self.accelerators_per_instance

    def supports(self, precision: str) -> bool:
        return self.dense_tflops.get(precision) is not None

    def figure(self, name: str) -> Figure | None:
        return self.figures.get(name)


@dataclass(frozen=True)
class Catalog:
    version: str
    sources: dict[str, str]
    platforms: dict[str, Platform]
    precisions: dict[str, dict[str, Any]]
    efficiency: dict[str, Efficiency]
    facility: dict[str, Figure]
    training: dict[str, Figure]

    def platform(self, platform_id: str, *, source: str = "command line", path: str = "platform") -> Platform:
        if platform_id not in self.platforms:
            raise InputError(source, path, f"unknown platform {platform_id!r}; allowed: {', '.join(self.platforms)}")
        return self.platforms[platform_id]

    def stacks_of(self, family: str) -> list[str]:
        return [k for k, e in self.efficiency.items() if e.family == family]

    def default_stack(self, family: str) -> str:
        return next(k for k, e in self.efficiency.items() if e.family == family and e.default)

    def stack_for(self, platform: Platform, stack: str | None = None, *, source: str = "command line",
                  path: str = "--software") -> str:
        """The stack id serving ``platform``: ``stack`` if given (checked), else the family default."""
        if stack is None:
            return self.default_stack(platform.family)
        allowed = self.stacks_of(platform.family)
        if stack not in allowed:
            raise InputError(source, path, f"unknown software stack {stack!r} for {platform.id} "
                             f"({platform.family}); allowed: {', '.join(allowed)}")
        return stack

    def efficiency_of(self, platform: Platform, stack: str | None = None) -> Efficiency:
        return self.efficiency[self.stack_for(platform, stack)]

    def prediction_sigma(self, platform: Platform, kind: str = "inference", stack: str | None = None) -> float:
        """Lognormal sigma of a prediction on this platform: the stack's calibration residual, the
        platform's extrapolation (no or few measurements) and, for an unmeasured stack, its own
        assumption spread, in quadrature."""
        eff = self.efficiency_of(platform, stack)
        name = "training_residual_sigma" if kind == "training" else "residual_sigma"
        extra = platform.figure("extrapolation_sigma")
        ext = extra.nominal if extra is not None else 0.0
        return float(np.sqrt(eff.value(name) ** 2 + ext**2 + eff.extra_sigma**2))

    def weight_bytes_per_param(self, precision: str) -> float:
        fig: Figure = self.precisions[precision]["weight_bytes_per_param"]
        return fig.nominal

    def kv_bytes_per_element(self, precision: str) -> float:
        fig: Figure = self.precisions[precision]["kv_bytes_per_element"]
        return fig.nominal

    def attention_rate(self, precision: str) -> str:
        return str(self.precisions[precision]["attention_rate"])


def _figure(raw: Any, where: str) -> Figure:
    if not isinstance(raw, dict):
        raise ValueError(f"catalog {where}: expected a mapping with value or low/high, got {raw!r}")
    kind = raw.get("kind", "published")
    if kind not in KINDS:
        raise ValueError(f"catalog {where}: kind {kind!r} not in {KINDS}")
    if "value" in raw:
        low = high = float(raw["value"])
    else:
        low, high = float(raw["low"]), float(raw["high"])
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise ValueError(f"catalog {where}: bad range {low}..{high}")
    return Figure(low, high, kind, str(raw.get("source", "")), str(raw.get("note", "")))


_PLATFORM_FIGURES = (
    "hbm_gib", "hbm_tb_per_s", "scaleup_tb_per_s", "efa_gbit_per_s_per_instance",
    "domain_it_power_kw", "domain_capex_usd", "accelerator_hour_usd", "extrapolation_sigma", "network_cards",
    "vcpus_per_instance",
)


def parse_catalog(doc: dict[str, Any]) -> Catalog:
    """Build a :class:`Catalog` from the parsed hardware.yaml document."""
    platforms: dict[str, Platform] = {}
    for pid, raw in doc["platforms"].items():
        figures = {
            name: _figure(raw[name], f"{pid}.{name}")
            for name in _PLATFORM_FIGURES
            if raw.get(name) is not None
        }
        tflops = {
            prec: (_figure(raw["dense_tflops"][prec], f"{pid}.dense_tflops.{prec}")
                   if raw["dense_tflops"].get(prec) is not None else None)
            for prec in PRECISIONS
        }
        domain = _figure(raw["domain_accelerators"], f"{pid}.domain_accelerators")
        per_inst = _figure(raw["accelerators_per_instance"], f"{pid}.accelerators_per_instance")
        figures["domain_accelerators"] = domain
        figures["accelerators_per_instance"] = per_inst
        if int(domain.nominal) % int(per_inst.nominal):
            raise ValueError(f"catalog {pid}: domain size not a multiple of accelerators per instance")
        if raw["efa_layout"] not in ("recommended", "even-efa"):
            raise ValueError(f"catalog {pid}: efa_layout must be recommended or even-efa")
        platforms[pid] = Platform(
            id=pid,
            name=raw["name"],
            accelerator=raw["accelerator"],
            family=raw["family"],
            domain_name=raw["domain_name"],
            domain_accelerators=int(domain.nominal),
            accelerators_per_instance=int(per_inst.nominal),
            instance_type=raw["instance_type"]["value"],
            instance_type_confirmed=bool(raw["instance_type"]["confirmed"]),
            calibration_basis=raw.get("calibration_basis", ""),
            efa_layout=str(raw["efa_layout"]),
            ami_parameter=str(raw["ami_parameter"]),
            cpu_architecture=str(raw["cpu_architecture"]),
            liquid_cooled=bool(raw["liquid_cooled"]),
            figures=figures,
            dense_tflops=tflops,
        )
    precisions = {
        prec: {
            "weight_bytes_per_param": _figure(spec["weight_bytes_per_param"], f"precisions.{prec}"),
            "kv_bytes_per_element": _figure(spec["kv_bytes_per_element"], f"precisions.{prec}"),
            "attention_rate": spec["attention_rate"],
        }
        for prec, spec in doc["precisions"].items()
    }
    efficiency = parse_efficiency(doc["efficiency"])
    for p in platforms.values():
        defaults = [k for k, e in efficiency.items() if e.family == p.family and e.default]
        if len(defaults) != 1:
            raise ValueError(f"catalog {p.id}: family {p.family!r} needs exactly one default stack, has {defaults}")
    return Catalog(
        version=str(doc["catalog_version"]),
        sources=dict(doc["sources"]),
        platforms=platforms,
        precisions=precisions,
        efficiency=efficiency,
        facility={k: _figure(v, f"facility.{k}") for k, v in doc["facility"].items()},
        training={k: _figure(v, f"training.{k}") for k, v in doc["training"].items()},
    )


def parse_efficiency(doc: dict[str, Any]) -> dict[str, Efficiency]:
    """The ``stacks`` mapping of efficiency.yaml (or efficiency_priors.yaml).

    A stack with ``relative`` factors takes ``relative_to``'s constants times those factors, then its
    own ``constants`` on top: the derivation is written in each constant's note.
    """
    raw_stacks: dict[str, Any] = doc["stacks"]
    out: dict[str, Efficiency] = {}
    for sid, spec in sorted(raw_stacks.items(), key=lambda kv: bool(kv[1].get("relative_to"))):
        figures = {k: _figure(v, f"efficiency.{sid}.{k}") for k, v in spec.get("constants", {}).items()}
        base_id = str(spec.get("relative_to", ""))
        if base_id:
            if base_id not in out:
                raise ValueError(f"efficiency.{sid}: relative_to {base_id!r} is not a stack")
            figures = _relative(out[base_id], spec.get("relative", {}), figures, sid)
        out[sid] = Efficiency(
            family=str(spec["family"]), software=str(spec["software"]), figures=figures,
            software_generations={str(k): float(v) for k, v in spec.get("software_generations", {}).items()},
            stack=sid, default=bool(spec.get("default", False)), fitted=bool(spec.get("fitted", True)),
            relative_to=base_id, extra_sigma=float(spec.get("extra_sigma", 0.0)), claims=str(spec.get("claims", "")),
        )
    return {k: out[k] for k in raw_stacks}


def _relative(base: Efficiency, factors: dict[str, Any], own: dict[str, Figure], sid: str) -> dict[str, Figure]:
    """``base``'s figures, scaled by ``factors`` ({name: {value, note}}), with ``own`` figures on top."""
    out = {}
    for name, fig in base.figures.items():
        f = factors.get(name)
        if f is None:
            out[name] = Figure(fig.low, fig.high, "assumption", fig.source,
                               f"no {sid} measurement: {base.stack}'s value, carried over")
        else:
            v = float(f["value"])
            out[name] = Figure(fig.low * v, fig.high * v, "assumption", fig.source,
                               f"{base.stack}'s value x {v:g}: {f.get('note', '')}")
    return {**out, **own}


def _data(name: str) -> Any:
    return yaml.safe_load(resources.files("sizing").joinpath(f"data/{name}").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """The catalog shipped in the package: hardware.yaml plus the fitted efficiency.yaml."""
    doc = dict(_data("hardware.yaml"))
    doc["efficiency"] = _data("efficiency.yaml")
    return parse_catalog(doc)


# ---------------------------------------------------------------------------------------------
# Scenarios: the catalog as arrays over (platform, scenario)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenarios:
    """Catalog figures as float64 arrays of shape (P, K); scenario 0 is the nominal catalog.

    Units are SI in the arrays (bytes, bytes/s, FLOP/s, W, USD) whatever the catalog stores.
    """

    platform_ids: tuple[str, ...]
    stacks: tuple[str, ...]  # serving software stack per platform
    domain_accelerators: np.ndarray  # (P,) int
    accelerators_per_instance: np.ndarray  # (P,) int
    hbm_bytes: np.ndarray
    hbm_bytes_per_s: np.ndarray
    peak_flops: np.ndarray  # (P, K, 3) for fp4, fp8, bf16; NaN where unsupported
    scaleup_bytes_per_s: np.ndarray
    scaleout_bytes_per_s: np.ndarray  # EFA per accelerator
    domain_power_w: np.ndarray
    domain_capex_usd: np.ndarray  # NaN where no capex figure
    accelerator_hour_usd: np.ndarray  # NaN where no price
    facility_capex_usd_per_w: np.ndarray  # (K,)
    residual: np.ndarray  # lognormal multiplier on serving throughput; 1 in scenario 0
    training_residual: np.ndarray  # the same draw at the training residual's sigma (training throughput)
    eff: dict[str, np.ndarray]  # efficiency constant name -> (P, 1)

    @property
    def count(self) -> int:
        return int(self.hbm_bytes.shape[1])


def _draw(fig: Figure | None, u: np.ndarray) -> np.ndarray:
    """Values of a figure at uniform quantiles ``u`` (scenario 0 gets the midpoint)."""
    if fig is None:
        return np.full(u.shape, np.nan)
    out = fig.low + (fig.high - fig.low) * u
    out[0] = fig.nominal
    return out


def platform_stream(seed: int, platform_id: str) -> np.random.Generator:
    """The random stream of one platform's catalog draws: keyed on the seed and the platform id, so a
    platform's figures do not depend on which other platforms are compared (one answer)."""
    return np.random.default_rng([seed, 2, zlib.crc32(platform_id.encode("utf-8"))])


def scenarios(catalog: Catalog, platform_ids: list[str], count: int, seed: int = 0,
              stacks: Sequence[str | None] | None = None) -> Scenarios:
    """Draw ``count`` catalog scenarios for the given platforms (deterministic for a given seed).

    Each platform draws from its own stream (:func:`platform_stream`); ``stacks`` (parallel to
    ``platform_ids``) names the serving stack whose constants each gets (None: its family's default).
    A platform may appear twice with different stacks.
    """
    P, K = len(platform_ids), count
    plats = [catalog.platforms[p] for p in platform_ids]
    chosen = tuple(catalog.stack_for(p, st) for p, st in zip(plats, stacks or [None] * P, strict=True))
    n_fields = 8
    u = np.empty((P, n_fields, K))
    z = np.empty((P, K))
    for i, pid in enumerate(platform_ids):
        rng = platform_stream(seed, pid)
        u[i] = rng.random((n_fields, K))
        z[i] = rng.standard_normal(K)
    u_fac = np.random.default_rng([seed, 3]).random(K)

    def per(field_index: int, name: str, scale: float) -> np.ndarray:
        return np.stack([_draw(p.figure(name), u[i, field_index].copy()) * scale for i, p in enumerate(plats)])

    peak = np.full((P, K, 3), np.nan)
    for i, p in enumerate(plats):
        for j, prec in enumerate(PRECISIONS):
            fig = p.dense_tflops[prec]
            if fig is not None:
                peak[i, :, j] = _draw(fig, u[i, 7].copy()) * 1e12
    sigma = np.array([catalog.prediction_sigma(p, stack=st) for p, st in zip(plats, chosen, strict=True)])[:, None]
    residual = np.exp(sigma * z - 0.5 * sigma**2)
    residual[:, 0] = 1.0
    sigma_t = np.array([catalog.prediction_sigma(p, "training", stack=st)
                        for p, st in zip(plats, chosen, strict=True)])[:, None]
    training_residual = np.exp(sigma_t * z - 0.5 * sigma_t**2)  # one draw: a platform's serving and
    training_residual[:, 0] = 1.0  # training errors move together, each at its own spread
    effs = [catalog.efficiency[st] for st in chosen]
    eff_names = sorted({name for e in catalog.efficiency.values() for name in e.figures})
    eff = {name: np.array([[e.value(name) if name in e.figures else np.nan] for e in effs]) for name in eff_names}
    fac = _draw(catalog.facility["facility_capex_usd_per_it_mw"], u_fac.copy()) / 1e6
    return Scenarios(
        platform_ids=tuple(platform_ids),
        stacks=chosen,
        domain_accelerators=np.array([p.domain_accelerators for p in plats]),
        accelerators_per_instance=np.array([p.accelerators_per_instance for p in plats]),
        hbm_bytes=per(0, "hbm_gib", GIB),
        hbm_bytes_per_s=per(1, "hbm_tb_per_s", 1e12),
        peak_flops=peak,
        scaleup_bytes_per_s=per(2, "scaleup_tb_per_s", 1e12),
        scaleout_bytes_per_s=per(6, "efa_gbit_per_s_per_instance", 1e9 / 8)
        / np.array([[p.accelerators_per_instance] for p in plats]),
        domain_power_w=per(3, "domain_it_power_kw", 1e3),
        domain_capex_usd=per(4, "domain_capex_usd", 1.0),
        accelerator_hour_usd=per(5, "accelerator_hour_usd", 1.0),
        facility_capex_usd_per_w=fac,
        residual=residual,
        training_residual=training_residual,
        eff=eff,
    )
