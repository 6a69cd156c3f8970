"""``check --fix``: the proven rewrites written into the files, in ruff's vocabulary.

A finding's fix (``extra["fix"]``: its span, title and applicability, with the text the span
held when it was checked) is *safe* when it keeps the function's value everywhere (a
reformulation such as ``log_softmax``, a double-where that only moves an exact zero) and
*unsafe* when it changes the maths (a smooth surrogate); unsafe fixes are applied only when
asked for. Per file: the edits go in from the end (an edit overlapping one already taken
waits for the next run), the result must parse, and it is written atomically; a file that
changed since it was checked, or whose fixed text does not parse, is left untouched with a
message. The caller re-checks the paths afterwards, so what it reports is what is left.
"""

from __future__ import annotations

import difflib
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from kinkcheck.findings import Finding


@dataclass(frozen=True)
class Edit:
    line: int
    col: int
    end_line: int
    end_col: int
    text: str
    original: str | None
    code: str
    title: str
    applicability: str


@dataclass
class Outcome:
    """What ``--fix`` did (or, previewing, would do)."""

    fixed: int = 0
    files: list[str] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    #: fixes held back: unsafe ones without ``--unsafe-fixes``
    unsafe_left: int = 0


def edit_of(f: Finding) -> Edit | None:
    fix = (f.extra or {}).get("fix")
    if f.documented or f.replacement is None or not isinstance(fix, dict):
        return None
    try:
        return Edit(int(fix["line"]), int(fix["col"]), int(fix["end_line"]), int(fix["end_col"]), f.replacement,
                    fix.get("original"), f.code, str(fix.get("title", "")), str(fix.get("applicability", "")))
    except (KeyError, TypeError, ValueError):
        return None


def plan(findings: Iterable[Finding], *, unsafe: bool) -> tuple[dict[str, list[Edit]], int]:
    """Edits per path, and how many unsafe fixes were held back."""
    edits: dict[str, list[Edit]] = defaultdict(list)
    held = 0
    for f in findings:
        e = edit_of(f)
        if e is None or e.applicability not in ("safe", "unsafe"):
            continue
        if e.applicability == "unsafe" and not unsafe:
            held += 1
            continue
        if e not in edits[f.path]:
            edits[f.path].append(e)
    return dict(edits), held


def _offsets(text: str) -> list[int]:
    """Where each line starts, with Python's own line ends (not str.splitlines', which
    also breaks at form feeds and the like)."""
    from kinkcheck.source import raw_lines

    starts = [0]
    for line in raw_lines(text):
        starts.append(starts[-1] + len(line))
    return starts


def apply_edits(text: str, edits: list[Edit]) -> tuple[str, list[Edit], list[str]]:
    """``text`` with the edits that fit; the edits applied and why others were not."""
    starts = _offsets(text)
    spans = []
    problems = []
    for e in edits:
        if not (1 <= e.line <= e.end_line < len(starts)) or e.col < 1 or e.end_col < 1:
            problems.append(f"{e.code} at {e.line}:{e.col}: the span is outside the file")
            continue
        start = starts[e.line - 1] + e.col - 1
        end = starts[e.end_line - 1] + e.end_col - 1
        if e.original is not None and text[start:end] != e.original:
            problems.append(f"{e.code} at {e.line}:{e.col}: the code changed since it was checked")
            continue
        if _has_comment(text[start:end]):
            problems.append(f"{e.code} at {e.line}:{e.col}: the expression holds a comment the rewrite would drop")
            continue
        spans.append((start, end, e))
    spans.sort(key=lambda s: (s[0], -s[1]))
    taken: list[tuple[int, int, Edit]] = []
    for start, end, e in spans:
        if taken and start < taken[-1][1]:
            continue  # overlaps an edit already taken: the next run gets it
        taken.append((start, end, e))
    out = text
    for start, end, e in reversed(taken):
        out = out[:start] + e.text + out[end:]
    return out, [e for _, _, e in taken], problems


def fix_findings(findings: Iterable[Finding], *, unsafe: bool, write: bool, read=None) -> Outcome:
    """Apply (``write``) or preview the fixes of ``findings``; ``read(path)`` gives a file's
    text (default: read it as UTF-8)."""
    from kinkcheck.atomic import write_atomic

    result = Outcome()
    edits, result.unsafe_left = plan(findings, unsafe=unsafe)
    for path in sorted(edits):
        try:
            text = read(path) if read is not None else _read(path)
        except (OSError, UnicodeDecodeError) as exc:
            result.messages.append(f"{path}: not fixed: cannot read it ({getattr(exc, 'strerror', None) or exc})")
            continue
        fixed, applied, problems = apply_edits(text, edits[path])
        result.messages.extend(f"{path}: not fixed: {p}" for p in problems)
        if not applied or fixed == text:
            continue
        why = _compiles(fixed, path)
        if why:  # keep the edits that compile on their own; none: the file is left untouched
            kept: list[Edit] = []
            for e in applied:
                trial = _compiles(apply_edits(text, [*kept, e])[0], path)
                if trial:
                    result.messages.append(f"{path}:{e.line}:{e.col}: {e.code} fix left out: the fixed text "
                                           f"does not parse ({trial})")
                else:
                    kept.append(e)
            if not kept:
                result.messages.append(f"{path}: left untouched: the fixed text does not parse ({why})")
                continue
            fixed, applied, _ = apply_edits(text, kept)
        if write:
            try:
                write_atomic(path, fixed.encode("utf-8"), parents=False)
            except OSError as exc:
                result.messages.append(f"{path}: not fixed: cannot write it ({exc.strerror or exc})")
                continue
        result.fixed += len(applied)
        result.files.append(path)
        result.diffs.append("".join(difflib.unified_diff(text.splitlines(keepends=True), fixed.splitlines(keepends=True),
                                                         fromfile=f"a/{path}", tofile=f"b/{path}")))
    return result


def _has_comment(source: str) -> bool:
    """Whether an expression's text (possibly over several lines) holds a ``#`` comment."""
    if "#" not in source:
        return False
    import io
    import tokenize

    try:
        return any(tok.type == tokenize.COMMENT
                   for tok in tokenize.generate_tokens(io.StringIO(f"({source}\n)").readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return True  # cannot tell: keep the code as it is


def _compiles(text: str, path: str) -> str:
    """'' if ``text`` compiles (parsed and its scopes built, which is where a ``:=`` in a
    comprehension's iterable is refused; nothing runs), else why not."""
    try:
        compile(text, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return _why(exc)
    return ""


def _read(path: str) -> str:
    """A file's text, refused (OSError) where rewriting it would be wrong: a symbolic link
    (the rewrite would replace the link, not the file it points to), a byte-order mark."""
    if os.path.islink(path):
        raise OSError(f"{path} is a symbolic link: rewrite the file it points to")
    with open(path, "rb") as fh:
        data = fh.read()
    if data.startswith(b"\xef\xbb\xbf"):
        raise UnicodeDecodeError("utf-8", data, 0, 3, "a byte-order mark: not rewritten")
    return data.decode("utf-8")


def _why(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f"line {exc.lineno}: {exc.msg}"
    return type(exc).__name__
