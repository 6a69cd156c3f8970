"""``--diff``: only findings on lines changed since a revision, in a real git repository."""

from __future__ import annotations

import io

import pytest
from workflow_helpers import find, git

from kinkcheck.workflow.diff import parse_unified_diff
from kinkcheck.workflow.errors import WorkflowError
from kinkcheck.workflow.options import apply_workflow

OLD = """\
import torch


def loss(pred, target):
    return torch.abs(pred - target).mean()
"""

NEW = """\
import torch


def loss(pred, target):
    return torch.abs(pred - target).mean()


def penalty(w):
    return torch.sqrt(w).sum()
"""


@pytest.fixture
def repo(git_repo, monkeypatch):
    (git_repo / "loss.py").write_text(OLD)
    git(git_repo, "add", "loss.py")
    git(git_repo, "commit", "-qm", "base")
    (git_repo / "loss.py").write_text(NEW)
    monkeypatch.chdir(git_repo)
    return git_repo


def both(repo):
    old = find(repo / "loss.py", "torch.abs(pred - target)")
    new = find(repo / "loss.py", "torch.sqrt(w)", code="KC201", name="sqrt-at-zero", function="penalty")
    return old, new


def test_diff_rev_keeps_findings_on_changed_lines_only(repo):
    git(repo, "commit", "-qam", "add penalty")
    old, new = both(repo)
    findings, notes = apply_workflow([old, new], root=repo, diff="HEAD~1")
    assert findings == [new]
    assert notes == ["diff: 1 finding outside lines changed since HEAD~1 hidden"]


def test_diff_rev_counts_uncommitted_edits_and_untracked_files(repo):
    (repo / "extra.py").write_text("def loss(x):\n    return abs(x)\n")
    old, new = both(repo)
    untracked = find(repo / "extra.py", "abs(x)")
    findings, _ = apply_workflow([old, new, untracked], root=repo, diff="HEAD")
    assert findings == [new, untracked]


def test_diff_from_stdin(repo):
    old, new = both(repo)
    patch = git(repo, "diff", "-U0", "HEAD")
    findings, notes = apply_workflow([old, new], root=repo, diff="-", stdin=io.StringIO(patch))
    assert findings == [new]
    assert notes == ["diff: 1 finding outside lines changed since the diff on stdin hidden"]


def test_diff_works_from_a_subdirectory(repo, monkeypatch):
    (repo / "pkg").mkdir()
    (repo / "pkg" / "m.py").write_text("def loss(x):\n    return x\n")
    git(repo, "add", "pkg")
    git(repo, "commit", "-qm", "pkg")
    (repo / "pkg" / "m.py").write_text("def loss(x):\n    return abs(x)\n")
    monkeypatch.chdir(repo / "pkg")
    f = find(repo / "pkg" / "m.py", "abs(x)")
    assert f.path == "m.py"
    findings, _ = apply_workflow([f], root=repo / "pkg", diff="HEAD")
    assert findings == [f]


def test_unknown_revision_is_one_clear_error(repo):
    with pytest.raises(WorkflowError, match="unknown git revision 'no-such-branch'") as exc:
        apply_workflow([], root=repo, diff="no-such-branch")
    assert exc.value.exit_code == 2


def test_diff_outside_git_is_one_clear_error(tmp_path):
    with pytest.raises(WorkflowError, match="not inside a git repository"):
        apply_workflow([], root=tmp_path, diff="HEAD")


def test_parse_unified_diff_reads_hunks_new_files_deletions_and_plain_diff_u():
    text = """\
diff --git a/a.py b/a.py
--- a/a.py
+++ b/a.py
@@ -3,0 +4,2 @@ def f():
+    x = 1
+    y = 2
@@ -10 +12 @@
-old
+new
@@ -20,3 +22,0 @@
-gone
diff --git a/gone.py b/gone.py
--- a/gone.py
+++ /dev/null
@@ -1,2 +0,0 @@
-a
-b
--- old/c.py\t2026-01-01 10:00:00
+++ c.py\t2026-01-02 10:00:00
@@ -1 +1,3 @@
"""
    assert parse_unified_diff(text) == {"a.py": {4, 5, 12}, "c.py": {1, 2, 3}}


def test_a_form_feed_in_a_changed_line_does_not_end_the_line():
    """Git ends diff lines at \\n only; str.splitlines would also end one at a form feed, so the
    hunk's counts would run out early and its last lines (a removed ``-- a/b.py``, an added
    ``++ b/b.py``) would be read as the next file's header."""
    text = ("--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,3 @@\n x\n+\x0c\n--- a/b.py\n+++ b/b.py\n"
            "@@ -5 +5 @@\n-y\n+z\n")
    assert parse_unified_diff(text) == {"a.py": {1, 2, 3, 5}}


def test_a_diff_written_with_crlf_line_ends_names_the_same_files():
    text = "--- a/a.py\r\n+++ b/a.py\r\n@@ -1 +1,2 @@\r\n x\r\n+y\r\n"
    assert parse_unified_diff(text) == {"a.py": {1, 2}}
