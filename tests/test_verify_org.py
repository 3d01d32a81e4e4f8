"""`aifactory verify-org`: the live SCPs and attachments (moto's Organizations) judged by the org program's rules."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from aifactory.cli import main as cli
from infra.organization.scps import documents
from infra.verify_org import read_scps, verify_org

ROLE = "arn:aws:iam::111122223333:role/aif-deployer"


@pytest.fixture
def org(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("organizations", region_name="us-east-1")
        client.create_organization(FeatureSet="ALL")
        root = client.list_roots()["Roots"][0]["Id"]
        ou = client.create_organizational_unit(ParentId=root, Name="factory")["OrganizationalUnit"]["Id"]
        client.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
        yield client, root, ou


def deploy(client, target, docs):
    """What the org program creates: each SCP, attached to the target."""
    for label, doc in docs.items():
        pid = client.create_policy(Name=f"aif-{label}", Description="aif guardrail", Type="SERVICE_CONTROL_POLICY",
                                   Content=json.dumps(doc))["Policy"]["PolicySummary"]["Id"]
        if target:
            client.attach_policy(PolicyId=pid, TargetId=target)


def test_the_org_program_scps_live_pass(org):
    client, _root, ou = org
    deploy(client, ou, documents(("eu-central-1",), ROLE))
    result = verify_org(client, target=ou)
    assert not result.blocking, result.findings
    assert "3 SCPs binding" in result.findings[0].message and "3 attachments" in result.findings[0].message


def test_a_missing_denial_fails_by_the_same_rule_as_the_org_program(org):
    client, _root, ou = org
    docs = documents(("eu-central-1",), ROLE)
    del docs["no-egress"]
    deploy(client, ou, docs)
    rules = {f.check for f in verify_org(client, target=ou).blocking}
    assert rules == {"sovereignty:scp-complete"}


def test_local_gateway_routing_passes_only_with_declared_on_site_networks(org):
    client, _root, ou = org
    deploy(client, ou, documents(("eu-central-1",), ROLE, local_gateway_routing=True))
    assert {f.check for f in verify_org(client, target=ou).blocking} == {"sovereignty:scp-complete"}
    assert not verify_org(client, ("192.168.0.0/16",), target=ou).blocking


def test_an_unattached_scp_and_one_binding_another_target(org):
    client, root, ou = org
    deploy(client, None, documents(("eu-central-1",), ROLE))
    assert {f.check for f in verify_org(client).blocking} == {"sovereignty:scp-attached"}
    (f,) = verify_org(client, target=ou).blocking  # none of them binds the factory's OU
    assert f.check == "scps" and "no customer-managed SCP binding" in f.message
    for p in client.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]:
        if not p["AwsManaged"]:
            client.attach_policy(PolicyId=p["Id"], TargetId=root)  # on the root: binds the OU too
    assert not verify_org(client, target=ou).blocking
    assert {r.type.rsplit(":", 1)[1] for r in read_scps(client, ou)} == {"Policy", "PolicyAttachment"}


@pytest.mark.parametrize("code", ["AccessDeniedException", "TooManyRequestsException"])
def test_access_denied_and_throttling_are_findings(code):
    client = boto3.client("organizations", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("list_policies", service_error_code=code, http_status_code=400 if "Access" in code
                              else 429, expected_params={"Filter": "SERVICE_CONTROL_POLICY"})
        (f,) = verify_org(client).findings
    assert f.severity == "blocking" and f.message.startswith("could not check:") and f.fix


def test_the_command_line(org, capsys):
    client, _root, ou = org
    deploy(client, ou, documents(("eu-central-1",), ROLE))
    assert cli(["verify-org", "--target", ou]) == 0
    out = capsys.readouterr().out
    assert "verify-org" in out and "0 blocking" in out
    assert cli(["verify-org", "--target", ou, "--on-site-cidr", "0.0.0.0/0"]) == 2
    assert "--on-site-cidr" in capsys.readouterr().err
