"""Markdown (``--output-format markdown``), sized for a CI step summary.

``kinkcheck check --output-format markdown . >> "$GITHUB_STEP_SUMMARY"`` gives a heading
with the counts, a table of findings and, per rule, a collapsible ``<details>`` with why it
matters and what to write instead. Inside GitHub Actions (``GITHUB_REPOSITORY`` and
``GITHUB_SHA`` set) locations link to the lines at the commit.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from kinkcheck.findings import Finding, sort_key
from kinkcheck.output.safe import guard, one_line
from kinkcheck.output.safe import path as safe_path
from kinkcheck.paths import repo_path


def cell(text: str) -> str:
    """Text safe inside a table cell: one line, no column breaks, no raw HTML."""
    text = one_line(" ".join(str(text).split()))
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def source_link(path: str, line: int, env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    repo, sha = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_SHA")
    if not repo or not sha:
        return None
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    return f"{server}/{repo}/blob/{sha}/{quote(path, safe='/')}#L{line}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _details(rule, count: int) -> str:
    d = rule.docs
    body = [f"**Why it matters.** {' '.join(d.why.split())}"]
    if d.use_instead:
        body.append(f"**Use instead:**\n\n{d.use_instead}")
    if rule.remedies:
        body.append("\n".join(f"- {r.title}" + (f": `{r.rewrite}`" if r.rewrite else "") for r in rule.remedies))
    body.append(f"**Or document it** on the line: `# kink: {rule.code} <why it is fine here>`")
    body.append(f"[Rule docs]({rule.help_uri})")
    summary = f"<code>{rule.code}</code> {rule.name}: {cell(rule.summary.replace('`', ''))} ({_plural(count, 'finding')})"
    return f"<details>\n<summary>{summary}</summary>\n\n" + "\n\n".join(body) + "\n\n</details>"


def render(
    findings: Sequence[Finding],
    *,
    catalog=None,
    root=None,
    show_documented: bool = False,
    env: Mapping[str, str] | None = None,
    **ctx,
) -> str:
    ordered = sorted(findings, key=sort_key)
    todo = [f for f in ordered if not f.documented]
    documented = [f for f in ordered if f.documented]
    files = {f.path for f in todo}
    if todo:
        head = f"## kinkcheck: {_plural(len(todo), 'undocumented kink')} in {_plural(len(files), 'file')}"
    else:
        head = "## kinkcheck: no undocumented kinks"
    out = [head, ""]
    if documented:
        note = f"{_plural(len(documented), 'documented kink')}"
        out += [f"{note} ({'listed below' if show_documented else 'not listed'}).", ""]
    shown = ordered if show_documented else todo
    if shown:
        out += ["| Rule | Location | Message | Status |", "| --- | --- | --- | --- |"]
        for f in shown:
            path = repo_path(f.path, root)
            where = f"`{safe_path(path)}:{f.line}:{f.col}`"
            link = source_link(path, f.line, env)
            if link:
                where = f"[{where}]({link})"
            status = f"documented: {cell(f.reason)}" if f.documented and f.reason else ("documented" if f.documented else "**undocumented**")
            out.append(f"| `{f.code}` {f.name} | {where} | {cell(f.message)} | {status} |")
        out.append("")
    if todo and catalog is not None:
        counts = Counter(f.code for f in todo)
        for code in sorted(counts):
            if code in catalog:
                out += [_details(catalog[code], counts[code]), ""]
    return guard("\n".join(out).rstrip("\n") + "\n")
