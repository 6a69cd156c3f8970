"""Ranges of boolean selections: ``x[x > 0]`` holds only the elements the comparison kept.

``p = p[p > 0]; -(p * log(p)).sum()`` (an entropy over the support) and ``x[x >= t]`` read
their array where the mask is true, so the selected values are >= t: above a floor t > 0, a
log or a division of them meets no zero. A floor does the same for underflow: ``exp``, ``softplus``
and ``sigmoid`` of values kept >= -80 (``softplus(x[x >= -15])``, ``exp(x.clamp(min=-20))``)
stay above the smallest float32. ``ranges._range`` and ``ranges_calls._call`` ask here.
"""

from __future__ import annotations

import ast

from kinkcheck.lint.resolve import const_value

#: exp-like callees that underflow elementwise: a floor on their argument keeps them > 0
ELEMENTWISE_EXP = frozenset({"exp", "exp_", "exp2", "softplus", "sigmoid", "sigmoid_", "expit", "logistic"})
#: exp(-80) ~ 1.8e-35 is a normal float32 (and float64); one floor for both
UNDERFLOW_FLOOR = -80.0


def selected_bound(node: ast.Subscript, ctx) -> tuple[float, bool] | None:
    """``(c, strict)`` when ``node`` selects the elements of its own array above ``c``
    (``x[x > c]``, ``x[(x >= c) & ok]``, ``x[keep]`` after ``keep = x >= c``), else None.
    The tightest bound wins."""
    mask: ast.AST | None = node.slice
    if isinstance(mask, ast.Name):
        mask = ctx.definition(mask.id) if hasattr(ctx, "definition") else None
    best: tuple[float, bool] | None = None
    for atom in _conjuncts(mask):
        bound = _above(atom, node.value, ctx)
        if bound is not None and (best is None or bound > best):
            best = bound
    return best


def floor_of(node: ast.AST | None, ctx) -> float | None:
    """A constant every element of ``node`` is at least: a selection above it or a clamp to it."""
    if isinstance(node, ast.Subscript):
        bound = selected_bound(node, ctx)
        return bound[0] if bound is not None else None
    if isinstance(node, ast.Call):
        from kinkcheck.lint.guards import _callee_tail, _lower_bound

        tail = _callee_tail(node, ctx) or ""
        if tail in ("clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_"):
            low = _lower_bound(node, tail, ctx)
            return _number(low, ctx) if low is not None else None
    return None


def _conjuncts(mask: ast.AST | None):
    if isinstance(mask, ast.BinOp) and isinstance(mask.op, ast.BitAnd):
        yield from _conjuncts(mask.left)
        yield from _conjuncts(mask.right)
    elif isinstance(mask, ast.BoolOp) and isinstance(mask.op, ast.And):
        for v in mask.values:
            yield from _conjuncts(v)
    elif mask is not None:
        yield mask


def _above(atom: ast.AST, array: ast.AST, ctx) -> tuple[float, bool] | None:
    if not (isinstance(atom, ast.Compare) and len(atom.ops) == 1):
        return None
    op, left, right = atom.ops[0], atom.left, atom.comparators[0]
    want = ast.dump(array)
    if ast.dump(left) == want and isinstance(op, (ast.Gt, ast.GtE)):
        bound = right
    elif ast.dump(right) == want and isinstance(op, (ast.Lt, ast.LtE)):
        bound = left
    else:
        return None
    v = _number(bound, ctx)
    return None if v is None else (float(v), isinstance(op, (ast.Gt, ast.Lt)))


def _number(node: ast.AST, ctx):
    """A literal, or a parameter with a literal default that the function never rebinds."""
    v = const_value(node)
    if v is None and isinstance(node, ast.Name) and hasattr(ctx, "param_default") \
            and not ctx.assignments().get(node.id):
        v = const_value(ctx.param_default(node.id))
    return v
