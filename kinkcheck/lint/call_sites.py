"""Calls within one file: who calls a function and with what, so that a parameter's facts
can come from its callers (``argument_values``, ``call_sites``, ``passed``) and a callee's
from a context linked to its caller (``linked_context``). Bounded: a handful of call sites,
a few classes deep."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint.bindings import init_parameters
from kinkcheck.lint.callables import SAME_MODULE
from kinkcheck.lint.resolve import dotted
from kinkcheck.syntax import callee_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context


def _call_index(fa) -> dict:
    """key -> [(caller qualname, call)] for every call in the file: ``("name", f)`` for
    ``f(...)``, ``("self", cls, m)`` for ``self.m(...)``, ``("static", cls, m)`` for
    ``C.m(...)`` and ``cls.m(...)``, ``("ctor", C)`` for
    ``self.x(...)`` where ``self.x = C(...)`` (the instance's forward/__call__ runs)."""
    cached = getattr(fa, "_flow_calls", None)
    if cached is not None:
        return cached
    from kinkcheck.lint.walk import walk_local

    ctors: dict[str, set[str]] = {}
    #: `self.cls_criterion = seesaw_ce_loss`: a call of the attribute calls the function
    stored: dict[str, set[str]] = {}
    for attr, values in fa.self_assigns().items():
        for v in values:
            ctors.setdefault(attr, set()).update(_classes_of(v, fa))
            v = _compiled(v) or v  # `self._step = torch.compile(_step)`: still calls _step
            if isinstance(v, ast.Name) and f"{fa.module}.{v.id}" in fa.ix.scopes:
                stored.setdefault(attr, set()).add(v.id)
    out: dict = {}
    for qual, (fn, _env, cls) in fa.ix.scopes.items():
        wrapped = {k: v.id for k, v in _wrapped_names(fa, qual, fn).items()} if fn is not fa.tree else {}
        for node in walk_local(fn):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            inner = _compiled(f)
            if inner is not None:  # `jax.vmap(_pair_loss)(pred, target)`
                out.setdefault(("name", inner.id), []).append((qual, node))
            elif isinstance(f, ast.Name):
                out.setdefault(("name", wrapped.get(f.id, f.id)), []).append((qual, node))
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and (
                    f.value.id == "cls" and cls or f"{fa.module}.{f.value.id}" in fa.ix.classes):
                # `Entmoid15._forward(x)`, `cls._threshold(x)`: a static or class method
                owner = cls if f.value.id == "cls" else f"{fa.module}.{f.value.id}"
                out.setdefault(("static", owner, f.attr), []).append((qual, node))
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "self":
                out.setdefault(("self", cls, f.attr), []).append((qual, node))
                for c in ctors.get(f.attr, ()):
                    out.setdefault(("ctor", c), []).append((qual, node))
                for fname in stored.get(f.attr, ()):
                    out.setdefault(("name", fname), []).append((qual, node))
    fa._flow_calls = out
    return out


def _classes_of(value: ast.AST, fa, depth: int = 0) -> set[str]:
    """Names of the classes an instance bound to a ``self`` attribute may have:
    ``C(...)``, ``C(...).to(device)``, ``scheme or C()``, and an ``__init__`` parameter's
    annotation and default (``scheme: BaseScheme | None = Scheme()``)."""
    v = value
    while isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and isinstance(v.func.value, ast.Call) \
            and v.func.attr in SAME_MODULE:
        v = v.func.value  # `BboxLoss(m.reg_max).to(device)`: still a BboxLoss
    if isinstance(v, ast.Call):
        name = callee_tail(v.func)
        return {name} if name and name[:1].isupper() else set()
    if isinstance(v, ast.BoolOp):
        return {c for x in v.values for c in _classes_of(x, fa, depth)}
    if isinstance(v, ast.IfExp):
        return _classes_of(v.body, fa, depth) | _classes_of(v.orelse, fa, depth)
    if isinstance(v, ast.Name) and depth == 0:
        out: set[str] = set()
        for ann, default in init_parameters(fa, v.id):
            if ann is not None:
                out |= {n.id for n in ast.walk(ann) if isinstance(n, ast.Name) and n.id[:1].isupper()}
                out |= {n.attr for n in ast.walk(ann) if isinstance(n, ast.Attribute) and n.attr[:1].isupper()}
            if default is not None:
                out |= _classes_of(default, fa, depth + 1)
        return out
    return set()


def argument_values(param: str, ctx, limit: int = 8) -> "list[tuple[Context, ast.AST]] | None":
    """What callers in this file pass for ``param`` of the function ``ctx`` describes, each
    with a Context of its caller; None when a caller passes nothing for it (its default), or
    when no caller is known (then anything may come in)."""
    sites = call_sites(ctx, limit)
    if sites is None:
        return None
    out = []
    for caller, call in sites:
        value = passed(param, call, ctx)
        if value is None:
            return None
        out.append((caller, value))
    return out


#: wrappers whose result takes the wrapped function's arguments in the same places (compiled,
#: mapped over a batch axis, rematerialised): calls through them are calls of it
_SAME_ARGUMENTS = frozenset({"compile", "jit", "script", "pjit", "vmap", "pmap", "vectorize", "checkpoint", "remat"})


def _compiled(value: ast.AST) -> ast.Name | None:
    """``f`` of ``torch.compile(f, ...)``, ``jax.jit(f)``, ``torch.jit.script(f)``,
    ``jax.vmap(f)``, ``jnp.vectorize(f, signature=...)``."""
    if isinstance(value, ast.Call) and value.args and isinstance(value.args[0], ast.Name):
        tail = callee_tail(value.func)
        # torch's `checkpoint(f, *args)` calls f there and then; jax's `checkpoint(f)` wraps it
        if tail in _SAME_ARGUMENTS and not (tail in ("checkpoint", "remat") and len(value.args) > 1):
            return value.args[0]
    return None


def _wrapped_names(fa, qual: str, fn: ast.AST) -> dict[str, ast.Name]:
    """Local names of ``fn`` assigned once to a wrapped function and only ever called
    (``fn = jnp.vectorize(_spline_fwd, signature=...)`` then ``fn(x, knots)``): local name ->
    the wrapped name's node (the call index keys calls by name, so only a function of the
    file so named is looked up under it). Memoized per file."""
    memo = fa.__dict__.setdefault("_wrapped_names", {})
    if qual in memo:
        return memo[qual]
    from kinkcheck.lint.walk import walk_local

    bound: dict[str, list[ast.AST | None]] = {}
    called: set[int] = set()
    loads: dict[str, list[ast.Name]] = {}
    for node in walk_local(fn):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    # `a = b = vmap(f)` binds the wrapper twice: not one local name for it
                    bound.setdefault(t.id, []).append(node.value if len(node.targets) == 1 else None)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(id(node.func))
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            loads.setdefault(node.id, []).append(node)
    out: dict[str, ast.Name] = {}
    for name, values in bound.items():
        inner = _compiled(values[0]) if len(values) == 1 and values[0] is not None else None
        uses = loads.get(name, [])
        if inner is not None and uses and all(id(n) in called for n in uses):
            out[name] = inner
    memo[qual] = out
    return out


def used_as_value(ctx) -> bool:
    """The function ``ctx`` describes is named somewhere other than as the callee of a call
    (``map(f, xs)``, ``partial(f, ...)``, ``self.hook = self.f``): it may run from anywhere.
    A method is named through an attribute (``self.loss``); a local variable ``loss`` is
    another value, and so is the attribute of an object that is neither ``self``/``cls`` nor
    an import (``cfg.fuse_trimap`` is a setting, not the function ``fuse_trimap``)."""
    fn = ctx.fn
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return True
    refs = getattr(ctx.fa, "_flow_value_refs", None)
    if refs is None:
        names: set[str] = set()
        attrs: set[str] = set()
        # the names an attribute of which may be a function of the file: self/cls, an import, a class
        owners = {*ctx.fa.ix.table.names, "self", "cls"}
        read_on: list[tuple[str | None, str]] = []  # (the name it is read on, if a name; attribute)
        calls = [n for n in ast.walk(ctx.fa.tree) if isinstance(n, ast.Call)]
        callees = {id(n.func) for n in calls}
        # `self.crit = f` and `self.step = torch.compile(f)`: calls of the attribute are indexed
        stored = [_compiled(v) or v for vs in ctx.fa.self_assigns().values() for v in vs]
        callees |= {id(v) for v in stored if isinstance(v, ast.Name)}
        # `jax.vmap(f)(x)`, and `fn = jnp.vectorize(f)` only ever called: the call index has them
        callees |= {id(inner) for n in calls for inner in (_compiled(n.func),) if inner is not None}
        callees |= {id(inner) for q, (f, _env, _cls) in ctx.fa.ix.scopes.items() if f is not ctx.fa.tree
                    for inner in _wrapped_names(ctx.fa, q, f).values()}
        for n in ast.walk(ctx.fa.tree):
            if isinstance(n, ast.ClassDef):
                owners.add(n.name)
            if id(n) in callees or not isinstance(getattr(n, "ctx", None), ast.Load):
                continue
            if isinstance(n, ast.Name):
                names.add(n.id)
            elif isinstance(n, ast.Attribute):
                attrs.add(n.attr)
                read_on.append((n.value.id if isinstance(n.value, ast.Name) else None, n.attr))
        held = {attr for base, attr in read_on if base is None or base in owners}
        refs = ctx.fa._flow_value_refs = (names, attrs, held)
    names, attrs, held = refs
    if is_method(ctx):
        return fn.name in attrs
    return fn.name in held or fn.name in names


def bases_in_file(fa, cls_qual: str, depth: int = 4) -> list[str]:
    """The classes of this file that ``cls_qual`` derives from, nearest first."""
    return bases_among(fa.ix.classes, cls_qual, depth)


def bases_among(classes: dict[str, tuple[str, ...]], cls_qual: str, depth: int) -> list[str]:
    """The classes of ``classes`` (class -> its bases) that ``cls_qual`` derives from, nearest
    first, at most ``depth`` of them."""
    out: list[str] = []
    todo = list(classes.get(cls_qual, ()))
    while todo and len(out) < depth:
        b = todo.pop(0)
        if b in classes and b not in out and b != cls_qual:
            out.append(b)
            todo += list(classes.get(b, ()))
    return out


def related_classes(fa, cls_qual: str) -> list[str]:
    """``cls_qual``, its bases and its subclasses in the file: the classes whose methods may
    set what ``self.<attr>`` holds in a method of ``cls_qual`` (memoized per file)."""
    cache = fa.__dict__.setdefault("_related_classes", {})
    related = cache.get(cls_qual)
    if related is None:
        related = {cls_qual, *bases_in_file(fa, cls_qual)}
        related |= {c for c in fa.ix.classes if cls_qual in bases_in_file(fa, c)}
        cache[cls_qual] = related
    return sorted(related)


def call_sites(ctx, limit: int = 8) -> "list[tuple[Context, ast.Call]] | None":
    """Every call of the function ``ctx`` describes in this file, with a Context of its
    caller; None when there is none, too many, or one in code no Context describes."""
    fn = ctx.fn
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or used_as_value(ctx):
        return None  # handed on as a value, it is called from places the index cannot see
    if ctx.qualname in ctx.fa.outside_calls:
        return None  # loss code in other files calls it too, with what this file cannot see
    method = is_method(ctx)
    index = _call_index(ctx.fa)
    name = fn.name
    keys: list[tuple] = [("name", name)] if not method else [("self", ctx.cls_qual, name)]
    args = fn.args
    if ctx.cls_qual and [a.arg for a in (*args.posonlyargs, *args.args)][:1] != ["self"]:
        # `Entmoid15._forward(x)` in the class's forward, `cls.build(...)`; an instance method
        # called through its class (`Base.__init__(new, ...)`) is not all its calls
        keys.append(("static", ctx.cls_qual, name))
    if method:
        # an override: the base class's own `self.m(...)` runs it on this class's instances
        keys += [("self", b, name) for b in bases_in_file(ctx.fa, ctx.cls_qual)]
    if method and name in ("forward", "__call__"):
        # `self.scheme(...)` where the attribute holds this class or one it derives from
        keys.append(("ctor", ctx.cls_qual.rsplit(".", 1)[-1]))
        keys += [("ctor", b.rsplit(".", 1)[-1]) for b in ctx.fa.ix.classes.get(ctx.cls_qual, ())
                 if b.rsplit(".", 1)[-1] not in ("Module", "object", "ABC")]
    sites = [s for k in keys for s in index.get(k, ())]
    if not sites or len(sites) > limit:
        return None
    out = []
    for qual, call in sites:
        caller = ctx.fa.ix.scopes.get(qual)
        if caller is None:
            return None
        out.append((caller_context(ctx.fa, qual, caller), call))
    return out


def is_method(ctx) -> bool:
    args = ctx.fn.args
    return bool(ctx.cls_qual) and [a.arg for a in (*args.posonlyargs, *args.args)][:1] in (["self"], ["cls"])


def passed(param: str, call: ast.Call, ctx) -> ast.AST | None:
    """The expression ``call`` passes for ``param`` of the function ``ctx`` describes (None:
    its default, or not knowable through a ``*args``)."""
    args = ctx.fn.args
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    if is_method(ctx):
        positional = positional[1:]
    if param not in positional and param not in [a.arg for a in args.kwonlyargs]:
        return None
    value = next((k.value for k in call.keywords if k.arg == param), None)
    if value is None and param in positional:
        i = positional.index(param)
        if any(isinstance(a, ast.Starred) for a in call.args[: i + 1]):
            return None
        value = call.args[i] if i < len(call.args) else None
    return value


#: decorators that leave a method's body the code that runs and is differentiated
_PLAIN_METHOD_DECORATORS = frozenset({"staticmethod", "classmethod"})


def handed_to(call: ast.Call, arg: ast.AST, ctx) -> "tuple[Context, str] | None":
    """The function or method of this file ``call`` calls (a linked Context of it) and its
    parameter that receives ``arg`` (by position or keyword), where that parameter is all the
    callee sees of the value: None when the callee is not this file's, ``arg`` lands behind
    ``*args``, the callee is decorated (``jax.custom_jvp`` replaces its derivative), is
    nested in a function (it may read the caller's names directly), or a function nested
    in it reads the parameter (out of sight of a walk of the callee's own body)."""
    from kinkcheck.lint.ranges_returned import own_function
    from kinkcheck.lint.walk import walk_local

    qual = own_function(call, ctx)
    if qual is None or any(isinstance(a, ast.Starred) for a in call.args):
        return None
    entry = ctx.fa.ix.scopes[qual]
    fn = entry[0]
    if any((dotted(d) or "") not in _PLAIN_METHOD_DECORATORS for d in getattr(fn, "decorator_list", ())) \
            or _nested_in_function(ctx.fa, qual):
        return None
    callee = caller_context(ctx.fa, qual, entry)
    param = next((p for p in callee.params if passed(p, call, callee) is arg), None)
    if param is None:
        return None
    local_reads = sum(isinstance(n, ast.Name) and n.id == param for n in walk_local(fn))
    all_reads = sum(isinstance(n, ast.Name) and n.id == param for n in ast.walk(fn))
    return (callee, param) if local_reads == all_reads else None


def _nested_in_function(fa, qual: str) -> bool:
    """``qual`` is defined inside a function (a closure), not at module or class level."""
    outer = qual.rpartition(".")[0]
    while outer:
        entry = fa.ix.scopes.get(outer)
        if entry is not None and isinstance(entry[0], (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
        outer = outer.rpartition(".")[0]
    return False


def caller_context(fa, qual: str, caller) -> "Context":
    """A Context of a calling function with its parent links, so what reaches the call
    is read flow-sensitively (``s = s.clamp_min(tiny)`` before ``loss(s)``); memoized."""
    memo = fa.__dict__.setdefault("_caller_contexts", {})
    got = memo.get(qual)
    if got is None:
        got = memo[qual] = linked_context(fa, qual, caller)
    return got


def linked_context(fa, qual: str, entry) -> "Context":
    """A new Context of the function ``entry`` (its scope entry: node, env, class) with the
    parent links flow facts read (the analysis of the function itself links only what it checks)."""
    from kinkcheck.lint.context import Context

    return link_parents(Context(fa, qual, entry[0], entry[1], entry[2]))


def linked_once(ctx):
    """``ctx`` with its parent links filled, once per function of the file: an enclosing
    function's Context (``kinds._enclosing``) is shared by its closures and loop bodies."""
    memo = ctx.fa.__dict__.setdefault("_linked_enclosing", set())
    if ctx.qualname not in memo:
        link_parents(ctx)
        memo.add(ctx.qualname)
    return ctx


def link_parents(ctx):
    """Fill ``ctx.parents`` for the whole function body; returns ``ctx``."""
    from kinkcheck.lint.walk import walk_local

    for node in walk_local(ctx.fn):
        for child in ast.iter_child_nodes(node):
            ctx.parents[id(child)] = node
    return ctx
