"""``path:line:col: KC101 [abs-at-zero] message``, one finding per line (grep- and editor-friendly)."""

from __future__ import annotations

from typing import Sequence

from kinkcheck.findings import Finding


def line(f: Finding) -> str:
    text = f"{f.path}:{f.line}:{f.col}: {f.code} [{f.name}] {f.message}"
    if f.documented:
        text += f" (documented: {f.reason})" if f.reason and f.reason != "noqa" else " (noqa)"
    return text


def render(findings: Sequence[Finding], *, catalog=None, root=None, show_documented: bool = False, **ctx) -> str:
    shown = [f for f in findings if show_documented or not f.documented]
    return "".join(line(f) + "\n" for f in shown)
