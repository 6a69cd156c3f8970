"""Truth values: comparisons, their negations and ``&``/``|``/``^``, and the calls that return
them. As numbers (a mask multiplied in, a 0/1 weight) they carry no gradient: their steps are
KC304's. :mod:`kinkcheck.lint.kinds` reads these."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint.resolve import COMPARISON_CALLS
from kinkcheck.syntax import callee_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: casts that turn a truth value into numbers
CASTS = frozenset({"float", "double", "half", "bfloat16", "to", "type", "type_as", "astype", "long", "int"})
#: functions whose result is a truth value: the comparisons written as calls (not the
#: tolerance tests ``isclose``/``allclose``) and the logical ones
_TRUTH_CALLS = (COMPARISON_CALLS - {"isclose", "allclose"}) | frozenset(
    {"logical_and", "logical_or", "logical_not", "logical_xor", "isnan", "isinf", "isfinite"})


def truth_value(node: ast.AST) -> bool:
    """A comparison of values (not identity or membership), a negation or ``&``/``|``/``^`` of
    such, or a call that returns one (``logical_and``, ``isnan``, ``x.gt(0)``): its steps are
    KC304's; as numbers it carries no gradient."""
    if isinstance(node, ast.Compare):
        return not any(isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)) for op in node.ops)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Invert, ast.Not)):
        return truth_value(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr, ast.BitXor)):
        return truth_value(node.left) and truth_value(node.right)
    if isinstance(node, ast.Call):
        tail = callee_tail(node.func)
        return tail in _TRUTH_CALLS
    return False


def truth_operand(ctx: "Context", node: ast.AST) -> bool:
    """A truth value, written out or bound once to a name (``is_under = jnp.less(d, 0)``)."""
    if isinstance(node, ast.Name):
        value = ctx.definition(node.id)
        return value is not None and truth_value(value)
    return truth_value(node)
