"""The dead-zone guard: soft-thresholding, ``sign(x) * relu(|x| - t)`` with ``t > 0`` (the prox
of the L1 norm, shrinkage), is 0 on a whole interval around ``x == 0``, so the kink of the
``abs`` inside it and the jump of the ``sign`` that multiplies it never show; the relu's own
kink at ``|x| == t`` is the one that does. Registered in ``guards.GUARDS`` as ``dead-zone``.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint.guards import (
    ABS_TAILS,
    CLAMP_FUNCS,
    _callee_tail,
    _lower_bound,
    _upper_bound,
    _values,
    call_operand,
    guard,
)
from kinkcheck.lint.resolve import const_value

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: zero-floored forms: ``relu(e)``, ``maximum(e, 0)``, ``clamp(e, min=0)``, ``e.clamp_min(0)``
_RELU_TAILS = frozenset({"relu", "relu_"})


def _none_literal(node: ast.AST | None) -> bool:
    return node is None or isinstance(node, ast.Constant) and node.value is None


def _zero_floored(value: ast.AST | None, ctx: Context) -> ast.AST | None:
    """``e`` when ``value`` is ``relu(e)`` or ``e`` clamped below at exactly 0 (and not above);
    ``torch.max(e, 0)`` is a reduction over dim 0, only the builtin ``max(e, 0)`` is a floor."""
    tail = _callee_tail(value, ctx) if value is not None else None
    if not isinstance(value, ast.Call) or tail is None:
        return None
    method = isinstance(value.func, ast.Attribute) and not ctx.is_module_ref(value.func.value)
    if tail in _RELU_TAILS:
        return call_operand(value, ctx)
    builtin_max = tail == "max" and (ctx.qualify(value.func) or "").startswith("builtins.")
    if (tail in ("maximum", "fmax") or builtin_max) and not method and len(value.args) == 2:
        a, b = value.args
        return a if const_value(b) == 0 else b if const_value(a) == 0 else None
    if tail in CLAMP_FUNCS and tail not in ("clamp_max", "clamp_max_", "max", "maximum", "fmax"):
        low, high = _lower_bound(value, tail, ctx), _upper_bound(value, tail, ctx)
        if low is not None and const_value(low) == 0 and _none_literal(high):
            return call_operand(value, ctx)
    return None


def _positive_threshold(t: ast.AST, ctx: Context, signed: bool = False) -> bool:
    """A shrinkage threshold proven > 0 (a positive constant or default, positive config, a
    positive range): with ``t == 0`` the relu of ``|x| - t`` is ``|x|`` and the kink shows.
    ``signed``: the magnitude is multiplied back by ``sign(x)``, where ``t == 0`` gives ``x``
    itself; any threshold not proven negative then passes (floored at 0, a negative one would
    never act, so writing the floor says the threshold is >= 0)."""
    from kinkcheck.lint import ranges

    v = const_value(t)
    if v is None and isinstance(t, ast.Name) and ctx.param_default(t.id) is not None:
        v = const_value(ctx.param_default(t.id))  # `eps=0.0`: the default decides, not the name
    if v is not None:
        return v >= 0 if signed else v > 0
    return signed or ranges.is_positive(ranges.range_of(t, ctx))  # a default of 0.0 counts, not the name


def _thresholded_abs(diff: ast.AST, ctx: Context, signed: bool = False) -> ast.AST | None:
    """``x`` when ``diff`` is ``|x| - t`` with ``t > 0`` (``t >= 0`` when ``signed``)."""
    for e in _values(diff, ctx, 1):
        if isinstance(e, ast.BinOp) and isinstance(e.op, ast.Sub) and _positive_threshold(e.right, ctx, signed):
            for a in _values(e.left, ctx, 1):
                if isinstance(a, ast.Call) and _callee_tail(a, ctx) in ABS_TAILS:
                    return call_operand(a, ctx)
    return None


def _shrunk_abs(value: ast.AST, ctx: Context) -> ast.AST | None:
    """The argument ``x`` when ``value`` is soft-thresholding's magnitude ``relu(|x| - t)``
    (to be multiplied by ``sign(x)``)."""
    for v in _values(value, ctx):
        inner = _zero_floored(v, ctx)
        if inner is not None:
            arg = _thresholded_abs(inner, ctx, signed=True)
            if arg is not None:
                return arg
    return None


@guard("dead-zone")
def dead_zone(node: ast.AST, ctx: Context, site=None) -> bool:
    """KC101: the abs is the left term of ``relu(|x| - t)`` (also through a name used only
    zero-floored), or of one multiplied by ``sign(x)``; KC301: the sign multiplies ``relu(|x| -
    t)`` of the same ``x``. Multiplied back by the sign, a threshold of 0 is fine too."""
    call = getattr(site, "call", None)
    if call is None:
        return False
    parent = ctx.parent(call)
    code = getattr(site, "code", None)
    if code == "KC101":
        if not (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Sub) and parent.left is call):
            return False
        outer = ctx.parent(parent)
        if isinstance(outer, ast.Attribute) and outer.value is parent:
            outer = ctx.parent(outer)  # `(x.abs() - lam).clamp_min(0)`
        if _thresholded_abs(parent, ctx) is not None:
            return _zero_floored(outer, ctx) is parent or _assigned_and_floored(parent, ctx)
        # `sign(x) * relu(|x| - t)`, t >= 0: 0 around x == 0, or x itself when t == 0
        if outer is None or _zero_floored(outer, ctx) is not parent:
            return False
        product = ctx.parent(outer)
        if not (isinstance(product, ast.BinOp)
                and isinstance(product.op, ast.Mult) and _thresholded_abs(parent, ctx, signed=True) is not None):
            return False
        return _signs(product.right if product.left is outer else product.left, node, ctx)
    if code == "KC301" and isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult):
        other = parent.right if parent.left is call else parent.left
        arg = _shrunk_abs(other, ctx)
        return arg is not None and ast.dump(arg) == ast.dump(node)
    return False


def _signs(value: ast.AST, x: ast.AST, ctx: Context) -> bool:
    """``value`` is ``sign(x)`` (also through a name) of the same ``x``."""
    for v in _values(value, ctx):
        if isinstance(v, ast.Call) and _callee_tail(v, ctx) == "sign":
            arg = call_operand(v, ctx)
            if arg is not None and ast.dump(arg) == ast.dump(x):
                return True
    return False


def _assigned_and_floored(diff: ast.AST, ctx: Context) -> bool:
    """``m = jnp.abs(x) - t`` and the name only ever used zero-floored (``relu(m)``)."""
    stmt = ctx.parent(diff)
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
        return False
    name = stmt.targets[0].id
    uses = [n for n in ast.walk(ctx.fn) if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)]
    return bool(uses) and all(_zero_floored(ctx.parent(u), ctx) is u for u in uses)
