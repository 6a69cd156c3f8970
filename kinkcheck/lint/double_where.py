"""The double-where idiom: a ``where`` whose jump the loss never sees.

JAX's documented way to keep a nan out of a gradient selects twice on one condition::

    x_safe = jnp.where(norm <= min_norm, jnp.ones_like(x), x)      # (1) inner
    masked = jnp.linalg.norm(x_safe)
    return jnp.where(norm <= min_norm, min_norm, masked)           # (2) outer

On the side where the condition holds, (2) takes a branch that does not read ``x_safe``; on
the other side ``x_safe`` is ``x``. So the selection (1) is never seen across its boundary:
it is not a branch point of the loss. The rule is read from the code, not the names: every
use of the inner ``where``'s name (directly, or through one name computed from it) lies in
the same branch of the ``where`` calls on the same condition (the ``double-where`` guard's
pairs, ``guards.py``), and the other branch does not read it.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint import sinks

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: names followed from the inner ``where`` to the outer one (``x_safe`` -> ``masked``)
_DEPTH = 2


def invisible_selection(call: ast.AST, pairs: list[ast.Call], ctx: Context) -> bool:
    """``call`` is the inner ``where(c, a, b)`` of a double-where with the outer ``where``
    calls ``pairs`` (those on the same condition)."""
    if not (isinstance(call, ast.Call) and len(call.args) == 3 and call in ctx.where_calls()):
        return False
    return _side(call, pairs, ctx, _DEPTH) is not None


def where_branches(node: ast.AST, ctx: Context):
    """``(call, 1 or 2)`` for each three-argument call, up to the statement, whose second or
    third argument holds ``node`` (innermost first): the ``where`` branches ``node`` is in."""
    child, parent = node, ctx.parent(node)
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.Call) and len(parent.args) == 3 and child in parent.args[1:]:
            yield parent, parent.args.index(child)
        child, parent = parent, ctx.parent(parent)


def _side(value: ast.AST, pairs: list[ast.Call], ctx: Context, depth: int) -> int | None:
    """The one branch (1 or 2) of ``pairs`` that every use of the name ``value`` is assigned
    to lies in, followed through ``depth`` names; None if there is none."""
    value = through_cast(value, ctx)
    stmt = ctx.parent(value)
    if depth <= 0 or not (isinstance(stmt, ast.Assign) and stmt.value is value and len(stmt.targets) == 1
                          and isinstance(stmt.targets[0], ast.Name)):
        return None
    uses = sinks.uses_of(stmt.targets[0].id, stmt, ctx)
    sides = set()
    for use in uses:
        side = _selected_side(use, pairs, ctx)
        if side is None:
            computed = _enclosing_assigned_value(use, ctx)
            side = _side(computed, pairs, ctx, depth - 1) if computed is not None else None
        if side is None:
            return None
        sides.add(side)
    return sides.pop() if len(sides) == 1 else None


def through_cast(value: ast.AST, ctx: Context) -> ast.AST:
    """``cast(jax.Array, value)`` for ``value`` held by a ``typing.cast`` (the type checker's
    identity); ``value`` otherwise."""
    parent = ctx.parent(value)
    return parent if parent is not None and ctx.cast_operand(parent) is value else value


def _selected_side(use: ast.AST, pairs: list[ast.Call], ctx: Context) -> int | None:
    """1 or 2 when ``use`` sits in that branch of one of ``pairs`` whose other branch does
    not read the same name; None otherwise."""
    found = next(((where, side) for where, side in where_branches(use, ctx) if where in pairs), None)
    if found is None or not isinstance(use, ast.Name):
        return None
    where, side = found
    other = where.args[3 - side]
    return None if any(isinstance(n, ast.Name) and n.id == use.id for n in ast.walk(other)) else side


def _enclosing_assigned_value(use: ast.AST, ctx: Context) -> ast.AST | None:
    """The right-hand side of ``t = f(use)``: the value computed from ``use``."""
    node: ast.AST | None = use
    while node is not None and not isinstance(node, ast.stmt):
        parent = ctx.parent(node)
        if isinstance(parent, ast.Assign) and parent.value is node:
            return node
        node = parent
    return None
