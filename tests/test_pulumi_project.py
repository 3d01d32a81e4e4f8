"""Pulumi.yaml against Pulumi's own project schema (vendored in tests/data with its source, see SOURCES.md).

The CLI validates Pulumi.yaml whenever it loads the project: a project the schema refuses fails every
`pulumi stack init/preview/up` (issue 11, item 1: `type: object` for `site`).
"""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from infra.settings import _KEYS
from tests.conftest import ROOT

SCHEMA = json.loads((ROOT / "tests" / "data" / "pulumi-project.schema.json").read_text())


def validate(doc: object) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)


@pytest.mark.parametrize("project", ["Pulumi.yaml", "org/Pulumi.yaml"])
def test_pulumi_yaml_is_a_valid_pulumi_project(project):
    """The factory program and the organisation program (run in the management account) alike."""
    validate(yaml.safe_load((ROOT / project).read_text()))


def test_the_schema_refuses_an_object_config_type():
    """The check is live: the declaration issue 11 found (site: {type: object}) is refused."""
    doc = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    doc["config"]["site"] = {"type": "object", "description": "where the factory stands"}
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)


def test_declared_keys_are_keys_the_program_reads():
    declared = set(yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"])
    assert declared <= _KEYS
    # the structured key is documented in Pulumi.yaml's comment, set in stack files, never declared
    assert _KEYS - declared == {"site"}


def test_no_declared_default_hides_a_forecast_or_site_default():
    """Pulumi passes declared defaults to the program as set values: these defaults belong to the program."""
    config = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    for key in ("platform", "samples", "seed", "capacityType"):
        assert "default" not in config[key], key
