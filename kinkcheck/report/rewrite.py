"""A report site's remedies, through the one filler (:mod:`kinkcheck.remedy`).

A static site carries what the analyzer filled for it (``Finding.extra["remedies"]``);
a site the tracer found alone, or a finding from an older cache, is read again from its
source (the finding's span, its snippet, the line as it is now) and filled the same way,
spelled with the file's own imports. The analyzed code is parsed, never imported.
"""

from __future__ import annotations

import ast

from kinkcheck import remedy
from kinkcheck.findings import Finding


def remedies(rule, finding: Finding | None, texts: list[str | None],
             lines: list[str] | None = None) -> list[remedy.Filled]:
    """Every remedy of ``rule`` at the site: the analyzer's rewrites where it made them,
    else those filled from the first of ``texts`` (span, snippet, line) that shows the site."""
    if rule is None:
        if finding is not None and finding.replacement:
            return [remedy.Filled(title="suggested rewrite", template=None, rewrite=finding.replacement, note="",
                                  applicability="display")]
        return []
    shown = (finding.extra or {}).get("remedies") if finding is not None else None
    if isinstance(shown, list):
        by_title = {r.get("title"): r for r in shown if isinstance(r, dict)}
        return [remedy.Filled(title=r.title, template=r.rewrite, rewrite=(by_title.get(r.title) or {}).get("rewrite"),
                              note=r.note, applicability=r.applicability) for r in rule.remedies]
    imported = imports(lines)
    for text in texts:
        if text and remedy.locate(rule, text, imported) is not None:
            return remedy.for_text(rule, text, imported=imported)
    return [remedy.Filled(title=r.title, template=r.rewrite, rewrite=None, note=r.note,
                          applicability=r.applicability, reason="the site could not be read") for r in rule.remedies]


def imports(lines: list[str] | None) -> dict[str, str] | None:
    """Local name -> qualified name of the file's imports; None when it cannot be parsed."""
    if not lines:
        return None
    from kinkcheck.lint.resolve import import_table

    try:
        tree = ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return import_table(tree, "", False).names


def segment(lines: list[str], line: int, col: int, end_line: int, end_col: int) -> str | None:
    """The source text between 1-based (line, col) and (end_line, exclusive end_col)."""
    if not (1 <= line <= end_line <= len(lines)) or col < 1:
        return None
    if line == end_line:
        return lines[line - 1][col - 1 : end_col - 1] or None
    parts = [lines[line - 1][col - 1 :]]
    parts.extend(lines[line : end_line - 1])
    parts.append(lines[end_line - 1][: end_col - 1])
    return "\n".join(parts)
