"""A call of a straight-line helper of this file, read as the expression it returns.

``joins`` judges whether a returned value is smooth where a comparison flips by evaluating it;
a helper it calls is otherwise an opaque number. d3rlpy and QR-DQN ports write the quantile
Huber loss as ``(taus - (u.detach() < 0).float()).abs() * huber(u, kappa)`` with
``def huber(td, kappa): abs_td = td.abs(); return where(abs_td <= kappa, ...)`` beside it: the
product is C1 at ``u == 0`` only if the evaluator sees that ``huber`` is quadratic there.

Only helpers whose body is assignments to plain names followed by one ``return`` are inlined
(no branch, loop or closure reads the evaluator would have to choose between), with every
parameter bound by the call or a default; the result is a copy of the returned expression with
the parameters replaced by the caller's own argument nodes (so what reaches those is still read
in the caller) and the helper's locals by their values.
"""

from __future__ import annotations

import ast
import copy

from kinkcheck.syntax import dotted

#: decorators that leave a function's body what runs
_PLAIN_DECORATORS = frozenset({"staticmethod", "classmethod"})


def inlined(call: ast.Call, ctx) -> ast.expr | None:
    """The expression ``call`` returns, written in the caller's terms, else None; worked out
    once per call of the file (the evaluator builds several expressions around one call)."""
    memo = ctx.fa.__dict__.setdefault("_inlined_calls", {})
    key = id(call)
    if key not in memo:
        memo[key] = (call, _inlined(call, ctx))  # the call is kept so its id is not reused
    return memo[key][1]


def _inlined(call: ast.Call, ctx) -> ast.expr | None:
    from kinkcheck.lint.call_sites import _nested_in_function, caller_context, is_method
    from kinkcheck.lint.ranges_returned import own_function

    qual = own_function(call, ctx)
    if qual is None or qual == ctx.qualname or any(isinstance(a, ast.Starred) for a in call.args) \
            or any(k.arg is None for k in call.keywords):
        return None
    entry = ctx.fa.ix.scopes[qual]
    fn = entry[0]
    if any((dotted(d) or "") not in _PLAIN_DECORATORS for d in fn.decorator_list) or _nested_in_function(ctx.fa, qual):
        return None
    body = _straight_line(fn.body)
    if body is None:
        return None
    callee = caller_context(ctx.fa, qual, entry)
    bound = _bind(fn.args, call, is_method(callee))
    if bound is None:
        return None
    *assigns, ret = body
    for stmt in assigns:
        assert isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)
        bound[stmt.targets[0].id] = _substitute(stmt.value, bound)
    assert isinstance(ret, ast.Return) and ret.value is not None
    return _substitute(ret.value, bound)


def _straight_line(body: list[ast.stmt]) -> list[ast.stmt] | None:
    """The assignments and the final return of ``body`` (a docstring dropped), else None."""
    stmts = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if not stmts or not isinstance(stmts[-1], ast.Return) or stmts[-1].value is None:
        return None
    if not all(isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)
               for s in stmts[:-1]):
        return None
    if any(isinstance(n, (ast.Lambda, ast.NamedExpr, ast.comprehension, ast.Yield, ast.YieldFrom, ast.Await))
           for s in stmts for n in ast.walk(s)):
        return None
    return stmts


def _bind(args: ast.arguments, call: ast.Call, method: bool) -> dict[str, ast.expr] | None:
    """Each parameter's value at ``call``: the argument passed, else the default; None where
    one is missing or the helper takes ``*args``/``**kwargs``."""
    if args.vararg is not None or args.kwarg is not None:
        return None
    positional = [*args.posonlyargs, *args.args]
    if method:
        positional = positional[1:]
    defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults):], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    if len(call.args) > len(positional):
        return None
    bound: dict[str, ast.expr] = {p.arg: a for p, a in zip(positional, call.args)}
    names = {p.arg for p in (*positional, *args.kwonlyargs)}
    for k in call.keywords:
        if k.arg not in names or k.arg in bound:
            return None
        bound[k.arg] = k.value
    for name in names - set(bound):
        if name not in defaults:
            return None
        bound[name] = copy.deepcopy(defaults[name])
    return bound


def _substitute(node: ast.expr, bound: dict[str, ast.expr]) -> ast.expr:
    """A copy of ``node`` with the names in ``bound`` replaced by their values (shared, not
    copied: an argument stays the caller's node)."""

    class _Replace(ast.NodeTransformer):
        def visit_Name(self, name: ast.Name) -> ast.AST:
            return bound.get(name.id, name) if isinstance(name.ctx, ast.Load) else name

    return _Replace().visit(copy.deepcopy(node))
