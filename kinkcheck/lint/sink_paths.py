"""Where a value goes on its way out of a function: the one returned expression every path of
it ends in (``returned_sink``), whether every path enters a given expression
(``flows_only_into``), and the finiteness guards those paths may pass (``where(isfinite(x),
x, fallback)``). A value returned beside the loss (``return loss, aux`` of a ``has_aux``
function, a detached statistic) leaves the loss there: ``ASIDE``.
"""

from __future__ import annotations

import ast
import re

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint import flow, sinks
from kinkcheck.syntax import callee_tail

#: how many names a value is followed through on its way to the return (``huber = a + b``,
#: ``weighted = w * huber``, ``loss = weighted.sum(2)``, ``loss = loss.mean(1)``)
NAME_HOPS = 6


def returned_sink(node: ast.AST, ctx, depth: int = 0) -> ast.AST | None:
    """The returned expression every path of the value at ``node`` ends in (through arithmetic
    and names assigned once), or None."""
    child, parent = node, ctx.parent(node)
    for _ in range(60):
        if parent is None:
            return None
        if isinstance(parent, ast.Return):
            return child
        if _returned_aside(child, parent, ctx):
            return ASIDE
        if isinstance(parent, ast.Tuple) and isinstance(ctx.parent(parent), ast.Return):
            return child  # `return loss, aux`: the loss half
        if finite_guarded(parent, ctx) and any(child is a for a in parent.args[1:]):
            # `where(isfinite(x), stable_formula, inf)`: on the lanes it selects the branch is the
            # value, and a finiteness test never switches at a finite kink
            return child if returned_sink(parent, ctx, depth) is not None else None
        if isinstance(parent, ast.Call) and parent.args and parent.args[0] is child \
                and _REDUCER_RE.search(callee_tail(parent.func) or "") \
                and returned_sink(parent, ctx, depth) is parent:
            return child  # `return _mean_with_weights(loss, w)`: a weighted mean is linear in the loss
        if isinstance(parent, (ast.BinOp, ast.UnaryOp, ast.Call, ast.Attribute, ast.keyword)):
            child, parent = parent, ctx.parent(parent)
            continue
        target = _assigned_name(parent, child) if depth < NAME_HOPS else None
        if target is not None:
            uses = sinks.uses_of(target, parent, ctx)
            found = [f for f in (returned_sink(u, ctx, depth + 1) for u in uses) if f is not ASIDE]
            if not found or any(f is None for f in found) or len({id(f) for f in found}) != 1:
                return None
            return found[0]
        return None
    return None


#: helpers named for a (weighted) reduction: linear in the values they are handed first
_REDUCER_RE = lazy_pattern(r"(^|_)(mean|sum|average|reduce|reduction)(_|$)", re.IGNORECASE)

#: what ``returned_sink`` says of a value only returned beside the loss
ASIDE = ast.Constant(value=None)


def _returned_aside(child: ast.AST, parent: ast.AST, ctx) -> bool:
    """``child`` is an element of a returned tuple that is not a loss value (the aux of a
    ``has_aux`` function, a detached statistic): nothing differentiates it."""
    return isinstance(parent, ast.Tuple) and isinstance(ctx.parent(parent), ast.Return) \
        and not any(child is v for v in flow.loss_values(ctx))


def finite_guarded(node: ast.AST, ctx) -> bool:
    """``where(isfinite(x), x, fallback)``: a value replaced only where it is not finite."""
    return isinstance(node, ast.Call) and callee_tail(node.func) == "where" and len(node.args) == 3 \
        and _finite_test(node.args[0], ctx)


def _finite_test(node: ast.AST, ctx=None, depth: int = 2) -> bool:
    """``isfinite(x)``, ``~jnp.isnan(x)``, ``logical_not(isinf(x))``, or a name bound to one."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Invert, ast.Not)):
        return _finite_test(node.operand, ctx, depth)
    if isinstance(node, ast.Call) and callee_tail(node.func) == "logical_not" and node.args:
        return _finite_test(node.args[0], ctx, depth)
    if isinstance(node, ast.Name) and ctx is not None and depth:
        from kinkcheck.lint.guards import _reaching_value

        value = _reaching_value(node, ctx)
        return value is not None and _finite_test(value, ctx, depth - 1)
    return isinstance(node, ast.Call) and callee_tail(node.func) in ("isfinite", "isnan", "isinf", "isposinf", "isneginf")


def _assigned_name(stmt: ast.AST, child: ast.AST) -> str | None:
    """The one name ``child`` is assigned to by ``stmt``: ``x = child``, or ``x *= child``
    (which binds ``x * child``)."""
    if isinstance(stmt, ast.Assign) and stmt.value is child and len(stmt.targets) == 1 \
            and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id
    if isinstance(stmt, ast.AugAssign) and stmt.value is child and isinstance(stmt.target, ast.Name):
        return stmt.target.id
    return None


def flows_only_into(node: ast.AST, sink: ast.AST, ctx, depth: int = 0) -> bool:
    """Every path the value at ``node`` takes (through arithmetic and names) enters ``sink``."""
    if node is sink:
        return True  # `result = ...; return result`: the returned name is the sink
    child, parent = node, ctx.parent(node)
    for _ in range(60):
        if parent is None:
            return False
        if parent is sink or _returned_aside(child, parent, ctx):
            return True  # into the sink, or out of the loss beside it
        if isinstance(parent, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.Attribute, ast.keyword)):
            child, parent = parent, ctx.parent(parent)
            continue
        target = _assigned_name(parent, child) if depth < NAME_HOPS else None
        if target is not None:
            uses = sinks.uses_of(target, parent, ctx)
            return bool(uses) and all(flows_only_into(u, sink, ctx, depth + 1) for u in uses)
        return False
    return False


#: what takes a value out of the graph where it is used
_DETACHING = frozenset({"stop_gradient", "detach", "detach_"})


def detached_only(node: ast.AST, ctx, depth: int = 0, chosen: bool = False) -> bool:
    """Every path the value at ``node`` takes picks or weighs another value (an index into it,
    a ``take_along_axis``/``gather``, arithmetic with it) and then enters a ``stop_gradient``/
    ``.detach()``: it builds a target on purpose (double DQN's ``next_actions = argmax(q(params,
    s'))`` picking the target network's values, then ``q_taken - stop_gradient(target)``), so a
    step of it is no step of the loss. A mask or an index detached itself (``keep = (ce >
    t).float().detach()``, ``pseudo = logits.argmax(1).detach()``) still selects or weighs what
    is trained, and so does an index computed under ``no_grad``."""
    child, parent = node, ctx.parent(node)
    for _ in range(60):
        if parent is None:
            return False
        detaching = isinstance(parent, ast.Call) and child in parent.args and callee_tail(parent.func) in _DETACHING \
            or isinstance(parent, ast.Attribute) and parent.value is child and parent.attr in _DETACHING
        if detaching:
            return chosen  # `jax.lax.stop_gradient(target)`
        if isinstance(parent, ast.Subscript) and parent.slice is child \
                or isinstance(parent, ast.Call) and callee_tail(parent.func) in _PICKING and child is not parent.func \
                and parent.args and child is not parent.args[0] \
                or isinstance(parent, ast.BinOp) and not isinstance(parent.left if parent.right is child else parent.right,
                                                                    ast.Constant):
            chosen = True  # `q_target[idx]`, `take_along_axis(q_target, idx, -1)`, `r + gamma * v`
        if isinstance(parent, (ast.BinOp, ast.UnaryOp, ast.Call, ast.Attribute, ast.keyword, ast.Subscript, ast.Slice,
                               ast.Tuple)) and not isinstance(ctx.parent(parent), ast.Return):
            child, parent = parent, ctx.parent(parent)
            continue
        target = _assigned_name(parent, child) if depth < NAME_HOPS else None
        if target is not None:
            uses = sinks.uses_of(target, parent, ctx)
            return bool(uses) and all(detached_only(u, ctx, depth + 1, chosen) for u in uses)
        return False
    return False


#: calls that pick elements of their first argument at the positions they are handed
_PICKING = frozenset({"take_along_axis", "take", "gather", "index_select"})
