"""Building findings: :func:`make_finding` is the one constructor of an analyzer
:class:`~kinkcheck.findings.Finding` (the driver's kink sites, the runner's KC001 parse
errors, the comment checker's KC002/KC003); :func:`site_finding` turns a matched site into
one, with its message and the rule's remedies filled for the site by
:mod:`kinkcheck.remedy` (``replacement``: the rewrite ``check --fix`` may apply)."""

from __future__ import annotations

import ast
import re
import weakref
from typing import TYPE_CHECKING

from kinkcheck.findings import Finding

if TYPE_CHECKING:
    from kinkcheck.catalog import Rule
    from kinkcheck.lint.checks import Site
    from kinkcheck.lint.context import FileAnalysis

def make_finding(
    code: str,
    rule: "Rule | None",
    *,
    path: str,
    line: int,
    col: int,
    end_line: int,
    end_col: int,
    message: str,
    confidence: str = "high",
    function: str | None = None,
    snippet: str = "",
    replacement: str | None = None,
    extra: dict | None = None,
    category: str | None = None,
) -> Finding:
    """The one way the analyzer makes a :class:`Finding`: name and category come from the
    catalog's rule (``category`` names the point where a rule's site is of another kind: an
    L1 norm is a kink, though most norms are singular at 0); a meta code (KC001-KC003) also
    works without a loaded catalog."""
    if rule is not None:
        name, category = rule.name, category or rule.category
    else:
        from kinkcheck.lint.comments import META_NAMES

        name, category = META_NAMES[code], "meta"
    return Finding(
        code=code,
        name=name,
        category=category,
        path=path,
        line=line,
        col=col,
        end_line=end_line,
        end_col=end_col,
        message=message,
        confidence=confidence,
        function=function,
        snippet=snippet,
        replacement=replacement,
        extra=extra if extra is not None else {},
    )


def site_finding(fa: "FileAnalysis", rule: "Rule", site: "Site", function: str) -> Finding:
    """The finding for a site that survived guards and checks: its span in characters, the
    rule's message with ``{callee}``/``{arg}`` filled in, its remedies, and what astroid
    inferred."""
    node = site.node
    line = getattr(node, "lineno", 1)
    col = fa.column(line, getattr(node, "col_offset", 0))
    end_line = getattr(node, "end_lineno", None) or line
    end_off = getattr(node, "end_col_offset", None)
    end_col = fa.column(end_line, end_off) if end_off is not None else col + 1
    arg = fa.segment(site.operand) if site.operand is not None else ""
    message = rule.message.replace("{callee}", site.callee).replace("{arg}", arg)
    replacement, extra = _remedies(fa, rule, site)
    snippet = fa.lines[line - 1] if 0 < line <= len(fa.lines) else ""
    inferred = fa.inferred.get(id(site.call)) if site.call is not None else None
    if inferred is not None and site.via in ("call", "instance"):
        extra["inferred"] = inferred
        message = f"{message} (inferred: `{site.callee}` is `{inferred}`)"
    return make_finding(
        rule.code,
        rule,
        path=fa.path,
        line=line,
        col=col,
        end_line=end_line,
        end_col=end_col,
        message=message,
        confidence=site.confidence,
        function=function,
        snippet=snippet,
        replacement=replacement,
        extra=extra,
        category=site.category,
    )


#: per analyzed file, each node's parent (built on the first finding that asks)
_PARENTS: "weakref.WeakKeyDictionary[FileAnalysis, dict[int, ast.AST]]" = weakref.WeakKeyDictionary()
_DETACHING = frozenset({"detach", "stop_gradient", "no_grad"})


def _parents(fa: "FileAnalysis") -> dict[int, ast.AST]:
    try:
        return _PARENTS[fa]
    except KeyError:
        parents = {id(child): parent for parent in ast.walk(fa.tree) for child in ast.iter_child_nodes(parent)}
        _PARENTS[fa] = parents
        return parents


def _inside_detach(fa: "FileAnalysis", node: ast.AST) -> bool:
    """Whether ``node`` sits inside ``.detach()`` / ``stop_gradient(...)``: a straight-through
    estimator's own forward value, whose kink reaches no gradient (a fix would wrap the
    estimator in another)."""
    parents = _parents(fa)
    cur = parents.get(id(node))
    while cur is not None and not isinstance(cur, (ast.stmt, ast.Lambda)):
        if isinstance(cur, ast.Call):
            func = cur.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in _DETACHING:
                return True
        cur = parents.get(id(cur))
    return False


def _remedies(fa: "FileAnalysis", rule: "Rule", site: "Site") -> tuple[str | None, dict]:
    """The rule's remedies filled for this site (:mod:`kinkcheck.remedy`): the concrete,
    proven rewrites go to ``extra["remedies"]``; the first one ``check --fix`` may apply is
    the finding's ``replacement``, with the span it replaces in ``extra["fix"]``."""
    from kinkcheck import remedy

    if not any(r.rewrite for r in rule.remedies):
        return None, {}
    source = fa.source
    anchor = site.call if site.call is not None else site.node
    facts = {"detached"} if _inside_detach(fa, anchor) else set()
    filled, bindings, framework = remedy.for_site(
        rule, node=site.node, call=site.call, operand=site.operand, qname=site.qname, callee=site.callee,
        imported=fa.ix.table.names, taken=lambda name: re.search(rf"\b{re.escape(name)}\b", source) is not None,
        facts=facts, parent=_parents(fa).get(id(anchor)))
    extra: dict = {}
    shown = [f.to_dict() for f in filled if f.rewrite is not None]
    if shown:
        extra["remedies"] = shown
    fix = remedy.first_fix(filled)
    target = bindings.target
    if fix is None or fix.rewrite is None or not isinstance(target, ast.expr) or target.end_lineno is None \
            or target.end_col_offset is None:
        return None, extra
    line, end_line = target.lineno, target.end_lineno
    original = fa.segment(target)
    extra["fix"] = {"title": fix.title, "applicability": fix.applicability, "framework": framework,
                    "line": line, "col": fa.column(line, target.col_offset),
                    "end_line": end_line, "end_col": fa.column(end_line, target.end_col_offset),
                    "original": original}
    return remedy.as_replacement(fix.rewrite, original), extra
