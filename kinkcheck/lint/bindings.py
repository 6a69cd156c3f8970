"""What a function binds, read off its syntax: the values assigned to each name (loop and
``with`` targets, unpacking, item stores and ``append``), its parameters, the ``__init__``
parameters a ``self.x = x`` may hold, and the names whose object it changes in place.
The kind and range analyses (``kinds.py``, ``ranges.py``) judge those values.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.resolve import PLAIN, annotation_kind
from kinkcheck.lint.walk import MUTATORS, walk_local
from kinkcheck.syntax import dotted

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context, FileAnalysis


class IterItem:
    """An assigned value that is an item of ``iterable`` (a loop or comprehension target;
    ``index``: its position when the target unpacks)."""

    __slots__ = ("iterable", "index")

    def __init__(self, iterable, index=None):
        self.iterable = iterable
        self.index = index


class Opaque:
    """An assigned value the analysis cannot see (``*rest``, ``with ... as f``, unpacking)."""

    __slots__ = ()


def _nested_source(item: IterItem) -> ast.AST:
    """What a target nested in a loop target unpacks, where its items are a ``zip``'s:
    ``(p, g)`` of ``for i, (p, g) in enumerate(zip(a, b))`` takes the items of ``zip(a, b)``
    (``p`` is an item of ``a``, not the index). Other nested targets keep the outer iterable:
    ``(mul, ir)`` of ``for i, (mul, ir) in enumerate(self.irreps)`` are items of items of a
    value whose items are not known."""
    it = item.iterable
    if item.index is not None and isinstance(it, ast.Call) and isinstance(it.func, ast.Name) \
            and not any(isinstance(a, ast.Starred) for a in it.args):
        inner = None
        if it.func.id == "enumerate" and item.index == 1 and it.args:
            inner = it.args[0]
        elif it.func.id == "zip" and item.index < len(it.args):
            inner = it.args[item.index]
        if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == "zip":
            return inner
    return it


def assignments_in(fn: ast.AST) -> dict[str, list]:
    """name -> assigned values (``x += v`` binds ``v``: kinds join anyway; the range
    analysis reads ``flow.bindings``, where it binds ``x + v``)."""
    out: dict[str, list] = {}

    def bind(target, value):
        if isinstance(target, ast.Name):
            out.setdefault(target.id, []).append(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for i, elt in enumerate(target.elts):
                if isinstance(value, IterItem):
                    bind(elt, IterItem(_nested_source(value), i))
                elif isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
                    bind(elt, value.elts[i])
                elif (isinstance(value, ast.Attribute) and value.attr in ("shape", "size")) or (
                        isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "size"):
                    bind(elt, ast.Constant(value=1))  # `b, n, _ = x.shape`: ints (sizes, >= 1)
                elif isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in (
                        "max", "min", "topk", "top_k", "sort", "aminmax", "kthvalue", "median"):
                    # `vals, idx = x.sort()`: the values, then integer positions (`x.argmax()`: data)
                    bind(elt, value if i == 0 else ast.Call(
                        func=ast.Attribute(value=value.func.value, attr="argmax", ctx=ast.Load()), args=[], keywords=[]))
                elif isinstance(value, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)):
                    # `anchor, positive = embeddings` / `= self.guide(x)`: an item of the value
                    # holds what it holds
                    bind(elt, ast.Subscript(value=value, slice=ast.Constant(value=i), ctx=ast.Load()))
                else:
                    bind(elt, Opaque())
        elif isinstance(target, ast.Starred):
            bind(target.value, Opaque())
        elif isinstance(target, ast.Subscript):
            base = target.value
            while isinstance(base, ast.Subscript):
                base = base.value
            if isinstance(base, ast.Name) and not isinstance(value, (IterItem, Opaque)):
                bind(base, value)  # `loss[0] = box_loss`: the container now holds what was stored

    for node in walk_local(fn):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                bind(t, node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            ak = annotation_kind(node.annotation)
            bind(node.target, ast.Constant(value=0) if ak == PLAIN else node.value)
        elif isinstance(node, ast.AugAssign):
            bind(node.target, node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            bind(node.target, IterItem(node.iter))
        elif isinstance(node, ast.comprehension):
            bind(node.target, IterItem(node.iter))
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bind(node.optional_vars, Opaque())
        elif isinstance(node, ast.NamedExpr):
            bind(node.target, node.value)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.setdefault(node.name, []).append(ast.Constant(value=0))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS \
                and isinstance(node.func.value, ast.Name):
            # `losses.append(l)`, `z.scatter_(-1, idx, vals)`: the object now holds what went in
            for value in (*node.args, *(k.value for k in node.keywords)):
                if not isinstance(value, ast.Starred):
                    bind(node.func.value, value)
        elif isinstance(node, ast.Call) and (out_name := written_out(node)) is not None:
            bind(out_name, node)  # `np.exp(z, out=p)`: p now holds the call's value
    return out


def written_out(call: ast.Call) -> ast.Name | None:
    """The name a call writes its result into (``np.exp(z, out=p)``, ``torch.add(a, b, out=c)``)."""
    for k in call.keywords:
        if k.arg == "out" and isinstance(k.value, ast.Name):
            return k.value
    return None


def parameters(fn: ast.AST) -> dict[str, tuple[ast.AST | None, ast.AST | None]]:
    args = getattr(fn, "args", None)
    if args is None or not isinstance(args, ast.arguments):
        return {}
    out: dict[str, tuple] = {}
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for a, d in zip(positional, defaults):
        out[a.arg] = (a.annotation, d)
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        out[a.arg] = (a.annotation, d)
    for star in (args.vararg, args.kwarg):
        if star is not None:
            # `*tensors: Tensor` holds tensors (a star's annotation types each element); an
            # unannotated star is read as a tuple of settings, except a module's inputs
            # (`def forward(self, *embeddings)`) and stars named for arrays (`*logits`)
            typed = star is args.vararg and star.annotation is not None
            inputs = star is args.vararg and (getattr(fn, "name", "") in ("forward", "__call__")
                                              or bool(_ARRAYS_NAME.search(star.arg)))
            if inputs and not typed:
                out[star.arg] = (None, None)
            else:
                out[star.arg] = (star.annotation if typed else ast.Name(id="tuple", ctx=ast.Load()), None)
    return out


def setting_params(fn: ast.AST) -> frozenset[str]:
    """Parameters with a literal default other than None and no array annotation (``p=2``,
    ``blur=0.05``, ``reduction="mean"``): settings, as ``kinds_params`` reads them."""
    from kinkcheck.lint.resolve import TENSOR

    return frozenset(name for name, (ann, default) in parameters(fn).items()
                     if isinstance(default, ast.Constant) and default.value is not None
                     and annotation_kind(ann) != TENSOR)


def setting_attributes(methods: list[tuple[ast.AST, list[ast.AST]]]) -> tuple[frozenset[str], frozenset[str]]:
    """(the attributes a class only ever fills with settings, the others it stores), read off
    ``(method, its nodes)``: ``self.blur = blur`` in an ``__init__(self, blur=0.05)`` or
    ``self.p = 2`` is a setting when every store to ``self.<attribute>`` (augmented ones
    included) is a literal, a setting parameter of that method, or arithmetic of those. One
    other store (a tensor, ``nn.Parameter``, a parameter without a literal default,
    ``setattr(self, "p", ...)``, ``self.register_buffer("p", ...)``) and the attribute is state
    like any other. Stores by other classes (a subclass in another file, a caller's
    ``loss.p = t``) are not seen here: the index asks the classes of its own file."""
    ok: dict[str, bool] = {}
    for fn, nodes in methods:
        settings = setting_params(fn)
        for n in nodes:
            if isinstance(n, ast.Call):
                stored = _stored_by_name(n)
                if stored is not None:
                    ok[stored] = False
                continue
            if isinstance(n, ast.Assign):
                targets, value = n.targets, n.value
            elif isinstance(n, (ast.AnnAssign, ast.AugAssign)) and n.value is not None:
                targets, value = [n.target], n.value
            else:
                continue
            for t in targets:
                for a in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]):
                    if isinstance(a, ast.Attribute) and isinstance(a.value, ast.Name) and a.value.id == "self":
                        plain = not isinstance(t, (ast.Tuple, ast.List)) and _settings_only(value, settings)
                        ok[a.attr] = ok.get(a.attr, True) and plain
    return frozenset(a for a, plain in ok.items() if plain), frozenset(a for a, plain in ok.items() if not plain)


def _stored_by_name(call: ast.Call) -> str | None:
    """The attribute ``setattr(self, "p", v)``, ``self.register_parameter("p", ...)`` or
    ``self.register_buffer("p", ...)`` stores, else None."""
    func, args = call.func, call.args
    if isinstance(func, ast.Name) and func.id == "setattr" and len(args) >= 2 \
            and isinstance(args[0], ast.Name) and args[0].id == "self":
        name = args[1]
    elif isinstance(func, ast.Attribute) and func.attr in ("register_parameter", "register_buffer") \
            and isinstance(func.value, ast.Name) and func.value.id == "self" and args:
        name = args[0]
    else:
        return None
    return name.value if isinstance(name, ast.Constant) and isinstance(name.value, str) else None


def _settings_only(value: ast.AST, settings: frozenset[str]) -> bool:
    if isinstance(value, ast.Constant):
        return value.value is not None and not isinstance(value.value, bytes)
    if isinstance(value, ast.Name):
        return value.id in settings
    if isinstance(value, ast.UnaryOp):
        return _settings_only(value.operand, settings)
    if isinstance(value, ast.BinOp):
        return _settings_only(value.left, settings) and _settings_only(value.right, settings)
    return False


#: names of a star parameter that holds arrays
_ARRAYS_NAME = lazy_pattern(r"(^|_)(embeddings|embs|tensors|arrays|inputs|xs|preds|predictions|outputs|features|"
                            r"feats|logits|scores|losses|terms)$")


def init_parameters(fa: "FileAnalysis", name: str) -> list[tuple[ast.AST | None, ast.AST | None]]:
    """(annotation, default) of each ``__init__`` parameter called ``name`` in the file: what
    ``self.x = x`` may hold (memoized per file)."""
    cache = fa.__dict__.get("_init_parameters")
    if cache is None:
        cache = {}
        for qual, (fn, _env, _cls) in fa.ix.scopes.items():
            if qual.endswith(".__init__"):
                for param, spec in parameters(fn).items():
                    cache.setdefault(param, []).append(spec)
        fa.__dict__["_init_parameters"] = cache
    return cache.get(name, [])


def item_targets(target: ast.AST):
    """``(store, name)`` for each item store in an assignment target: ``w[i] = v`` and
    ``w[i][j] = v`` store into ``w``, and so does each ``loss[0]`` of ``loss[0], loss[1] = a, b``."""
    for sub in ast.walk(target):
        if isinstance(sub, ast.Subscript) and isinstance(sub.ctx, ast.Store):
            base = sub.value
            while isinstance(base, ast.Subscript):
                base = base.value
            if isinstance(base, ast.Name):
                yield sub, base


def mutated_names(ctx: "Context", item_stores: bool = True) -> set[str]:
    """Names whose object the function changes in place: an item store (``loss[0] = v``,
    ``loss[1] += v``) or a mutating method (``losses.append(v)``). Without ``item_stores``,
    the methods only: ``flow.bindings`` reads an item store as a binding of the name."""
    key = "_mutated_names" if item_stores else "_mutated_by_methods"
    got = ctx.__dict__.get(key)
    if got is None:
        got = set(_mutation_calls(ctx))
        if item_stores:
            for node in walk_local(ctx.fn):
                if isinstance(node, (ast.Assign, ast.AugAssign)):
                    for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                        got.update(name.id for _store, name in item_targets(t))
        ctx.__dict__[key] = got
    return got


def mutations_of(ctx: "Context", name: str) -> list[ast.Call]:
    """The calls of a mutating method on ``name`` (``costs.append(v)``) in the function."""
    return _mutation_calls(ctx).get(name, [])


def _mutation_calls(ctx: "Context") -> dict[str, list[ast.Call]]:
    """name -> the calls of a mutating method on it in the function (memoized per function)."""
    got = ctx.__dict__.get("_mutation_calls")
    if got is None:
        got = {}
        for node in walk_local(ctx.fn):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS \
                    and isinstance(node.func.value, ast.Name):
                got.setdefault(node.func.value.id, []).append(node)
        ctx.__dict__["_mutation_calls"] = got
    return got


def registered_buffer(node: ast.AST) -> tuple[str, ast.expr | None] | None:
    """``x.register_buffer("name", value)``: the buffer's name and value (None when not given)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "register_buffer" \
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value, node.args[1] if len(node.args) > 1 else None
    return None


def self_assignments(fa: FileAnalysis, cls_qual: str, attr: str):
    """``(qualname, function, env, value)`` for each ``self.<attr> = value`` in the methods of
    ``cls_qual`` (tuple targets unpacked, nested functions as their own scopes), and for each
    ``self.register_buffer("<attr>", value)``, which binds the attribute too."""
    from kinkcheck.syntax import assigned_pairs

    for qual, (fn, env, c) in fa.ix.scopes.items():
        if c != cls_qual or fn is fa.tree:
            continue
        for node in walk_local(fn):
            if isinstance(node, ast.Call) and dotted(node.func) == "self.register_buffer" \
                    and (buffer := registered_buffer(node)) is not None and buffer[0] == attr and buffer[1] is not None:
                yield qual, fn, env, buffer[1]
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    for t, value in assigned_pairs(target, node.value):
                        if isinstance(t, ast.Attribute) and t.attr == attr \
                                and isinstance(t.value, ast.Name) and t.value.id == "self":
                            yield qual, fn, env, value
