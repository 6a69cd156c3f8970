"""``--diff REV`` / ``--diff -``: keep only findings on lines changed since a revision.

For pull requests: ``kinkcheck check --diff origin/main .`` reports what the branch adds,
not what the repository already had. Changed lines come from ``git diff -U0 REV`` (the
working tree against REV, so uncommitted edits count) plus untracked files, which are new
in their entirety; or from any unified diff on standard input (``git diff ... | kinkcheck
check --diff - .``).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from kinkcheck.findings import Finding
from kinkcheck.workflow.errors import WorkflowError

#: Marks a file that is new as a whole (untracked): every line counts as changed.
WHOLE_FILE = None

Changes = Mapping[Path, "set[int] | None"]

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
#: Findings about a whole file (a parse error) are kept when the file changed at all.
_FILE_LEVEL_CODES = frozenset({"KC001"})


def _unquote(path: str) -> str:
    """git quotes unusual paths C-style: ``"dir/caf\\303\\251.py"``."""
    if len(path) >= 2 and path[0] == path[-1] == '"':
        raw = path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        return raw.encode("latin-1").decode("utf-8", "replace")
    return path


def _diff_path(header: str, old_header: str | None) -> str | None:
    path = header.split("\t", 1)[0].rstrip()
    if path == "/dev/null":
        return None
    path = _unquote(path)
    old = _unquote((old_header or "").split("\t", 1)[0].rstrip())
    if path.startswith("b/") and (old.startswith("a/") or old == "/dev/null" or not old):
        path = path[2:]
    return path


def parse_unified_diff(text: str) -> dict[str, set[int]]:
    """Added or modified lines (new-side numbers) per file, as the diff names the files."""
    changed: dict[str, set[int]] = {}
    old_header: str | None = None
    current: set[int] | None = None
    for line in text.splitlines():
        if line.startswith("--- "):
            old_header = line[4:]
            continue
        if line.startswith("+++ "):
            path = _diff_path(line[4:], old_header)
            current = None if path is None else changed.setdefault(path, set())
            continue
        m = _HUNK.match(line)
        if m and current is not None:
            start, count = int(m.group(1)), int(m.group(2) or 1)
            current.update(range(start, start + count))
    return changed


#: Options for every git call. A repository's own config must not run code when kinkcheck
#: reads it (a checkout or an unpacked archive is untrusted): no fsmonitor hook (git runs it
#: on every index refresh), no hooks, no pager, no external diff or textconv drivers.
GIT_SAFETY = ("--no-pager", "-c", "core.fsmonitor=", "-c", "core.hooksPath=/dev/null",
              "-c", "diff.external=", "-c", "core.pager=cat")


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "GIT_OPTIONAL_LOCKS": "0",    # a read-only query never takes index.lock from the user's git
        "GIT_TERMINAL_PROMPT": "0",   # never wait for a password
        "GIT_PAGER": "cat",
        "PAGER": "cat",
    })
    for name in ("GIT_EXTERNAL_DIFF", "GIT_DIFF_OPTS"):
        env.pop(name, None)
    return env


def _git(args: list[str], cwd: Path) -> str:
    try:
        proc = subprocess.run(
            ["git", *GIT_SAFETY, *args], cwd=cwd, capture_output=True, text=True, encoding="utf-8",
            errors="replace", stdin=subprocess.DEVNULL, env=_git_env(),
        )
    except FileNotFoundError:
        raise WorkflowError("--diff needs git, which is not on PATH") from None
    if proc.returncode != 0:
        raise _GitFailed(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"git {args[0]} failed")
    return proc.stdout


class _GitFailed(Exception):
    pass


def git_toplevel(root: Path) -> Path | None:
    try:
        return Path(_git(["rev-parse", "--show-toplevel"], root).strip()).resolve()
    except _GitFailed:
        return None


def changes_since(rev: str, *, root) -> dict[Path, set[int] | None]:
    """Changed lines since ``rev`` in the git repository containing ``root``, by absolute path."""
    root = Path(root).resolve()
    top = git_toplevel(root)
    if top is None:
        raise WorkflowError(f"--diff {rev}: {root} is not inside a git repository")
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], top)
    except _GitFailed:
        raise WorkflowError(f"--diff {rev}: unknown git revision {rev!r}") from None
    try:
        text = _git(
            ["-c", "core.quotePath=false", "diff", "-U0", "--no-color", "--no-ext-diff", "--no-textconv", "-M",
             "--src-prefix=a/", "--dst-prefix=b/", rev, "--"],
            top,
        )
        untracked = _git(["ls-files", "-z", "--others", "--exclude-standard"], top)
    except _GitFailed as exc:
        raise WorkflowError(f"--diff {rev}: {exc}") from None
    changes: dict[Path, set[int] | None] = {
        (top / p).resolve(): lines for p, lines in parse_unified_diff(text).items()
    }
    for p in untracked.split("\0"):
        if p:
            changes[(top / p).resolve()] = WHOLE_FILE
    return changes


def changes_from_text(text: str, *, root) -> dict[Path, set[int] | None]:
    """Changed lines from a unified diff; paths are relative to the git top level of ``root``
    (as ``git diff`` writes them), or to ``root`` outside git."""
    root = Path(root).resolve()
    base = git_toplevel(root) or root
    return {(base / p).resolve(): lines for p, lines in parse_unified_diff(text).items()}


def _touched(f: Finding, lines: set[int] | None) -> bool:
    if lines is WHOLE_FILE or f.code in _FILE_LEVEL_CODES:
        return True
    return any(n in lines for n in range(f.line, max(f.end_line, f.line) + 1))


def keep_changed(findings: Iterable[Finding], changes: Changes) -> list[Finding]:
    """The findings whose span touches a changed line."""
    out = []
    for f in findings:
        key = Path(os.path.abspath(f.path)).resolve()
        if key in changes and _touched(f, changes[key]):
            out.append(f)
    return out
