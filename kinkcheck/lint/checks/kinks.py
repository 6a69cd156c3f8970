"""KC103 / KC104 / KC105 / KC901: which reading of max/min/clamp a call is."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.checks import Site, refine
from kinkcheck.lint import ranges
from kinkcheck.lint.ranges_calls import JOINED
from kinkcheck.lint.ranges_forms import _squared
from kinkcheck.lint.ranges_settings import numeric_value
from kinkcheck.lint.guards import (
    ARC_COSH,
    _inside_unit,
    _nonnegative_operand,
    above_one,
    _lower_bound,
    _positive_number,
    _reaching_value,
    _upper_bound,
    call_operand,
)
from kinkcheck.lint.resolve import FILLS, PLAIN, TENSOR, const_value, dimension_argument, is_eps_like
from kinkcheck.syntax import binary_operands, call_tail, callee_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

CLAMPS = ("clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_", "maximum")


def _tail(site: Site) -> str:
    if site.qname:
        return site.qname.rsplit(".", 1)[-1]
    return site.callee.strip(".()")


def two_operand(site: Site, ctx: Context) -> bool:
    """``torch.max(a, b)`` / ``max(a, b)`` / ``a.max(b)``: elementwise (KC104), not a reduction."""
    call = site.call
    if not isinstance(call, ast.Call):
        return False
    kws = {k.arg for k in call.keywords}
    if kws & {"dim", "axis", "keepdim", "keepdims", "key", "default", "initial", "where"}:
        return False
    tail = _tail(site)
    if tail in ("maximum", "minimum", "fmax", "fmin"):
        return True
    if tail not in ("max", "min"):
        return False
    if site.via == "method":
        return bool(call.args) and not dimension_argument(call.args[0], ctx)
    if (site.qname or "").startswith("builtins."):
        return len(call.args) >= 2
    return len(call.args) >= 2 and not dimension_argument(call.args[1], ctx) or "other" in kws


@refine("KC101")
def abs_at_zero(site: Site, ctx: Context):
    """``F.l1_loss(input, target)`` and an ``nn.L1Loss`` module: the value whose absolute
    value is taken is the difference of the two, not the first (``l1_loss(x_mag, y_mag)`` of
    magnitudes floored at eps is still a kink where they meet)."""
    call = site.call
    if _tail(site) not in ("l1_loss", "L1Loss") or not isinstance(call, ast.Call):
        return site
    given = {k.arg: k.value for k in call.keywords}
    both = [*call.args[:2], *(given[k] for k in ("input", "target") if k in given)]
    if len(both) != 2 or any(isinstance(a, ast.Starred) for a in both):
        return site
    difference = ast.copy_location(ast.BinOp(left=both[0], op=ast.Sub(), right=both[1]), call)
    ctx.parents[id(difference)] = call
    return site.with_(operand=difference)


@refine("KC104")
def max_min_tie(site: Site, ctx: Context):
    """Only the two-operand form; ``max(x, 0)`` on a tensor is a relu (still a tie at 0)."""
    if not two_operand(site, ctx):
        return None
    call = site.call
    operands = binary_operands(call, site.via == "method")
    kinds = [ctx.kind(o) for o in operands]
    if all(k == PLAIN for k in kinds):
        return None
    if _tail(site) in ("max", "maximum", "fmax") and any(_positive_floor(o, ctx) for o in operands):
        return None  # maximum(count, 1), maximum(area, eps): a floor guard (KC901's), not a tie
    if _tail(site) in ("min", "minimum", "fmin") and any((const_value(o) or 0) >= OVERFLOW_BOUND for o in operands):
        return None  # minimum(x, 1e8): an overflow guard (minimum(1.0, r / n) caps on purpose: a tie)
    if (site.qname or "").startswith("builtins.") and TENSOR not in kinds and all(const_value(o) is None for o in operands):
        # builtin max(a, b) of two multi-element tensors raises: two unknowns are numbers
        # (`max(maxes[i], item)`); max(loss, 0.0) on a scalar loss still counts
        return None
    if site.via != "method" and const_value(site.operand) is not None:
        other = next((o for o in operands if const_value(o) is None), None)
        if other is not None:
            return site.with_(operand=other)  # maximum(0, 1 - s * y): the hinge's argument
    return site


@refine("KC105")
def selection_tie(site: Site, ctx: Context):
    if two_operand(site, ctx):
        return None
    if values_discarded(site.call, ctx):
        return None  # only the indices are used: a step (KC303's), not a kink of a value
    call = site.call
    if site.via == "call" and isinstance(call, ast.Call) and (site.qname or "").startswith("builtins."):
        if len(call.args) == 1 and ctx.kind(call.args[0]) == PLAIN:
            return None
    return site


#: a clamp bound this large is an overflow guard: no value a loss computes on purpose reaches it
OVERFLOW_BOUND = 1e6


def eps_clamp(call: ast.AST, tail: str, ctx: Context) -> bool:
    """A clamp whose only job is a positive floor (``clamp_min(1e-8)``, a count clamped to
    ``min=1`` before it divides), or one that keeps a value strictly inside (-1, 1) before
    acos/asin, or one that only stops an overflow (every bound at least 1e6 in magnitude:
    ``clamp(min=-1e8, max=1e8)``): a guard, not a modelled kink."""
    if not isinstance(call, ast.Call) or tail not in CLAMPS:
        return False
    low = _lower_bound(call, tail, ctx)
    high = _upper_bound(call, tail, ctx) if tail not in ("clamp_min", "clamp_min_", "maximum") else None
    bounds = [const_value(b) for b in (low, high) if b is not None]
    if bounds and all(v is not None and abs(v) >= OVERFLOW_BOUND for v in bounds):
        return True
    if low is not None and high is None and (is_eps_like(low) or _positive_floor(low, ctx)):
        return True
    if low is None and isinstance(high, ast.BinOp) and _eps_from_one(high) and _tiny(high.right, ctx) \
            and _complemented(call, ctx) and _feeds(call, ctx):
        return True  # `log1p(-z2.clamp(max=1 - eps))`: kept below 1 for the log of 1 - z
    if low is None and isinstance(high, ast.BinOp) and _eps_from_one(high) and _tiny(high.right, ctx) \
            and isinstance(call, ast.Call) and _nonnegative_operand(call, ctx) and _feeds(call, ctx, into=ARC_COSINES):
        return True  # `acos(|<q1, q2>|.clamp(max=1 - eps))`: a cosine >= 0 kept below 1 against rounding
    tiny_margins = low is not None and high is not None and _eps_from_one(high) and is_eps_like(low) and _tiny(low, ctx)
    if low is not None and high is not None and (is_eps_like(low) or _positive_floor(low, ctx) or _machine(low, ctx, 0)) \
            and (_inside_unit(high, 1) or const_value(high) == 1) \
            and (const_value(low) or 0) < 0.01 and (const_value(high) or 1) >= 0.99 \
            and (_feeds(call, ctx, divisor=tiny_margins) or tiny_margins and _in_unit_interval(call, ctx)):
        # a probability kept inside (0, 1) before a log: `clip(p, eps, 1 - eps)`, or, by a
        # tiny eps, before dividing by p or 1 - p (inverse-propensity weights); a sigmoid or
        # softmax clipped an eps off both ends reaches the bounds by rounding only, wherever it
        # goes next (a `where` that picks p or 1 - p, an inverse CDF, a helper's log)
        return True
    if low is not None and high is not None and _machine(low, ctx, 0) and _machine(high, ctx, 1):
        return True  # `clip(probs, finfo.tiny, 1 - finfo.eps)`: bounds no model picks, only rounding does
    if high is None and above_one(low, ctx) and (_feeds(call, ctx, into=ARC_COSH) or _arcosh_written_out(call, ctx)):
        return True  # `arccosh(x.clamp_min(1 + eps))`: a hyperbolic distance kept off its pole at 1
    if const_value(low) == -1 and const_value(high) == 1 and _feeds(call, ctx, into=ARC_COSINES):
        return True  # `arccos(clip((trace - 1) / 2, -1, 1))`: a cosine kept in the domain against rounding
    if low is not None and high is not None and _inside_unit(low, -1) and _inside_unit(high, 1):
        lv, hv = const_value(low), const_value(high)
        return not (lv is not None and hv is not None and (hv < 0.99 or lv > -0.99))
    return False


#: callees whose values lie in (0, 1) (or on its ends by rounding)
_UNIT_INTERVAL = frozenset({"sigmoid", "sigmoid_", "expit", "logistic", "softmax", "softmax_"})


def _tiny(bound: ast.AST, ctx: Context) -> bool:
    """An eps-like bound whose value, where it is known, keeps rounding off (``eps=1e-7``),
    not a saturation reached on purpose (``eps=0.25``)."""
    value = numeric_value(bound, ctx)
    return value is None or isinstance(value, (int, float)) and 0 <= value <= TINY_FLOOR


def _in_unit_interval(call: ast.Call, ctx: Context) -> bool:
    """The clamped value is a sigmoid or softmax (``clip(jax.nn.sigmoid(logits), ...)``,
    ``probs.clamp(...)`` of ``probs = logits.softmax(-1)``), not a raw output capped."""
    value: ast.AST | None = call.func.value if isinstance(call.func, ast.Attribute) \
        and not ctx.is_module_ref(call.func.value) else (call.args[0] if call.args else None)
    if isinstance(value, ast.Name):
        value = _reaching_value(value, ctx)
    return isinstance(value, ast.Call) and call_tail(value) in _UNIT_INTERVAL


def _arcosh_written_out(call: ast.AST, ctx: Context) -> bool:
    """The clamped value is bound to a name read as ``sqrt(x * x - 1)`` or ``sqrt(x ** 2 - 1)``:
    arcosh written out (``log(x + sqrt(x * x - 1))``), whose pole the floor keeps away."""
    from kinkcheck.lint import sinks

    parent = ctx.parent(call)
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
        target: ast.AST = parent.targets[0]
    elif isinstance(parent, ast.AnnAssign):
        target = parent.target
    else:
        return False
    if not (isinstance(target, ast.Name) and parent.value is call):
        return False
    for use in sinks.uses_of(target.id, parent, ctx):
        square = ctx.parent(use)
        if not (isinstance(square, ast.BinOp) and _squared(square) is not None):
            continue  # `x * x`, `x ** 2`
        minus = ctx.parent(square)
        root = ctx.parent(minus) if minus is not None else None
        if isinstance(minus, ast.BinOp) and isinstance(minus.op, ast.Sub) and minus.left is square \
                and const_value(minus.right) == 1 and isinstance(root, ast.Call) and call_tail(root) == "sqrt":
            return True
    return False


def _complemented(call: ast.AST, ctx: Context) -> bool:
    """The clamped value is negated or taken from one (``log1p(-x)``, ``log(1 - x)``), directly
    or through the name it is bound to: what the log sees is kept above 0."""
    parents = [ctx.parent(call)]
    stmt = parents[0]
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        from kinkcheck.lint import sinks

        parents = [ctx.parent(u) for u in sinks.uses_of(stmt.targets[0].id, stmt, ctx)]
    return bool(parents) and all(isinstance(p, ast.UnaryOp) and isinstance(p.op, ast.USub)
                                 or isinstance(p, ast.BinOp) and isinstance(p.op, ast.Sub) for p in parents)


def _eps_from_one(bound: ast.AST) -> bool:
    """``1 - eps``, ``1.0 - self.epsilon``, ``1 - 1e-6``: one less an eps (not a literal 0.999,
    which a model may pick)."""
    return isinstance(bound, ast.BinOp) and isinstance(bound.op, ast.Sub) and const_value(bound.left) == 1 \
        and is_eps_like(bound.right)


#: attributes of ``finfo(dtype)``: the precision of the float type, not a modelling choice
_FINFO = frozenset({"tiny", "eps", "smallest_normal", "resolution", "epsneg"})


def _machine(node: ast.AST, ctx: Context, at: int, depth: int = 2) -> bool:
    """``node`` is a machine-precision bound near ``at`` (0 or 1): ``finfo(x.dtype).tiny``,
    ``1.0 - finfo.eps``, a name bound to one (``minval = jnp.finfo(x.dtype).tiny``)."""
    if isinstance(node, ast.Name) and depth:
        value = _reaching_value(node, ctx)
        return value is not None and _machine(value, ctx, at, depth - 1)
    if at == 1:
        return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and const_value(node.left) == 1 \
            and _machine(node.right, ctx, 0, depth)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):  # `100.0 * finfo.tiny`
        for c, m in ((node.left, node.right), (node.right, node.left)):
            v = const_value(c)
            if v is not None and 0 < v <= 1e3 and _machine(m, ctx, 0, depth):
                return True
        return False
    if not (isinstance(node, ast.Attribute) and node.attr in _FINFO):
        return False
    holder: ast.AST = node.value
    if isinstance(holder, ast.Name) and depth:
        holder = _reaching_value(holder, ctx) or holder
    return isinstance(holder, ast.Call) and call_tail(holder) in ("finfo", "iinfo")


#: a floor worked out from settings at most this large only keeps a value off 0 (CIELAB's
#: threshold (6/29) ** 3 ~ 0.0089 is a modelled kink)
TINY_FLOOR = 1e-3


def _positive_floor(node: ast.AST, ctx: Context, depth: int = 0) -> bool:
    """A literal or eps-like floor > 0 (``1``, ``1e-6``, ``self.eps``, ``torch.tensor(1)``), or
    an eps scaled to the values around it (``lb = tiny * (1.0 + jnp.abs(b))``). A local name is
    judged by what it is bound to: ``floor = torch.tensor(free_nats)`` with ``free_nats=1.0``
    is a floor reached on purpose, whatever it is called."""
    if isinstance(node, ast.Name) and depth < 3:
        bound = _reaching_value(node, ctx)
        if isinstance(bound, ast.Call) and call_tail(bound) in ("tensor", "as_tensor", *FILLS):
            return _positive_floor(bound, ctx, depth + 1)
    if isinstance(node, ast.Call) and len(node.args) == 1 and getattr(node.func, "attr", None) in ("tensor", "as_tensor"):
        node = node.args[0]
    elif isinstance(node, ast.Call) and len(node.args) == 2 and call_tail(node) in FILLS:
        node = node.args[1]  # `torch.full_like(x, eps)`: eps everywhere
    if isinstance(node, ast.Name) and not is_eps_like(node):
        value = _reaching_value(node, ctx)
        if value is not None and _eps_scaled(value, ctx):
            return True
    if _eps_scaled(node, ctx) or is_eps_like(node) or _positive_number(node, ctx) and const_value(node) is not None:
        return True
    # a tiny number worked out from settings (`torch.tensor(eps) ** 0.5` with `eps=1e-8`) is a
    # numerical floor; a larger one (free nats, `clamp_min(self.free_nats)`) is reached on purpose
    value = numeric_value(node, ctx)
    return value is not None and not isinstance(value, bool) and 0 < value <= TINY_FLOOR


def _eps_scaled(node: ast.AST, ctx: Context) -> bool:
    """``tiny * (1.0 + jnp.abs(b))``: an eps times a positive magnitude of the values around
    it (an eps times ones, ``3e-4 * torch.ones_like(g)``, is a modelled floor like any other)."""
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and any(
        is_eps_like(a) and isinstance(b, ast.BinOp) and ranges.is_positive(ranges.range_of(b, ctx))
        for a, b in ((node.left, node.right), (node.right, node.left)))


def values_discarded(call: ast.AST, ctx: Context) -> bool:
    """``x.topk(k).indices``, ``_, idx = x.max(1)``, ``x.sort()[1]``, ``vals, idx =
    x.topk(k)`` with ``vals`` never read: the selected values are thrown away and only
    positions are kept. Positions that pick the ranked value itself back out
    (``_, idx = loss.topk(k); gather(loss, 0, idx)``: online hard example mining) are its
    values after all."""
    kept = _kept_indices(call, ctx.parent(call), ctx) if returns_positions(call, ctx) else None
    return kept is not None and not _regathered(call, kept, ctx)


def returns_positions(call: ast.AST, ctx: Context) -> bool:
    """``call`` returns values and their positions: torch's selections (``x.topk(k)``,
    ``torch.max(x, 1)``) and ``jax.lax.top_k``. NumPy's and JAX's ``max``/``sort`` return the
    values alone: ``jnp.max(x, 1)[1]`` is a row of maxima."""
    if not isinstance(call, ast.Call):
        return False
    func = call.func
    if isinstance(func, ast.Attribute) and not ctx.is_module_ref(func.value):
        # torch's methods where the file uses torch (`topk` and `kthvalue` are torch's alone;
        # NumPy and JAX reduce over an `axis`)
        return ctx.fa.torch and not any(k.arg == "axis" for k in call.keywords)
    q = ctx.qualify(func) or ""
    return q.startswith("torch.") or q == "jax.lax.top_k"


def positions_as_numbers(call: ast.AST, ctx: Context) -> bool:
    """The kept positions of ``call`` become numbers the loss computes with: a one-hot of
    them, a cast, arithmetic (``F.one_hot(experts, n).float().mean(0)``, a rank turned into
    a weight), as an argmax's are when KC303 reports it. Positions that only pick elements
    (``x[idx]``, ``gather(..., idx)``) or whose count or layout alone is read are not."""
    uses = position_uses(call, ctx)
    return uses is not None and any(_as_number(use, ctx) for use in uses)


def position_uses(call: ast.AST, ctx: Context) -> Sequence[ast.AST] | None:
    """Where the kept positions of ``call`` are read: every read of the name they are bound
    to, or the ``.indices``/``[1]`` that takes them unnamed; None where the values are kept."""
    kept = _kept_indices(call, ctx.parent(call), ctx)
    if kept is None:
        return None
    if kept == "":
        holder = ctx.parent(call)
        return [holder if isinstance(holder, (ast.Attribute, ast.Subscript)) else call]
    from kinkcheck.lint import sinks

    return sinks.reads(kept, ctx)


#: calls and methods that turn integer positions into numbers
_NUMBERING = frozenset({"one_hot", "float", "double", "half", "type_as", "bfloat16"})
#: casts that make numbers only to a floating dtype (``idx.to(device)`` moves positions)
_DTYPE_CASTS = frozenset({"to", "type"})


def _as_number(node: ast.AST, ctx: Context) -> bool:
    from kinkcheck.lint.severing import reported_statistic

    parent = ctx.parent(node)
    if isinstance(parent, ast.Subscript) and parent.value is node and not isinstance(parent.slice, ast.Constant):
        return _as_number(parent, ctx)  # `idx[:, 0]`: still positions
    if isinstance(parent, ast.Attribute) and parent.value is node and parent.attr in _DTYPE_CASTS:
        call = ctx.parent(parent)
        if not (isinstance(call, ast.Call) and any(
                _FLOAT_DTYPE_RE.search(ast.unparse(a)) for a in [*call.args, *(k.value for k in call.keywords)])):
            return _as_number(call, ctx) if isinstance(call, ast.Call) else False  # `.to(device)`: still positions
        return not reported_statistic(call, ctx)
    if isinstance(parent, ast.Attribute) and parent.value is node and parent.attr in _NUMBERING:
        call = ctx.parent(parent)
        return not reported_statistic(call if isinstance(call, ast.Call) else parent, ctx)  # a logged mean rank
    if isinstance(parent, ast.Call) and node in parent.args and callee_tail(parent.func) in _NUMBERING:
        return not reported_statistic(parent, ctx)
    if not isinstance(parent, ast.BinOp) or isinstance(ctx.parent(parent), ast.Subscript):
        return False
    # a true division, or arithmetic with a float, makes a number; `hat + 1` is a position still
    other = parent.right if parent.left is node else parent.left
    return isinstance(parent.op, ast.Div) or isinstance(parent.op, (ast.Add, ast.Sub, ast.Mult)) \
        and isinstance(const_value(other), float)


#: a floating dtype named in a cast (``torch.float32``, ``dtype=scores.dtype`` is not known)
_FLOAT_DTYPE_RE = lazy_pattern(r"float|half|double|bfloat")


def regathers(call: ast.AST, ctx: Context) -> bool:
    """Only the positions of ``call`` are kept, and they pick the ranked value back out."""
    kept = _kept_indices(call, ctx.parent(call), ctx)
    return kept is not None and _regathered(call, kept, ctx)


def _kept_indices(call: ast.AST, parent: ast.AST | None, ctx: Context) -> str | None:
    """The name the positions are bound to ("" when unnamed) where only they are kept, else None."""
    if isinstance(parent, ast.Attribute) and parent.attr == "indices" or \
            isinstance(parent, ast.Subscript) and const_value(parent.slice) == 1:
        holder = ctx.parent(parent)
        if isinstance(holder, ast.Assign) and len(holder.targets) == 1 and isinstance(holder.targets[0], ast.Name):
            return holder.targets[0].id
        return ""
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], (ast.Tuple, ast.List)):
        elts = parent.targets[0].elts
        first = elts[0] if elts else None
        if not isinstance(first, ast.Name):
            return None
        from kinkcheck.lint import sinks

        if first.id != "_" and sinks.is_read(first.id, ctx):
            return None  # `vals, idx = x.topk(k)` with vals read
        second = elts[1] if len(elts) > 1 else None
        return second.id if isinstance(second, ast.Name) else ""
    return None


#: calls that pick entries of their first operand (or the object called on) at given positions
POSITION_PICKS = frozenset({"gather", "take_along_dim", "take_along_axis", "index_select", "take"})


def _regathered(call: ast.AST, indices: str, ctx: Context) -> bool:
    """The positions ``indices`` index the very value ``call`` ranked (``x[idx]``,
    ``x.gather(1, idx)``, ``torch.gather(x, 0, idx)``)."""
    if not indices or not isinstance(call, ast.Call):
        return False
    ranked = call_operand(call, ctx)
    if ranked is None:
        return False
    same = ast.dump(ranked)
    from kinkcheck.lint import sinks

    for use in sinks.reads(indices, ctx):
        child: ast.AST = use
        holder = ctx.parent(use)
        for _ in range(4):  # `x[idx]`, `x[idx[:k]]`, `x[i, idx]`, `x.gather(1, idx)`
            if holder is None:
                break
            if isinstance(holder, ast.Subscript) and holder.slice is child or \
                    isinstance(holder, ast.Tuple) and isinstance(ctx.parent(holder), ast.Subscript):
                target = holder if isinstance(holder, ast.Subscript) else ctx.parent(holder)
                if isinstance(target, ast.Subscript) and ast.dump(target.value) == same:
                    return True
            if isinstance(holder, ast.Call) and call_tail(holder) in POSITION_PICKS:
                picked = call_operand(holder, ctx)
                return picked is not None and ast.dump(picked) == same
            if not isinstance(holder, (ast.Subscript, ast.Slice, ast.Tuple)):
                break
            child, holder = holder, ctx.parent(holder)
    return False


#: what a probability is clipped into (0, 1) for
LOGS = frozenset({"log", "log_", "log1p", "log2", "log10", "xlogy", "logit", "binary_cross_entropy", "log_prob"})


#: functions defined on [-1, 1] only: a value clipped to it before them is meant as a cosine
ARC_COSINES = frozenset({"acos", "asin", "arccos", "arcsin"})


def _feeds(value: ast.AST, ctx: Context, depth: int = 3, into: frozenset[str] = LOGS, divisor: bool = False) -> bool:
    """``value`` reaches a log (or another of ``into``: directly, as ``1 - value`` or as the
    divisor of a ratio, or through a name assigned it); with ``divisor``, a division by it
    counts too (``t / e + (1 - t) / (1 - e)``: inverse-propensity weights)."""
    from kinkcheck.lint import sinks

    child, parent = value, ctx.parent(value)
    complement = True  # what divides is p itself, -p or 1 - p (not `p - 0.5`: a pole of its own)
    while isinstance(parent, ast.BinOp) and (isinstance(parent.op, ast.Sub) or isinstance(parent.op, ast.Div)
                                             and parent.right is child) or \
            isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub):
        if divisor and isinstance(parent.op, ast.Div):
            return complement
        if isinstance(parent.op, ast.Sub) and not (parent.right is child and const_value(parent.left) in (0, 1)):
            complement = False
        child, parent = parent, ctx.parent(parent)  # `log(1 - p)`, `log1p(-p)`, `log(rho / p)`
    if isinstance(parent, ast.Attribute) and parent.value is child and parent.attr in into:
        return True  # `p.log()`
    if isinstance(parent, (ast.List, ast.Tuple)):
        child, parent = parent, ctx.parent(parent)  # `cat([1 - p, p])`
    if isinstance(parent, ast.Call) and any(a is child for a in parent.args):
        if depth and call_tail(parent) in JOINED:
            return _feeds(parent, ctx, depth - 1, into, divisor)  # `log(np.append(1 - p, p, axis=1))`
        return call_tail(parent) in into
    if depth and isinstance(parent, ast.Assign) and parent.value is child and len(parent.targets) == 1 \
            and isinstance(parent.targets[0], ast.Name):
        return any(_feeds(u, ctx, depth - 1, into, divisor) for u in sinks.uses_of(parent.targets[0].id, parent, ctx))
    return False


@refine("KC103")
def clamp_at_bound(site: Site, ctx: Context):
    """Eps floors and unit clamps are KC901's (off by default), not KC103's."""
    if eps_clamp(site.call, _tail(site), ctx):
        return None
    return site


@refine("KC901")
def eps_clamp_floor(site: Site, ctx: Context):
    call = site.call
    if not eps_clamp(call, _tail(site), ctx):
        return None
    if site.via == "method":
        return site.with_(operand=call.func.value)
    return site.with_(operand=call.args[0] if call.args else site.operand)
