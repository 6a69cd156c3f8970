"""``check --add-kink-comments``: adopt kinkcheck on existing code by writing a
``# kink[CODE]:`` comment at every undocumented site, for the author to complete.

The comment is written without a reason on purpose: a kink comment without one documents
nothing and is itself reported (KC003, "kink comment gives no reason"), so the run keeps
failing at each site until someone has written down why the kink is acceptable, like a
TODO that fails the build. Next to ``--write-baseline`` (which hides today's findings),
this puts the question in the code, at the line. Files are rewritten atomically and only if
they still compile.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from kinkcheck.findings import Finding

#: KC001-KC003 are about the file or its comments: a kink comment cannot document them
META = frozenset({"KC001", "KC002", "KC003"})


@dataclass
class Written:
    comments: int = 0
    files: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def comment_for(codes: Iterable[str]) -> str:
    return f"# kink[{', '.join(sorted(set(codes)))}]:"


def add_comments(text: str, codes_by_line: dict[int, set[str]]) -> tuple[str, int, list[str]]:
    """``text`` with a reason-less kink comment at the end of each line in ``codes_by_line``;
    how many were written, and why some lines were skipped."""
    from kinkcheck.source import raw_lines

    lines = raw_lines(text)  # Python's own line ends: a form feed starts no line
    skipped = []
    written = 0
    inside = _inside_strings(text)
    for line_no in sorted(codes_by_line):
        if not 1 <= line_no <= len(lines):
            skipped.append(f"line {line_no} is outside the file")
            continue
        if line_no in inside:
            skipped.append(f"line {line_no} ends inside a string: a comment there would be part of it")
            continue
        raw = lines[line_no - 1]
        body = raw.rstrip("\r\n")
        end = raw[len(body):]
        if body.rstrip().endswith("\\"):
            skipped.append(f"line {line_no} continues with a backslash: no comment can end it")
            continue
        lines[line_no - 1] = f"{body.rstrip()}  {comment_for(codes_by_line[line_no])}{end or ''}"
        written += 1
    return "".join(lines), written, skipped


def _inside_strings(text: str) -> set[int]:
    """Lines whose end is inside a string token (a triple-quoted string across lines)."""
    import io
    import tokenize

    out: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1)) and tok.end[0] > tok.start[0]:
                out.update(range(tok.start[0], tok.end[0]))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return out


def document_findings(findings: Iterable[Finding], *, write: bool = True, read=None) -> Written:
    """A kink comment for every undocumented finding, one per line (its codes together)."""
    from kinkcheck.atomic import write_atomic
    from kinkcheck.remedy.apply import _compiles, _read

    out = Written()
    by_path: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for f in findings:
        if not f.documented and f.code not in META:
            by_path[f.path][f.line].add(f.code)
    for path in sorted(by_path):
        try:
            text = read(path) if read is not None else _read(path)
        except (OSError, UnicodeDecodeError) as exc:
            out.messages.append(f"{path}: no comments written: cannot read it ({getattr(exc, 'strerror', None) or exc})")
            continue
        new, n, skipped = add_comments(text, by_path[path])
        out.messages.extend(f"{path}: {s}" for s in skipped)
        if not n:
            continue
        why = _compiles(new, path)
        if why:
            out.messages.append(f"{path}: left untouched: with the comments it does not parse ({why})")
            continue
        if write:
            try:
                write_atomic(path, new.encode("utf-8"), parents=False)
            except OSError as exc:
                out.messages.append(f"{path}: no comments written: cannot write it ({exc.strerror or exc})")
                continue
        out.comments += n
        out.files.append(path)
    return out
