"""Text that cannot start a CI workflow command or break a line it is printed on.

CI runners read commands from a job's output: GitHub Actions takes a line that starts with
``::`` (after leading spaces) and, in the older form, ``##[`` anywhere in a line; Azure
Pipelines takes ``##vso[`` anywhere. A file named ``"x\\n::error::owned.py"``, or an argument
that spans lines, would otherwise start a command of the attacker's choosing when
kinkcheck prints it. So every field printed into a line-oriented format goes through
:func:`one_line` (control characters shown as escapes, as ``repr`` would) or
:func:`path` (the same, and ``./`` before a name that starts with ``::``), and each text
document goes through :func:`guard` last, which defuses what is left (a source line inside a
string literal that starts with ``::``, a ``##[`` in a name): losslessly in JSON (``\\u0023``),
HTML and XML (character references), with an invisible zero-width space in text. JSON
escapes control characters itself; the ``github`` format writes real commands and escapes
its fields the runner's way.
"""

from __future__ import annotations

import re

from kinkcheck.lazyre import lazy_pattern

#: C0 and C1 controls (tab excepted), DEL, and the Unicode line and paragraph separators.
_CONTROL = lazy_pattern("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\x1b"}
#: GitHub's command prefixes (``::`` at a line start, ``##[`` anywhere) and Azure's.
#: (.NET's TrimStart, which the runner applies, strips any Unicode space, NBSP included.)
_COMMAND = lazy_pattern(r"(?:^|(?<=\r))([^\S\r\n]*):(?=:)|#(?=#\[)|#(?=#vso\[)", re.MULTILINE)
_HASHES = lazy_pattern(r"#(?=#\[|#vso\[)")
ZWSP = "\u200b"


def _escape(match: re.Match) -> str:
    ch = match.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def one_line(text: object) -> str:
    """``text`` on one line: newlines, carriage returns, escapes and other controls shown as
    ``\\n``, ``\\r``, ``\\x1b``... (a terminal escape in a file name cannot repaint the screen)."""
    return _CONTROL.sub(_escape, str(text))


def block(text: object) -> str:
    """Multi-line text (a snippet, a rewrite) kept on its lines, every other control
    character escaped as in :func:`one_line`; ``\\r\\n`` and ``\\r`` become ``\\n``."""
    return "\n".join(one_line(line) for line in str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def path(text: object) -> str:
    """A path for a line-oriented format: :func:`one_line`, and ``./`` in front of a relative
    name that starts with ``::`` (the same file, no longer a workflow command)."""
    shown = one_line(text)
    return "./" + shown if shown.lstrip().startswith("::") else shown


def guard(document: str, style: str = "text") -> str:
    """``document`` with every workflow-command prefix defused: a line-leading ``::`` and
    ``##[`` / ``##vso[`` anywhere. How depends on the format, lossless where it can be:

    - ``"text"`` (terminal, Markdown, plain): a zero-width space after the first ``:`` or
      ``#``, invisible when read;
    - ``"json"``: the first ``#`` written as the escape ``\\u0023`` (same string once
      parsed; a JSON line never starts with ``::``);
    - ``"xml"`` (HTML, JUnit): character references ``&#58;`` and ``&#35;`` (same text once
      parsed)."""
    if style == "json":
        return _HASHES.sub(r"\\u0023", document)
    if style == "xml":
        return _COMMAND.sub(lambda m: (m.group(1) or "") + ("&#58;" if m.group().endswith(":") else "&#35;"), document)
    return _COMMAND.sub(lambda m: m.group() + ZWSP, document)
