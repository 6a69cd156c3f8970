"""``kinkcheck rules`` (the catalog as a table) and ``kinkcheck rule CODE`` (one rule's docs).

Both read only the TOML catalog: no torch, jax or analyzer import, so they answer instantly.
The docs follow ruff's headings; on a terminal they render as rich markdown, otherwise as
plain text that pipes cleanly into a pager or a file.
"""

from __future__ import annotations

import json
import sys

import click

from kinkcheck import catalog as _catalog
from kinkcheck.lazyre import lazy_pattern

_FORMATS = click.Choice(["text", "json"])


def _load():
    try:
        return _catalog.load()
    except _catalog.CatalogError as exc:
        from kinkcheck.commands._common import fail

        fail(f"rule catalog is invalid: {exc}")


def rule_to_dict(rule: _catalog.Rule) -> dict:
    """Everything a tool needs about a rule, JSON-ready (used by ``rule --output-format json``)."""
    return {
        "code": rule.code,
        "name": rule.name,
        "category": rule.category,
        "summary": rule.summary,
        "message": rule.message,
        "default": rule.default,
        "status": rule.status,
        "since": rule.since,
        "confidence": rule.confidence,
        "kink": {"where": rule.where, "math": rule.math},
        "match": {
            "callables": list(rule.match.callables),
            "methods": list(rule.match.methods),
            "operators": list(rule.match.operators),
            "argument": rule.match.argument,
            "keyword": rule.match.keyword,
        },
        "subgradients": {s.framework: {"value": s.value, "expr": s.expr, "at": dict(s.at), "grad": dict(s.grad)}
                         for s in rule.subgradients},
        "runtime": None if rule.runtime is None else {
            "kind": rule.runtime.kind, "aten": list(rule.runtime.aten), "numpy": list(rule.runtime.numpy),
            "near": {"scale": rule.runtime.near, "means": _catalog.NEAR_SCALES[rule.runtime.near],
                     "why": rule.runtime.near_why}},
        "guards": {g: _catalog.GUARDS[g] for g in rule.guards},
        "remedies": [{"title": r.title, "rewrite": r.rewrite, "note": r.note} for r in rule.remedies],
        "docs": {
            "what": rule.docs.what,
            "why": rule.docs.why,
            "known_problems": rule.docs.known_problems,
            "example": rule.docs.example,
            "use_instead": rule.docs.use_instead,
            "references": list(rule.docs.references),
        },
        "help_uri": rule.help_uri,
    }


def rule_markdown(rule: _catalog.Rule) -> str:
    """The rule's documentation as markdown, in ruff's section order."""
    d = rule.docs
    out = [f"# {rule.name} ({rule.code})", "", f"Category: {rule.category} · "
           f"{'on' if rule.default else 'off'} by default · {rule.status} since {rule.since}", "",
           rule.summary, ""]

    def section(title: str, body: str) -> None:
        if body:
            out.extend([f"## {title}", "", body.strip(), ""])

    section("What it does", d.what)
    section("Why is this bad?", d.why)
    if rule.where or rule.math:
        section("Where is the kink?", "\n".join(x for x in (f"At `{rule.where}`." if rule.where else "", rule.math) if x))
    section("Known problems", d.known_problems)
    section("Example", d.example)
    section("Use instead", d.use_instead)
    if rule.subgradients:
        section("Subgradients", "\n".join(f"- **{s.framework}**: {s.value}" for s in rule.subgradients))
    if rule.guards:
        section("Guards accepted", "\n".join(f"- `{g}`: {_catalog.GUARDS[g]}" for g in rule.guards))
    if rule.remedies:
        lines = []
        for r in rule.remedies:
            head = f"- **{r.title}**" + (f": `{r.rewrite}`" if r.rewrite else "")
            lines.append(head + (f". {r.note}" if r.note else ""))
        section("Alternatives", "\n".join(lines))
    if rule.runtime is not None:
        ops = ", ".join(f"`{op}`" for op in rule.runtime.aten) or "none"
        rt = rule.runtime
        section("Runtime", f"The tracer counts `{rt.kind}` hits ({_catalog.RUNTIME_KINDS[rt.kind]}) on aten ops {ops}.\n\n"
                f"Near (`{rt.near}`): {_catalog.NEAR_SCALES[rt.near]}." + (f" Here: {rt.near_why}." if rt.near_why else ""))
    if d.references:
        section("References", "\n".join(f"- {ref}" for ref in d.references))
    return "\n".join(out).rstrip() + "\n"


def _plain(markdown: str) -> str:
    """Markdown to readable plain text: headings underlined, code blocks indented, bold
    markers dropped (only outside code: `x ** 0.5` keeps its operator)."""
    lines = []
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            lines.append("    " + line if line else "")
        elif line.startswith("# "):
            title = line[2:]
            lines.extend([title, "=" * len(title)])
        elif line.startswith("## "):
            title = line[3:]
            lines.extend([title, "-" * len(title)])
        else:
            lines.append(_unbold(line))
    return "\n".join(lines).rstrip() + "\n"


def _unbold(line: str) -> str:
    parts = line.split("`")
    # even parts are prose, odd parts are inline code
    return "`".join(_BOLD.sub(r"\1", p) if i % 2 == 0 else p for i, p in enumerate(parts))


_BOLD = lazy_pattern(r"\*\*(\S(?:.*?\S)?)\*\*")


def _is_terminal() -> bool:
    return sys.stdout.isatty()


@click.command("rules")
@click.option("--output-format", "--format", "fmt", type=_FORMATS, default="text", show_default=True)
@click.option("--all/--default-only", "show_all", default=True, help="Include rules that are off by default.")
def rules(fmt: str, show_all: bool):
    """List every rule: code, name, category, default on/off and summary."""
    cat = _load()
    chosen = [r for r in cat.values() if show_all or r.default]
    if fmt == "json":
        click.echo(json.dumps([{"code": r.code, "name": r.name, "category": r.category, "default": r.default,
                                "status": r.status, "summary": r.summary} for r in chosen], indent=2))
        return
    if _is_terminal():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"kinkcheck rules ({len(chosen)})")
        for col in ("code", "name", "category", "default", "summary"):
            table.add_column(col, overflow="fold")
        for r in chosen:
            table.add_row(r.code, r.name, r.category, "on" if r.default else "off", r.summary)
        Console().print(table)
        return
    width = max(len(r.name) for r in chosen)
    for r in chosen:
        click.echo(f"{r.code}  {r.name:<{width}}  {r.category:<8}  {'on ' if r.default else 'off'}  {r.summary}")


@click.command("rule")
@click.argument("code")
@click.option("--output-format", "--format", "fmt", type=_FORMATS, default="text", show_default=True)
def rule(code: str, fmt: str):
    """Show the documentation of one rule, by code (KC101) or name (abs-at-zero)."""
    cat = _load()
    found = cat.lookup(code)
    if found is None:
        from kinkcheck.commands._common import fail
        from kinkcheck.config import did_you_mean

        fail(f"unknown rule {code!r}{did_you_mean(code, [*cat, *(r.name for r in cat.values())], cutoff=0.8)} "
             "(see `kinkcheck rules`)")
    if fmt == "json":
        click.echo(json.dumps(rule_to_dict(found), indent=2))
        return
    text = rule_markdown(found)
    if _is_terminal():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
    else:
        click.echo(_plain(text), nl=False)
