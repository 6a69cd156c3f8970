"""KC304: a comparison used as a number (a mask multiplied in, a 0/1 loss)."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.checks import Site, node_check, refine
from kinkcheck.lint.checks.branch import id_test, value_comparison
from kinkcheck.lint import cut_steps, sinks
from kinkcheck.lint.resolve import DATA, MIXING, PLAIN, TENSOR, UNKNOWN, const_value
from kinkcheck.syntax import binary_operands, call_tail, callee_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

AS_NUMBER_METHODS = frozenset({"float", "double", "half", "bfloat16", "to", "type", "type_as", "long", "int",
                               "sum", "mean", "nansum", "nanmean", "prod", "cumsum", "mul", "add", "sub",
                               "count_nonzero", "nonzero", "argmax", "astype"})
AS_NUMBER_FUNCS = frozenset({"sum", "mean", "nansum", "nanmean", "prod", "cumsum", "mul", "multiply", "add",
                             "astype", "asarray", "float32", "float64",
                             # a count or the positions of the mask: a selection set, a divisor, an index
                             "count_nonzero", "nonzero", "flatnonzero", "argwhere", "masked_select", "argmax"})


#: a mask handed to a masked reduction (trl's and torchrl's ``masked_mean(values, mask)``,
#: ``masked_whiten``): it weighs the values it averages, as a mask multiplied in does
_MASKED_REDUCTION = lazy_pattern(r"^_?masked_(mean|sum|avg|average|var|std|whiten|normalize|reduce)$")

#: elementwise comparisons written as calls (``d.lt(m)``, ``torch.gt(d, m)``, ``jnp.greater(d, m)``)
MASK_CALLS = frozenset({"gt", "lt", "ge", "le", "greater", "less", "greater_equal", "less_equal", "eq", "ne",
                        "equal", "not_equal", "isclose"})
#: equalities written as calls (``pred.eq(target)``)
_EQUALITY_CALLS = frozenset({"eq", "ne", "equal", "not_equal"})
#: order comparisons, whose threshold a value crosses
_ORDERS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
#: what keeps a mask a mask: its reductions to truth values
_STILL_A_MASK = frozenset({"all", "any"})


@node_check("KC304", ast.Compare, ast.Call, names=MASK_CALLS)
def comparison_as_mask(node: ast.Compare | ast.Call, ctx: Context):
    """A comparison of differentiated values whose 0/1 result becomes arithmetic: a mask
    multiplied in, a boolean index (``tl[tl < 0] = 0``, ``negs[negs < m]``), a mask combined
    with ``&``/``|``, or a mask assigned to a name that is then used so. The call spellings
    (``d.lt(m).float()``, ``torch.gt(d, m)``) are the same comparisons."""
    if isinstance(node, ast.Call) and not _mask_call(node, ctx):
        if call_tail(node) in _EQUALITY_CALLS and (
                isinstance(node.func, ast.Attribute) or ctx.qualify(node.func) is not None):
            yield from _cut_prediction_step(node, ctx)  # `pred.eq(targets)` of an argmax
        return
    k = value_comparison(node, ctx, follow=0)
    if k is None:
        yield from _cut_prediction_step(node, ctx)
        return
    if not _used_as_number(node, ctx, follow=_NAME_HOPS):
        return
    if _gates_a_flat_factor(node, ctx) or _smooth_piecewise_assignment(node, ctx):
        return
    yield Site("KC304", node, "comparison", node, None, "medium" if k == TENSOR else "low", node, "node")


def _cut_prediction_step(node: ast.Compare | ast.Call, ctx: Context):
    """A threshold on a prediction whose gradient was cut, or a comparison of a prediction made
    piecewise constant (``pred == target`` of an argmax, a bin index), selecting what a
    differentiated value contributes (``cut_steps``): no gradient reaches the comparison, so the
    detached-target guard, which asks exactly that, does not apply."""
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1 or isinstance(node.ops[0], (ast.Is, ast.IsNot, ast.In, ast.NotIn)):
            return
        equality = isinstance(node.ops[0], (ast.Eq, ast.NotEq))
        operands = [node.left, *node.comparators]
    else:
        method = isinstance(node.func, ast.Attribute) and not ctx.is_module_ref(node.func.value)
        equality = callee_tail(node.func) in _EQUALITY_CALLS or callee_tail(node.func) == "isclose"
        operands = [*binary_operands(node, method)]
    # an equality of a cut prediction is a test of ids (`pred == target`) only where the
    # prediction was made piecewise constant first (an argmax, a bin index); an order of such
    # positions is a top-k selection by rank (`ranks < k`), continuous in what it selects
    if not any(cut_steps.stepped_prediction(o, ctx) if equality else cut_steps.cut_prediction(o, ctx)
               for o in operands) or not cut_steps.weighs_gradient(node, ctx):
        return
    if isinstance(node, ast.Compare) and _constant_test(node, ctx):
        return
    if _gates_a_flat_factor(node, ctx) or _smooth_piecewise_assignment(node, ctx):
        return
    yield Site("KC304", node, "comparison", node, None, "low", node, "node", guards=_CUT_GUARDS)


def _constant_test(node: ast.Compare, ctx: Context) -> bool:
    """``p >= 0`` (``p < 0``) of a value that is never negative (a sigmoid, a norm): always
    true (false), no threshold a prediction crosses."""
    from kinkcheck.lint import ranges

    op, left, right = node.ops[0], node.left, node.comparators[0]
    if const_value(right) == 0 and isinstance(op, (ast.GtE, ast.Lt)):
        return ranges.is_nonnegative(ranges.range_of(left, ctx))
    if const_value(left) == 0 and isinstance(op, (ast.LtE, ast.Gt)):
        return ranges.is_nonnegative(ranges.range_of(right, ctx))
    return False


#: the guards of KC304 but the detached-target one (a cut prediction is what makes this site)
_CUT_GUARDS = ("rounding", "zero-patch")


#: how many names a mask is followed through (``low = d > a``, ``keep = low & high``, then
#: ``d[keep]``)
_NAME_HOPS = 3

#: casts that keep a mask's 0/1 values
_MASK_CASTS = frozenset({"float", "double", "half", "bfloat16", "to", "type", "type_as"})


def _gates_a_flat_factor(node: ast.AST, ctx: Context) -> bool:
    """The mask multiplies a factor that vanishes to second order where the comparison flips:
    ``(s + m) ** 2 * (s > -m).float()`` is a squared hinge, continuous with a continuous slope
    (LABELS.md: a comparison whose two sides agree in value and first derivative). A data mask
    beside it (``((s > -m) & (t <= 0)).float()``) gates nothing at the crossing."""
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
        return False
    child: ast.AST = node
    parent = ctx.parent(node)
    while True:
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.BitAnd):
            other = parent.right if parent.left is child else parent.left
            if value_comparison(other, ctx, follow=0) is not None:
                return False  # another step of a differentiated value
            child, parent = parent, ctx.parent(parent)
        elif (method := ctx.method_call(child)) is not None and method[0].attr in _MASK_CASTS:
            child, parent = method[1], ctx.parent(method[1])
        else:
            break
    if not (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult)):
        return False
    factor = parent.right if parent.left is child else parent.left
    return any(_flat_at(factor, c, ctx) for c in _crossings(node.left, node.comparators[0]))


def _smooth_piecewise_assignment(node: ast.AST, ctx: Context) -> bool:
    """Smooth L1 written with boolean-index assignments: ``mask = d.abs() < beta``,
    ``d[mask] = d[mask] ** 2 / (2 * beta)``, ``d[~mask] = d[~mask].abs() - beta / 2``, or with
    the two selections joined (``torch.cat([0.5 * d[mask] ** 2, delta * (a[~mask] - delta / 2)])``).
    The two pieces are read as ``where(mask, f(d), g(d))`` and judged as a where is: they meet
    with the same value and slope where the comparison flips."""
    import copy

    from kinkcheck.lint.joins import where_is_smooth
    from kinkcheck.lint.walk import walk_local

    parent = ctx.parent(node)
    mask = parent.targets[0].id if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and \
        isinstance(parent.targets[0], ast.Name) else None
    want = ast.dump(node)

    def selects(index: ast.AST, negated: bool) -> bool:
        if negated:
            return isinstance(index, ast.UnaryOp) and isinstance(index.op, (ast.Invert, ast.Not)) \
                and selects(index.operand, False)
        return ast.dump(index) == want or (mask is not None and isinstance(index, ast.Name) and index.id == mask)

    pieces: dict[bool, tuple[str, ast.expr]] = {}
    for stmt in walk_local(ctx.fn):
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Subscript) \
                and isinstance(stmt.targets[0].value, ast.Name):
            target = stmt.targets[0]
            for negated in (False, True):
                if selects(target.slice, negated) and negated not in pieces:
                    pieces[negated] = (target.value.id, stmt.value)  # type: ignore[attr-defined]
    if len(pieces) != 2 or pieces[False][0] != pieces[True][0]:
        joined = _joined_selections(selects, node if mask is None or parent is None else parent, mask, ctx)
        if joined is None:
            return False
        pieces = {negated: ("", value) for negated, value in joined.items()}
    array = pieces[False][0]

    def selected(n: ast.AST) -> bool:
        return isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) \
            and (selects(n.slice, False) or selects(n.slice, True))

    def whole(n: ast.AST, depth: int = 2) -> ast.AST:
        """``n`` with ``d[mask]`` and ``d[~mask]`` read as ``d`` (``out[pos] = 1 / (1 +
        exp(-z[pos]))`` reads ``z``), and a name bound once to such a selection read as its
        value (``ez = exp(z[~pos])``): a new tree around the names read (the same nodes, so
        what reaches them is still known)."""
        if selected(n):
            return n.value  # type: ignore[attr-defined]
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and depth and n.id != array:
            bound = ctx.bound_once(n.id)
            if bound is not None and any(selected(m) for m in ast.walk(bound)):
                return whole(bound, depth - 1)
        if isinstance(n, (ast.Name, ast.Constant)):
            return n
        out = copy.copy(n)
        for field, value in ast.iter_fields(n):
            if isinstance(value, list):
                setattr(out, field, [whole(v, depth) if isinstance(v, ast.AST) else v for v in value])
            elif isinstance(value, ast.AST):
                setattr(out, field, whole(value, depth))
        return out

    # an array assigned piece by piece is one symbol throughout (copies: no binding reaches
    # them); the elements of a join keep the names they read, and what reaches those
    keep = copy.deepcopy if array else (lambda n: n)
    test = keep(node)
    inside, outside = (whole(keep(pieces[k][1])) for k in (False, True))
    assert isinstance(test, ast.expr) and isinstance(inside, ast.expr) and isinstance(outside, ast.expr)
    if any(isinstance(n, ast.Call) and callee_tail(n.func) in MIXING for e in (inside, outside) for n in ast.walk(e)):
        return False  # `s = z[pos].sum(); out[pos] = z[pos] / s`: a group's total jumps as elements change sides
    fake = ast.Call(func=ast.Name(id="where", ctx=ast.Load()), args=[test, inside, outside], keywords=[])
    return where_is_smooth(fake, test, ctx)


#: calls that join arrays end to end
_JOINS = frozenset({"cat", "concat", "concatenate", "hstack"})


def _joined_selections(selects, made: ast.AST, mask: str | None, ctx: Context) -> dict[bool, ast.expr] | None:
    """The two elements of a ``cat([f(d[mask]), g(d[~mask])])`` in the function, keyed by
    whether the element selects with the complement; None where there is no such join, where
    the mask (made at ``made``) is also read outside it (a count of it, another join: those
    are judged on their own), or where a piece mixes elements (a mean of the selection jumps
    as elements change sides)."""
    from kinkcheck.lint.walk import walk_local

    for call in walk_local(ctx.fn):
        if not (isinstance(call, ast.Call) and callee_tail(call.func) in _JOINS and call.args
                and isinstance(call.args[0], (ast.List, ast.Tuple)) and len(call.args[0].elts) == 2):
            continue
        sides: dict[bool, ast.expr] = {}
        for element in call.args[0].elts:
            found = {negated for sub in ast.walk(element) if isinstance(sub, ast.Subscript)
                     for negated in (False, True) if selects(sub.slice, negated)}
            if len(found) == 1:
                sides[found.pop()] = element
        if len(sides) != 2:
            continue
        inside = {id(n) for n in ast.walk(call)}
        uses = sinks.uses_of(mask, made, ctx) if mask is not None else [made]
        if any(id(u) not in inside for u in uses):
            return None
        if any(isinstance(n, ast.Call) and callee_tail(n.func) in MIXING for e in sides.values() for n in ast.walk(e)):
            return None
        return sides
    return None


def _crossings(a: ast.expr, b: ast.expr) -> list[ast.expr]:
    """Expressions that are 0 exactly where ``a`` meets ``b``: ``a - b``, ``b - a``, and
    ``a + c`` for ``b = -c``; ``a`` itself against 0."""
    out: list[ast.expr] = [ast.BinOp(a, ast.Sub(), b), ast.BinOp(b, ast.Sub(), a)]
    if const_value(b) == 0:
        out.append(a)
    if const_value(a) == 0:
        out.append(b)
    if isinstance(b, ast.UnaryOp) and isinstance(b.op, ast.USub):
        out += [ast.BinOp(a, ast.Add(), b.operand), ast.BinOp(b.operand, ast.Add(), a)]
    if isinstance(a, ast.UnaryOp) and isinstance(a.op, ast.USub):
        out += [ast.BinOp(b, ast.Add(), a.operand), ast.BinOp(a.operand, ast.Add(), b)]
    return out


def weights_a_flat_factor(node: ast.AST, test: ast.Compare, ctx: Context, follow: int = 1) -> bool:
    """``node`` (a selection between two constant weights on ``test``) multiplies a factor that
    vanishes to second order where ``test`` flips: the expectile loss ``where(r > 0, 1 - tau,
    tau) * r * r``, or ``w = where(d > 0, over, under)`` then ``(w * d ** 2).mean()``. The
    weight jumps where the squared error is 0 with slope 0, so the product is C1. Every use of
    a name bound to it must be such a product."""
    crossings = _crossings(test.left, test.comparators[0])
    parent = ctx.parent(node)
    if follow and isinstance(parent, ast.Assign) and parent.value is node and len(parent.targets) == 1 \
            and isinstance(parent.targets[0], ast.Name):
        uses = sinks.reads_after(parent, {parent.targets[0].id}, ctx)
        return bool(uses) and all(weights_a_flat_factor(u, test, ctx, follow - 1) for u in uses)
    factors: list[ast.AST] = []
    child: ast.AST = node
    while isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult):
        factors.append(parent.right if parent.left is child else parent.left)
        child, parent = parent, ctx.parent(parent)
    if len(factors) == 1 and isinstance(factors[0], ast.BinOp) and isinstance(factors[0].op, ast.Mult):
        factors = [factors[0].left, factors[0].right]  # `w * (r * r)`
    order = 0.0
    for f in factors:
        for c in crossings:
            if ast.dump(f) == ast.dump(c):
                order += 1
                break
            k = sinks.power_of(f, c, ctx)
            if k is not None:
                order += k
                break
    return order >= 2


def _flat_at(factor: ast.AST, crossing: ast.expr, ctx: Context) -> bool:
    """``factor`` is ``crossing ** k`` (``.pow(k)``, ``square``) with k >= 2: zero with a zero
    slope where ``crossing`` is 0."""
    k = sinks.power_of(factor, crossing, ctx)
    return k is not None and k >= 2


def _mask_call(call: ast.Call, ctx: Context) -> bool:
    """An elementwise comparison call; equality only against a known tensor or a float literal
    (as for ``==``: ``labels.eq(1)`` compares ids)."""
    f = call.func
    method = isinstance(f, ast.Attribute) and not ctx.is_module_ref(f.value)
    tail = call_tail(call)
    if tail not in MASK_CALLS or (not method and ctx.qualify(f) is None):
        return False
    operands = binary_operands(call, method)
    if len(operands) != 2:
        return False
    if tail in _EQUALITY_CALLS:
        return not id_test(list(operands), ctx) and any(
            ctx.kind(o) == TENSOR or isinstance(const_value(o), float) for o in operands)
    return True


def _used_as_number(node: ast.AST, ctx: Context, follow: int) -> bool:
    child: ast.AST = node
    parent = ctx.parent(node)
    while True:
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.BitAnd, ast.BitOr, ast.BitXor)) or (
                isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Invert)):
            child, parent = parent, ctx.parent(parent)  # (a > 0) & (b > 0): still a mask
        elif isinstance(parent, ast.Call) and child in parent.args and call_tail(parent) in _STILL_A_MASK:
            child, parent = parent, ctx.parent(parent)  # jnp.all(x == y)
        elif (method := ctx.method_call(child)) is not None and method[0].attr in _STILL_A_MASK:
            child, parent = method[1], ctx.parent(method[1])  # (x == y).all()
        elif isinstance(parent, ast.IfExp) and child is not parent.test:
            child, parent = parent, ctx.parent(parent)  # `d > low if low is not None else True`
        elif isinstance(parent, ast.Subscript) and parent.value is child and isinstance(parent.ctx, ast.Load) \
                and isinstance(node, ast.Compare) and all(isinstance(op, _ORDERS) for op in node.ops):
            # `(area > 0)[..., None]`: the mask, reshaped (an equality so indexed is a one-hot
            # of ids: `(z[:, None] == arange(k))[..., None]`)
            child, parent = parent, ctx.parent(parent)
        else:
            break
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.Mult, ast.Add, ast.Sub, ast.Div, ast.MatMult)):
        return _reaches_gradient(parent, ctx)
    if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub):
        return _reaches_gradient(parent, ctx)
    if isinstance(parent, ast.Attribute) and parent.attr in AS_NUMBER_METHODS \
            and isinstance(cast := ctx.parent(parent), ast.Call):
        return _reaches_gradient(cast, ctx)
    if isinstance(parent, ast.Call) and child in parent.args:
        name = callee_tail(parent.func)
        if name in AS_NUMBER_FUNCS or name == "float" or _MASKED_REDUCTION.match(name or ""):
            return _reaches_gradient(parent, ctx)
    if isinstance(parent, ast.Subscript) and parent.slice is child:
        # boolean indexing selects by the comparison: a piecewise definition, unless what
        # is selected is data itself (`masks[batch_idx == i]`). In NumPy code, which only
        # hand-writes objectives and gradients, the samples a mask of the weights selects
        # (`X[margin < 1].T @ y[margin < 1]`, a hinge's subgradient) are its active set
        from kinkcheck.lint.resolve import DATA, PLAIN

        if ctx.kind(parent.value) in (PLAIN, DATA) and isinstance(parent.ctx, ast.Store) \
                and isinstance(parent.value, ast.Name) and isinstance(stmt := ctx.parent(parent), ast.Assign):
            # `weights[p_true < 0.5] = boost`: the weights written by a mask of a differentiated
            # value then weigh the loss (labels edited by a mask of unknown kind are not this)
            compared = [node.left, *node.comparators] if isinstance(node, ast.Compare) else []
            return any(cut_steps.differentiated(o, ctx) for o in compared) and any(
                cut_steps.weighs_gradient(use, ctx) for use in sinks.reads_after(stmt, {parent.value.id}, ctx))
        return ctx.kind(parent.value) not in (PLAIN, DATA) or not ctx.imports_framework()
    if follow and isinstance(parent, ast.Assign) and parent.value is child:
        names = {t.id for t in parent.targets if isinstance(t, ast.Name)}
        if names:
            for use in sinks.reads_after(parent, names, ctx):
                if _used_as_number(use, ctx, follow - 1):
                    return True
    return False


def _reaches_gradient(number: ast.AST, ctx: Context) -> bool:
    """The mask made a number at ``number`` goes on to what is differentiated: not when it
    only weighs a random draw (``torch.multinomial(valid.float().T, 1)`` samples positives
    by the mask; a draw has no gradient to its weights)."""
    child, parent = number, ctx.parent(number)
    for _ in range(8):
        if isinstance(parent, ast.Attribute) and parent.value is child and parent.attr in ("T", "mT"):
            child, parent = parent, ctx.parent(parent)
        elif (method := ctx.method_call(child)) is not None and method[0].attr in _RESHAPES:
            child, parent = method[1], ctx.parent(method[1])
        else:
            break
    if isinstance(parent, ast.Attribute) and parent.value is child and parent.attr in _SAMPLERS:
        return False  # `valid.float().T.multinomial(1)`: the tensor's own draw
    if isinstance(parent, ast.keyword):
        child, parent = parent, ctx.parent(parent)  # `torch.multinomial(input=mask.float(), ...)`
    if isinstance(parent, ast.Call) and (child in parent.args or child in parent.keywords):
        q = ctx.qualify(parent.func) or ""
        return not (q.rsplit(".", 1)[-1] in _SAMPLERS and q.split(".")[0] in ("torch", "jax", "numpy"))
    return True


#: random draws of indices or counts (the library's: an own ``bernoulli`` log-likelihood is
#: none), and what only rearranges their weights on the way there
_SAMPLERS = frozenset({"multinomial", "bernoulli", "categorical", "poisson"})
_RESHAPES = frozenset({*_MASK_CASTS, "t", "transpose", "reshape", "view", "squeeze", "unsqueeze", "flatten"})


#: selections that return values and positions: only their positions are a step
SELECTIONS = frozenset({"topk", "top_k", "max", "min", "sort", "kthvalue"})


def _positions_only(site: Site, call: ast.Call, ctx: Context) -> bool:
    """``_, idx = x.topk(k)``, ``x.max(1)[1]``, ``torch.sort(x).indices``: a torch (or
    ``lax.top_k``) selection of which only the positions are kept (``values_discarded``): those
    of a max or min, as KC303 reports an argmax, and those of a top-k or sort where they are
    made numbers the loss computes with (``positions_as_numbers``); a builtin or two-tensor
    ``max`` keeps no positions."""
    from kinkcheck.lint.checks.kinks import positions_as_numbers, two_operand, values_discarded

    if two_operand(site, ctx) or not values_discarded(call, ctx):
        return False
    return positions_as_numbers(call, ctx) or callee_tail(call.func) in ("max", "min") and _targets_of_loss(call, ctx)


#: calls that write at positions, beside those that pick at them (``kinks.POSITION_PICKS``)
_WRITES_AT = frozenset({"scatter", "scatter_add", "index_add", "index_put", "index_fill"})


def _picks(tail: str) -> bool:
    """A call that picks elements at positions: torch's, or a helper named for it
    (recbole's ``self.gather_indexes(output, index)``)."""
    from kinkcheck.lint.checks.kinks import POSITION_PICKS

    return tail in POSITION_PICKS or tail in _WRITES_AT or any(word in tail for word in ("gather", "index", "select", "take"))


def _targets_of_loss(call: ast.Call, ctx: Context) -> bool:
    """The positions of a max are the class targets of a loss beside a value that carries
    gradient (``_, pred = y_s.max(1)`` then ``cross_entropy(y_adv, pred)``): an argmax."""
    from kinkcheck.lint.checks.kinks import position_uses

    for use in position_uses(call, ctx) or ():
        parent = ctx.parent(use)
        if isinstance(parent, ast.keyword):
            parent = ctx.parent(parent)
        if not isinstance(parent, ast.Call) or use is parent.func or _picks(callee_tail(parent.func)):
            continue
        others = [a for a in (*parent.args, *(k.value for k in parent.keywords)) if a is not use]
        if any(not isinstance(a, ast.Constant) and ctx.kind(a) in (TENSOR, UNKNOWN) for a in others):
            return True
    return False


@refine("KC303")
def cut_prediction_index(site: Site, ctx: Context):
    """``pseudo = weak_prob.argmax(1)`` under ``no_grad``, the targets of the strong view's cross
    entropy: the indices of a prediction whose gradient was cut still jump with it, so where
    they select what a differentiated value contributes the detached-target guard (no gradient
    reaches the argmax) does not excuse them (``cut_steps``)."""
    call = site.call if isinstance(site.call, ast.Call) else None
    if call is not None and callee_tail(call.func) in SELECTIONS and not _positions_only(site, call, ctx):
        if _cut_positions_targeted(site, call, ctx):
            return site.with_(guards=())  # `conf, pseudo = weak_prob.max(1)` under no_grad: pseudo-labels
        return None  # the selected values are kept: a kink of them (KC105's), or elementwise (KC104's)
    if call is not None and callee_tail(call.func) in ("argsort", "argpartition"):
        return site  # a permutation that sorts by a detached copy (`x.gather(0, x.detach().argsort(0))`) is a sort
    if site.operand is not None and ctx.kind(site.operand) in (PLAIN, DATA) \
            and cut_steps.cut_prediction(site.operand, ctx) and cut_steps.weighs_gradient(site.call or site.node, ctx):
        return site.with_(guards=())
    return site


def _cut_positions_targeted(site: Site, call: ast.Call, ctx: Context) -> bool:
    """``max_probs, pseudo = probs.max(dim=1)`` of a prediction whose gradient was cut, with
    ``pseudo`` the targets of a loss (FixMatch): the values carry no gradient (no kink of them
    to report), and the positions jump with the prediction like an argmax's."""
    from kinkcheck.lint import sinks
    from kinkcheck.lint.checks.kinks import two_operand

    parent = ctx.parent(call)
    if two_operand(site, ctx) or site.operand is None \
            or ctx.kind(site.operand) not in (PLAIN, DATA) and id(call) not in ctx.no_grad_ids() \
            or not (isinstance(parent, ast.Assign) and len(parent.targets) == 1
                    and isinstance(target := parent.targets[0], ast.Tuple) and len(target.elts) == 2
                    and isinstance(positions := target.elts[1], ast.Name)):
        return False
    return cut_steps.cut_prediction(site.operand, ctx) and any(
        cut_steps.weighs_gradient(use, ctx) for use in sinks.reads(positions.id, ctx))


@refine("KC302")
def counter_arithmetic(site: Site, ctx: Context):
    """``self.training_steps % self.update_period == 0``: a Python int taken modulo (or
    floor-divided by) a setting is a schedule, not a step of a tensor; the divisor would
    have to be a tensor for a gradient to reach it."""
    call = site.call
    if site.via == "operator" and isinstance(call, ast.BinOp) and isinstance(call.op, (ast.Mod, ast.FloorDiv)) \
            and ctx.kind(call.left) == PLAIN and ctx.kind(call.right) != TENSOR:
        return None
    return site
