"""Ranges of a JAX loop's carry: the body of ``lax.scan``, ``lax.fori_loop`` or
``lax.while_loop`` receives the initial value first and then what it returned itself, so its
carry parameter has the initial value's range when the body keeps that range (induction):
Sinkhorn's ``p = p / p.sum(0)`` started from ``jnp.exp(x)`` stays > 0. ``ranges._param`` asks
``carry_range`` for a parameter nothing in the file passes explicitly.
"""

from __future__ import annotations

import ast
import contextvars

from kinkcheck.lint.ranges import ANY, BOTTOM, MAX_DEPTH, _range_of, join

#: loop primitive -> (index of the body function, index of the initial carry, the carry's
#: position among the body's parameters)
_LOOPS: dict[str, tuple[int, int, int]] = {"scan": (0, 1, 0), "fori_loop": (2, 3, 1), "while_loop": (1, 2, 0)}
#: loops inside loops worked out at once, at most
_NESTING = 2
#: (function, parameter) -> the range assumed for the carry while its body is checked
_ASSUMED: contextvars.ContextVar[dict[tuple[str, str], str]] = contextvars.ContextVar(
    "kinkcheck_range_carry", default={})


def carry_range(name: str, ctx, depth: int) -> str | None:
    """The range of the carry parameter ``name`` of a loop body (None: not a loop's carry)."""
    key = (getattr(ctx, "qualname", ""), name)
    assumed = _ASSUMED.get()
    if key in assumed:
        return assumed[key]
    found = _loop_call(ctx) if depth > 1 and len(assumed) < _NESTING and hasattr(ctx, "fa") else None
    if found is None:
        return None
    caller, call, kind = found
    _, init_at, carry_at = _LOOPS[kind]
    fn = ctx.fn
    params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
    if len(params) <= carry_at or params[carry_at] != name or len(call.args) <= init_at:
        return None
    r_init = _range_of(call.args[init_at], caller, depth - 1)
    if r_init in (ANY, BOTTOM):
        return ANY
    from kinkcheck.lint import call_sites, flow

    entry = ctx.fa.ix.scopes.get(ctx.qualname)
    if entry is None:
        return ANY
    fresh = call_sites.linked_context(ctx.fa, ctx.qualname, entry)
    token = _ASSUMED.set({**assumed, key: r_init})
    try:
        outs = [_carried(r.value, kind) for r in flow._returns(fresh)]
        # the body is worked out afresh (its own memo and depth): what it returns given the carry
        r_out = join(*(_range_of(o, fresh, MAX_DEPTH) if o is not None else ANY for o in outs)) if outs else ANY
    finally:
        _ASSUMED.reset(token)
    return r_init if join(r_init, r_out) == r_init else ANY


def _carried(value: ast.AST | None, kind: str) -> ast.AST | None:
    """The new carry in what the body returns: ``(carry, y)`` for ``scan``."""
    if kind != "scan":
        return value
    return value.elts[0] if isinstance(value, ast.Tuple) and len(value.elts) == 2 else None


def _loop_call(ctx):
    """``(caller context, call, kind)`` for the one loop call in the enclosing function that
    runs the function ``ctx`` describes as its body."""
    from kinkcheck.lint import call_sites
    from kinkcheck.lint.kinds import _enclosing
    from kinkcheck.lint.sinks import _callee
    from kinkcheck.lint.walk import walk_local

    fn = ctx.fn
    outer = _enclosing(ctx)
    if outer is None or not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    hits = []
    for node in walk_local(outer.fn):
        if not isinstance(node, ast.Call):
            continue
        tail = _callee(node)
        spec = _LOOPS.get(tail)
        if spec is None or len(node.args) <= spec[0]:
            continue
        body = node.args[spec[0]]
        if isinstance(body, ast.Name) and body.id == fn.name:
            hits.append((node, tail))
    if len(hits) != 1:
        return None
    return call_sites.linked_once(outer), hits[0][0], hits[0][1]
