"""Value kinds across calls (:mod:`kinkcheck.lint.kinds` asks these): what a method of the
class returns given what a call hands it, what a function handed only data returns, whether
``self.<attr>`` holds a plain function, and what every caller in the file passes for a
parameter. Followed at most two calls deep (``_ACROSS``), so a chain of helpers costs a
bounded amount of work."""

from __future__ import annotations

import ast
import contextvars
from typing import TYPE_CHECKING

from kinkcheck.lint.bindings import init_parameters
from kinkcheck.lint.kinds import _CYCLE
from kinkcheck.lint.resolve import ARRAY_ROOTS, DATA, PLAIN, TENSOR, UNKNOWN, annotation_kind, callable_annotation, dotted, join
from kinkcheck.syntax import call_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: how many calls deep the kinds are being followed (at most two)
_ACROSS = contextvars.ContextVar("kinkcheck_kind_across_calls", default=0)


def _method_kind(ctx: "Context", name: str, call: ast.Call | None = None) -> str | None:
    """DATA or PLAIN when every value the method ``self.<name>`` of this class returns is
    data or a plain value, given what ``call`` hands it where that is data or plain
    (memoized per file and argument kinds); None otherwise."""
    cls = ctx.self_class()
    return _static_kind(ctx, cls, name, call) if cls is not None else None


def _static_kind(ctx: "Context", cls: str, name: str, call: ast.Call | None) -> str | None:
    """:func:`returned_kind` of the method ``cls.<name>`` of this file when no decorator but
    ``staticmethod`` or ``classmethod`` wraps it (a wrapper may return anything); None otherwise."""
    entry = ctx.fa.ix.scopes.get(f"{cls}.{name}")
    if entry is None or not all(dotted(d) in ("staticmethod", "classmethod") for d in _decorators(entry[0])):
        return None
    return returned_kind(ctx, f"{cls}.{name}", call)


def class_call_kind(ctx: "Context", call: ast.Call) -> str | None:
    """``MixITLoss.loss_set(est, targets)``, ``cls.loss_set(...)``: a method called through a
    class this file defines returns what the method returns (a static or class method: DATA
    or PLAIN as :func:`returned_kind` finds it, else UNKNOWN). None when the receiver is no
    such class: the class name itself is a plain value, what its methods return need not be."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
        return None
    if func.value.id == "cls" and "cls" in ctx.params:
        cls = ctx.self_class()
    else:
        q = ctx.qualify(func.value)
        cls = q if q is not None and ctx.how == "def" and q in ctx.fa.ix.classes else None
    if cls is None:
        return None
    return _static_kind(ctx, cls, func.attr, call) or UNKNOWN


def function_kind(ctx: "Context", qual: str, call: ast.Call) -> str | None:
    """:func:`returned_kind` of a function the file defines, called by name
    (``_searchsorted(times, grid)`` that returns ``torch.searchsorted(...)``: integer positions).
    Only where an autodiff framework is imported: in plain numpy code the weights a hand-written
    fit updates start as data too (``w = np.zeros(d)``), so where a value comes from cannot
    tell the fitted values from the data."""
    if not ctx.imports_framework():
        return None
    entry = ctx.fa.ix.scopes.get(qual)
    if entry is None or entry[2] is not None or _decorators(entry[0]):
        return None  # a method, or a decorated function (a wrapper may return anything)
    return returned_kind(ctx, qual, call)


def _decorators(fn: ast.AST) -> list[ast.expr]:
    return fn.decorator_list if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) else []


def returned_item_kind(ctx: "Context", call: ast.Call, item: int) -> str | None:
    """DATA or PLAIN when the ``item``-th value of every tuple a function or method of this
    file returns is (``B, N, M, D, x = self.check_shapes(x, y)``: the sizes are numbers)."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
        cls = ctx.self_class()
        qual = f"{cls}.{func.attr}" if cls else None
    elif isinstance(func, ast.Name) and ctx.imports_framework():
        qual = ctx.qualify(func)
        entry = ctx.fa.ix.scopes.get(qual) if qual else None
        qual = qual if entry is not None and entry[2] is None and not _decorators(entry[0]) else None
    else:
        qual = None
    return returned_kind(ctx, qual, call, item) if qual else None


def returned_kind(ctx: "Context", qual: str, call: ast.Call | None, item: int | None = None) -> str | None:
    """DATA or PLAIN when every value the function ``qual`` of this file returns is data or a
    plain value, given what ``call`` hands it where that is data or plain (memoized per file
    and argument kinds); None otherwise. With ``item``, the values are that item of the
    tuples it returns (every return must be a tuple that long)."""
    from kinkcheck.lint import call_sites, flow
    from kinkcheck.lint.context import Context

    entry = ctx.fa.ix.scopes.get(qual)
    if entry is None or not isinstance(entry[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    callee = Context(ctx.fa, qual, *entry)
    seeded: dict[str, str] = {}
    if call is not None and _ACROSS.get() < 2:
        for param in callee.params:
            value = call_sites.passed(param, call, callee)
            kind = ctx.kind(value) if value is not None else None
            if kind in (PLAIN, DATA) and param not in callee.assignments():
                seeded[param] = kind  # `self.sim_matrix(guide_a, guide_b)`: data goes in
    memo = ctx.fa.__dict__.setdefault("_method_kinds", {})
    key = (qual, tuple(sorted(seeded.items())), item)
    if key in memo:
        return memo[key]
    memo[key] = None  # recursion: unknown while it is being worked out
    found = None
    token = _ACROSS.set(_ACROSS.get() + 1)
    try:
        callee._kinds.update(seeded)
        returns = flow._returns(call_sites.link_parents(callee))
        values = [r.value for r in returns if r.value is not None]
        if item is not None:
            values = [v.elts[item] for v in values if isinstance(v, ast.Tuple) and len(v.elts) > item
                      and not any(isinstance(e, ast.Starred) for e in v.elts)]
            if len(values) != len(returns):
                values = []
        if values:
            kinds = {callee.kind(v) for v in values}
            if kinds and kinds <= {PLAIN, DATA}:
                found = join(*kinds)
            elif kinds and TENSOR not in kinds and not ctx.fa.jax and annotation_kind(entry[0].returns) == PLAIN:
                found = PLAIN  # `def decay(self, x) -> float`: a schedule's number (under jax.grad a tracer)
    finally:
        _ACROSS.reset(token)
    memo[key] = found
    return found


def _function_of_data(ctx: "Context", call: ast.Call, *, cycle: bool) -> str | None:
    """DATA when a function (not a module: that has parameters) is handed data and plain
    values only, at least one of them data; with ``cycle`` a name's own earlier value
    (``g = _gather(g)``) is neutral (_CYCLE when nothing else goes in)."""
    handed = [*call.args, *(kw.value for kw in call.keywords)]
    if any(function_value(ctx, a) for a in handed):
        return None  # `sdf_value_and_gradient(sdf_fn, x)`: what the function closes over goes in too
    inputs = {ctx.kind(a) for a in handed}
    neutral = {_CYCLE} if cycle else set()
    if inputs - neutral <= {PLAIN, DATA} and inputs & ({DATA} | neutral):
        return DATA if DATA in inputs else _CYCLE
    return None


def function_value(ctx: "Context", node: ast.AST, *, named: bool = False) -> bool:
    """A function handed on: a lambda, or a parameter annotated ``Callable`` (JAX code hands
    around ``lambda p: net.apply(params, p)``, which carries the parameters it closes over);
    with ``named``, also a function named by its ``def`` or import (``jac(net_fn, x)``) and a
    ``partial(...)`` of one."""
    if isinstance(node, ast.Lambda):
        return True
    if named and isinstance(node, ast.Call) and call_tail(node) == "partial":
        return True
    if not isinstance(node, ast.Name):
        return False
    if named and node.id not in ctx.params:
        q = ctx.qualify(node)
        if q is not None and ctx.how in ("def", "import") and q.rsplit(".", 1)[-1][:1].islower():
            return True
    if not isinstance(ctx.fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    args = ctx.fn.args
    return any(a.arg == node.id and callable_annotation(a.annotation)
               for a in (*args.posonlyargs, *args.args, *args.kwonlyargs))


#: wrappers that call the function handed to them on the arguments of the call they return
#: (``jax.vmap(norm)(targets)``, ``f = jnp.vectorize(norm, signature=...)``); ``partial`` binds
#: some of them first
_CALLS_THROUGH = frozenset({"jax.vmap", "jax.jit", "jax.pmap", "jax.checkpoint", "jax.remat", "torch.vmap",
                            "torch.func.vmap", "torch.compile", "jax.numpy.vectorize", "numpy.vectorize",
                            "equinox.filter_jit", "equinox.filter_vmap", "functools.partial"})


def wrapped_function_kind(ctx: Context, call: ast.Call) -> str | None:
    """DATA when ``call`` runs a plain function through a wrapper (``jax.vmap(safe_norm)(t)``,
    or ``f = functools.partial(safe_norm, eps=0.0)`` then ``f(t)``) and hands it data and plain
    values only: the wrapper maps, compiles or binds; what goes in decides, as for a direct call."""
    func: ast.AST = call.func
    if isinstance(func, ast.Name) and func.id not in ctx.params:
        values = ctx.assignments().get(func.id, [])
        func = values[0] if len(values) == 1 else func  # bound once in this function
    inputs: list[ast.expr] = [*call.args, *(kw.value for kw in call.keywords)]
    for _ in range(3):  # `jax.jit(jax.vmap(f))`
        wrapper = ctx.qualify(func.func) if isinstance(func, ast.Call) and func.args else None
        if wrapper not in _CALLS_THROUGH:
            return None
        assert isinstance(func, ast.Call)
        if wrapper == "functools.partial":
            inputs += [*func.args[1:], *(kw.value for kw in func.keywords)]
        func = func.args[0]
        if isinstance(func, ast.Name):  # (`nets.encoder` may be a network, as called directly)
            q = ctx.qualify(func)
            if q is None or ctx.how not in ("import", "def") or not _plain_function(ctx, q, ctx.how) \
                    or closure(ctx, q):
                return None
            kinds = {ctx.kind(a) for a in inputs}
            return DATA if inputs and kinds <= {PLAIN, DATA} and DATA in kinds else None
    return None


def _stored_function(ctx: "Context", attr: str) -> bool:
    """``self.<attr>`` holds a plain function: ``self.fn = util.cos_sim``, a lambda, or an
    ``__init__`` parameter whose default is one (a module built from a call has parameters)."""
    values = ctx.fa.self_assigns().get(attr, [])

    def function_ref(v: ast.AST | None) -> bool:
        if isinstance(v, ast.Lambda):
            return True
        text = (dotted(v) if v is not None else None) or ""
        return text.rsplit(".", 1)[-1].lstrip("_")[:1].islower() and text.split(".")[0] != "self"

    def plain(v: ast.AST) -> bool:
        if isinstance(v, ast.Name):
            defaults = [d for _a, d in init_parameters(ctx.fa, v.id)]
            if defaults:
                return all(function_ref(d) for d in defaults)
        return function_ref(v)

    return bool(values) and all(plain(v) for v in values)


def _internal(ctx: "Context") -> bool:
    """A method or a private helper: its callers in the file are all its callers (a public,
    loss-named function is also called by code elsewhere)."""
    from kinkcheck.lint.roots import LOSS_NAME_RE

    last = ctx.qualname.rsplit(".", 1)[-1]
    return (ctx.cls_qual is not None or last.startswith("_")) and not LOSS_NAME_RE.search(last) \
        and last not in ("forward", "__call__")


def _plain_function(ctx: "Context", q: str, how: str | None) -> bool:
    """``q`` names a function (not a class: a module built from data still has parameters)."""
    if how == "def":
        return q in ctx.fa.ix.functions
    return q.rsplit(".", 1)[-1][:1].islower() and q.split(".")[0] not in ARRAY_ROOTS


def closure(ctx: Context, q: str) -> bool:
    """``q`` is defined inside a function: ``def apply(x): return x @ params`` computes with
    what it reads there too, not only with what it is handed."""
    return q in ctx.fa.ix.functions and q.rsplit(".", 1)[0] in ctx.fa.ix.functions


def passed_kinds(ctx: "Context", name: str) -> set[str] | None:
    """The kinds of what the calls of this function in the file pass for parameter ``name``;
    None when no call is known (or one passes nothing for it). Followed at most two calls up."""
    if _ACROSS.get() >= 2:
        return None
    from kinkcheck.lint import call_sites

    token = _ACROSS.set(_ACROSS.get() + 1)
    try:
        passed = call_sites.argument_values(name, ctx)
        return {caller.kind(value) for caller, value in passed} if passed else None
    finally:
        _ACROSS.reset(token)


def _passed_kind(ctx: "Context", name: str) -> str | None:
    """DATA or PLAIN when every call of this function in the file passes data (or plain
    values) for parameter ``name``; None when unknown."""
    kinds = passed_kinds(ctx, name)
    if not kinds:
        return None
    if kinds <= {PLAIN}:
        return PLAIN
    if kinds <= {PLAIN, DATA}:
        return DATA
    return None
