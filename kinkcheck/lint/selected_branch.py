"""The selected-branch guard: a clamp that a ``where`` only uses inside its bound.

``where(t > b, t.clamp(min=b) ** (1 / 3), t / c)`` (CIELAB's ``f``, a safe log, a safe
power) evaluates both branches, so the clamp keeps the unselected lanes away from the cube
root's infinite slope; on the lanes that branch is selected for, the condition already puts
``t`` above ``b``, the clamp is the identity and its kink never reaches the result. The
condition must compare the clamped value itself with the clamp's own bound (textually), on
the side that keeps it inside. The clamped value may reach the ``where`` through names
(``power = t.clamp(min=b) ** (1 / 3)``, then ``where(t > b, power, ...)``): every use of the
name must sit in such a branch. Registered in ``guards.GUARDS`` as ``selected-branch``.

The branch may be taken in a helper of the file: a spline's ``_derivative(xi, in_bounds)``
returns ``where(in_bounds, f(xi), 1.0)``, so the clipped ``xi`` it is handed is again read
only on the lanes the caller's mask selects. A read that carries no gradient (a bin search
on the clipped value) needs no branch.
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
from kinkcheck.lint.resolve import MIXING, const_value

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
    for cond, branch in selections:
        side = _side_of(cond, node, bound) if _same_values(cond, [node, bound], ctx) else None
        # branch 1 is taken where the condition holds, branch 2 where it does not
        if side is None or (side == wanted) != (branch == 1):
            return False
    return True


#: names followed from the clamp to the ``where`` (``power`` -> ``f_lab``)
_DEPTH = 2
#: ... for a two-sided clamp, whose value usually feeds a longer formula first (a spline's
#: ``xi`` -> ``num`` -> ``y`` -> the root of its inverse); every use on the way must still
#: end in a selected branch
_DEPTH_TWO_SIDED = 16

#: ``(condition, branch)``: a ``where`` on ``condition`` whose ``branch`` (1: taken where it
#: holds, 2: where it does not) holds the value; the condition as the analysed function reads it
Selection = tuple[ast.AST, int]


def _selecting_wheres(node: ast.AST, ctx: Context, depth: int) -> list[Selection] | None:
    """The innermost selection holding ``node``, or each use of the name it is assigned to
    (:func:`_selecting_chains`)."""
    chains = _selecting_chains(node, ctx, depth)
    return [chain[0] for chain in chains] if chains else None


def _selecting_chains(node: ast.AST, ctx: Context, depth: int,
                      memo: dict[tuple[int, int], list[list[Selection]] | None] | None = None) -> list[list[Selection]] | None:
    """The selections that hold ``node`` in its statement, innermost first; failing that,
    those holding every use of the name ``node``'s statement assigns (``x = ...`` or ``x -=
    ...``, followed through ``depth`` names) or of the parameter of a helper of the file it is
    passed to, one list per use. None when some use that carries gradient is in no ``where``
    branch. ``memo`` keeps a formula that reads a name many times from being walked again."""
    wheres = [(w, i) for w, i in where_branches(node, ctx) if (_callee_tail(w, ctx) or "") == "where"]
    if wheres:
        # a where past a reduction selects among mixed lanes: only those before it count (the
        # path to an outer where runs through the inner ones)
        kept = list(itertools.takewhile(lambda pair: not _reduced(node, pair[0], ctx), wheres))
        return [[(w.args[0], i) for w, i in kept]] if kept else None
    if depth <= 0:
        return None
    helper = _helper_call(node, ctx)
    if helper is not None:
        return _helper_chains(node, helper, ctx, depth - 1)
    stmt = flow.enclosing_statement(node, ctx)
    if _reduced(node, stmt, ctx):
        return None  # `(clip(x) * w).sum()`: the sum mixes in the lanes no where selects
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        name = stmt.targets[0].id
    elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        name = stmt.target.id  # `log_p -= log_det(clipped)`: what log_p holds from here on
    else:
        return None
    memo = {} if memo is None else memo
    key = (id(stmt), depth)
    if key not in memo:
        memo[key] = _uses_selected(_reads_of(name, stmt, ctx), ctx, depth - 1, memo)
    return memo[key]


def _uses_selected(uses: list[ast.Name], ctx: Context, depth: int,
                   memo: dict[tuple[int, int], list[list[Selection]] | None]) -> list[list[Selection]] | None:
    """The selecting chains of every use in ``uses`` that carries gradient (a bin search, a
    comparison or an index reads none); None when one of them has none, or none is left."""
    chains: dict[tuple[tuple[int, int], ...], list[Selection]] = {}
    for use in uses:
        if sinks.gradient_dead(use, ctx):
            continue
        found = _selecting_chains(use, ctx, depth, memo)
        if not found:
            return None
        # a formula reaches the same where along many paths: one chain per distinct selection
        chains.update((tuple((id(cond), branch) for cond, branch in chain), chain) for chain in found)
    return list(chains.values()) or None


def _helper_call(node: ast.AST, ctx: Context) -> ast.Call | None:
    """The call of a function of this file that takes ``node`` itself as an argument
    (positional or by keyword)."""
    from kinkcheck.lint.ranges_returned import own_function

    parent = ctx.parent(node)
    call = ctx.parent(parent) if isinstance(parent, ast.keyword) else parent
    if not isinstance(call, ast.Call) or node is call.func or own_function(call, ctx) is None:
        return None
    return call


def _helper_chains(arg: ast.AST, call: ast.Call, ctx: Context, depth: int) -> list[list[Selection]] | None:
    """The selecting chains of ``arg`` inside the helper ``call`` calls: those of every read
    of the parameter it fills, their conditions read back as the arguments the call passes
    (``where(in_bounds, ...)`` on the helper's parameter ``in_bounds`` selects by the mask the
    caller hands it). A selection on anything else the helper computes is dropped."""
    from kinkcheck.lint.call_sites import handed_to

    handed = handed_to(call, arg, ctx)
    if handed is None:
        return None
    callee, param = handed
    if param in flow.bindings(callee):
        return None  # rebound before it is read
    # what the helper does with its parameter is the same from every call: worked out once
    # per depth (a helper calling the next one several times would otherwise fan out)
    memo = callee.__dict__.setdefault("_selected_parameters", {})
    if (param, depth) not in memo:
        memo[param, depth] = _uses_selected(list(sinks.reads(param, callee)), callee, depth, {})
    inner = memo[param, depth]
    if not inner:
        return None
    chains = []
    for chain in inner:
        outer = [(passed, branch) for cond, branch in chain
                 if (passed := _passed_mask(cond, call, callee)) is not None]
        if not outer:
            return None
        chains.append(outer)
    return chains


def _passed_mask(cond: ast.AST, call: ast.Call, callee: Context) -> ast.AST | None:
    """What ``call`` passes for the parameter ``cond`` names, when the helper never rebinds it."""
    from kinkcheck.lint import call_sites

    if not isinstance(cond, ast.Name) or cond.id not in callee.params or cond.id in flow.bindings(callee):
        return None
    return call_sites.passed(cond.id, call, callee)


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
        for cond, branch in chain:
            for test in _conditions(cond, branch, ctx):
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
    value = _bare(value)
    v, b = ast.dump(value), ast.dump(_bare(bound))
    if (ast.dump(left), ast.dump(right)) not in ((v, b), (b, v)) and isinstance(value, ast.BinOp) \
            and isinstance(value.op, ast.Sub) and const_value(_bare(bound)) == 0:
        # `(loss - cap).clamp_min(0)` under `where(loss > cap, ...)`: a - c > 0 is a > c
        v, b = ast.dump(value.left), ast.dump(value.right)
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


#: calls of one argument that hold the same number: an array of it, or the float itself
_WRAPPERS = frozenset({"array", "asarray", "tensor", "as_tensor", "float"})


def _bare(node: ast.AST) -> ast.AST:
    """``node`` without a wrapper of one argument: ``jnp.array(b)`` and ``float(b)`` compare as ``b``."""
    while isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords \
            and (node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)) in _WRAPPERS:
        node = node.args[0]
    return node


def _off_zero(call: ast.Call, value: ast.AST, ctx: Context) -> bool:
    """Every lane that reads ``call`` is selected by a ``where`` taken only where ``|value| >
    d`` with ``d >= 0`` (or ``>= d`` with ``d > 0``): ``value`` is never 0 there. The
    condition may be a name bound to it (``is_linear = abs(x) >= max_val``) and ``call`` may
    reach the ``where`` through names. Or ``call`` is bound to a name read only by masks and
    by selections that keep it off 0 (:func:`_selected_off_zero`)."""
    if _selected_off_zero(call, ctx):
        return True
    chains = _selecting_chains(call, ctx, _DEPTH)
    if not chains:
        return False
    return all(any(_keeps_off_zero(test, value, ctx) for cond, branch in chain for test in _conditions(cond, branch, ctx))
               for chain in chains)


def _keeps_off_zero(test: ast.AST, value: ast.AST, ctx: Context) -> bool:
    """``test`` holding puts ``|value|`` above a ``d >= 0`` (``|value| > d``, ``d < |value|``)
    or at least a ``d > 0`` (``>=``), and reads the ``value`` that reaches the kink."""
    from kinkcheck.lint import ranges

    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    left, op, right = test.left, test.ops[0], test.comparators[0]
    if _abs_of(right, value, ctx):
        left, right = right, left
        op = {ast.Lt: ast.Gt(), ast.LtE: ast.GtE(), ast.Gt: ast.Lt(), ast.GtE: ast.LtE()}.get(type(op), op)
    if not _abs_of(left, value, ctx) or not isinstance(op, _ABOVE) or not _same_values(test, [value], ctx):
        return False
    r = ranges.range_of(right, ctx)
    return ranges.is_nonnegative(r) if isinstance(op, ast.Gt) else ranges.is_positive(r)


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
