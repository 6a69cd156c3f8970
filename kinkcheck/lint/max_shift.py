"""The max-shift guard: a maximum subtracted for stability and cancelled again.

``softmax(z - z.max(-1, keepdim=True).values)``, ``e = exp(z - m); e / e.sum(-1)`` and
``m + log(exp(z - m).sum(-1))`` compute the same values for any shift ``m``: their
derivative with respect to ``m`` is exactly 0, so which of two tied maxima ``m`` picks
never reaches the gradient. An ``exp(z - m)`` that is not normalised again keeps ``m`` in
its value, and its tie is a real kink. Forms written out otherwise are judged by evaluating
the returned expression at two values of the maximum (:func:`_cancels`). Registered in
``guards.GUARDS`` as ``max-shift``.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint.bindings import written_out
from kinkcheck.lint.guards import _callee_tail, call_operand, guard
from kinkcheck.lint.sinks import bound_uses, uses_of
from kinkcheck.syntax import new_axes

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

_MAXIMA = frozenset({"max", "amax", "nanmax"})
#: functions that give the same result for every shift of their input along the reduced axis
_SHIFT_INVARIANT = frozenset({"softmax", "log_softmax", "softmin"})
_EXP = frozenset({"exp", "exp_"})
_SUMS = frozenset({"sum", "nansum"})


@guard("max-shift")
def max_shift(node: ast.AST, ctx: Context, site=None) -> bool:
    """KC105: every use of the maximum shifts its own operand inside a softmax, or inside an
    exp that is normalised by its own sum, or is added back to a log of the summed exp."""
    call = getattr(site, "call", None)
    if not isinstance(call, ast.Call) or (_callee_tail(call, ctx) or "") not in _MAXIMA:
        return False
    operand = call_operand(call, ctx)
    if operand is None:
        return False
    uses = _uses(_value(call, ctx), ctx)
    roles = [_role(u, operand, uses, ctx) for u in uses]
    if not roles or None in roles:
        return _cancels(call, ctx)
    # `log(exp(z - m).sum())` alone is lse(z) - m: it cancels only once m is added back
    return "sum-exp" not in roles or "add-back" in roles


#: shifts of the maximum's value tried, and how little the result may move for each
_SHIFTS = (0.37, -1.3)
_SAME_VALUE = 1e-9


def _cancels(call: ast.Call, ctx: Context) -> bool:
    """The maximum reaches the loss only through one returned expression whose value does not
    move when the maximum's does (a log-softmax written out, ``(p - m) - log(exp(p - m) +
    exp(n - m).sum())``; a shift scaled, ``log(exp(2 * (z - m)).sum()) + 2 * m``), judged by
    evaluating it with the other values drawn at random: a shift that cancels cancels for any
    of them. Sums of one element stand for sums of many, each shifted alike."""
    import random

    from kinkcheck.lint.joins import _guarded
    from kinkcheck.lint.scalar_expr import Expr
    from kinkcheck.lint.sink_paths import ASIDE, flows_only_into, returned_sink

    value = _value(call, ctx)
    sink = returned_sink(value, ctx)
    if sink is None or sink is ASIDE or not flows_only_into(value, sink, ctx):
        return False
    expr = Expr(sink, ctx)
    key = ast.unparse(value)
    symbols = sorted(expr.symbols())
    if key not in symbols or len(symbols) > 12 or not _smooth_in_shift(expr, sink, key):
        return False

    def same(seed: int) -> bool:
        rng = random.Random(seed)
        env = {s: rng.uniform(0.3, 2.0) for s in symbols}  # masks and weights are >= 0
        base = expr.value(sink, env)
        return all(abs(expr.value(sink, {**env, key: env[key] + d}) - base) <= _SAME_VALUE * (1.0 + abs(base))
                   for d in _SHIFTS)

    return _guarded(lambda: same(1) and same(2))


#: what the evaluated expression may apply around the maximum: arithmetic, exp and log, sums
#: and means, casts and reshapes. A kink or a comparison of its own (`relu(m - 10)`) may sit
#: outside the values tried; an opaque call (`sigmoid(z - m)` in a library loss) is not seen
_SHIFT_SAFE = frozenset({"exp", "log", "log1p", "sum", "nansum", "mean", "nanmean", "float", "double", "half", "to",
                         "squeeze", "unsqueeze", "view", "reshape", "flatten", "detach", "clone", "contiguous",
                         "type_as", "stop_gradient", "asarray", "array", "tensor", "as_tensor", "real"})


def _smooth_in_shift(expr, sink: ast.AST, key: str) -> bool:
    """The expression applies only :data:`_SHIFT_SAFE` operations to what it reads, none of
    them opaque around the maximum, and a sum (over elements of any number) reads the maximum
    only inside an exp: ``(z - m).sum()`` is ``z.sum() - n * m``, which one element hides."""
    for node in expr.walk(sink):
        if isinstance(node, (ast.Compare, ast.IfExp, ast.BoolOp)):
            return False
        if not isinstance(node, ast.Call) or ast.unparse(node) == key:
            continue
        tail = _callee_tail(node, expr.ctx) or ""
        if tail not in _SHIFT_SAFE:
            if any(ast.unparse(n) == key for n in expr.walk(node)):
                return False  # the maximum inside a call the evaluator reads as one opaque number
            continue
        if tail in ("sum", "nansum") and _outside_exp(expr, node, key):
            return False
    return True


def _outside_exp(expr, node: ast.AST, key: str) -> bool:
    """``key`` is read under ``node`` somewhere not inside an ``exp``."""
    def exp(n: ast.AST) -> bool:
        return isinstance(n, ast.Call) and (_callee_tail(n, expr.ctx) or "") in ("exp", "exp_")

    return any(ast.unparse(n) == key for n in expr.walk(node, prune=exp))


def _value(call: ast.Call, ctx: Context) -> ast.AST:
    """The maximum's value: through torch's ``.values`` / ``[0]`` and a broadcast index."""
    parent = ctx.parent(call)
    if isinstance(parent, ast.Attribute) and parent.attr == "values" or (
            isinstance(parent, ast.Subscript) and isinstance(parent.slice, ast.Constant) and parent.slice.value == 0):
        return _broadcast(parent, ctx)
    return _broadcast(call, ctx)


def _broadcast(node: ast.AST, ctx: Context) -> ast.AST:
    """``node`` with the index that only adds axes for broadcasting around it
    (``m[:, np.newaxis]``, ``m[..., None]``): the same values, laid out to meet the operand."""
    parent = ctx.parent(node)
    return parent if isinstance(parent, ast.Subscript) and parent.value is node and new_axes(parent.slice) else node


def _uses(value: ast.AST, ctx: Context) -> list[ast.AST]:
    """Where the maximum is read: the expression itself, or each read of the one name it is
    bound to (``m = z.amax(-1, keepdim=True)``)."""
    parent = ctx.parent(value)
    if isinstance(parent, ast.Assign) and parent.value is value:
        if len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
            return list(uses_of(parent.targets[0].id, parent, ctx))
        target = parent.targets[0] if len(parent.targets) == 1 else None
        if isinstance(target, ast.Tuple) and len(target.elts) == 2 and isinstance(target.elts[0], ast.Name):
            # `m, _ = torch.max(z, dim=1)`: unpacked, a maximum is (values, indices), as
            # `sinks` reads `values, idx = x.topk(k)`
            return list(uses_of(target.elts[0].id, parent, ctx))
        return []
    return [value]


#: methods that lay the same values out in another shape
_RESHAPES = frozenset({"squeeze", "unsqueeze", "view", "reshape", "flatten", "expand", "expand_as"})


def _role(use: ast.AST, operand: ast.AST, uses: list[ast.AST], ctx: Context, depth: int = 1) -> str | None:
    """How one read of the maximum cancels: ``"softmax"``, ``"normalised"`` (an exp over its
    own sum), ``"sum-exp"`` (inside a summed exp), ``"add-back"`` (``m + log(...)``), or None."""
    method = ctx.method_call(use)
    if method is not None and method[0].attr in _RESHAPES:
        use = method[1]  # `m.squeeze(1) + log(...)`: the same maximum, laid out again
    parent = ctx.parent(use)
    if isinstance(parent, ast.Assign) and parent.value is use and depth and len(parent.targets) == 1 \
            and isinstance(parent.targets[0], ast.Name):
        # `m = m.squeeze(dim)`: each read of the reshaped maximum must cancel too
        again = list(uses_of(parent.targets[0].id, parent, ctx))
        roles = [_role(u, operand, [*uses, *again], ctx, depth - 1) for u in again]
        return "reshaped" if roles and None not in roles else None
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Sub) and parent.right is use:
        return _shift_role(parent, ctx) if ast.dump(parent.left) == ast.dump(operand) else None
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Add):
        other = parent.left if parent.right is use else parent.right
        return "add-back" if _log_sum_exp_of_shift(other, uses, ctx) else None
    return None


def _shift_role(shifted: ast.AST, ctx: Context, depth: int = 2) -> str | None:
    """``z - m`` enters a softmax, an exp normalised by its own sum, or a summed exp; or it is
    bound to a name (``z = x - m``, ``x = x - m``) every read of which does one of those or
    is log-softmax written out (``z - log(exp(z).sum())``)."""
    parent = ctx.parent(shifted)
    reads = bound_uses(shifted, ctx) if depth else None
    if reads is not None:
        roles = [_read_role(r, ctx, depth - 1) for r in reads]
        if not roles or None in roles:
            return None
        if "sum-exp" in roles and "log-softmax" not in roles:
            return "sum-exp"
        return "softmax"
    method = ctx.method_call(shifted)
    if method is not None:  # `(z - m).exp()`, `(z - m).softmax(-1)`: the shift is the receiver
        parent = method[1]
    elif not isinstance(parent, ast.Call):
        return None
    tail = _callee_tail(parent, ctx) or ""
    if tail in _SHIFT_INVARIANT:
        return "softmax"
    if tail not in _EXP:
        return None
    return _exp_role(parent, ctx)


def _read_role(read: ast.AST, ctx: Context, depth: int) -> str | None:
    """One read of the shifted name: a softmax's or an exp's argument, or the left of
    ``z - log(sum(exp(z)))``."""
    parent = ctx.parent(read)
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Sub) and parent.left is read \
            and _log_sum_exp_of(parent.right, read, ctx):
        return "log-softmax"
    return _shift_role(read, ctx, depth)


def _exp_role(exp_call: ast.Call, ctx: Context) -> str | None:
    up = ctx.parent(exp_call)
    if isinstance(up, ast.BinOp) and isinstance(up.op, ast.Mult) and _summing(up, ctx) is not None:
        return "sum-exp"  # a weighted sum, `sum(w * exp(z - m))`: m comes out of it the same way
    total = _summing(exp_call, ctx)
    if total is not None:
        div = ctx.parent(total)
        if isinstance(div, ast.BinOp) and isinstance(div.op, ast.Div) and div.right is total \
                and _exp_of_same(div.left, exp_call, ctx):
            return "normalised"  # the denominator of `exp(z) / exp(z).sum()`
        return "sum-exp"
    if isinstance(up, ast.BinOp) and isinstance(up.op, ast.Div) and up.left is exp_call:
        inner = _summed(up.right, ctx)
        return "normalised" if inner is not None and _exp_of_same(inner, exp_call, ctx) else None
    if isinstance(up, ast.Assign) and len(up.targets) == 1 and isinstance(up.targets[0], ast.Name):
        name = up.targets[0].id
    elif isinstance(up, ast.Expr) and (out := written_out(exp_call)) is not None:
        name = out.id  # `np.exp(z - m, out=p)` binds p
    else:
        return None
    reads = list(uses_of(name, up, ctx))
    return "normalised" if reads and all(_normalised(r, name, ctx) for r in reads) else None


def _summing(node: ast.AST, ctx: Context) -> ast.AST | None:
    """The call that sums ``node``: ``node.sum(...)`` or ``np.sum(node, ...)``."""
    method = ctx.method_call(node)
    if method is not None:
        return method[1] if method[0].attr in _SUMS else None
    up = ctx.parent(node)
    if isinstance(up, ast.Call) and up.args and up.args[0] is node and (_callee_tail(up, ctx) or "") in _SUMS:
        return up
    return None


def _summed(node: ast.AST, ctx: Context) -> ast.AST | None:
    """What ``node`` sums, when it is ``x.sum(...)`` or ``np.sum(x, ...)``."""
    if not isinstance(node, ast.Call) or (_callee_tail(node, ctx) or "") not in _SUMS:
        return None
    return call_operand(node, ctx)


def _exp_of_same(node: ast.AST, exp_call: ast.Call, ctx: Context) -> bool:
    return isinstance(node, ast.Call) and (_callee_tail(node, ctx) or "") in _EXP and ast.dump(node) == ast.dump(exp_call)


def _log_sum_exp_of(node: ast.AST, read: ast.AST, ctx: Context) -> bool:
    """``log(exp(z).sum(...))`` / ``log(sum(exp(z)))`` / ``z.exp().sum(-1).log()`` of the
    name ``read`` reads."""
    if not (isinstance(node, ast.Call) and (_callee_tail(node, ctx) or "") == "log"):
        return False
    logged = call_operand(node, ctx)
    inner = _summed(logged, ctx) if logged is not None else None
    if not (isinstance(inner, ast.Call) and (_callee_tail(inner, ctx) or "") in _EXP):
        return False
    exponent = call_operand(inner, ctx)
    return exponent is not None and ast.dump(exponent) == ast.dump(read)


def _normalised(read: ast.AST, name: str, ctx: Context) -> bool:
    """``e / e.sum(...)`` or ``e.sum(...)`` as that very denominator (``e /= e.sum(...)``
    too; the sum broadcast back with ``[:, None]`` or not), or the sum written out through a
    name: ``s = torch.sum(e, 1, keepdim=True); e / s`` (each read of ``s`` divides ``e``)."""
    parent = ctx.parent(read)
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div) and parent.left is read:
        return _sum_of(parent.right, name) or _bound_sum_of(parent.right, name, ctx)
    total = _summing(read, ctx)
    if total is None:
        return False
    total = _broadcast(total, ctx)
    div = ctx.parent(total)
    if isinstance(div, ast.AugAssign):
        return isinstance(div.op, ast.Div) and div.value is total and isinstance(div.target, ast.Name) \
            and div.target.id == name
    if isinstance(div, ast.BinOp) and isinstance(div.op, ast.Div) and div.right is total:
        return True
    reads = bound_uses(total, ctx)  # the sum bound to a name: every read of it divides `e`
    return bool(reads) and all(_divides(r, name, ctx) for r in reads or ())


def _bound_sum_of(node: ast.AST, name: str, ctx: Context) -> bool:
    """``s`` in ``e / s`` where ``s = e.sum(...)`` / ``s = torch.sum(e, ...)``."""
    if not isinstance(node, ast.Name):
        return False
    value = ctx.definition(node.id)
    if value is None:
        return False
    summed = _summed(value, ctx)
    return _sum_of(value, name) or isinstance(summed, ast.Name) and summed.id == name


def _divides(read: ast.AST, name: str, ctx: Context) -> bool:
    """``read`` is the denominator of ``<name> / read``."""
    parent = ctx.parent(read)
    return isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div) and parent.right is read \
        and isinstance(parent.left, ast.Name) and parent.left.id == name


def _sum_of(node: ast.AST, name: str) -> bool:
    if isinstance(node, ast.Subscript) and new_axes(node.slice):
        node = node.value  # `e.sum(1)[:, None]`
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _SUMS
            and isinstance(node.func.value, ast.Name) and node.func.value.id == name)


def _log_sum_exp_of_shift(node: ast.AST, uses: list[ast.AST], ctx: Context) -> bool:
    """``log(<exp(z - m)>.sum(...))`` where the shift is one of the maximum's own uses."""
    if not (isinstance(node, ast.Call) and (_callee_tail(node, ctx) or "") == "log"):
        return False
    inner = call_operand(node, ctx)
    if inner is None:
        return False
    # the shift inline, or through the name it is bound to (`z = x - m; m + log(exp(z).sum())`,
    # bound on each branch of an `if`)
    from kinkcheck.lint import flow

    if any(_within(u, inner) for u in uses):
        return True
    for n in ast.walk(inner):
        if isinstance(n, ast.Name):
            found, entry = flow.reaching(n.id, n, ctx)
            shifted = [v is not None and any(_within(u, v) for u in uses) for _, v in found]
            if any(shifted):
                # every binding that reaches the log is the shift (not the parameter unshifted)
                return all(shifted) and not entry
    return False


def _within(node: ast.AST, tree: ast.AST) -> bool:
    return any(n is node for n in ast.walk(tree))
