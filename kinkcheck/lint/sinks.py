"""Where a kinked value goes: a kink matters only when its slope can reach a gradient.

A value that is only compared (``mask = x.abs() < t``), only taken out of the graph
(``std.detach()``, ``.data``, ``stop_gradient``), only ranked (``d.topk(k).indices``,
``argsort``) or squared away (``abs(x) ** 2``: slope 0 from both sides) has no slope at its
kink that autograd ever uses. Names are followed: ``std = z.std(); z / std.detach()``
is the same as the inline form, as long as every use the assignment reaches is such a sink.
"""

from __future__ import annotations

import ast

from kinkcheck.lint import flow
from kinkcheck.lint.kinds import INT_CASTS, STEP_FUNCS, _integer_dtype
from kinkcheck.lint.resolve import COMPARISON_CALLS, PLAIN, const_value
from kinkcheck.syntax import scalar_cast_of

#: arithmetic that passes a value on (its kink with it) within one expression, and the
#: tuples and lists that hold it (``torch.stack((a.min(0)[0], b.min(0)[0]))``)
_PASS_THROUGH = (ast.BinOp, ast.UnaryOp, ast.Subscript, ast.Starred, ast.Tuple, ast.List)
#: methods and functions whose result carries no gradient of their receiver / argument
_SEVERING = frozenset({"detach", "detach_", "stop_gradient", "argmax", "argmin", "argsort", "argwhere", "nonzero",
                       "isnan", "isinf", "isfinite", "bucketize", "searchsorted",
                       # a Python number: KC501 reports the cut where the number reaches the loss
                       "item", "tolist",
                       # steps (floor, round, sign, ...): piecewise constant, slope 0 wherever it
                       # exists (KC302 reports one that reaches the loss), so no slope of what
                       # they read gets through; in place too
                       *STEP_FUNCS, *(f"{f}_" for f in STEP_FUNCS)})
#: attributes that hold no gradient: ``x.data``, ``x.topk(k).indices``
_SEVERING_ATTRS = frozenset({"data", "indices", "shape", "dtype", "device"})
#: how many assignments a value is followed through
_NAME_DEPTH = 4


#: searches whose every argument is only compared (the sorted sequence and the values sought)
_SEARCHES = frozenset({"searchsorted", "bucketize", "digitize"})
#: calls that return (values, indices)
_VALUES_INDICES = frozenset({"topk", "max", "min", "sort", "kthvalue", "median", "mode", "cummax", "cummin"})


def _callee(call: ast.AST) -> str:
    if not isinstance(call, ast.Call):
        return ""
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _concatenator(node: ast.AST) -> bool:
    """``np.c_``, ``jnp.r_``: index notation for concatenation, whose "indices" are values."""
    return isinstance(node, ast.Attribute) and node.attr in ("c_", "r_") \
        or isinstance(node, ast.Name) and node.id in ("c_", "r_")


def _integer_cast(call: ast.Call) -> bool:
    """``x.long()``, ``x.to(torch.int64)``, ``x.astype(jnp.int32)``: integers hold no gradient
    (the casts ``kinds`` reads as data)."""
    tail = _callee(call)
    return tail in INT_CASTS and not call.args or tail in ("to", "type", "astype") and _integer_dtype(call)


def gradient_dead(node: ast.AST, ctx, depth: int = 0, *, value_matters: bool = False) -> bool:
    """Every path the value at ``node`` takes ends in a comparison, an assertion, text or a
    stop-gradient, or is read only under ``torch.no_grad()`` (SoftAdapt's max-shift of the
    loss ratios, used only to weigh the losses without gradient), unless ``value_matters``:
    an inf there still reaches the weights the loss is multiplied by."""
    child, parent = node, ctx.parent(node)
    for _ in range(50):
        if isinstance(parent, (ast.Compare, ast.FormattedValue, ast.Assert)):
            return True  # compared, formatted into text (`f"{x.max()}"`) or only asserted
        if depth == 0 and _callee(child) in _VALUES_INDICES and (
                isinstance(parent, ast.Subscript) and parent.value is child and const_value(parent.slice) == 1
                or isinstance(parent, ast.Attribute) and parent.attr == "indices"):
            from kinkcheck.lint.checks.kinks import regathers, returns_positions

            if returns_positions(child, ctx):  # `jnp.max(x, 1)[1]` is a row of maxima
                return not regathers(child, ctx)  # `x.sort()[1]`: positions, unless they pick x back out
        if isinstance(parent, ast.Attribute) and parent.value is child:
            if parent.attr in _SEVERING_ATTRS:
                return True
            if parent.attr == "values":
                child, parent = parent, ctx.parent(parent)  # `x.max(dim=-1).values`: the value itself
                continue
            method = ctx.method_call(child)
            if method is not None:
                if parent.attr in _SEVERING or parent.attr in COMPARISON_CALLS or _integer_cast(method[1]):
                    return True
                child, parent = method[1], ctx.parent(method[1])  # `x.abs().sum()`: passes the value on
                continue
            return False
        if isinstance(parent, ast.Call) and child in parent.args and parent.args[0] is child and _callee(parent) in _SEVERING:
            return True  # torch.argsort(d), jax.lax.stop_gradient(x)
        if scalar_cast_of(parent) is child and ctx.imports_framework():
            return True  # int(x.sum()) (KC504 reports that cut; numpy has no graph to cut)
        if isinstance(parent, ast.Call) and child in parent.args and _callee(parent) in COMPARISON_CALLS:
            return True  # torch.gt(d, m), d.ge(d.max()), jnp.isclose(p, jnp.max(p))
        if isinstance(parent, ast.Call) and child in parent.args and _callee(parent) in _SEARCHES:
            return True  # torch.searchsorted(edges, t): both only compared
        if isinstance(parent, ast.Subscript) and parent.slice is child:
            if _concatenator(parent.value):
                child, parent = parent, ctx.parent(parent)  # `jnp.c_[a, b]` lays its entries side by side
                continue
            return True  # `x[first]`: a position picks elements, no gradient runs through it
        if isinstance(parent, _PASS_THROUGH):
            child, parent = parent, ctx.parent(parent)
            continue
        if isinstance(parent, ast.IfExp) and child is not parent.test:
            child, parent = parent, ctx.parent(parent)  # `squeeze(n) if not keepdims else n`
            continue
        if isinstance(parent, ast.Call) and child in parent.args and isinstance(parent.func, ast.Attribute) \
                and ctx.is_module_ref(parent.func.value):
            child, parent = parent, ctx.parent(parent)  # `jnp.sum(jnp.abs(x))`: passes the value on
            continue
        call = ctx.parent(parent) if isinstance(parent, ast.keyword) else parent
        if isinstance(call, ast.Call) and (child in call.args or parent is not call) and depth < _NAME_DEPTH:
            return _dead_in_callee(call, child, ctx, depth, value_matters)
        if isinstance(parent, (ast.Assign, ast.AnnAssign)) and parent.value is child and depth < _NAME_DEPTH:
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            if len(targets) != 1:
                return False
            target = targets[0]
            if _data_store(target):
                return True  # `self.grid.data = grid`, `y.data[i] = v`: written past autograd
            if isinstance(target, ast.Tuple) and target.elts and _callee(child) in _VALUES_INDICES:
                from kinkcheck.lint.checks.kinks import values_discarded

                if values_discarded(child, ctx):
                    return True  # `_, idx = torch.min(v, 0)`: only positions are kept (KC303's)
                target = target.elts[0]  # `values, idx = x.topk(k)`: only the values carry the kink
            if not isinstance(target, ast.Name):
                return False
            return _uses_dead(target.id, parent, ctx, depth, value_matters)
        return False
    return False


def _dead_in_callee(call: ast.Call, arg: ast.AST, ctx, depth: int, value_matters: bool) -> bool:
    """``nearest(feats, distances, k)``, where ``nearest`` is a function of this file that
    only ranks, compares or detaches the parameter ``arg`` lands in: the value dies there as
    it would inline (``distances.topk(k).indices``). A parameter the callee returns, or
    hands on to code that is not this file's, keeps its gradient."""
    from kinkcheck.lint.call_sites import handed_to

    handed = handed_to(call, arg, ctx)
    if handed is None:
        return False
    callee, param = handed
    memo = ctx.fa.__dict__.setdefault("_dead_parameters", {})
    key = (callee.qualname, param, value_matters)
    if key not in memo:
        memo[key] = False  # a recursive call keeps the gradient
        uses = [u for u in reads(param, callee) if flow.reaching(param, u, callee)[1]]
        off = set() if value_matters else callee.no_grad_ids()
        memo[key] = bool(uses) and all(
            id(u) in off or gradient_dead(u, callee, depth + 1, value_matters=value_matters) for u in uses)
    return memo[key]


def _data_store(target: ast.AST) -> bool:
    """``x.data`` (or an element of it) as an assignment target: the value is written into the
    tensor's storage, outside the graph (an optimizer's or an attack's in-place update)."""
    while isinstance(target, ast.Subscript):
        target = target.value
    return isinstance(target, ast.Attribute) and target.attr == "data"


def _uses_dead(name: str, binding: ast.AST, ctx, depth: int, value_matters: bool = False) -> bool:
    """Every use of ``name`` that ``binding`` reaches is a sink (and there is one)."""
    uses = uses_of(name, binding, ctx)
    off = set() if value_matters else ctx.no_grad_ids()
    return bool(uses) and all(id(u) in off or gradient_dead(u, ctx, depth + 1, value_matters=value_matters)
                              for u in uses)


def bound_uses(value: ast.AST, ctx) -> list[ast.Name] | None:
    """The reads of the name ``value`` is bound to, when it is the whole value of ``name =
    value``; None when it is not bound to one name (part of an expression, a tuple target)."""
    stmt = ctx.parent(value)
    if isinstance(stmt, ast.Assign) and stmt.value is value and len(stmt.targets) == 1 \
            and isinstance(stmt.targets[0], ast.Name):
        return uses_of(stmt.targets[0].id, stmt, ctx)
    return None


def every_bound_use(value: ast.AST, ctx, test) -> bool:
    """``value`` is bound to one name (``bound_uses``), that name is read, and every read
    passes ``test``: the follow-the-name step of the guards and sinks that judge a value by
    where it goes."""
    uses = bound_uses(value, ctx)
    return bool(uses) and all(test(u) for u in uses or ())


def uses_of(name: str, binding: ast.AST, ctx) -> list[ast.Name]:
    """The places the function reads ``name`` where the assignment ``binding`` may reach."""
    return list(_uses_by_binding(name, ctx).get(id(binding), ()))


def _uses_by_binding(name: str, ctx) -> dict[int, list[ast.Name]]:
    """id of each binding of ``name`` -> the reads it reaches, worked out once per function
    and name: the reaching definitions of every read at once, so a chain of rebindings
    (``t = f0(t); t = f1(t); ...``) costs one pass, not one per binding asked about."""
    memo = ctx.__dict__.setdefault("_sink_uses", {})
    if name not in memo:
        by_binding: dict[int, list[ast.Name]] = {}
        for node in _loads(ctx).get(name, ()):
            ctx.fa.spend()
            defs, _ = flow.reaching(name, node, ctx)
            for stmt in {id(stmt): stmt for stmt, _ in defs}.values():
                by_binding.setdefault(id(stmt), []).append(node)
        memo[name] = by_binding
    return memo[name]


def is_read(name: str, ctx) -> bool:
    """The function reads ``name`` somewhere (``m += c`` reads ``m`` too)."""
    return bool(_loads(ctx).get(name)) or any(
        isinstance(stmt, ast.AugAssign) for stmt, _ in flow.bindings(ctx).get(name, ()))


def reads(name: str, ctx) -> list[ast.Name]:
    """Every place the function reads ``name``."""
    return _loads(ctx).get(name, [])


def reads_after(stmt: ast.stmt, names: set[str], ctx) -> list[ast.Name]:
    """The reads of ``names`` placed after ``stmt`` in the function (by position: a mask
    assigned and then used)."""
    start = (stmt.lineno, stmt.col_offset)
    return [n for name in names for n in reads(name, ctx) if (n.lineno, n.col_offset) > start]


def _loads(ctx) -> dict[str, list[ast.Name]]:
    """name -> the places the function reads it (memoized per function)."""
    cached = getattr(ctx, "_sink_loads", None)
    if cached is None:
        from kinkcheck.lint.walk import walk_local

        cached = {}
        for node in walk_local(ctx.fn):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and ctx.parent(node) is not None:
                cached.setdefault(node.id, []).append(node)
        ctx._sink_loads = cached
    return cached


def squared_away(site, ctx) -> bool:
    """``abs(x) ** 2``, ``relu(x).pow(2)``, ``clamp(x, min=0) ** 1.5``, ``abs(e) ** gamma``
    (``gamma=2.0``), ``huber_loss(relu(e), zeros)``: a kink at 0 read by a function whose slope
    is 0 at 0 (a power above 1, a Huber or squared error against zero) leaves a result that is
    differentiable. ``maximum(e, 0)`` (KC104 against a zero) is a relu. The value may be bound
    to a name first, scaled on the way (``(|e| / s) ** 2``), and every read of the name must
    square it away or only compare it (Tukey's biweight: ``(1 - (d / c) ** 2) ** 3`` where
    ``d <= c``)."""
    node = site.call if site.call is not None else site.node
    if site.code == "KC104" and not _against_zero(node, ctx):
        return False
    if site.code == "KC103" and not _clamped_at_zero(node, ctx):
        return False
    return _flat_at_zero(node, ctx, 2, site.operand if site.code == "KC101" else None)


#: smooth functions that vanish at 0: a kink at 0 read through them is still squared away
#: by a power above 1 (``(1 - exp(-|d|)) ** 4`` too: ``1 - exp(-v)`` vanishes at 0)
_ZERO_AT_ZERO = frozenset({"tanh", "sin", "sinh", "tan", "atan", "arctan", "asinh", "arcsinh", "expm1", "log1p",
                           "erf", "atanh", "arctanh"})
#: error functions that are quadratic near a zero residual: ``f(a, b)`` with ``b == 0`` is flat at ``a == 0``
_QUADRATIC_AT_ZERO = frozenset({"huber_loss", "smooth_l1_loss", "mse_loss", "huber", "squared_error", "l2_loss"})


def _flat_at_zero(node: ast.AST, ctx, depth: int, crossing: ast.AST | None = None) -> bool:
    """``crossing``: what is 0 at the kink (``e`` of ``abs(e)``); a product with a factor that
    vanishes there is differentiable (``e ** 2 * tanh(|e|)``: the kink's one-sided slopes are
    both multiplied by 0)."""
    parent = ctx.parent(node)
    exponent = None
    if _shape_only(node, parent):
        return True  # `torch.zeros_like(h)` reads the shape of h, not its values
    if isinstance(parent, ast.Compare) or (isinstance(parent, ast.Call) and node in parent.args
                                           and _callee(parent) in COMPARISON_CALLS):
        return True  # `delta <= c`, `torch.greater_equal(c, delta)`: a comparison's slope is 0
    if crossing is not None and isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult):
        cofactor = parent.right if parent.left is node else parent.left
        if _vanishes_at(cofactor, crossing, ctx):
            return True
    if crossing is not None and isinstance(parent, ast.AugAssign) and isinstance(parent.op, ast.Mult) \
            and parent.value is node and isinstance(parent.target, ast.Name):
        from kinkcheck.lint import flow

        reached, from_before = flow.reaching(parent.target.id, parent.target, ctx)
        if not from_before and len(reached) == 1 and reached[0][1] is not None \
                and _vanishes_at(reached[0][1], crossing, ctx):
            return True  # `loss = (x - y) ** 2; loss *= tanh(b * |x - y|) ** g`
    if isinstance(parent, ast.BinOp) and (isinstance(parent.op, ast.Mult) or (
            isinstance(parent.op, ast.Div) and parent.left is node)):
        return _flat_at_zero(parent, ctx, depth, crossing)  # `(|e| / scale) ** 2` is `e**2 / scale**2`
    if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub):
        return _flat_at_zero(parent, ctx, depth, crossing)
    if isinstance(parent, ast.IfExp) and node is not parent.test:
        # `relu(v) if inequality else v`, then squared: the arm chosen is squared either way
        return _flat_at_zero(parent, ctx, depth, crossing)
    if isinstance(parent, ast.Attribute) and parent.value is node and parent.attr == "detach" \
            or isinstance(parent, ast.Call) and parent.args and parent.args[0] is node \
            and _callee(parent) == "stop_gradient":
        return True  # self-imitation's `clipped.detach()` weight: no slope of it is read
    power: ast.AST | None = parent  # the expression that raises the value to `exponent`
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Pow) and parent.left is node:
        exponent = parent.right
    elif isinstance(parent, ast.Attribute) and parent.value is node and parent.attr in ("pow", "square", "pow_"):
        call = ctx.parent(parent)
        if parent.attr == "square":
            return True
        if isinstance(call, ast.Call) and call.args:
            exponent, power = call.args[0], call
    elif isinstance(parent, ast.Call) and parent.args and parent.args[0] is node:
        name = _callee(parent)
        if name in _ZERO_AT_ZERO:
            return _flat_at_zero(parent, ctx, depth, crossing)  # `tanh(|e|) ** 2`: smooth, 0 at 0, slope finite
        up = ctx.parent(parent)
        if name == "exp" and isinstance(up, ast.BinOp) and isinstance(up.op, ast.Sub) and any(
                const_value(side) == 1 for side in (up.left, up.right)):
            return _flat_at_zero(up, ctx, depth)  # SIoU's `(1 - exp(-omega)) ** 4`
        if name == "square":
            return True
        if name in ("pow", "power"):
            exponent = parent.args[1] if len(parent.args) > 1 else None
        elif name in _QUADRATIC_AT_ZERO:
            other = parent.args[1] if len(parent.args) > 1 else next(
                (k.value for k in parent.keywords if k.arg in ("target", "targets", "labels")), None)
            return other is None or _zero(other, ctx)  # optax's `huber_loss(predictions)`: against 0
    elif depth and isinstance(parent, ast.Assign):
        return every_bound_use(node, ctx, lambda u: _flat_at_zero(u, ctx, depth - 1))
    if exponent is None:
        return False
    from kinkcheck.lint.ranges import numeric_value

    # read as KC202 reads an exponent: literals, parameter defaults, ``self.gamma`` config
    v = numeric_value(exponent, ctx)
    if v is not None and not isinstance(v, bool) and v == 1 and crossing is not None and power is not None:
        return _flat_at_zero(power, ctx, depth, crossing)  # `tanh(|e|) ** gamma` with gamma=1.0 is tanh(|e|)
    return v is not None and v > 1


def _vanishes_at(factor: ast.AST, crossing: ast.AST, ctx) -> bool:
    """``factor`` is 0 where ``crossing`` is, with a finite slope: ``crossing`` itself, or a
    power of it of at least 1 (``(x - y) ** 2``, ``e.pow(2)``, ``square(e)``)."""
    if ast.dump(factor) == ast.dump(crossing):
        return True
    v = power_of(factor, crossing, ctx)
    return v is not None and v >= 1


def power_of(factor: ast.AST, base: ast.AST, ctx) -> float | None:
    """k when ``factor`` is ``base ** k``, ``base.pow(k)`` or ``square(base)`` (k = 2) with a
    known number k, else None."""
    from kinkcheck.lint.ranges import numeric_value

    found = exponent = None
    if isinstance(factor, ast.BinOp) and isinstance(factor.op, ast.Pow):
        found, exponent = factor.left, factor.right
    elif isinstance(factor, ast.Call) and _callee(factor) in ("pow", "square"):
        func = factor.func
        method = isinstance(func, ast.Attribute) and not ctx.is_module_ref(func.value)
        args = [func.value, *factor.args] if isinstance(func, ast.Attribute) and method else list(factor.args)
        found = args[0] if args else None
        exponent = args[1] if len(args) > 1 else (ast.Constant(2) if _callee(factor) == "square" else None)
    if found is None or exponent is None or ast.dump(found) != ast.dump(base):
        return None
    v = numeric_value(exponent, ctx)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


#: two-operand extremes whose tie is a kink
_EXTREMES = frozenset({"max", "min", "maximum", "minimum", "fmax", "fmin"})


def tie_cancelled(site, ctx) -> bool:
    """``|w1 - w2| / max(w1, w2)`` (SIoU's shape cost, a relative difference): the max ties
    where ``w1 == w2``, exactly where the numerator vanishes, so the quotient's slope jump
    there, ``num * (m'+ - m'-) / m ** 2``, is 0. The tie leaves no kink of its own (the abs's
    is judged on its own)."""
    call = site.call
    if site.code != "KC104" or not isinstance(call, ast.Call) or _callee(call) not in _EXTREMES:
        return False
    func = call.func
    operands = [func.value, *call.args] if isinstance(func, ast.Attribute) and not ctx.is_module_ref(func.value) \
        else list(call.args)
    if len(operands) != 2:
        return False
    child: ast.AST = call
    parent = ctx.parent(call)
    for _ in range(4):  # through a floor: `max(a, b) + eps`, `max(a, b).clamp(min=eps)`
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Add) \
                and ctx.kind(parent.right if parent.left is child else parent.left) == PLAIN:
            child, parent = parent, ctx.parent(parent)
        elif isinstance(parent, ast.Attribute) and parent.attr in ("clamp", "clamp_min", "clip") \
                and isinstance(floor := ctx.parent(parent), ast.Call):
            child, parent = floor, ctx.parent(floor)
        else:
            break
    if not (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div) and parent.right is child):
        return False
    pair = {ast.dump(o) for o in operands}
    return any(_difference_of(f, pair, ctx) for f in _factors(parent.left))


def _factors(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _factors(node.left) + _factors(node.right)
    return [node]


def _difference_of(factor: ast.AST, pair: set[str], ctx) -> bool:
    """``factor`` is ``a - b`` of the pair, its abs, or a power of either."""
    if isinstance(factor, ast.Call) and _callee(factor) in ("abs", "fabs", "absolute"):
        func = factor.func
        if isinstance(func, ast.Attribute) and not factor.args and not ctx.is_module_ref(func.value):
            factor = func.value  # `(a - b).abs()`
        elif len(factor.args) == 1:
            factor = factor.args[0]
    elif isinstance(factor, ast.BinOp) and isinstance(factor.op, ast.Pow):
        from kinkcheck.lint.ranges import numeric_value

        k = numeric_value(factor.right, ctx)
        if not (isinstance(k, (int, float)) and k >= 1):
            return False
        return _difference_of(factor.left, pair, ctx)
    return isinstance(factor, ast.BinOp) and isinstance(factor.op, ast.Sub) \
        and {ast.dump(factor.left), ast.dump(factor.right)} == pair


def _against_zero(call: ast.AST, ctx) -> bool:
    """``maximum(e, 0)``, ``torch.max(e, torch.zeros_like(e))``: a two-operand max/min with a zero."""
    if not isinstance(call, ast.Call):
        return False
    operands = list(call.args[:2])
    if isinstance(call.func, ast.Attribute) and len(call.args) == 1 and not ctx.is_module_ref(call.func.value):
        operands = [call.func.value, call.args[0]]
    return len(operands) == 2 and any(_zero(o, ctx) for o in operands)


def _clamped_at_zero(call: ast.AST, ctx) -> bool:
    """``clamp(e, min=0)``, ``e.clamp_min(0)``, ``clip(e, 0, None)``: a clamp that is a relu."""
    from kinkcheck.lint.guards import _lower_bound, _upper_bound

    if not isinstance(call, ast.Call):
        return False
    tail = _callee(call)
    low = _lower_bound(call, tail, ctx)  # None for clamp_max
    return low is not None and _zero(low, ctx) and _upper_bound(call, tail, ctx) is None


def _zero(node: ast.AST, ctx, depth: int = 2) -> bool:
    """A literal 0, ``zeros_like(...)``/``zeros(...)``, or a name bound to one."""
    if const_value(node) == 0:
        return True
    if isinstance(node, ast.Call):
        return _callee(node) in ("zeros_like", "zeros", "new_zeros")
    if isinstance(node, ast.Name) and depth:
        from kinkcheck.lint.guards import _reaching_value

        value = _reaching_value(node, ctx)
        return value is not None and _zero(value, ctx, depth - 1)
    return False


def _shape_only(node: ast.AST, parent: ast.AST | None) -> bool:
    """``zeros_like(x)``, ``x.shape``, ``x.new_zeros(...)``: a read of the layout, not of the values."""
    if isinstance(parent, ast.Attribute) and parent.value is node:
        return parent.attr in ("shape", "dtype", "device", "ndim", "size", "new_zeros", "new_ones", "new_empty")
    if isinstance(parent, ast.Call) and parent.args and parent.args[0] is node:
        return _callee(parent) in ("zeros_like", "ones_like", "empty_like", "full_like")
    return False
