"""``# kink: reason``, ``# kink[KC101]: reason`` and ``# noqa: KC101`` comments.

A kink comment documents the kinks on its line: the finding stays in the results with
``documented=True`` and the comment's reason (``"noqa"`` for noqa), so the report can list
every documented kink. A comment covers a finding that starts or ends on its line, so a
multi-line call can be documented on its first or its last line.

Comments are found by a scan that knows Python's strings, so a ``#`` inside a string is
never read as a comment; it only runs on files whose text mentions ``kink`` or ``noqa``
after a ``#``.

Reported about comments themselves:
KC002 a comment names a code that is not in the catalog;
KC003 a kink comment (or a ``noqa`` naming KC codes) documents nothing on its line.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from kinkcheck.findings import Finding
from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.make_finding import make_finding

#: quick test before tokenizing: could this file hold a directive at all?
_CANDIDATE = lazy_pattern(r"#[^\n]*?(?:kink\s*[\[:]|noqa)", re.IGNORECASE)
#: a directive starts the comment or follows whitespace (after a ``type: ignore`` comment, say);
#: a ``"# kink: ..."`` quoted inside a comment is prose, not a directive
_KINK = lazy_pattern(r"(?:^|(?<=\s))#\s*kink\s*(?:\[(?P<codes>[^\]]*)\])?\s*:(?P<reason>.*)", re.IGNORECASE)
_NOQA = lazy_pattern(
    r"#\s*noqa(?::[\s]?(?P<codes>[A-Za-z]+[0-9]+(?:[,\s]+[A-Za-z]+[0-9]+)*))?", re.IGNORECASE
)
_LEADING_CODES = lazy_pattern(r"^\s*(?P<codes>KC\d{3}(?:\s*,\s*KC\d{3})*)\b[\s,:;-]*", re.IGNORECASE)
_NOQA_TAIL = lazy_pattern(r"\s*#\s*noqa\b.*$", re.IGNORECASE)

META_NAMES = {
    "KC001": "parse-error",
    "KC002": "unknown-rule-in-comment",
    "KC003": "unused-kink-comment",
}


@dataclass(frozen=True, slots=True)
class Directive:
    """One kink or noqa comment. ``codes`` None covers every code on the line."""

    kind: str  # "kink" | "noqa"
    line: int
    col: int  # 1-based column of the '#'
    end_col: int
    codes: tuple[str, ...] | None
    reason: str
    unknown: tuple[str, ...] = ()
    text: str = ""


_CHECKED = lazy_pattern(r"#[^\n]*?(?:kink\s*[\[:]|noqa\s*:[^\n]*?KC)", re.IGNORECASE)


def has_candidates(source: str) -> bool:
    return _CANDIDATE.search(source) is not None


def scan(source: str) -> int:
    """Cheap text test, no tokenizing: 0 no directive, 1 only blanket/foreign noqa
    (matters only where there are findings), 2 kink comments or KC noqa (checked always)."""
    if _CANDIDATE.search(source) is None:
        return 0
    return 2 if _CHECKED.search(source) is not None else 1


def parse(source: str, catalog=None) -> list[Directive]:
    """Every kink / noqa directive in ``source``."""
    if not has_candidates(source):
        return []
    catalog = catalog if catalog is not None else _catalog()
    out: list[Directive] = []
    for line, col, text in comment_tokens(source):
        if _CANDIDATE.match(text):
            directive = parse_comment(text, line, col, catalog)
            if directive is not None:
                out.extend(directive)
    return out


#: Strings and comments, the only tokens that matter here: a ``#`` starts a comment unless it
#: is inside a string. One regex pass at C speed gives what :mod:`tokenize` gives on valid
#: Python (3.11 grammar: no ``#`` inside f-string expressions), ten times faster.
_SQ3, _DQ3 = "'" * 3, '"' * 3
_STRINGS_AND_COMMENTS = lazy_pattern(
    "|".join([
        r"(?P<comment>#[^\r\n]*)",
        _SQ3 + r"(?:[^'\\]|\\.|'(?!''))*(?:" + _SQ3 + r"|\Z)",
        _DQ3 + r'(?:[^"\\]|\\.|"(?!""))*(?:' + _DQ3 + r"|\Z)",
        r"'(?:[^'\\\r\n]|\\.)*(?:'|$)",
        r'"(?:[^"\\\r\n]|\\.)*(?:"|$)',
    ]),
    re.DOTALL | re.MULTILINE,
)


def comment_tokens(source: str) -> list[tuple[int, int, str]]:
    """(1-based line, 1-based column, text) of every comment in ``source``."""
    starts = [0]
    for m in re.finditer(r"\r\n|\r|\n", source):
        starts.append(m.end())
    found = []
    for m in _STRINGS_AND_COMMENTS.finditer(source):
        if m.lastgroup == "comment":
            at = m.start()
            line = bisect.bisect_right(starts, at)
            found.append((line, at - starts[line - 1] + 1, m.group()))
    return found


def parse_comment(text: str, line: int, col: int, catalog=None) -> list[Directive] | None:
    """Directives in one comment token (``text`` starts with '#'). A comment may hold both a
    kink and a noqa part: ``# kink: fine here  # noqa: E501``."""
    catalog = catalog if catalog is not None else _catalog()
    found: list[Directive] = []
    end_col = col + len(text)
    kink = _KINK.search(text)
    if kink is not None:
        reason = _NOQA_TAIL.sub("", kink.group("reason")).strip()
        raw_codes = kink.group("codes")
        codes: tuple[str, ...] | None = None
        unknown: list[str] = []
        if raw_codes is not None:
            codes, unknown = _resolve(raw_codes, catalog)
        else:
            lead = _LEADING_CODES.match(reason)
            if lead is not None:  # a reason that starts with codes names them (design-doc form)
                codes, unknown = _resolve(lead.group("codes"), catalog)
                reason = reason[lead.end():].strip() or reason
        found.append(Directive("kink", line, col, end_col, codes, reason, tuple(unknown), text))
    noqa = _NOQA.search(text)
    if noqa is not None and (kink is None or noqa.start() > kink.start()):
        raw = noqa.group("codes")
        if raw is None:
            found.append(Directive("noqa", line, col, end_col, None, "noqa", (), text))
        else:
            ours = [c for c in re.split(r"[,\s]+", raw) if c.upper().startswith("KC")]
            if ours:  # a noqa only for other tools (E501, F401) is none of our business
                codes, unknown = _resolve(",".join(ours), catalog)
                found.append(Directive("noqa", line, col, end_col, codes, "noqa", tuple(unknown), text))
    return found or None


def _resolve(raw: str, catalog) -> tuple[tuple[str, ...], list[str]]:
    codes: list[str] = []
    unknown: list[str] = []
    for token in (t for t in re.split(r"[,\s]+", raw) if t):
        rule = catalog.lookup(token) if catalog is not None else None
        if rule is not None:
            codes.append(rule.code)
        elif token.upper() in META_NAMES:
            codes.append(token.upper())
        else:
            unknown.append(token)
    return tuple(codes), unknown


def apply(
    findings: Sequence[Finding],
    directives: Sequence[Directive],
    *,
    path: str,
    usage: Iterable[Finding] | None = None,
    catalog=None,
) -> list[Finding]:
    """Mark documented findings and add KC002/KC003 for bad comments.

    ``usage`` are the findings that decide whether a comment documents something (by
    default ``findings``); the runner passes the findings of every scope and rule there,
    so a comment on a model's ReLU is not called unused just because this run only
    checks loss code.
    """
    if not directives:
        return list(findings)
    catalog = catalog if catalog is not None else _catalog()
    by_line: dict[int, list[Directive]] = {}
    for d in directives:
        by_line.setdefault(d.line, []).append(d)

    def covering(f: Finding) -> Directive | None:
        best: Directive | None = None
        for line in dict.fromkeys((f.line, f.end_line)):
            for d in by_line.get(line, ()):
                if d.codes is None and f.code in META_NAMES:
                    continue  # a blanket comment never hides a problem with comments
                if d.kind == "kink" and not d.reason:
                    continue  # documenting means saying why: an empty reason documents nothing
                if d.codes is None or f.code in d.codes:
                    if best is None or (best.kind == "noqa" and d.kind == "kink"):
                        best = d
        return best

    out: list[Finding] = []
    for f in findings:
        doc = covering(f)
        if doc is not None and not f.documented:
            f = replace(f, documented=True, reason=doc.reason if doc.kind == "kink" else "noqa")
        out.append(f)

    used: dict[Directive, set[str]] = {}
    for f in (usage if usage is not None else findings):
        for line in dict.fromkeys((f.line, f.end_line)):
            for d in by_line.get(line, ()):
                if d.codes is None or f.code in d.codes:
                    used.setdefault(d, set()).add(f.code)

    for d in directives:
        for code in d.unknown:
            out.append(_meta("KC002", path, d, f"`{d.text.strip()}` names unknown rule `{code}`", catalog))
        if d.kind == "noqa" and d.codes is None:
            continue  # bare noqa may be meant for other tools
        if d.kind == "kink" and not d.reason:
            out.append(_meta("KC003", path, d, "kink comment gives no reason: say why the kink is acceptable "
                             "(`# kink: <reason>`)", catalog))
            continue
        hit = used.get(d, set())
        label = "`# noqa`" if d.kind == "noqa" else "kink comment"
        if d.codes is None:
            if not hit:
                out.append(_meta("KC003", path, d, f"{label} documents nothing on this line", catalog))
        else:
            unused = [c for c in d.codes if c not in hit and c not in META_NAMES]
            if unused and len(unused) == len([c for c in d.codes if c not in META_NAMES]):
                out.append(_meta("KC003", path, d,
                                 f"{label} names {', '.join(unused)} but no such kink is on this line", catalog))
            elif unused:
                out.append(_meta("KC003", path, d,
                                 f"{label} names {', '.join(unused)}, which has no kink on this line", catalog))
    return out


def _meta(code: str, path: str, d: Directive, message: str, catalog) -> Finding:
    rule = catalog.get(code) if catalog is not None else None
    return make_finding(code, rule, path=path, line=d.line, col=d.col, end_line=d.line, end_col=d.end_col,
                        message=message, confidence="high", snippet=d.text)


def _catalog():
    from kinkcheck.config import _catalog as load

    return load()
