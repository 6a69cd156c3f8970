"""The double-where guard: ``safe = torch.where(ok, x, 1.0)`` then
``torch.where(ok, torch.sqrt(safe), 0.0)`` keeps the kink's point out of both the value and
the gradient, where a single ``where`` leaves inf/nan in the unselected branch's gradient.
Registered in ``guards.GUARDS`` as ``double-where``; the pairing of the two selections lives
in :mod:`kinkcheck.lint.double_where`.
"""

from __future__ import annotations

import ast
import copy
from typing import TYPE_CHECKING

from kinkcheck.lint import ranges
from kinkcheck.lint.double_where import invisible_selection, through_cast
from kinkcheck.lint.guards import _callee_tail, _values, guard
from kinkcheck.syntax import new_axes

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

WHERE_FUNCS = frozenset({"where", "masked_fill", "masked_fill_", "nan_to_num"})


def _is_where(value: ast.AST, ctx: Context) -> bool:
    tail = _callee_tail(value, ctx)
    return tail in WHERE_FUNCS and isinstance(value, ast.Call) and (len(value.args) >= 2 or tail != "where")


def _safe_filler(where: ast.AST, ctx: Context) -> bool:
    """The selection puts a value away from the kink where it masks: ``where(ok, x, 1.0)``,
    ``where(bad, ones_like(x), x)``, ``x.masked_fill(bad, 1)``; ``where(m, x, 0.0)`` under a
    sqrt or a norm still hands it 0 (``nan_to_num`` is kept: its fill is not the kink's point)."""
    assert isinstance(where, ast.Call)
    tail = _callee_tail(where, ctx)
    if tail == "nan_to_num":
        return True
    method = isinstance(where.func, ast.Attribute) and not ctx.is_module_ref(where.func.value)
    fills = where.args[1:3] if tail == "where" and not method else where.args[1:2] or [
        k.value for k in where.keywords if k.arg == "value"]
    return any(ranges.is_nonzero(ranges.range_of(f, ctx)) for f in fills)


_SHAPE_KEYWORDS = ("keepdim", "keepdims")


class _SameTruth(ast.NodeTransformer):
    def visit_NamedExpr(self, node: ast.NamedExpr) -> ast.AST:
        return ast.Name(id=node.target.id, ctx=ast.Load())

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        node.keywords = [k for k in node.keywords if k.arg not in _SHAPE_KEYWORDS]
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        self.generic_visit(node)
        return node.value if new_axes(node.slice) is not None else node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Constant(value=float(node.value)) if type(node.value) is int else node


def _condition_key(cond: ast.AST) -> str:
    """The condition with ``(_x := e)`` read as ``_x``, without ``keepdims=``, without
    indexing that only adds axes (``ok[..., None, None]``) and with ``0`` read as ``0.0``: the
    remedies' double-where names the value in the outer condition and tests the name, kept to
    broadcast, in the inner one; ``x == 0.0`` and ``x == 0`` hold at the same elements."""
    if not any(isinstance(n, ast.NamedExpr) or isinstance(n, ast.keyword) and n.arg in _SHAPE_KEYWORDS
               or isinstance(n, ast.Subscript) and new_axes(n.slice) is not None
               or isinstance(n, ast.Constant) and type(n.value) is int for n in ast.walk(cond)):
        return ast.dump(cond)
    return ast.dump(_SameTruth().visit(copy.deepcopy(cond)))


@guard("double-where")
def double_where(node: ast.AST, ctx: Context, site=None) -> bool:
    """The double-where pattern: ``safe = torch.where(ok, x, 1.0)`` then
    ``torch.where(ok, torch.sqrt(safe), 0.0)``. Guards the op whose operand is the inner
    ``where`` (sqrt here), and, for KC402, both ``where`` calls of the pair."""
    if any(_is_where(v, ctx) and _safe_filler(v, ctx) for v in _values(node, ctx)):
        return True
    call = getattr(site, "call", None)
    if site is None or not isinstance(call, ast.Call) or not _is_where(call, ctx) or not call.args:
        return False
    cond = _condition_key(call.args[0])
    pairs = [w for w in ctx.where_calls() if w is not call and w.args and _condition_key(w.args[0]) == cond]
    if not pairs:
        return False
    # outer: a branch uses a paired where (directly or through a name)
    for branch in call.args[1:3]:
        for sub in ast.walk(branch):
            if sub is not call and any(v in pairs for v in _values(sub, ctx, 1)):
                return True
    # inner: this where (or the name it is assigned to) is used in a paired where's branch,
    # or every use of its name, through one computed name, lies in one branch of the pair
    parent = ctx.parent(through_cast(call, ctx))
    names = {t.id for t in getattr(parent, "targets", ()) if isinstance(t, ast.Name)}
    for outer in pairs:
        for branch in outer.args[1:3]:
            for sub in ast.walk(branch):
                if sub is call or (isinstance(sub, ast.Name) and sub.id in names):
                    return True
    return invisible_selection(call, pairs, ctx)
