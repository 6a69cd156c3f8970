"""The selected-branch guard: a clamp that a ``where`` only uses inside its bound.

``where(t > b, t.clamp(min=b) ** (1 / 3), t / c)`` (CIELAB's ``f``, a safe log, a safe
power) evaluates both branches, so the clamp keeps the unselected lanes away from the cube
root's infinite slope; on the lanes that branch is selected for, the condition already puts
``t`` above ``b``, the clamp is the identity and its kink never reaches the result. The
condition must compare the clamped value itself with the clamp's own bound (textually), on
the side that keeps it inside. The clamped value may reach the ``where`` through names
(``power = t.clamp(min=b) ** (1 / 3)``, then ``where(t > b, power, ...)``): every use of the
name must sit in such a branch. Registered in ``guards.GUARDS`` as ``selected-branch``.
"""

from __future__ import annotations

import ast
import itertools
from typing import TYPE_CHECKING

from kinkcheck.lint import flow, sinks
from kinkcheck.lint.deadzone import _none_literal
from kinkcheck.lint.double_where import where_branches
from kinkcheck.lint.guards import (
    ABS_TAILS,
    _callee_tail,
    _lower_bound,
    _upper_bound,
    call_operand,
    guard,
)
from kinkcheck.lint.resolve import MIXING

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

_CLAMPS = frozenset({"clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_"})
#: comparison -> (the side the left operand is on when it holds): `x > b` puts x above b
_ABOVE = (ast.Gt, ast.GtE)
_BELOW = (ast.Lt, ast.LtE)


@guard("selected-branch")
def selected_branch(node: ast.AST, ctx: Context, site=None) -> bool:
    """KC103: the clamp of ``node`` sits in the branch of an enclosing ``where`` that its
    condition selects only where ``node`` is already inside the clamp's one bound. KC101 and
    KC301: the abs or sign of ``node`` sits in the branch selected only where ``|node| > d >= 0``
    (the linear piece of a hand-written Huber or its gradient ``where(|r| <= d, r, d * sign(r))``)."""
    call = getattr(site, "call", None)
    if not isinstance(call, ast.Call):
        return False
    tail = _callee_tail(call, ctx) or ""
    if getattr(site, "code", None) in ("KC101", "KC301"):
        return _off_zero(call, node, ctx)
    if tail not in _CLAMPS:
        return False
    low, high = _lower_bound(call, tail, ctx), _upper_bound(call, tail, ctx)
    low, high = (None if _none_literal(b) else b for b in (low, high))
    if low is None and high is None:
        return False
    if low is not None and high is not None:
        return _inside_both(call, node, low, high, ctx)
    bound = low if low is not None else high
    wanted = "above" if low is not None else "below"
    selections = _selecting_wheres(call, ctx, _DEPTH)
    if not selections or bound is None:
        return False
    for where, branch in selections:
        side = _side_of(where.args[0], node, bound) if _same_values(where.args[0], [node, bound], ctx) else None
        # branch 1 is taken where the condition holds, branch 2 where it does not
        if side is None or (side == wanted) != (branch == 1):
            return False
    return True


#: names followed from the clamp to the ``where`` (``power`` -> ``f_lab``)
_DEPTH = 2
#: ... for a two-sided clamp, whose value usually feeds a longer formula first (a spline's
#: ``xi`` -> ``num`` -> ``y``); every use on the way must still end in a selected branch
_DEPTH_TWO_SIDED = 4


def _selecting_wheres(node: ast.AST, ctx: Context, depth: int) -> list[tuple[ast.Call, int]] | None:
    """The innermost ``(where, branch)`` holding ``node``, or each use of the name it is
    assigned to (:func:`_selecting_chains`)."""
    chains = _selecting_chains(node, ctx, depth)
    return [chain[0] for chain in chains] if chains else None


def _selecting_chains(node: ast.AST, ctx: Context, depth: int) -> list[list[tuple[ast.Call, int]]] | None:
    """The ``(where, branch)`` pairs that hold ``node`` in its statement, innermost first;
    failing that, those holding every use of the name ``node``'s statement assigns (``x = ...``
    or ``x -= ...``, followed through ``depth`` names), one list per use. None when some use
    is not in a ``where`` branch."""
    chain = [(w, i) for w, i in where_branches(node, ctx) if (_callee_tail(w, ctx) or "") == "where"]
    if chain:
        # a where past a reduction selects among mixed lanes: only those before it count (the
        # path to an outer where runs through the inner ones)
        kept = list(itertools.takewhile(lambda pair: not _reduced(node, pair[0], ctx), chain))
        return [kept] if kept else None
    stmt = flow.enclosing_statement(node, ctx)
    if _reduced(node, stmt, ctx):
        return None  # `(clip(x) * w).sum()`: the sum mixes in the lanes no where selects
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        name = stmt.targets[0].id
    elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        name = stmt.target.id  # `log_p -= log_det(clipped)`: what log_p holds from here on
    else:
        return None
    if depth <= 0:
        return None
    chains: list[list[tuple[ast.Call, int]]] = []
    for use in _reads_of(name, stmt, ctx):
        found = _selecting_chains(use, ctx, depth - 1)
        if not found:
            return None
        chains.extend(found)
    return chains or None


def _reduced(node: ast.AST, stop: ast.AST | None, ctx: Context) -> bool:
    """A call that mixes elements (``MIXING``: a sum, a matmul) sits between ``node`` and
    ``stop`` (or the end of its statement)."""
    parent = ctx.parent(node)
    while parent is not None and parent is not stop and not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.MatMult):
            return True
        if isinstance(parent, ast.Call) and (_callee_tail(parent, ctx) or "") in MIXING:
            return True
        parent = ctx.parent(parent)
    return False


def _same_values(test: ast.AST, nodes: list[ast.AST], ctx: Context) -> bool:
    """Every name ``test`` shares with ``nodes`` (the clamped value, its bounds) holds the same
    binding at both: ``in_bounds = x <= hi`` says nothing of ``x`` once ``x = x * w``."""
    names = {n.id: n for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}
    for n in ast.walk(test):
        if not isinstance(n, ast.Name):
            continue
        other = names.get(n.id)
        if other is not None and other is not n:
            here, there = flow.reaching(n.id, n, ctx), flow.reaching(n.id, other, ctx)
            if [id(d[0]) for d in here[0]] != [id(d[0]) for d in there[0]] or here[1] != there[1]:
                return False
    return True


def _reads_of(name: str, binding: ast.AST, ctx: Context) -> list[ast.Name]:
    """The reads of ``name`` that ``binding`` reaches, the one a later ``name -= v`` makes
    included (flow binds it as ``name - v``)."""
    reads = list(sinks.uses_of(name, binding, ctx))
    for stmt, value in flow.bindings(ctx).get(name, ()):
        if isinstance(stmt, ast.AugAssign) and isinstance(value, ast.BinOp) and isinstance(value.left, ast.Name) \
                and any(d is binding for d, _ in flow.reaching(name, value.left, ctx)[0]):
            reads.append(value.left)
    return reads


def _inside_both(call: ast.Call, value: ast.AST, low: ast.AST, high: ast.AST, ctx: Context) -> bool:
    """A two-sided clamp (``clip(x, lo, hi)``) whose result reaches the loss only in branches
    selected where ``lo <= x <= hi`` already holds: ``where(in_bounds, f(clip(x, lo, hi)), x)``
    with ``in_bounds = (x >= lo) & (x <= hi)``, or the tails taken apart by nested wheres,
    ``where(x <= lo, left, where(x >= hi, right, f(clip(x, lo, hi))))``. The clamp only keeps
    the lanes the wheres discard finite."""
    chains = _selecting_chains(call, ctx, _DEPTH_TWO_SIDED)
    if not chains:
        return False
    for chain in chains:
        sides: set[str] = set()
        for where, branch in chain:
            for test in _conditions(where.args[0], branch, ctx):
                if not _same_values(test, [value, low, high], ctx):
                    continue
                if _side_of(test, value, low) == "above":
                    sides.add("above")
                if _side_of(test, value, high) == "below":
                    sides.add("below")
        if sides != {"above", "below"}:
            return False
    return True


def _conditions(cond: ast.AST, branch: int, ctx: Context) -> list[ast.AST]:
    """Comparisons that hold where ``branch`` of a ``where`` on ``cond`` is taken: each
    conjunct of ``cond`` (``&``, ``logical_and``, a name bound once to them) in the first
    branch, the negated comparison in the second."""
    if isinstance(cond, ast.Name):
        defs, before = flow.reaching(cond.id, cond, ctx)
        if before or len(defs) != 1 or defs[0][1] is None:
            return []
        cond = defs[0][1]
    if branch == 2:
        if not (isinstance(cond, ast.Compare) and len(cond.ops) == 1 and isinstance(cond.ops[0], (*_ABOVE, *_BELOW))):
            return []
        negated = {ast.Gt: ast.LtE, ast.GtE: ast.Lt, ast.Lt: ast.GtE, ast.LtE: ast.Gt}[type(cond.ops[0])]()
        return [ast.Compare(left=cond.left, ops=[negated], comparators=cond.comparators)]
    if isinstance(cond, ast.BinOp) and isinstance(cond.op, ast.BitAnd):
        return [*_conditions(cond.left, 1, ctx), *_conditions(cond.right, 1, ctx)]
    if isinstance(cond, ast.Call) and (_callee_tail(cond, ctx) or "") == "logical_and" and len(cond.args) == 2:
        return [*_conditions(cond.args[0], 1, ctx), *_conditions(cond.args[1], 1, ctx)]
    return [cond]


def _side_of(cond: ast.AST, value: ast.AST, bound: ast.AST) -> str | None:
    """``above`` when ``cond`` holding means ``value`` is above ``bound``, ``below`` when it
    means below; None when ``cond`` does not compare the two."""
    if not (isinstance(cond, ast.Compare) and len(cond.ops) == 1):
        return None
    left, op, right = _bare(cond.left), cond.ops[0], _bare(cond.comparators[0])
    v, b = ast.dump(_bare(value)), ast.dump(_bare(bound))
    if (ast.dump(left), ast.dump(right)) == (v, b):
        flipped = False
    elif (ast.dump(left), ast.dump(right)) == (b, v):
        flipped = True
    else:
        return None
    if isinstance(op, _ABOVE):
        return "below" if flipped else "above"
    if isinstance(op, _BELOW):
        return "above" if flipped else "below"
    return None


def _bare(node: ast.AST) -> ast.AST:
    """``node`` without an array wrapper of one argument: ``jnp.array(b)`` compares as ``b``."""
    while isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords \
            and isinstance(node.func, ast.Attribute) and node.func.attr in ("array", "asarray", "tensor", "as_tensor"):
        node = node.args[0]
    return node


def _off_zero(call: ast.Call, value: ast.AST, ctx: Context) -> bool:
    """The where branch holding ``call`` is taken only where ``|value| > d`` with ``d >= 0``
    (or ``>= d`` with ``d > 0``): ``value`` is never 0 there. Or ``call`` is bound to a name
    read only by masks and by selections that keep it off 0 (:func:`_selected_off_zero`)."""
    from kinkcheck.lint import ranges

    if _selected_off_zero(call, ctx):
        return True
    found = next(((w, i) for w, i in where_branches(call, ctx) if (_callee_tail(w, ctx) or "") == "where"), None)
    if found is None or not found[0].args:
        return False
    where, branch = found
    cond = where.args[0]
    if not (isinstance(cond, ast.Compare) and len(cond.ops) == 1):
        return False
    left, op, right = cond.left, cond.ops[0], cond.comparators[0]
    if _abs_of(right, value, ctx):
        left, right = right, left
        op = {ast.Lt: ast.Gt(), ast.LtE: ast.GtE(), ast.Gt: ast.Lt(), ast.GtE: ast.LtE()}.get(type(op), op)
    if not _abs_of(left, value, ctx):
        return False
    # the branch taken where |value| is above d: the false one of `<`/`<=`, the true one of `>`/`>=`
    if isinstance(op, (ast.Lt, ast.LtE)):
        if branch != 2:
            return False
        strict = isinstance(op, ast.LtE)
    elif isinstance(op, (ast.Gt, ast.GtE)):
        if branch != 1:
            return False
        strict = isinstance(op, ast.Gt)
    else:
        return False
    r = ranges.range_of(right, ctx)
    return ranges.is_nonnegative(r) if strict else ranges.is_positive(r)


def _selected_off_zero(call: ast.Call, ctx: Context) -> bool:
    """``a = abs(d)`` read only by comparisons (its masks) and by boolean selections that keep
    its elements off 0 (``a[~near]`` after ``near = a < k``, ``k > 0``): Huber written with
    selections (``cat([0.5 * d[near] ** 2, k * (a[~near] - k / 2)])``) never takes the abs's
    slope at 0."""
    from kinkcheck.lint.ranges import GE1, NONZERO, POS
    from kinkcheck.lint.ranges_select import kept_by_mask

    uses = sinks.bound_uses(call, ctx)
    binding = ctx.parent(call)
    selected = False
    for use in uses or ():
        parent = ctx.parent(use)
        if isinstance(parent, ast.Subscript) and parent.value is use and _reads_binding(parent.slice, use.id, binding, ctx) \
                and kept_by_mask(parent, ctx) in (NONZERO, POS, GE1):
            selected = True
        elif not sinks.gradient_dead(use, ctx):
            return False
    return selected


def _reads_binding(mask: ast.AST, name: str, binding: ast.AST | None, ctx: Context) -> bool:
    """The mask (``~near``, or the name ``near`` bound once to a comparison) reads ``name``
    where ``binding`` alone reaches it: a mask made from an earlier value of the name says
    nothing of this one."""
    while isinstance(mask, ast.UnaryOp) and isinstance(mask.op, (ast.Invert, ast.Not)):
        mask = mask.operand
    if isinstance(mask, ast.Name):
        defs, before = flow.reaching(mask.id, mask, ctx)
        if before or len(defs) != 1 or defs[0][1] is None:
            return False
        mask = defs[0][1]
    reads = [n for n in ast.walk(mask) if isinstance(n, ast.Name) and n.id == name]
    return bool(reads) and all(
        (found := flow.reaching(name, n, ctx)) and not found[1] and [d[0] for d in found[0]] == [binding]
        for n in reads)


def _abs_of(node: ast.AST, value: ast.AST, ctx: Context) -> bool:
    if not isinstance(node, ast.Call) or (_callee_tail(node, ctx) or "") not in ABS_TAILS:
        return False
    arg = call_operand(node, ctx)
    return arg is not None and ast.dump(arg) == ast.dump(value)
