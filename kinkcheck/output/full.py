"""``full``: a code frame with carets under the kink, like ruff's default output.

    examples/train_digits.py:42:12: KC101 [abs-at-zero] `torch.abs` is not differentiable ...
       |
    41 |     diff = pred - target
    42 |     return torch.abs(diff).mean()
       |            ^^^^^^^^^^^^^^^ KC101
       |
       = help: pseudo-Huber (smooth abs): `torch.sqrt(diff * diff + 1e-6) - 0.001` (unsafe fix)

The frame is built as (text, style) segments: plain text when colour is off (no rich
import at all), rich markup when it is on.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

from kinkcheck.findings import Finding
from kinkcheck.output.safe import guard, one_line
from kinkcheck.output.safe import path as safe_path
from kinkcheck.output.sources import SourceReader

CONTEXT_BEFORE = 2
CONTEXT_AFTER = 1
MAX_SPAN_LINES = 6
#: longer source lines are shown as a window around the finding
MAX_LINE = 120

Segment = tuple[str, str]  # (text, rich style or "")


def render(findings: Sequence[Finding], *, catalog=None, root=None, show_documented: bool = False,
           color: bool = False, roots: Sequence[str] | None = None, given: Mapping[str, str] | None = None,
           **ctx) -> str:
    """``roots`` are the checked paths: code is shown only from files inside them (default:
    ``root``), so a symlink to a file elsewhere gets no frame; ``given`` is source already read
    (standard input), by the path the findings name."""
    shown = [f for f in findings if show_documented or not f.documented]
    base = root if root is not None else os.getcwd()
    sources = SourceReader(list(roots) if roots is not None else [base], base=base, given=given)
    segments: list[Segment] = []
    for f in shown:
        segments += frame(f, sources.lines(f.path), catalog)
        if f.path in sources.refused:
            segments.append((f"  = note: {safe_path(f.path)} resolves outside the checked paths; its code is not shown\n", "dim"))
        segments.append(("\n", ""))
    return guard(_to_text(segments, color))


def frame(f: Finding, lines: list[str] | None, catalog=None) -> list[Segment]:
    out: list[Segment] = [
        (f"{safe_path(f.path)}:{f.line}:{f.col}:", "bold"),
        (" ", ""),
        (f.code, "bold green" if f.documented else "bold red"),
        (f" [{f.name}] ", "dim"),
        (one_line(f.message), ""),
    ]
    if f.documented:
        out.append((f"  (documented: {one_line(f.reason)})" if f.reason and f.reason != "noqa" else "  (noqa)", "green"))
    out.append(("\n", ""))
    if lines:
        out += _code(f, lines)
    hint = help_text(f, catalog)
    width = len(str(min(f.end_line, len(lines or [])) or f.line)) + 1
    if hint:
        out += [(" " * width + "= ", "blue"), ("help", "bold cyan"), (f": {one_line(hint)}\n", "")]
    return out


def _code(f: Finding, lines: list[str]) -> list[Segment]:
    if not 1 <= f.line <= len(lines):
        return []
    last = min(max(f.end_line, f.line), len(lines), f.line + MAX_SPAN_LINES - 1)
    first_shown = max(1, f.line - CONTEXT_BEFORE)
    last_shown = min(len(lines), last + CONTEXT_AFTER)
    # no leading/trailing blank context lines
    while first_shown < f.line and not lines[first_shown - 1].strip():
        first_shown += 1
    while last_shown > last and not lines[last_shown - 1].strip():
        last_shown -= 1
    width = len(str(last_shown))
    gutter = " " * (width + 1)
    out: list[Segment] = [(gutter + "|\n", "blue")]
    # one horizontal window for the whole frame, so that generated one-line monsters stay readable
    left = max(0, _column(lines[f.line - 1], f.col) - MAX_LINE // 4) if any(
        len(_shown(lines[n - 1])) > MAX_LINE for n in range(f.line, last + 1)) else 0
    if left:  # context lines cut at the same window would show nothing useful
        first_shown, last_shown = f.line, last
    for n in range(first_shown, last_shown + 1):
        full_text = _shown(lines[n - 1].rstrip("\r\n"))
        text, shift = _window(full_text, left)
        out += [(f"{n:>{width}} | ", "blue"), (text + "\n", "")]
        if f.line <= n <= last:
            # columns count characters of the source; the line is shown with tabs expanded and
            # controls escaped (a form feed is 4 characters on screen): measure the shown prefix
            start = _column(lines[n - 1], f.col) if n == f.line else len(full_text) - len(full_text.lstrip())
            end = _column(lines[n - 1], f.end_col) if n == f.end_line else len(full_text)
            start, end = start - shift, end - shift
            start = min(max(start, 0), max(len(text) - 1, 0))
            end = max(min(end, len(text)), start + 1)
            carets = "^" * (end - start)
            label = f" {f.code}" if n == last else ""
            out += [(gutter + "| ", "blue"), (" " * start + carets + label + "\n",
                                               "bold green" if f.documented else "bold red")]
    out.append((gutter + "|\n", "blue"))
    return out


def _shown(text: str) -> str:
    """A source line as the frame shows it: tabs expanded, control characters escaped."""
    return one_line(text.expandtabs(4))


def _column(line: str, col: int) -> int:
    """The 0-based screen column of 1-based source column ``col`` of ``line``."""
    return len(_shown(line[: max(col - 1, 0)]))


def _window(text: str, left: int) -> tuple[str, int]:
    """``text`` cut to MAX_LINE columns from ``left`` with … marking the cuts, and the shift
    to apply to columns."""
    if len(text) <= MAX_LINE and left == 0:
        return text, 0
    shift = left
    if left > 0:
        text, shift = "…" + text[left + 1 :], left
    if len(text) > MAX_LINE:
        text = text[: MAX_LINE - 1] + "…"
    return text, shift


def help_text(f: Finding, catalog=None) -> str:
    """The rewrite the analyzer filled and the harness proved for this site (the one
    ``--fix`` applies first, marked as a safe or unsafe fix as ruff marks them), else the
    rule's first remedy by title; never a template filled here."""
    extra = f.extra or {}
    shown = [r for r in extra.get("remedies", ()) if isinstance(r, dict) and r.get("rewrite")]
    fix = extra.get("fix") if isinstance(extra.get("fix"), dict) else None
    if shown:
        first = next((r for r in shown if fix and r.get("title") == fix.get("title")), shown[0])
        kind = {"safe": " (safe fix)", "unsafe": " (unsafe fix)"}.get(first.get("applicability", ""), "") \
            if fix and first.get("title") == fix.get("title") else ""
        return f"{first['title']}: `{first['rewrite']}`{kind}"
    rule = None
    if catalog is not None:
        try:
            rule = catalog.get(f.code)
        except Exception:
            rule = None
    remedies = getattr(rule, "remedies", ()) if rule is not None else ()
    if f.replacement:
        return f"replace with: `{f.replacement}`"
    if not remedies:
        return ""
    return f"{remedies[0].title} (see `kinkcheck rule {f.code}`)"


def _to_text(segments: list[Segment], color: bool) -> str:
    if not color:
        return "".join(text for text, _ in segments)
    from io import StringIO

    from rich.console import Console
    from rich.text import Text

    text = Text()
    for chunk, style in segments:
        text.append(chunk, style=style or None)
    buf = StringIO()
    console = Console(file=buf, force_terminal=True, color_system="standard", width=10_000,
                      highlight=False, soft_wrap=True, emoji=False, markup=False)
    console.print(text, end="")
    return buf.getvalue()
