"""sizing.words.plural: one rule for every count the tool prints ("1 group", not "1 groups")."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from sizing.words import plural


@pytest.mark.parametrize("count, singular, plural_form, expected", [
    (1, "group", None, "1 group"),
    (0, "group", None, "0 groups"),
    (2, "domain", None, "2 domains"),
    (1024, "UltraServer", None, "1,024 UltraServers"),
    (1, "policy", "policies", "1 policy"),
    (3, "policy", "policies", "3 policies"),
    (1.0, "rack", None, "1 rack"),
    (2.5, "rack", None, "2.5 racks"),
])
def test_plural(count, singular, plural_form, expected):
    assert plural(count, singular, plural_form) == expected


def test_offline_summary_of_one_group_says_group_not_groups():
    """The summary printed "1 groups" and "1 domains" (issue 11-13 closing note); counts now agree."""
    from infra.offline import run_offline, summary
    from tests.test_deploy_rules import settings

    m = run_offline(replace(settings(platform="gb300_nvl72", buildYear=2027, domainsPerGroup=64), samples=200))
    text = summary(m)
    groups = len(m.blueprint.pod_groups)
    assert f"pods: {plural(groups, 'group')}, " in text
    assert not re.search(r"(?<![\d,.])1 (groups|domains|components|resources|accelerators)\b", text)
