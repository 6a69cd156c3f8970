"""KC402: a ``where`` (or ``masked_fill``) that selects on a comparison of a differentiated
value is a step in it, reported at each comparison that decides the selection; one that
picks between the two values it compares (a floor written as a ``where``) or between two
constant weights of a flat factor is not."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint import ranges
from kinkcheck.lint.checks import Site, refine
from kinkcheck.lint.checks.branch import value_comparison
from kinkcheck.lint.conditions import COMPARE_FUNCS, condition_atoms
from kinkcheck.lint.resolve import DATA, PLAIN, TENSOR, const_value, is_eps_like
from kinkcheck.syntax import call_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context


@refine("KC402")
def where_on_comparison(site: Site, ctx: Context):
    """``torch.where(x > 0, a, b)``, ``x.masked_fill(x < t, 0)``: the selection is a step
    in the compared value. A one-argument ``where`` (indices) or a condition on data
    (masks, labels) is not."""
    call = site.call
    if not isinstance(call, ast.Call):
        return None
    tail = (site.qname or site.callee).strip(".()").rsplit(".", 1)[-1]
    cond = None
    for kw in call.keywords:
        if kw.arg in ("condition", "mask", "pred"):
            cond = kw.value
    if cond is None:
        if site.via == "method" or site.via == "instance":
            cond = call.args[0] if call.args else None
        else:
            if tail == "where" and len(call.args) < 3 and not call.keywords:
                return None
            # torch.masked_fill(input, mask, value): the mask is the second argument
            at = 1 if tail.startswith("masked_fill") else 0
            cond = call.args[at] if len(call.args) > at else None
    if cond is None:
        return None
    k = value_comparison(cond, ctx)
    if k is None or _floor_written_as_where(call, cond, site, ctx) or _constant_weights_of_flat(call, cond, ctx):
        return None
    # the step sits at each comparison that decides the selection (`where(a > 1 & b > 1, ...)`
    # has two; `jnp.equal(v, lo)` is one), so a finding points at the comparison, inline or
    # where the mask was built
    found = []
    for atom in condition_atoms(cond, ctx):
        ka = value_comparison(atom, ctx, follow=0)
        if ka is not None and (isinstance(atom, ast.Compare) or call_tail(atom) in COMPARE_FUNCS):
            found.append(site.with_(node=atom, operand=cond, confidence="medium" if ka == TENSOR else "low"))
    return found or site.with_(operand=cond, confidence="medium" if k == TENSOR else "low")


def _constant_weights_of_flat(call: ast.Call, cond: ast.AST, ctx: Context) -> bool:
    """``where(r > 0, 1 - tau, tau)`` between two weights no gradient flows through, times
    ``r ** 2`` (an expectile loss): continuous with a continuous slope where ``r`` crosses 0."""
    from kinkcheck.lint.checks.steps import weights_a_flat_factor

    if len(call.args) != 3 or not isinstance(cond, ast.Compare) or len(cond.ops) != 1:
        return False
    return all(_constant_weight(a, ctx) for a in call.args[1:]) and weights_a_flat_factor(call, cond, ctx)


def _constant_weight(node: ast.AST, ctx: Context) -> bool:
    """A number or data (``tau``, ``1 - expectile``), or an array filled with one
    (``torch.full_like(d, over)``)."""
    if ctx.kind(node) in (PLAIN, DATA):
        return True
    if isinstance(node, ast.Call) and call_tail(node) in ("full_like", "ones_like", "zeros_like"):
        fills = node.args[1:] + [k.value for k in node.keywords if k.arg == "fill_value"]
        return all(ctx.kind(f) in (PLAIN, DATA) for f in fills)
    return False


def _floor_written_as_where(call: ast.Call, cond: ast.AST, site: Site, ctx: Context) -> bool:
    """``where(n > eps, n, eps)``, ``where(d < 0, 0, d)``, ``d.masked_fill(d < 1e-6, 1e-6)``: a
    selection between the two values it compares is their maximum (or minimum), continuous at
    the threshold. The maximum of a value >= 0 in exact arithmetic (a norm, a sum of squares, a
    variance) with 0 or an eps only keeps rounding error and underflow off the pole: a guard.
    With a modelled bound (``where(ratio < 0.8, 0.8, ratio)``) or a signed value (a hinge,
    ``where(v > 1e-6, v, 1e-6)``) it is a kink the loss reaches on purpose."""
    if not (isinstance(cond, ast.Compare) and len(cond.ops) == 1
            and isinstance(cond.ops[0], (ast.Lt, ast.LtE, ast.Gt, ast.GtE))):
        return False
    tail = call_tail(call)
    if any(isinstance(a, ast.Starred) for a in call.args):
        return False
    if site.via in ("method", "instance"):
        if not (tail.startswith("masked_fill") and len(call.args) == 2 and isinstance(call.func, ast.Attribute)):
            return False
        chosen, other = call.args[1], call.func.value  # x.masked_fill(c, v) == where(c, v, x)
    elif len(call.args) == 3:
        # torch.masked_fill(x, c, v) == where(c, v, x)
        chosen, other = (call.args[2], call.args[0]) if tail.startswith("masked_fill") else (call.args[1], call.args[2])
    else:
        return False
    left, right = cond.left, cond.comparators[0]
    if _same_value(chosen, left) and _same_value(other, right):
        larger_when_true = isinstance(cond.ops[0], (ast.Gt, ast.GtE))  # where(l > r, l, r) = max
    elif _same_value(chosen, right) and _same_value(other, left):
        larger_when_true = isinstance(cond.ops[0], (ast.Lt, ast.LtE))  # where(l < r, r, l) = max
    else:
        return False
    if not larger_when_true:
        return False  # a minimum: a cap, which ties like minimum(x, cap)
    for floor, value in ((left, right), (right, left)):
        if (const_value(floor) == 0 or is_eps_like(floor)) and ranges.is_nonnegative(ranges.range_of(value, ctx)):
            return True
    return False


def _same_value(a: ast.AST, b: ast.AST) -> bool:
    """The same expression, or a tensor filled with it (``full_like(n, eps)``)."""
    if isinstance(a, ast.Call) and call_tail(a) in ("full_like", "full") and len(a.args) == 2:
        a = a.args[1]
    if isinstance(b, ast.Call) and call_tail(b) in ("full_like", "full") and len(b.args) == 2:
        b = b.args[1]
    if const_value(a) is not None and const_value(b) is not None:
        return const_value(a) == const_value(b)
    return ast.dump(a) == ast.dump(b)
