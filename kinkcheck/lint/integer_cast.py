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
from kinkcheck.lint.resolve import DATA, PLAIN, PREDICTION_WORD_RE, UNKNOWN

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


#: arithmetic written as calls (``boxes[..., 0].mul(W)``, ``torch.mul(conf, n_bins)``)
_ARITHMETIC = frozenset({"mul", "div", "add", "sub", "multiply", "divide", "true_divide"})


def _scaled_prediction(node: ast.AST, ctx: Context, depth: int) -> bool:
    """``node`` is arithmetic on a value that carries gradient (``pred[:, 0] * T``,
    ``conf.mul(n_bins)``), a pick of one, or a name that says it is a prediction."""
    if isinstance(node, ast.Name):
        if PREDICTION_WORD_RE.search(node.id) and _carries(node, ctx):
            return True
        value = ctx.definition(node.id) if depth else None
        return value is not None and _scaled_prediction(value, ctx, depth - 1)
    if isinstance(node, ast.Subscript):
        return _scaled_prediction(node.value, ctx, depth)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div, ast.Add, ast.Sub)):
        return any(_carries(side, ctx) or _scaled_prediction(side, ctx, depth) for side in (node.left, node.right))
    if isinstance(node, ast.Call) and (_callee_tail(node, ctx) or "") in _ARITHMETIC:
        func = node.func
        operands = [*node.args]
        if isinstance(func, ast.Attribute) and not ctx.is_module_ref(func.value):
            operands.insert(0, func.value)
        return any(_carries(o, ctx) or _scaled_prediction(o, ctx, depth) for o in operands)
    return False


def _carries(node: ast.AST, ctx: Context) -> bool:
    """``node`` carries gradient by its kind, is computed from a parameter named for a
    prediction (``conf`` of ``logits.softmax(1).amax(1)``) or reads a name the code calls a
    prediction (``pred_se``); a parameter of unknown kind (``seg``, ``images``, ``lengths``)
    is no evidence."""
    from kinkcheck.lint.cut_steps import differentiated

    if isinstance(node, ast.Constant):
        return False
    return differentiated(node, ctx) or ctx.kind(node) == UNKNOWN and any(
        isinstance(n, ast.Name) and PREDICTION_WORD_RE.search(n.id) for n in ast.walk(node))  # `pred_se[:, 0]`


def _whole(node: ast.AST, ctx: Context, depth: int) -> bool:
    """``node`` holds whole numbers already, or numbers that carry no gradient: a rounding, an
    index, a comparison's 0/1, an integer literal, a setting or data, and sums, products and
    clamps of such (through ``depth`` names)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, bool))
    if isinstance(node, (ast.Compare, ast.BoolOp)) or isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return True
    if isinstance(node, ast.Name):
        value = ctx.definition(node.id) if depth else None
        if value is None:
            # `w: int`: no prediction to truncate; `for dy, wy in ((0, 1 - fy), (1, fy))`: 0, then 1
            return ctx.kind(node) in (PLAIN, DATA) or _whole_items(node.id, ctx)
        return _whole(value, ctx, depth - 1)
    if isinstance(node, ast.Subscript):
        return _whole(node.value, ctx, depth)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, (ast.BitAnd, ast.BitOr, ast.BitXor)):
            return True  # `(a > 0) & (b > 0)`: a mask
        return isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)) \
            and _whole(node.left, ctx, depth) and _whole(node.right, ctx, depth)
    if isinstance(node, ast.Call):
        tail = _callee_tail(node, ctx) or ""
        if tail in _WHOLE:
            return True
        if tail in _KEEPING and isinstance(node.func, ast.Attribute) and not ctx.is_module_ref(node.func.value):
            return _whole(node.func.value, ctx, depth)  # `x0.clamp(0, w - 1)` of a floor
    return False


def _whole_items(name: str, ctx: Context) -> bool:
    """``name`` is bound only as an item of a loop over a literal of tuples whose item at its
    position is an integer literal in each (``for dx, wx in ((0, 1 - fx), (1, fx))``)."""
    from kinkcheck.lint.bindings import IterItem

    items = ctx.assignments().get(name, ())
    if not items or not all(isinstance(i, IterItem) and isinstance(i.iterable, (ast.Tuple, ast.List))
                            and i.index is not None for i in items):
        return False
    return all(isinstance(row, ast.Tuple) and i.index < len(row.elts) and isinstance(row.elts[i.index], ast.Constant)
               and isinstance(row.elts[i.index].value, int) for i in items for row in i.iterable.elts)


#: methods that keep whole numbers whole
_KEEPING = frozenset({"clamp", "clamp_", "clip", "to", "float", "double", "view", "reshape", "flatten", "squeeze",
                      "unsqueeze", "expand", "contiguous", "detach", "clone"})
