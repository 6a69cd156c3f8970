"""``path:line:col: KC101 [abs-at-zero] message``, one finding per line (grep- and editor-friendly)."""

from __future__ import annotations

from typing import Sequence

from kinkcheck.findings import Finding
from kinkcheck.output.safe import guard, one_line, path


def line(f: Finding) -> str:
    """One line whatever the path or message hold (see :mod:`kinkcheck.output.safe`)."""
    text = f"{path(f.path)}:{f.line}:{f.col}: {f.code} [{f.name}] {one_line(f.message)}"
    if f.documented:
        text += f" (documented: {one_line(f.reason)})" if f.reason and f.reason != "noqa" else " (noqa)"
    return text


def render(findings: Sequence[Finding], *, catalog=None, root=None, show_documented: bool = False, **ctx) -> str:
    shown = [f for f in findings if show_documented or not f.documented]
    return guard("".join(line(f) + "\n" for f in shown))
