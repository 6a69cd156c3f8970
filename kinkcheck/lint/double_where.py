"""The double-where idiom: a ``where`` whose jump the loss never sees.

JAX's documented way to keep a nan out of a gradient selects twice on one condition::

    x_safe = jnp.where(norm <= min_norm, jnp.ones_like(x), x)      # (1) inner
    masked = jnp.linalg.norm(x_safe)
    return jnp.where(norm <= min_norm, min_norm, masked)           # (2) outer

On the side where the condition holds, (2) takes a branch that does not read ``x_safe``; on
the other side ``x_safe`` is ``x``. So the selection (1) is never seen across its boundary:
it is not a branch point of the loss. The rule is read from the code, not the names: every
use of the inner ``where``'s name (directly, or through names computed from it) lies in
the same branch of the ``where`` calls on the same condition (the ``double-where`` guard's
pairs, ``guards.py``), and the other branch does not read it.

What lies between the two is any computation held in names, other selections included
(colour conversion divides by the safe range, picks the hue formula by the channel that is
largest, and only then zeroes the grey pixels on the same ``range > 0``). A value computed
from the inner ``where`` may also be compared (``hue < 0``, a wrap): the comparison carries no
gradient, and the only jump the inner ``where`` can hand it lies where the shared condition
flips, which the outer ``where`` reports (it stays a finding, and is no smooth join there).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint import joins, sinks

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: names followed from the inner ``where`` to the outer one (``x_safe`` -> ``masked``; the safe
#: range -> its reciprocal -> the hue of one formula -> the hue of the other)
_DEPTH = 4


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
    outers: list[tuple[ast.Call, int]] = []
    reached = _collect_sides(value, pairs, ctx, depth, outers)
    sides = {side for _, side in outers}
    if reached is None or len(sides) != 1:
        return None
    if reached == _COMPARED and any(joins.where_is_smooth(where, where.args[0], ctx) for where, _ in outers):
        return None  # a smooth outer join reports nothing where the condition flips
    return sides.pop()


#: what :func:`_collect_sides` found besides the outer branches: nothing else, or comparisons
_ONLY_BRANCHES, _COMPARED = "branches", "compared"


def _collect_sides(value: ast.AST, pairs: list[ast.Call], ctx: Context, depth: int,
                   outers: list[tuple[ast.Call, int]]) -> str | None:
    """Add to ``outers`` the ``(where, branch)`` of ``pairs`` each use of the name ``value`` is
    assigned to lies in, followed through ``depth`` names. ``_ONLY_BRANCHES`` when every use
    ends in such a branch, ``_COMPARED`` when some are compared instead; None when a use does
    neither (it reaches the loss past the outer ``where``)."""
    value = through_cast(value, ctx)
    stmt = ctx.parent(value)
    if not isinstance(stmt, ast.Assign) and depth == _DEPTH:
        # `root = torch.sqrt(torch.where(ok, x, 1))`: the inner `where` inside the value bound
        enclosing = _enclosing_assigned_value(value, ctx)
        if enclosing is not None:
            value, stmt = enclosing, ctx.parent(enclosing)
    if depth <= 0 or not (isinstance(stmt, ast.Assign) and stmt.value is value and len(stmt.targets) == 1
                          and isinstance(stmt.targets[0], ast.Name)):
        return None
    found = _ONLY_BRANCHES
    for use in sinks.uses_of(stmt.targets[0].id, stmt, ctx):
        selected = _selected_side(use, pairs, ctx)
        if selected is not None:
            outers.append(selected)
            continue
        if isinstance(ctx.parent(use), ast.Compare):
            found = _COMPARED
            continue
        computed = _enclosing_assigned_value(use, ctx)
        further = _collect_sides(computed, pairs, ctx, depth - 1, outers) if computed is not None else None
        if further is None:
            return None
        found = _COMPARED if further == _COMPARED else found
    return found


def through_cast(value: ast.AST, ctx: Context) -> ast.AST:
    """``cast(jax.Array, value)`` for ``value`` held by a ``typing.cast`` (the type checker's
    identity); ``value`` otherwise."""
    parent = ctx.parent(value)
    return parent if parent is not None and ctx.cast_operand(parent) is value else value


def _selected_side(use: ast.AST, pairs: list[ast.Call], ctx: Context) -> tuple[ast.Call, int] | None:
    """``(where, 1 or 2)`` when ``use`` sits in that branch of ``where``, one of ``pairs``, whose
    other branch does not read the same name; None otherwise."""
    found = next(((where, side) for where, side in where_branches(use, ctx) if where in pairs), None)
    if found is None or not isinstance(use, ast.Name):
        return None
    where, side = found
    other = where.args[3 - side]
    return None if any(isinstance(n, ast.Name) and n.id == use.id for n in ast.walk(other)) else found


def _enclosing_assigned_value(use: ast.AST, ctx: Context) -> ast.AST | None:
    """The right-hand side of ``t = f(use)``: the value computed from ``use``."""
    node: ast.AST | None = use
    while node is not None and not isinstance(node, ast.stmt):
        parent = ctx.parent(node)
        if isinstance(parent, ast.Assign) and parent.value is node:
            return node
        node = parent
    return None
