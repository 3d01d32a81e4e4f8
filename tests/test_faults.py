"""Fault injection: preflight and verify against moto's server behind a proxy that breaks AWS on purpose.

The oracle is the same for every fault: no exception escapes, and every finding is either one the
fault-free run also gives, or says the check could not be made ("could not check" / "not checked").
So a fault can never turn into a false finding ("model not offered", "trail missing", a quota it never
read), and it must be reported. Loopback only, short timeouts, a small run budget: the whole matrix runs
in well under a minute on a laptop.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
import yaml

from infra.findings import Clients, Finding, Result
from infra.preflight import preflight
from infra.program import prepare
from infra.settings import PROJECT, parse_settings
from infra.verify import verify
from tests.faults import FAULTS, FaultProxy

REGION, ACCOUNT = "us-east-2", "123456789012"
SERVICES = ("ec2", "sts", "servicequotas", "bedrock", "kms", "s3", "cloudtrail")
FORECAST = {
    "name": "faults", "site": {"name": "dc", "region": REGION, "pue": 1.2, "electricity_usd_per_mwh": 90},
    "horizon": {"start_year": 2027, "years": 1}, "platforms": ["trn2"], "provision_percentile": 90,
    "headroom": 0.1, "monte_carlo": {"samples": 100, "seed": 1},
    "workloads": [
        {"name": "chat", "application": "chatbot", "kind": "llm_inference", "model": "llama3.3-70b",
         "precision": "fp8", "input_tokens": 1000, "output_tokens": 300, "ttft_ms": 3000, "tpot_ms": 150,
         "demand": {"unit": "requests_per_s", "base": 20, "growth": 0.3, "uncertainty": {"sigma": 0.1}}},
        {"name": "assistant", "application": "chatbot", "kind": "llm_inference", "model": "llama3.3-70b",
         "precision": "fp8", "input_tokens": 1000, "output_tokens": 300,
         "serving": {"target": "bedrock", "model_id": "meta.llama3-3-70b-instruct-v1:0", "model_units": 1},
         "demand": {"unit": "requests_per_s", "base": 1, "growth": 0.1, "uncertainty": {"sigma": 0.1}}},
    ],
}
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, str]:
    path = tmp_path_factory.mktemp("faults") / "forecast.yaml"
    path.write_text(yaml.safe_dump(FORECAST))
    settings = parse_settings({f"{PROJECT}:forecast": str(path), "aws:region": REGION,
                               "aws:allowedAccountIds": [ACCOUNT], f"{PROJECT}:platform": "trn2",
                               f"{PROJECT}:buildYear": 2027, f"{PROJECT}:samples": 100}, "faults")
    return settings, prepare(settings)[2], str(path)


@pytest.fixture(scope="module")
def upstream(planned: tuple[Any, Any, str]) -> Iterator[tuple[str, int]]:
    """moto's server on loopback, seeded with a factory VPC, an instance, the key alias and a bucket."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in CREDS}
    os.environ.update(CREDS)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        _seed(f"http://127.0.0.1:{port}", planned[1].name)
        yield "127.0.0.1", port
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _seed(url: str, name: str) -> None:
    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=url)

    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": f"{name}-vpc"}])
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, SubnetId=subnet, InstanceType="m5.large")
    kms = client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/{name}-factory", TargetKeyId=key)
    client("s3").create_bucket(Bucket=f"{name}-datasets-{ACCOUNT}-{REGION}",
                               CreateBucketConfiguration={"LocationConstraint": REGION})


@pytest.fixture(scope="module")
def proxy(upstream: tuple[str, int]) -> Iterator[FaultProxy]:
    with FaultProxy(upstream) as p:
        # warm the proxy's copy of moto's endpoint-service list (moto takes seconds to build it)
        boto3.client("ec2", region_name=REGION, endpoint_url=p.url).describe_vpc_endpoint_services()
        yield p


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, proxy: FaultProxy, tmp_path: Any) -> FaultProxy:
    for k, v in {**CREDS, "AWS_ENDPOINT_URL": proxy.url, "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard",
                 "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                 "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    proxy.set(None)
    return proxy


BUDGET_S, READ_TIMEOUT_S = 30.0, 2.0


def _run(command: str, planned: tuple[Any, Any, str], budget_s: float = BUDGET_S) -> Result:
    settings, bp, _ = planned
    clients = Clients.for_region(REGION, budget_s=budget_s, connect_timeout_s=1, read_timeout_s=READ_TIMEOUT_S)
    if command == "preflight":
        return preflight(settings, bp, clients, REGION)
    return verify(settings, bp, clients)


BASELINE: dict[str, list[Finding]] = {}


def _baseline(command: str, planned: tuple[Any, Any, str], proxy: FaultProxy) -> list[Finding]:
    if command not in BASELINE:
        proxy.set(None)
        BASELINE[command] = _run(command, planned).findings
    return BASELINE[command]


def _judge(result: Result, baseline: list[Finding], fault: str, scope: str) -> None:
    unable = [f for f in result.findings if f.message.startswith(("could not check", "not checked"))]
    invented = [f for f in result.findings if f not in baseline and f not in unable]
    assert not invented, f"{fault} on {scope} produced findings the fault-free run does not: {invented}"
    assert unable, f"{fault} on {scope}: no finding says a check could not be made"
    assert all(f.fix for f in unable), unable
    assert all(len(f.message) < 400 and "\n" not in f.message for f in unable), unable


def test_fault_free_runs_read_the_emulator(env: FaultProxy, planned: tuple[Any, Any, str]) -> None:
    pre = _baseline("preflight", planned, env)
    ver = _baseline("verify", planned, env)
    assert any(f.check == "account" and ACCOUNT in f.message for f in pre)
    assert any(f.check == "factory" and "2 instances running" in f.message for f in ver)
    # moto does not implement everything preflight asks: those checks say so instead of crashing
    assert all(f.message.startswith("could not check") or f.severity != "blocking" or "could not" not in f.message
               for f in pre)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("command", ["preflight", "verify"])
def test_fault_on_every_service(env: FaultProxy, planned: tuple[Any, Any, str], command: str, fault: str) -> None:
    baseline = _baseline(command, planned, env)
    env.set(fault)
    result = _run(command, planned, budget_s=5 if fault == "hang" else BUDGET_S)
    _judge(result, baseline, fault, "every service")
    assert result.blocking


# each service meets every fault across the two commands, in a rotating pattern (70 runs, not 140); by
# default a slice of 14 of them (every service twice, every fault at least once) keeps the suite quick:
# AIFACTORY_FAULTS=all runs the 70
PAIRS = [(service, fault, ("preflight", "verify")[(i + j) % 2])
         for i, service in enumerate(SERVICES) for j, fault in enumerate(FAULTS)]
if os.environ.get("AIFACTORY_FAULTS") != "all":
    PAIRS = [p for k, p in enumerate(PAIRS) if k % 5 == (k // len(FAULTS)) % 5]


@pytest.mark.parametrize(("service", "fault", "command"), PAIRS)
def test_fault_on_one_service(env: FaultProxy, planned: tuple[Any, Any, str], service: str, fault: str,
                              command: str) -> None:
    baseline = _baseline(command, planned, env)
    env.set(fault, service)
    before = len(env.seen)
    result = _run(command, planned)
    touched = any(s == service for s, _ in env.seen[before:])
    if touched:
        _judge(result, baseline, fault, service)
    else:  # this command does not call the service (or the budget ran out first): nothing may change
        assert result.findings == baseline or all(f in baseline or f.message.startswith(("could not", "not checked"))
                                                  for f in result.findings)


def test_hang_everywhere_stays_within_the_budget(env: FaultProxy, planned: tuple[Any, Any, str]) -> None:
    import time

    env.set("hang")
    started = time.monotonic()
    result = _run("preflight", planned, budget_s=3)
    elapsed = time.monotonic() - started
    assert any(f.message.startswith("not checked: the run's time budget") for f in result.findings)
    assert elapsed < 3 + READ_TIMEOUT_S + 10  # budget + one call's read timeout + slack (a bound, not a speed test)


def test_throttling_after_the_sdks_retries(env: FaultProxy, monkeypatch: pytest.MonkeyPatch,
                                           planned: tuple[Any, Any, str]) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    env.set("throttle", "sts")
    before = len(env.seen)
    result = _run("preflight", planned)
    assert sum(s == "sts" for s, _ in env.seen[before:]) == 3  # the SDK retried, then the check gave up
    account = next(f for f in result.findings if f.check == "account")
    assert "still throttled after the SDK's retries" in account.message and "AWS_MAX_ATTEMPTS" in account.fix


def _cli(args: list[str], capsys: pytest.CaptureFixture[str], planned: tuple[Any, Any, str]) -> tuple[int, Any]:
    from aifactory.cli import main

    code = main(["preflight", planned[2], "--platform", "trn2", "--samples", "100", "--json", "--time-budget", "5",
                 *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if code == 2:
        assert len(captured.err.strip().splitlines()) == 1 and "region" in captured.err, captured.err
    return code, json.loads(captured.out) if captured.out else None


CONFIG_ATTACKS = {
    "bad region": ({}, ["--region", "not a region!"]),
    "region with a path": ({}, ["--region", "us-east-2/../../x"]),
    "missing profile": ({"AWS_PROFILE": "no-such-profile"}, ["--region", REGION]),
    "endpoint not a URL": ({"AWS_ENDPOINT_URL": "not a url"}, ["--region", REGION]),
    "endpoint unreachable": ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, ["--region", REGION]),
    "max attempts not a number": ({"AWS_MAX_ATTEMPTS": "many"}, ["--region", REGION]),
    "max attempts negative": ({"AWS_MAX_ATTEMPTS": "-3"}, ["--region", REGION]),
    "retry mode unknown": ({"AWS_RETRY_MODE": "sometimes"}, ["--region", REGION]),
    "no credentials": ({"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None},
                       ["--region", REGION]),
}


@pytest.mark.parametrize("attack", sorted(CONFIG_ATTACKS))
def test_bad_configuration_is_a_finding(env: FaultProxy, monkeypatch: pytest.MonkeyPatch, capsys: Any,
                                        planned: tuple[Any, Any, str], attack: str) -> None:
    variables, args = CONFIG_ATTACKS[attack]
    for k, v in variables.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)
    code, out = _cli(args, capsys, planned)
    if code == 2:  # the stack settings refuse a region AWS does not have: bad input, one line naming it
        assert attack in ("bad region", "region with a path") and out is None
        return
    assert code == 1, attack
    unable = [f for f in out["findings"] if f["message"].startswith(("could not check", "not checked"))]
    assert unable and all(f["fix"] for f in unable), out


def test_verify_pages_and_chunks_instance_filters(planned: tuple[Any, Any, str]) -> None:
    """EC2 refuses more than 200 filter values: 450 instance ids go out as slices of 200, 200 and 50."""
    from botocore.stub import Stubber

    from infra.verify import _ec2

    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    ids = [f"i-{n:017x}" for n in range(450)]
    with Stubber(ec2) as stub:
        for part in (ids[:200], ids[200:400], ids[400:]):
            stub.add_response("describe_volumes", {"Volumes": [{"VolumeId": f"vol-{part[0][2:]}"}],
                                                   "NextToken": "more"},
                              {"Filters": [{"Name": "attachment.instance-id", "Values": part}]})
            stub.add_response("describe_volumes", {"Volumes": [{"VolumeId": f"vol-{part[-1][2:]}"}]},
                              {"Filters": [{"Name": "attachment.instance-id", "Values": part}], "NextToken": "more"})
        clients = Clients(region=REGION, ec2=ec2)
        volumes = _ec2(clients, "describe_volumes", "Volumes", ("attachment.instance-id", ids))
        stub.assert_no_pending_responses()
    assert len(volumes) == 6


def test_malformed_kms_answer_is_not_a_missing_key(planned: tuple[Any, Any, str]) -> None:
    """A KMS answer without KeyMetadata (the KeyError of issue 13) is 'could not check', not 'key missing'."""
    from unittest import mock

    settings, bp, _ = planned
    kms = mock.Mock()
    kms.describe_key.return_value = {"ResponseMetadata": {}}
    result = verify(settings, bp, replace(Clients(region=REGION), kms=kms))
    assert [f.check for f in result.findings] == ["factory"]
    assert result.findings[0].message.startswith("could not check: AWS's answer could not be read")
