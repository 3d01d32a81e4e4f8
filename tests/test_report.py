"""The sizing report: its sections, every number equal to the engine's figure, and a real browser."""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from aifactory.cli import main
from aifactory.report import calibration_summary, fmt, inventory_summary, recommend, render
from sizing.forecast import load_forecast
from sizing.plan import make_plan
from tests.conftest import EXAMPLE

SECTIONS = ("headline", "comparison", "buildout", "demand", "power", "workloads", "assumptions", "inventory")


class Spans(HTMLParser):
    """Collects tagged numbers (key, kind, value, text) and the page's text outside them (quoted source
    material, marked class="src", is set aside: catalog notes and source titles quote their own figures)."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[dict[str, str]] = []
        self.text: list[str] = []
        self.ids: set[str] = set()
        self._span: dict[str, str] | None = None
        self._skip = 0
        self._stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag in ("svg", "style", "footer", "title") or (tag == "span" and a.get("class") == "src"):
            self._skip += 1
            self._stack.append(tag)
        elif tag == "span":
            self._stack.append("plain")
        if tag == "span" and a.get("class") == "num":
            self._span = {"key": a["data-key"], "kind": a["data-kind"], "value": a["data-value"], "text": ""}

    def handle_endtag(self, tag):
        if tag in ("svg", "style", "footer", "title") or tag == "span":
            opened = self._stack.pop() if self._stack else None
            if opened not in (None, "plain"):
                self._skip -= 1
        if tag == "span" and self._span is not None:
            self.spans.append(self._span)
            self._span = None

    def handle_data(self, data):
        if self._span is not None:
            self._span["text"] += data
        elif not self._skip:
            self.text.append(data)


@pytest.fixture(scope="module")
def report():
    forecast = load_forecast(EXAMPLE)
    plan = make_plan(forecast, samples=1500)
    calibration = calibration_summary()
    best, _ = recommend(plan)
    inventory = inventory_summary(forecast, plan, str(EXAMPLE), best)
    html, facts = render(plan, forecast, calibration, inventory)
    parser = Spans()
    parser.feed(html)
    return {"html": html, "plan": plan, "calibration": calibration, "inventory": inventory, "parser": parser,
            "facts": facts}


def resolve(key: str, sources: dict) -> object:
    namespace, path = key.split(":", 1)
    doc = sources[namespace]
    if namespace == "inventory" and path.startswith(("by_component.", "by_type.")):
        head, tail = path.split(".", 1)
        return doc[head][tail]
    if namespace == "calibration" and path.startswith("per_platform."):
        return doc["per_platform"][path.split(".", 1)[1]]
    for part in path.split("."):
        doc = doc[part]
    return doc


def test_every_section_is_there(report):
    assert set(SECTIONS) <= report["parser"].ids
    html = report["html"]
    for needle in ("Headline: what to build by 2031", "Platforms side by side", "Year-by-year build-out",
                   "Demand by application and placement", "Power, facility and memory budget", "Workloads (2031)",
                   "Assumptions and sources", "Offline preview"):
        assert needle in html
    for app in ("chatbot", "software development", "image generation", "video generation", "business operations",
                "manufacturing"):
        assert app in html
    assert "edge (reported, not built in the factory)" in html and "shopfloor-copilot" in html
    assert html.count("<svg") == 3


def test_every_number_on_the_page_is_the_engines(report):
    sources = {"plan": report["plan"], "calibration": report["calibration"], "inventory": report["inventory"]}
    spans = report["parser"].spans
    assert len(spans) > 500
    for s in spans:
        value = resolve(s["key"], sources)
        assert s["value"] == repr(value), s["key"]
        assert s["text"] == fmt(value, s["kind"]), s["key"]


def test_no_untagged_figures_outside_the_tagged_spans(report):
    text = " ".join(report["parser"].text)
    loose = [n.rstrip(",.") for n in re.findall(r"(?<![\w.\-])\d[\d,.]*(?![\w\-])", text)]
    # what may stand untagged: years, percentile labels (P10/P90 are written as words above), zero-width
    allowed = {str(y) for y in range(2020, 2101)} | {"10", "90", "50", "99"}
    assert [n for n in loose if n not in allowed] == []


def test_inventory_is_built_from_the_plan_the_page_shows(report):
    plan, inv = report["plan"], report["inventory"]
    year = str(inv["year"])
    assert inv["domains_planned"] == plan["platforms"][inv["platform"]]["years"][year]["domains"]["provisioned"]


def test_headline_names_the_recommended_platform_and_its_figures(report):
    plan, html = report["plan"], report["html"]
    best, _ = recommend(plan)
    final = plan["platforms"][best]["years"]["2031"]
    assert f"<strong>Recommended: {plan['platforms'][best]['name']}</strong>" in html
    shown = {s["key"] for s in report["parser"].spans}
    for figure in ("domains", "accelerators", "facility_power_mw", "hbm_provisioned_tb", "cost_usd",
                   "usd_per_million_tokens"):
        assert f"plan:platforms.{best}.years.2031.{figure}.provisioned" in shown
    assert final["power_cap_met"]


def test_catalog_figures_carry_their_sources(report):
    html = report["html"]
    assert "N-T3" in html and "AWS Neuron docs" in html and "assumption" in html and "range" in html
    assert "Trn3 performance is derived from Trn2 calibration" in html


def test_page_is_self_contained(report):
    html = report["html"]
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert "url(" not in html and "<script" not in html and "@import" not in html
    assert "@page { size: A4" in html and "@media print" in html


def test_report_command_writes_the_page(tmp_path, capsys):
    out = tmp_path / "r.html"
    code = main(["report", str(EXAMPLE), "--out", str(out), "--samples", "800", "--no-inventory"])
    captured = capsys.readouterr()
    assert code == 0 and out.exists() and "wrote" in captured.out
    assert captured.err == ""  # progress is drawn on a terminal only
    assert 'id="inventory"' not in out.read_text()


def test_report_bad_input_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_page_in_headless_chromium(report, tmp_path):
    browser_path = chromium()
    if browser_path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("chromium not installed on this developer machine (CI installs it)")
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "report.html"
    page_file.write_text(report["html"], encoding="utf-8")
    errors, requests = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")
        shot = Path(os.environ.get("AIFACTORY_SCREENSHOT_DIR", str(tmp_path))) / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        visible_svgs = page.locator("svg.chart").count()
        title = page.title()
        browser.close()
    assert errors == []
    assert requests == [page_file.as_uri()]  # the page itself, nothing else
    assert visible_svgs == 3 and "sovereign AI factory sizing" in title
    assert shot.stat().st_size > 50_000
