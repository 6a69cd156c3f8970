"""The integer-data guard: ``.long()``/``.int()`` of what is already data or already whole.

A cast to integers truncates, so ``(boxes[..., 0] * W).long()`` (the column a predicted box
centre falls in) or ``(conf * n_bins).long()`` (the calibration bin of a predicted confidence)
is a step of the loss: the gathered feature, the bin mask, jump where the prediction crosses
a cell edge, and no gradient reaches the prediction through the index (KC302). Most casts in
loss code are of something else: labels, treatment indicators, mesh faces and masks made
integers (``t.long()``, ``faces.long()``), or values that an earlier ``floor`` already made
whole (``(y0.clamp(0, h - 1) * w + x0).long()`` after ``x0 = torch.floor(x)``, whose step is
reported at the ``floor``). Registered in ``guards.GUARDS`` as ``integer-data``: the cast is
excused unless it scales, shifts or picks a value that carries gradient, or casts a name
that is a prediction by its name.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint.guards import _callee_tail, guard
from kinkcheck.lint.resolve import PREDICTION_WORD_RE, TENSOR, UNKNOWN

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: the casts this guard judges (rounding calls are steps whatever they round)
CASTS = frozenset({"long", "int"})
#: calls whose value is already whole: their step, if any, is theirs
_WHOLE = frozenset({"floor", "floor_", "ceil", "ceil_", "round", "round_", "trunc", "trunc_", "fix", "rint",
                    "argmax", "argmin", "argsort", "nonzero", "arange", "bucketize", "searchsorted"})
#: how many names the operand is followed through
_DEPTH = 2


@guard("integer-data")
def integer_data(node: ast.AST, ctx: Context, site=None) -> bool:
    """KC302: ``site`` casts to integers a value that carries no gradient or is already whole."""
    call = getattr(site, "call", None)
    if not isinstance(call, ast.Call) or (_callee_tail(call, ctx) or "") not in CASTS \
            or not isinstance(call.func, ast.Attribute):
        return False
    operand = call.func.value
    return _whole(operand, ctx, _DEPTH) or not _scaled_prediction(operand, ctx, _DEPTH)


def _scaled_prediction(node: ast.AST, ctx: Context, depth: int) -> bool:
    """``node`` is arithmetic on a value that carries gradient (``pred[:, 0] * T``), a pick of
    one, or a name that says it is a prediction."""
    if isinstance(node, ast.Name):
        if PREDICTION_WORD_RE.search(node.id) and _may_carry(node, ctx):
            return True
        value = ctx.definition(node.id) if depth else None
        return value is not None and _scaled_prediction(value, ctx, depth - 1)
    if isinstance(node, ast.Subscript):
        return _scaled_prediction(node.value, ctx, depth)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div, ast.Add, ast.Sub)):
        return any(_may_carry(side, ctx) for side in (node.left, node.right))
    return False


def _may_carry(node: ast.AST, ctx: Context) -> bool:
    """``node`` is no constant and no data: a tensor, or a value the kinds cannot tell."""
    return not isinstance(node, ast.Constant) and ctx.kind(node) in (TENSOR, UNKNOWN)


def _whole(node: ast.AST, ctx: Context, depth: int) -> bool:
    """``node`` reads a rounding, an index or an integer range (through ``depth`` names)."""
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and (_callee_tail(n, ctx) or "") in _WHOLE:
            return True
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and depth:
            value = ctx.definition(n.id)
            if value is not None and _whole(value, ctx, depth - 1):
                return True
    return False
