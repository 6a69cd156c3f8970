"""What the statements under a branch change: a branch that only reports (a warning, a log
line) or only records on ``self`` (metrics, next step's coefficient) leaves the value the
function computes the same whichever path is taken, so it is no branch point of the loss."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context


def reports(statement: ast.stmt, ctx: "Context") -> bool:
    """``warnings.warn(...)``, ``logger.warning(...)``, ``print(...)``: a statement that only
    reports (``severing.logging_call``; not ``np.log(x, out=y)``)."""
    from kinkcheck.lint.severing import logging_call

    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call) \
        and logging_call(statement.value, ctx)


def records_only(node: ast.If, ctx: "Context") -> bool:
    """Every statement of the branch (and of its ``else``) reports, or records on ``self``
    what the function reads again only to record more (``self._metrics[mode]["rewards"].append(r
    / n)``; ``self.entropy_coef = ...`` for the next step): what this call computes is the same
    whichever path is taken."""
    written: set[str] = set()
    for stmt in (*node.body, *node.orelse):
        if reports(stmt, ctx):
            continue
        attr = _recorded(stmt)
        if attr is None:
            return False
        written.add(attr)
    return not _read_again(written, getattr(node, "end_lineno", 0) or 0, ctx)


def records_on_self(stmt: ast.AST, ctx: "Context") -> bool:
    """``stmt`` records on ``self`` what the function reads again only to record more
    (``self.last_loss = loss.detach().item()``)."""
    attr = _recorded(stmt)
    return attr is not None and not _read_again({attr}, getattr(stmt, "end_lineno", 0) or 0, ctx)


def _read_again(written: set[str], end: int, ctx: "Context") -> bool:
    """Some attribute of ``self`` in ``written`` may be read again in this call other than to
    record more: loaded after line ``end``, or anywhere in a loop around it (the next pass
    reads it), or by a method of ``self`` called after it (``return self._hinge(p, n)``)."""
    loop = _enclosing_loop(end, ctx)
    start = getattr(loop, "lineno", end + 1) if loop is not None else end + 1
    for n in ast.walk(ctx.fn):
        line = getattr(n, "lineno", 0) or 0
        if line < start or loop is None and line <= end:
            continue
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name) \
                and n.func.value.id == "self" and line > end and n.func.attr not in _REPORTING_METHODS:
            return True  # a method of the object may read what was recorded
        if isinstance(n, ast.Attribute) and n.attr in written and isinstance(n.ctx, ast.Load) \
                and isinstance(n.value, ast.Name) and n.value.id == "self":
            reader = ctx.parent(n)
            while reader is not None and not isinstance(reader, ast.stmt):
                reader = ctx.parent(reader)
            if reader is None or _recorded(reader) is None:
                return True
    return False


#: methods of a module that only report (Lightning's ``self.log``)
_REPORTING_METHODS = frozenset({"log", "log_dict", "print"})


def _enclosing_loop(line: int, ctx: "Context") -> ast.AST | None:
    """The innermost ``for``/``while`` of the function whose body spans ``line``."""
    found = None
    for n in ast.walk(ctx.fn):
        if isinstance(n, (ast.For, ast.AsyncFor, ast.While)) and n is not ctx.fn \
                and n.lineno <= line <= (getattr(n, "end_lineno", 0) or 0):
            if found is None or n.lineno >= found.lineno:
                found = n
    return found


def _recorded(stmt: ast.AST) -> str | None:
    """The attribute of ``self`` that ``stmt`` only records into (``self.m[k].append(v)``,
    ``self.coef = v``), else None."""
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute) \
            and stmt.value.func.attr in ("append", "extend", "update", "add"):
        target: ast.AST = stmt.value.func.value
    elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
    elif isinstance(stmt, ast.AugAssign):
        target = stmt.target
    else:
        return None
    while isinstance(target, ast.Subscript):
        target = target.value
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
        return target.attr
    return None
