"""The p99 TPOT of aggregated serving, per request (MLPerf LoadGen's definition): the Poisson count of
prefill chunks a request meets, its hand-computed p99, and the long-prompt workloads it makes feasible."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sizing.catalog import load_catalog, scenarios
from sizing.llm import LlmCases, evaluate, poisson_p99, request_tpot_p99
from sizing.models import presets
from sizing.predict import predict_inference

CAT = load_catalog()
P = presets()


def _exact_poisson_p99(mu: float) -> int:
    """The smallest k with P(K <= k) >= 0.99, summed term by term in log space."""
    if mu == 0.0:
        return 0
    log_term, cdf, k = -mu, 0.0, 0
    while True:
        cdf += math.exp(log_term)
        if cdf >= 0.99:
            return k
        k += 1
        log_term += math.log(mu) - math.log(k)


def test_poisson_p99_never_below_the_exact_quantile_and_at_most_one_above() -> None:
    mus = np.concatenate([np.linspace(0.0, 5.0, 1001), np.linspace(5.0, 100.0, 951), np.linspace(100.0, 2000.0, 381)])
    exact = np.array([_exact_poisson_p99(float(m)) for m in mus])
    approx = poisson_p99(mus)
    assert (approx >= exact).all()
    assert (approx - exact <= 1).all()
    assert (approx == exact).mean() > 0.97  # 98% exact on this grid
    assert (np.diff(approx) >= 0).all()  # the batch bisection needs it non-decreasing


@pytest.mark.parametrize(("mu", "expected"), [(0.005, 0), (0.1, 1), (1.0, 4), (10.0, 18)])
def test_poisson_p99_small_cases_by_hand(mu: float, expected: int) -> None:
    # mu 0.1: P(K=0) = 0.905, P(K<=1) = 0.995 -> 1; mu 1: P(K<=3) = 0.981, P(K<=4) = 0.996 -> 4
    assert float(poisson_p99(np.array(mu))) == expected == _exact_poisson_p99(mu)


def test_request_tpot_p99_by_hand() -> None:
    # 100 decode steps of 10 ms; a chunk-carrying step costs 110 ms; 0.05 chunks per step -> mu = 5,
    # p99 count = round(5 + 2.326 x 2.236 + 0.735) = round(10.94) = 11 chunks -> (100 x 10 + 11 x 100) / 100 = 21 ms
    got = request_tpot_p99(np.array(0.010), np.array(0.110), np.array(100.0), np.array(0.05))
    assert float(got) == pytest.approx(0.021)


def test_request_tpot_p99_at_most_one_chunk_per_step() -> None:
    got = request_tpot_p99(np.array(0.010), np.array(0.110), np.array(10.0), np.array(3.0))
    assert float(got) == pytest.approx(0.110)  # every step carries a chunk: the chunk step itself


def _tpot(osl: float) -> tuple[float, float, float]:
    sc = scenarios(CAT, ["b200_hgx"], 1, 0, [None])
    cases = LlmCases.of(CAT, [P["llama3.1-70b"]], ["fp8"], [4000.0], [osl], [None], [None], [False])
    g = evaluate(cases, sc, np.array([[8.0]]), np.array([64.0]), 0.9, batch_fill=False)
    jitter = float(sc.eff["tpot_jitter_factor"][0, 0])
    return float(g.tpot_p99_s[0, 0, 0, 0, 0]), float(g.tpot_s[0, 0, 0, 0, 0]), jitter


def test_a_longer_request_averages_its_chunks_out() -> None:
    """Per request, the chunks a request meets average out over its steps: the p99 / mean ratio falls
    toward the jitter factor as the output grows (the old per-step tail stayed at a full chunk step)."""
    short_p99, short_mean, jitter = _tpot(200.0)
    long_p99, long_mean, _ = _tpot(20000.0)
    assert short_p99 / short_mean > long_p99 / long_mean >= jitter * (1 - 1e-9)
    assert long_p99 / long_mean < 1.1 * jitter


@pytest.mark.parametrize(("ttft_ms", "tpot_ms"), [(6000.0, 175.0), (4500.0, 80.0)])
def test_llama_405b_mlperf_limits_on_8_b200_are_feasible(ttft_ms: float, tpot_ms: float) -> None:
    """MLPerf Inference's Llama 3.1 405B server (6 s / 175 ms) and interactive (4.5 s / 80 ms) p99 limits at
    its mean ISL 9,428.6 / OSL 684.68: served by real 8-GPU systems; a full 8,192-token chunk charged to
    every p99 step made them infeasible on any platform."""
    out = predict_inference("b200_hgx", P["llama3.1-405b"], "fp4", 8, 9428.6, 684.68, ttft_ms=ttft_ms, tpot_ms=tpot_ms)
    assert out["output_tokens_per_s_per_accelerator"] > 0
    assert out["tpot_p99_ms"] <= tpot_ms and out["ttft_p99_ms"] <= ttft_ms
    assert out["tpot_p99_ms"] >= out["tpot_ms"]
