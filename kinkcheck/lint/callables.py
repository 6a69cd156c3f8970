"""Functions used as values, for the index: what a name, attribute or expression may hold
when it is called, stored or passed.

Loss code is often reached through a value rather than a name: ``self.dist_fn =
EuclideanDistance()`` then ``self.dist_fn(x)``, ``loss_fn = partial(focal, gamma=2)``,
``criterion = lambda p, t: ...``, ``train(model, loss_fn=my_loss)``. The index cannot see
the other files, so it writes down *refs*, strings that ``scope.py`` resolves over the
whole checked tree:

- ``pkg.mod.fn`` / ``pkg.mod.Cls``: a function or class, a module-level binding of that
  name, or (``pkg.mod.Cls.attr``) an attribute of the class or its instances;
- ``<ref>()``: what calling ``<ref>`` returns (an instance, or what a factory returns);
- ``pkg.mod.fn#param``: whatever callers pass for ``param`` of ``fn``.

Only the stdlib ``ast`` is used, one expression at a time, with a small hop limit: this
runs in the cheap index pass.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.resolve import ARRAY_LIBRARIES, dotted

if TYPE_CHECKING:  # pragma: no cover
    from kinkcheck.lint.env import _Env
    from kinkcheck.lint.index import _Indexer

CALL = "()"
PARAM = "#"
#: the methods of a class whose names fit a glob: ``pkg.mod.Cls.~*_reduction``
MATCH = "~"

#: wrappers whose result calls their first argument
WRAPPERS = frozenset(
    {"functools.partial", "functools.partialmethod", "functools.cache", "functools.lru_cache",
     "builtins.staticmethod", "builtins.classmethod", "jax.jit", "jax.vmap", "jax.pmap",
     "jax.checkpoint", "jax.remat", "torch.func.vmap", "torch.vmap", "torch.compile",
     "torch.jit.script", "equinox.filter_jit", "equinox.filter_vmap"}
)
#: the module containers a loss holds its terms in (``nn.ModuleDict({"l1": L1Cost(), ...})``,
#: ``nn.ModuleList([...])``): they hold what they are given, and a loop over them (``for
#: name, term in self.terms.items(): term(x)``) calls it. A plain ``dict(...)`` is as often a
#: table of evaluation metrics, called under ``no_grad``
CONTAINERS = frozenset({"torch.nn.ModuleDict", "torch.nn.ModuleList", "torch.nn.modules.container.ModuleDict",
                        "torch.nn.modules.container.ModuleList"})
#: calls whose arguments are looked at, never called (types, printing, introspection)
OPAQUE = frozenset(
    f"builtins.{n}" for n in ("isinstance", "issubclass", "type", "super", "getattr", "hasattr", "setattr",
                              "print", "len", "id", "repr", "str", "callable", "format", "hash", "vars", "dir")
)
#: methods of a container that hand out its elements
ELEMENT_METHODS = frozenset({"get", "items", "values", "pop", "setdefault", "__getitem__"})
MAX_HOPS = 6
#: callees that hand out a callable or an object to call methods on
FACTORY_RE = lazy_pattern(r"(^|_)(get|make|build|create|load|new|default|from)(_|$)|factory|registry", re.IGNORECASE)
#: calls into these never run checked code through a parameter, and values from them
#: are never checked code (the differentiated-argument table and loss-like keywords
#: still see what is handed to them)
FOREIGN = frozenset({*ARRAY_LIBRARIES, "builtins", "functools", "itertools", "operator", "math", "typing",
                     "collections", "os", "sys", "logging", "warnings", "re", "json", "copy", "random", "time"})


#: module methods that return the module itself (``Net().eval()``, ``BboxLoss(m).to(device)``)
SAME_MODULE = frozenset({"to", "cuda", "cpu", "eval", "train", "float", "half", "double", "requires_grad_"})


def ours(ref: str) -> bool:
    """Whether ``ref`` may name checked code (not ``torch.float32``, ``np.zeros()``)."""
    got = _OURS.get(ref)
    if got is None:
        if len(_OURS) > 100_000:
            _OURS.clear()
        got = _OURS[ref] = ref.partition(".")[0].partition(PARAM)[0] not in FOREIGN
    return got


_OURS: dict[str, bool] = {}


class Refs:
    """Refs of expressions in one file; memoized per name binding."""

    def __init__(self, ix: "_Indexer", lambda_ref):
        self.ix = ix
        #: (lambda node, env, binding name) -> the lambda's qualified name
        self._lambda_ref = lambda_ref
        self._names: dict[tuple[int, str, bool], list[str]] = {}
        self._receivers: dict[tuple[int, str, int], list[str]] = {}

    def close(self) -> None:
        self.ix = self._lambda_ref = None  # type: ignore[assignment]  # released for the garbage collector
        self._names.clear()
        self._receivers.clear()

    def of(self, expr: ast.AST, env: "_Env", name: str | None = None, hops: int = 0, strict: bool = False) -> list[str]:
        """What ``expr``'s value may be, as refs. ``name`` is the binding a lambda gets
        (``criterion = lambda ...``), for its qualified name and whether it is a root.
        ``strict``: a local variable counts only where it is bound to something that looks
        like a function (an argument ``x`` bound to ``f(y)`` is data, almost always)."""
        if hops > MAX_HOPS or expr is None:
            return []
        if isinstance(expr, ast.Name):
            return self._name(expr, env, hops, strict)
        if isinstance(expr, ast.Attribute):
            return self._attribute(expr, env)
        if isinstance(expr, ast.Call):
            if strict and not _function_like(expr):
                return []  # `f(x)` handed on: data, almost always
            return self._call(expr, env, name, hops)
        if isinstance(expr, ast.Lambda):
            return [self._lambda_ref(expr, env, name)]
        if isinstance(expr, ast.Dict):
            return self._many([v for v in expr.values if v is not None], env, name, hops, strict, [k for k in expr.keys])
        if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
            return self._many(expr.elts, env, name, hops, strict)
        if isinstance(expr, ast.IfExp):
            return self._many([expr.body, expr.orelse], env, name, hops, strict)
        if isinstance(expr, ast.BoolOp):
            return self._many(expr.values, env, name, hops, strict)
        if isinstance(expr, (ast.Subscript, ast.Starred, ast.NamedExpr)):
            return self.of(expr.value, env, name, hops + 1, strict)
        return []

    def _many(self, exprs, env, name, hops, strict, keys=None) -> list[str]:
        out: list[str] = []
        for i, e in enumerate(exprs):
            key = keys[i] if keys is not None else None
            sub = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else name
            out.extend(self.of(e, env, sub, hops + 1, strict))
        return out

    def _name(self, node: ast.Name, env: "_Env", hops: int, strict: bool = False) -> list[str]:
        name = node.id
        e = env
        while e is not None:
            if name in e.nested:
                return [e.nested[name]]
            if name in e.bound:
                if e.parent is None:  # a module-level variable: every binding of it, resolved by scope
                    return [self.ix.qual(name)]
                key = (id(e), name, strict)
                got = self._names.get(key)
                if got is None:
                    self._names[key] = []  # a cycle (`f = g; g = f`) ends here
                    got = []
                    if name == "self" and e.cls_qual and name in e.params:
                        got.append(e.cls_qual)  # `self(x)`: the instance runs its class's forward
                    elif name in e.params and e.qual:
                        got.append(f"{e.qual}{PARAM}{name}")
                        ann = e.annotations.get(name)
                        if ann is not None:
                            got.extend(r + CALL for r in self.annotation(ann, e))
                    for value in e.assigns.get(name, ()):
                        if not strict or _function_like(value):
                            got.extend(self.of(value, e, name, hops + 1, strict))
                    self._names[key] = got = list(dict.fromkeys(got))
                return got
            e = e.parent
        q = self.ix.resolve(node, env)
        how = self.ix.how
        if q is None or how == "builtin":
            return []
        if how == "star":
            return [f"{s}.{name}" for s in self.ix.table.stars]
        return [q]

    def _attribute(self, node: ast.Attribute, env: "_Env") -> list[str]:
        d = dotted(node)
        if d is None:
            return []
        head, _, rest = d.partition(".")
        if head == "self":
            owner = env.lookup("self", self.ix)
            if owner and owner.startswith("self:"):
                return [f"{owner[5:]}.{rest}"]
            return []
        q = self.ix.resolve(node, env)
        if q is None or self.ix.how == "builtin":
            return []
        return [q]

    def _call(self, node: ast.Call, env: _Env, name: str | None, hops: int) -> list[str]:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2 \
                and self.ix.resolve(func, env) == "builtins.getattr":
            default = self.of(node.args[2], env, name, hops + 1) if len(node.args) > 2 else []
            return self._dispatch(node, env) + default
        if isinstance(func, ast.Attribute) and func.attr in SAME_MODULE and isinstance(func.value, ast.Call):
            return self.of(func.value, env, name, hops + 1)  # `FeatureNet().eval()`: still that network
        if isinstance(func, ast.Attribute) and not on_self(func):
            base = func.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if not isinstance(base, ast.Name):
                return []  # `f(x).view(...)`: a method of a computed value
            if func.attr in ELEMENT_METHODS:  # `table.get(k)`, `self.losses.items()`
                got = self.of(func.value, env, name, hops + 1)
                if got:
                    return got
            if _is_local(base.id, env):  # `x.view(...)`: a method of a value
                return []
        fq = self.ix.resolve(func, env) if isinstance(func, (ast.Name, ast.Attribute)) else None
        if fq is not None:
            if fq in WRAPPERS:
                return self.of(node.args[0], env, name, hops + 1) if node.args else []
            if fq in CONTAINERS:
                return self._many([*node.args[:1], *(k.value for k in node.keywords if k.arg)], env, name, hops, False,
                                  [None] * min(1, len(node.args)) + [ast.Constant(k.arg) for k in node.keywords if k.arg])
            if not ours(fq):
                return []
        return [r + CALL for r in self.called(func, env, hops + 1) if not r.endswith(CALL)]

    def _dispatch(self, node: ast.Call, env: "_Env") -> list[str]:
        """``getattr(self, "{}_reduction".format(kind))``: a method of the class picked by a
        name the code computes, as a ref to every method whose name the template can spell
        (:data:`MATCH`); ``getattr(self, "name")`` is that attribute (a name of three
        characters or more: shorter ones, and names with less fixed, pick nothing)."""
        holder, name = node.args[0], node.args[1]
        if not (isinstance(holder, ast.Name) and holder.id == "self"):
            return []
        owner = env.lookup("self", self.ix)
        pattern = name_pattern(name)
        if not (owner and owner.startswith("self:") and pattern):
            return []
        return [f"{owner[5:]}.{pattern if '*' not in pattern else MATCH + pattern}"]

    def annotation(self, ann: ast.AST, env: "_Env") -> list[str]:
        """The checked classes a parameter annotation names (``metric: Distance``,
        ``Optional[Distance]``, ``"Distance"``)."""
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            try:
                ann = ast.parse(ann.value, mode="eval").body
            except SyntaxError:
                return []
        if isinstance(ann, ast.Subscript):
            inner = ann.slice
            return [r for e in (inner.elts if isinstance(inner, ast.Tuple) else [inner]) for r in self.annotation(e, env)]
        if isinstance(ann, ast.BinOp):  # `Distance | None`
            return self.annotation(ann.left, env) + self.annotation(ann.right, env)
        if isinstance(ann, (ast.Name, ast.Attribute)):
            q = self.ix.resolve(ann, env)
            if q and self.ix.how != "builtin" and ours(q) and q.rsplit(".", 1)[-1][:1].isupper():
                return [q]
        return []

    def method_of_local(self, func: ast.Attribute, env: "_Env", live: frozenset[str]) -> list[str]:
        """``metric.pairwise(x)`` where ``metric`` is a parameter (annotated with a checked
        class, or one that may hold a function) or a local built by a factory
        (``metric = get_metric(name)``): refs of the method called."""
        base = func.value
        if base.__class__ is not ast.Name:
            return []
        key = (id(env), base.id, -1)
        got = self._receivers.get(key)
        if got is None:
            self._receivers[key] = got = self._receiver(base.id, env, live)
        return [f"{r}.{func.attr}" for r in got]

    def _receiver(self, name: str, env: "_Env", live: frozenset[str]) -> list[str]:
        e = env
        while e is not None:
            if name in e.bound:
                if e.parent is None:
                    return []  # module level: the import table names it
                out: list[str] = []
                if name in e.params:
                    ann = e.annotations.get(name)
                    if ann is not None:
                        out.extend(r + CALL for r in self.annotation(ann, e))
                    if e is env and name in live and e.qual:
                        out.append(f"{e.qual}{PARAM}{name}")
                for value in e.assigns.get(name, ()):
                    if value.__class__ is ast.Call and FACTORY_RE.search(getattr(value.func, "id", None) or getattr(value.func, "attr", None) or ""):
                        q = self.ix.resolve(value.func, e) if isinstance(value.func, (ast.Name, ast.Attribute)) else None
                        if q and ours(q):
                            out.append(q + CALL)
                return out
            e = e.parent
        return []

    def called(self, func: ast.AST, env: "_Env", hops: int = 0) -> list[str]:
        """Refs of what a call to ``func`` runs, beyond what the import table names: a
        parameter, a local or module-level variable, ``self.attr``, ``table[key]``,
        ``factory()``, ``partial(f)``."""
        return self.of(func, env, None, hops)


#: the fields of a template: ``{}``, ``{kind}``, ``%s``
_FIELD_RE = lazy_pattern(r"\{[^{}]*\}|%[-#0 +]*\d*(?:\.\d+)?[sdrif]")
_NAME_GLOB_RE = lazy_pattern(r"[A-Za-z_*][A-Za-z0-9_*]*")


def name_pattern(node: ast.AST) -> str | None:
    """The attribute names a computed name can take, as a glob: ``*_reduction`` of
    ``"{}_reduction".format(t)``, ``f"{t}_reduction"``, ``"%s_reduction" % t`` or
    ``t + "_reduction"``, the name itself of a constant. None where fewer than three of its
    characters are fixed (``getattr(self, name)`` could be any attribute)."""
    glob = re.sub(r"\*+", "*", _glob(node, 4))
    fixed = len(glob.replace("*", ""))
    return glob if _NAME_GLOB_RE.fullmatch(glob) and fixed >= 3 else None


def _glob(node: ast.AST, depth: int) -> str:
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else "*"
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "*"
                       for v in node.values)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format" \
            and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str):
        return _FIELD_RE.sub("*", node.func.value.value)
    if isinstance(node, ast.BinOp) and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str) \
            and isinstance(node.op, ast.Mod):
        return _FIELD_RE.sub("*", node.left.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and depth > 0:
        return _glob(node.left, depth - 1) + _glob(node.right, depth - 1)
    return "*"


_FUNCTION_SHAPES = (ast.Lambda, ast.Name, ast.Attribute, ast.Dict, ast.List, ast.Tuple, ast.Set, ast.IfExp,
                    ast.BoolOp, ast.Subscript)


def _function_like(value: ast.AST) -> bool:
    """A binding that may hold a function: a name, a lambda, a table, ``partial(f)``, a
    constructor (``Metric()``); not the result of an ordinary call."""
    if isinstance(value, _FUNCTION_SHAPES):
        return True
    if isinstance(value, ast.Call):
        f = value.func
        last = getattr(f, "id", None) or getattr(f, "attr", None) or ""
        return last == "partial" or last[:1].isupper()
    return False


def on_self(func: ast.AST) -> bool:
    """``self.x`` / ``self.x.y``: an attribute of the instance."""
    while isinstance(func, ast.Attribute):
        func = func.value
    return isinstance(func, ast.Name) and func.id == "self"


def _is_local(name: str, env: "_Env") -> bool:
    """Bound in a function (not at module level): a value, not a module or class."""
    e = env
    while e is not None:
        if name in e.bound or name in e.nested:
            return e.parent is not None
        e = e.parent
    return False


def param_names(fn: ast.AST) -> tuple[str, ...]:
    """Positional parameters in order, then keyword-only ones."""
    args = getattr(fn, "args", None)
    if not isinstance(args, ast.arguments):
        return ()
    return tuple(a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs))


def param_defaults(fn: ast.AST) -> list[tuple[str, ast.expr]]:
    args = getattr(fn, "args", None)
    if not isinstance(args, ast.arguments):
        return []
    positional = [*args.posonlyargs, *args.args]
    out = list(zip([a.arg for a in positional[len(positional) - len(args.defaults):]], args.defaults))
    out += [(a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return out


def lambda_def(lam: ast.Lambda, name: str) -> ast.FunctionDef:
    """A ``def`` standing for a lambda, built from the lambda's own nodes (same lines and
    columns), so that the engine checks its body like any function."""
    ret = ast.Return(value=lam.body)
    ast.copy_location(ret, lam.body)
    fd = ast.FunctionDef(name=name, args=lam.args, body=[ret], decorator_list=[], returns=None, type_comment=None)
    if hasattr(fd, "type_params"):
        fd.type_params = []
    ast.copy_location(fd, lam)
    return fd
