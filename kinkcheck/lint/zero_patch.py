"""The zero-patch guard: an exact-zero test that only patches the pole of a division.

``num / (den + eps * (den == 0))`` and ``den = where(den == 0, 1.0, den); num / den`` replace
the divisor at the one point ``den == 0`` and nowhere else. The test ``den == 0`` flips only
there, and there the division already has its pole: num / den blows up as den -> 0 whatever
the one patched point holds, so the hazard is the division (its own finding, KC205, which
this guard leaves alone) and the comparison is no separate step of the loss. The test must
compare the divisor's own value with 0 (textually), the patched value must be read only as
a divisor, and an order comparison (``den <= 0``, a floor over a whole interval) is never one.
Registered in ``guards.GUARDS`` as ``zero-patch`` (KC304 for the arithmetic form, KC402 for
the ``where`` form).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint import sinks
from kinkcheck.lint.guards import guard
from kinkcheck.lint.resolve import const_value

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: methods that turn a mask into the same 0/1 numbers (``(d == 0).float()``)
_MASK_CASTS = frozenset({"float", "double", "half", "to", "type", "type_as", "astype"})


@guard("zero-patch")
def zero_patch(node: ast.AST, ctx: Context, site=None) -> bool:
    """The site's comparison is ``den == 0`` and only moves ``den``'s exact zero in a divisor:
    ``den + c * (den == 0)`` (KC304) or ``where(den == 0, c, den)`` (KC402)."""
    test = getattr(site, "node", None)
    tested = _zero_tested(test) if isinstance(test, ast.Compare) else None
    if test is None or tested is None:
        return False
    code = getattr(site, "code", None)
    if code == "KC304":
        patched = _added_to(test, tested, ctx)
    elif code == "KC402":
        patched = _selected_away(test, tested, getattr(site, "call", None), ctx)
    else:
        return False
    return patched is not None and _only_divides(patched, ctx)


def _zero_tested(test: ast.Compare) -> ast.AST | None:
    """``den`` of ``den == 0`` (or ``0.0 == den``); None for any other test."""
    if not (len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return None
    left, right = test.left, test.comparators[0]
    if const_value(right) == 0 and const_value(left) is None:
        return left
    if const_value(left) == 0 and const_value(right) is None:
        return right
    return None


def _same(a: ast.AST, b: ast.AST) -> bool:
    return ast.dump(a) == ast.dump(b)


def _added_to(test: ast.AST, tested: ast.AST, ctx: Context) -> ast.AST | None:
    """``den + c * (den == 0)``, ``den + (den == 0).float() * c`` or ``den + (den == 0)``: the
    sum when the mask (cast, times one factor) is added to the value it tests; else None."""
    term = test
    method = ctx.method_call(term)
    while method is not None and method[0].attr in _MASK_CASTS:
        term = method[1]
        method = ctx.method_call(term)
    parent = ctx.parent(term)
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult):
        term, parent = parent, ctx.parent(parent)
    if not (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Add)):
        return None
    other = parent.right if parent.left is term else parent.left
    return parent if _same(other, tested) else None


def _selected_away(test: ast.AST, tested: ast.AST, call: ast.AST | None, ctx: Context) -> ast.AST | None:
    """``where(den == 0, c, den)``, the test alone or or-ed with others: the ``where`` when it
    keeps ``den`` where the test fails; else None."""
    if not (isinstance(call, ast.Call) and len(call.args) == 3 and _or_ed_into(test, call.args[0], ctx)):
        return None
    return call if _same(call.args[2], tested) else None


def _or_ed_into(test: ast.AST, cond: ast.AST, ctx: Context) -> bool:
    """``cond`` is ``test`` itself or an ``|`` / ``or`` of it with other tests: where ``test``
    holds, the condition does."""
    node = test
    while node is not cond:
        parent = ctx.parent(node)
        if not (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.BitOr)
                or isinstance(parent, ast.BoolOp) and isinstance(parent.op, ast.Or)):
            return False
        node = parent
    return True


def _only_divides(value: ast.AST, ctx: Context) -> bool:
    """``value`` is a divisor (``num / value``), or the value of a name read only as one."""
    return _divisor(value, ctx) or sinks.every_bound_use(value, ctx, lambda use: _divisor(use, ctx))


def _divisor(node: ast.AST, ctx: Context) -> bool:
    parent = ctx.parent(node)
    return isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div) and parent.right is node
