"""Remedies for one site: the rule's ``[[remedies]]`` templates filled with the site's own
expressions, in its own library, and shown only where the harness proved them.

Everything that shows a rewrite goes through here: the analyzer (a finding's
``replacement`` and its ``extra["remedies"]``), the check outputs, ``check --fix`` and the
report (:mod:`kinkcheck.report.rewrite`, which reads a site from its source line when the
analyzer did not see it). :mod:`kinkcheck.remedy.prove` runs every rewrite against the
original in torch, JAX and NumPy and writes the verdicts to ``proven.json``; a rewrite
without an ``ok`` there is not shown (the remedy's title still is).
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kinkcheck.remedy.bindings import MODULE_ROOTS, Bindings, bind
from kinkcheck.remedy.fill import fill, tidy
from kinkcheck.remedy.frameworks import Spelling, dotted, framework_of

PROVEN = Path(__file__).with_name("proven.json")


@dataclass(frozen=True)
class Filled:
    """One remedy at one site. ``rewrite`` is the concrete, proven rewrite or None;
    ``reason`` says why there is none (the site lacks a piece, no spelling in its library,
    the harness rejected it)."""

    title: str
    template: str | None
    rewrite: str | None
    note: str
    applicability: str
    reason: str = ""
    needs: tuple[str, ...] = ()

    @property
    def is_fix(self) -> bool:
        """Applied by ``check --fix`` (``safe``) or with ``--unsafe-fixes`` (``unsafe``)."""
        return self.rewrite is not None and self.applicability in ("safe", "unsafe") and not self.needs

    def to_dict(self) -> dict:
        """What a finding carries (its template and note are the catalog's)."""
        out: dict = {"title": self.title, "rewrite": self.rewrite, "applicability": self.applicability}
        if self.needs:
            out["needs"] = list(self.needs)
        return out


@lru_cache(maxsize=1)
def verdicts() -> dict:
    """``proven.json``: code -> remedy title -> framework -> ``ok`` or why it failed."""
    try:
        return json.loads(PROVEN.read_text())
    except (OSError, ValueError):
        return {}


def verdict(code: str, title: str, framework: str) -> str:
    return verdicts().get(code, {}).get(title, {}).get(framework, "not proven by the harness")


def template_for(remedy, framework: str) -> tuple[str | None, bool]:
    """The template for ``framework`` and whether it is written in that library already."""
    own = getattr(remedy, framework, None) if framework in ("jax", "numpy") else None
    if own is not None:
        return (own or None), True
    return remedy.rewrite, False


def fill_remedy(remedy, bindings: Bindings, framework: str, spelling: Spelling,
                taken: Callable[[str], bool] = lambda name: False) -> tuple[str | None, str, tuple[str, ...]]:
    """(rewrite, reason, needed imports) of one remedy at one site, before the harness's
    verdict is consulted: the harness itself calls this."""
    if not remedy.rewrite:
        return None, "advice only", ()
    if "x-guarded" in bindings.facts:
        return None, "the operand is already a where guard (the inner where of a double-where)", ()
    if "detached" in bindings.facts:
        return None, "inside .detach(): the kink reaches no gradient", ()
    if "builtin" in bindings.facts and remedy.rewrite.strip() != "{x}":
        return None, "a Python builtin on Python numbers: no array rewrite applies", ()
    if "extra-args" in bindings.facts and "{call}" not in remedy.rewrite:
        return None, "the call has arguments the rewrite would drop", ()
    if remedy.callees and bindings.callee not in remedy.callees:
        return None, f"fits {', '.join(remedy.callees)}, not {bindings.callee}", ()
    missing = [f for f in remedy.when if f not in bindings.facts]
    if missing:
        return None, f"the site is not {', '.join(missing)}", ()
    present = [f for f in remedy.unless if f in bindings.facts]
    if present:
        return None, f"the site is {', '.join(present)}", ()
    template, translated = template_for(remedy, framework)
    if template is None:
        return None, f"no {framework} spelling", ()
    spelling.needs = set()
    out = fill(template, params=dict(remedy.params), bindings=bindings, framework=framework,
               translated=translated, spelling=spelling, taken=taken)
    return (tidy(out.text) if out.text else None), out.reason, out.needs


def fill_all(rule, bindings: Bindings, framework: str, spelling: Spelling,
             taken: Callable[[str], bool] = lambda name: False, *, proven_only: bool = True) -> list[Filled]:
    out = []
    for rem in rule.remedies:
        text, reason, needs = fill_remedy(rem, bindings, framework, spelling, taken)
        if text is not None and proven_only:
            v = verdict(rule.code, rem.title, framework)
            if v != "ok":
                text, reason = None, f"not shown: {v}"
        applicability = rem.applicability
        if applicability != "display" and not all(f in bindings.facts for f in rem.fix_when):
            applicability = "display"  # right only under a condition the site does not show
        out.append(Filled(title=rem.title, template=rem.rewrite, rewrite=text, note=rem.note,
                          applicability=applicability, reason=reason if text is None else "", needs=needs))
    return out


def for_site(rule, *, node: ast.AST, call: ast.AST | None, operand: ast.AST | None, qname: str | None,
             callee: str, imported: dict[str, str] | None, taken: Callable[[str], bool] = lambda name: False,
             proven_only: bool = True, facts: set[str] | None = None,
             parent: ast.AST | None = None) -> tuple[list[Filled], Bindings, str]:
    """Every remedy of ``rule`` at an analyzer site; with the bindings (the node a rewrite
    replaces is ``bindings.target``) and the site's library. ``facts`` are what the caller
    knows of the site's context (``detached``: inside ``.detach()``)."""
    framework = framework_of(qname, imported or {})
    b = bind(node=node, call=call, operand=operand, qname=qname, callee=callee, framework=framework, parent=parent)
    b.facts.update(facts or ())
    return fill_all(rule, b, framework, Spelling(imported), taken, proven_only=proven_only), b, framework


#: how a line of source names the libraries when the file's imports are not known
_DEFAULT_IMPORTS = {"torch": "torch", "F": "torch.nn.functional", "nn": "torch.nn", "jnp": "jax.numpy", "jax": "jax",
                    "np": "numpy", "numpy": "numpy", "math": "math"}


def for_text(rule, text: str, *, imported: dict[str, str] | None = None,
             proven_only: bool = True) -> list[Filled]:
    """Remedies for a site known only by its source (a runtime-only site's line, a
    finding's span): the one call or operator in ``text`` the rule's ``[match]`` names."""
    site = locate(rule, text, imported)
    if site is None:
        return [
            Filled(title=r.title, template=r.rewrite, rewrite=None, note=r.note, applicability=r.applicability,
                   reason="the site could not be read") for r in rule.remedies]
    node, call, operand, qname, callee, table, parent = site
    taken = _taken_in(text)
    return for_site(rule, node=node, call=call, operand=operand, qname=qname, callee=callee, imported=table,
                    taken=taken, proven_only=proven_only, parent=parent)[0]


def _taken_in(text: str) -> Callable[[str], bool]:
    return lambda name: re.search(rf"\b{re.escape(name)}\b", text) is not None


_OPS = {"/": ast.Div, "**": ast.Pow, "//": ast.FloorDiv, "%": ast.Mod}


def locate(rule, text: str, imported: dict[str, str] | None = None):
    """(node, call, operand, qname, callee, imports, parent of the call) of the one site of
    ``rule`` in ``text``."""
    source = text.strip()
    tree = None
    for mode in ("eval", "exec"):
        try:
            tree = ast.parse(source, mode=mode)
            break
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    if tree is None:
        return None
    parents = {id(c): p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    table = dict(_DEFAULT_IMPORTS) if imported is None else dict(imported)
    m = rule.match
    names = {c.rsplit(".", 1)[-1] for c in m.callables} | set(m.methods)
    ops = tuple(_OPS[o] for o in m.operators if o in _OPS)
    hits: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if name in names:
                hits.append(node)
        elif ops and isinstance(node, ast.BinOp) and isinstance(node.op, ops):
            hits.append(node)
        elif rule.code == "KC401" and isinstance(node, ast.IfExp):
            hits.append(node)
        elif rule.code == "KC304" and isinstance(node, ast.Compare) and len(node.ops) == 1:
            hits.append(node)
    if len(hits) != 1:
        return None
    hit = hits[0]
    if isinstance(hit, ast.IfExp):
        return hit.test, hit, hit.test, None, "if", table, parents.get(id(hit))
    if isinstance(hit, ast.Compare):
        return hit, None, hit, None, "comparison", table, parents.get(id(hit))
    if isinstance(hit, ast.BinOp):
        return (hit, hit, (hit.left if m.argument == 0 else hit.right), None, type(hit.op).__name__, table,
                parents.get(id(hit)))
    if not isinstance(hit, ast.Call):
        return None
    func = hit.func
    qname = None
    is_method = isinstance(func, ast.Attribute) and _root(func.value) not in MODULE_ROOTS | set(table)
    if not is_method:
        name = dotted(func)
        if name is not None:
            head, _, rest = name.partition(".")
            if head not in table and not rest and head in dir(builtins):
                qname = f"builtins.{head}"  # round(...), abs(...)
            else:
                qname = ".".join(p for p in (table.get(head, head), rest) if p)
    operand: ast.AST | None = None
    if isinstance(func, ast.Attribute) and is_method:
        operand = func.value if m.argument == 0 else _nth(hit, m.argument - 1, m.keyword)
        if operand is None and not hit.args:  # a one-operand method of a two-operand rule (reciprocal)
            operand = func.value
        callee = f".{func.attr}()"
    else:
        operand = _nth(hit, m.argument, m.keyword)
        if operand is None and len(hit.args) == 1:  # a one-operand call of a two-operand rule
            operand = hit.args[0]
        callee = dotted(func) or ""
    if operand is None:
        return None
    if rule.code in ("KC402",) and hit.args and isinstance(hit.args[0], ast.Compare):
        return hit.args[0], hit, hit.args[0], qname, callee, table, parents.get(id(hit))
    return hit, hit, operand, qname, callee, table, parents.get(id(hit))


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _nth(call: ast.Call, index: int, keyword: str | None) -> ast.AST | None:
    if 0 <= index < len(call.args) and not isinstance(call.args[index], ast.Starred):
        return call.args[index]
    for kw in call.keywords:
        if keyword and kw.arg == keyword:
            return kw.value
    return None


def as_replacement(rewrite: str, original: str | None = None) -> str:
    """The rewrite as text to put where ``original`` was: parenthesised when it binds less
    tightly than the expression it replaces (``(torch.sqrt(d) - e).mean()`` for
    ``torch.abs(d).mean()``), as written otherwise (``a / (b + 1e-6)`` for ``a / b``)."""
    mine = _precedence(rewrite)
    theirs = _precedence(original) if original is not None else _ATOM
    if mine is None or theirs is None or mine < theirs:
        return f"({rewrite})"
    return rewrite


_ATOM = 15
_BINARY = {ast.BitOr: 6, ast.BitXor: 7, ast.BitAnd: 8, ast.LShift: 9, ast.RShift: 9, ast.Add: 10, ast.Sub: 10,
           ast.Mult: 11, ast.Div: 11, ast.FloorDiv: 11, ast.Mod: 11, ast.MatMult: 11, ast.Pow: 13}


def _precedence(text: str) -> int | None:
    """How tightly the top of an expression binds (Python's operator precedence)."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        return None
    if isinstance(node, ast.BinOp):
        return _BINARY.get(type(node.op), 0)
    if isinstance(node, ast.UnaryOp):
        return 4 if isinstance(node.op, ast.Not) else 12
    if isinstance(node, ast.Compare):
        return 5
    if isinstance(node, ast.BoolOp):
        return 3 if isinstance(node.op, ast.And) else 2
    if isinstance(node, (ast.IfExp, ast.Lambda, ast.NamedExpr)):
        return 1 if isinstance(node, ast.IfExp) else 0
    return _ATOM


def first_fix(filled: list[Filled], *, unsafe: bool = True) -> Filled | None:
    """The rewrite ``check --fix`` applies: the first safe fix, else (with ``unsafe``) the
    first unsafe one."""
    safe = next((f for f in filled if f.is_fix and f.applicability == "safe"), None)
    if safe is not None or not unsafe:
        return safe
    return next((f for f in filled if f.is_fix), None)
