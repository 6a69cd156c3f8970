"""Ranges of what the functions of the checked files return: a call of one (its summary, the
join of its returns, worked out in its own context), an item of the tuples it returns, and a
property read as an attribute. Which function a call runs (``own_function``) is decided here
too, for the checks that follow a value into the helper that computed it."""

from __future__ import annotations

import ast
from collections.abc import Callable

from kinkcheck.lint.ranges import (
    _NESTED,
    _UNDERFLOW,
    ANY,
    POS,
    POSU,
    _range_of,
    class_of_self,
    nested_join,
)
from kinkcheck.lint.resolve import PLAIN, annotation_kind, dotted


def _returned(node: ast.Call, ctx, depth: int) -> str:
    """A call of a function defined in this file: the join of what it returns (its summary:
    ``prototype_probabilities(...)`` returns a softmax)."""
    if _NESTED.get() >= 2 or not hasattr(ctx, "fa"):
        return ANY
    from kinkcheck.lint import return_range

    q = own_function(node, ctx)
    entry = ctx.fa.ix.scopes.get(q) if q else None
    if q is None or entry is None:
        summary = _other_file_summary(node, ctx)
        passed = return_range.passed_argument(summary, node) if summary is not None else None
        return _range_of(passed, ctx, depth - 1) if passed is not None else _other_file(summary, node)
    through = return_range.passed_through(entry[0])
    if through is not None and isinstance(node.func, ast.Name):
        # `batch_view(n, g)` hands back `n` reshaped: the range of what this call passes
        got = return_range.arguments_for(node, (through,))
        if got:
            return _range_of(got[0], ctx, depth - 1)
    return _summary(q, entry, ctx)


def returned_item(node: ast.Call, item: int, size: int, ctx) -> str:
    """``x_pos, y_pos, knot_slopes = self.get_params(c)``: the join of the ``item``-th value
    of the tuples a function of this file returns (every return a tuple of ``size`` values)."""
    if _NESTED.get() >= 2 or not hasattr(ctx, "fa"):
        return ANY
    q = own_function(node, ctx)
    entry = ctx.fa.ix.scopes.get(q) if q else None
    if q is None or entry is None:
        return ANY

    def picked(value: ast.expr) -> ast.expr | None:
        if isinstance(value, ast.Tuple) and len(value.elts) == size \
                and not any(isinstance(e, ast.Starred) for e in value.elts):
            return value.elts[item]
        return None

    return _summary(q, entry, ctx, picked)


#: decorators that make a method read as an attribute (``self.left_scale``)
_PROPERTIES = frozenset({"property", "cached_property", "lazy_property", "lazy_attribute", "reify"})


def property_range(node: ast.Attribute, ctx) -> str | None:
    """``self.left_scale`` where the class (or a base in the file) defines ``left_scale`` as a
    property: what the method returns (pyro's ``@lazy_property def left_scale(self): return
    self.scale * self.asymmetry``); None when it is no property of this file. An accessor
    (a property that only returns) is read one call deeper than a summary is."""
    if _NESTED.get() >= 3 or not hasattr(ctx, "fa"):
        return None
    q = _own_method(node, ctx)
    entry = ctx.fa.ix.scopes.get(q) if q else None
    if q is None or entry is None or not isinstance(entry[0], (ast.FunctionDef, ast.AsyncFunctionDef)) or not any(
            (dotted(d) or "").rsplit(".", 1)[-1] in _PROPERTIES for d in entry[0].decorator_list):
        return None
    if _NESTED.get() >= 2 and not _accessor(entry[0]):
        return None
    r = _summary(q, entry, ctx)
    if r == ANY and annotation_kind(entry[0].returns) == PLAIN:
        return None  # `def frame_size(self) -> int` of a config: what its name says still counts
    return r


def _accessor(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A method whose body (after its docstring) is one ``return`` (``return self._x``,
    ``return jax.lax.stop_gradient(self._min_slope)``)."""
    body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return len(body) == 1 and isinstance(body[0], ast.Return)


def _summary(q: str, entry, ctx, pick: Callable[[ast.expr], ast.expr | None] | None = None) -> str:
    """The join of the ranges a function of this file returns (or of what ``pick`` takes
    from each return: an item of a returned tuple), worked out in its own context."""
    from kinkcheck.lint import call_sites
    from kinkcheck.lint.walk import walk_local

    values = [n.value for n in walk_local(entry[0]) if isinstance(n, ast.Return)]
    if pick is not None:
        values = [pick(v) if v is not None else None for v in values]
    if not values or any(v is None for v in values):
        return ANY
    return nested_join(values, call_sites.caller_context(ctx.fa, q, entry))


def own_function(call: ast.Call, ctx) -> str | None:
    """The qualified name of the function or method of this file ``call`` calls:
    ``helper(...)``, ``self.stft(x)`` of this class (or a base class in the file), or the
    class's own ``__call__`` (``forward``) for ``self(x)``; None otherwise."""
    if isinstance(call.func, ast.Attribute):
        q = _own_method(call.func, ctx)
    elif isinstance(call.func, ast.Name) and call.func.id == "self":
        # `self(x)` calls the instance: its `__call__` (a module's `forward`)
        q = _self_method("__call__", ctx) or _self_method("forward", ctx)
    else:
        q = ctx.qualify(call.func)
        q = q if q and ctx.how == "def" else None
    entry = ctx.fa.ix.scopes.get(q) if q else None
    return q if entry is not None and isinstance(entry[0], (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def _other_file_summary(node: ast.Call, ctx) -> str | None:
    """The summary scope handed over (``return_range``) of the helper of another checked file
    that ``node`` calls; None for a method of a value or a function with none."""
    ranges_of: dict[str, str] = ctx.fa.return_ranges
    func = node.func
    if not ranges_of or isinstance(func, ast.Attribute) and not ctx.is_module_ref(func.value):
        return None  # a method of a value: not a function of another file
    return ranges_of.get(ctx.qualify(func) or "")


def _other_file(summary: str | None, node: ast.Call) -> str:
    """A helper of another checked file, by its summary: ``at_least_eps(v)`` imported from the
    package's utils is > 0."""
    from kinkcheck.lint.return_range import holds_for

    r = holds_for(summary, node) if summary is not None else ANY
    return POS if r == POSU and not _UNDERFLOW.get() else r


def _own_method(func: ast.Attribute, ctx) -> str | None:
    """The qualified name of ``self.<name>`` defined by this class or a base class in this file;
    None when a class of the file that derives from this one overrides it (``self`` may be one)."""
    if not (isinstance(func.value, ast.Name) and func.value.id == "self"):
        return None
    return _self_method(func.attr, ctx)


def _self_method(name: str, ctx) -> str | None:
    """The qualified name of the method ``name`` of ``ctx``'s class or a base class in this
    file, as ``self.<name>`` reaches it (``_own_method``)."""
    cls = class_of_self(ctx)
    if cls and any(f"{sub}.{name}" in ctx.fa.ix.scopes for sub, bases in ctx.fa.ix.classes.items()
                   if sub != cls and any(b.rsplit(".", 1)[-1] == cls.rsplit(".", 1)[-1] for b in bases)):
        return None
    return defined_on_self(name, ctx)


def defined_on_self(name: str, ctx) -> str | None:
    """The qualified name of the method ``name`` that ``ctx``'s class or a base class in this
    file defines, overridden or not (``self.split(x)`` is a method, not ``str.split``)."""
    cls = class_of_self(ctx)
    seen: set[str] = set()
    while cls and cls not in seen:
        seen.add(cls)
        if f"{cls}.{name}" in ctx.fa.ix.scopes:
            return f"{cls}.{name}"
        module = cls.rsplit(".", 1)[0] if "." in cls else ""
        bases = [b for b in ctx.fa.ix.classes.get(cls, ()) if f"{module}.{b.rsplit('.', 1)[-1]}" in ctx.fa.ix.classes]
        cls = f"{module}.{bases[0].rsplit('.', 1)[-1]}" if bases else None
    return None
