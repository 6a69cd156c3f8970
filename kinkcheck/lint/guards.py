"""Guards: syntactic patterns that keep an operand away from its kink.

Each id of ``catalog.GUARDS`` has one function here, ``guard(operand, ctx) -> bool``; a rule
lists the ids it accepts in its TOML, and the engine drops a site when any accepted guard
holds for the site's operand. A name assigned once in the same function is followed to its
value (``d = x.clamp_min(eps); torch.sqrt(d)`` is guarded), two levels deep.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Callable

from kinkcheck.lint import ranges, ranges_forms
from kinkcheck.lint.resolve import DATA, PLAIN, TENSOR, const_value, is_eps_like
from kinkcheck.syntax import binary_operands, scalar_source

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: ``guard(operand, ctx)``; the ids in ``SITE_AWARE`` also take the site: ``guard(operand, ctx, site)``
Guard = Callable[..., bool]
GUARDS: dict[str, Guard] = {}

POSITIVE_FUNCS = frozenset(
    {"exp", "exp_", "exp2", "softplus", "sigmoid", "sigmoid_", "softmax", "cosh", "logistic",
     "expit", "gumbel_softmax", "elu_plus_one"}
)
CLAMP_FUNCS = frozenset({"clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_", "maximum", "max", "fmax"})


def guard(name: str):
    def deco(fn: Guard) -> Guard:
        GUARDS[name] = fn
        return fn

    return deco


#: methods that keep the value (and so its guard): ``n.detach()``, ``x.float()``
SAME_VALUE = frozenset({"detach", "float", "double", "half", "to", "type_as", "contiguous", "clone", "squeeze", "unsqueeze"})


def _values(node: ast.AST, ctx: Context, depth: int = 2):
    """The node and what a singly-assigned name (or a value-preserving wrapper) stands for."""
    yield node
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SAME_VALUE:
        yield from _values(node.func.value, ctx, depth)
    cast = ctx.cast_operand(node)
    if cast is not None:
        yield from _values(cast, ctx, depth)  # `cast(jax.Array, jnp.where(...))` is its value
    if depth and isinstance(node, ast.Name):
        value = _stands_for(node, ctx)
        if value is not None:
            yield from _values(value, ctx, depth - 1)


def _stands_for(node: ast.Name, ctx: Context) -> ast.AST | None:
    """The value a name stands for: its definition, or the one assignment that reaches this
    use. A parameter's one assignment may sit on a branch (``if flag: c = c.clamp(...)``): only
    what reaches the use stands for it."""
    value = ctx.definition(node.id) if node.id not in ctx.params else None
    if value is None and ctx.parent(node) is not None:
        value = _reaching_value(node, ctx)
    return value


def _reaching_value(use: ast.Name, ctx: Context) -> ast.AST | None:
    """The value of the one assignment that reaches ``use`` of a rebound name:
    ``cos = cos.clamp(-1 + eps, 1 - eps); torch.acos(cos)``; of a name a nested function
    reads from the one it is defined in, that function's one binding of it
    (``minval = 100.0 * jnp.finfo(dtype).tiny; def log_cdf(x): ... clip(F(x), minval, 1.0)``)."""
    from kinkcheck.lint import flow
    from kinkcheck.lint.kinds import _enclosing

    if use.id not in ctx.bound:
        outer = _enclosing(ctx)
        return outer.definition(use.id) if outer is not None else None
    reached, from_before = flow.reaching(use.id, use, ctx)
    if from_before or len(reached) != 1:
        return None
    return reached[0][1]


def _callee_tail(node: ast.AST, ctx: Context) -> str | None:
    """The library function a call stands for (``exp`` of ``torch.exp(x)`` or ``x.exp()``);
    None for a method of this class or a function of this file (``self.clamp(d)``, a helper
    named ``softplus``): what that code does decides, not the name it shares."""
    if not isinstance(node, ast.Call):
        return None
    if _own_code(node, ctx):
        return None
    q = ctx.qualify(node.func)
    if q:
        return q.rsplit(".", 1)[-1]
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _own_code(node: ast.Call, ctx: Context) -> bool:
    """``node`` calls a function of this file or a method of this class (``self.<name>``)."""
    func = node.func
    if not (isinstance(func, ast.Name) or isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            and func.value.id == "self") or not hasattr(ctx, "fa"):
        return False
    from kinkcheck.lint.ranges_returned import own_function

    return own_function(node, ctx) is not None


#: the absolute value's spellings (``torch.abs``, ``np.absolute``, ``math.fabs``)
ABS_TAILS = frozenset({"abs", "absolute", "fabs"})


def call_operand(call: ast.Call, ctx: Context) -> ast.AST | None:
    """``x`` of ``x.f(...)`` or of ``f(x, ...)`` (a module's ``torch.f(x)`` is the second)."""
    f = call.func
    if isinstance(f, ast.Attribute) and not ctx.is_module_ref(f.value):
        return f.value
    return call.args[0] if call.args else None


def _positive_number(node: ast.AST, ctx: Context) -> bool:
    v = const_value(node)
    if v is not None:
        return v > 0
    if is_eps_like(node):
        return not ranges.known_zero(node, ctx)
    if isinstance(node, ast.Name):
        default = ctx.param_default(node.id)
        if default is not None:
            dv = const_value(default)
            return dv is not None and dv > 0
    if isinstance(node, ast.Call):
        return _constant_helper(node, ctx)
    return False


def _constant_helper(call: ast.Call, ctx: Context) -> bool:
    """A call of a function of this file that only ever returns positive constants (or
    raises): allennlp's ``tiny_value_of_dtype(x.dtype)`` returns 1e-13 or 1e-4, an eps chosen
    per dtype."""
    from kinkcheck.lint.ranges_returned import own_function
    from kinkcheck.lint.walk import walk_local

    q = own_function(call, ctx)
    entry = ctx.fa.ix.scopes.get(q) if q else None
    if entry is None:
        return False
    values = [n.value for n in walk_local(entry[0]) if isinstance(n, ast.Return)]
    return bool(values) and all((const_value(v) or 0) > 0 for v in values)


def _add_terms(node: ast.AST) -> list[ast.AST] | None:
    """The added terms of ``a + b + eps``; None when a non-constant term is subtracted
    (``1 - y * s`` can be anything, the 1 does not keep it positive)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _add_terms(node.left), _add_terms(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        if const_value(node.right) is None:
            return None
        return _add_terms(node.left)
    return [node]


def _explicit_eps(side: ast.AST, ctx: Context) -> bool:
    """``eps``, or a positive constant an eps is part of (``(1 + eps)``, ``2 * eps``)."""
    if is_eps_like(side):
        return not ranges.known_zero(side, ctx)
    return isinstance(side, ast.BinOp) and isinstance(side.op, (ast.Add, ast.Mult)) \
        and all(_positive_number(t, ctx) for t in (side.left, side.right)) \
        and any(_explicit_eps(t, ctx) for t in (side.left, side.right))


@guard("offset")
def offset(node: ast.AST, ctx: Context) -> bool:
    """``x + eps``, ``1 + x ** 2``, ``torch.add(x, eps)``, ``x.add(1e-8)``."""
    for value in _values(node, ctx):
        terms = _add_terms(value) or []
        if len(terms) > 1 and any(_positive_number(t, ctx) for t in terms):
            return True
        if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add) and any(
                _explicit_eps(side, ctx) for side in (value.left, value.right)):
            return True  # `a + b - overlap + eps`, `v - iou + (1 + eps)`: an explicit eps is the author's guard
        if isinstance(value, ast.Call) and _callee_tail(value, ctx) in ("add", "add_"):
            operands = list(value.args)
            if isinstance(value.func, ast.Attribute) and not ctx.is_module_ref(value.func.value):
                operands = [value.func.value, *operands]
            if any(_positive_number(a, ctx) for a in operands[1:2]):
                return True
    return False


def _unbounded(node: ast.AST | None) -> bool:
    """``None``, ``torch.inf``, ``-math.inf``, ``float("inf")``: a side the clamp leaves open."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    if isinstance(node, ast.Constant):
        return node.value is None
    if isinstance(node, ast.Attribute):
        return node.attr == "inf"
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float" \
        and len(node.args) == 1 and isinstance(node.args[0], ast.Constant) \
        and str(node.args[0].value).lstrip("+-").lower() in ("inf", "infinity")


def _lower_bound(call: ast.Call, tail: str, ctx: Context) -> ast.AST | None:
    bound = _given_lower_bound(call, tail, ctx)
    return None if _unbounded(bound) else bound


def _given_lower_bound(call: ast.Call, tail: str, ctx: Context) -> ast.AST | None:
    kw = {k.arg: k.value for k in call.keywords if k.arg}
    method = isinstance(call.func, ast.Attribute) and not ctx.is_module_ref(call.func.value)
    args = list(call.args) if method else list(call.args[1:])
    if tail in ("clamp_max", "clamp_max_"):
        return None
    if tail in ("maximum", "max", "fmax"):
        if method:
            return args[0] if args else None
        both = list(call.args[:2])
        eps = [a for a in both if _positive_number(a, ctx)]
        return eps[0] if eps else None
    for key in ("min", "a_min", "lower"):
        if key in kw:
            return kw[key]
    return args[0] if args else None


def _upper_bound(call: ast.Call, tail: str, ctx: Context) -> ast.AST | None:
    bound = _given_upper_bound(call, tail, ctx)
    return None if _unbounded(bound) else bound


def _given_upper_bound(call: ast.Call, tail: str, ctx: Context) -> ast.AST | None:
    kw = {k.arg: k.value for k in call.keywords if k.arg}
    method = isinstance(call.func, ast.Attribute) and not ctx.is_module_ref(call.func.value)
    args = list(call.args) if method else list(call.args[1:])
    for key in ("max", "a_max", "upper"):
        if key in kw:
            return kw[key]
    if tail in ("clamp_max", "clamp_max_"):
        return args[0] if args else None
    return args[1] if len(args) > 1 else None


@guard("clamp-floor")
def clamp_floor(node: ast.AST, ctx: Context) -> bool:
    """``x.clamp_min(eps)``, ``clamp(x, min=1e-8)``, ``np.clip(x, eps, None)``, ``maximum(x, eps)``."""
    for value in _values(node, ctx):
        tail = _callee_tail(value, ctx)
        if tail in CLAMP_FUNCS:
            low = _lower_bound(value, tail, ctx)
            if low is not None and _positive_number(low, ctx):
                return True
    return False


@guard("floored-after")
def floored_after(node: ast.AST, ctx: Context, site=None) -> bool:
    """KC203 in torch: the norm is only ever read clamped to a positive floor
    (``x / x.norm(dim=1, keepdim=True).clamp_min(eps)``, F.normalize written out). Around the
    zero vector the clamp's slope is 0 and torch's norm takes the subgradient 0 there, so the
    cone never reaches the gradient. jax's norm gives nan at 0, and 0 * nan is nan: not there."""
    call = getattr(site, "call", None)
    fa = getattr(ctx, "fa", None)
    if not isinstance(call, ast.Call) or fa is None or getattr(fa, "jax", True) or not getattr(fa, "torch", False):
        return False
    return _only_floored(call, ctx, 2)


#: what reads only the shape, dtype and device of an array (`eps * torch.ones_like(n)`)
_TEMPLATES = frozenset({"ones_like", "zeros_like", "full_like", "empty_like", "new_ones", "new_zeros", "new_full",
                        "new_empty", "new_tensor"})


def _only_floored(value: ast.AST, ctx: Context, depth: int) -> bool:
    parent = ctx.parent(value)
    if isinstance(parent, ast.Attribute) and parent.value is value:
        if parent.attr in _TEMPLATES or parent.attr in ("shape", "dtype", "device"):
            return True
        method = ctx.method_call(value)
        return method is not None and clamp_floor(method[1], ctx)
    if isinstance(parent, ast.Call) and parent.args and parent.args[0] is value:
        return _callee_tail(parent, ctx) in _TEMPLATES or clamp_floor(parent, ctx)
    from kinkcheck.lint.sinks import every_bound_use

    return depth > 0 and every_bound_use(value, ctx, lambda u: _only_floored(u, ctx, depth - 1))


@guard("nonzero-constant")
def nonzero_constant(node: ast.AST, ctx: Context) -> bool:
    """``x / 2.0``, ``x / -3``, ``x / (2 ** 0.5)``, ``x / math.pi``."""
    for value in _values(node, ctx):
        v = const_value(value)
        if v is not None:
            return v != 0
        q = ctx.qualify(value) if isinstance(value, (ast.Name, ast.Attribute)) else None
        if q in ("math.pi", "math.e", "math.tau", "numpy.pi", "numpy.e", "torch.pi", "jax.numpy.pi"):
            return True
        if isinstance(value, ast.Name):
            default = ctx.param_default(value.id)
            if default is not None and const_value(default) not in (None, 0):
                return True
    return False


@guard("positive-expr")
def positive_expr(node: ast.AST, ctx: Context) -> bool:
    """``exp(x)``, ``softplus(x)``, ``sigmoid(x)``, ``softmax(x)``, ``x.exp()``, ``cosh(x)``,
    and the square root of a guarded value (``sqrt(a + eps)``, ``sqrt(x.clamp_min(eps))``)."""
    for value in _values(node, ctx):
        tail = _callee_tail(value, ctx)
        if tail in POSITIVE_FUNCS:
            return True
        if tail in ("sqrt", "rsqrt") and isinstance(value, ast.Call):
            # sqrt(a + eps), sqrt(x.clamp_min(eps)), sqrt(exp(x)): the root of a positive value
            inner = value.args[0] if value.args else (value.func.value if isinstance(value.func, ast.Attribute) else None)
            if isinstance(value.func, ast.Attribute) and not ctx.is_module_ref(value.func.value):
                inner = value.func.value
            if inner is not None and (offset(inner, ctx) or clamp_floor(inner, ctx) or positive_expr(inner, ctx)):
                return True
        if isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Add, ast.Mult)):
            # exp(a) + exp(b), softplus(x) * 2: positive when every part is
            parts = [value.left, value.right]
            if all(positive_expr(p, ctx) or _positive_number(p, ctx) for p in parts):
                return True
    return False


@guard("integer-power")
def integer_power(node: ast.AST, ctx: Context) -> bool:
    """The exponent (passed as the operand) is an integer constant >= 1: ``x ** 2``, ``pow(x, 3.0)``."""
    v = const_value(node)
    return v is not None and float(v).is_integer() and v >= 1


def _inside_unit(bound: ast.AST | None, sign: int) -> bool:
    if bound is None:
        return False
    v = const_value(bound)
    if v is not None:
        return -1 < v < 1
    # 1 - eps, -1 + eps, -(1 - eps)
    if isinstance(bound, ast.UnaryOp) and isinstance(bound.op, ast.USub):
        return _inside_unit(bound.operand, -sign)
    if isinstance(bound, ast.BinOp):
        a, b = const_value(bound.left), bound.right
        if a is not None and abs(a) == 1 and is_eps_like(b):
            return isinstance(bound.op, ast.Sub) if a > 0 else isinstance(bound.op, ast.Add)
    return False


def above_one(bound: ast.AST | None, ctx: Context) -> bool:
    """``1 + eps``, ``1.0 + self.eps``, ``1 + 1e-7``: one plus an eps, the floor that keeps an
    arcosh argument (a hyperbolic distance's ``-<x, y>_L``, >= 1 in exact arithmetic) off its
    pole; an eps whose default is not > 0 (``eps=-1e-3``) is no such floor."""
    def tiny(b: ast.AST) -> bool:
        v = const_value(b)
        if v is not None:
            return 0 < v <= 1e-3
        default = ctx.param_default(b.id) if isinstance(b, ast.Name) and hasattr(ctx, "param_default") else None
        dv = const_value(default) if default is not None else None
        return is_eps_like(b) and (dv is None or isinstance(dv, (int, float)) and dv > 0)

    return isinstance(bound, ast.BinOp) and isinstance(bound.op, ast.Add) and any(
        const_value(a) == 1 and tiny(b) for a, b in ((bound.left, bound.right), (bound.right, bound.left)))


#: methods that pick elements out of an array (or lay them out anew) without changing them
_PICKS = frozenset({"diagonal", "flatten", "ravel", "view", "reshape", "squeeze", "unsqueeze", "gather",
                    "index_select", "masked_select", "take_along_dim", "t", "transpose"})


def _picked_from(node: ast.AST, ctx: Context, hops: int = 4):
    """``node`` and the arrays its elements are picked from: ``pos_cos`` of ``pos_cos =
    cos.diagonal()``, ``cos`` of ``cos[idx, labels]``; a bound holds for every element picked."""
    from kinkcheck.lint.ranges_calls import _changed_in_place

    def written(n: ast.AST) -> bool:  # `t = cos.t(); t[0] = 1.0`, `cos.fill_diagonal_(1.0)`
        return isinstance(n, ast.Name) and _changed_in_place(n.id, ctx)

    yield node
    for _ in range(hops):
        if written(node):
            return
        if isinstance(node, ast.Name):
            value = _stands_for(node, ctx)
            if value is None:
                return
            node = value
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _PICKS \
                and not ctx.is_module_ref(node.func.value):
            node = node.func.value
        else:
            return
        if written(node):
            return
        yield node


#: in-place clamps: a write that keeps the bounds it is checked for
_INPLACE_CLAMPS = frozenset({"clamp_", "clamp_min_", "clamp_max_", "clip_"})


def _written_after(node: ast.AST, ctx: Context) -> bool:
    """``node`` is a name the function writes into otherwise than by an in-place clamp (an
    item store ``c[0] = -1.0``, ``c.sub_(1.0)``, ``c.fill_diagonal_(1.0)``)."""
    from kinkcheck.lint.ranges_calls import _changed_in_place

    return isinstance(node, ast.Name) and _changed_in_place(node.id, ctx, keep=_INPLACE_CLAMPS)


def _nonnegative_operand(call: ast.Call, ctx: Context) -> bool:
    """What ``call`` clamps is >= 0 (an absolute value, a norm): -1 is out of its reach."""
    operand = call_operand(call, ctx)
    return operand is not None and ranges.is_nonnegative(ranges.range_of(operand, ctx))


#: the inverse hyperbolic cosine's spellings, defined on [1, inf)
ARC_COSH = frozenset({"acosh", "arccosh", "acosh_", "arccosh_"})


def _arcosh_site(site) -> bool:
    name = (getattr(site, "qname", None) or getattr(site, "callee", None) or "").rstrip("()")
    return name.rsplit(".", 1)[-1] in ARC_COSH


@guard("unit-clamp")
def unit_clamp(node: ast.AST, ctx: Context, site=None) -> bool:
    """``x.clamp(-1 + eps, 1 - eps)``, ``clip(x, -0.999, 0.999)``, ``x * (1 - eps)``; for arcosh
    (whose pole is at 1 only) ``x.clamp_min(1 + eps)``: acos of such a value is nan everywhere,
    so the floor is written for arcosh alone. Elements picked out of a clamped array keep its
    bounds (``cos = cos.clamp(-1 + eps, 1 - eps); torch.acos(cos.diagonal())``)."""
    if _written_after(node, ctx):
        return False  # `c = c.clamp(-1 + eps, 1 - eps); c[0] = -1.0`: the bounds no longer hold
    for value in (v for start in _picked_from(node, ctx) for v in _values(start, ctx)):
        tail = _callee_tail(value, ctx)
        if tail in ("clamp", "clamp_", "clip", "clip_"):
            if _inside_unit(_lower_bound(value, tail, ctx), -1) and _inside_unit(_upper_bound(value, tail, ctx), 1):
                return True
        if tail in ("clamp", "clamp_", "clip", "clip_", "clamp_max", "clamp_max_") \
                and _lower_bound(value, tail, ctx) is None and _inside_unit(_upper_bound(value, tail, ctx), 1) \
                and _nonnegative_operand(value, ctx):
            return True  # `acos(|<q1, q2>|.clamp(max=1 - eps))`: a cosine >= 0 kept below 1
        if _arcosh_site(site) and tail in ("clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_", "maximum", "fmax") \
                and above_one(_lower_bound(value, tail, ctx), ctx):
            return True  # (an upper bound as well keeps the value off the pole all the same)
        if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Mult):
            if _inside_unit(value.left, 1) or _inside_unit(value.right, 1):
                return True
    return False


@guard("detached-target")
def detached_target(node: ast.AST, ctx: Context, site=None) -> bool:
    """The op's inputs carry no gradient: a constant, ``.detach()``, ``stop_gradient``, a
    target/label/mask, ``torch.zeros(...)``. For a binary op (``a / b``, ``maximum(a, b)``)
    every input must be detached: ``err / mask.sum()`` still blows up err's gradient."""
    if not getattr(getattr(ctx, "fa", None), "arrays", True):
        return False  # no array library: every unknown reads as plain (``_all_plain`` decides)
    inputs = [node]
    call = getattr(site, "call", None)
    if getattr(site, "code", None) == "KC401" and isinstance(node, (ast.BoolOp, ast.UnaryOp, ast.Call, ast.Compare)):
        from kinkcheck.lint.checks.branch import value_comparison

        # `if cap is not None and bool((df > cap).all()):`: the test is a Python bool, its
        # comparison is of a prediction; `if (upper < lower).float().mean() > 0.5:` compares
        # no gradient carrier, but a share of a prediction's mask moves with the prediction
        if value_comparison(node, ctx, follow=0) is not None:
            return False
    if isinstance(call, ast.BinOp):
        inputs = [call.left, call.right]
    elif isinstance(call, ast.AugAssign):
        inputs = [call.target, call.value]  # `target /= imgsz`
    elif isinstance(call, ast.Call) and getattr(site, "via", "") in ("call", "instance", "method"):
        inputs = [*call.args, *(k.value for k in call.keywords if k.arg in (None, "input", "other", "x", "y"))]
        if site.via == "method" and isinstance(call.func, ast.Attribute):
            inputs.append(call.func.value)
        # `torch.min(*args)`: the tuple handed on is the input
        inputs = [i.value if isinstance(i, ast.Starred) else i for i in inputs] or [node]
    elif isinstance(node, ast.Compare):

        inputs = [scalar_source(o) for o in (node.left, *node.comparators)]  # `loss.item() > 5`
    elif isinstance(node, ast.Call) and getattr(site, "via", "") == "node" and call is node:
        # a check's own call (`torch.gt(d, m)`, `jnp.isclose(p, p.max())`): its operands
        method = isinstance(node.func, ast.Attribute) and not ctx.is_module_ref(node.func.value)
        inputs = [*binary_operands(node, method)] or [node]
    if getattr(site, "code", None) in VALUE_SLOPE_CODES and call is not None and _scales_gradient(call, ctx):
        return False
    if getattr(site, "code", None) in BOUNDED_CODES and ctx.kind(node) in (PLAIN, DATA):
        # `clip(stop_gradient(r), 1 / r_max, r_max)`, `target.clamp(0, reg_max)`: the clipped
        # value carries no gradient and no bound is known to (a bound read from a parameter
        # or a setting is configuration): the clip's corner is no kink of the loss
        return all(ctx.kind(i) != TENSOR for i in inputs if i is not node)
    return all(ctx.kind(i) in (PLAIN, DATA) for i in inputs)


#: rules of a value clipped into bounds: its kink is the clipped operand's
BOUNDED_CODES = frozenset({"KC103"})


#: rules whose value at the kink is infinite: a factor multiplied by it gets that value as its slope
VALUE_SLOPE_CODES = frozenset({"KC204"})


def _scales_gradient(call: ast.AST, ctx: Context) -> bool:
    """``(alpha - 1) * log(x)`` with ``x`` data: d/d(alpha) is ``log(x)``, -inf where ``x == 0``."""
    child, parent = call, ctx.parent(call)
    while isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub):
        child, parent = parent, ctx.parent(parent)
    if not (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult)):
        return False
    other = parent.right if parent.left is child else parent.left
    return ctx.kind(other) not in (PLAIN, DATA)


#: rules whose kink an exp or softmax reaches by underflowing to exactly 0 (log, entr)
UNDERFLOW_CODES = frozenset({"KC204", "KC209"})


@guard("range")
def positive_range(node: ast.AST, ctx: Context, site=None) -> bool:
    """The value-flow range of the operand excludes the kink (``kinkcheck.lint.ranges``):
    a denominator that is != 0, a log1p argument >= 0, anything else > 0."""
    from kinkcheck.lint import paths

    code = getattr(site, "code", None)
    r = ranges.range_of(node, ctx, underflow=code in UNDERFLOW_CODES)
    tail = ((getattr(site, "qname", None) or getattr(site, "callee", "")) or "").strip(".()").rsplit(".", 1)[-1]
    at = getattr(site, "call", None) or getattr(site, "node", None) or node
    if code == "KC205":
        return ranges.is_nonzero(r) or paths.excludes_zero(node, at, ctx)
    if code == "KC101":
        return ranges.is_nonzero(r)  # |x| has its kink at x == 0 only
    if code == "KC204" and tail in ("log1p", "log1p_"):
        return ranges.is_nonnegative(r) or ranges_forms.above_minus_one(node, ctx)
    return ranges.is_positive(r) or paths.positive(node, at, ctx)


@guard("rounding")
def rounding(node: ast.AST, ctx: Context, site=None) -> bool:
    """The clamp, relu, maximum, abs or ``d[d < 0] = 0`` only removes rounding error: its bound is 0
    and the operand is >= 0 in exact arithmetic (a squared distance ``|a|^2 - 2 a.b + |b|^2``
    or a variance ``E[x^2] - E[x]^2`` written expanded, an abs, a norm), or it clamps a cosine of
    unit vectors to [-1, 1], so on the values the code means it is the identity and has no kink."""

    def nonneg(value: ast.AST) -> bool:
        return ranges.is_nonnegative(ranges.range_of(value, ctx))

    code, call = getattr(site, "code", None), getattr(site, "call", None)
    if code == "KC304" and isinstance(call, ast.Compare) and len(call.ops) == 1:
        op, left, right = call.ops[0], call.left, call.comparators[0]
        if isinstance(op, (ast.Lt, ast.LtE)) and const_value(right) == 0:
            return nonneg(left)
        if isinstance(op, (ast.Gt, ast.GtE)) and const_value(left) == 0:
            return nonneg(right)
        return False
    if not isinstance(call, ast.Call):
        return False
    tail = _callee_tail(call, ctx) or ""
    if code == "KC102" and tail in ("relu", "relu_"):
        return nonneg(node)
    if code == "KC101" and tail in ("abs", "abs_", "absolute", "absolute_", "fabs"):
        return nonneg(node)  # `(d.mean(-1) ** 2).abs()`: |u| is u for u >= 0
    if code == "KC104" and tail in ("maximum", "fmax", "max") and len(call.args) == 2:
        a, b = call.args
        return (const_value(b) == 0 and nonneg(a)) or (const_value(a) == 0 and nonneg(b))
    if code != "KC103" or tail not in ("clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_"):
        return False
    low, high = _lower_bound(call, tail, ctx), _upper_bound(call, tail, ctx)
    if high is not None and not (isinstance(high, ast.Constant) and high.value is None):
        # `(x @ w).clamp(-1, 1)` of unit rows and columns: a cosine, inside [-1, 1] already
        from kinkcheck.lint.ranges_similarity import similarity_floor

        return low is not None and const_value(low) == -1 and const_value(high) == 1 \
            and similarity_floor(node, ctx) is not None
    return low is not None and const_value(low) == 0 and nonneg(node)


@guard("eps-scaled")
def eps_scaled(node: ast.AST, ctx: Context, site=None) -> bool:
    """The kink sits in a term an eps multiplies, ``tiny * (1.0 + |b| + |c|)``: a stabilizer
    sized to the values around it, whose slope jumps by eps at most."""
    child = getattr(site, "call", None)
    if child is None:
        return False
    parent = ctx.parent(child)
    for _ in range(6):
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.Add, ast.Sub)):
            child, parent = parent, ctx.parent(parent)
            continue
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult):
            other = parent.right if parent.left is child else parent.left
            return is_eps_like(other) and not ranges.known_zero(other, ctx)
        return False
    return False


#: logarithms whose singularity at 0 is where an abs inside them has its corner (not log1p)
_LOG_TAILS = frozenset({"log", "log2", "log10"})


@guard("log-of-abs")
def log_of_abs(node: ast.AST, ctx: Context, site=None) -> bool:
    """KC101: the abs is what a log reads, ``log(|x|)`` / ``x.abs().log()``: log|x| is even and
    smooth on both sides of 0, and at 0 the log's singularity (its own finding) is the point."""
    call = getattr(site, "call", None)
    if not isinstance(call, ast.Call) or getattr(site, "code", None) != "KC101":
        return False
    parent = ctx.parent(call)
    if isinstance(parent, ast.Attribute) and parent.value is call:  # `x.abs().log()`
        outer = ctx.parent(parent)
        return isinstance(outer, ast.Call) and outer.func is parent and parent.attr in _LOG_TAILS and not outer.args
    return isinstance(parent, ast.Call) and (_callee_tail(parent, ctx) or "") in _LOG_TAILS \
        and call_operand(parent, ctx) is call


SITE_AWARE = ("unit-clamp", "double-where", "detached-target", "range", "rounding", "dead-zone", "odd-extension", "selected-branch",
              "max-shift", "floored-after", "periodic-wrap", "log-of-abs", "eps-scaled", "zero-patch",
              "integer-data")


def accepts(guard_ids, operand: ast.AST | None, ctx: Context, site=None) -> str | None:
    """The first accepted guard that holds for ``operand`` (of ``site``), else None."""
    if operand is None:
        return None
    for gid in guard_ids:
        fn = GUARDS.get(gid)
        if fn is None:
            continue
        try:
            held = fn(operand, ctx, site) if gid in SITE_AWARE else fn(operand, ctx)
        except RecursionError:
            continue  # an operand too deep to look into: this guard does not vouch for it
        if held:
            return gid
    return None


from kinkcheck.lint import deadzone  # noqa: E402,F401  (registers the dead-zone guard)
from kinkcheck.lint import selected_branch  # noqa: E402,F401  (registers the selected-branch guard)
from kinkcheck.lint import max_shift  # noqa: E402,F401  (registers the max-shift guard)
from kinkcheck.lint import odd_extension  # noqa: E402,F401  (registers the odd-extension guard)
from kinkcheck.lint import periodic_wrap  # noqa: E402,F401  (registers the periodic-wrap guard)
from kinkcheck.lint import integer_cast  # noqa: E402,F401  (registers the integer-data guard)
from kinkcheck.lint import guards_where  # noqa: E402,F401  (registers the double-where guard)
from kinkcheck.lint import zero_patch  # noqa: E402,F401  (registers the zero-patch guard)
