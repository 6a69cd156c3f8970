"""``--diff REV`` / ``--diff -``: keep only findings on lines changed since a revision.

For pull requests: ``kinkcheck check --diff origin/main .`` reports what the branch adds,
not what the repository already had. Changed lines come from ``git diff -U0 REV`` (the
working tree against REV, so uncommitted edits count) plus untracked files, which are new
in their entirety; or from any unified diff on standard input (``git diff ... | kinkcheck
check --diff - .``).

A diff on stdin is untrusted text: it is read as bytes (names that are not UTF-8 survive),
git's C-quoted names (``"a\\tb.py"``, ``"caf\\303\\251.py"``) are unquoted exactly, and the
changed lines of a file are kept as intervals, so a hunk header claiming 300 million lines
costs one interval: a finding is kept only where its own (real) line falls inside one.
"""

from __future__ import annotations

import bisect
import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

from kinkcheck.findings import Finding
from kinkcheck.lazyre import lazy_pattern
from kinkcheck.workflow.errors import WorkflowError

#: Marks a file that is new as a whole (untracked): every line counts as changed.
WHOLE_FILE = None

Changes = Mapping[Path, "LineSpans | None"]

_HUNK = lazy_pattern(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
#: Findings about a whole file (a parse error) are kept when the file changed at all.
_FILE_LEVEL_CODES = frozenset({"KC001"})
#: larger line numbers and counts in a hunk header are read as this (no file is that long)
_MAX_LINE = 10**15
#: git's C-quoting escapes (``quote_c_style``); ``\ooo`` octal bytes are handled apart
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
_OCTAL = lazy_pattern(r"[0-3][0-7][0-7]")


class LineSpans:
    """The changed lines of one file as merged ``[first, last]`` intervals.

    ``n in spans`` and ``spans.overlaps(a, b)`` cost O(log intervals) whatever a hunk header
    claims; ``spans == {4, 5, 12}`` compares with a set of line numbers (for tests)."""

    __slots__ = ("_merged", "_spans")

    def __init__(self) -> None:
        self._spans: list[tuple[int, int]] = []
        self._merged = True

    def add(self, start: int, count: int) -> None:
        if count > 0:
            if self._spans and start <= self._spans[-1][0]:
                self._merged = False
            self._spans.append((start, start + count - 1))
            self._merged = self._merged and (len(self._spans) < 2 or self._spans[-2][1] + 1 < start)

    def _normal(self) -> list[tuple[int, int]]:
        if not self._merged:
            out: list[tuple[int, int]] = []
            for lo, hi in sorted(self._spans):
                if out and lo <= out[-1][1] + 1:
                    out[-1] = (out[-1][0], max(out[-1][1], hi))
                else:
                    out.append((lo, hi))
            self._spans, self._merged = out, True
        return self._spans

    def overlaps(self, lo: int, hi: int) -> bool:
        """Does any changed line fall in ``lo..hi`` (inclusive)?"""
        spans = self._normal()
        i = bisect.bisect_right(spans, (hi, _MAX_LINE * 2)) - 1
        return i >= 0 and spans[i][1] >= lo

    def __contains__(self, n: object) -> bool:
        return isinstance(n, int) and self.overlaps(n, n)

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self._normal())

    def __iter__(self) -> Iterator[int]:
        for lo, hi in self._normal():
            yield from range(lo, hi + 1)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LineSpans):
            return self._normal() == other._normal()
        if isinstance(other, (set, frozenset)):
            return len(self) == len(other) and all(n in self for n in other)
        return NotImplemented

    def __repr__(self) -> str:
        return "LineSpans(" + ", ".join(f"{lo}-{hi}" if hi > lo else str(lo) for lo, hi in self._normal()) + ")"


def read_diff(stream: IO) -> str:
    """The diff on ``stream`` as text: bytes decoded as UTF-8, undecodable bytes kept as
    surrogates (as file names are), so no locale or stray Latin-1 byte breaks it."""
    raw = getattr(stream, "buffer", None)
    data = raw.read() if raw is not None else stream.read()
    return data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data


def _unquote(path: str, where: str = "diff") -> str:
    """git quotes unusual paths C-style: ``"dir/caf\\303\\251.py"``, ``"a\\tb.py"``; the
    escapes are bytes of the UTF-8 name. A malformed quoted name is a WorkflowError."""
    if not path.startswith('"'):
        return path
    out, i = bytearray(), 1
    while i < len(path):
        c = path[i]
        if c == '"':
            if i != len(path) - 1:
                break
            return out.decode("utf-8", "surrogateescape")
        if c != "\\":
            out += c.encode("utf-8", "surrogateescape")
            i += 1
        elif path[i + 1 : i + 2] in _ESCAPES and path[i + 1 : i + 2]:
            out.append(_ESCAPES[path[i + 1]])
            i += 2
        elif _OCTAL.fullmatch(path[i + 1 : i + 4]):
            out.append(int(path[i + 1 : i + 4], 8))
            i += 4
        else:
            raise WorkflowError(f"{where}: bad escape {path[i:i + 4]!r} in quoted file name {path[:60]!r}")
    raise WorkflowError(f"{where}: malformed quoted file name {path[:60]!r}")


def _diff_path(header: str, old_header: str | None, where: str = "diff") -> str | None:
    path = header.split("\t", 1)[0].rstrip() if not header.startswith('"') else _quoted_prefix(header)
    if path == "/dev/null":
        return None
    path = _unquote(path, where)
    old_header = old_header or ""
    old = old_header.split("\t", 1)[0].rstrip() if not old_header.startswith('"') else _quoted_prefix(old_header)
    old = _unquote(old, where)
    if path.startswith("b/") and (old.startswith("a/") or old == "/dev/null" or not old):
        path = path[2:]
    return path


def _quoted_prefix(header: str) -> str:
    """The C-quoted name at the start of a ``---``/``+++`` header (a timestamp may follow)."""
    i = 1
    while i < len(header):
        if header[i] == "\\":
            i += 2
            continue
        if header[i] == '"':
            return header[: i + 1]
        i += 1
    return header


def _number(digits: str | None, default: int) -> int:
    if digits is None:
        return default
    return int(digits) if len(digits) <= 15 else _MAX_LINE


def parse_unified_diff(text: str, *, where: str = "diff") -> dict[str, LineSpans]:
    """Added or modified lines (new-side numbers) per file, as the diff names the files.

    Hunk bodies are consumed by the counts in their header, so a removed line that reads
    ``-- x`` or an added ``++ y`` is never taken for a file header; a line that cannot be
    part of a hunk (``diff --git``, another ``@@``) ends it early, whatever the header said."""
    changed: dict[str, LineSpans] = {}
    old_header: str | None = None
    current: LineSpans | None = None
    old_left = new_left = 0
    for line in text.split("\n"):  # git ends a diff line at \n only: a form feed is content
        line = line[:-1] if line.endswith("\r") else line
        if old_left > 0 or new_left > 0:
            tag = line[:1]
            if tag in (" ", ""):
                old_left, new_left = old_left - 1, new_left - 1
                continue
            if tag == "-" and old_left > 0:
                old_left -= 1
                continue
            if tag == "+" and new_left > 0:
                new_left -= 1
                continue
            if tag == "\\":  # "\ No newline at end of file"
                continue
            old_left = new_left = 0  # the header claimed more than the hunk has
        if line.startswith("--- "):
            old_header = line[4:]
            continue
        if line.startswith("+++ "):
            path = _diff_path(line[4:], old_header, where)
            current = None if path is None else changed.setdefault(path, LineSpans())
            continue
        m = _HUNK.match(line)
        if m:
            old_left, new_left = _number(m.group(2), 1), _number(m.group(4), 1)
            if current is not None:
                current.add(_number(m.group(3), 1), new_left)
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


def changes_since(rev: str, *, root) -> dict[Path, LineSpans | None]:
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
            ["-c", "core.quotePath=true", "diff", "-U0", "--no-color", "--no-ext-diff", "--no-textconv", "-M",
             "--src-prefix=a/", "--dst-prefix=b/", rev, "--"],
            top,
        )
        untracked = _git(["ls-files", "-z", "--others", "--exclude-standard"], top)
    except _GitFailed as exc:
        raise WorkflowError(f"--diff {rev}: {exc}") from None
    changes: dict[Path, LineSpans | None] = {
        (top / p).resolve(): lines for p, lines in parse_unified_diff(text, where=f"git diff {rev}").items()
    }
    for p in untracked.split("\0"):
        if p:
            changes[(top / p).resolve()] = WHOLE_FILE
    return changes


def changes_from_text(text: str, *, root) -> dict[Path, LineSpans | None]:
    """Changed lines from a unified diff; paths are relative to the git top level of ``root``
    (as ``git diff`` writes them), or to ``root`` outside git."""
    root = Path(root).resolve()
    base = git_toplevel(root) or root
    return {(base / p).resolve(): lines for p, lines in parse_unified_diff(text, where="--diff -").items()}


def _touched(f: Finding, lines: LineSpans | None) -> bool:
    if lines is WHOLE_FILE or f.code in _FILE_LEVEL_CODES:
        return True
    return lines.overlaps(f.line, max(f.end_line, f.line))


def keep_changed(findings: Iterable[Finding], changes: Changes) -> list[Finding]:
    """The findings whose span touches a changed line."""
    out = []
    for f in findings:
        key = Path(os.path.abspath(f.path)).resolve()
        if key in changes and _touched(f, changes[key]):
            out.append(f)
    return out
