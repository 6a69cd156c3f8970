"""Ranges of boolean selections: ``x[x > 0]`` holds only the elements the comparison kept.

``p = p[p > 0]; -(p * log(p)).sum()`` (an entropy over the support) and ``x[x >= t]`` read
their array where the mask is true, so the selected values are >= t: above a floor t > 0, a
log or a division of them meets no zero. A floor does the same for underflow: ``exp``, ``softplus``
and ``sigmoid`` of values kept >= -80 (``softplus(x[x >= -15])``, ``exp(x.clamp(min=-20))``)
stay above the smallest float32. ``ranges._range`` and ``ranges_calls._call`` ask here.
"""

from __future__ import annotations

import ast

from kinkcheck.lint.resolve import const_value
from kinkcheck.syntax import new_axes

#: exp-like callees that underflow elementwise: a floor on their argument keeps them > 0
ELEMENTWISE_EXP = frozenset({"exp", "exp_", "exp2", "softplus", "sigmoid", "sigmoid_", "expit", "logistic"})
#: exp(-80) ~ 1.8e-35 is a normal float32 (and float64); one floor for both
UNDERFLOW_FLOOR = -80.0


def selected_bound(node: ast.Subscript, ctx) -> tuple[float, bool] | None:
    """``(c, strict)`` when ``node`` selects the elements of its own array above ``c``
    (``x[x > c]``, ``x[(x >= c) & ok]``, ``x[keep]`` after ``keep = x >= c``), else None.
    The tightest bound wins."""
    mask: ast.AST | None = node.slice
    if isinstance(mask, ast.Name):
        mask = ctx.definition(mask.id) if hasattr(ctx, "definition") else None
    best: tuple[float, bool] | None = None
    for atom in _conjuncts(mask):
        bound = _above(atom, node.value, ctx)
        if bound is not None and (best is None or bound > best):
            best = bound
    return best


def floor_of(node: ast.AST | None, ctx, depth: int = 3) -> float | None:
    """A constant every element of ``node`` is at least: a selection above it, a clamp to it,
    or a cosine similarity over a temperature (``ranges_similarity``)."""
    from kinkcheck.lint.ranges_similarity import definition, similarity_floor

    if isinstance(node, ast.Name) and depth > 0:
        value = definition(node, ctx)  # `logits = sim / tau` above `exp(logits)`
        return floor_of(value, ctx, depth - 1) if value is not None else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return logit_floor(node, ctx)
    if isinstance(node, ast.Subscript):
        bound = selected_bound(node, ctx)
        if bound is not None:
            return bound[0]
        # an element or row of logits keeps their floor (`logits[:, 0]`)
        return floor_of(node.value, ctx, depth - 1) if depth > 0 else None
    if isinstance(node, ast.Call):
        from kinkcheck.lint.guards import _callee_tail, _lower_bound

        tail = _callee_tail(node, ctx) or ""
        if tail in ("clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_"):
            low = _lower_bound(node, tail, ctx)
            return _number(low, ctx) if low is not None else None
        picked = _picked_from(node, tail, ctx)
        if picked is not None and depth > 0:
            # the diagonal of the logits (`sims.diagonal().exp()`, the positive pairs) keeps their floor
            floor = floor_of(picked, ctx, depth - 1)
            if floor is not None:
                return floor
    return similarity_floor(node, ctx)


def _picked_from(node: ast.Call, tail: str, ctx) -> ast.AST | None:
    """The array whose elements ``node`` picks out or reshapes (``torch.diag(x)``, ``x.diagonal()``)."""
    from kinkcheck.lint.ranges_similarity import PICKS, _call_parts

    if tail not in PICKS or tail in ("cat", "concatenate", "stack"):
        return None
    _, receiver, args = _call_parts(node, ctx)
    return receiver if receiver is not None else (args[0] if args else None)


def logit_floor(node: ast.BinOp, ctx) -> float | None:
    """-1/t for ``cos / t``, a cosine similarity over a temperature (whose logits also stay
    below 1/t); None for any other quotient."""
    from kinkcheck.lint.ranges_similarity import similarity_floor, temperature

    cosine, t = similarity_floor(node.left, ctx), temperature(node.right, ctx)
    return cosine / t if cosine is not None and t is not None else None


def _conjuncts(mask: ast.AST | None):
    return _chain(mask, ast.BitAnd, ast.And)


def _disjuncts(mask: ast.AST | None):
    return _chain(mask, ast.BitOr, ast.Or)


def _chain(mask: ast.AST | None, bit: type[ast.operator], boolean: type[ast.boolop]):
    """The operands of a chain of ``&``/``and`` (or ``|``/``or``)."""
    if isinstance(mask, ast.BinOp) and isinstance(mask.op, bit):
        yield from _chain(mask.left, bit, boolean)
        yield from _chain(mask.right, bit, boolean)
    elif isinstance(mask, ast.BoolOp) and isinstance(mask.op, boolean):
        for v in mask.values:
            yield from _chain(v, bit, boolean)
    elif mask is not None:
        yield mask


def _above(atom: ast.AST, array: ast.AST, ctx) -> tuple[float, bool] | None:
    if not (isinstance(atom, ast.Compare) and len(atom.ops) == 1):
        return None
    op, left, right = atom.ops[0], atom.left, atom.comparators[0]
    want = ast.dump(array)
    if ast.dump(left) == want and isinstance(op, (ast.Gt, ast.GtE)):
        bound = right
    elif ast.dump(right) == want and isinstance(op, (ast.Lt, ast.LtE)):
        bound = left
    else:
        return None
    v = _number(bound, ctx)
    return None if v is None else (float(v), isinstance(op, (ast.Gt, ast.Lt)))


def _number(node: ast.AST, ctx):
    """A literal, or a parameter with a literal default that the function never rebinds."""
    v = const_value(node)
    if v is None and isinstance(node, ast.Name) and hasattr(ctx, "param_default") \
            and not ctx.assignments().get(node.id):
        v = const_value(ctx.param_default(node.id))
    return v


def where_range(node: ast.Call, ctx, depth: int) -> str:
    """``where(c, a, b)`` holds ``a`` where ``c`` does and ``b`` elsewhere: the join of their
    ranges, each narrowed by what ``c`` says on its side. JAX's guard of a singular formula
    replaces the small values: ``where(x < eps, 1.0, x)`` keeps ``x`` only where ``x >= eps``,
    so it is > 0 (and ``where(abs(x) < eps, 1.0, x)`` is != 0). Replacing only the exact
    zero (``where(x == 0, 1.0, x)``) bounds nothing."""
    from kinkcheck.lint.ranges import _range_of, join, meet

    cond, a, b = node.args[:3]
    return join(meet(_range_of(a, ctx, depth), _kept(cond, a, True, ctx, depth)),
                meet(_range_of(b, ctx, depth), _kept(cond, b, False, ctx, depth)))


#: ``x < t`` is false: ``x >= t``
_NEGATED = {ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Gt: ast.LtE, ast.GtE: ast.Lt}
#: ``t > x`` reads ``x < t``
_FLIPPED = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE}


def kept_by_mask(node: ast.Subscript, ctx) -> str:
    """``d[~inside]`` after ``inside = d.abs() < beta`` (``beta > 0``): a boolean selection keeps
    the elements where its mask holds, so what the mask's comparisons say of them bounds them
    as it does a ``where``'s branch: != 0 here (smooth-L1's linear piece), > 0 for ``x[x >= t]``."""
    from kinkcheck.lint.ranges import MAX_DEPTH

    return _kept(node.slice, node.value, True, ctx, MAX_DEPTH - 2)


def _kept(cond: ast.AST, value: ast.AST, holds: bool, ctx, depth: int) -> str:
    """The range ``value`` has where ``cond`` is ``holds``, from the comparisons in ``cond``
    that bound it from below by a positive floor (ANY when none does)."""
    from kinkcheck.lint.ranges import ANY, GE1, NONZERO, POS, _range_of, is_positive

    cond = _condition(cond, ctx)
    if isinstance(cond, ast.UnaryOp) and isinstance(cond.op, (ast.Invert, ast.Not)):
        return _kept(cond.operand, value, not holds, ctx, depth)
    atoms = _conjuncts(cond) if holds else _disjuncts(cond)
    want = ast.dump(value)
    best = ANY
    for atom in atoms:
        if not (isinstance(atom, ast.Compare) and len(atom.ops) == 1 and type(atom.ops[0]) in _NEGATED):
            continue
        op, left, right = type(atom.ops[0]), atom.left, atom.comparators[0]
        if not holds:
            op = _NEGATED[op]
        for x, t, o in ((left, right, op), (right, left, _FLIPPED[op])):
            if o not in (ast.Gt, ast.GtE) or not is_positive(_range_of(t, ctx, depth)):
                continue
            if ast.dump(x) == want:
                v = const_value(t)
                return GE1 if v is not None and v >= 1 else POS
            if _absolute_of(x) == want:
                best = NONZERO
    return best


def _condition(cond: ast.AST, ctx) -> ast.AST:
    """The comparison a mask stands for: ``use_taylor[..., None]`` after ``use_taylor = x < eps``."""
    for _ in range(3):
        if isinstance(cond, ast.Subscript) and new_axes(cond.slice) is not None:  # the same elements
            cond = cond.value
        elif isinstance(cond, ast.Name) and hasattr(ctx, "definition"):
            value = ctx.definition(cond.id)
            if value is None:
                break
            cond = value
        else:
            break
    return cond


def _absolute_of(node: ast.AST) -> str | None:
    """``abs(x)``, ``jnp.abs(x)``, ``x.abs()``: the dump of ``x``."""
    if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
        tail = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        if tail in ("abs", "absolute", "fabs"):
            if node.args:
                return ast.dump(node.args[0])
            if isinstance(node.func, ast.Attribute):
                return ast.dump(node.func.value)
    return None
