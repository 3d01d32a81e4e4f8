"""The recommendation as data: cap met, missed by one platform, missed by all; the share of samples."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aifactory.cli import main
from sizing.recommendation import cheaper_share


def _size(write_forecast, doc, capsys) -> tuple[dict, str]:
    doc["monte_carlo"]["samples"] = 200
    assert main(["size", str(write_forecast(doc)), "--json"]) == 0
    out = capsys.readouterr()
    return json.loads(out.out), out.err


def _peaks(plan: dict) -> dict[str, float]:
    return {pid: max(y["facility_power_mw"]["provisioned"] for y in p["years"].values())
            for pid, p in plan["platforms"].items()}


@pytest.fixture
def uncapped(small, write_forecast, capsys) -> tuple[dict, dict[str, float]]:
    plan, err = _size(write_forecast, small, capsys)
    assert "power cap" not in err
    return plan, _peaks(plan)


def test_cap_met_by_all(small, write_forecast, capsys, uncapped):
    plan0, peaks = uncapped
    small["site"]["power_cap_mw"] = max(peaks.values()) * 1.5
    plan, err = _size(write_forecast, small, capsys)
    rec = plan["recommendation"]
    assert rec["power_cap_met"] is True and rec["power_cap_needed_mw"] is None
    assert sorted(rec["platforms_within_cap"]) == sorted(peaks)
    assert err == ""
    # the cheapest over the horizon wins, and the reason says how sure
    tco = {pid: p["horizon"]["tco_usd"]["provisioned"] for pid, p in plan["platforms"].items()}
    assert rec["platform"] == min(tco, key=lambda p: tco[p]) and rec["basis"] == "tco_usd"
    assert rec["power_needed_mw"] == pytest.approx(peaks[rec["platform"]])
    assert sum(rec["cheaper_share"].values()) == pytest.approx(1.0)
    assert f"{rec['cheaper_share'][rec['platform']] * 100:.0f}%" in rec["reason"]


def test_cap_missed_by_one(small, write_forecast, capsys, uncapped):
    _plan0, peaks = uncapped
    low, high = sorted(peaks, key=lambda p: peaks[p])
    small["site"]["power_cap_mw"] = (peaks[low] + peaks[high]) / 2
    plan, err = _size(write_forecast, small, capsys)
    rec = plan["recommendation"]
    assert rec["platform"] == low and rec["power_cap_met"] is True
    assert rec["platforms_within_cap"] == [low]
    assert high in err and "exceed" in err and "power cap" in err
    assert all(y["power_cap_met"] is False for y in list(plan["platforms"][high]["years"].values())[-1:])


def test_cap_missed_by_all(small, write_forecast, capsys, uncapped):
    _plan0, peaks = uncapped
    small["site"]["power_cap_mw"] = min(peaks.values()) / 2
    plan, err = _size(write_forecast, small, capsys)
    rec = plan["recommendation"]
    assert rec["power_cap_met"] is False and rec["platforms_within_cap"] == []
    assert rec["power_cap_needed_mw"] == pytest.approx(min(peaks.values()))
    assert rec["power_needed_mw"] == pytest.approx(peaks[rec["platform"]])
    assert "no platform fits" in rec["reason"] and "no platform fits" in err
    assert f"{small['site']['power_cap_mw']:g} MW" in err


def test_cheaper_share_counts_samples_and_skips_unpriced():
    tco = np.array([[1.0, 5.0, 1.0, 5.0], [2.0, 2.0, 2.0, 0.5], [np.nan, np.nan, np.nan, np.nan]])
    share = cheaper_share(tco, ["a", "b", "c"])
    assert share == {"a": 0.5, "b": 0.5, "c": None}
    assert cheaper_share(tco[2:], ["c"]) == {"c": None}


def test_report_recommends_what_the_plan_says(small, write_forecast, capsys, uncapped):
    from aifactory.report import recommend

    plan, _ = uncapped
    assert recommend(plan)[0] == plan["recommendation"]["platform"]


def test_plan_says_when_the_cap_is_exceeded(small, write_forecast, capsys):
    small["site"]["power_cap_mw"] = 0.1
    small["monte_carlo"]["samples"] = 100
    assert main(["plan", str(write_forecast(small)), "--json"]) == 0  # a finding, not an input error
    err = capsys.readouterr().err
    assert "no platform fits the site's 0.1 MW power cap" in err


def test_unpriced_platform_has_no_share_and_no_false_certainty(small, write_forecast, capsys):
    small["workloads"] = [w for w in small["workloads"] if w["kind"] != "training"]
    small["platforms"] = ["b200_hgx", "h100_hgx"]  # cloud price only; no price at all
    plan, _ = _size(write_forecast, small, capsys)
    rec = plan["recommendation"]
    assert rec["platform"] == "b200_hgx" and rec["cheaper_share"] == {"b200_hgx": 1.0, "h100_hgx": None}
    assert "cheapest in" not in rec["reason"]  # one priced platform: nothing to be sure about
    assert plan["platforms"]["h100_hgx"]["horizon"]["tco_usd"]["provisioned"] is None
    assert plan["platforms"]["b200_hgx"]["horizon"]["capex_usd"]["provisioned"] is None  # rent, no capex
    assert plan["platforms"]["b200_hgx"]["horizon"]["tco_usd"]["provisioned"] > 0
