"""Building findings: :func:`make_finding` is the one constructor of an analyzer
:class:`~kinkcheck.findings.Finding` (the driver's kink sites, the runner's KC001 parse
errors, the comment checker's KC002/KC003); :func:`site_finding` turns a matched site into
one, with its message and, where the rule's first remedy can be written out for this site,
its ``replacement`` in the site's own array library."""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from kinkcheck.findings import Finding

if TYPE_CHECKING:
    from kinkcheck.catalog import Rule
    from kinkcheck.lint.checks import Site
    from kinkcheck.lint.context import FileAnalysis

#: a remedy template's placeholder (``{x}``); one left after filling in: not concrete here
_PLACEHOLDER = re.compile(r"\{[A-Za-z_]\w*\}")


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
) -> Finding:
    """The one way the analyzer makes a :class:`Finding`: name and category come from the
    catalog's rule; a meta code (KC001-KC003) also works without a loaded catalog."""
    if rule is not None:
        name, category = rule.name, rule.category
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
    rule's message with ``{callee}``/``{arg}`` filled in, the first remedy as a concrete
    rewrite where the site shows everything its template names, and what astroid inferred."""
    node = site.node
    line = getattr(node, "lineno", 1)
    col = fa.column(line, getattr(node, "col_offset", 0))
    end_line = getattr(node, "end_lineno", None) or line
    end_off = getattr(node, "end_col_offset", None)
    end_col = fa.column(end_line, end_off) if end_off is not None else col + 1
    arg = fa.segment(site.operand) if site.operand is not None else ""
    message = rule.message.replace("{callee}", site.callee).replace("{arg}", arg)
    replacement = None
    for remedy in rule.remedies:
        if remedy.rewrite:
            replacement = remedy.rewrite
            for name, value in _placeholders(site).items():
                if value is not None and "{" + name + "}" in replacement:
                    text = fa.segment(value)
                    replacement = replacement.replace("{" + name + "}", text if _atomic(value) else f"({text})")
            if _PLACEHOLDER.search(replacement):
                replacement = None  # the template needs more than this site shows: not concrete
            else:
                replacement = _in_framework(replacement, _framework(fa, site))
            break
    snippet = fa.lines[line - 1] if 0 < line <= len(fa.lines) else ""
    extra = {}
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
    )


def _placeholders(site: "Site") -> dict[str, ast.AST | None]:
    """What a remedy template may name: ``{x}`` the kinked operand, ``{other}`` the other
    operand, ``{lhs}``/``{rhs}`` a comparison read as "lhs > rhs", ``{then}``/``{else}`` the
    two values of a conditional expression or a ``where``."""
    values: dict[str, ast.AST | None] = {"x": site.operand, "other": _other_operand(site)}
    test, then, other = None, None, None
    node = site.call if site.call is not None else site.node
    if isinstance(node, ast.IfExp):
        test, then, other = node.test, node.body, node.orelse
    elif isinstance(node, ast.Call) and len(node.args) == 3:
        test, then, other = node.args
    elif isinstance(site.node, ast.Compare):
        test = site.node
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        lhs, rhs = test.left, test.comparators[0]
        if isinstance(test.ops[0], (ast.Lt, ast.LtE)):
            lhs, rhs = rhs, lhs
        if isinstance(test.ops[0], (ast.Lt, ast.LtE, ast.Gt, ast.GtE)):
            values.update(lhs=lhs, rhs=rhs)
    values.update(then=then, **{"else": other})
    return values


#: torch names in remedy templates and their jax / numpy spellings; a rewrite that keeps any
#: other torch-only piece is not offered as concrete in jax or numpy code
_FRAMEWORK_NAMES = {
    "jax": {"torch.sqrt": "jnp.sqrt", "torch.log": "jnp.log", "torch.exp": "jnp.exp", "torch.tanh": "jnp.tanh",
            "torch.sigmoid": "jax.nn.sigmoid", "torch.where": "jnp.where", "torch.logaddexp": "jnp.logaddexp",
            "torch.acos": "jnp.arccos", "torch.atan2": "jnp.arctan2", "torch.round": "jnp.round",
            "torch.sign": "jnp.sign", "torch.nn.functional.silu": "jax.nn.silu"},
    "numpy": {"torch.sqrt": "np.sqrt", "torch.log": "np.log", "torch.exp": "np.exp", "torch.tanh": "np.tanh",
              "torch.where": "np.where", "torch.logaddexp": "np.logaddexp", "torch.acos": "np.arccos",
              "torch.atan2": "np.arctan2", "torch.round": "np.round", "torch.sign": "np.sign"},
}
_TORCH_ONLY = re.compile(r"\btorch\.|\.clamp(_min|_max)?\(|\.detach\(|\bbeta=|\bdim=")
_TORCH_NAME = re.compile(r"\btorch(?:\.[A-Za-z_]\w*)+(?=\()")


def _framework(fa: "FileAnalysis", site: "Site") -> str:
    """The array library a site is written in: its callable's, else the file's imports."""
    top = (site.qname or "").split(".")[0]
    if top in ("torch", "jax", "numpy"):
        return top
    imported = {q.split(".")[0] for q in fa.ix.table.names.values()}
    return next((f for f in ("torch", "jax", "numpy") if f in imported), "torch")


def _in_framework(rewrite: str, framework: str) -> str | None:
    """The torch-spelled rewrite in the site's own framework, or None if it cannot be said."""
    if framework not in _FRAMEWORK_NAMES:
        return rewrite
    table = _FRAMEWORK_NAMES[framework]
    spelled = _TORCH_NAME.sub(lambda m: table.get(m.group(), m.group()), rewrite)
    return None if _TORCH_ONLY.search(spelled) else spelled


def _other_operand(site: "Site") -> ast.AST | None:
    """The operand that is not kinked: the numerator of a division, the exponent of a power
    (``{other}`` in a remedy template)."""
    call = site.call
    if isinstance(call, ast.BinOp):
        return call.left if site.operand is call.right else call.right
    if isinstance(call, ast.Call):
        for arg in call.args:
            if arg is not site.operand and not isinstance(arg, ast.Starred):
                return arg
    return None


def _atomic(node: ast.AST) -> bool:
    return isinstance(node, (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant))
