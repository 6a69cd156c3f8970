"""Ranges of names and attributes: the bindings of a name (all of them, or those that reach a
use), loop counters, ``self.<attr>`` set in other methods, ``finfo(...).eps`` and constants.
``ranges._range`` asks these; the arithmetic is in ``ranges``."""

from __future__ import annotations

import ast
import re

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.ranges import (
    ANY,
    COUNTS,
    GE1,
    KEEP,
    POS,
    _config_name,
    _param,
    _passed_range,
    _range_of,
    class_of_self,
    join,
    meet,
)
from kinkcheck.lint.resolve import ARRAY_ROOTS, PLAIN, const_value, dotted
from kinkcheck.lint.scale_contract import scale_beside_location


def _name(name: str, ctx, depth: int) -> str:
    """Join over every binding of ``name`` in the function (a use with no known position)."""
    assigns = _local_bindings(name, ctx)
    params = getattr(ctx, "params", {}) or {}
    if assigns:
        rs = [_bound(stmt, v, name, ctx, depth) for stmt, v in assigns]
        if name in params:
            rs.append(_param(name, ctx, depth))
        return join(*rs)
    if name in params:
        return _param(name, ctx, depth)
    return _free(name, ctx, depth)


def _bound(stmt: ast.AST, value: ast.AST | None, name: str, ctx, depth: int) -> str:
    """The range a binding gives ``name``: its value's, or for ``x_pos, y_pos, slopes =
    self.get_params(c)`` that item of the tuples the function of this file returns."""
    if value is not None:
        return _range_of(value, ctx, depth)
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return element_range(stmt.target, stmt.iter, name, ctx, depth)
    if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        if isinstance(target, (ast.Tuple, ast.List)) and not any(isinstance(e, ast.Starred) for e in target.elts):
            at = [i for i, e in enumerate(target.elts) if isinstance(e, ast.Name) and e.id == name]
            if len(at) == 1:
                from kinkcheck.lint.ranges_returned import returned_item

                return returned_item(stmt.value, at[0], len(target.elts), ctx)
    item = _unpacked_constant(stmt, name, ctx)
    if item is not None:
        return _range_of(item, ctx, depth)
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], (ast.Tuple, ast.List)) \
            and not any(isinstance(e, ast.Starred) for e in stmt.targets[0].elts) \
            and isinstance(stmt.value, ast.Name) and stmt.value.id in (getattr(ctx, "params", None) or {}) \
            and scale_beside_location(name, [e.id for e in stmt.targets[0].elts if isinstance(e, ast.Name)], ctx) \
            and depth > 2 and _passed_range(stmt.value.id, ctx, depth) is None:
        # `mean, variance = pred` of a likelihood no caller in the file hands a prediction:
        # items of an input, a distribution's location and scale
        return POS
    return ANY


def _unpacked_constant(stmt: ast.AST, name: str, ctx) -> ast.expr | None:
    """The number ``name`` is unpacked from: ``K1`` of ``K1, K2 = K`` where ``K=(0.01, 0.03)``
    is a parameter's default (as ``_param`` reads defaults), or of ``K1, K2 = 0.01, 0.03``."""
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], (ast.Tuple, ast.List))):
        return None
    elts = stmt.targets[0].elts
    at = [i for i, e in enumerate(elts) if isinstance(e, ast.Name) and e.id == name]
    if len(at) != 1 or any(isinstance(e, ast.Starred) for e in elts):
        return None
    value: ast.AST | None = stmt.value
    assignments = getattr(ctx, "assignments", None)
    if isinstance(value, ast.Name) and value.id in (getattr(ctx, "params", None) or {}) \
            and assignments is not None and value.id not in assignments() and hasattr(ctx, "param_default"):
        value = ctx.param_default(value.id)
    if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(elts) \
            and isinstance(value.elts[at[0]], ast.Constant):
        return value.elts[at[0]]
    return None


def _free(name: str, ctx, depth: int) -> str:
    """A closure's free name: what the nearest enclosing function binds it to (a parameter's
    default, its assignments): ``delta`` of ``def prox(x, delta=1.0): def fun(u): ...``."""
    from kinkcheck.lint import call_sites, flow

    if depth > 1 and hasattr(ctx, "qualname") and hasattr(ctx, "fa"):
        from kinkcheck.lint.kinds import binding_scope

        outer = binding_scope(name, ctx)
        if outer is not None:
            # the bindings that reach the nested `def` (the value the closure is made with)
            found, entry = flow.reaching(name, ctx.fn, call_sites.linked_once(outer))
            rs = [_bound(stmt, value, name, outer, depth - 1) for stmt, value in found]
            if entry:
                rs.append(_param(name, outer, depth - 1) if name in outer.params else _config_name(name))
            return join(*rs)
    module = _module_value(name, ctx, depth)
    if module is None and getattr(ctx, "defaults_of", None) is not None:
        from kinkcheck.lint.ranges_settings import _init_param

        return _init_param(name, ctx.defaults_of)
    return module if module is not None else _config_name(name)


def _module_value(name: str, ctx, depth: int) -> str | None:
    """The range of a module-level constant (``smallVal = np.finfo("float").eps``,
    ``SCALE = 2 ** 0.5``): the join over its module-level bindings, None where it has none."""
    from kinkcheck.lint import flow

    fa = getattr(ctx, "fa", None)
    if fa is None or depth <= 1 or not hasattr(fa, "ix"):
        return None
    from kinkcheck.lint.kinds_members import module_context

    mctx = module_context(fa)
    if mctx is ctx:
        return None
    values = [value for _, value in flow.bindings(mctx).get(name, ())]
    if not values or any(v is None for v in values):
        return None
    return join(*(_range_of(v, mctx, depth - 1) for v in values))


def _reaching_name(node: ast.Name, ctx, depth: int) -> str:
    """Join over the assignments that reach this use (flow-sensitive)."""
    from kinkcheck.lint import flow

    bound = _comprehension_binding(node, ctx)
    if bound is not None:
        return element_range(*bound, node.id, ctx, depth)
    found, entry = flow.reaching(node.id, node, ctx)
    if not entry and _loop_count(node, found, ctx):
        return GE1
    rs = [_opaque_temperature(node.id, value, _range_of(value, ctx, depth), ctx) if value is not None
          else _bound(stmt, value, node.id, ctx, depth) for stmt, value in found]
    if entry:
        params = getattr(ctx, "params", {}) or {}
        rs.append(_param(node.id, ctx, depth) if node.id in params else _free(node.id, ctx, depth))
    from kinkcheck.lint import validated

    fn = getattr(ctx, "fn", None)
    exits = validated.exit_range(node, fn) if found and fn is not None else None
    return meet(join(*rs), exits) if exits is not None else join(*rs)


#: calls whose items are those of their first argument (``sorted(scales)``)
_SAME_ITEMS = frozenset({"sorted", "reversed", "list", "tuple"})


def element_range(target: ast.AST, iterable: ast.AST, name: str, ctx, depth: int) -> str:
    """The range ``name`` gets as the target of ``for <target> in <iterable>``: an item of the
    iterable has the range the iterable's items have (``for bw in bandwidths`` with
    ``bandwidths=(0.1, 1.0, 10.0)``, ``for s in x.shape``); a name unpacked from an item, or
    an item of a call that makes new items (``range``, ``enumerate``, ``zip``), is unknown."""
    while isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) \
            and iterable.func.id in _SAME_ITEMS and len(iterable.args) == 1:
        iterable = iterable.args[0]
    if not (isinstance(target, ast.Name) and target.id == name) or isinstance(iterable, (ast.Call, ast.Dict)):
        return ANY
    if _joined_sequences(iterable) or isinstance(iterable, ast.Name) and any(
            _joined_sequences(value) for _, value in _local_bindings(iterable.id, ctx)):
        return ANY  # `[0.5, 1.0] + [median]`: `+` joins lists, it adds no numbers
    return _range_of(iterable, ctx, depth)


def _joined_sequences(value: ast.AST | None) -> bool:
    """``a + [b]``, ``bandwidths += [m]`` (a binding's value ``bandwidths + [m]``): lists or tuples
    put together, whose items a range of the sum does not describe."""
    return isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add) and any(
        isinstance(side, (ast.List, ast.Tuple, ast.ListComp)) for side in (value.left, value.right))


def _local_bindings(name: str, ctx) -> list:
    """The bindings of ``name`` in the function (``flow.bindings``); none without one."""
    from kinkcheck.lint import flow

    return list(flow.bindings(ctx).get(name, ())) if hasattr(ctx, "fn") else []


def _comprehension_binding(node: ast.Name, ctx) -> tuple[ast.AST, ast.AST] | None:
    """(target, iterable) of the comprehension generator that binds this use of a name
    (``bw`` in ``sum(k(bw) for bw in bandwidths)``), None where no comprehension does."""
    child, parent = node, ctx.parent(node)
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            gens = parent.generators
            inside = next((i for i, g in enumerate(gens) if g is child), len(gens))
            if inside < len(gens) and not any(n is node for n in ast.walk(gens[inside].iter)):
                inside += 1  # read in the generator's own `if`: its target binds there too
            for g in reversed(gens[:inside]):  # a generator binds for those after it and the element
                if any(isinstance(t, ast.Name) and t.id == node.id for t in ast.walk(g.target)):
                    return g.target, g.iter
        child, parent = parent, ctx.parent(parent)
    return None


#: names of a softmax temperature, positive by what they are
_TEMPERATURE = lazy_pattern(r"(^|_)(temperature|temp|tau)$", re.IGNORECASE)


def _opaque_temperature(name: str, value: ast.AST, r: str, ctx) -> str:
    """A temperature a helper or a handed-in function computes (``temperature =
    projection_operator(alpha)``, a projection onto the positives) is > 0 as a temperature
    handed in as a setting is; a count from a helper may be 0, so only temperatures."""
    if r != ANY or not isinstance(value, ast.Call) or not _TEMPERATURE.search(name):
        return r
    if isinstance(value.func, ast.Attribute) and value.func.attr in KEEP:
        return r  # `self.temperature.expand(n, c).to(device)`: a view of what it is called on decides
    q = ctx.qualify(value.func) if hasattr(ctx, "qualify") else None
    if q is not None and q.split(".")[0] in ARRAY_ROOTS:
        return r  # `tau = x.min()`, `jnp.log(t)`: what the array function computes decides
    return POS


def _loop_count(use: ast.Name, found: list, ctx) -> bool:
    """``n = 0`` (or ``x.new_zeros(1)``), ``n += 1`` on every pass of a ``for`` loop, read
    after it: the number of passes, >= 1 as a batch's size is (the views, heads or scales a
    loss loops over are never none)."""
    counted = False
    for stmt, value in found:
        if isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add):
            loop = ctx.parent(stmt)
            step = const_value(stmt.value)
            if not (isinstance(loop, (ast.For, ast.AsyncFor)) and stmt in loop.body and step is not None and step > 0):
                return False
            if any(n is use for n in ast.walk(loop)):
                return False  # read inside the loop: 0 on the first pass
            counted = True
        elif not (isinstance(stmt, ast.Assign) and (const_value(value) == 0 or _zeros(value))):
            return False
    return counted


def _zeros(value: ast.AST | None) -> bool:
    return isinstance(value, ast.Call) and isinstance(value.func, (ast.Attribute, ast.Name)) and (
        getattr(value.func, "attr", None) or getattr(value.func, "id", None)) in ("zeros", "new_zeros", "zeros_like")


def _attribute(node: ast.Attribute, ctx, depth: int) -> str:
    attr = node.attr
    if attr in ("eps", "tiny", "resolution"):
        return POS  # torch.finfo(x.dtype).eps
    if attr == "shape" or attr in COUNTS:
        return GE1
    if attr in ("T", "mT", "data", "real"):
        return _range_of(node.value, ctx, depth)
    if isinstance(node.value, ast.Name) and node.value.id != "self":
        stored = _stored_on_ctx(node, ctx, depth)
        if stored is not None:
            return stored
    if isinstance(node.value, ast.Name) and node.value.id == "self":
        fa = getattr(ctx, "fa", None)
        declared = _declared_range(fa, class_of_self(ctx), attr) if fa is not None else None
        if declared is not None:
            return declared
        from kinkcheck.lint.ranges_returned import property_range

        prop = property_range(node, ctx)
        if prop is not None:
            return prop
        assigned = _class_assignments(fa, class_of_self(ctx), attr) if fa is not None else []
        rs = []
        from kinkcheck.lint.kinds_members import uncast

        for qual, fn, value in assigned:
            value = uncast(value)  # `register_buffer("dofs", torch.as_tensor(dofs))`
            if isinstance(value, ast.Name):
                from kinkcheck.lint.ranges_settings import _init_param
                from kinkcheck.lint.validated import validated_range

                # `self.exponent = exponent` where the method rejects `exponent <= 0`
                checked = validated_range(value.id, fn) if fn is not None else None
                r = checked or _init_param(value.id, fa)
            else:
                r = _range_outside(value, depth, fa)
            rs.append(_in_method(value, qual, fa, depth) if r == ANY and qual is not None else r)
        if rs:
            return join(*rs)
        return _config_name(attr)
    q = ctx.qualify(node) if hasattr(ctx, "qualify") else None
    if isinstance(node.value, ast.Name) and q is None and hasattr(ctx, "kind") and ctx.kind(node) == PLAIN:
        return _config_name(attr)  # `config.huber_delta`, `cfg.temperature`: a setting, judged by its name
    if q in ("math.pi", "math.e", "math.tau", "numpy.pi", "numpy.e", "torch.pi", "jax.numpy.pi", "math.inf",
             "numpy.inf"):
        return GE1
    return ANY


def _stored_on_ctx(node: ast.Attribute, ctx, depth: int) -> str | None:
    """``ctx.slope`` in a static method of a ``torch.autograd.Function`` (its ``backward``):
    what the class's static methods store there. A parameter stored as it came
    (``ctx.slope = slope`` in ``forward(ctx, u, slope=25.0)``) is read as ``self.<attr>`` set
    in ``__init__`` is; any other value where that method computes it; None where ``node``
    reads no such ctx."""
    from kinkcheck.lint.bindings import parameters
    from kinkcheck.lint.grad_off import _autograd_function
    from kinkcheck.lint.ranges_settings import _init_param

    fa, cls, fn = getattr(ctx, "fa", None), getattr(ctx, "cls_qual", None), getattr(ctx, "fn", None)
    if fa is None or cls is None or not _static_first(fn, getattr(node.value, "id", None)) or not _autograd_function(fa, cls):
        return None
    rs = []
    for method in getattr(fa.class_node(cls), "body", ()):
        if not _static_first(method, None):
            continue
        first = method.args.args[0].arg
        rebound = {t.id for st in ast.walk(method) if isinstance(st, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                   for t in (st.targets if isinstance(st, ast.Assign) else [st.target]) if isinstance(t, ast.Name)}
        for stmt in ast.walk(method):
            if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == node.attr and isinstance(
                    t.value, ast.Name) and t.value.id == first for t in stmt.targets):
                value, qual = stmt.value, f"{cls}.{method.name}"
                if isinstance(value, ast.Name) and value.id in parameters(method) and value.id not in rebound:
                    rs.append(_init_param(value.id, fa))
                else:
                    rs.append(_in_method(value, qual, fa, depth) if qual in fa.ix.scopes else ANY)
    return join(*rs) if rs else None


def _static_first(fn: ast.AST | None, name: str | None) -> bool:
    """``fn`` is a static method whose first parameter is ``name`` (any name when None)."""
    args = getattr(getattr(fn, "args", None), "args", None) or []
    return bool(args) and (name is None or args[0].arg == name) and any(
        (dotted(d) or "").rsplit(".", 1)[-1] == "staticmethod" for d in getattr(fn, "decorator_list", ()))


#: the constraints a distribution declares for a parameter that keep it above 0
#: (torch.distributions, pyro and numpyro spell them alike)
_POSITIVE_CONSTRAINTS = ("positive", "softplus_positive", "positive_integer")


def _declared_range(fa, cls_qual: str | None, attr: str) -> str | None:
    """``arg_constraints = {"scale": constraints.positive}`` in the class or a base of it in
    the file: the distribution's contract for ``self.scale`` (checked with validate_args, and
    what every labeller reads it as), so its log and a division by it meet no zero."""
    if not cls_qual:
        return None
    from kinkcheck.lint.call_sites import bases_in_file

    for c in (cls_qual, *bases_in_file(fa, cls_qual)):
        node = fa.class_node(c)
        for stmt in node.body if node is not None else ():
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
            if not (any(isinstance(t, ast.Name) and t.id == "arg_constraints" for t in targets)
                    and isinstance(stmt.value, ast.Dict)):
                continue
            for key, value in zip(stmt.value.keys, stmt.value.values):
                if isinstance(key, ast.Constant) and key.value == attr:
                    spelled = dotted(value) or ""
                    if "constraints." not in spelled:
                        return None
                    tail = spelled.rsplit(".", 1)[-1]
                    return (GE1 if tail == "positive_integer" else POS) if tail in _POSITIVE_CONSTRAINTS else None
        constrained = _constraining_bijector(node, attr.lstrip("_")) if node is not None else None
        if constrained is not None:
            return POS if constrained in _POSITIVE_BIJECTORS else None
    return None


#: bijectors onto positive values, as TensorFlow Probability's parameter properties name them
_POSITIVE_BIJECTORS = frozenset({"Softplus", "Exp", "Sigmoid"})


def _constraining_bijector(cls_node: ast.ClassDef, param: str) -> str | None:
    """The bijector a TensorFlow Probability class's ``_parameter_properties`` constrains
    ``param`` with (``tailweight=ParameterProperties(default_constraining_bijector_fn=lambda:
    softplus_bijector.Softplus(low=eps))``): the class's declared contract, as ``arg_constraints``
    is torch's. None where it declares none."""
    for fn in cls_node.body:
        if not (isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.name == "_parameter_properties"):
            continue
        for kw in (n for n in ast.walk(fn) if isinstance(n, ast.keyword) and n.arg == param):
            if not isinstance(kw.value, ast.Call):
                continue
            bijector = next((k.value for k in kw.value.keywords if k.arg == "default_constraining_bijector_fn"), None)
            if isinstance(bijector, ast.Lambda):
                bijector = bijector.body
            if isinstance(bijector, ast.Call):
                bijector = bijector.func
            spelled = dotted(bijector) if bijector is not None else None
            return spelled.rsplit(".", 1)[-1] if spelled else None
    return None


def _class_assignments(fa, cls_qual: str | None, attr: str) -> list[tuple[str | None, ast.AST | None, ast.AST]]:
    """What ``self.<attr>`` may hold in a method of ``cls_qual``, with the method that assigns
    it (its qualified name and node): the values its class, its bases and its subclasses in
    the file assign (another class's ``self.scale`` is another attribute); every assignment in
    the file when they assign none (a mixin, ``setattr``; no method known)."""
    if cls_qual:
        from kinkcheck.lint.bindings import self_assignments
        from kinkcheck.lint.call_sites import related_classes

        related = related_classes(fa, cls_qual)
        own = [(q, fn, v) for c in related for q, fn, _, v in self_assignments(fa, c, attr)]
        if own:
            return own
        fields: list[tuple[str | None, ast.AST | None, ast.AST]] = [
            (None, None, v) for c in related for v in _field_defaults(fa.class_node(c), attr)]
        if fields:
            return fields
    return [(None, None, v) for v in fa.self_assigns().get(attr, [])]


#: dataclass field makers whose ``default=`` is the field's value (flax ``struct.field``,
#: ``dataclasses.field``, equinox ``eqx.field``, attrs ``attr.ib``)
_FIELD_MAKERS = frozenset({"field", "ib", "attrib"})


def _field_defaults(cls_node: ast.ClassDef | None, attr: str) -> list[ast.AST]:
    """The default a dataclass-style class body gives the field ``attr`` (``kappa: float =
    1.0``, ``kappa: chex.Scalar = struct.field(pytree_node=True, default=1.0)``)."""
    out: list[ast.AST] = []
    for stmt in cls_node.body if cls_node is not None else ():
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == attr
                and stmt.value is not None):
            continue
        value = stmt.value
        if isinstance(value, ast.Call) and (dotted(value.func) or "").rsplit(".", 1)[-1] in _FIELD_MAKERS:
            default = next((k.value for k in value.keywords if k.arg == "default"), None)
            if default is None:
                return []  # `field(default_factory=...)` or none: not known
            value = default
        out.append(value)
    return out


def _in_method(value: ast.AST, qual: str, fa, depth: int) -> str:
    """The range of ``value`` where the method ``qual`` assigns it to ``self.<attr>``, read
    with that method's own names (``knot_slopes = _normalize(raw, min_slope)`` then
    ``self._knot_slopes = jnp.concatenate([ones, knot_slopes[..., 1:]])``). Worked out as a
    call's summary is: with a fresh depth, two methods or calls deep at most."""
    from kinkcheck.lint.call_sites import caller_context
    from kinkcheck.lint.ranges import _NESTED, nested_join

    if depth <= 1 or _NESTED.get() >= 2:
        return ANY
    return nested_join([value], caller_context(fa, qual, fa.ix.scopes[qual]))


def _range_outside(value: ast.AST, depth: int, fa=None) -> str:
    """A value assigned in another method: only what needs no local names, and the names
    that are parameters with defaults (``self.c1 = (k1 * data_range) ** 2`` in
    ``__init__(self, k1=0.01, data_range=1.0)``)."""
    return _range_of(value, _Bare(fa), depth)


class _Bare:
    """A context with no local names: literals, eps-like names, exp-like calls, and names
    read as the parameter defaults of the file."""

    params: dict = {}

    def __init__(self, fa=None):
        self.defaults_of = fa

    def param_default(self, name):
        return None

    def qualify(self, node):
        return None

    def is_module_ref(self, node):
        return False
