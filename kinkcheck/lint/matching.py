"""Matching: the sites a node gives for the selected rules, before guards and checks.

A call matches a catalog callable by its qualified name (``kinkcheck.lint.resolve`` through
the file's import table, aliases, instances and sibling re-exports), a catalog tensor method
on a receiver that may be a tensor, or, where the import table cannot name the callee,
what astroid infers for it (:func:`infer_callee`); an operator matches the catalog's
``[match] operators``.

Confidence of a site:
    high    the callee resolved to a catalog callable by qualified name (capped by the
            rule's own ``confidence``)
    medium  a tensor method name, an operator or a builtin on a value known or assumed
            (UNKNOWN in loss code) to be a tensor, an instance of a catalog class, or a
            callee only astroid inference could name (``ops["abs"](x)``, ``pick()(x)``,
            ``getattr(torch, "sqrt")(x)``: see ``kinkcheck.lint.infer_astroid``; the
            finding's ``extra["inferred"]`` holds the qualified name)
    low     name heuristics: ``from torch import *``, a branch on an UNKNOWN value
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint.checks import Site
from kinkcheck.lint.bindings import IterItem, Opaque
from kinkcheck.lint.kinds import PARAMETERS
from kinkcheck.lint.resolve import ARRAY_ROOTS, DATA, PLAIN, TENSOR, dotted
from kinkcheck.syntax import callee_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context, FileAnalysis

_CONF_ORDER = {"low": 0, "medium": 1, "high": 2}

#: operator node types and the symbols the catalog's ``[match] operators`` use
OPERATORS = {ast.Div: "/", ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@",
             ast.Mult: "*", ast.Add: "+", ast.Sub: "-"}


def min_conf(*levels: str) -> str:
    """The lowest of confidence levels (``low`` < ``medium`` < ``high``)."""
    return min(levels, key=lambda c: _CONF_ORDER.get(c, 0))


class Tables:
    """Catalog lookups for the selected codes, built once per (catalog, codes)."""

    _cache: dict = {}

    def __init__(self, catalog, codes: frozenset[str]):
        self.callables: dict[str, list[str]] = {}
        self.methods: dict[str, list[str]] = {}
        self.operators: dict[str, list[str]] = {}
        #: last segments of the selected callables (``abs``, ``relu``, ``ReLU``)
        self.tails: set[str] = set()
        for code in sorted(codes):
            rule = catalog.get(code)
            if rule is None:
                continue
            for c in rule.match.callables:
                for spelled in (c, *_wrapped(c)):
                    self.callables.setdefault(spelled, []).append(code)
                self.tails.add(c.rsplit(".", 1)[-1])
            for m in rule.match.methods:
                self.methods.setdefault(m, []).append(code)
            for o in rule.match.operators:
                self.operators.setdefault(o, []).append(code)

    @classmethod
    def get(cls, catalog, codes: frozenset[str]) -> Tables:
        key = (id(catalog), codes)
        t = cls._cache.get(key)
        if t is None:
            if len(cls._cache) > 32:
                cls._cache.clear()
            t = cls._cache[key] = cls(catalog, codes)
        return t


#: packages that wrap numpy and scipy function by function: HIPS autograd differentiates
#: ``autograd.numpy.abs`` where numpy's is, with the same kink
_NUMPY_WRAPPERS = ("autograd",)


def _wrapped(callable_: str) -> tuple[str, ...]:
    """``numpy.abs`` -> ``autograd.numpy.abs``; ``scipy.special.xlogy`` -> ``autograd.scipy.special.xlogy``."""
    if callable_.startswith(("numpy.", "scipy.")):
        return tuple(f"{w}.{callable_}" for w in _NUMPY_WRAPPERS)
    return ()


#: callees whose kink sits at their second operand (argument index, keyword): ``xlogy(x, y)``
#: has its infinite slope where ``y`` is 0 (``d/dy = x / y``, ``d/dx = log y``), not ``x``
_SECOND_OPERAND = {"xlogy": (1, "other"), "xlogy_": (1, "other")}


def _operand(call: ast.Call, argument: int, keyword: str | None) -> ast.AST | None:
    if argument < len(call.args) and not isinstance(call.args[argument], ast.Starred):
        return call.args[argument]
    if keyword:
        for kw in call.keywords:
            if kw.arg == keyword:
                return kw.value
    if call.args and argument == 0:
        return call.args[0]
    return None


#: classes whose instances are tensors: their methods are tensor methods
TENSOR_CLASSES = frozenset({*PARAMETERS, "torch.Tensor", "torch.FloatTensor", "torch.DoubleTensor",
                            "torch.HalfTensor", "torch.BFloat16Tensor"})
#: containers whose call runs every layer they were built with, in order
SEQUENTIAL = frozenset({"torch.nn.Sequential", "torch.nn.modules.container.Sequential"})


def _sequential_layers(attr: str, ctx: "Context", tables: Tables) -> list[Site]:
    """``self.net(x)`` where ``self.net = nn.Sequential(conv, nn.ReLU(), ...)``: each kinked
    layer runs, and is reported where it is built (where a reviewer puts a module's kink)."""
    out: list[Site] = []
    for value in ctx.fa.self_assigns().get(attr, []):
        if not (isinstance(value, ast.Call) and ctx.qualify(value.func) in SEQUENTIAL):
            continue
        for layer in value.args:
            if not isinstance(layer, ast.Call) or (q := _layer_class(layer, ctx, tables)) is None:
                continue
            for code in tables.callables[q]:
                conf = min_conf(_rule(ctx, code).confidence, "medium")
                out.append(Site(code, layer, ctx.source(layer.func), None, q, conf, layer, "instance"))
    return out


def _layer_class(value: ast.AST, ctx: "Context", tables: Tables) -> str | None:
    """The catalog class ``value`` builds (``nn.ReLU()``, ``nn.L1Loss(reduction="sum")``), or None."""
    q = ctx.qualify(value.func) if isinstance(value, ast.Call) else None
    if q is None or q not in tables.callables or not q.rsplit(".", 1)[-1][:1].isupper():
        return None
    return q


def match_call(node: ast.Call, ctx: "Context", tables: Tables) -> list[Site]:
    """Sites for a call: a catalog callable by qualified name (or an instance of a catalog
    class), else a catalog tensor method on a value that may be a tensor, else what astroid
    infers for a callee the import table could not name."""
    out: list[Site] = []
    func = node.func
    instance_call = False
    if isinstance(func, ast.Call):  # nn.ReLU()(x)
        q = ctx.qualify(func.func)
        instance_call = q is not None
    else:
        q = ctx.qualify(func)
        if ctx.how in ("instance",):
            instance_call = True
        elif ctx.how == "attribute-of-instance":
            q = None
    how = ctx.how
    mapped = _mapped_primitives(node, q, ctx, tables) or _partial_primitives(node, ctx, tables)
    if mapped:
        return mapped
    if instance_call and q in SEQUENTIAL and isinstance(func, ast.Attribute):
        return _sequential_layers(func.attr, ctx, tables)
    if instance_call and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self" \
            and len(ctx.fa.self_assigns().get(func.attr, ())) > 1:
        return _held_instances(node, func.attr, ctx, tables)
    if q is not None and q in tables.callables:
        tail = q.rsplit(".", 1)[-1]
        is_class = tail[:1].isupper()
        if is_class and not instance_call:
            q = None  # constructing nn.ReLU() evaluates nothing; calling the instance does
        elif not is_class and instance_call:
            q = None
    if q is not None and q in tables.callables and _own_package(q, ctx):
        return out  # torchvision's `box_iou` called inside torchvision: its body is checked, not the call
    if q is not None and q in tables.callables:
        if _smooth_metric(node, q):
            return out
        callee = ctx.source(func)
        for code in tables.callables[q]:
            rule = _rule(ctx, code)
            conf = rule.confidence
            if how == "star":
                conf = "low"
            elif instance_call or how == "builtin" or q.startswith("builtins."):
                conf = min_conf(conf, "medium")
            operand = _operand(node, *_SECOND_OPERAND.get(q.rsplit(".", 1)[-1], (rule.match.argument, rule.match.keyword)))
            out.append(Site(code, node, callee, operand, q, conf, node, "instance" if instance_call else "call"))
        return out
    if q is not None and ctx.how in ("import", "star", "def", "builtin") and not isinstance(func, ast.Call):
        return out  # a module function / local helper that is not in the catalog
    if isinstance(func, ast.Attribute) and func.attr in tables.methods and not ctx.is_module_ref(func.value):
        recv_kind = ctx.kind(func.value)
        if recv_kind == PLAIN or _object_receiver(func.value, ctx) \
                or _not_an_array_method(node, func.attr, ctx) or _logging_call(node, func.attr, ctx):
            return out
        for code in tables.methods[func.attr]:
            rule = _rule(ctx, code)
            arg, keyword = _SECOND_OPERAND.get(func.attr, (rule.match.argument, rule.match.keyword))
            operand = func.value if arg == 0 else _operand(node, arg - 1, keyword)
            conf = min_conf(rule.confidence, "medium")
            out.append(Site(code, node, f".{func.attr}()", operand, None, conf, node, "method"))
        return out
    if _wants_inference(node, ctx, q, how):
        out.extend(_match_inferred(node, ctx, tables))
    return out


def _own_package(q: str, ctx: "Context") -> bool:
    """A catalog callable of a library that is not an array framework, called from inside that
    library: it is a helper of the checked package, whose primitives are the sites (LABELS.md
    rule 1), not a primitive itself."""
    root = q.split(".", 1)[0]
    return root not in ARRAY_ROOTS and ctx.fa.module.split(".", 1)[0] == root


#: scipy distances and the position of their ``metric`` argument: with a squared metric
#: (``pdist(Y, "sqeuclidean")``, t-SNE's kernel) the distance is a polynomial, smooth at 0
_METRIC_ARGUMENT = {"scipy.spatial.distance.pdist": 1, "scipy.spatial.distance.cdist": 2}
_SMOOTH_METRICS = frozenset({"sqeuclidean"})


def _smooth_metric(node: ast.Call, q: str) -> bool:
    at = _METRIC_ARGUMENT.get(q)
    if at is None:
        return False
    metric = node.args[at] if len(node.args) > at else next((k.value for k in node.keywords if k.arg == "metric"), None)
    return isinstance(metric, ast.Constant) and metric.value in _SMOOTH_METRICS


#: higher-order functions that apply the function they are handed to their other arguments
#: (leafwise, per element, per row): ``tree_map(jax.nn.relu, params)`` evaluates relu
MAPPERS = frozenset({"jax.tree_util.tree_map", "jax.tree.map", "jax.tree_map", "jax.lax.map", "builtins.map",
                     "functools.reduce", "optax.tree_utils.tree_map", "torch.utils._pytree.tree_map"})
#: reductions that fold their operand with the function they are handed, and where it goes:
#: ``lax.reduce_window(x, -jnp.inf, lax.max, window, strides, "VALID")`` is a max pool
REDUCERS = {"jax.lax.reduce_window": (2, "computation"), "jax.lax.reduce": (2, "computation")}
#: transforms whose result, called, applies the function they wrap: ``jax.vmap(jnp.abs)(x)``
WRAPPERS = frozenset({"jax.vmap", "jax.pmap", "jax.jit", "torch.vmap", "torch.func.vmap", "torch.compile",
                      "equinox.filter_vmap", "equinox.filter_jit"})


def _partial_primitives(node: ast.Call, ctx: "Context", tables: Tables) -> list[Site]:
    """``self.criterion(out, target)`` where ``__init__`` binds ``self.criterion =
    partial(F.l1_loss, reduction=r)`` (or a local ``crit = partial(...)``): the catalog function
    runs on the call's arguments, and is reported where the partial names it, as a reviewer
    labels it (medium confidence)."""
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
        from kinkcheck.lint.bindings import self_assignments

        values = [v for *_, v in self_assignments(ctx.fa, ctx.cls_qual, func.attr)] if ctx.cls_qual else []
        bound = values[0] if len(values) == 1 else None
    elif isinstance(func, ast.Name):
        bound = ctx.definition(func.id)
    else:
        return []
    if not (isinstance(bound, ast.Call) and ctx.qualify(bound.func) == "functools.partial" and bound.args
            and isinstance(bound.args[0], (ast.Name, ast.Attribute))):
        return []
    return _applied_function(bound.args[0], node.args[0] if node.args else None, node, ctx, tables)


def _mapped_primitives(node: ast.Call, q: str | None, ctx: "Context", tables: Tables) -> list[Site]:
    """A catalog function handed by reference to a mapper (``tree_map(jnp.clip, x, lo, hi)``,
    ``map(torch.abs, xs)``, ``functools.reduce(jnp.maximum, xs)``), to a reduction
    (``lax.reduce_window(x, -inf, lax.max, ...)``, a max pool) or wrapped and called
    (``jax.vmap(jnp.abs)(x)``): its kink is evaluated on the data it is mapped over, and is
    reported where the function is named (medium confidence)."""
    func = node.func
    ref: ast.AST | None
    if isinstance(func, ast.Call) and q in WRAPPERS and func.args:  # q: what `func.func` names
        ref, data = func.args[0], node.args[0] if node.args else None
    elif q in MAPPERS and len(node.args) >= 2:
        ref, data = node.args[0], node.args[1]
    elif q in REDUCERS and node.args:
        ref, data = _operand(node, *REDUCERS[q]), node.args[0]
    else:
        return []
    if not isinstance(ref, (ast.Name, ast.Attribute)):
        return []
    return _applied_function(ref, data, node, ctx, tables)


def _applied_function(ref: ast.expr, data: ast.AST | None, node: ast.Call, ctx: "Context", tables: Tables) -> list[Site]:
    """The sites of the catalog function ``ref`` names, applied by ``node`` to ``data``:
    reported where it is named (medium confidence)."""
    fq = ctx.qualify(ref)
    if fq is None or fq not in tables.callables or fq.rsplit(".", 1)[-1][:1].isupper():
        return []  # not a catalog function (a class is constructed, not applied)
    if data is not None and ctx.kind(data) in (PLAIN, DATA):
        return []  # `map(abs, offsets)`: Python numbers or data carry no gradient
    out = []
    for code in tables.callables[fq]:
        rule = _rule(ctx, code)
        if rule.category not in ("kink", "singular", "step"):
            continue  # `map(int, sample_shape)`: a conversion is judged where a value is converted
        out.append(Site(code, ref, ctx.source(ref), data, fq, min_conf(rule.confidence, "medium"), node, "node"))
    return out


def _held_instances(node: ast.Call, attr: str, ctx: "Context", tables: Tables) -> list[Site]:
    """``self.distance(x, y)`` where ``__init__`` binds ``self.distance`` to ``nn.L1Loss()`` in
    one branch and ``nn.MSELoss()`` in another: the name resolves to the last binding, but
    the call runs the kinked one whenever its branch was taken (medium confidence)."""
    out: list[Site] = []
    for value in ctx.fa.self_assigns().get(attr, []):
        q = _layer_class(value, ctx, tables)
        if q is None:
            continue
        for code in tables.callables[q]:
            if any(site.code == code for site in out):
                continue  # the same kind of layer bound in two branches: one site
            rule = _rule(ctx, code)
            operand = _operand(node, rule.match.argument, rule.match.keyword)
            out.append(Site(code, node, ctx.source(node.func), operand, q, min_conf(rule.confidence, "medium"),
                            node, "instance"))
    return out


#: the methods of a NumPy ndarray and a jax.Array among the catalog's (torch tensors have
#: many more: ``.log()``, ``.sqrt()``, ``.abs()``, ``.clamp()``, ``.norm()``)
ARRAY_METHODS = frozenset({"argmax", "argmin", "argsort", "clip", "item", "max", "min", "round", "sort", "std",
                           "tolist", "__abs__", "__floordiv__", "__mod__", "__pow__", "__rtruediv__", "__truediv__"})


def _not_an_array_method(call: ast.Call, attr: str, ctx) -> bool:
    """``self.rotation().log()``, ``dist.median()`` in a JAX or NumPy module that does not
    import torch: neither array type has such a method, so it is one of the module's own
    objects (a Lie group's logarithm map, a distribution's median), not an array op. With
    arguments it may be an array namespace's function (``xp.log1p(x)``, ``xp.where(c, a, b)``)."""
    fa = ctx.fa
    return not fa.torch and (fa.jax or fa.numpy) and attr not in ARRAY_METHODS and not call.args


#: the keywords an array namespace's log takes (NumPy's ufunc keywords)
_UFUNC_KEYWORDS = frozenset({"out", "where", "dtype", "casting", "order", "subok"})


def _logging_call(call: ast.Call, attr: str, ctx: "Context") -> bool:
    """``metrics.log(step, loss=float(loss))``, ``run.log({"loss": loss})``, ``logger.log("loss",
    loss)``, ``log.log(logging.INFO, "loss %s", loss)``: a logger's ``log``, not the logarithm. A
    tensor's ``.log()`` takes no argument; an array namespace's (``xp.log(x)``) takes no metric
    keyword, no name and no record of values, and a logarithm whose value is thrown away is
    computed for nothing."""
    if attr != "log" or not (call.args or call.keywords):
        return False
    if any(k.arg is not None and k.arg not in _UFUNC_KEYWORDS for k in call.keywords):
        return True
    if isinstance(ctx.parent(call), ast.Expr):
        return True  # a statement of its own: what it returns is not used
    first = call.args[0] if call.args else None
    return isinstance(first, (ast.Dict, ast.JoinedStr)) or isinstance(first, ast.Constant) and isinstance(first.value, str) \
        or isinstance(first, ast.Call) and isinstance(first.func, ast.Name) and first.func.id == "dict"


def _object_receiver(recv: ast.AST, ctx: "Context") -> bool:
    """``self.norm(x)``, ``self.cost_fn.norm(x)``: a method of the class itself or of an
    object it holds (a cost, a metric, a sub-module), not a tensor method such as ``t.norm()``."""
    if isinstance(recv, ast.Name) and recv.id in ("self", "cls"):
        return True
    if isinstance(recv, ast.Attribute) and isinstance(recv.value, ast.Name) and recv.value.id == "self" and ctx.cls_qual:
        values = ctx.fa.self_assigns().get(recv.attr, [])
        if values and all(_constructs_object(v, ctx) for v in values):
            return True
        # `self.cost_fn.norm(x)`: a tensor's own norm() takes an order or a dim, never an array
        method = ctx.parent(recv)
        call = ctx.parent(method) if method is not None else None
        if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], (ast.Name, ast.Attribute, ast.Subscript)):
            return ctx.kind(recv) not in (TENSOR,) and getattr(method, "attr", None) in ("norm",)
    return False


def _constructs_object(value: ast.AST, ctx: "Context") -> bool:
    """``SqEuclidean()``, ``costs.Cosine(...)``, ``nn.Linear(...)``: an instance of a class
    (not a tensor made by a class: ``nn.Parameter(...)``, ``torch.Tensor(...)``)."""
    if not isinstance(value, ast.Call):
        return False
    name = callee_tail(value.func)
    return name[:1].isupper() and ctx.qualify(value.func) not in TENSOR_CLASSES


def _wants_inference(node: ast.Call, ctx: "Context", q: str | None, how: str | None) -> bool:
    """Whether astroid may name this callee where the import table could not: cheap,
    syntactic reasons to skip the calls inference cannot help with (a parameter without a
    default, an instance of a known class, a method of the class itself)."""
    func = node.func
    if how in ("instance", "attribute-of-instance") and not isinstance(func, ast.Call):
        return False  # calling (a method of) an instance of a class the import table knows
    if isinstance(func, ast.Call):  # pick()(x), getattr(torch, "sqrt")(x), partial(...)(x)
        if q is None:
            return _has_value(func.func, ctx)
        return how in ("def", "builtin", "self") or q in ("functools.partial", "operator.attrgetter", "operator.methodcaller")
    if q is not None:
        if how == "self":  # self.fn(x): a method of the class is followed by scope, not here
            return (q not in ctx.fa.ix.scopes and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    and _self_attr_may_be_callable(func.attr, ctx))
        return False  # an instance of a class the import table knows, or a resolved name
    if isinstance(func, ast.Attribute):
        return False  # `x.unsqueeze(1)`: a method of a value; the catalog's methods table judges those
    return _has_value(func, ctx)


def _has_value(expr: ast.AST, ctx: "Context") -> bool:
    """The head name of ``expr`` (``ops`` in ``ops["abs"]``) is bound to something astroid
    could follow to a catalog callable: not a parameter without a default, not only
    instances of classes (``loss_fct = MSELoss()`` in two branches)."""
    while isinstance(expr, (ast.Attribute, ast.Subscript, ast.Call)):
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
            return _self_attr_may_be_callable(expr.attr, ctx)  # self.ops["abs"](x)
        expr = expr.func if isinstance(expr, ast.Call) else expr.value
    if not isinstance(expr, ast.Name):
        return isinstance(expr, (ast.Dict, ast.List, ast.Tuple, ast.IfExp, ast.BoolOp, ast.Lambda))
    name = expr.id
    if name == "self":
        return True
    values = ctx.assignments().get(name, ())
    if name in ctx.params:
        return ctx.params[name][1] is not None or any(_may_be_callable(v, ctx) for v in values)
    if values:
        return any(_may_be_callable(v, ctx) for v in values)
    return True  # a module-level or enclosing name


def _may_be_callable(value, ctx: "Context") -> bool:
    """Whether an assigned value could be (or hold) a catalog callable: not a constant, not
    an instance of a class other than a catalog one (``MSELoss()``; ``nn.ReLU()`` is)."""
    if isinstance(value, Opaque):
        return True
    if isinstance(value, IterItem):
        return _may_be_callable(value.iterable, ctx)
    if isinstance(value, (ast.Constant, ast.JoinedStr)):
        return False
    if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        return any(_may_be_callable(v, ctx) for v in value.elts)
    if isinstance(value, ast.Dict):
        return any(_may_be_callable(v, ctx) for v in value.values)
    if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name) and value.value.id == "self":
        return _self_attr_may_be_callable(value.attr, ctx)  # {"labels": self.loss_labels}: a method
    if isinstance(value, ast.Call):
        tail = dotted(value.func)
        tail = tail.rsplit(".", 1)[-1] if tail else None
        if tail and tail[:1].isupper():
            return tail in ctx.fa.tails  # a constructor: only a catalog class matters
        return True  # a helper's result, getattr(...), partial(...)
    return True


def _self_attr_may_be_callable(attr: str, ctx: "Context") -> bool:
    """Some ``self.<attr> = value`` (or a class-level ``attr = value``) in the file could
    make ``self.<attr>`` a catalog callable."""
    busy = ctx.fa._self_busy
    if attr in busy:
        return False
    busy.add(attr)
    try:
        return any(_may_be_callable(v, ctx) for v in ctx.fa.self_assigns().get(attr, ()))
    finally:
        busy.discard(attr)


def _match_inferred(node: ast.Call, ctx: "Context", tables: Tables) -> list[Site]:
    """Sites for a callee astroid inferred to a catalog callable (confidence <= medium)."""
    out: list[Site] = []
    for hit in infer_callee(ctx.fa, node, tables):
        codes = tables.callables.get(hit.qname)
        if not codes:
            continue
        is_class = hit.qname.rsplit(".", 1)[-1][:1].isupper()
        if is_class != hit.instance:
            continue  # constructing nn.ReLU() evaluates nothing; calling the instance does
        ctx.fa.inferred[id(node)] = hit.qname
        callee = ctx.source(node.func)
        for code in codes:
            rule = _rule(ctx, code)
            argument = rule.match.argument - hit.shift
            operand = _operand(node, argument, rule.match.keyword) if argument >= 0 else None
            conf = min_conf(rule.confidence, "medium")
            out.append(Site(code, node, callee, operand, hit.qname, conf, node, "instance" if hit.instance else "call"))
    return out


def _mentioned(tree: ast.Module, tails) -> frozenset[str]:
    """Catalog tail names the file mentions anywhere a callable could come from: an
    attribute (``torch.abs``), an imported name, a string (``getattr(torch, "sqrt")``) or
    a bare name that is not itself called or an annotation (``{"abs": abs}``). Empty: no
    call in the file can infer to a catalog callable, so astroid never starts for it."""
    tails = frozenset(tails)
    found: set[str] = set()
    skip: set[int] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Call):
            skip.add(id(n.func))
        elif isinstance(n, ast.Attribute):
            if n.attr in tails:
                found.add(n.attr)
        elif isinstance(n, ast.Name):
            if n.id in tails and id(n) not in skip and isinstance(n.ctx, ast.Load):
                found.add(n.id)
        elif isinstance(n, ast.alias):
            tail = n.name.rsplit(".", 1)[-1]
            if tail in tails:
                found.add(tail)
        elif isinstance(n, ast.Constant):
            if isinstance(n.value, str) and n.value in tails:
                found.add(n.value)
        elif isinstance(n, ast.arg):
            continue  # annotations: `x: float` names no callable
        elif isinstance(n, ast.AnnAssign):
            stack.append(n.target)
            if n.value is not None:
                stack.append(n.value)
            continue
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(n.body)
            stack.extend(n.decorator_list)
            stack.extend(d for d in (*n.args.defaults, *n.args.kw_defaults) if d is not None)
            continue
        stack.extend(ast.iter_child_nodes(n))
    return frozenset(found)


_STUBS: dict[int, tuple] = {}


def _stubs(catalog) -> dict[str, str]:
    """Stub module sources for every catalog callable (all rules: the names are facts about
    the libraries, the selection applies when matching)."""
    hit = _STUBS.get(id(catalog))
    if hit is None or hit[0] is not catalog:
        from kinkcheck.lint.infer_astroid import stub_sources

        hit = _STUBS[id(catalog)] = (catalog, stub_sources({c for rule in catalog.values() for c in rule.match.callables}))
    return hit[1]


def match_operator(node: ast.BinOp | ast.AugAssign, ctx: "Context", tables: Tables) -> list[Site]:
    """Sites for an operator of the catalog (``x / y``, ``x ** p``, ``x //= 2``), confidence <= medium."""
    sym = OPERATORS.get(type(node.op))
    if sym is None or sym not in tables.operators:
        return []
    left: ast.AST
    if isinstance(node, ast.AugAssign):
        left, right = node.target, node.value
    else:
        left, right = node.left, node.right
    out = []
    for code in tables.operators[sym]:
        rule = _rule(ctx, code)
        operand = right if rule.match.argument == 1 else left
        out.append(Site(code, node, sym, operand, None, min_conf(rule.confidence, "medium"),
                        node if isinstance(node, ast.BinOp) else ast.BinOp(left=left, op=node.op, right=right), "operator"))
    return out


def _rule(ctx: "Context", code: str):
    return ctx.fa.catalog[code]  # type: ignore[index]  # set by analyze_file before matching


def infer_callee(fa: "FileAnalysis", call: ast.Call, tables: Tables):
    """Catalog callables astroid infers for ``call.func`` (see infer_astroid), or [].
    Never runs in a file that mentions no catalog name at all."""
    if not fa.infer_enabled:
        return []
    if fa._infer_tokens is None:
        fa._infer_tokens = _mentioned(fa.tree, tables.tails)
    if not fa._infer_tokens:
        return []
    if fa.inference is None:
        from kinkcheck.lint.infer_astroid import FileInference

        fa.inference = FileInference(fa.source, fa.path, fa.module, _stubs(fa.catalog),
                                       fa.reexports.root)
    return fa.inference.callee(call)
