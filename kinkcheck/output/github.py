"""GitHub Actions workflow commands (``--output-format github``): inline annotations on PRs.

One line per finding::

    ::warning file=src/loss.py,line=5,col=12,endLine=5,endColumn=35,title=KC101 (abs-at-zero)::message

The command follows the rule's severity (``::error``, ``::warning``, ``::notice``).

Escaping follows GitHub's runner (``toolkit/packages/core/src/command.ts``): in the message
``%``, ``\\r`` and ``\\n``; in property values additionally ``:`` and ``,``.
"""

from __future__ import annotations

from collections.abc import Sequence

from kinkcheck.findings import Finding, sort_key
from kinkcheck.output.severity import GITHUB, resolver
from kinkcheck.paths import repo_path


def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, properties: dict[str, object], message: str) -> str:
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items())
    return f"::{kind} {props}::{escape_data(message)}"


def annotation(f: Finding, *, root=None, severity: str = "warning") -> str:
    """One workflow command: ``::error`` / ``::warning`` / ``::notice`` by the finding's
    ``severity``; a documented kink is always a notice."""
    if f.documented:
        kind = "notice"
        message = f"{f.message} (documented: {f.reason})" if f.reason else f"{f.message} (documented)"
    else:
        kind = GITHUB[severity]
        message = f.message
    props: dict[str, object] = {"file": repo_path(f.path, root), "line": f.line, "col": f.col}
    end_line = max(f.end_line, f.line)
    props["endLine"] = end_line
    if f.end_col > 0 and (end_line > f.line or f.end_col > f.col):
        props["endColumn"] = f.end_col
    props["title"] = f"{f.code} ({f.name})"
    return command(kind, props, message)


def render(findings: Sequence[Finding], *, catalog=None, root=None, show_documented: bool = False, **ctx) -> str:
    """Undocumented kinks by their rule's severity (error, warning, notice); documented ones
    as notices when ``show_documented``."""
    of = resolver({"catalog": catalog, **ctx})
    lines = [annotation(f, root=root, severity=of(f.code))
             for f in sorted(findings, key=sort_key) if show_documented or not f.documented]
    return "".join(line + "\n" for line in lines)
