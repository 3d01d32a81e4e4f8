"""The sizing report: its sections, every number equal to the engine's figure, the headline against the
power cap, names that hold dots, and a real browser (screen, phone width, and print to PDF)."""

from __future__ import annotations

import copy
import os
import re
import shutil
from collections import Counter
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from aifactory.cli import main
from aifactory.report import calibration_summary, fmt, inventory_summary, recommend, render
from sizing.forecast import load_forecast
from sizing.plan import make_plan
from tests.conftest import EXAMPLE

MAIN = ("headline", "money", "power", "buildout")
APPENDIX = ("appendix", "comparison", "years", "demand", "workloads", "assumptions", "inventory")
MAIN_BODY_PAGES = 6  # the target: a main body of about six A4 pages, the appendix after it


class Spans(HTMLParser):
    """Collects tagged numbers (key, kind, value, text), the ids, the headings, and the page's text
    outside tagged numbers (quoted source material, class="src", is set aside: catalog notes and
    source titles quote their own figures)."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[dict[str, str]] = []
        self.text: list[str] = []
        self.ids: set[str] = set()
        self.headings: list[str] = []
        self._span: dict[str, str] | None = None
        self._heading: str | None = None
        self._skip = 0
        self._stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag in ("h1", "h2", "h3"):
            self._heading = ""
        if tag in ("svg", "style", "footer", "title") or (tag == "span" and a.get("class") == "src"):
            self._skip += 1
            self._stack.append(tag)
        elif tag == "span":
            self._stack.append("plain")
        if tag == "span" and a.get("class") == "num":
            self._span = {"key": a["data-key"], "kind": a["data-kind"], "value": a["data-value"], "text": ""}

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append(self._heading)
            self._heading = None
        if tag in ("svg", "style", "footer", "title") or tag == "span":
            opened = self._stack.pop() if self._stack else None
            if opened not in (None, "plain"):
                self._skip -= 1
        if tag == "span" and self._span is not None:
            self.spans.append(self._span)
            self._span = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data
        if self._span is not None:
            self._span["text"] += data
        elif not self._skip:
            self.text.append(data)


def resolve(key: str, sources: dict[str, Any]) -> Any:
    """A tag's key, ``namespace:/json/pointer``, resolved independently of the report's own code."""
    namespace, pointer = key.split(":", 1)
    assert pointer.startswith("/"), key
    doc = sources[namespace]
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


WHAT_IFS = ("break_even", "power_sensitivity", "alternatives")  # the engine's per-platform what-ifs
STACK_CHOICE = ("by_stack", "depends_on_stack", "stack_note")  # the recommendation across Trainium stacks
TABLE = (("years", "{final}", "domains", "provisioned"), ("years", "{final}", "accelerators", "provisioned"),
         ("years", "{final}", "facility_power_mw", "provisioned"),
         ("years", "{final}", "usd_per_million_tokens", "provisioned"), ("horizon", "capex_usd", "provisioned"),
         ("horizon", "tco_usd", "provisioned"))  # a row of the side-by-side stack table


def what_if_keys(plan: dict[str, Any]) -> Counter:
    """The keys of the figures the page prints from the what-ifs, each as often as it is printed: each
    non-null break-even factor (the sentence, and the stack table's row), each end of the power range,
    the facility MW and $ per million tokens at each end and as planned, and the side-by-side table of
    Trainium stacks (a row per platform as sized and per Trainium alternative)."""
    keys: Counter = Counter()
    table = any(p.get("alternatives") for p in plan["platforms"].values())
    final = str(plan["forecast"]["years"][-1]) if table else ""
    for pid, p in plan["platforms"].items():
        at = f"plan:/platforms/{pid}"
        docs = [(at, p)] + [(f"{at}/alternatives/{st}", a) for st, a in (p.get("alternatives") or {}).items()]
        for where, doc in docs:
            be = doc.get("break_even") or {}
            keys.update({f"{where}/break_even/{k}": 1 + table for k in ("cost_factor", "power_factor")
                         if be.get(k) is not None})
            if table:
                keys.update(f"{where}/" + "/".join(part.format(final=final) for part in row) for row in TABLE)
        if s := p.get("power_sensitivity"):
            keys.update(f"{at}/power_sensitivity/{k}" for k in ("low_kw", "high_kw"))
            keys.update(f"{at}/power_sensitivity/{fig}/{end}" for fig in ("facility_power_mw", "usd_per_million_tokens")
                        for end in ("low", "plan", "high") if s[fig][end] is not None)
    return keys


def without_what_ifs(plan: dict[str, Any]) -> dict[str, Any]:
    plan = copy.deepcopy(plan)
    for p in plan["platforms"].values():
        for key in WHAT_IFS:
            p.pop(key, None)
    for key in STACK_CHOICE:
        plan["recommendation"].pop(key, None)
    return plan


def page(plan, calibration=None, inventory=None) -> dict[str, Any]:
    html, facts = render(plan, calibration, inventory)
    parser = Spans()
    parser.feed(html)
    return {"html": html, "plan": plan, "calibration": calibration, "inventory": inventory, "parser": parser,
            "facts": facts}


@pytest.fixture(scope="module")
def national():
    forecast = load_forecast(EXAMPLE)
    plan = make_plan(forecast, samples=1500)
    calibration = calibration_summary()
    inventory = inventory_summary(forecast, plan, str(EXAMPLE), recommend(plan)[0])
    return page(plan, calibration, inventory)


@pytest.fixture(scope="module")
def full(national):
    """The national page with every section of the contract present: the engine computes each of them
    (the Trainium break-even and the power range included), so nothing is added by hand."""
    plan = national["plan"]
    assert plan.get("pareto") and plan.get("tornado") and plan.get("recommendation")
    assert any(isinstance(p.get("break_even"), dict) for p in plan["platforms"].values())
    assert all(isinstance(p.get("power_sensitivity"), dict) for p in plan["platforms"].values())
    return national


def check_tags(report: dict[str, Any]) -> int:
    sources = {"plan": report["plan"], "calibration": report["calibration"], "inventory": report["inventory"]}
    for s in report["parser"].spans:
        value = resolve(s["key"], sources)
        assert s["value"] == repr(value), s["key"]
        assert s["text"] == fmt(value, s["kind"]), s["key"]
    return len(report["parser"].spans)


def test_every_section_is_there(national, full):
    assert set(MAIN + APPENDIX + ("utilisation", "training", "pareto", "tornado")) <= national["parser"].ids
    html = national["html"]
    for app in ("chatbot", "software development", "image generation", "video generation", "business operations",
                "manufacturing"):
        assert app in html
    assert "edge (reported, not built in the factory)" in html and "shopfloor-copilot" in html
    # the appendix comes after every main-body section
    assert all(html.index(f'id="{s}"') < html.index('id="appendix"') for s in MAIN + ("pareto", "tornado")
               if f'id="{s}"' in html)


def test_every_number_on_the_page_is_the_engines(national, full):
    assert check_tags(full) > 500
    keys = what_if_keys(national["plan"])
    # the national example's Trainium break-even has both factors, and every platform a power range
    # both stacks: the break-even has both factors under each, each shown in words and in the stack table
    assert sum("/break_even/" in k for k in keys) == 4 and {keys[k] for k in keys if "/break_even/" in k} == {2}
    assert sum("/power_sensitivity/" in k for k in keys) == 8 * len(national["plan"]["platforms"])
    shown = [s["key"] for s in national["parser"].spans]
    assert {k: shown.count(k) for k in keys if "/power_sensitivity/" in k or "/alternatives/" in k} == {
        k: n for k, n in keys.items() if "/power_sensitivity/" in k or "/alternatives/" in k}
    # the what-ifs add exactly their own figures to the page, nothing else moves
    bare = page(without_what_ifs(national["plan"]), national["calibration"], national["inventory"])
    assert check_tags(national) == check_tags(bare) + keys.total()
    counts, bare_counts = Counter(shown), Counter(s["key"] for s in bare["parser"].spans)
    assert counts - bare_counts == keys and not bare_counts - counts


def test_no_untagged_figures_outside_the_tagged_spans(national, full):
    for report in (national, full):
        text = " ".join(report["parser"].text)
        loose = [n.rstrip(",.") for n in re.findall(r"(?<![\w.\-])\d[\d,.]*(?![\w\-])", text)]
        # what may stand untagged: years, percentile labels (P10, P90...), the 72 and 144 of the unit note
        allowed = {str(y) for y in range(2020, 2101)} | {"10", "90", "50", "99", "72", "144"}
        assert [n for n in loose if n not in allowed] == []


def test_no_scientific_notation_and_clean_headings(full):
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", full["html"], flags=re.S))  # what is shown
    assert not re.search(r"\d[eE][+-]?\d", text)
    for heading in full["parser"].headings:
        assert "`" not in heading, heading


def test_inventory_is_built_from_the_plan_the_page_shows(national):
    plan, inv = national["plan"], national["inventory"]
    year = str(inv["year"])
    assert inv["domains_planned"] == plan["platforms"][inv["platform"]]["years"][year]["domains"]["provisioned"]


def test_headline_answers_how_many_mw_money_when_and_how_sure(national):
    plan = national["plan"]
    best, _basis = recommend(plan)
    shown = {s["key"] for s in national["parser"].spans}
    for figure in ("domains", "accelerators", "facility_power_mw", "cost_usd"):
        assert f"plan:/platforms/{best}/years/2031/{figure}/provisioned" in shown
    if "recommendation" in plan:
        assert f"plan:/recommendation/cheaper_share/{best}" in shown
        assert f"plan:/platforms/{best}/horizon/tco_usd/provisioned" in shown
    assert f"<h2>The answer: {plan['platforms'][best]['name']}</h2>" in national["html"]


def plan_with_cap(tmp_path: Path, cap: float | None) -> dict[str, Any]:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["site"]["power_cap_mw"] = cap
    path = tmp_path / f"cap-{cap}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return make_plan(load_forecast(path), samples=300)


def peak_mw(plan: dict[str, Any], pid: str) -> float:
    return max(y["facility_power_mw"]["provisioned"] for y in plan["platforms"][pid]["years"].values())


@pytest.fixture(scope="module")
def cap_pages(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("caps")
    free = plan_with_cap(tmp, None)
    peaks = sorted((peak_mw(free, pid), pid) for pid in free["platforms"])
    caps = {"none": None, "met by all": peaks[-1][0] * 2, "missed by one": (peaks[0][0] + peaks[1][0]) / 2,
            "missed by all": peaks[0][0] / 2}
    return peaks, {name: page(plan_with_cap(tmp, cap)) for name, cap in caps.items()}


def answer(report: dict[str, Any]) -> str:
    html = re.sub(r"<[^>]+>", "", report["html"].split('id="money"')[0])
    return re.sub(r"\s+", " ", html)


def test_headline_states_the_power_cap_exactly(cap_pages):
    peaks, pages = cap_pages
    for report in pages.values():
        check_tags(report)
    assert "the forecast sets no site power cap" in answer(pages["none"])
    assert "Power cap exceeded" not in answer(pages["none"])
    for name in ("met by all", "missed by one"):
        text = answer(pages[name])
        assert "within the site's power cap" in text and "Power cap exceeded" not in text, name
    smaller = pages["missed by one"]["plan"]["platforms"][peaks[0][1]]["name"]
    larger = pages["missed by one"]["plan"]["platforms"][peaks[1][1]]["name"]
    assert f"The answer: {smaller}" in answer(pages["missed by one"])
    assert "Over the" in answer(pages["missed by one"]) and larger in answer(pages["missed by one"])
    text = answer(pages["missed by all"])
    assert "within the site's power cap" not in text
    assert "Power cap exceeded" in text and "No platform compared fits" in text
    assert "more than the site's power cap" in text
    if "recommendation" in pages["missed by all"]["plan"]:
        assert "the smallest factory compared needs" in text


def test_a_workload_name_with_dots_and_slashes(tmp_path):
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["workloads"][0]["name"] = "citizen-assistant-v1.2"
    doc["workloads"][1]["name"] = "reasoning/v2~beta"
    path = tmp_path / "dots.yaml"
    path.write_text(yaml.safe_dump(doc))
    report = page(make_plan(load_forecast(path), samples=200))
    assert check_tags(report) > 300
    keys = {s["key"] for s in report["parser"].spans}
    assert any("/workloads/citizen-assistant-v1.2/years/" in k for k in keys)
    assert any("/workloads/reasoning~1v2~0beta/years/" in k for k in keys)


def test_one_platform_alone():
    plan = make_plan(load_forecast(EXAMPLE), platforms=["gb300_nvl72"], samples=200)
    report = page(plan)
    assert check_tags(report) > 200
    text = answer(report)
    assert "Build " in text and "NVL72 racks" in text
    assert "cheaper platform in" not in text and "Only this platform was compared" in text
    assert "parity" not in report["html"] and "UltraServers" not in text


def test_sections_without_data_are_left_out(national):
    plan = copy.deepcopy(national["plan"])
    for key in ("pareto", "tornado", "training"):
        plan.pop(key, None)
    for p in plan["platforms"].values():
        p.pop("training", None)
        for key in WHAT_IFS:
            p.pop(key, None)
    for key in STACK_CHOICE:
        plan["recommendation"].pop(key, None)
    html = page(plan)["html"]
    for section in ("pareto", "tornado", "training", "power-range"):
        assert f'id="{section}"' not in html
    assert "Break-even" not in html and "break_even" not in html and "power_sensitivity" not in html


def factor_tag(pid: str, be: dict[str, Any], key: str, at: str = "") -> str:
    shown = re.escape(fmt(be[key], "factor"))
    return rf'<span class="num" data-key="plan:/platforms/{pid}{at}/break_even/{key}"[^>]*>{shown}</span>'


def break_even_paragraph(report: dict[str, Any], pid: str) -> str:
    """The break-even paragraph, inside the answer box beside the recommendation."""
    head = report["html"].split('id="money"')[0]
    box = head[head.index('<div class="answer">'):]
    start = box.index(f'<p id="break-even-{pid}">')
    return re.sub(r"\s+", " ", box[start:box.index("</p>", start)])


def test_break_even_sentence_when_present(full):
    """A sentence per Trainium platform and stack, naming the stack and whether it is measured."""
    plan = full["plan"]
    trainium = [pid for pid, p in plan["platforms"].items() if isinstance(p.get("break_even"), dict)]
    assert trainium
    for pid in trainium:
        p = plan["platforms"][pid]
        docs = [(pid, "", p["stack"], p["break_even"])] + [
            (f"{pid}-{st}", f"/alternatives/{st}", alt, alt["break_even"]) for st, alt in p["alternatives"].items()]
        assert len(docs) == 2
        for para, at, label, be in docs:
            name, against = p["name"], plan["platforms"][be["against"]]["name"]
            cost, power = factor_tag(pid, be, "cost_factor", at), factor_tag(pid, be, "power_factor", at)
            stack = re.escape(f'(stack: <span class="src">{be["software"]}</span>, {label["basis"]})')
            assert be["software"] == label["software"]
            assert re.search(rf"Break-even {stack}:</strong> {re.escape(name)} on {be['software']} "
                             rf"costs no more per million tokens than {re.escape(against)} if its serving throughput "
                             rf"reaches at least {cost} what this stack is predicted to reach; "
                             rf"it draws no more facility power from {power}\.", break_even_paragraph(full, para))


def test_a_null_break_even_factor_is_said_with_its_reason(national):
    """The contract lets either factor be null with a reason (sizing.breakeven); the national example has
    both, so the cost factor is nulled here as the engine does when no factor in its search closes the gap."""
    plan = copy.deepcopy(national["plan"])
    pid = next(pid for pid, p in plan["platforms"].items() if isinstance(p.get("break_even"), dict))
    be = plan["platforms"][pid]["break_even"]
    be["cost_factor"], be["reason"] = None, f"cost_factor: still dearer than {be['against']} at 50x throughput"
    report = page(plan)
    check_tags(report)
    text = break_even_paragraph(report, pid)
    assert "/break_even/cost_factor" not in text and "costs no more per million tokens" not in text
    assert "there is no throughput factor at which" in text and be["reason"] in text
    assert re.search(rf"it draws no more facility power from {factor_tag(pid, be, 'power_factor')}\.", text)


def test_serving_stack_and_power_range_are_shown(full):
    plan, text = full["plan"], answer(full)
    for p in plan["platforms"].values():
        label = f"{p['stack']['software']} ({p['stack']['basis']}): {p['software_generation']}"
        assert unescape(f"{p['name']} with {label}") in unescape(text)
    power = full["html"].split('id="power-range"')[1].split("</section>")[0]
    for pid, p in plan["platforms"].items():
        for key in what_if_keys({"platforms": {pid: {"power_sensitivity": p["power_sensitivity"]}}}):
            assert f'data-key="{key}"' in power, key


def test_page_is_self_contained(national):
    html = national["html"]
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


CHART_CHECK = """() => [...document.querySelectorAll('svg.chart')].map(svg => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  return {kind: svg.dataset.chart,
          x: [...svg.querySelectorAll('.axis-label.x')].map(t => t.textContent),
          y: [...svg.querySelectorAll('.axis-label.y')].map(t => t.textContent),
          plot: box(svg.querySelector('rect.plot')),
          legend: [...svg.querySelectorAll('.legend-item')].map(g => ({text: g.textContent, box: box(g)}))};
})"""


def overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


@pytest.fixture(scope="module")
def browser():
    path = chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("chromium not installed on this developer machine (CI installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def open_page(browser, report, tmp_path, width: int):
    page_file = tmp_path / "report.html"
    page_file.write_text(report["html"], encoding="utf-8")
    errors: list[str] = []
    requests: list[str] = []
    tab = browser.new_page(viewport={"width": width, "height": 900})
    tab.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("request", lambda r: requests.append(r.url))
    tab.goto(page_file.as_uri())
    tab.wait_for_load_state("load")
    return tab, errors, requests, page_file


def shot_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("AIFACTORY_SCREENSHOT_DIR", str(tmp_path)))


def test_page_in_headless_chromium(browser, full, tmp_path):
    tab, errors, requests, page_file = open_page(browser, full, tmp_path, 1200)
    shot = shot_dir(tmp_path) / "report-desktop.png"
    tab.screenshot(path=str(shot), full_page=True)
    found = tab.evaluate(CHART_CHECK)
    title = tab.title()
    tab.close()
    assert errors == []
    assert requests == [page_file.as_uri()]  # the page itself, nothing else
    assert "sovereign AI factory sizing" in title and shot.stat().st_size > 50_000
    kinds = [c["kind"] for c in found]
    platforms, llm = len(full["plan"]["platforms"]), len(full["plan"]["pareto"][recommend(full["plan"])[0]])
    assert sorted(kinds) == sorted(["money", "power", "utilisation", "timeline"] + ["buildout"] * platforms
                                   + ["tornado"] * platforms + ["pareto"] * llm)
    for c in found:
        assert len(c["x"]) == 1 and len(c["y"]) == 1 and c["x"][0] and c["y"][0], c
        assert re.search(r"\(|year|tokens/s|US\$|racks|UltraServers|input|run", c["x"][0] + c["y"][0]), c
        assert c["legend"], c
        boxes = [entry["box"] for entry in c["legend"]]
        for i, a in enumerate(boxes):
            assert not overlap(a, c["plot"]), (c["kind"], c["legend"][i])
            for b in boxes[i + 1:]:
                assert not overlap(a, b), (c["kind"], a, b)


def test_page_at_phone_width(browser, full, tmp_path):
    tab, errors, _requests, _file = open_page(browser, full, tmp_path, 390)
    tab.screenshot(path=str(shot_dir(tmp_path) / "report-phone.png"), full_page=False)
    widest = tab.evaluate("() => document.documentElement.scrollWidth")
    tiles = tab.evaluate("() => [...document.querySelectorAll('.tile')].map(t => t.getBoundingClientRect().right)")
    tab.close()
    assert errors == [] and widest <= 390 and tiles and max(tiles) <= 390


def test_printed_main_body_fits_the_target(browser, full, tmp_path):
    tab, _errors, _requests, _file = open_page(browser, full, tmp_path, 1200)
    whole = tab.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    tab.add_style_tag(content="#appendix, footer { display: none !important; }")
    body = tab.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    tab.close()
    (shot_dir(tmp_path) / "report.pdf").write_bytes(whole)
    main_pages, all_pages = pdf_pages(body), pdf_pages(whole)
    print(f"printed: main body {main_pages} A4 pages, {all_pages} in all")
    assert 1 <= main_pages <= MAIN_BODY_PAGES < all_pages
