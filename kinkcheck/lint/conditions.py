"""What a selection or branch condition is made of: the comparisons it combines through
``&``, ``|``, ``~``, ``and``/``or``/``not``, ``logical_*`` calls, a name defined earlier, an
``all``/``any`` along an axis, and a ``where`` that picks between two masks. KC401 judges a
branch and KC402 a selection by the worst of those comparisons."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint.resolve import COMPARISON_CALLS
from kinkcheck.syntax import call_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: method / function names that compare values
COMPARE_FUNCS = COMPARISON_CALLS | {"logical_and", "logical_or", "logical_not"}
LOGICAL = ("logical_and", "logical_or", "logical_not", "logical_xor")


def condition_atoms(cond: ast.AST, ctx: Context, follow: int = 1):
    """The comparisons a selection condition is built from: through ``&``, ``|``, ``~``,
    ``and``/``or``/``not``, ``logical_*`` calls and one name defined earlier."""
    if isinstance(cond, ast.Name) and follow:
        value = ctx.definition(cond.id)
        if value is not None:
            yield from condition_atoms(value, ctx, follow - 1)
        return
    if isinstance(cond, ast.BoolOp):
        for v in cond.values:
            yield from condition_atoms(v, ctx, follow)
    elif isinstance(cond, ast.BinOp) and isinstance(cond.op, (ast.BitAnd, ast.BitOr, ast.BitXor)):
        yield from condition_atoms(cond.left, ctx, follow)
        yield from condition_atoms(cond.right, ctx, follow)
    elif isinstance(cond, ast.UnaryOp) and isinstance(cond.op, (ast.Not, ast.Invert)):
        yield from condition_atoms(cond.operand, ctx, follow)
    elif isinstance(cond, ast.Call) and call_tail(cond) in LOGICAL:
        for a in cond.args:
            yield from condition_atoms(a, ctx, follow)
    elif isinstance(cond, ast.Call) and boolean_where(cond):
        for a in cond.args:  # `where(adv >= 0, ratio > 1 + eps, ratio < 1 - eps)`: each decides
            yield from condition_atoms(a, ctx, follow)
    elif isinstance(cond, ast.Call) and call_tail(cond) in ("all", "any") and (mask := reduced_mask(cond, ctx)) is not None:
        yield from condition_atoms(mask, ctx, follow)  # `inside = (bary >= 0).all(dim=-1)`
    else:
        yield cond


def boolean_where(node: ast.AST) -> bool:
    """``where(c, a > t, a < -t)``: a selection between two masks, itself a mask built from
    the comparisons it selects between as much as from its condition."""
    if not (isinstance(node, ast.Call) and call_tail(node) == "where" and len(node.args) == 3 and not node.keywords):
        return False
    return all(isinstance(a, ast.Compare) and not any(isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)) for op in a.ops)
               or call_tail(a) in COMPARE_FUNCS or call_tail(a) in LOGICAL for a in node.args[1:])


def reduced_mask(call: ast.Call, ctx: Context) -> ast.AST | None:
    """The mask an ``all``/``any`` along an axis reduces (``(bary >= 0).all(dim=-1)``,
    ``jnp.all(m, axis=1)``, ``torch.all(input=m, dim=-1)``): per element still a mask of its
    comparison. None for a reduction to one truth value, or one whose mask is not given."""
    func = call.func
    if isinstance(func, ast.Attribute) and not ctx.is_module_ref(func.value):
        return func.value if call.args or call.keywords else None
    mask = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg in ("input", "a", "x")), None)
    along = len(call.args) > 1 or any(k.arg in ("dim", "axis") for k in call.keywords)
    return mask if along else None
