"""A Python branch whose arms return values that meet with the same value and slope.

Per-sample losses written on floats choose their piece with ``if`` (scikit-learn's and river's
``ModifiedHuber.loss``: ``if z >= 1: return 0.0 elif z >= -1: return (1 - z) ** 2 else:
return -4 * z``). Where the pieces agree in value and first derivative at the threshold the
branch is no kink of the loss (LABELS.md: a comparison whose two sides agree); the derivative
written beside it (``dloss``: ``0.0`` against ``2 * (1 - z) * -y``) does jump there, and stays
a finding. The branch is read as ``where(test, taken, other)`` and judged as a ``where`` is.
"""

from __future__ import annotations

import ast

from kinkcheck.syntax import callee_tail

#: how many ``elif`` arms are followed into the value of the branch not taken
_ELIF_DEPTH = 4


def if_is_smooth(node: ast.AST, ctx) -> bool:
    """``node`` (an ``if`` statement or a conditional expression) picks between two values
    that join smoothly where its test flips."""
    from kinkcheck.lint.joins import where_is_smooth

    if isinstance(node, ast.IfExp):
        fake: ast.expr | None = _where(node.test, node.body, node.orelse)
    elif isinstance(node, ast.If):
        # the `if` read with what follows it: its `else` (an `elif` chain), else the returns after it
        fake = _chain([node], _after(node, ctx), _ELIF_DEPTH + 1)
    else:
        return False
    if not isinstance(fake, ast.Call) or any(_reduces(arm, ctx) for arm in fake.args[1:]):
        return False
    return where_is_smooth(fake, node.test, ctx)


def _where(test: ast.expr, taken: ast.expr, other: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id="where", ctx=ast.Load()), args=[test, taken, other], keywords=[])


#: reductions, which the evaluator reads as the identity: `d.mean() if c else d.sum()` would
#: read as one value
_REDUCTIONS = frozenset({"sum", "mean", "nansum", "nanmean", "prod", "logsumexp", "norm"})


def _reduces(value: ast.AST, ctx, depth: int = 2) -> bool:
    """``value`` (or a name it reads, bound once in the function) reduces an array."""
    for n in ast.walk(value):
        if isinstance(n, ast.Call) and callee_tail(n.func) in _REDUCTIONS:
            return True
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and depth:
            bound = ctx.definition(n.id)
            if bound is not None and _reduces(bound, ctx, depth - 1):
                return True
    return False


def _returned(body: list[ast.stmt]) -> ast.expr | None:
    """The value of a block that is one ``return value``."""
    if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
        return body[0].value
    return None


def _after(node: ast.stmt, ctx) -> list[ast.stmt]:
    """The statements after ``node`` in its block, and after each ``if`` it is the ``else``
    of (an ``elif`` with no ``else`` falls through to what follows the whole chain)."""
    place = _place_of(node, ctx)
    if place is None:
        return []
    holder, block = place
    following = block[[id(s) for s in block].index(id(node)) + 1:]
    if not following and isinstance(holder, ast.If) and holder.orelse is block:
        return _after(holder, ctx)
    return following


def _chain(stmts: list[ast.stmt], rest: list[ast.stmt], depth: int) -> ast.expr | None:
    """The value ``stmts`` return, read as nested wheres: a ``return``, or an ``if`` whose body
    returns and whose false side (its ``else``, else what follows) does."""
    if not stmts:
        return _chain(rest, [], depth) if rest and depth else None
    first = stmts[0]
    if isinstance(first, ast.Return):
        return first.value
    if isinstance(first, ast.If) and depth:
        taken = _returned(first.body)
        other = _chain(first.orelse, [*stmts[1:], *rest], depth - 1) if first.orelse \
            else _chain(stmts[1:], rest, depth - 1)
        if taken is None or other is None:
            return None
        return _where(first.test, taken, other)
    return None


def _place_of(node: ast.stmt, ctx) -> tuple[ast.AST, list[ast.stmt]] | None:
    """The statement (or function) holding ``node``, and the statement list it is in."""
    for holder in ast.walk(ctx.fn):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(holder, field, None)
            if isinstance(block, list) and any(s is node for s in block):
                return holder, block
    return None
