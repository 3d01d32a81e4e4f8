"""The sizing report: one self-contained HTML page (inline CSS and SVG, no network) from the plan.

Every number on the page is printed through :class:`Facts`, as a span carrying the figure's key and
its exact value. A key is a namespace and a JSON Pointer (RFC 6901) into that namespace's document:
``plan:/platforms/trn3/years/2031/domains/provisioned``, ``calibration:/mape_all``,
``inventory:/by_type/aws:ec2~1instance:Instance``; names may hold any character (a workload named
``citizen-assistant-v1.2`` is one segment). A test resolves each key against the engine's own output
and checks the page shows exactly that figure, formatted by the one number formatter.

The page has a main body (the decision: headline, money, power, build-out, utilisation, training,
serving curves, what drives the count) and an appendix (year-by-year tables, workloads, catalog,
calibration, offline inventory) that starts on a new printed page.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from aifactory.numfmt import fmt
from aifactory.report_appendix import appendix_context
from aifactory.report_sections import main_context

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

__all__ = ["Facts", "calibration_summary", "fmt", "inventory_summary", "pointer", "recommend", "render"]


def pointer(parts: tuple[Any, ...]) -> str:
    """A JSON Pointer (RFC 6901) to ``parts``: ``/a/b~1c`` for ``("a", "b/c")``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def lookup(doc: Any, parts: tuple[Any, ...]) -> Any:
    for part in parts:
        doc = doc[part] if isinstance(doc, dict) else doc[int(part)]
    return doc


@dataclass
class Facts:
    """Every number the page prints, by key; ``sources`` maps a namespace to its document."""

    sources: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)

    def __call__(self, namespace: str, *parts: Any, kind: str = "int") -> Markup:
        """The figure at ``parts`` of ``namespace``, printed and tagged."""
        return self.tag(f"{namespace}:{pointer(parts)}", lookup(self.sources[namespace], parts), kind)

    def tag(self, key: str, value: Any, kind: str) -> Markup:
        self.values[key] = value
        return Markup(f'<span class="num" data-key="{escape(key)}" data-kind="{kind}" '
                      f'data-value="{escape(repr(value))}">{escape(fmt(value, kind))}</span>')

    def plan(self, *parts: Any, kind: str = "int") -> Markup:
        return self("plan", *parts, kind=kind)

    def band(self, *parts: Any, kind: str = "int") -> dict[str, Markup]:
        """A banded plan figure: the provisioned value (P50 where none) and its P10-P90 range."""
        doc = lookup(self.sources["plan"], parts)
        centre = "provisioned" if doc.get("provisioned") is not None or "p50" not in doc else "p50"
        return {"value": self.plan(*parts, centre, kind=kind), "low": self.plan(*parts, "p10", kind=kind),
                "high": self.plan(*parts, "p90", kind=kind)}


def recommend(plan: dict[str, Any]) -> tuple[str, list[str]]:
    """The recommended platform and the basis of the choice: the engine's answer
    (``sizing.recommendation``), carried in the plan as ``recommendation``."""
    rec = plan["recommendation"]
    return str(rec["platform"]), [str(rec.get("basis", ""))]


@functools.cache
def _template() -> jinja2.Template:
    """The page template, compiled once per process."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2")


def render(plan: dict[str, Any], calibration: dict[str, Any] | None = None,
           inventory: dict[str, Any] | None = None) -> tuple[str, Facts]:
    """The page and the figures it prints."""
    for name, doc in (("calibration", calibration), ("inventory", inventory)):
        if doc is not None and not isinstance(doc, dict):  # e.g. a Forecast passed where render once took one
            raise TypeError(f"render: {name} must be a dict or None, not {type(doc).__name__}")
    facts = Facts({"plan": plan, "calibration": calibration, "inventory": inventory})
    best, _basis = recommend(plan)
    context = main_context(plan, best, facts) | appendix_context(plan, best, facts, calibration, inventory)
    return _template().render(**context), facts


def calibration_summary() -> dict[str, Any]:
    """The engine's calibration error, exactly as benchmarks/accuracy.py reports it."""
    from sizing.calibration import DEFAULT_DIR
    from sizing.fitting import accuracy

    return accuracy(DEFAULT_DIR)[1]


def inventory_summary(forecast: Any, plan: dict[str, Any], forecast_path: str, platform: str) -> dict[str, Any]:
    """The offline plan's resources by component and type (the Pulumi program under mocks), built from
    the very plan the report shows."""
    from infra.offline import run_offline
    from infra.settings import PROJECT, parse_settings

    settings = parse_settings({f"{PROJECT}:forecast": forecast_path, "aws:region": forecast.site.region,
                               f"{PROJECT}:platform": platform}, "report")
    m = run_offline(settings, sized=(forecast, plan))
    return {"platform": platform, "year": m.blueprint.build_year, "domains_planned": m.blueprint.domains_planned,
            "resource_count": len(m.custom()),
            "by_component": dict(sorted(m.by_component().items())),
            "by_type": dict(sorted(m.by_type().items(), key=lambda kv: (-kv[1], kv[0]))),
            "violations": [str(v) for v in m.check().violations]}
