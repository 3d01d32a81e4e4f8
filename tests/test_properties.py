"""Monotonicity properties the engine must never violate, checked over random inputs."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sizing.catalog import Figure, load_catalog
from sizing.forecast import parse_forecast
from sizing.plan import make_plan
from sizing.predict import predict_inference
from sizing.training import accelerators_for_deadline, mfu
from tests.conftest import SMALL

CAT = load_catalog()
MODELS = ["llama3.1-8b", "llama3.3-70b", "qwen3-30b-a3b", "gpt-oss-120b", "deepseek-r1"]
PLATFORMS = ["h100_hgx", "gb300_nvl72", "trn3"]


def chat_forecast(base: float, platform: str) -> dict:
    doc = copy.deepcopy(SMALL)
    doc["platforms"] = [platform]
    doc["monte_carlo"] = {"samples": 64, "seed": 5}
    doc["workloads"] = [doc["workloads"][0]]
    doc["workloads"][0]["demand"]["base"] = base
    return doc


@settings(max_examples=25, deadline=None)
@given(base=st.floats(0.5, 5000), factor=st.floats(1.0, 20.0), platform=st.sampled_from(["gb300_nvl72", "trn3"]))
def test_more_demand_never_fewer_accelerators(base, factor, platform):
    def acc(b: float) -> list[float]:
        plan = make_plan(parse_forecast(chat_forecast(b, platform), "f.yaml"))
        years = plan["platforms"][platform]["years"].values()
        return [y["accelerators_required"][q] for y in years for q in ("p10", "p50", "p90")] + \
               [y["accelerators"]["provisioned"] for y in years]

    low, high = acc(base), acc(base * factor)
    assert all(h >= lo for lo, h in zip(low, high, strict=True))


@settings(max_examples=30, deadline=None)
@given(model=st.sampled_from(MODELS), platform=st.sampled_from(PLATFORMS),
       tpot=st.floats(5, 200), tighter=st.floats(0.2, 1.0), isl=st.floats(100, 8000), osl=st.floats(50, 2000))
def test_tighter_tpot_never_raises_throughput(model, platform, tpot, tighter, isl, osl):
    from sizing.errors import InputError
    from sizing.models import presets

    prec = "fp8"
    spec = presets()[model]
    acc = CAT.platforms[platform].domain_accelerators

    def thr(limit: float) -> float:
        try:
            return predict_inference(platform, spec, prec, acc, isl, osl, tpot_ms=limit)[
                "output_tokens_per_s_per_accelerator"]
        except InputError:
            return 0.0  # infeasible: no throughput

    assert thr(tpot * tighter) <= thr(tpot) * (1 + 1e-9)


@settings(max_examples=20, deadline=None)
@given(model=st.sampled_from(MODELS), extra=st.floats(1.0, 3.0), base=st.floats(1, 2000))
def test_more_hbm_never_needs_more_accelerators(model, extra, base):
    platform = "gb300_nvl72"
    doc = chat_forecast(base, platform)
    doc["workloads"][0]["model"] = model
    fc = parse_forecast(doc, "f.yaml")
    plain = make_plan(fc, catalog=CAT)
    plat = CAT.platforms[platform]
    hbm = plat.figures["hbm_gib"]
    bigger = replace(plat, figures={**plat.figures, "hbm_gib": Figure(hbm.low * extra, hbm.high * extra,
                                                                       "assumption", "test")})
    cat2 = replace(CAT, platforms={**CAT.platforms, platform: bigger})
    more = make_plan(fc, catalog=cat2)
    for y in plain["platforms"][platform]["years"]:
        a = plain["platforms"][platform]["years"][y]["accelerators_required"]
        b = more["platforms"][platform]["years"][y]["accelerators_required"]
        for q in ("p10", "p50", "p90"):
            assert b[q] <= a[q] + 1e-9


@settings(max_examples=50, deadline=None)
@given(flops=st.floats(1e21, 1e26), days=st.floats(5, 400), m0=st.floats(0.2, 0.6), beta=st.floats(0.0, 0.2))
def test_training_accelerators_meet_the_deadline_exactly(flops, days, m0, beta):
    peak = 2.5e15
    n = float(accelerators_for_deadline(np.array(flops), np.array(days * 86400), np.array(peak),
                                        np.array(m0), np.array(beta), np.array(1.0)))
    achieved = n * peak * float(mfu(np.array(n), np.array(m0), np.array(beta), np.array(1.0))) * days * 86400
    assert achieved == np.float64(achieved)  # finite
    assert abs(achieved / flops - 1) < 1e-6 or n <= 1.0


@settings(max_examples=15, deadline=None)
@given(model=st.sampled_from(MODELS), hit=st.floats(0.0, 0.9).map(lambda x: round(x, 4)),
       more=st.floats(0.0, 0.09).map(lambda x: round(x, 4)),  # the forecast refuses denormal hit rates
       platform=st.sampled_from(["gb300_nvl72", "trn3"]))
def test_higher_prefix_hit_never_needs_more_accelerators(model, hit, more, platform):
    def acc(h: float) -> list[float]:
        doc = chat_forecast(300, platform)
        doc["workloads"][0].update(model=model, prefix_cache_hit=h, input_tokens=4000)
        plan = make_plan(parse_forecast(doc, "f.yaml"), catalog=CAT)
        years = plan["platforms"][platform]["years"].values()
        return [y["accelerators_required"][q] for y in years for q in ("p10", "p50", "p90")]

    low, high = acc(hit), acc(min(0.99, hit + more))
    assert all(b <= a + 1e-9 for a, b in zip(low, high, strict=True))


@settings(max_examples=25, deadline=None)
@given(model=st.sampled_from([m for m in MODELS if m != "deepseek-r1"]),  # no MTP default to compare against
       platform=st.sampled_from(PLATFORMS), tpot=st.floats(5, 200), k=st.integers(1, 6), a=st.floats(0.0, 1.0),
       method=st.sampled_from(["mtp", "eagle"]))
def test_speculative_decoding_never_lowers_throughput_at_the_same_tpot(model, platform, tpot, k, a, method):
    from sizing.errors import InputError
    from sizing.models import presets

    spec = presets()[model]
    acc = CAT.platforms[platform].domain_accelerators

    def thr(speculative: tuple[str, int, float, float] | None) -> float:
        try:
            return predict_inference(platform, spec, "fp8", acc, 1000, 500, tpot_ms=tpot,
                                     speculative=speculative)["output_tokens_per_s_per_accelerator"]
        except InputError:
            return 0.0

    assert thr((method, k, a, 0.0)) >= thr(None) * (1 - 1e-9)
