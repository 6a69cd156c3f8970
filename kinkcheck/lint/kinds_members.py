"""The kind of what a file holds beyond one function (:mod:`kinkcheck.lint.kinds`):
module-level names, ``self.<attr>`` (the join of what the class's methods assign to it),
``@property`` values and registered buffers. Memoized on the file's analysis."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint.bindings import self_assignments
from kinkcheck.lint.index import MODULE_CODE, _qual
from kinkcheck.lint.kinds import _CYCLE
from kinkcheck.lint.pytree import static_fields
from kinkcheck.lint.resolve import DATA, PLAIN, UNKNOWN, annotation_kind, dotted, join, name_kind
from kinkcheck.lint.walk import walk_local

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context, FileAnalysis


def module_context(fa: "FileAnalysis") -> "Context":
    """The Context of the file's module-level code (built once per file)."""
    from kinkcheck.lint.context import Context

    if fa._module_ctx is None:
        fn, env, cls = fa.ix.scopes[_qual(fa.module, MODULE_CODE)]
        fa._module_ctx = Context(fa, _qual(fa.module, MODULE_CODE), fa.tree, env, None)
    return fa._module_ctx


def module_kind(fa: "FileAnalysis", name: str) -> str | None:
    """Kind of a module-level name: constants are PLAIN (``EPS = 1e-8``)."""
    ctx = module_context(fa)
    if name in ctx.bound and name not in fa.ix.exports:
        return ctx.name_kind(name)
    return None


def attr_kind(fa: "FileAnalysis", cls_qual: str, attr: str) -> str:
    """Kind of ``self.<attr>`` in class ``cls_qual``: the join of what its methods assign to
    it; a registered buffer is DATA."""
    from kinkcheck.lint.context import Context

    key = (cls_qual, attr)
    if key in fa._attr_kinds:
        return fa._attr_kinds[key]
    if attr in static_fields(fa, cls_qual):
        fa._attr_kinds[key] = PLAIN  # a pytree's aux data: never traced (lint/pytree.py)
        return PLAIN
    fa._attr_kinds[key] = _CYCLE  # `self.alpha = self.alpha.to(x.device)`: its own value is neutral
    kinds: list[str] = []
    contexts: dict[str, Context] = {}
    for qual, fn, env, value in self_assignments(fa, cls_qual, attr):
        ctx = contexts.get(qual) or contexts.setdefault(qual, Context(fa, qual, fn, env, cls_qual))
        kinds.append(ctx.kind(value))
    kinds = [k for k in kinds if k != _CYCLE]
    assigned = bool(kinds)
    if not kinds:
        prop = _property_kind(fa, cls_qual, attr)
        if prop is not None:
            kinds.append(prop)  # `@property def low(self): return self._low`: what it returns
    if not kinds and not assigned and f"{cls_qual}.{attr}" not in fa.ix.scopes:
        # `self.weight` in a subclass: what the base class of this file assigns or returns
        from kinkcheck.lint.call_sites import bases_in_file

        base = next((b for b in bases_in_file(fa, cls_qual) if _defines(fa, b, attr)), None)
        if base is not None:
            kinds.append(attr_kind(fa, base, attr))
    kind = join(*kinds) if kinds else (name_kind(attr) or UNKNOWN)
    named = name_kind(attr)
    if kinds and UNKNOWN in kinds and named:
        kind = named
    if attr in fa.buffers():
        kind = DATA  # `self.register_buffer("ref", ...)`: state, not a parameter
    fa._attr_kinds[key] = kind
    return kind


def _defines(fa: "FileAnalysis", cls_qual: str, attr: str) -> bool:
    """The class assigns ``self.<attr>`` in one of its methods, or defines a method so named."""
    if f"{cls_qual}.{attr}" in fa.ix.scopes:
        return True
    for _qual, (fn, _env, c) in fa.ix.scopes.items():
        if c != cls_qual or fn is fa.tree:
            continue
        for node in walk_local(fn):
            if isinstance(node, ast.Attribute) and node.attr == attr and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id == "self":
                return True
    return False


def _property_kind(fa: "FileAnalysis", cls_qual: str, attr: str) -> str | None:
    """The kind of a ``@property`` named ``attr`` of the class: DATA or PLAIN when every
    value it returns is (``return jnp.broadcast_to(self._low, shape)`` of a bound set in
    ``__init__`` from ``jnp.ceil(low)``), else the kind its annotation declares, if any."""
    from kinkcheck.lint import call_sites, flow
    from kinkcheck.lint.context import Context

    entry = fa.ix.scopes.get(f"{cls_qual}.{attr}")
    fn = entry[0] if entry is not None else None
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or not any(
            (dotted(d) or "").rsplit(".", 1)[-1] in ("property", "cached_property") for d in fn.decorator_list):
        return None
    assert entry is not None
    getter = Context(fa, f"{cls_qual}.{attr}", *entry)
    returned = {getter.kind(r.value) for r in flow._returns(call_sites.link_parents(getter)) if r.value is not None}
    returned.discard(_CYCLE)
    if returned and returned <= {PLAIN, DATA}:
        return join(*returned)
    return annotation_kind(fn.returns)


def buffers(fa: "FileAnalysis") -> set[str]:
    """Names registered with ``self.register_buffer("name", ...)`` anywhere in the file."""
    if fa._buffers is None:
        fa._buffers = {
            n.args[0].value for n in ast.walk(fa.tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "register_buffer"
            and n.args and isinstance(n.args[0], ast.Constant) and isinstance(n.args[0].value, str)}
    return fa._buffers
