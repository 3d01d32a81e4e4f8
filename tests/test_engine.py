"""The sizing engine end to end: packing, years, edge, power cap, determinism, the plan's shape."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aifactory.cli import main
from sizing.engine import slot_accelerators
from sizing.forecast import load_forecast, parse_forecast
from sizing.plan import FIGURES, make_plan, to_json
from tests.conftest import EXAMPLE


def plan_of(doc, **kw):
    return make_plan(parse_forecast(doc, "f.yaml"), **kw)


def test_slot_accelerators_keeps_replicas_inside_domains():
    sizes = np.array([1.0, 8.0, 48.0, 72.0, 100.0, 144.0])
    slots = slot_accelerators(sizes, np.array(72))
    # 48 GPUs leave 24 no other 48-replica can use: a whole rack each; 100 spans two racks
    assert slots.tolist() == [1.0, 8.0, 72.0, 72.0, 144.0, 144.0]
    assert slot_accelerators(np.array([16.0]), np.array(72)).tolist() == [72 / 4]


def test_capacity_is_cumulative_and_additions_add_up(small):
    plan = plan_of(small)
    for p in plan["platforms"].values():
        doms = [y["domains"]["provisioned"] for y in p["years"].values()]
        added = [y["added_domains"]["provisioned"] for y in p["years"].values()]
        assert doms == sorted(doms)
        assert np.cumsum(added).tolist() == doms
        for y in p["years"].values():
            assert y["accelerators"]["provisioned"] == y["domains"]["provisioned"] * p["accelerators_per_domain"]
            assert y["instances"]["provisioned"] == (y["accelerators"]["provisioned"] / p["accelerators_per_instance"])
            # capacity covers the chosen percentile of the requirement
            assert y["accelerators"]["provisioned"] >= y["accelerators_required"]["p90"] - 1e-6


def test_bands_are_ordered(small):
    plan = plan_of(small)
    for p in plan["platforms"].values():
        for y in p["years"].values():
            for name in FIGURES:
                b = y[name]
                if b["p10"] is not None:
                    assert b["p10"] <= b["p50"] <= b["p90"], name


def test_edge_workloads_are_reported_but_not_in_the_factory(small):
    with_edge = plan_of(small)
    assert with_edge["edge_workloads"] == ["edge-help"]
    small["workloads"] = [w for w in small["workloads"] if w["name"] != "edge-help"]
    without = plan_of(small)
    for pid in with_edge["platforms"]:
        a = with_edge["platforms"][pid]["years"]["2029"]["accelerators_required"]
        b = without["platforms"][pid]["years"]["2029"]["accelerators_required"]
        assert a == b
        assert with_edge["platforms"][pid]["workloads"]["edge-help"]["years"]["2029"]["accelerators"]["p50"] > 0


def test_training_occupies_only_its_years(small):
    plan = plan_of(small)
    w = plan["platforms"]["gb300_nvl72"]["workloads"]["pretrain"]["years"]
    assert w["2027"]["accelerators"]["p50"] == 0
    assert w["2028"]["accelerators"]["p50"] > 0
    assert w["2029"]["accelerators"]["p50"] == 0


def test_power_cap_is_checked(small):
    small["site"]["power_cap_mw"] = 0.01
    plan = plan_of(small)
    assert not any(y["power_cap_met"] for y in plan["platforms"]["trn3"]["years"].values())
    small["site"]["power_cap_mw"] = 10_000
    plan = plan_of(small)
    assert all(y["power_cap_met"] for y in plan["platforms"]["trn3"]["years"].values())


def test_facility_power_is_it_power_times_pue(small):
    plan = plan_of(small)
    y = plan["platforms"]["gb300_nvl72"]["years"]["2029"]
    assert y["facility_power_mw"]["provisioned"] == pytest.approx(y["it_power_kw"]["provisioned"] / 1e3 * 1.2,
                                                                  rel=1e-5)


def test_same_seed_gives_byte_identical_json(small):
    a = to_json(plan_of(small, seed=11))
    b = to_json(plan_of(small, seed=11))
    c = to_json(plan_of(small, seed=12))
    assert a == b
    assert a != c


def test_size_json_shape_on_the_example(capsys):
    code = main(["size", str(EXAMPLE), "--samples", "500", "--json"])
    assert code == 0
    plan = json.loads(capsys.readouterr().out)
    assert set(plan["platforms"]) == {"trn3", "gb300_nvl72"}
    years = plan["platforms"]["trn3"]["years"]
    assert list(years) == ["2027", "2028", "2029", "2030", "2031"]
    for name in ("accelerators", "domains", "instances", "hbm_required_tb", "hbm_provisioned_tb", "it_power_kw",
                 "facility_power_mw", "cost_usd", "usd_per_million_tokens"):
        assert set(years["2031"][name]) == {"p10", "p50", "p90", "provisioned"}
        assert years["2031"][name]["provisioned"] is not None
    assert plan["platforms"]["trn3"]["catalog"]["hbm_gib"]["source"] == "N-T3"
    assert "citizen-assistant" in plan["platforms"]["gb300_nvl72"]["workloads"]
    assert any("Trn3" in n for n in plan["platforms"]["trn3"]["notes"])


def test_size_table_and_out_file(tmp_path, capsys):
    out = tmp_path / "plan.json"
    code = main(["size", str(EXAMPLE), "--samples", "300", "--platform", "gb300_nvl72", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "NVL72 racks" in text and "2031" in text and "P90" in text
    assert set(json.loads(out.read_text())["platforms"]) == {"gb300_nvl72"}


def test_every_application_in_the_example():
    fc = load_forecast(EXAMPLE)
    apps = {w.application for w in fc.workloads}
    assert {"chatbot", "software_development", "image_generation", "video_generation", "business_operations",
            "manufacturing"} <= apps
    assert {w.kind for w in fc.workloads} == {"llm_inference", "diffusion_inference", "training"}
    assert len(fc.years) >= 5
    assert len({w.model.name for w in fc.workloads if hasattr(w, "model")}) >= 4


def test_cost_uses_cloud_price_when_no_capex(small):
    small["platforms"] = ["b200_hgx", "h100_hgx"]
    small["workloads"] = [w for w in small["workloads"] if w["kind"] != "diffusion_inference"]
    plan = plan_of(small)
    b200 = plan["platforms"]["b200_hgx"]["years"]["2029"]
    acc = b200["accelerators"]["provisioned"]
    assert b200["cost_usd"]["provisioned"] == pytest.approx(acc * 12.36 * 8760, rel=1e-5)
    assert plan["platforms"]["h100_hgx"]["years"]["2029"]["cost_usd"]["provisioned"] is None


def test_predict_json_keys(capsys):
    code = main(["predict", "--platform", "gb300_nvl72", "--model", "deepseek-r1", "--precision", "fp4",
                 "--accelerators", "72", "--isl", "803.8", "--osl", "3886.2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in ("output_tokens_per_s_per_accelerator", "tpot_ms", "ttft_ms", "batch", "replica_accelerators"):
        assert out[key] > 0
    assert out["bound"] in ("memory", "compute", "communication")
    assert 72 % out["replica_accelerators"] == 0


def test_predict_respects_limits_and_fixed_batch(capsys):
    base = ["predict", "--platform", "h100_hgx", "--model", "llama2-70b", "--precision", "fp8",
            "--accelerators", "8", "--isl", "222", "--osl", "294"]
    main(base + ["--tpot-ms", "40", "--ttft-ms", "450"])
    limited = json.loads(capsys.readouterr().out)
    assert limited["tpot_ms"] <= 40 and limited["ttft_ms"] <= 450
    main(base + ["--batch", "8"])
    fixed = json.loads(capsys.readouterr().out)
    assert fixed["batch"] == 8 and fixed["replica_accelerators"] == 8


def test_predict_training(capsys):
    code = main(["predict", "--platform", "h100_hgx", "--model", "llama3.1-405b", "--precision", "bf16",
                 "--accelerators", "8192", "--train", "--seq-len", "8192"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and 0 < out["mfu"] < 0.75
    assert out["model_tflops_6nd_per_accelerator"] < out["model_tflops_per_accelerator"] <= 989


def test_closed_pipe_is_not_a_traceback():
    import subprocess
    import sys

    cmd = (f"{sys.executable} -m aifactory.cli size {EXAMPLE} --samples 100 --json | head -c 10 > /dev/null; "
           "echo ${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr and done.stdout.strip() in ("0", "141")


def test_training_draws_use_the_training_residual_spread():
    """A platform's training throughput is drawn at its training calibration's sigma (Trainium: a wide
    prior, no training row), on the same normal draw as its serving residual; scenario 0 is nominal."""
    import numpy as np

    from sizing.catalog import load_catalog, scenarios

    cat = load_catalog()
    sc = scenarios(cat, ["trn3", "gb300_nvl72"], 16, 7)
    for j, pid in enumerate(sc.platform_ids):
        s_serve = cat.prediction_sigma(cat.platforms[pid], stack=sc.stacks[j])
        s_train = cat.prediction_sigma(cat.platforms[pid], "training", stack=sc.stacks[j])
        z = (np.log(sc.residual[j, 1:]) + 0.5 * s_serve**2) / s_serve
        assert np.allclose(sc.training_residual[j, 1:], np.exp(s_train * z - 0.5 * s_train**2))
        assert sc.training_residual[j, 0] == 1.0
    # Trainium's training spread (a prior) is wider than NVIDIA's fitted one, so are its draws
    assert np.std(np.log(sc.training_residual[0, 1:])) > np.std(np.log(sc.training_residual[1, 1:]))
