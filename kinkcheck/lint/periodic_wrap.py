"""The periodic-wrap guard: an angle wrapped by whole periods of the function that reads it.

``cos((value - loc) % (2 * pi))`` (a von Mises log-density) and
``sin(2 * (d - round(d / pi) * pi)) ** 2`` (a rotated box's angle loss) wrap an angle with a
step: the wrapped value jumps by ``c`` where the step does. The sine or cosine it feeds has
a period that divides ``c``, so neither its value nor its slope jumps there, and the
gradient AD returns is the true one. A wrapped angle that is used in any other way (compared,
squared, returned) keeps its KC302 finding. Registered in ``guards.GUARDS`` as
``periodic-wrap``.
"""

from __future__ import annotations

import ast
import math
from typing import TYPE_CHECKING

from kinkcheck.lint.guards import _callee_tail, guard
from kinkcheck.lint.resolve import const_value

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: periodic functions and their period at unit frequency
_PERIODS = {"sin": 2 * math.pi, "cos": 2 * math.pi, "tan": math.pi}
_ROUNDS = frozenset({"round", "floor", "ceil", "rint", "trunc", "fix"})
#: how many names a wrapped value is followed through to its sine or cosine
_DEPTH = 2


@guard("periodic-wrap")
def periodic_wrap(node: ast.AST, ctx: Context, site=None) -> bool:
    """KC302: the site is the step of a wrap ``x % c`` or ``x - round(x / c) * c`` whose
    result only feeds sines and cosines with a period that divides ``c``."""
    step = getattr(site, "call", None) or getattr(site, "node", None)
    if step is None:
        return False
    found = _wrap_of(step, ctx)
    if found is None:
        return False
    wrap, c = found
    return _feeds_periodic(wrap, c, 1.0, ctx, _DEPTH)


def _wrap_of(step: ast.AST, ctx: Context) -> tuple[ast.AST, float] | None:
    """The wrapped expression and its jump: ``x % c`` itself, or the ``x - round(x / c) * c``
    (either order of the product) that holds ``round(x / c)``."""
    if isinstance(step, ast.BinOp) and isinstance(step.op, ast.Mod):
        c = _number(step.right, ctx)
        return (step, c) if c else None
    if not isinstance(step, ast.Call) or (_callee_tail(step, ctx) or "") not in _ROUNDS or len(step.args) != 1:
        return None
    arg = step.args[0]
    if not (isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Div)):
        return None
    c = _number(arg.right, ctx)
    product = ctx.parent(step)
    if not c or not (isinstance(product, ast.BinOp) and isinstance(product.op, ast.Mult)):
        return None
    other = product.right if product.left is step else product.left
    if _number(other, ctx) != c:
        return None
    wrap = ctx.parent(product)
    if isinstance(wrap, ast.BinOp) and isinstance(wrap.op, ast.Sub) and wrap.right is product \
            and ast.dump(wrap.left) == ast.dump(arg.left):
        return wrap, c
    return None


def _feeds_periodic(expr: ast.AST, c: float, scale: float, ctx: Context, depth: int) -> bool:
    """Every way ``expr`` is read ends in a sine or cosine of ``a * expr + b`` whose period
    ``P / |a * scale|`` divides ``c``."""
    child, parent = expr, ctx.parent(expr)
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.Subscript) and parent.value is child:
            pass  # `wrapped[fg_mask]`: some of the same angles
        elif isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult):
            a = _number(parent.right if parent.left is child else parent.left, ctx)
            if a is None:
                return False
            scale *= a
        elif isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.Add, ast.Sub)):
            if _number(parent.right if parent.left is child else parent.left, ctx) is None:
                return False  # a phase must be a constant
        elif isinstance(parent, ast.UnaryOp) and isinstance(parent.op, (ast.USub, ast.UAdd)):
            pass
        elif isinstance(parent, ast.Call):
            tail = _callee_tail(parent, ctx) or ""
            period = _PERIODS.get(tail)
            args = list(parent.args) + ([parent.func.value] if isinstance(parent.func, ast.Attribute) else [])
            if period is None or not any(a is child for a in args) or not scale:
                return False
            turns = c * abs(scale) / period
            return abs(turns - round(turns)) < 1e-9 and round(turns) >= 1
        else:
            return False
        child, parent = parent, ctx.parent(parent)
    from kinkcheck.lint.sinks import every_bound_use

    return depth > 0 and every_bound_use(child, ctx, lambda u: _feeds_periodic(u, c, scale, ctx, depth - 1))


def _number(node: ast.AST | None, ctx: Context) -> float | None:
    """A constant with ``pi`` in any spelling (``math.pi``, ``jnp.pi``, ``2 * np.pi``)."""
    if node is None:
        return None
    v = const_value(node)
    if v is not None and not isinstance(v, bool) and isinstance(v, (int, float)):
        return float(v)
    if isinstance(node, ast.Attribute) and node.attr == "pi" or isinstance(node, ast.Name) and node.id == "pi":
        return math.pi
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _number(node.operand, ctx)
        return None if v is None else -v
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div, ast.Add, ast.Sub)):
        a, b = _number(node.left, ctx), _number(node.right, ctx)
        if a is None or b is None:
            return None
        if isinstance(node.op, ast.Div):
            return a / b if b else None
        return a * b if isinstance(node.op, ast.Mult) else a + b if isinstance(node.op, ast.Add) else a - b
    if isinstance(node, ast.Name):
        from kinkcheck.lint.ranges import numeric_value

        n = numeric_value(node, ctx)
        return float(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else None
    return None
