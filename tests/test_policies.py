"""Sovereignty rules: one definition, enforced by the CrossGuard pack and by `aifactory plan` alike."""

from __future__ import annotations

import pytest

from aifactory.cli import main
from infra.offline import run_offline
from infra.rules import RULES, Context, Resource, check_all
from infra.settings import PROJECT, parse_settings
from policies.mutations import MUTATIONS, pack_messages, plan_messages, run
from policies.pack import policies
from tests.conftest import EXAMPLE


@pytest.fixture(scope="module")
def clean():
    settings = parse_settings({f"{PROJECT}:forecast": str(EXAMPLE), "aws:region": "eu-central-1",
                               f"{PROJECT}:samples": 400, f"{PROJECT}:buildYear": 2028}, "test")
    return run_offline(settings).rule_resources(), settings.regions


def test_every_rule_is_a_mandatory_pack_policy():
    pack = {p.name: p for p in policies()}
    assert set(pack) == {r.name for r in RULES}
    assert all(p.enforcement_level.value == "mandatory" for p in pack.values())


def test_every_rule_has_a_mutation():
    assert {m.rule for m in MUTATIONS} == {r.name for r in RULES}


def test_clean_factory_passes_both(clean):
    resources, regions = clean
    assert not any(plan_messages(resources, regions).values())
    assert not any(pack_messages(resources, regions).values())


def test_mutation_suite(clean, capsys):
    resources, regions = clean
    outcomes, clean_ok = run(resources, regions)
    missed = [o.mutation.what for o in outcomes if not (o.caught_by_plan and o.caught_by_pack and o.same_messages)]
    with capsys.disabled():
        print(f"\nmutation suite: rules {len(RULES)}, violations tried {len(outcomes)}, "
              f"caught by pack and plan with the same message {len(outcomes) - len(missed)}")
    assert clean_ok and not missed, missed


def test_messages_name_the_resource_and_the_fix(clean):
    resources, regions = clean
    broken = next(m for m in MUTATIONS if m.rule == "imdsv2-required").apply(resources)
    (v, *_) = [v for v in check_all(broken, Context(regions)).violations if v.rule == "imdsv2-required"]
    assert "aws:ec2/launchTemplate:LaunchTemplate 'aif-pods-pod-000-template'" in v.message
    assert "Fix: set metadata_options.http_tokens = 'required'" in v.message


def test_without_allowed_regions_the_provider_region_is_the_boundary():
    r = Resource("aws:bedrock/guardrail:Guardrail", "g", {"region": "us-west-2"}, provider_region="eu-central-1")
    assert [v.rule for v in check_all([r], Context()).violations] == ["allowed-region", "customer-managed-encryption"]


def test_plan_fails_with_the_rule_message_when_the_program_breaks_a_rule(monkeypatch, capsys):
    # make the real program leave IMDSv1 open: `aifactory plan` must refuse it with the rule's message
    import pulumi_aws as aws

    original = aws.ec2.LaunchTemplate.__init__

    def lax(self, name, *args, **kwargs):
        kwargs["metadata_options"] = {"http_tokens": "optional"}
        original(self, name, *args, **kwargs)

    monkeypatch.setattr(aws.ec2.LaunchTemplate, "__init__", lax)
    code = main(["plan", str(EXAMPLE), "--samples", "300", "--year", "2027", "--platform", "gb300_nvl72"])
    err = capsys.readouterr().err
    assert code == 1
    assert "[imdsv2-required]" in err and "httpTokens is 'optional'" in err
