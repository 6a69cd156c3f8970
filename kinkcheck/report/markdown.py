"""The report as GitHub-flavoured Markdown: a summary, then a collapsible block per site.

Written for pull requests and ``$GITHUB_STEP_SUMMARY``; GitHub refuses a step summary over
1 MiB, so the least dangerous sites are cut first, with a note saying how many (and never
more than ``text.MAX_SITES["markdown"]`` sites are written out).
"""

from __future__ import annotations

import html

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.output.safe import guard, one_line
from kinkcheck.report import text as tx
from kinkcheck.report.model import STATUS_HELP, STATUS_LABELS, Report, Site

_CODE_SPAN = lazy_pattern(r"(`+[^`]*`+)")

#: Stay safely under GitHub's 1 MiB (1,048,576 bytes) step-summary limit.
MAX_BYTES = 1_000_000


def render(report: Report, *, max_bytes: int = MAX_BYTES) -> str:
    head = _head(report)
    tail = _tail(report)
    used = _size(head) + _size(tail)
    kept: list[str] = []
    sites, left = tx.shown(report, "markdown")
    total = len(report.sites)
    for i, site in enumerate(sites):  # rendered one at a time: a cut stops the work too
        block = _site(site)
        cut = _cut_note(total - i)
        if used + _size(block) + _size(cut) > max_bytes:
            kept.append(cut)
            left = 0
            break
        kept.append(block)
        used += _size(block)
    if left:
        kept.append(f"> [!NOTE]\n> {_inline(tx.more_sites(left, 'markdown'))}\n")
    return guard("\n".join([head, *kept, tail]).rstrip() + "\n")


def _size(text: str) -> int:
    return len(text.encode("utf-8", "backslashreplace")) + 1


def _cut_note(n: int) -> str:
    return (
        f"> [!NOTE]\n> {n} more site(s) not shown: this summary stays under GitHub's 1 MiB limit. "
        f"Run `kinkcheck report --format html -o kinks.html` for more (up to {tx.MAX_SITES['html']}), "
        "`--format json` for every site.\n"
    )


def _head(report: Report) -> str:
    out = ["## kinkcheck report", "", f"**{_esc(report.headline())}**", ""]
    for p in report.problems:
        out.append(f"> [!WARNING]\n> {_esc(one_line(p))}\n")
    for line in tx.trace_lines(report):
        out.append(f"- {_esc(line)}")
    for line in tx.join_lines(report):
        out.append(f"- {_inline(line)}")
    out.append("")
    if not report.sites:
        return "\n".join(out)
    cols = tx.status_columns(report)
    out.append("| category | " + " | ".join(STATUS_LABELS[s] for s in cols) + " | total |")
    out.append("| --- | " + " | ".join("---:" for _ in cols) + " | ---: |")
    for category, row in report.counts().items():
        out.append(f"| {category} | " + " | ".join(str(row.get(s, 0)) for s in cols) + f" | {sum(row.values())} |")
    totals = report.status_totals()
    out.append("| **all** | " + " | ".join(f"**{totals[s]}**" for s in cols) + f" | **{len(report.sites)}** |")
    out.append("")
    worst = report.worst()
    if worst:
        out.append("### Worst sites")
        out.append("")
        out.append("| site | rule | function | exact | near | evaluations | hit rate |")
        out.append("| --- | --- | --- | ---: | ---: | ---: | ---: |")
        for s in worst:
            rt = s.runtime
            assert rt is not None, "the worst sites are the ones the trace measured"
            out.append(
                f"| [`{_cell(tx.location(s))}`](#{s.anchor}) | `{s.code}` {s.name} | {_cell(tx.function(s))} | "
                f"{tx.count(rt.exact)} | {tx.count(rt.near)} | {tx.count(rt.evaluations)} | {tx.rate(rt.exact_rate)} |"
            )
        out.append("")
    out.append("### Sites")
    out.append("")
    return "\n".join(out)


def _tail(report: Report) -> str:
    out = []
    if report.hidden_documented:
        out.append(f"_{report.hidden_documented} documented site(s) hidden (`--show-documented` shows them)._")
    legend = "; ".join(f"**{STATUS_LABELS[s]}**: {STATUS_HELP[s]}" for s in tx.status_columns(report))
    if report.sites:
        out.append(f"<sub>{_esc(legend)}</sub>")
    return "\n".join(out)


def _site(s: Site) -> str:
    rt = s.runtime
    doc = " · documented" if s.documented else ""
    fn = f" in <code>{_esc(tx.function(s))}</code>" if s.function else ""
    counts = f" · {tx.count(rt.exact)} exact / {tx.count(rt.near)} near of {tx.count(rt.evaluations)}" if rt and rt.evaluations else ""
    summary = (
        f'<a id="{s.anchor}"></a><b>{_esc(STATUS_LABELS[s.status])}</b>{doc} · <code>{s.code} {_esc(s.name)}</code> '
        f"<code>{_esc(tx.location(s))}</code>{fn}{counts}"
    )
    out = [f"<details><summary>{summary}</summary>", ""]
    if s.source:
        width = len(str(s.source[-1][0]))
        body = "\n".join(f"{'>' if n == s.line else ' '} {n:>{width}} | {one_line(line)}" for n, line in s.source)
        out.append(_fence(body, "") + "\n")
    elif s.snippet:
        out.append(_fence(s.snippet, "python") + "\n")
    facts = [
        ("status", tx.status_phrase(s)),
        ("found", s.origin_label),
        ("documented", tx.documented_phrase(s)),
        ("what", s.message),
        ("kink", "; ".join(x for x in (f"at `{s.where}`" if s.where else "", s.math) if x)),
        ("why", " ".join(s.why.split())),
    ]
    facts += [("subgradient" if i == 0 else "", line) for i, line in enumerate(tx.subgradient_lines(s))]
    swap = tx.probe_line(s)
    if swap:
        facts.append(("swap", swap))
    if rt is not None:
        if rt.harmless:
            facts.append(("harmless", f"{tx.count(rt.harmless)} ties among a preceding ReLU's zeros (not counted as hits)"))
        if rt.modules:
            facts.append(("modules", tx.modules(s)))
        hist = tx.histogram_rows(s)
        if hist:
            facts.append(("distance", " · ".join(f"{label}: {tx.count(v)}" for label, v in hist)))
        if rt.per_step:
            facts.append(("exact/step", tx.per_step_line(rt.per_step, 2, code="`")))
            facts.append(("near/step", tx.per_step_line(rt.per_step, 3, code="`")))
    facts += [("note", one_line(n)) for n in s.notes]
    out.append("| | |")
    out.append("| --- | --- |")
    for k, v in facts:
        if v:
            out.append(f"| {k} | {_cell(v) if k in ('exact/step', 'near/step') else _inline_cell(v)} |")
    out.append("")
    if s.remedies:
        out.append("**Use instead**")
        out.append("")
        for rem in s.remedies:
            line = f"- **{_esc(rem.title)}**"
            if rem.note:
                line += f": {_inline(rem.note)}"
            out.append(line)
            if rem.rewrite:
                out.append("")
                out.append(_indent(_fence(rem.rewrite, "python"), "  "))
        out.append("")
    if s.help_uri:
        out.append(f"[{s.code} in the rule catalog]({s.help_uri})")
        out.append("")
    out.append("</details>")
    out.append("")
    return "\n".join(out)


def _fence(body: str, lang: str) -> str:
    ticks = "```"
    while ticks in body:
        ticks += "`"
    return f"{ticks}{lang}\n{body}\n{ticks}"


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _inline(text: str) -> str:
    """Prose from the catalog keeps its `code` spans; HTML outside them is escaped (inside a
    code span GitHub would show the entity itself)."""
    parts = _CODE_SPAN.split(str(text).replace("\n", " "))
    return "".join(p if i % 2 else html.escape(p, quote=False) for i, p in enumerate(parts))


def _inline_cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")


def _cell(text: str) -> str:
    return one_line(str(text).replace("|", "\\|").replace("\n", " "))
