"""Fill a remedy's rewrite template with the user's own operand.

The catalog writes remedies as templates (``torch.sqrt({x} * {x} + eps * eps) - eps``); a
report is far more useful when it shows the user's expression inside (``torch.abs(d)`` ->
``torch.sqrt(d * d + eps * eps) - eps``). The operand is read from the finding's source
text with the stdlib ``ast`` (the analyzed code is parsed, never imported).
"""

from __future__ import annotations

import ast
import re

#: Names that start a module path rather than a value: `torch.abs(d)` is a function call
#: on `d`, while `d.abs()` is a method on `d`.
_MODULE_ROOTS = frozenset(
    {"torch", "F", "nn", "functional", "np", "numpy", "jnp", "jax", "lax", "math", "scipy", "special", "builtins", "operator"}
)

#: Node types that never need parentheses when put into a template.
_ATOMIC = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant)


def operand(expression: str, *, argument: int = 0, keyword: str | None = None, methods=()) -> str | None:
    """The source of the kinked operand when ``expression`` is exactly one call, method
    call or binary operation (the finding's own node), or None when it cannot be told."""
    text = expression.strip()
    tree = _parse(text, mode="eval")
    if tree is None:
        return None
    return _operand_of(tree.body, text, argument, keyword, methods)


def operand_in(text: str, match) -> str | None:
    """The kinked operand inside a whole line (``return torch.abs(d).mean()``): the one call
    or operator in it that the rule's ``match`` names; None when there is not exactly one."""
    text = text.strip()
    tree = _parse(text, mode="exec") or _parse(text, mode="eval")
    if tree is None:
        return None
    names = {c.rsplit(".", 1)[-1] for c in match.callables} | set(match.methods)
    ops = tuple(_OPS[o] for o in match.operators if o in _OPS)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if name in names:
                hits.append(node)
        elif ops and isinstance(node, ast.BinOp) and isinstance(node.op, ops):
            hits.append(node)
    if len(hits) != 1:
        return None
    return _operand_of(hits[0], text, match.argument, match.keyword, match.methods)


_OPS = {"/": ast.Div, "**": ast.Pow, "//": ast.FloorDiv, "%": ast.Mod}


def _parse(text: str, mode: str):
    if not text:
        return None
    try:
        return ast.parse(text, mode=mode)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _operand_of(node: ast.AST, text: str, argument: int, keyword: str | None, methods) -> str | None:
    picked: ast.AST | None = None
    if isinstance(node, ast.Call):
        func = node.func
        is_method = isinstance(func, ast.Attribute) and _root_name(func.value) not in _MODULE_ROOTS
        if is_method and (not methods or func.attr in methods):
            picked = func.value if argument == 0 else _arg(node, argument - 1, keyword)
        else:
            picked = _arg(node, argument, keyword)
    elif isinstance(node, ast.BinOp):
        picked = node.left if argument == 0 else node.right
    elif isinstance(node, ast.UnaryOp):
        picked = node.operand
    if picked is None:
        return None
    source = ast.get_source_segment(text, picked)
    return " ".join(source.split()) if source else None


def fill(template: str | None, x: str | None) -> str | None:
    """``template`` with every ``{x}`` replaced by the operand ``x``; None when either is
    missing. The operand is put into the template's syntax tree, so parentheses appear only
    where precedence needs them (``(a - b) * (a - b)``, but ``sqrt(a - b)``)."""
    if not template or not x or "{x}" not in template:
        return None
    x = x.strip()
    holder = "__kinkcheck_x__"
    tree = _parse(template.replace("{x}", holder), mode="eval")
    value = _parse(x, mode="eval")
    if tree is None or value is None or holder in x:
        atomic = value is not None and isinstance(value.body, _ATOMIC)
        return template.replace("{x}", x if atomic else f"({x})")

    class _Put(ast.NodeTransformer):
        def visit_Name(self, node):
            return value.body if node.id == holder else node

    try:
        filled = ast.unparse(_Put().visit(tree))
    except (ValueError, RecursionError):  # pragma: no cover - unparse of a parsed tree
        filled = template.replace("{x}", f"({x})")
    # a template that needs more than the operand ({other}: a numerator, an exponent) is only
    # concrete in the analyzer's own Finding.replacement
    return None if re.search(r"\{[A-Za-z_]\w*\}", filled) else filled


def _arg(call: ast.Call, index: int, keyword: str | None) -> ast.AST | None:
    if 0 <= index < len(call.args) and not isinstance(call.args[index], ast.Starred):
        return call.args[index]
    if keyword:
        for kw in call.keywords:
            if kw.arg == keyword:
                return kw.value
    return None


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def segment(lines: list[str], line: int, col: int, end_line: int, end_col: int) -> str | None:
    """The source text between 1-based (line, col) and (end_line, exclusive end_col)."""
    if not (1 <= line <= end_line <= len(lines)) or col < 1:
        return None
    if line == end_line:
        return lines[line - 1][col - 1 : end_col - 1] or None
    parts = [lines[line - 1][col - 1 :]]
    parts.extend(lines[line : end_line - 1])
    parts.append(lines[end_line - 1][: end_col - 1])
    return "\n".join(parts)
