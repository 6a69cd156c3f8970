"""The odd-extension guard: ``sign(x) * g(|x|)`` with ``g(0) == 0``.

Symmetric value transforms are written this way: symlog ``sign(x) * log1p(|x|)``, symexp
``sign(x) * (exp(|x|) - 1)``, the value rescaling of R2D2/MuZero ``sign(x) * (sqrt(|x| + 1)
- 1) + eps * x``, a signed power ``sign(x) * |x| ** p``. Where ``x`` crosses 0 the sign jumps
from -1 to 1 but multiplies ``g(0) = 0``, so the value does not jump; and the slope is
``g'(|x|)`` on both sides, so the abs inside ``g`` leaves no corner either. What ``g`` itself
does at 0 (``sqrt(|x|)``: an infinite slope) is its own rule's finding. ``g`` is evaluated
at ``|x| = 0`` from literals, defaults and config; an ``x`` outside an ``abs``, or a term
nothing fixes, leaves the sign and the abs reported. Registered in ``guards.GUARDS`` as
``odd-extension``; soft-thresholding with ``t > 0`` is the ``dead-zone`` guard's.
"""

from __future__ import annotations

import ast
import math
from typing import TYPE_CHECKING

from kinkcheck.lint.guards import ABS_TAILS, _callee_tail, call_operand, guard
from kinkcheck.lint.resolve import const_value, fold

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

_SIGN = frozenset({"sign", "sgn"})
#: one-argument functions evaluated at the point (``|x| = 0``)
_UNARY = {
    "sqrt": math.sqrt, "log": math.log, "log1p": math.log1p, "exp": math.exp, "expm1": math.expm1,
    "tanh": math.tanh, "sinh": math.sinh, "asinh": math.asinh, "arcsinh": math.asinh, "sin": math.sin,
    "atan": math.atan, "arctan": math.atan, "square": lambda v: v * v, "relu": lambda v: max(v, 0.0),
    "abs": abs, "absolute": abs,
}
#: how many assignments an operand of ``g`` is followed through
_DEPTH = 3
#: |g(0)| below this (relative to the largest intermediate) is 0 up to rounding
_TOLERANCE = 1e-12


@guard("odd-extension")
def odd_extension(node: ast.AST, ctx: Context, site=None) -> bool:
    """KC301: the sign of ``x`` multiplies ``g(|x|)`` with ``g(0) == 0``; KC101: the abs of
    ``x`` sits in such a ``g`` (directly, or through a name only such products read)."""
    call = getattr(site, "call", None)
    code = getattr(site, "code", None)
    if not isinstance(call, ast.Call):
        return False
    if code == "KC301":
        parent = ctx.parent(call)
        if not (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult)):
            return False
        other = parent.right if parent.left is call else parent.left
        return _vanishes(other, node, ctx)
    if code == "KC101":
        return _inside_odd_product(call, node, ctx, _DEPTH)
    return False


def _inside_odd_product(expr: ast.AST, x: ast.AST, ctx: Context, depth: int) -> bool:
    """``expr`` (which holds ``|x|``) is the magnitude factor of ``sign(x) * g``, or is
    assigned to a name that is read only inside such factors."""
    child, parent = expr, ctx.parent(expr)
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult):
            other = parent.right if parent.left is child else parent.left
            if _sign_of(other, x, ctx) and _vanishes(child, x, ctx):
                return True
        child, parent = parent, ctx.parent(parent)
    from kinkcheck.lint.sinks import every_bound_use

    return depth > 0 and every_bound_use(child, ctx, lambda u: _inside_odd_product(u, x, ctx, depth - 1))


def _sign_of(node: ast.AST, x: ast.AST, ctx: Context) -> bool:
    """``node`` is ``sign(x)`` / ``x.sign()`` of the same ``x``."""
    if not isinstance(node, ast.Call) or (_callee_tail(node, ctx) or "") not in _SIGN:
        return False
    arg = call_operand(node, ctx)
    return arg is not None and ast.dump(arg) == ast.dump(x)


def _vanishes(g: ast.AST, x: ast.AST, ctx: Context) -> bool:
    scale = [1.0]
    v = _at_zero(g, ast.dump(x), ctx, scale, _DEPTH)
    return v is not None and abs(v) <= _TOLERANCE * scale[0]


def _at_zero(node: ast.AST, x: str, ctx: Context, scale: list[float], depth: int) -> float | None:
    """The value of ``node`` where ``|x| == 0``, or None when it is not fixed there."""
    v = _eval(node, x, ctx, scale, depth)
    if v is not None:
        if not math.isfinite(v):
            return None
        scale[0] = max(scale[0], abs(v))
    return v


def _eval(node: ast.AST, x: str, ctx: Context, scale: list[float], depth: int) -> float | None:
    from kinkcheck.lint.ranges import numeric_value

    if ast.dump(node) == x:
        return None  # `x` itself (not its magnitude): g is not a function of |x|
    c = const_value(node)
    if c is not None:
        return float(c)
    if isinstance(node, (ast.Name, ast.Attribute)):
        n = numeric_value(node, ctx)
        if n is not None:
            return float(n)
        if depth and isinstance(node, ast.Name):
            bound = ctx.definition(node.id)
            return _at_zero(bound, x, ctx, scale, depth - 1) if bound is not None else None
        return None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _at_zero(node.operand, x, ctx, scale, depth)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp):
        return _binop(node, x, ctx, scale, depth)
    if isinstance(node, ast.Call):
        return _call(node, x, ctx, scale, depth)
    return None


def _binop(node: ast.BinOp, x: str, ctx: Context, scale: list[float], depth: int) -> float | None:
    a = _at_zero(node.left, x, ctx, scale, depth)
    b = _at_zero(node.right, x, ctx, scale, depth)
    v = fold(node.op, a, b) if a is not None and b is not None else None
    return float(v) if v is not None else None


def _call(node: ast.Call, x: str, ctx: Context, scale: list[float], depth: int) -> float | None:
    tail = _callee_tail(node, ctx) or ""
    method = isinstance(node.func, ast.Attribute) and not ctx.is_module_ref(node.func.value)
    args = ([node.func.value] if method else []) + list(node.args)  # type: ignore[attr-defined]
    if tail in ABS_TAILS and args and ast.dump(args[0]) == x:
        return 0.0
    values = [_at_zero(a, x, ctx, scale, depth) for a in args]
    if not values or None in values:
        return None
    nums: list[float] = [v for v in values if v is not None]
    try:
        if tail in _UNARY and len(nums) == 1:
            return float(_UNARY[tail](nums[0]))
        if tail in ("pow", "power", "float_power") and len(nums) == 2:
            return None if nums[0] == 0 and nums[1] <= 0 else float(nums[0] ** nums[1])
        if tail in ("maximum", "fmax") and len(nums) == 2:
            return max(nums)
        if tail in ("minimum", "fmin") and len(nums) == 2:
            return min(nums)
        if tail in ("clamp", "clip", "clamp_min"):
            return _clamped(node, nums, tail, x, ctx, scale, depth)
    except (ValueError, OverflowError, ZeroDivisionError, TypeError):
        return None
    return None


def _clamped(node: ast.Call, nums: list[float], tail: str, x: str, ctx: Context, scale: list[float],
             depth: int) -> float | None:
    """``clamp(v, lo, hi)`` / ``clip(v, a_min=lo)`` / ``v.clamp_min(lo)`` at the point."""
    bounds: dict[str, float | None] = {"low": None, "high": None}
    for name, value in zip(("low", "high"), nums[1:]):
        bounds[name] = value
    for kw in node.keywords:
        key = {"min": "low", "a_min": "low", "lower": "low", "max": "high", "a_max": "high", "upper": "high"}.get(
            kw.arg or "")
        if key is None:
            return None
        if const_value(kw.value) is None and isinstance(kw.value, ast.Constant):
            continue  # `max=None`
        bound = _at_zero(kw.value, x, ctx, scale, depth)
        if bound is None:
            return None
        bounds[key] = bound
    if tail == "clamp_min":
        bounds["high"] = None
    out = nums[0]
    if bounds["low"] is not None:
        out = max(out, bounds["low"])
    if bounds["high"] is not None:
        out = min(out, bounds["high"])
    return out
