"""Algebraic forms whose sign the range fact knows without the lattice: a squared distance or a
variance written expanded (``|a|^2 - 2 a.b + |b|^2``, ``E[x^2] - E[x]^2``, SSIM's local
variance), a value clamped strictly below a bound (``clip(p, eps, 1 - eps)``),
``-c * exp(u)`` inside (-1, 0) for log1p, the extent of a box enclosing two boxes, and a
quantile loss's weight ``tau - 1{u < 0}``.
``ranges`` folds expressions; these are the shapes it recognises whole."""

from __future__ import annotations

import ast

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.ranges import (
    _range_of,
    is_nonnegative,
    is_positive,
    range_of,
)
from kinkcheck.lint.resolve import const_value, is_eps_like
from kinkcheck.lint.truth import CASTS, truth_value
from kinkcheck.syntax import call_tail


def above_minus_one(node: ast.AST, ctx) -> bool:
    """``-c * exp(u)`` with ``0 < c < 1`` and ``u <= 0`` (or ``c == 1`` and ``u < 0``) lies in
    (-1, 0): log1p's pole at -1 is out of reach (a Laplace log-cdf, ``log1p(-0.5 * exp(-|z|))``)."""
    neg = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
    body = node.operand if isinstance(node, ast.UnaryOp) and neg else node
    c, e = 1.0, body
    if isinstance(body, ast.BinOp) and isinstance(body.op, ast.Mult):
        for k, other in ((body.left, body.right), (body.right, body.left)):
            v = const_value(k)
            if v is not None:
                c, e = float(v), other
                break
    if not neg:
        c = -c  # `-0.5 * exp(u)`: the sign sits in the constant
    if isinstance(e, ast.Name) and hasattr(ctx, "definition"):
        e = ctx.definition(e.id) or e  # `exp_neg = jnp.exp(-jnp.abs(z)); log1p(-0.5 * exp_neg)`
    if 0 < c <= 1 and _capped_below_one(e, ctx):
        return True  # `F = clip(F, tiny, 1 - eps); log1p(-F)`
    if not (call_tail(e) in ("exp",) and isinstance(e, ast.Call) and e.args) or not 0 < c <= 1:
        return False
    return _sign_below(e.args[0], ctx, strict=c == 1)


def _capped_below_one(e: ast.AST, ctx) -> bool:
    """A clamp whose upper bound is below 1 (``1 - eps``, ``0.999``)."""
    from kinkcheck.lint.guards import _inside_unit, _upper_bound

    tail = call_tail(e)
    if not isinstance(e, ast.Call) or tail not in ("clamp", "clamp_", "clip", "clip_", "clamp_max", "clamp_max_"):
        return False
    return _inside_unit(_upper_bound(e, tail, ctx), 1)


def _sign_below(u: ast.AST, ctx, strict: bool) -> bool:
    """``u <= 0`` (``u < 0`` when ``strict``): ``-|z| - 1``, ``-(x ** 2)``, a constant."""
    v = const_value(u)
    if v is not None:
        return v < 0 if strict else v <= 0
    if isinstance(u, ast.UnaryOp) and isinstance(u.op, ast.USub):
        r = range_of(u.operand, ctx)
        return is_positive(r) if strict else is_nonnegative(r)
    if isinstance(u, ast.BinOp) and isinstance(u.op, ast.Sub):
        r = range_of(u.right, ctx)
        return (_sign_below(u.left, ctx, False) and is_positive(r)) if strict else (
            _sign_below(u.left, ctx, False) and is_nonnegative(r))
    return False


def _signed_terms(node: ast.AST, sign: int = 1) -> list[tuple[int, ast.AST]]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        right = -sign if isinstance(node.op, ast.Sub) else sign
        return _signed_terms(node.left, sign) + _signed_terms(node.right, right)
    return [(sign, node)]


def _squared(node: ast.AST) -> ast.AST | None:
    """``b`` of ``b ** 2``, ``b * b``, ``b.pow(2)``, ``torch.square(b)``."""
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow) and const_value(node.right) == 2:
            return node.left
        if isinstance(node.op, ast.Mult) and ast.dump(node.left) == ast.dump(node.right):
            return node.left
    if isinstance(node, ast.Call):
        tail = call_tail(node)
        if tail == "pow" and isinstance(node.func, ast.Attribute) and node.args and const_value(node.args[0]) == 2:
            return node.func.value
        if tail in ("pow", "power") and len(node.args) == 2 and const_value(node.args[1]) == 2:
            return node.args[0]  # `torch.pow(b, 2)`, `jnp.power(b, 2)`
        if tail == "square" and node.args:
            return node.args[0]
    return None


def _expanded_square(node: ast.BinOp, ctx, depth: int) -> bool:
    """Identities that are >= 0 in exact arithmetic, written expanded (a clamp or relu on
    them only removes rounding error): a squared distance ``|a|^2 - 2 a.b + |b|^2`` and a
    variance ``E[x^2] - E[x]^2``."""
    terms = _signed_terms(node)
    neg = [t for sign, t in terms if sign < 0]
    pos = [t for sign, t in terms if sign > 0]
    if len(neg) != 1:
        return False
    (n,) = neg
    bound = _defined(n, ctx)
    if bound is not None and _squared(bound) is not None:
        n = bound  # `mu_xx = mu_x ** 2`, then `conv2d(x ** 2, w) - mu_xx`
    factors = _factors(n)
    if len(pos) >= 2 and 2 in [const_value(f) for f in factors] and any(const_value(f) is None for f in factors):
        return all(_diag(t, ctx) or is_nonnegative(_range_of(t, ctx, depth)) for t in pos)
    base = _squared(n)
    base = _defined(base, ctx) or base  # `mu = x.mean()`, then `(x * x).mean() - mu ** 2`
    if len(pos) == 1 and base is not None and call_tail(base) in ("mean", "nanmean"):
        (p,) = pos
        return call_tail(p) in ("mean", "nanmean") and is_nonnegative(_range_of(p, ctx, depth))
    if len(pos) == 1 and base is not None:
        # `ex2 = conv2d(x * x, w)`, then `ex2 - mu ** 2`
        return _local_variance(_defined(pos[0], ctx) or pos[0], base, ctx)
    return False


def _defined(node: ast.AST | None, ctx) -> ast.AST | None:
    """The value a name stands for where it is read (``mu`` of ``mu = x.mean()``, even when
    ``mu`` is rebound further down), else None."""
    if not (isinstance(node, ast.Name) and hasattr(ctx, "definition")):
        return None
    if hasattr(ctx, "parents") and ctx.parent(node) is not None:
        from kinkcheck.lint import flow

        defs, entry = flow.reaching(node.id, node, ctx)
        if len(defs) == 1 and not entry:
            return defs[0][1]
    return ctx.definition(node.id)


#: local averages: a window mean, or a convolution with a window (SSIM's Gaussian)
_WINDOW_MEANS = frozenset({"avg_pool1d", "avg_pool2d", "avg_pool3d", "conv1d", "conv2d", "conv3d", "filter2d",
                           "filter2D", "gaussian_filter", "uniform_filter", "gaussian_blur2d"})


def _local_variance(p: ast.AST, base: ast.AST, ctx) -> bool:
    """``conv2d(x * x, w) - mu ** 2`` with ``mu = conv2d(x, w)``: SSIM's local variance, the
    same window applied to the square and to the value, is >= 0 in exact arithmetic (a
    window of non-negative weights summing to 1 is a mean)."""
    if isinstance(p, ast.Call) and isinstance(base, ast.Call) and len(p.args) == len(base.args) >= 1 \
            and _same_arguments(p, base) \
            and (window := _window_module(p, ctx) or _window_function(p, ctx)) is not None \
            and window == (_window_module(base, ctx) or _window_function(base, ctx)):
        inner = _squared(p.args[0])  # `self.pool(x ** 2) - mu ** 2` with `mu = self.pool(x)`
        return inner is not None and ast.dump(inner) == ast.dump(base.args[0])
    if not (isinstance(p, ast.Call) and isinstance(base, ast.Call)) or call_tail(p) not in _WINDOW_MEANS \
            or call_tail(p) != call_tail(base) or not p.args or not base.args:
        return False
    inner = _squared(p.args[0])
    same_window = [ast.dump(a) for a in p.args[1:]] == [ast.dump(a) for a in base.args[1:]] and \
        sorted(ast.dump(k) for k in p.keywords) == sorted(ast.dump(k) for k in base.keywords)
    return inner is not None and ast.dump(inner) == ast.dump(base.args[0]) and same_window


#: window-mean layers a module may hold (Monodepth2's SSIM keeps ``self.pool = nn.AvgPool2d(3, 1)``)
_WINDOW_LAYERS = frozenset({"AvgPool1d", "AvgPool2d", "AvgPool3d"})


def _window_module(call: ast.Call, ctx) -> str | None:
    """``self.pool(...)`` where every method of the class that binds ``self.pool`` builds the
    same average-pooling layer: that layer's constructor (so ``self.mu_x_pool`` and
    ``self.sig_x_pool``, both ``nn.AvgPool2d(3, 1)``, are one window); None otherwise."""
    from kinkcheck.lint.bindings import self_assignments

    func = call.func
    cls = getattr(ctx, "cls_qual", None)
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self") \
            or cls is None or not hasattr(ctx, "fa"):
        return None
    built = {ast.dump(v) if isinstance(v, ast.Call) and call_tail(v) in _WINDOW_LAYERS else ""
             for _, _, _, v in self_assignments(ctx.fa, cls, func.attr)}
    return built.pop() or None if len(built) == 1 else None


def _same_arguments(a: ast.Call, b: ast.Call) -> bool:
    """The same arguments after the first (the window, its padding)."""
    return [ast.dump(x) for x in a.args[1:]] == [ast.dump(x) for x in b.args[1:]] \
        and sorted(ast.dump(k) for k in a.keywords) == sorted(ast.dump(k) for k in b.keywords)


def _window_function(call: ast.Call, ctx) -> str | None:
    """``filt(x)`` with ``def filt(x): return F.conv2d(x, window, padding=pad, groups=c)``
    written in the function, or ``_gaussian_filter(x, win)`` of the file applying window
    means one after another to its first parameter: a window mean applied to what it is
    handed; that def (so two calls of it are one window), None otherwise."""
    fn = getattr(ctx, "fn", None)
    if not isinstance(call.func, ast.Name) or fn is None:
        return None
    for node in getattr(fn, "body", ()):  # a def of the function's own body, the one in scope here
        if isinstance(node, ast.FunctionDef) and node.name == call.func.id:
            return ast.dump(node) if _windows_first_parameter(node) else None
    q = ctx.qualify(call.func) if hasattr(ctx, "qualify") and hasattr(ctx, "fa") else None
    entry = ctx.fa.ix.scopes.get(q) if q and ctx.how == "def" else None
    if entry is not None and isinstance(entry[0], ast.FunctionDef) and _windows_first_parameter(entry[0]):
        return q
    return None


def _windows_first_parameter(fn: ast.FunctionDef) -> bool:
    """Every value ``fn`` returns is window means applied one after another to its first
    parameter (``out = conv2d(x, w); return conv2d(out, w.transpose(2, 3))``)."""
    if not fn.args.args:
        return False
    param = fn.args.args[0].arg
    assigned: dict[str, list[ast.expr]] = {}
    returns = []
    for stmt in fn.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            assigned.setdefault(stmt.targets[0].id, []).append(stmt.value)
        elif isinstance(stmt, ast.Return) and stmt.value is not None:
            returns.append(stmt.value)
        elif not isinstance(stmt, ast.Expr):
            return False  # a branch or a loop: not one chain of windows
    if len(returns) != 1 or param in assigned:
        return False
    value: ast.expr = returns[0]
    for _ in range(4):
        if not (isinstance(value, ast.Call) and call_tail(value) in _WINDOW_MEANS and value.args):
            return False
        first = value.args[0]
        if isinstance(first, ast.Name) and first.id == param:
            return True
        if not (isinstance(first, ast.Name) and len(assigned.get(first.id, ())) == 1):
            return False
        value = assigned[first.id][0]
    return False


def _reached(node: ast.AST, ctx, local_only: bool = False) -> ast.AST:
    """The one value that reaches this use of a name (``p`` of ``1 - p`` after ``p = clip(p,
    eps, 1 - eps)``, however often ``p`` is rebound elsewhere), else the value a name bound
    once stands for (with ``local_only``, a local name, never a parameter), else ``node``."""
    if not isinstance(node, ast.Name):
        return node
    from kinkcheck.lint.guards import _reaching_value

    value = (_reaching_value(node, ctx) if hasattr(ctx, "parents") and ctx.parent(node) is not None else None) \
        or ((ctx.bound_once(node.id) if hasattr(ctx, "bound_once") else None) if local_only else _defined(node, ctx))
    return value if value is not None else node


def _capped_below(node: ast.AST, c: float, ctx) -> bool:
    """``node`` is clamped from above strictly below ``c``: ``clip(p, eps, 1 - eps)``,
    ``p.clamp(max=0.999)``, ``minimum(p, 1 - eps)`` (or a name bound once to that); or it is
    the square of a value clamped inside (-1, 1) and ``c >= 1`` (ArcFace's ``1 - cos ** 2``)."""
    from kinkcheck.lint.guards import CLAMP_FUNCS, _upper_bound, unit_clamp

    base = _squared(node)
    if base is not None:
        return c >= 1 and unit_clamp(base, ctx)
    node = _reached(node, ctx)
    if not isinstance(node, ast.Call):
        return False
    from kinkcheck.lint.ranges_calls import _call_tail

    tail, _method = _call_tail(node, ctx)
    bounds: list[ast.AST | None]
    if tail in ("minimum", "fmin"):
        bounds = list(node.args[:2])
    elif tail in CLAMP_FUNCS or tail in ("clamp_max", "clamp_max_"):
        bounds = [_upper_bound(node, tail, ctx)]
    else:
        return False
    for b in bounds:
        if b is None:
            continue
        v = const_value(b)
        if v is not None and v < c:
            return True
        if isinstance(b, ast.BinOp) and isinstance(b.op, ast.Sub) and const_value(b.left) == c and (
                is_eps_like(b.right) or (const_value(b.right) or 0) > 0 or _positive_setting(b.right, ctx)):
            return True  # `1 - eps`, `1 - 1e-6`, `1.0 - clip` with `clip: float = 0.01`
    return False


def floored_above_one(node: ast.AST, ctx) -> bool:
    """``node`` is ``x``, ``x * x`` or ``x ** 2`` of a value floored strictly above 1
    (``x = x.clamp_min(1 + eps)``): ``node - 1`` is > 0, the ``sqrt(x * x - 1)`` of an arcosh
    written out (``log(x + sqrt(x * x - 1))``) meets no pole."""
    from kinkcheck.lint.guards import _lower_bound, above_one

    base = _squared(node) or node
    if isinstance(base, ast.Name) and _lambda_parameter(base, ctx):
        return False  # `lambda y: sqrt(y * y - 1)`: the lambda's own y, whatever the function's is
    # only what reaches this read, or a local bound once: a parameter floored on one branch
    # (`if flag: y = x.clamp_min(1 + eps)`) may arrive unfloored
    base = _reached(base, ctx, local_only=True)
    if not isinstance(base, ast.Call):
        return False
    tail = call_tail(base)
    return tail in ("clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_", "maximum", "fmax") \
        and above_one(_lower_bound(base, tail, ctx), ctx)


def _lambda_parameter(node: ast.Name, ctx) -> bool:
    """``node`` reads a parameter of a lambda it sits in."""
    parent = ctx.parent(node) if hasattr(ctx, "parents") else None
    while parent is not None:
        if isinstance(parent, ast.Lambda) and any(a.arg == node.id for a in (
                *parent.args.posonlyargs, *parent.args.args, *parent.args.kwonlyargs)):
            return True
        parent = ctx.parent(parent)
    return False


def _positive_setting(node: ast.AST, ctx) -> bool:
    """A parameter whose default is a positive number (``clip: float = 0.01``): a propensity
    trimmed to ``[clip, 1 - clip]`` keeps ``1 - e`` above 0 as an eps does."""
    if not (isinstance(node, ast.Name) and hasattr(ctx, "param_default") and hasattr(ctx, "fa")):
        return False

    def positive(value: ast.AST | None) -> bool:
        v = const_value(value) if value is not None else None
        return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0

    if not positive(ctx.param_default(node.id)) or ctx.assignments().get(node.id):
        return False  # (`clip = 0.0` rebound in the body: the default says nothing)
    from kinkcheck.lint import call_sites

    sites = call_sites.call_sites(ctx)  # a caller of this file passing `clip=0.0` keeps the pole
    return sites is None or all(
        (given := call_sites.passed(node.id, call, ctx)) is None or positive(given) for _, call in sites)


def _factors(node: ast.AST) -> list[ast.AST]:
    """The factors of a product, ``@`` included: ``2 * x @ y.T`` parses as ``(2 * x) @ y.T``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.MatMult)):
        return _factors(node.left) + _factors(node.right)
    return [node]


def _diag(node: ast.AST, ctx) -> bool:
    """The diagonal of the Gram matrix whose off-diagonal the distance subtracts is a
    squared norm: ``diag(x @ x.T)``, its views, a name bound to it."""
    for _ in range(4):
        if isinstance(node, ast.Call) and call_tail(node) in ("unsqueeze", "view", "reshape", "float", "to") and \
                isinstance(node.func, ast.Attribute):
            node = node.func.value
        elif isinstance(node, ast.Name) and hasattr(ctx, "definition") and ctx.definition(node.id) is not None:
            node = ctx.definition(node.id)
        else:
            break
    return call_tail(node) in ("diag", "diagonal")


_UPPER = frozenset({"max", "maximum", "fmax", "amax"})
_LOWER = frozenset({"min", "minimum", "fmin", "amin"})


def enclosing_extent(node: ast.BinOp, ctx) -> bool:
    """``max(a_hi, b_hi) - min(a_lo, b_lo)``: the width (height, diagonal offset) of the box
    enclosing boxes ``a`` and ``b``, read from the same two tensors on both sides. It is at least
    the width of either box, so >= 0 whenever one of them is a valid box (the target): a
    ``clamp(min=0)`` on it only removes rounding error (GIoU's enclosing area). The intersection,
    ``min(a_hi, b_hi) - max(a_lo, b_lo)``, is no such form: it is negative for disjoint boxes."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)):
        return False
    hi, lo = _pair(node.left, _UPPER, ctx), _pair(node.right, _LOWER, ctx)
    if hi is None or lo is None:
        return False
    hi_boxes, lo_boxes = [_box(e, ctx) or "" for e in hi], [_box(e, ctx) or "" for e in lo]
    if "" in hi_boxes or "" in lo_boxes or hi_boxes[0] == hi_boxes[1]:
        return False
    return sorted(hi_boxes) == sorted(lo_boxes)


def _pair(node: ast.AST, tails: frozenset[str], ctx) -> tuple[ast.AST, ast.AST] | None:
    """The two operands of an elementwise ``max``/``min`` (of a name bound once to one)."""
    node = _defined(node, ctx) or node
    if not isinstance(node, ast.Call) or call_tail(node) not in tails or node.keywords:
        return None
    args = list(node.args)
    if isinstance(node.func, ast.Attribute) and len(args) == 1:
        args = [node.func.value, *args]  # `a.maximum(b)`
    return (args[0], args[1]) if len(args) == 2 else None


def _box(node: ast.AST, ctx, hops: int = 3) -> str | None:
    """The tensor a coordinate is read from: ``pred`` of ``pred[:, 2:]``, of ``x2 = pred[..., 2]``."""
    for _ in range(hops):
        if isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Name) and (value := _defined(node, ctx)) is not None:
            node = value
        else:
            break
    return ast.dump(node) if isinstance(node, (ast.Name, ast.Attribute)) else None


#: the levels of a quantile loss, fixed or sampled: IQN's ``taus``, QR-DQN's ``quantiles``,
#: FQF's ``tau_hats``, rlax's ``tau_src``
_LEVEL_RE = lazy_pattern(r"^(tau|taus|tau_hats?|tau_src|quantiles?|quantile_levels?|quantile_fractions?)$")
#: what keeps an indicator an indicator: the casts of a truth value to numbers, detaching, views
_SAME_INDICATOR = CASTS | {"detach", "stop_gradient", "unsqueeze", "expand", "expand_as", "reshape", "view"}


def quantile_weight(node: ast.AST, ctx) -> bool:
    """``tau - 1{u < 0}``: the weight ``|tau - 1{u < 0}|`` of a quantile (pinball, quantile
    Huber) loss, a level inside (0, 1) less an indicator that is 0 or 1, is never 0, so its abs
    has no corner the loss meets (and neither side carries the prediction's slope)."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)):
        return False
    return (_level(node.left) and _indicator(node.right, ctx)) or (_level(node.right) and _indicator(node.left, ctx))


def _level(node: ast.AST) -> bool:
    """A value named as a quantile level (``taus.unsqueeze(2)``, ``tau_src[:, None]``)."""
    for _ in range(4):
        if isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _SAME_INDICATOR:
            node = node.func.value
        else:
            break
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return bool(_LEVEL_RE.match(name))


def _indicator(node: ast.AST, ctx, hops: int = 8) -> bool:
    """A truth value used as 0/1, through casts, ``stop_gradient``/``detach``, names bound to
    one and a ``select``/``where`` between two of them (rlax's ``stop_target_gradients``)."""
    if hops < 0:
        return False
    if truth_value(node):
        return True
    if isinstance(node, ast.Name):
        from kinkcheck.lint import flow

        if not (hasattr(ctx, "parents") and ctx.parent(node) is not None):
            return False
        defs, entry = flow.reaching(node.id, node, ctx)
        return bool(defs) and not entry and all(v is not None and _indicator(v, ctx, hops - 1) for _, v in defs)
    if not isinstance(node, ast.Call):
        return False
    tail = call_tail(node)
    if tail in ("select", "where") and len(node.args) == 3:
        return all(_indicator(a, ctx, hops - 1) for a in node.args[1:])
    if tail in _SAME_INDICATOR:
        inner = node.func.value if isinstance(node.func, ast.Attribute) and tail != "stop_gradient" \
            else node.args[0] if node.args else None
        return inner is not None and _indicator(inner, ctx, hops - 1)
    return False
