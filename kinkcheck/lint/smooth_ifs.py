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

#: how many ``elif`` arms are followed into the value of the branch not taken
_ELIF_DEPTH = 4


def if_is_smooth(node: ast.AST, ctx) -> bool:
    """``node`` (an ``if`` statement or a conditional expression) picks between two values
    that join smoothly where its test flips."""
    from kinkcheck.lint.joins import where_is_smooth

    taken: ast.expr | None
    other: ast.expr | None
    if isinstance(node, ast.IfExp):
        taken, other = node.body, node.orelse
    elif isinstance(node, ast.If):
        taken = _returned(node.body)
        other = _other_value(node, ctx, _ELIF_DEPTH)
    else:
        return False
    if taken is None or other is None or _reduces(taken, ctx) or _reduces(other, ctx):
        return False
    fake = ast.Call(func=ast.Name(id="where", ctx=ast.Load()), args=[node.test, taken, other], keywords=[])
    return where_is_smooth(fake, node.test, ctx)


#: reductions, which the evaluator reads as the identity: `d.mean() if c else d.sum()` would
#: read as one value
_REDUCTIONS = frozenset({"sum", "mean", "nansum", "nanmean", "prod", "logsumexp", "norm"})


def _reduces(value: ast.AST, ctx, depth: int = 2) -> bool:
    """``value`` (or a name it reads, bound once in the function) reduces an array."""
    for n in ast.walk(value):
        if isinstance(n, ast.Call) and isinstance(n.func, (ast.Attribute, ast.Name)) \
                and (n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id) in _REDUCTIONS:
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


def _other_value(node: ast.If, ctx, depth: int) -> ast.expr | None:
    """What the function returns when the test of ``node`` is false: its ``else`` block's
    return, an ``elif`` chain read as nested wheres, or (no ``else``) what the statements
    after it return (``if z <= t: return t - z`` then ``return 0.0``; a chain of early
    returns ``if a: return x`` / ``if b: return y`` / ``return w``)."""
    if node.orelse:
        return _chain(node.orelse, _after(node, ctx), depth)
    return _chain(_after(node, ctx), [], depth)


def _after(node: ast.stmt, ctx) -> list[ast.stmt]:
    """The statements after ``node`` in its block, and after each ``if`` it is the ``else``
    of (an ``elif`` with no ``else`` falls through to what follows the whole chain)."""
    block = _block_of(node, ctx)
    if block is None:
        return []
    following = block[[id(s) for s in block].index(id(node)) + 1:]
    holder = _holder_of(block, ctx)
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
        return ast.Call(func=ast.Name(id="where", ctx=ast.Load()), args=[first.test, taken, other], keywords=[])
    return None


def _block_of(node: ast.stmt, ctx) -> list[ast.stmt] | None:
    """The statement list of the function that holds ``node``."""
    for holder in ast.walk(ctx.fn):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(holder, field, None)
            if isinstance(block, list) and any(s is node for s in block):
                return block
    return None


def _holder_of(block: list[ast.stmt], ctx) -> ast.AST | None:
    """The statement whose field ``block`` is."""
    for holder in ast.walk(ctx.fn):
        if any(getattr(holder, field, None) is block for field in ("body", "orelse", "finalbody")):
            return holder
    return None
