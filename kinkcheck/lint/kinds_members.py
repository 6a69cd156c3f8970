"""The kind of what a file holds beyond one function (:mod:`kinkcheck.lint.kinds`):
module-level names, ``self.<attr>`` (the join of what the class's methods assign to it),
``@property`` values and registered buffers. Memoized on the file's analysis."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.bindings import registered_buffer, self_assignments
from kinkcheck.lint.index import MODULE_CODE, _qual
from kinkcheck.lint.kinds import _CYCLE
from kinkcheck.lint.pytree import static_fields
from kinkcheck.lint.resolve import DATA, PLAIN, UNKNOWN, annotation_kind, dotted, join, name_kind
from kinkcheck.lint.walk import walk_local
from kinkcheck.syntax import callee_tail

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
    if not kinds and not assigned and _flax_module(fa, cls_qual) and _declared_plain(fa, cls_qual, attr):
        kinds.append(PLAIN)  # a flax module's field, `alpha: float | int = 1`
    kind = join(*kinds) if kinds else (name_kind(attr) or UNKNOWN)
    named = name_kind(attr)
    if kinds and UNKNOWN in kinds and named:
        kind = named
    if attr in fa.buffers() and not any(isinstance(v, ast.Call) and (dotted(v.func) or "").rsplit(".", 1)[-1] == "Parameter"
                                        for _, _, _, v in self_assignments(fa, cls_qual, attr)):
        # `self.register_buffer("ref", ...)`: state, not a parameter; unless another path
        # makes it one (`if learn: self.log_scale = nn.Parameter(init) else: register_buffer`)
        kind = DATA
    fa._attr_kinds[key] = kind
    return kind


def _flax_module(fa: "FileAnalysis", cls_qual: str) -> bool:
    """The class derives from ``flax.linen.Module`` (directly or through in-file bases)."""
    from kinkcheck.lint.call_sites import bases_in_file

    return any(b.startswith("flax.linen.") for c in (cls_qual, *bases_in_file(fa, cls_qual))
               for b in fa.ix.classes.get(c, ()))


def _declared_plain(fa: "FileAnalysis", cls_qual: str, attr: str) -> bool:
    """The class body (or the nearest in-file base's that declares it) declares ``attr: float``
    / ``int | float`` / ``bool``. In a flax module that is configuration: its parameters come
    from ``self.param`` (an equinox module's fields are pytree leaves whatever their annotation says)."""
    from kinkcheck.lint.call_sites import bases_in_file

    for c in (cls_qual, *bases_in_file(fa, cls_qual)):
        node = fa.class_node(c)
        for stmt in node.body if node is not None else ():
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == attr:
                return annotation_kind(stmt.annotation) == PLAIN
    return False


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
        fa._buffers = {buffer[0] for n in ast.walk(fa.tree) if (buffer := registered_buffer(n)) is not None}
    return fa._buffers


#: what a distribution, transform or bijector is built with when a model predicts it
_DISTRIBUTION_PARAMETER_RE = lazy_pattern(
    r"_?(loc|locs|scale|scales|scale_\w+|\w+_scale|rate|rates|probs|logits|concentration\w*|mean|means|mu|sigma|"
    r"std|stddev|var|variance|cov\w*|precision\w*|df)$")


#: classes whose constructor arguments are the values a model predicts, not settings
_PARAMETRIC_FAMILY_RE = lazy_pattern(r"Distribution|Transform|Bijector|Bijection|Flow|Kernel|Likelihood")


def constructor_setting(node: ast.AST, ctx: "Context", depth: int = 4) -> bool:
    """``node`` is built only from what the object was constructed with: literals and
    ``self.<attr>`` that only ``__init__`` sets, straight from its own parameters
    (``self.alpha = alpha``, ``self.args = args`` read as ``self.args.tau``), combined by
    arithmetic, or a local name bound to such a value (``quantile = 1 - self.alpha``). A
    loss's hyperparameters: no gradient reaches them and no batch moves them."""
    if depth < 0:
        return False
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return constructor_setting(node.operand, ctx, depth - 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
        return constructor_setting(node.left, ctx, depth - 1) and constructor_setting(node.right, ctx, depth - 1)
    if isinstance(node, ast.Name) and node.id not in ctx.params:
        from kinkcheck.lint import flow

        found, entry = flow.reaching(node.id, node, ctx) if ctx.parent(node) is not None else ([], True)
        return bool(found) and not entry and all(
            value is not None and constructor_setting(value, ctx, depth - 1) for _, value in found)
    if isinstance(node, ast.Attribute):
        holder = node.value
        if isinstance(holder, ast.Attribute):
            return constructor_setting(holder, ctx, depth - 1)  # `self.args.tau`
        if not (isinstance(holder, ast.Name) and holder.id == "self" and ctx.cls_qual) \
                or _DISTRIBUTION_PARAMETER_RE.match(node.attr):
            return False  # `Normal(loc, scale)`: a distribution's parameters are what a model predicts
        from kinkcheck.lint.call_sites import related_classes

        related = related_classes(ctx.fa, ctx.cls_qual)
        if any(_PARAMETRIC_FAMILY_RE.search(name) for c in related for name in (c, *ctx.fa.ix.classes.get(c, ()))):
            return False  # a distribution, transform or kernel is built from what a model predicts
        assigned = [a for c in related for a in self_assignments(ctx.fa, c, node.attr)]
        return bool(assigned) and all(
            qual.endswith(".__init__") and _own_parameter(fn, value) for qual, fn, _, value in assigned)
    return False


#: calls that only turn a setting into an array (``torch.as_tensor(p)``, ``float(p)``, pomegranate's
#: ``_cast_as_tensor(p)``); ``nn.Parameter(p)`` makes it learnable and is none of them
_CAST_RE = lazy_pattern(r"^(tensor|as_tensor|asarray|array|float|int|_?cast_as_tensor|to_tensor)$")


def uncast(value: ast.AST) -> ast.AST:
    """``dofs`` of ``torch.as_tensor(dofs)``: the value a cast to an array holds."""
    while isinstance(value, ast.Call) and len(value.args) == 1 and not value.keywords \
            and _CAST_RE.search(callee_tail(value.func)):
        value = value.args[0]
    return value


def _own_parameter(fn: ast.AST, value: ast.AST, depth: int = 4) -> bool:
    """``value`` is a literal number or a plain parameter of ``fn`` (not ``*args``/``**kw``),
    or arithmetic of those, or a choice between them on a test of them (``self.eps = blur ** p``,
    ``self.rho = None if reach is None else reach ** p``, geomloss's scales): a setting still."""
    if isinstance(value, ast.Constant):
        return isinstance(value.value, (int, float)) and not isinstance(value.value, bool) or value.value is None
    if depth <= 0:
        return False
    if isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
        return _own_parameter(fn, value.left, depth - 1) and _own_parameter(fn, value.right, depth - 1)
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
        return _own_parameter(fn, value.operand, depth - 1)
    if isinstance(value, ast.IfExp):
        return _own_parameter(fn, value.body, depth - 1) and _own_parameter(fn, value.orelse, depth - 1) \
            and all(_own_parameter(fn, n, depth - 1) for n in ast.walk(value.test) if isinstance(n, ast.Name))
    if (held := uncast(value)) is not value:
        # `self.register_buffer("dofs", torch.as_tensor(dofs))`: the setting, as a tensor
        return _own_parameter(fn, held, depth - 1)
    a = getattr(fn, "args", None)
    if not isinstance(value, ast.Name) or not isinstance(a, ast.arguments):
        return False
    return value.id in {p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)} and value.id != "self"
