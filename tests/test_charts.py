"""The report's charts and its one number formatter, on small hand-made inputs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory import charts
from aifactory.numfmt import compact, fmt, money

NS = {"s": "http://www.w3.org/2000/svg"}
YEARS = [2027, 2028, 2029]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element, cls: str) -> list[str]:
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text") if cls in t.get("class", "").split()]


def legend_boxes(root: ET.Element) -> list[tuple[float, float, float, float]]:
    """Each legend entry's box as laid out: swatch start, baseline, and the text's estimated width."""
    boxes = []
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") != "legend-item":
            continue
        t = g.find("s:text", NS)
        assert t is not None
        x, y = float(t.get("x", 0)) - 18, float(t.get("y", 0))
        boxes.append((x, y - 11, x + 18 + charts.text_width(t.text or ""), y + 3))
    return boxes


def assert_readable(svg: str, xunit: str, yunit: str, legend: list[str]) -> None:
    root = parse(svg)
    assert root.get("class") == "chart"
    x_labels, y_labels = texts(root, "x"), texts(root, "y")
    assert len(x_labels) == 1 and xunit in x_labels[0]
    assert len(y_labels) == 1 and yunit in y_labels[0]
    assert texts(root, "legend") == legend
    boxes = legend_boxes(root)
    plot = root.find("s:rect[@class='plot']", NS)
    assert plot is not None
    plot_bottom = float(plot.get("y", 0)) + float(plot.get("height", 0))
    width = float(root.get("viewBox", "0 0 0 0").split()[2])
    height = float(root.get("viewBox", "0 0 0 0").split()[3])
    for i, a in enumerate(boxes):
        assert a[1] > plot_bottom and a[2] <= width and a[3] <= height, (a, plot_bottom, width, height)
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    assert not re.search(r"\de[+-]\d", svg)


def test_power_ramp_has_axes_units_band_cap_and_legend():
    series = {"NVIDIA GB300 NVL72": {"line": [5, 9, 14], "low": [3, 6, 9], "high": [4.5, 8.5, 13]},
              "AWS Trainium3 UltraServer": {"line": [10, 30, 80], "low": [8, 20, 50], "high": [9, 28, 75]}}
    svg = charts.band_lines(YEARS, series, "facility power (MW)", line_label="built", band_label="needed, P10-P90",
                            cap=20, kind="power")
    assert_readable(svg, "year", "(MW)", [
        "NVIDIA GB300 NVL72: built", "NVIDIA GB300 NVL72: needed, P10-P90", "AWS Trainium3 UltraServer: built",
        "AWS Trainium3 UltraServer: needed, P10-P90", "site power cap"])
    root = parse(svg)
    assert len(root.findall("s:polygon", NS)) == 2 and len(root.findall("s:line[@class='cap']", NS)) == 1
    # axis up to 100 (nice maximum above 80), ticks compact
    assert texts(root, "tick")[:5] == ["0", "25", "50", "75", "100"]


def test_long_legends_wrap_instead_of_overlapping():
    series = {f"a rather long platform name number {i}": {"line": [1, 2, 3], "low": [1, 1, 1], "high": [2, 3, 4]}
              for i in range(4)}
    svg = charts.band_lines(YEARS, series, "facility power (MW)", line_label="built")
    root = parse(svg)
    rows = {b[1] for b in legend_boxes(root)}
    assert len(rows) >= 4  # eight entries of ~300 px each on a 640 px chart
    assert_readable(svg, "year", "MW", texts(root, "legend"))


def test_utilisation_axis_is_percent():
    svg = charts.band_lines(YEARS, {"gb300": {"line": [0.4, 0.6, 0.7], "low": [0.3, 0.5, 0.6],
                                              "high": [0.5, 0.7, 0.8]}},
                            "utilisation of built accelerators (%)", line_label="median", percent=True)
    root = parse(svg)
    assert texts(root, "tick")[:5] == ["0%", "25%", "50%", "75%", "100%"]
    assert_readable(svg, "year", "(%)", ["gb300: median", "gb300: P10-P90 band"])


def test_buildout_in_the_platforms_own_unit():
    svg = charts.buildout(YEARS, built=[10, 20, 40], added=[10, 10, 20], low=[8, 15, 30], high=[11, 22, 45],
                          unit="NVL72 racks (count)")
    root = parse(svg)
    assert_readable(svg, "year", "NVL72 racks", ["built in earlier years", "added that year", "needed, P10-P90"])
    assert len(root.findall("s:line[@class='whisker']", NS)) == 3
    # the bar for 40 reaches 40/50 of the plot height
    plot = root.find("s:rect[@class='plot']", NS)
    assert plot is not None
    bars = [r for r in root.findall("s:rect", NS) if r.get("fill-opacity") == "0.4"]
    assert float(bars[2].get("height", 0)) == pytest.approx(float(plot.get("height", 0)) * 40 / 50, abs=0.2)


def test_money_bars_stack_components_per_platform():
    groups = {"gb300": {"capex added": [100e6, 50e6, 0.0], "operating cost": [10e6, 15e6, 15e6]},
              "trn3": {"capex added": [300e6, 200e6, 100e6], "operating cost": [30e6, 45e6, 60e6]}}
    svg = charts.grouped_stacks(YEARS, groups, "US$ per year")
    assert_readable(svg, "year", "US$", ["gb300: capex added", "gb300: operating cost", "trn3: capex added",
                                         "trn3: operating cost"])
    ticks = texts(parse(svg), "tick")
    assert "500M" in ticks and not any("e+" in t for t in ticks)
    # 12 segments, one of them zero (legend swatches sit in <g>)
    assert len(parse(svg).findall("s:rect[@fill]", NS)) == 11


def test_pareto_marks_the_target():
    curves = {"GB300": ([200, 120, 60, 30], [500, 1500, 3000, 4200]), "Trn3": ([150, 90, 45], [400, 1100, 2000])}
    svg = charts.pareto(curves, 40.0, "output tokens/s per user", "output tokens/s per accelerator", "chat")
    root = parse(svg)
    assert_readable(svg, "tokens/s per user", "tokens/s per accelerator",
                    ["GB300", "Trn3", "target tokens/s per user"])
    target = root.find("s:line[@class='cap target']", NS)
    plot = root.find("s:rect[@class='plot']", NS)
    assert target is not None and plot is not None
    x0, w = float(plot.get("x", 0)), float(plot.get("width", 0))
    assert float(target.get("x1", 0)) == pytest.approx(x0 + w * 40 / 200, abs=0.1)
    assert len(root.findall("s:circle", NS)) == 7


def test_tornado_draws_a_row_per_input_around_the_base():
    rows = [("demand: citizen-assistant", 60.0, 140.0), ("efficiency", 80.0, 125.0), ("PUE", 95.0, 104.0)]
    svg = charts.tornado(rows, 100.0, "NVL72 racks in 2031", "what drives the count")
    root = parse(svg)
    assert_readable(svg, "racks", "input", ["input at its low value", "input at its high value",
                                            "plan with every input at its median"])
    labels = [t for t in texts(root, "tick") if not re.fullmatch(r"[\d.]+k?", t)]
    assert labels == ["demand: citizen-assistant", "efficiency", "PUE"]
    widths = [float(r.get("width", 0)) for r in root.findall("s:rect[@fill-opacity='0.85']", NS)]
    assert widths[0] + widths[1] > widths[2] + widths[3] > widths[4] + widths[5]


def test_timeline_places_runs_on_the_calendar():
    runs = [("foundation model (2028)", 2028.25, 2028.25 + 120 / 365, "burst"), ("fine-tuning (2029)", 2029.0,
                                                                                2029.1, "build")]
    svg = charts.timeline(runs, [2027, 2028, 2029], {"burst": "burst capacity (rented)", "build": "built"}, "runs")
    root = parse(svg)
    assert_readable(svg, "calendar year", "training run", ["burst capacity (rented)", "built"])
    plot = root.find("s:rect[@class='plot']", NS)
    assert plot is not None
    x0, w = float(plot.get("x", 0)), float(plot.get("width", 0))
    bars = [r for r in root.findall("s:rect", NS) if r.get("height") == "14.0"]
    assert float(bars[0].get("x", 0)) == pytest.approx(x0 + w * 1.25 / 3, abs=0.1)  # 2027 to the end of 2029
    assert float(bars[0].get("width", 0)) == pytest.approx(w * (120 / 365) / 3, abs=0.1)


@given(st.floats(min_value=-1e16, max_value=1e16, allow_nan=False))
def test_no_number_is_ever_printed_in_scientific_notation(v):
    for kind in ("int", "mw", "kw_as_mw", "usd", "money", "pct", "ms", "j", "sig", "days"):
        assert not re.search(r"\de[+-]?\d", fmt(v, kind), re.IGNORECASE)
    assert not re.search(r"\de[+-]?\d", compact(v), re.IGNORECASE)


def test_formats():
    assert fmt(2e6, "sig") == "2,000,000" and fmt(0.0001234567, "sig") == "0.0001235" and fmt(1.5, "sig") == "1.5"
    assert money(2.0846e9) == "$2.08bn" and money(540.14e6) == "$540.1M" and money(12345) == "$12,345"
    assert compact(2.5e6) == "2.5M" and compact(1500) == "1.5k" and compact(0.25) == "0.25" and compact(3e9) == "3bn"
    assert fmt(None, "int") == "n/a" and fmt(float("nan"), "mw") == "n/a"
    with pytest.raises(ValueError, match="unknown number kind"):
        fmt(1.0, "furlongs")
