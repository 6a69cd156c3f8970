"""``kinkcheck report`` on the fixture project with the real static analyzer: formats,
output files, and every kind of bad input (one clear line, exit 2, never a traceback)."""

from __future__ import annotations

import json

import pytest
from report_helpers import line_of, site, trace


@pytest.fixture
def trace_file(project):
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    relu_line, _ = line_of(project / "train.py", "F.relu(")
    path = project / "run.trace.json"
    path.write_text(json.dumps(trace(project, [
        site("train.py", abs_line, "KC101", evaluations=5000, exact=7, near=11, function="loss_fn"),
        site("train.py", relu_line, "KC102", evaluations=8000, exact=0, near=0, function="Net.forward"),
    ])))
    return path


def test_report_joins_the_analyzer_with_the_trace(cli, project, trace_file):
    result = cli("report", ".", "--trace", "run.trace.json", "--format", "json", "--no-cache")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    sites = {(s["code"], s["line"]): s for s in data["sites"]}
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    kc101 = sites[("KC101", abs_line)]
    assert (kc101["origin"], kc101["status"]) == ("both", "hit")
    assert (kc101["runtime"]["exact"], kc101["runtime"]["near"]) == (7, 11)
    assert kc101["remedies"][0]["rewrite"] == "torch.sqrt(d * d + 1e-6) - 0.001"
    assert [s["code"] for s in data["sites"]] == ["KC101", "KC102", "KC103", "KC401", "KC201"]
    assert data["summary"]["by_status"] == {"hit": 1, "near": 0, "clear": 1, "not-exercised": 2, "not-traced": 1}
    assert data["traces"][0]["path"] == "run.trace.json"


def test_terminal_is_the_default_and_html_goes_to_a_file(cli, project, trace_file):
    result = cli("report", "train.py", "--trace", "run.trace.json", "--no-cache")
    assert result.exit_code == 0
    assert "Sites by category and status" in result.stdout and "KC101 abs-at-zero" in result.stdout
    result = cli("report", "train.py", "--trace", "run.trace.json", "--format", "html", "-o", "out/kinks.html")
    assert result.exit_code == 2  # out/ does not exist
    assert "cannot write out/kinks.html" in result.stderr
    result = cli("report", "train.py", "--trace", "run.trace.json", "--format", "html", "-o", "kinks.html")
    assert result.exit_code == 0 and result.stdout == ""
    assert (project / "kinks.html").read_text().startswith("<!DOCTYPE html>")
    assert "wrote kinks.html" in result.stderr


def test_hide_documented(cli, project):
    shown = json.loads(cli("report", ".", "--format", "json").stdout)
    hidden = json.loads(cli("report", ".", "--format", "json", "--hide-documented").stdout)
    assert [s["code"] for s in shown["sites"] if s["documented"]] == ["KC201"]
    assert all(not s["documented"] for s in hidden["sites"]) and hidden["summary"]["hidden_documented"] == 1


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such trace file"),
    ('{"format": "kinkcheck-trace", "version": 1, "sites": [', "not valid JSON (truncated or corrupt?)"),
    ("", "empty file"),
    ('{"format": "kinkcheck-trace", "version": 9, "root": "/", "ranks": [0], "steps": 1, "near": {}, "sites": []}',
     "newer kinkcheck"),
    ('{"hello": "world"}', "not a kinkcheck trace"),
])
def test_an_unusable_trace_is_one_clear_line_exit_2_and_a_static_report(cli, project, content, message, tmp_path):
    if content is not None:
        (project / "bad.trace.json").write_text(content)
    result = cli("report", ".", "--trace", "bad.trace.json", "--format", "markdown")
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("kinkcheck: error:")]
    assert len(errors) == 1 and "bad.trace.json" in errors[0] and message in errors[0]
    assert "Traceback" not in result.stderr
    assert "> [!WARNING]" in result.stdout and message in result.stdout  # the report says what it could not use
    assert "No trace given" in result.stdout and "KC101 abs-at-zero" in result.stdout


def test_a_trace_from_another_checkout_is_joined_and_the_report_says_how(cli, project):
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    (project / "ci.trace.json").write_text(json.dumps(trace("/ci/build/42", [
        site("train.py", abs_line - 2, "KC101", exact=3, function="train.loss_fn.<locals>.<genexpr>"),
        site("src/gone.py", 10, "KC204", exact=1),
    ])))
    result = cli("report", ".", "--trace", "ci.trace.json", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "recorded under /ci/build/42" in out
    assert f"trace line {abs_line - 2} matched to line {abs_line}" in out
    assert "Not found in this checkout: src/gone.py." in out
    assert "1 of 2 runtime site(s) joined to static findings (1 by function after their line moved)" in out


def test_an_empty_project(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("report", ".", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    assert "No kink sites found in 0 files." in result.stdout


def test_a_path_that_does_not_exist_is_exit_2_with_a_report(cli, project):
    result = cli("report", "nope.py", "--format", "markdown")
    assert result.exit_code == 2
    assert "nope.py" in result.stderr and "Traceback" not in result.stderr
    assert "nope.py" in result.stdout  # listed as a problem in the report


def test_the_command_is_registered(cli):
    result = cli("--help")
    assert "report" in result.stdout
    help_text = cli("report", "--help").stdout
    for option in ("--trace", "--format", "-o, --output", "--show-documented / --hide-documented", "--all"):
        assert option in help_text
