"""Trainium under both serving stacks, side by side: the plan's alternatives, the recommendation
across stacks, the break-even's stack, and how the CLI and the report show them."""

from __future__ import annotations

import json
from dataclasses import replace

import jsonschema
import pytest

from aifactory.cli import main
from sizing.breakeven import REL_TOL
from sizing.budget import budget
from sizing.catalog import Figure, load_catalog
from sizing.engine import size
from sizing.forecast import parse_forecast
from sizing.plan import FIGURES, make_plan, to_json
from sizing.stacks import rows_of_stack
from sizing.words import plural
from tests.test_breakeven import final, serving_only

CAT = load_catalog()
SAMPLES = 400


@pytest.fixture(scope="module")
def both() -> tuple:
    fc = parse_forecast(serving_only(), "f.yaml")
    return fc, make_plan(fc, samples=SAMPLES)


def _gb_capex_scaled(k: float):
    """The catalog with GB300's rack capex times ``k`` (everything else as shipped)."""
    gb = CAT.platforms["gb300_nvl72"]
    c = gb.figures["domain_capex_usd"]
    dear = replace(gb, figures={**gb.figures, "domain_capex_usd": Figure(c.low * k, c.high * k, c.kind, "test")})
    return replace(CAT, platforms={**CAT.platforms, "gb300_nvl72": dear})


@pytest.fixture(scope="module")
def flipped() -> tuple:
    """A catalog in which GB300's horizon TCO sits between Trn3's under the two stacks: GB300's capex
    scaled so that its TCO is the geometric mean of Trn3's (neuron-aws, neuron-oss), from the base plan's
    own figures (TCO is capex + energy, and capex scales with the figure; serving only, no training)."""
    fc = parse_forecast(serving_only(), "f.yaml")
    base = make_plan(fc, samples=SAMPLES)
    trn, gb = base["platforms"]["trn3"], base["platforms"]["gb300_nvl72"]
    oss = trn["horizon"]["tco_usd"]["provisioned"]
    aws = trn["alternatives"]["neuron-aws"]["horizon"]["tco_usd"]["provisioned"]
    assert trn["stack"]["software"] == "neuron-oss" and aws < oss
    target = (aws * oss) ** 0.5
    k = (target - gb["horizon"]["opex_usd"]["provisioned"]) / gb["horizon"]["capex_usd"]["provisioned"]
    assert k > 0
    cat = _gb_capex_scaled(k)
    return fc, make_plan(fc, samples=SAMPLES, catalog=cat), cat


def test_each_trainium_platform_carries_the_other_stack_with_its_label(both):
    _fc, plan = both
    trn = plan["platforms"]["trn3"]
    assert trn["stack"]["software"] == "neuron-oss" and trn["stack"]["basis"] == "measured"
    assert trn["stack"]["calibration_rows"] == rows_of_stack(CAT, "neuron-oss") and trn["stack"]["calibration_rows"]
    assert set(trn["alternatives"]) == {"neuron-aws"}
    alt = trn["alternatives"]["neuron-aws"]
    assert alt["basis"] == "assumption" and alt["calibration_rows"] == [] and "claim" in alt["claims"].lower()
    assert alt["software"] == "neuron-aws" and alt["relative_to"] == "trtllm"
    assert "alternatives" not in plan["platforms"]["gb300_nvl72"]  # only Trainium is compared across stacks
    assert plan["platforms"]["gb300_nvl72"]["stack"]["software"] == "trtllm"


def test_rows_of_stack_are_the_trainium_rows():
    rows = rows_of_stack(CAT, "neuron-oss")
    assert rows == [f"c{i}" for i in range(20, 30)]  # calibration/README: the Trainium rows c20-c29
    assert rows_of_stack(CAT, "neuron-aws") == []  # nothing measured in public


def test_alternative_is_what_the_engine_computes_for_trn3_alone(both):
    """Recompute independently: size Trn3 alone under neuron-aws with the plan's samples and seed."""
    fc, plan = both
    seed = plan["monte_carlo"]["seed"]
    alone = size(fc, CAT, ["trn3"], SAMPLES, seed, software={"trn3": "neuron-aws"})
    bud = budget(alone, CAT)
    alt = plan["platforms"]["trn3"]["alternatives"]["neuron-aws"]
    for y_i, year in enumerate(fc.years):
        for fig in FIGURES:
            got = alt["years"][str(year)][fig]["provisioned"]
            want = float(bud.provisioned[fig][y_i, 0])
            assert got == pytest.approx(want, rel=1e-5, abs=1e-9), (year, fig)
    assert alt["horizon"]["tco_usd"]["provisioned"] == pytest.approx(float(bud.horizon_provisioned["tco_usd"][0]),
                                                                     rel=1e-5)
    # and it differs from the plan's own (neuron-oss) figures: the stack matters
    final_year = str(fc.years[-1])
    assert (alt["years"][final_year]["domains"]["provisioned"]
            != plan["platforms"]["trn3"]["years"][final_year]["domains"]["provisioned"])


def test_break_even_names_its_stack_and_the_alternative_meets_there(both):
    fc, plan = both
    trn = plan["platforms"]["trn3"]
    assert trn["break_even"]["software"] == "neuron-oss"
    be = trn["alternatives"]["neuron-aws"]["break_even"]
    assert be["software"] == "neuron-aws" and be["against"] == "gb300_nvl72"
    factor, fig = be["cost_factor"], "usd_per_million_tokens"
    assert factor is not None
    pids, n, seed = list(plan["platforms"]), be["samples"], plan["monte_carlo"]["seed"]
    aws = replace(fc, software={**fc.software, "trn3": "neuron-aws"})
    at = final(aws, pids, n, seed, {"trn3": factor})
    assert at["trn3"][fig] <= at["gb300_nvl72"][fig] * (1 + 1e-5)
    below = final(aws, pids, n, seed, {"trn3": factor / (1 + 2 * REL_TOL)})
    assert below["trn3"][fig] > below["gb300_nvl72"][fig]
    assert be["cost_factor"] < trn["break_even"]["cost_factor"]  # parity serving needs less help than measured


def test_choice_that_holds_says_so_once(both):
    _fc, plan = both
    rec = plan["recommendation"]
    assert rec["depends_on_stack"] is False
    assert {c["platform"] for c in rec["by_stack"].values()} == {rec["platform"]}
    assert rec["stack_note"].startswith("the choice holds under every Trainium serving stack")
    assert rec["stack_note"] in rec["reason"]


def test_choice_that_flips_gives_both_with_their_figures(flipped):
    _fc, plan, _cat = flipped
    rec = plan["recommendation"]
    assert rec["depends_on_stack"] is True
    assert rec["by_stack"]["neuron-oss"]["platform"] == "gb300_nvl72"
    assert rec["by_stack"]["neuron-aws"]["platform"] == "trn3"
    # each choice's TCO is that platform's under that stack
    trn = plan["platforms"]["trn3"]
    assert rec["by_stack"]["neuron-aws"]["tco_usd"] == trn["alternatives"]["neuron-aws"]["horizon"]["tco_usd"][
        "provisioned"]
    assert rec["by_stack"]["neuron-oss"]["tco_usd"] == plan["platforms"]["gb300_nvl72"]["horizon"]["tco_usd"][
        "provisioned"]
    note = rec["stack_note"]
    assert note.startswith("the choice depends on the Trainium serving stack")
    assert note.index("GB300") < note.index("neuron-oss (measured)") < note.index("Trn3") < note.index(
        "neuron-aws (assumption)")
    assert note in rec["reason"]


def test_report_headline_gives_the_range_only_when_the_choice_flips(both, flipped):
    from aifactory.report import render

    html_holds, _ = render(both[1])
    html_flips, facts = render(flipped[1])
    assert 'id="stack-range"' in html_flips and 'id="stack-range"' not in html_holds
    assert 'id="stack-range-tile"' in html_flips and 'id="stack-range-tile"' not in html_holds
    assert "holds under every Trainium serving stack" in html_holds
    for stack in ("neuron-oss", "neuron-aws"):
        key = f"plan:/recommendation/by_stack/{stack}/tco_usd"
        assert facts.values[key] == flipped[1]["recommendation"]["by_stack"][stack]["tco_usd"]
    # the side-by-side table is in both: every Trainium figure labelled with its stack
    for html in (html_holds, html_flips):
        assert 'id="stacks-trn3-neuron-aws"' in html and 'id="stacks-trn3-neuron-oss"' in html
        assert "(assumption)" in html and "(measured)" in html


def test_size_text_shows_both_stacks_and_the_range(flipped):
    from sizing import table

    text = " ".join(table.render(flipped[1]).split())  # as read, not as wrapped
    assert "Trainium serving stacks side by side" in text
    assert "neuron-oss" in text and "neuron-aws" in text
    assert "the choice depends on the Trainium serving stack" in text
    assert "break-even" in text and "(stack: neuron-aws, assumption)" in text


def test_schema_validates_the_new_keys(both):
    from importlib import resources

    schema = json.loads(resources.files("sizing").joinpath("data/plan.schema.json").read_text(encoding="utf-8"))
    doc = json.loads(to_json(both[1]))
    jsonschema.validate(doc, schema)
    broken = json.loads(to_json(both[1]))
    broken["platforms"]["trn3"]["alternatives"]["neuron-aws"]["basis"] = "measured-ish"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    broken = json.loads(to_json(both[1]))
    del broken["platforms"]["trn3"]["break_even"]["software"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_analyses_false_skips_the_alternatives_but_keeps_the_break_even():
    fc = parse_forecast(serving_only(), "f.yaml")
    plan = make_plan(fc, samples=100, analyses=False)
    assert "alternatives" not in plan["platforms"]["trn3"] and "by_stack" not in plan["recommendation"]
    assert "tornado" not in plan and "pareto" not in plan
    assert plan["platforms"]["trn3"]["break_even"]["software"] == "neuron-oss"


def test_sized_with_neuron_aws_the_alternative_is_neuron_oss():
    doc = serving_only()
    doc["software"] = {"trn3": "neuron-aws"}
    plan = make_plan(parse_forecast(doc, "f.yaml"), samples=100)
    trn = plan["platforms"]["trn3"]
    assert trn["stack"]["software"] == "neuron-aws" and set(trn["alternatives"]) == {"neuron-oss"}
    assert trn["alternatives"]["neuron-oss"]["basis"] == "measured"
    assert trn["break_even"]["software"] == "neuron-aws"
    assert trn["alternatives"]["neuron-oss"]["break_even"]["software"] == "neuron-oss"


@pytest.mark.parametrize("flag, needle", [
    ("trn3=neuron-pro", "unknown software stack 'neuron-pro'"),
    ("trn3=trtllm", "unknown software stack 'trtllm'"),
    ("trn3", "expected PLATFORM=STACK"),
    ("gb300_nvl72=neuron-aws", "unknown software stack"),
])
def test_bad_software_flag_still_errors_cleanly(write_forecast, capsys, flag, needle):
    path = write_forecast(serving_only())
    assert main(["size", str(path), "--samples", "20", "--software", flag]) == 2
    err = capsys.readouterr().err
    assert "--software" in err and needle in err and "Traceback" not in err


def test_plural():
    assert plural(1, "platform") == "1 platform" and plural(2, "platform") == "2 platforms"
    assert plural(0, "UltraServer") == "0 UltraServers" and plural(1.0, "NVL72 rack") == "1 NVL72 rack"
    assert plural(2304, "accelerator") == "2,304 accelerators"


def test_plan_summary_names_the_stack_of_every_trainium_figure(capsys):
    """`aifactory plan` prints the stacks block after its summary: with or without alternatives (the
    blueprint may skip them), each row and the break-even say which stack and whether it is measured."""
    from tests.conftest import EXAMPLE

    assert main(["plan", str(EXAMPLE), "--samples", "300", "--year", "2027"]) == 0  # both platforms compared
    text = " ".join(capsys.readouterr().out.split())
    assert "Trainium serving stacks side by side" in text
    assert "break-even (stack: neuron-oss, measured): Trn3 Gen2 UltraServer costs no more per million tokens" in text
