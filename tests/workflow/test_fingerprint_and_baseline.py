"""Fingerprints survive unrelated edits; the baseline hides known findings and reports stale ones."""

from __future__ import annotations

import json

import pytest
from workflow_helpers import find

from kinkcheck.workflow import baseline as bl
from kinkcheck.workflow.errors import WorkflowError
from kinkcheck.fingerprint import fingerprint, fingerprints, read_lines
from kinkcheck.workflow.options import apply_workflow

LOSS = """\
import torch

def loss(pred, target):
    return torch.abs(pred - target).mean()
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fp_of(path, needle, **kw):
    f = find(path, needle, **kw)
    return fingerprint(f, read_lines(path))


def test_fingerprint_stays_when_unrelated_lines_are_added_above(project):
    src = project / "loss.py"
    src.write_text(LOSS)
    before = fp_of(src, "torch.abs(pred - target)")
    src.write_text("import math\n\nSCALE = 2.0\n\n\n" + LOSS)
    assert fp_of(src, "torch.abs(pred - target)") == before


def test_fingerprint_ignores_reformatting_and_a_trailing_comment(project):
    src = project / "loss.py"
    src.write_text(LOSS)
    before = fp_of(src, "torch.abs(pred - target)")
    src.write_text(LOSS.replace("torch.abs(pred - target).mean()", "torch.abs(pred-target).mean()  # TODO look"))
    assert fp_of(src, "torch.abs(pred-target)") == before


def test_fingerprint_changes_with_the_code_the_rule_or_the_function(project):
    src = project / "loss.py"
    src.write_text(LOSS)
    base = fp_of(src, "torch.abs(pred - target)")
    assert fp_of(src, "torch.abs(pred - target)", code="KC102", name="relu-at-zero") != base
    assert fp_of(src, "torch.abs(pred - target)", function="other") != base
    src.write_text(LOSS.replace("pred - target", "pred - 2 * target"))
    assert fp_of(src, "torch.abs(pred - 2 * target)") != base


def test_identical_findings_get_distinct_fingerprints_in_source_order(project):
    src = project / "loss.py"
    src.write_text("def loss(x):\n    a = abs(x)\n    a = abs(x)\n    return a\n")
    first, second = find(src, "abs(x)"), find(src, "abs(x)", nth=1)
    fps = fingerprints([second, first])
    assert fps[0] != fps[1]
    assert fingerprints([first, second]) == fps[::-1]  # order of the list does not matter
    assert len({*fps}) == 2


def test_baseline_hides_known_findings_even_after_the_code_moves(project):
    src = project / "loss.py"
    src.write_text(LOSS)
    bl.write("kink-baseline.json", [find(src, "torch.abs(pred - target)")], root=project)

    src.write_text('"""Losses."""\nimport math\n\n\ndef helper():\n    return 1\n\n' + LOSS.replace("import torch\n", "import torch\n\n"))
    moved = find(src, "torch.abs(pred - target)")
    assert moved.line != 4
    new, known, stale = bl.apply([moved], bl.load("kink-baseline.json"), root=project)
    assert (new, known, stale) == ([], [moved], [])


def test_a_second_copy_of_a_known_kink_is_new(project):
    src = project / "loss.py"
    src.write_text(LOSS)
    bl.write("b.json", [find(src, "torch.abs(pred - target)")], root=project)
    src.write_text(LOSS + "    return torch.abs(pred - target).mean()\n")
    first, second = find(src, "torch.abs(pred - target)"), find(src, "torch.abs(pred - target)", nth=1)
    new, known, _ = bl.apply([first, second], bl.load("b.json"), root=project)
    assert known == [first] and new == [second]


def test_stale_entries_are_reported_for_fixed_kinks(project):
    src = project / "loss.py"
    src.write_text(LOSS)
    bl.write("b.json", [find(src, "torch.abs(pred - target)")], root=project)
    src.write_text(LOSS.replace("torch.abs(pred - target)", "(pred - target) ** 2"))

    findings, notes = apply_workflow([], root=project, baseline="b.json")
    assert findings == []
    assert notes == [
        "baseline: 1 stale entry no longer matches a finding (fixed, documented or edited): "
        "loss.py:4 KC101 in loss; refresh with --write-baseline b.json"
    ]


def test_stale_report_is_limited_to_the_checked_paths(project):
    (project / "a.py").write_text(LOSS)
    (project / "b.py").write_text(LOSS)
    both = [find(project / "a.py", "torch.abs(pred - target)"), find(project / "b.py", "torch.abs(pred - target)")]
    bl.write("b.json", both, root=project)
    # pre-commit passes only a.py, which is unchanged: b.py's entry is not stale, just unchecked
    _, notes = apply_workflow([both[0]], root=project, baseline="b.json", paths=["a.py"])
    assert notes == ["baseline: 1 known finding hidden by b.json"]


def test_documented_findings_pass_through_and_are_not_written(project):
    src = project / "loss.py"
    src.write_text(LOSS.replace(".mean()", ".mean()  # kink: L1 on purpose"))
    documented = find(src, "torch.abs(pred - target)", documented=True, reason="L1 on purpose")
    findings, notes = apply_workflow([documented], root=project, write_baseline="b.json")
    assert findings == [documented]
    assert notes == ["baseline: recorded 0 undocumented findings in b.json"]
    assert json.loads((project / "b.json").read_text())["findings"] == []


def test_write_baseline_records_and_clears_the_run(project):
    src = project / "loss.py"
    src.write_text(LOSS)
    f = find(src, "torch.abs(pred - target)")
    findings, notes = apply_workflow([f], root=project, write_baseline="ci/kinks.json")
    assert findings == [] and notes == ["baseline: recorded 1 undocumented finding in ci/kinks.json"]
    doc = json.loads((project / "ci" / "kinks.json").read_text())
    assert doc["format"] == "kinkcheck-baseline" and doc["version"] == 1
    (entry,) = doc["findings"]
    assert entry == {
        "fingerprint": fingerprints([f], root=project)[0],
        "code": "KC101",
        "path": "loss.py",
        "line": 4,
        "function": "loss",
        "message": f.message,
    }


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "is not valid JSON"),
        ('{"format": "something-else"}', "is not a kinkcheck baseline"),
        ('{"format": "kinkcheck-baseline", "version": 99, "findings": []}', "has version 99"),
        ('{"format": "kinkcheck-baseline", "version": 1, "findings": [{"code": "KC101"}]}', "malformed entry"),
    ],
)
def test_a_bad_baseline_is_one_clear_error(project, content, message):
    (project / "b.json").write_text(content)
    with pytest.raises(WorkflowError, match=message) as exc:
        apply_workflow([], root=project, baseline="b.json")
    assert exc.value.exit_code == 2


def test_baseline_and_write_baseline_do_not_combine(project):
    with pytest.raises(WorkflowError, match="cannot be combined"):
        apply_workflow([], root=project, baseline="a.json", write_baseline="b.json")
