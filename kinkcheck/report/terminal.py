"""The report in the terminal: a summary table, the worst sites, then one panel per site."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kinkcheck.output.safe import block, guard, one_line
from kinkcheck.report import text as tx
from kinkcheck.report.model import STATUS_LABELS, Report, Site

STYLES = {"hit": "bold red", "near": "bold yellow", "clear": "green", "not-exercised": "dim", "not-traced": "dim"}


def render(report: Report, *, width: int = 100, color: bool = False) -> str:
    """The report as text; ANSI colours only when ``color`` (the CLI on a terminal)."""
    buf = io.StringIO()
    console = Console(
        file=buf, width=width, force_terminal=color, color_system="standard" if color else None,
        no_color=not color, highlight=False, emoji=False, soft_wrap=False,
        markup=False,  # catalog text and user code contain [brackets] that are not rich markup
    )
    console.print(Text("kinkcheck report", style="bold"), Text(f"  {one_line(report.root)}", style="dim"))
    console.print(report.headline())
    for p in report.problems:
        console.print(Text(f"problem: {one_line(p)}", style="bold red"))
    for line in tx.trace_lines(report):
        console.print(Text(line, style="dim"))
    for line in tx.join_lines(report):
        console.print(Text(line, style="dim"))
    if report.sites:
        console.print()
        console.print(_summary_table(report))
        worst = report.worst()
        if worst:
            console.print(_worst_table(worst))
        sites, left = tx.shown(report, "terminal")
        for site in sites:
            console.print(_panel(site))
        if left:
            console.print(Text(tx.more_sites(left, "terminal"), style="bold"))
    if report.hidden_documented:
        console.print(Text(f"{report.hidden_documented} documented site(s) hidden (--show-documented shows them).", style="dim"))
    return guard(buf.getvalue())


def _summary_table(report: Report) -> Table:
    cols = tx.status_columns(report)
    table = Table(title="Sites by category and status", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("category")
    for s in cols:
        table.add_column(STATUS_LABELS[s], justify="right", style=STYLES[s] if s in ("hit", "near") else None)
    table.add_column("total", justify="right")
    for category, row in report.counts().items():
        table.add_row(category, *[str(row.get(s, 0)) for s in cols], str(sum(row.values())))
    totals = report.status_totals()
    table.add_row(Text("all", style="bold"), *[Text(str(totals[s]), style="bold") for s in cols], Text(str(len(report.sites)), style="bold"))
    return table


def _worst_table(worst: list[Site]) -> Table:
    table = Table(title="Worst sites (undocumented, hit or near-hit in training)", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("site", overflow="fold")
    table.add_column("rule", no_wrap=True)
    for name in ("exact", "near", "evaluations", "hit rate"):
        table.add_column(name, justify="right", no_wrap=True)
    for s in worst:  # the function and rule name are in the site's panel below
        rt = s.runtime
        assert rt is not None, "the worst sites are the ones the trace measured"
        table.add_row(tx.location(s), s.code, tx.count(rt.exact), tx.count(rt.near), tx.count(rt.evaluations), tx.rate(rt.exact_rate))
    return table


def _panel(site: Site) -> Panel:
    parts: list = []
    if site.source:
        width = len(str(site.source[-1][0]))
        code = Text(no_wrap=True, overflow="ellipsis")
        for n, line in site.source:
            mark = n == site.line
            code.append(f"{'>' if mark else ' '} {n:>{width}} | ", style="bold" if mark else "dim")
            code.append(one_line(line) + "\n", style="bold" if mark else None)
        parts.append(code)
    elif site.snippet:
        parts.append(Text("".join(f"  {line}\n" for line in block(site.snippet).split("\n")), style="bold"))
    facts = Table.grid(padding=(0, 1))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    facts.add_row("status", Text(tx.status_phrase(site), style=STYLES[site.status]))
    facts.add_row("found", site.origin_label)
    facts.add_row("documented", Text(tx.documented_phrase(site), style="green" if site.documented else "yellow"))
    if site.message:
        facts.add_row("what", one_line(site.message))
    if site.where or site.math:
        facts.add_row("kink", "; ".join(x for x in (f"at {site.where}" if site.where else "", site.math) if x))
    if site.why:
        facts.add_row("why", " ".join(site.why.split()))
    for i, line in enumerate(tx.subgradient_lines(site)):
        facts.add_row("subgradient" if i == 0 else "", line)
    swap = tx.probe_line(site)
    if swap:
        facts.add_row("swap", swap)
    rt = site.runtime
    if rt is not None:
        if rt.harmless:
            facts.add_row("harmless", f"{tx.count(rt.harmless)} ties among a preceding ReLU's zeros (not counted as hits)")
        if rt.modules:
            facts.add_row("modules", tx.modules(site))
        hist = tx.histogram_rows(site)
        if hist:
            facts.add_row("distance", "  ".join(f"{label}: {tx.count(v)}" for label, v in hist))
        if rt.per_step:
            facts.add_row("exact/step", tx.per_step_line(rt.per_step, 2))
            facts.add_row("near/step", tx.per_step_line(rt.per_step, 3))
    if site.remedies:
        remedies = Table.grid(padding=(0, 1))
        remedies.add_column(no_wrap=True)
        remedies.add_column()
        for rem in site.remedies:
            value = Text(rem.title, style="bold")
            if rem.rewrite:
                value.append("\n" + block(rem.rewrite), style="cyan")
            if rem.note:
                value.append(f"\n{rem.note}", style="dim")
            remedies.add_row("-", value)
        facts.add_row("use instead", remedies)
    for note in site.notes:
        facts.add_row("note", Text(one_line(note), style="dim"))
    if site.help_uri:
        facts.add_row("docs", site.help_uri)
    parts.append(facts)
    title = Text()
    title.append(f"{site.code} {site.name}", style="bold")
    title.append(f"  {tx.location(site)}")
    if site.function:
        title.append(f" in {tx.function(site)}")
    badge = STATUS_LABELS[site.status] + (" / documented" if site.documented else "")
    return Panel(Group(*parts), title=title, title_align="left", subtitle=badge, subtitle_align="right", border_style=STYLES[site.status] if not site.documented else "green")
