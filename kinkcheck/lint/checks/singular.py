"""KC202 (fractional and negative powers), KC203 (an L1 ``pairwise_distance``), KC205
(division) and KC209 (``xlogy``): the operand is not simply the rule's ``argument``."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.checks import Site, refine
from kinkcheck.lint.ranges_settings import numeric_value
from kinkcheck.lint.resolve import ARRAY_ROOTS, DATA, PLAIN, const_value
from kinkcheck.syntax import callee_tail, number_reads

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context


def exponent_of(site: Site) -> ast.AST | None:
    call = site.call
    if isinstance(call, ast.BinOp):
        return call.right
    if not isinstance(call, ast.Call):
        return None
    for kw in call.keywords:
        if kw.arg in ("exponent", "y", "x2", "p"):
            return kw.value
    if site.via == "method":
        return call.args[0] if call.args else None
    return call.args[1] if len(call.args) > 1 else None


@refine("KC202")
def fractional_power(site: Site, ctx: Context):
    """Flag an exponent in (0, 1) or below 0 (``x ** 0.5``, ``pow(d, -1)``), read through
    parameter defaults, assignments (tuple unpacking too) and ``self.<attr>`` config; an
    exponent nothing bounds (a tensor of weights, ``order / rho`` of unknowns) is flagged at
    low confidence. A configurable exponent whose value is an integer >= 1 is smooth."""
    from kinkcheck.lint.ranges import numeric_value
    from kinkcheck.lint.ranges_settings import integer_setting, whole_grid

    p = exponent_of(site)
    if p is None:
        return None
    v = numeric_value(p, ctx)
    if v is None and (integer_setting(p, ctx) or whole_grid(p, ctx)):
        return None  # `x ** self.n` with `n: int`, `x ** arange(5)`: integer powers, never in (0, 1)
    if v is None:
        if ctx.kind(p) == PLAIN and const_value(p) is None and not isinstance(p, (ast.Name, ast.Attribute, ast.BinOp)):
            return None
        site = site.with_(confidence="low")
    elif not (0 < v < 1 or v < 0):
        return None
    call = site.call
    base = call.left if isinstance(call, ast.BinOp) else (call.func.value if site.via == "method" else site.operand)
    if ctx.kind(base) in (PLAIN, DATA):
        return None  # a power of labels or constants has no slope to blow up
    if v is None:
        from kinkcheck.lint.ranges import GE1, range_of

        if range_of(p, ctx) == GE1:
            return None  # an exponent provably >= 1 (`2 + k`, a count): the slope stays finite
    return site.with_(operand=base)


#: reductions that are the square root of a variance
SPREADS = frozenset({"std", "std_mean"})


@refine("KC201")
def spread(site: Site, ctx: Context):
    """``std(x)`` is ``sqrt(var(x))``: it is 0 where a slice of ``x`` is constant, whatever
    the sign, floor or offset of the values (``x.exp().std()``, ``(p + eps).std(0)`` meet it
    as well), so of the guards only a detached or data argument holds."""
    tail = (site.qname or site.callee).strip(".()").rsplit(".", 1)[-1]
    return site.with_(guards=("detached-target",)) if tail in SPREADS else site


RECIPROCAL = ("reciprocal", "reciprocal_", "__rtruediv__")


@refine("KC205")
def division(site: Site, ctx: Context):
    """The denominator is the operand: ``a / b`` -> b, ``torch.div(a, b)`` -> b,
    ``a.div(b)`` -> b, ``x.reciprocal()`` -> x. Division by a Python number is smooth,
    unless the number is read off a value that may carry gradient (``_number_of_value``)."""
    call = site.call
    tail = (site.qname or site.callee).strip(".()").rsplit(".", 1)[-1]
    denom: ast.AST | None
    if isinstance(call, ast.BinOp):
        denom = call.right
    elif site.via == "method":
        denom = call.func.value if tail in RECIPROCAL else (call.args[0] if call.args else None)
    elif tail in RECIPROCAL:
        denom = call.args[0] if call.args else None
    else:
        denom = site.operand
    if denom is None:
        return None
    if isinstance(call, ast.BinOp) and _count_of_selection(call.left, denom):
        return None  # `dp[mask] / mask.sum()`: an empty selection divides nothing
    if ctx.kind(denom) == PLAIN:
        return site.with_(operand=denom) if _number_of_value(denom, ctx) else None
    if _static(denom, ctx, 5):
        return None
    if ctx.kind(denom) == DATA and _count_of_data(denom, ctx):
        return None  # `(loss * mask).sum() / mask.sum()`: a zero is an empty batch, not a point
    from kinkcheck.lint.kinds_members import constructor_setting

    if constructor_setting(denom, ctx):
        return None  # `err / (1 - self.alpha)`: a hyperparameter the loss was built with
    return site.with_(operand=denom)


def _number_of_value(node: ast.AST, ctx: Context) -> bool:
    """``2 * c`` with ``c = threshold * diff.max().item()``: a Python number read off a tensor
    that may carry gradient, in the expression or through a name bound to it once. It moves
    with the prediction and can be 0 (a batch with no error); the numerator's gradient is
    divided by it all the same."""
    def reads(expr: ast.AST) -> bool:
        return any(ctx.kind(src) not in (PLAIN, DATA) for src in number_reads(expr))

    return reads(node) or any(isinstance(n, ast.Name) and (value := ctx.bound_once(n.id)) is not None and reads(value)
                              for n in ast.walk(node))


def _count_of_selection(numerator: ast.AST, denom: ast.AST) -> bool:
    """``g[m] = dp[m] / m.sum()``, ``lam * sgn * dp[m] / np.sum(m)``: the numerator is the
    elements a mask selects (not reduced: ``x[m].sum() / m.sum()`` is 0 / 0 for an empty mask)
    and the denominator counts that mask, so it is >= 1 wherever there is anything to divide."""
    mask = _counted(denom)
    if mask is None:
        return False
    key = ast.dump(mask)
    stack = [numerator]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Subscript) and ast.dump(node.slice) == key:
            return True
        if isinstance(node, ast.BinOp) and isinstance(node.op, _ELEMENTWISE):
            stack.extend((node.left, node.right))  # not `x[m].T @ x[m]`: a product sums over the selection
        elif isinstance(node, ast.UnaryOp):
            stack.append(node.operand)
    return False


#: the operators that keep the shape of the elements they combine
_ELEMENTWISE = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.FloorDiv)


def _counted(denom: ast.AST) -> ast.AST | None:
    """``m`` of ``m.sum()``, ``m.float().sum()``, ``np.sum(m)``, ``np.count_nonzero(m)``."""
    if not isinstance(denom, ast.Call) or denom.keywords or not isinstance(denom.func, ast.Attribute) \
            or denom.func.attr not in ("sum", "count_nonzero"):
        return None
    owner = denom.func.value
    if isinstance(owner, ast.Name) and owner.id in ("np", "numpy", "torch", "jnp"):
        return denom.args[0] if len(denom.args) == 1 else None  # `np.sum(m)`
    if denom.args:
        return None  # `m.sum(0)`: a count per column, some of them 0
    while isinstance(owner, ast.Call) and isinstance(owner.func, ast.Attribute) and owner.func.attr in _SAME \
            and not owner.args:
        owner = owner.func.value  # `m.float().sum()`
    return owner


#: names of counts and totals (a loss count, summed lengths, a weight sum)
_TOTAL_WORDS = lazy_pattern(r"(^|_)(lens|lengths|count|counts|num|total)($|_)|_sum$", re.IGNORECASE)
#: names of masks and weights: what a masked or weighted mean totals, then divides by
_MASK_WORDS = lazy_pattern(r"(^|_)(mask|masks|weight|weights|sw|events|event|valid|indicator|observed|support)($|_)",
                           re.IGNORECASE)
#: reductions that count or total what they are handed
_TOTALS = frozenset({"sum", "nansum", "count_nonzero", "numel", "mean", "psum", "pmean"})
#: methods that only reshape or retype
_SAME = frozenset({"float", "double", "half", "to", "type", "type_as", "view", "reshape", "unsqueeze", "squeeze",
                   "flatten", "clone", "detach"})


def _count_of_data(node: ast.AST | None, ctx: Context, depth: int = 4, reduced: bool = False) -> bool:
    """A count or total of a data mask, weights or lengths (``mask.sum()``, ``torch.sum(w)``,
    ``target_lens.sum(1)``, ``loss_count``, ``jnp.sum(is_finite)``), which carries no gradient:
    dividing by it is a masked or weighted mean, and a zero there is a batch with nothing to
    average, a property of the data, not a point the parameters move through. A target's own
    magnitude (``norm(t)``, ``target.abs().mean()``) is no count: a silent target is a pole."""
    from kinkcheck.lint.truth import truth_value

    if node is None or depth < 0:
        return False
    if truth_value(node) or _one_hot(node):
        return reduced  # `(d > 0).sum()`: the count; `x / (d > 0)` divides by the mask itself
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    if name is not None and (_TOTAL_WORDS.search(name) or reduced and _MASK_WORDS.search(name)):
        return True
    if isinstance(node, ast.Name):
        value = ctx.definition(node.id)
        if value is None and ctx.parent(node) is not None:
            # rebound (`targets = F.one_hot(targets.long(), n).float()`): what reaches this use
            from kinkcheck.lint import flow

            found, entry = flow.reaching(node.id, node, ctx)
            return bool(found) and not entry and all(
                v is not None and _count_of_data(v, ctx, depth - 1, reduced) for _, v in found)
        return value is not None and _count_of_data(value, ctx, depth - 1, reduced)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        return _count_of_data(node.left, ctx, depth - 1, reduced) and (
            const_value(node.right) is not None or _count_of_data(node.right, ctx, depth - 1, reduced))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        # a count shared out over devices (`psum(n, "batch") / n_devices`) is 0 only where the count is
        return _count_of_data(node.left, ctx, depth - 1, reduced) and _static(node.right, ctx, depth - 1)
    if isinstance(node, ast.Call) and (own := _own_function(node, ctx)) is not None and _counting_function(ctx, own):
        # `_n_weights_per_core(weights)`: a helper of the file that returns a count of what it is handed
        return all(_count_of_data(a, ctx, depth - 1, True) or ctx.kind(a) in (PLAIN, DATA) for a in node.args)
    if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
        func = node.func
        tail = func.attr if isinstance(func, ast.Attribute) else func.id
        receiver = func.value if isinstance(func, ast.Attribute) and not ctx.is_module_ref(func.value) else None
        method = receiver is not None
        inner = receiver if receiver is not None else (node.args[0] if node.args else None)
        if tail in _SAME and method:
            return _count_of_data(inner, ctx, depth, reduced)
        if tail in _TOTALS:
            return _count_of_data(inner, ctx, depth - 1, True)
    return False


def _one_hot(node: ast.AST) -> bool:
    """``F.one_hot(labels, n)``: an indicator of the labels, whose total is a count."""
    return isinstance(node, ast.Call) and callee_tail(node.func) == "one_hot"


def _counting_function(ctx: Context, qual: str) -> bool:
    """Every value the function ``qual`` returns is a count or total of data
    (:func:`_count_of_data`, read in the function itself)."""
    return _every_return(ctx, qual, "_counting_functions",
                         lambda callee, v: _count_of_data(v, callee, _HOP_DEPTH - 1))


#: keywords of an array constructor that say how, not what (``torch.tensor(d, dtype=...)``)
_HOW_KEYWORDS = frozenset({"dtype", "device", "requires_grad", "copy", "order"})
#: methods whose arguments say how (dtype, device), not what: ``c.to(x)``, ``c.type_as(x)``
_HOW_METHODS = frozenset({"to", "type_as", "type", "cpu", "cuda", "float", "double", "half", "bfloat16",
                          "contiguous", "detach", "clone", "astype"})
#: constant grids: many numbers, some of which may be 0 on every batch
_GRIDS = frozenset({"arange", "linspace", "logspace", "geomspace", "meshgrid", "zeros", "eye", "tril", "triu",
                    "tril_indices", "triu_indices", "indices", "mgrid", "ogrid"})


#: how deep :func:`_static` reads one value of an attribute or one returned value (each is
#: read once per file: memoized)
_HOP_DEPTH = 4


def _static(node: ast.AST, ctx: Context, depth: int) -> bool:
    """Whether ``node`` is computed from literals, shapes and settings only, through array
    calls too: ``torch.sqrt(torch.tensor(d_k))``, ``jnp.log(x.shape[-1])``. Dividing by
    such a value is linear in the numerator: it is the same number on every batch, so a
    zero there is a configuration error, not a point that training lands on (a count of a
    mask, which varies with the batch, stays a site)."""
    if isinstance(node, ast.Constant) or ctx.kind(node) == PLAIN:
        return True
    if depth <= 0:
        return False
    if isinstance(node, ast.UnaryOp):
        return _static(node.operand, ctx, depth - 1)
    if isinstance(node, ast.BinOp):
        return _static(node.left, ctx, depth - 1) and _static(node.right, ctx, depth - 1)
    if isinstance(node, ast.Name):
        from kinkcheck.lint import flow

        reached, from_before = flow.reaching(node.id, node, ctx)
        if from_before and node.id not in ctx.__dict__.get("_static_params", ()):
            return False
        return (from_before or bool(reached)) and all(
            v is not None and _static(v, ctx, depth - 1) for _, v in reached)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        # `self.scale = np.sqrt(self.rank)` in `__init__`: a setting computed from settings
        from kinkcheck.lint.kinds import PARAMETERS

        from kinkcheck.lint.bindings import self_assignments
        from kinkcheck.lint.call_sites import caller_context

        cls = ctx.cls_qual
        if cls is None:
            values = ctx.fa.self_assigns().get(node.attr, [])
            return bool(values) and all(isinstance(v, ast.Call) and ctx.qualify(v.func) not in PARAMETERS
                                        and _static(v, ctx, depth - 1) for v in values)  # a Parameter is learnt
        memo = ctx.fa.__dict__.setdefault("_static_attrs", {})
        key = (cls, node.attr)
        if key not in memo:
            memo[key] = False  # `self.n = self.n + 1`: not a setting
            # each value read where it is assigned (`self.kernel = _box(kernel_size)` in `__init__`)
            pairs = [(caller_context(ctx.fa, q, ctx.fa.ix.scopes[q]), v) for q, _fn, _env, v in
                     self_assignments(ctx.fa, cls, node.attr)]
            memo[key] = bool(pairs) and all(isinstance(v, ast.Call) and where.qualify(v.func) not in PARAMETERS
                                            and _static(v, where, _HOP_DEPTH) for where, v in pairs)
        return memo[key]
    if not isinstance(node, ast.Call):
        return False
    own = _own_function(node, ctx)
    if own is not None:
        # `self.kernel_vol = self.get_kernel_vol()`, `self.window = _gaussian(size, sigma)`:
        # what a function of this file returns from settings is a setting
        return all(_static(a, ctx, depth - 1) for a in (*node.args, *(kw.value for kw in node.keywords))) \
            and _static_function(ctx, own)
    q = ctx.qualify(node.func) or ""
    tail = q.rsplit(".", 1)[-1]
    if ".random." in f".{q}." or tail.startswith("rand"):
        return False  # a draw differs from batch to batch
    if tail in _GRIDS:
        return False  # `arange(k)` holds a 0 whatever k is: its range decides
    args = [*node.args, *(kw.value for kw in node.keywords if kw.arg not in _HOW_KEYWORDS)]
    if q.split(".")[0] in ARRAY_ROOTS:
        return all(_static(a, ctx, depth - 1) for a in args)
    if isinstance(node.func, ast.Attribute) and not ctx.is_module_ref(node.func.value):
        if tail in _HOW_METHODS:  # `self.kernel_vol.to(pred)`: pred gives the dtype and device, not the value
            return _static(node.func.value, ctx, depth)
        return all(_static(a, ctx, depth - 1) for a in (node.func.value, *args))  # `torch.tensor(n).sqrt()`
    return False


def _own_function(call: ast.Call, ctx: Context) -> str | None:
    """The undecorated function or method of this file ``call`` calls, else None."""
    from kinkcheck.lint.ranges_returned import own_function

    q = own_function(call, ctx)
    fn = ctx.fa.ix.scopes[q][0] if q is not None else None
    return q if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and not fn.decorator_list else None


def _static_function(ctx: Context, qual: str) -> bool:
    """Every value the function ``qual`` returns is :func:`_static` when its parameters are
    (the call hands it settings)."""

    def static(callee: Context, value: ast.AST) -> bool:
        callee.__dict__["_static_params"] = frozenset(callee.params)
        return _static(value, callee, _HOP_DEPTH)

    return _every_return(ctx, qual, "_static_functions", static)


def _every_return(ctx: Context, qual: str, memo_name: str, holds: Callable[[Context, ast.AST], bool]) -> bool:
    """``holds(callee, value)`` for every value the function ``qual`` returns (a bare
    ``return`` holds nothing), read in the function's own linked context; memoized per file
    under ``memo_name``, and a recursive call holds nothing."""
    from kinkcheck.lint import call_sites
    from kinkcheck.lint.walk import walk_local

    memo = ctx.fa.__dict__.setdefault(memo_name, {})
    if qual not in memo:
        memo[qual] = False
        entry = ctx.fa.ix.scopes[qual]
        callee = call_sites.linked_context(ctx.fa, qual, entry)
        values = [n.value for n in walk_local(entry[0]) if isinstance(n, ast.Return)]
        memo[qual] = bool(values) and all(v is not None and holds(callee, v) for v in values)
    return memo[qual]


#: names an order of a norm goes by (``x.dist(y, order)``)
_ORDER_NAME_RE = lazy_pattern(r"^_*(p|ord|order|norm|norm_type|p_norm|norm_order|power|degree)$")


def _order_like(node: ast.AST, ctx: "Context") -> bool:
    """A number, or a name an order goes by: what ``Tensor.dist(other, p)`` takes second."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    return isinstance(node, ast.Constant) or ctx.kind(node) == PLAIN or name is not None and bool(_ORDER_NAME_RE.match(name))


@refine("KC203")
def norm_order(site: Site, ctx: "Context"):
    """The order decides what a norm's point at 0 is. A 2-norm is singular there (its slope
    x/||x|| is 0/0); a norm of order <= 1 (``x.norm(p=1)``, ``F.pairwise_distance(a, b, p=1)``)
    is a sum of ``|x_i|``, kinked on every coordinate: a kink. ``F.pairwise_distance`` adds eps
    to the difference, which keeps its 2-norm away from 0, and ``F.normalize`` divides by
    ``max(||x||_p, eps)``: both are guarded for p=2 (``p=self.p_norm`` set to 1.0 counts as 1).
    A nuclear norm (``ord="nuc"``) is left to KC208."""
    call = site.call
    if not isinstance(call, ast.Call):
        return site
    tail = (site.qname or site.callee or "").strip(".()").rsplit(".", 1)[-1]
    if tail == "dist" and site.via == "method" and len(call.args) >= 2 and not _order_like(call.args[1], ctx):
        # `self.manifold.dist(x, y)`: a tensor's `.dist` takes one other tensor and an order;
        # this is the package's own distance, whose norm is checked where it is computed
        return None
    at = 2 if tail == "pairwise_distance" else (1 if tail == "dist" else 0) if site.via == "method" else 1
    p = next((kw.value for kw in call.keywords if kw.arg in ("p", "ord")), call.args[at] if len(call.args) > at else None)
    if isinstance(p, ast.Constant) and p.value == "nuc":
        return None  # a nuclear norm is a sum of singular values: KC208's site
    v = numeric_value(p, ctx) if p is not None else 2.0
    order = v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    if tail in ("pairwise_distance", "normalize"):
        return site.with_(category="kink") if order is not None and order <= 1 else None
    return site.with_(category="kink") if order is not None and order <= 1 else site


@refine("KC209")
def entropy_at_zero(site: Site, ctx: Context):
    """``xlogy(x, y)`` is singular where ``y`` is 0 (its log): that is the operand to judge,
    the second argument of the function, the argument of the method."""
    call = site.call
    if not isinstance(call, ast.Call) or (site.qname or site.callee or "").rsplit(".", 1)[-1] not in ("xlogy", "xlogy_"):
        return site
    method = site.via == "method"
    args = list(call.args) if method else list(call.args[1:])
    y = args[0] if args else next((k.value for k in call.keywords if k.arg == "other"), None)
    return site.with_(operand=y) if y is not None else site
