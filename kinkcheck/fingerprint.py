"""Stable identities for findings, shared by SARIF, GitLab Code Quality and the baseline (a
bottom-layer module: output formats and the workflow both read it, neither owns it).

A fingerprint must survive edits that do not touch the finding: lines added above it,
code moved within the file, a reformatted line, a comment added after it. So it hashes
what the finding *is* (rule, file, enclosing function, the flagged source without
whitespace or comments) and never its line number. Identical findings in one function
(`abs(x)` written twice) are told apart by their occurrence index, in source order.
"""

from __future__ import annotations

import hashlib
import io
import os
import tokenize
from collections.abc import Callable, Iterable, Sequence

from kinkcheck import source
from kinkcheck.findings import Finding
from kinkcheck.paths import repo_path

#: Bump when the recipe changes; old baselines then report every entry as stale.
VERSION = "v1"
#: The key under SARIF ``partialFingerprints`` (GitHub reads any key; the version is in it).
SARIF_KEY = f"kinkcheck/{VERSION}"


def read_lines(path: str | os.PathLike) -> list[str]:
    """A file's lines, or [] when it cannot be read (the finding's snippet is used instead)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return []
    return source.lines(source.decode(raw))


def _without_comment(line: str) -> str:
    """The line minus its ``#`` comment, so adding ``# kink: ...`` keeps the fingerprint."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line).readline):
            if tok.type == tokenize.COMMENT:
                return line[: tok.start[1]]
    except (tokenize.TokenError, SyntaxError):
        pass  # a line of a multi-line statement: whatever was tokenized before is enough
    return line


def _squash(text: str) -> str:
    return "".join(text.split())


def _span(finding: Finding, lines: Sequence[str]) -> str:
    """The flagged expression's source (1-based columns, exclusive end)."""
    first, last = finding.line, max(finding.end_line, finding.line)
    if not (1 <= first <= len(lines)) or last > len(lines):
        return ""
    if first == last:
        end = finding.end_col - 1 if finding.end_col > finding.col else None
        return lines[first - 1][finding.col - 1 : end]
    parts = [lines[first - 1][finding.col - 1 :]]
    parts.extend(lines[first : last - 1])
    parts.append(lines[last - 1][: max(finding.end_col - 1, 0)])
    return "\n".join(parts)


def identity(finding: Finding, source_lines: Sequence[str], *, root=None) -> tuple[str, ...]:
    """Everything that identifies a finding except its occurrence index."""
    if 1 <= finding.line <= len(source_lines):
        line = source_lines[finding.line - 1]
    else:
        line = (source.lines(finding.snippet) or [""])[0]  # a form feed ends no line
    return (
        finding.code,
        repo_path(finding.path, root),
        finding.function or "",
        _squash(_without_comment(line)),
        _squash(_span(finding, source_lines)),
    )


def fingerprint(finding: Finding, source_lines: Sequence[str], occurrence: int = 0, *, root=None) -> str:
    """A 32-hex-digit fingerprint of ``finding``; ``occurrence`` tells identical ones apart
    (use :func:`fingerprints` to have it counted for you)."""
    return _digest(identity(finding, source_lines, root=root), occurrence)


def _digest(ident: tuple[str, ...], occurrence: int) -> str:
    parts = (VERSION, *ident, str(occurrence))
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def fingerprints(
    findings: Iterable[Finding],
    *,
    root=None,
    read: Callable[[str], Sequence[str]] | None = None,
) -> list[str]:
    """Fingerprints for ``findings`` in their order, occurrence indices counted in source order
    among findings with the same identity. Files are read once each."""
    findings = list(findings)
    read = read or read_lines
    cache: dict[str, Sequence[str]] = {}
    idents = []
    for f in findings:
        if f.path not in cache:
            cache[f.path] = read(f.path)
        idents.append(identity(f, cache[f.path], root=root))
    seen: dict[tuple[str, ...], int] = {}
    occurrence = [0] * len(findings)
    for i in sorted(range(len(findings)), key=lambda i: (findings[i].line, findings[i].col, i)):
        occurrence[i] = seen.get(idents[i], 0)
        seen[idents[i]] = occurrence[i] + 1
    return [_digest(ident, occ) for ident, occ in zip(idents, occurrence)]
