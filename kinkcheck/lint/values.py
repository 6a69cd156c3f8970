"""The index's value pass: per function, the callables it calls through values, stores,
passes and returns (as refs, see ``callables``), what each class attribute and
module-level name holds, the lambdas used as values, and which classes are networks.

Runs inside the cheap index pass, once per function, on nodes the index walk has already
collected; ``scope.py`` resolves the refs across the checked files.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint.callables import CALL, OPAQUE, PARAM, Refs, lambda_def, on_self, ours, param_names
from kinkcheck.lint.roots import (
    DERIVATIVE_RULES, FUNCTION_PARAM_RE, LOSS_NAME_RE, differentiated_slots, is_layer, transform_argnums,
)

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from kinkcheck.lint.env import _Env
    from kinkcheck.lint.index import _Indexer

#: value shapes that can hold a callable worth following (a name, ``self.attr``, a
#: lambda, ``partial(f)``, a constructor call, a table of those); arithmetic cannot
#: ``<class>.*``: every callable a class holds at class level
TABLE = "*"
_VALUE_SHAPES = frozenset({ast.Name, ast.Attribute, ast.Lambda, ast.Dict, ast.List, ast.Tuple, ast.Set, ast.IfExp,
                           ast.BoolOp, ast.Subscript, ast.Call})
_FUNCTION_VALUES = (ast.Lambda, ast.Name, ast.Attribute)


class ValuePass:
    """What one file's functions do with callables; the index builds a ``FileIndex``
    from ``bindings``, ``passes``, ``bound_roots`` and ``networks``."""

    def __init__(self, ix: "_Indexer"):
        self.ix = ix
        self.refs = Refs(ix, self.lambda_ref)
        #: module-level names, class attributes, ``self.attr`` -> refs of what is stored
        self.bindings: dict[str, list[str]] = {}
        #: (callee, position or keyword, ref): a callable handed to a call
        self.passes: list[tuple[str, int | str, str]] = []
        #: refs bound or passed under a loss-like name
        self.bound_roots: list[str] = []
        #: classes that build layers
        self.networks: set[str] = set()
        self._plain: dict[int, dict[str, bool]] = {}
        self._lambdas: dict[int, str] = {}
        self._pending: list[tuple[ast.Lambda, str, "_Env", str | None]] = []

    def close(self) -> None:
        """Drop the links back to the indexer (its tree is garbage as soon as it is done)."""
        self.refs.close()
        self.refs = self.ix = None  # type: ignore[assignment]

    # -- one function ------------------------------------------------------------------
    def function(self, fn, qualname: str, env: "_Env", call_nodes, stores, returned):
        """-> (what its calls run beyond the names the import table gives, the callables it
        stores, passes and returns, what it returns, per call node the refs of its callee
        (the backward slice wants them), whether a parameter may hold a function)."""
        R = self.refs
        module_level = fn is self.ix.tree
        calls: list[str] = []
        refs: list[str] = []
        per_call: dict[int, list[str]] = {}
        live = None if module_level else self._live_params(fn, env, call_nodes, stores)
        for node, target in call_nodes:
            func = node.func
            fkind = func.__class__
            on_instance = fkind is ast.Attribute and on_self(func)
            got: list[str] = []
            to_base = False
            if (target is None and fkind is not ast.Attribute and fkind is not ast.Lambda) or on_instance:
                got = R.called(func, env)
            elif target is None and fkind is ast.Attribute:
                to_base = _is_super(func.value)
                got = self._super(func.attr, env) if to_base else R.method_of_local(func, env, live[1] if live else frozenset())
            if got:
                calls.extend(got)
                per_call[id(node)] = got
            if target is not None and env.cls_qual is not None and _is_layer(target):
                self.networks.add(env.cls_qual)
            if node.args or node.keywords:
                self._arguments(node, target, got, env, live, refs, to_base)
        for node in stores:
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                self._store(t, node.value, env, refs, module_level)
        returns = [r for v in returned for r in R.of(v, env) if ours(r)]
        refs.extend(returns)
        if not module_level:
            for pname, default in env.defaults:
                got = R.of(default, env.parent or env, pname) if default.__class__ in _VALUE_SHAPES else []
                self.passes.extend((qualname, pname, r) for r in got if ours(r))
                if got and _loss_like(pname):
                    self.bound_roots.extend(got)
        # a function's own parameters reach other functions through ``passes``
        refs = [r for r in refs if PARAM not in r and ours(r)]
        return calls, refs, returns, per_call, bool(live and live[1])

    def _super(self, method: str, env: "_Env") -> list[str]:
        """``super().method``: the method of the enclosing class's bases."""
        e = env
        while e is not None and e.cls_qual is None:
            e = e.parent
        bases = self.ix.classes.get(e.cls_qual, ()) if e is not None else ()
        return [f"{b}.{method}" for b in bases if ours(b)]

    def _arguments(self, node: ast.Call, target: str | None, callee_refs: list[str], env: "_Env", live, refs,
                   to_base: bool = False) -> None:
        """The callables handed to one call: passes to a checked callee, roots when the
        keyword is loss-like or the callee differentiates them."""
        func = node.func
        if to_base:  # `super().__init__(model, similarity_fct=angle_sim)`
            diff, foreign = None, False
        elif target is not None:
            if target in OPAQUE:
                return
            diff = _differentiated_slots(target)
            # a call into a library cannot pass a callable on to a checked parameter:
            # only what is plainly a function counts (`jax.lax.scan(step, ...)`)
            foreign = not ours(target)
        else:
            diff = None
            foreign = func.__class__ is ast.Attribute and not on_self(func)  # `x.view(n)`: a method of a value
        rules = func.__class__ is ast.Attribute and func.attr in DERIVATIVE_RULES
        live_names = live[1] if live is not None else frozenset()
        for slot, arg, kw in _slots(node):
            kind = arg.__class__
            if kind is ast.Name:  # the common case, kept cheap: a local tensor is not a function
                if kw is None and not rules and diff is None and not self._plain_name(arg.id, env) and (
                        foreign or arg.id not in live_names):
                    continue
            elif kind not in _VALUE_SHAPES:
                continue
            loss_kw = kw is not None and _loss_like(kw)
            differentiated = rules or (diff is not None and (slot in diff[0] or slot in diff[1]))
            if not loss_kw and not differentiated:
                # only what is plainly a function (or a parameter that may hold one) is
                # worth following; `X`, `y`, `x.shape`, `f(x)` handed on are data
                if not self._plain_function(arg, env) and not (
                        not foreign and kind is ast.Name and arg.id in live_names):
                    continue
            got = self.refs.of(arg, env, kw, strict=not (loss_kw or differentiated))
            if got and live is not None:
                got = [r for r in got if not r.startswith(live[0]) or r[len(live[0]):] in live_names]
            if not got:
                continue
            refs.extend(got)
            if not foreign:
                callees = [target, *callee_refs] if target else callee_refs
                self.passes.extend((c, slot, r) for c in callees if ours(c) for r in got if ours(r))
            if loss_kw:
                self.bound_roots.extend(got)
            if differentiated:
                self.ix.grad_targets.extend(got)
                argnums = transform_argnums(node, target) if target is not None and slot == 0 else None
                self.ix.grad_argnums.extend((r, argnums) for r in got)

    def _live_params(self, fn, env: "_Env", call_nodes, stores) -> tuple[str, frozenset[str]] | None:
        """The parameters of ``fn`` that may hold a function: called in it, stored by it, or
        named or defaulted like one. Only those are worth following when handed on
        (``X``, ``y`` passed down a call chain are data)."""
        if not env.params:
            return None
        live = {p for p in env.params if _function_param(p)}
        for node, _ in call_nodes:
            if node.func.__class__ is ast.Name and node.func.id in env.params:
                live.add(node.func.id)
        for node in stores:
            if node.value.__class__ is ast.Name and node.value.id in env.params:
                live.add(node.value.id)
        for pname, default in env.defaults:
            if default.__class__ in _FUNCTION_VALUES:
                live.add(pname)
        return f"{env.qual}{PARAM}", frozenset(live)

    def _plain_function(self, arg: ast.AST, env: "_Env") -> bool:
        """``my_fn``, ``self._one``, ``losses.dice``, a lambda, ``partial(f, ...)``, or a
        local bound to one of those: an argument that is plainly a function, not data."""
        kind = arg.__class__
        if kind is ast.Lambda:
            return True
        if kind is ast.Call:
            f = getattr(arg, "func", None)
            return (getattr(f, "id", None) or getattr(f, "attr", None)) == "partial"
        links = 0
        while arg.__class__ is ast.Attribute:
            arg = arg.value
            links += 1
        if arg.__class__ is not ast.Name:
            return False
        name = arg.id
        if name == "self":
            return links == 1  # `self.metric`, `self._step`; not `self.config.hidden_size`
        return self._plain_name(name, env)

    def _plain_name(self, name: str, env: "_Env") -> bool:
        """A name bound to a function: a module-level name, an import, a nested `def`, or a
        local bound to a lambda, another name or an attribute."""
        known = self._plain.get(id(env))
        if known is None:
            known = self._plain[id(env)] = {}
        got = known.get(name)
        if got is None:
            got = True
            e = env
            while e is not None:
                if name in e.nested:
                    break  # a nested `def` (a scan or vmap body, a local helper)
                if name in e.bound:
                    got = e.parent is None or any(_function_value(v) for v in e.assigns.get(name, ()))
                    break
                e = e.parent
            known[name] = got
        return got

    # -- bindings ------------------------------------------------------------------------
    def _store(self, target: ast.AST, value: ast.AST, env: "_Env", refs: list[str], module_level: bool) -> None:
        """``name = value``, ``self.attr = value``, ``table[key] = value``: record the
        callables stored, under the binding scope will look them up by."""
        if isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
                for t, v in zip(target.elts, value.elts):
                    self._store(t, v, env, refs, module_level)
            return
        key = name = None
        if isinstance(target, ast.Name):
            name = target.id
            if not module_level and not _loss_like(name):
                return  # a local: its calls, uses and returns look its bindings up
            key = self.ix.qual(name) if module_level else None
        elif isinstance(target, ast.Attribute):
            name = target.attr
            if isinstance(target.value, ast.Name) and target.value.id == "self":
                owner = env.lookup("self", self.ix)
                key = f"{owner[5:]}.{name}" if owner and owner.startswith("self:") else None
        elif isinstance(target, ast.Subscript):
            if not isinstance(target.value, ast.Name) and not on_self(target.value):
                return
            sub = target.slice
            name = sub.value if isinstance(sub, ast.Constant) and isinstance(sub.value, str) else None
            for r in self.refs.of(target.value, env):
                if not r.endswith(CALL) and PARAM not in r:
                    key = r
                    break
        got = self._bind(key, name, value, env, refs)
        if got and name and _loss_like(name):
            self.bound_roots.extend(got)

    def _bind(self, key: str | None, name: str | None, value: ast.AST, env: "_Env", refs: list[str]) -> list[str]:
        if value.__class__ not in _VALUE_SHAPES:
            return []
        got = [r for r in self.refs.of(value, env, name) if ours(r)]
        if got:
            refs.extend(got)
            if key:
                self.bindings.setdefault(key, []).extend(got)
        return got

    def class_bindings(self, classes: list[tuple[str, ast.ClassDef]], module_env: "_Env") -> None:
        """Class-level assignments (``metric = staticmethod(ssim)``, ``losses = {...}``).
        A class holding several callables is a table of them (``DistanceMetric.COSINE``,
        ``.MANHATTAN``): picking one picks from all, so ``<class>.*`` binds them all."""
        for cls_q, node in classes:
            table: list[str] = []
            for stmt in node.body:
                if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    for t in targets:
                        if isinstance(t, ast.Name) and self._bind(f"{cls_q}.{t.id}", t.id, stmt.value, module_env, []):
                            table.append(f"{cls_q}.{t.id}")
            if len(table) > 1:
                self.bindings[f"{cls_q}.{TABLE}"] = table  # the entries, by their own names

    # -- lambdas -------------------------------------------------------------------------
    def lambda_ref(self, lam: ast.Lambda, env: "_Env", name: str | None) -> str:
        """The qualified name of a lambda used as a value; it is indexed (and checked)
        as a function of its own once the enclosing function is done."""
        q = self._lambdas.get(id(lam))
        if q is None:
            owner = env.qual or self.ix.module
            label = name if name and name.isidentifier() else str(lam.lineno)
            q = f"{owner}.<lambda:{label}>" if owner else f"<lambda:{label}>"
            if q in self.ix.scopes or q in self._lambdas.values():
                q = q[:-1] + f":{lam.lineno}:{lam.col_offset}>"
            self._lambdas[id(lam)] = q
            self._pending.append((lam, q, env, name))
        return q

    def index_lambdas(self, env_type) -> None:
        """Index every lambda used as a value as a function of its own (``criterion``,
        ``<lambda:12>``), with the enclosing function's names around it."""
        while self._pending:
            lam, q, env, name = self._pending.pop(0)
            fd = lambda_def(lam, name or "<lambda>")
            nodes = list(_lambda_nodes(fd))
            bound = set(param_names(fd)) | {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            lenv = env_type(env, bound, {}, None, self.ix.module, prefix=q)
            cls = env
            while cls is not None and cls.cls_qual is None:
                cls = cls.parent
            self.ix._function(fd, q, fd.name, lenv, cls.cls_qual if cls else None, nodes, is_lambda=True)


def _function_value(value: ast.AST) -> bool:
    """A lambda, a name or an attribute, or a choice between such (``pair_fn = neg_sisdr if
    kind == "sisdr" else l1``)."""
    if isinstance(value, ast.IfExp):
        return _function_value(value.body) and _function_value(value.orelse)
    return value.__class__ in _FUNCTION_VALUES


def _lambda_nodes(fd: ast.FunctionDef):
    from kinkcheck.lint.walk import walk_local

    return walk_local(fd)


def attribute_ctors(inside: list[ast.AST], resolve: "Callable[[ast.AST], str | None]") -> dict[str, tuple[str, ...]]:
    """attribute -> every callee a class's methods assign ``self.<attribute>`` from (annotated
    assignments too); left out where one assignment is not a call ``resolve`` names."""
    out: dict[str, list[str | None]] = {}
    for n in inside:
        if isinstance(n, ast.Assign):
            targets, value = n.targets, n.value
        elif isinstance(n, ast.AnnAssign) and n.value is not None:
            targets, value = [n.target], n.value
        else:
            continue
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                out.setdefault(t.attr, []).append(resolve(value.func) if isinstance(value, ast.Call) else None)
    return {a: tuple(dict.fromkeys(c for c in cs if c)) for a, cs in out.items() if all(cs)}


def param_annotations(fn: ast.AST) -> dict[str, ast.AST]:
    args = getattr(fn, "args", None)
    if not isinstance(args, ast.arguments):
        return {}
    return {a.arg: a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.annotation is not None}


def bind_names(target: ast.AST, value: ast.AST, out: dict[str, list[ast.AST]], element: bool = False) -> None:
    """Every local binding of a name, for the value pass: ``f = g`` binds ``g``; a loop
    target (``for fn in self.losses``) is bound to the container (``element``), whose
    refs are its elements'."""
    if isinstance(target, ast.Name):
        out.setdefault(target.id, []).append(value)
    elif isinstance(target, (ast.Tuple, ast.List)):
        if not element and isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
            for t, v in zip(target.elts, value.elts):
                bind_names(t, v, out)
        else:
            for t in target.elts:
                bind_names(t, value, out, element=True)


def _is_super(expr: ast.AST) -> bool:
    return expr.__class__ is ast.Call and getattr(expr.func, "id", None) == "super"


def _slots(node: ast.Call):
    for i, a in enumerate(node.args):
        yield i, a, None
    for k in node.keywords:
        if k.arg:
            yield k.arg, k.value, k.arg


_LOSS_LIKE: dict[str, bool] = {}


def _loss_like(name: str) -> bool:
    got = _LOSS_LIKE.get(name)
    if got is None:
        if len(_LOSS_LIKE) > 10_000:
            _LOSS_LIKE.clear()
        got = _LOSS_LIKE[name] = LOSS_NAME_RE.search(name) is not None
    return got


_FUNCTION_PARAM: dict[str, bool] = {}


def _function_param(name: str) -> bool:
    got = _FUNCTION_PARAM.get(name)
    if got is None:
        if len(_FUNCTION_PARAM) > 10_000:
            _FUNCTION_PARAM.clear()
        got = _FUNCTION_PARAM[name] = FUNCTION_PARAM_RE.search(name) is not None
    return got


_LAYERS: dict[str, bool] = {}


def _is_layer(q: str) -> bool:
    got = _LAYERS.get(q)
    if got is None:
        if len(_LAYERS) > 100_000:
            _LAYERS.clear()
        got = _LAYERS[q] = is_layer(q)
    return got


_SLOTS: dict[str, tuple | None] = {}


def _differentiated_slots(callee: str):
    if callee not in _SLOTS:
        if len(_SLOTS) > 100_000:
            _SLOTS.clear()
        _SLOTS[callee] = differentiated_slots(callee)
    return _SLOTS[callee]
