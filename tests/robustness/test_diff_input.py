"""``--diff -`` reads an untrusted unified diff: git's C-quoted names, non-ASCII and non-UTF-8
names, lying hunk headers and content lines that look like headers all work or are one line
and exit 2, never a traceback, a hang or a 300-million-entry set."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from exit2_helpers import assert_one_error, kinkcheck

from kinkcheck.workflow.diff import parse_unified_diff
from kinkcheck.workflow.errors import WorkflowError

OLD = "import torch\n\n\ndef loss(pred, target):\n    return torch.abs(pred - target).mean()\n"
NEW = OLD + "\n\ndef penalty(w):\n    return torch.sqrt(w).sum()\n"
NAMES = ["a\tb.py", "caf\u00e9.py", "\u65e5\u672c.py", 'q"uote.py', "back\\slash.py", "plain.py",
         "\u65e5\tx.py", "\u00e9\tx.py"]  # the last two: quoted (tab) with raw UTF-8 under quotePath=false


def diff_for(header_new: str, hunks: str, header_old: str | None = None) -> str:
    old = header_old or header_new.replace('"b/', '"a/').replace("b/", "a/", 1)
    return f"--- {old}\n+++ {header_new}\n{hunks}"


@pytest.mark.parametrize("header, name", [
    ('"b/a\\tb.py"', "a\tb.py"),
    ('"b/caf\\303\\251.py"', "caf\u00e9.py"),
    ('"b/\\346\\227\\245\\346\\234\\254.py"', "\u65e5\u672c.py"),
    ("b/caf\u00e9.py", "caf\u00e9.py"),
    ('"b/\u65e5\\tx.py"', "\u65e5\tx.py"),  # quoted for the tab, raw UTF-8 (core.quotePath=false)
    ('"b/\u00e9\\tx.py"', "\u00e9\tx.py"),
    ('"b/q\\"uote.py"', 'q"uote.py'),
    ('"b/back\\\\slash.py"', "back\\slash.py"),
    ('"b/new\\nline.py"', "new\nline.py"),
    ('"b/bad\\377byte.py"', "bad\udcffbyte.py"),  # not UTF-8: kept as os.fsdecode keeps it
    ('"b/a\\tb.py"\t2026-01-01 10:00:00', "a\tb.py"),  # a timestamp after the quoted name
])
def test_quoted_and_non_ascii_names_are_read_as_git_wrote_them(header, name):
    assert parse_unified_diff(diff_for(header, "@@ -3 +3,2 @@\n-x\n+y\n+z\n")) == {name: {3, 4}}


@pytest.mark.parametrize("header, why", [
    ('"b/unterminated.py', "malformed quoted file name"),
    ('"b/bad\\qescape.py"', "bad escape"),
    ('"b/short\\12"', "bad escape"),
    ('"b/trailing\\"', "malformed quoted file name"),
])
def test_a_malformed_quoted_name_is_an_error(header, why):
    with pytest.raises(WorkflowError, match=why):
        parse_unified_diff(diff_for(header, "@@ -1 +1 @@\n-x\n+y\n", header_old="/dev/null"))


def test_a_hunk_claiming_300_million_lines_costs_one_interval():
    changed = parse_unified_diff("--- a/m.py\n+++ b/m.py\n@@ -1 +5,300000000 @@\n+x\n")
    spans = changed["m.py"]
    assert 5 in spans and 300_000_004 in spans and 4 not in spans and 300_000_005 not in spans
    assert len(spans) == 300_000_000  # counted, not enumerated
    assert repr(spans) == "LineSpans(5-300000004)"


def test_a_hunk_header_with_5000_digit_numbers_is_read_without_int_overflow():
    changed = parse_unified_diff(f"--- a/m.py\n+++ b/m.py\n@@ -1 +7,{'9' * 5000} @@\n")
    assert 7 in changed["m.py"] and 10**9 in changed["m.py"] and 6 not in changed["m.py"]


def test_content_lines_that_look_like_headers_stay_content():
    """In a -U0 diff a removed ``-- sql comment`` reads ``--- sql comment``; the hunk's counts say it is content."""
    text = ("--- a/m.py\n+++ b/m.py\n@@ -3 +3 @@\n--- old sql comment\n+++ new text\n"
            "@@ -9,0 +10 @@\n+x\n")
    assert parse_unified_diff(text) == {"m.py": {3, 10}}


def test_a_header_that_claims_more_than_its_hunk_ends_at_the_next_file():
    text = ("diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1,99 +1,99 @@\n-a\n+b\n"
            "diff --git a/n.py b/n.py\n--- a/n.py\n+++ b/n.py\n@@ -4 +4 @@\n-c\n+d\n")
    assert parse_unified_diff(text) == {"m.py": set(range(1, 100)), "n.py": {4}}


# -- the CLI on a real repository ------------------------------------------------------------


def git(repo, *args, **kw):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True, env=env, **kw).stdout


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    for name in NAMES:
        (tmp_path / name).write_text(OLD)
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    for name in NAMES:
        (tmp_path / name).write_text(NEW)
    return tmp_path


def findings(result) -> set[tuple[str, str]]:
    assert result.exit_code in (0, 1) and "Traceback" not in result.stderr, result.stderr
    return {(f["path"], f["code"]) for f in json.loads(result.stdout)["findings"]}


@pytest.mark.parametrize("quote_path", ["true", "false"])
@pytest.mark.slow
def test_diff_on_stdin_with_quoted_and_non_ascii_names(repo, quote_path):
    diff = git(repo, "-c", f"core.quotePath={quote_path}", "diff", "-U0")
    if quote_path == "true":
        assert b'"b/caf\\303\\251.py"' in diff and b'"b/a\\tb.py"' in diff
    result = kinkcheck("check", "--all", "--no-cache", "--output-format", "json", "--diff", "-", ".", cwd=repo, input=diff)
    assert findings(result) == {(name, "KC201") for name in NAMES}  # the new sqrt; the old abs is hidden


@pytest.mark.slow
def test_diff_against_a_revision_with_the_same_names(repo):
    result = kinkcheck("check", "--all", "--no-cache", "--output-format", "json", "--diff", "HEAD", ".", cwd=repo)
    assert findings(result) == {(name, "KC201") for name in NAMES}


@pytest.mark.slow
def test_a_300_million_line_hunk_on_stdin_keeps_the_file(repo):
    diff = "--- a/plain.py\n+++ b/plain.py\n@@ -1 +1,300000000 @@\n+import torch\n"
    result = kinkcheck("check", "--all", "--no-cache", "--output-format", "json", "--diff", "-", ".", cwd=repo, input=diff)
    assert findings(result) == {("plain.py", "KC101"), ("plain.py", "KC201")}


@pytest.mark.slow
def test_a_diff_with_bytes_that_are_not_utf8(repo):
    diff = b"--- a/plain.py\n+++ b/plain.py\n@@ -8,0 +9 @@\n+    return torch.sqrt(w).sum()  # caf\xe9\n"
    result = kinkcheck("check", "--all", "--no-cache", "--output-format", "json", "--diff", "-", ".", cwd=repo, input=diff)
    assert findings(result) == {("plain.py", "KC201")}


@pytest.mark.slow
def test_a_malformed_quoted_name_on_stdin_is_one_line(repo):
    diff = '--- "a/plain.py\n+++ "b/plain.py\n@@ -1 +1 @@\n-x\n+y\n'
    result = kinkcheck("check", "--no-cache", "--diff", "-", ".", cwd=repo, input=diff)
    assert_one_error(result, "--diff -: malformed quoted file name")
