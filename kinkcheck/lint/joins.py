"""Smooth joins: a selection whose two branches meet with the same value and slope is no step,
and a kink that such a selection smooths away is no kink.

Smooth-L1, Huber and a patched limit are written as ``where(d < beta, 0.5 * d * d / beta,
d - 0.5 * beta)`` over ``d = abs(x)``: the ``where`` switches where both branches agree in value
and slope (C1), and near ``x = 0`` only the quadratic branch is active, so ``abs``'s kink is
squared away. Both facts are checked numerically on the expressions themselves, never by
running the code read: names are replaced by the single value that reaches them (up to a
few assignments), what is left (parameters, attributes, items) becomes a symbol with a random
positive value, the switch point (or the kink point) is found by bisection along one symbol,
and one-sided difference quotients on both sides are compared. Only scalar arithmetic and a
fixed table of elementwise functions are evaluated; anything else makes the check give up
(the finding stays).
"""

from __future__ import annotations

import ast
import functools
import math
import random
from typing import Callable

from kinkcheck.lint.scalar_expr import (
    CALL_CMP,
    CMP,
    KNOWN,
    LOGICAL,
    SAME,
    Expr,
    Unknown,
    evaluator_name,
    is_module,
)
from kinkcheck.lint.sink_paths import ASIDE, flows_only_into, returned_sink
from kinkcheck.syntax import call_comparison, callee_tail

_TRIALS = 3
#: the most nodes an expression may have for the evaluator to judge it (a budget of work)
_MAX_NODES = 1500
_H = 1e-6
#: how far from 0 a switch point is looked for, nearest first
_SPANS = (8.0, 64.0, 512.0)


def _root(f, lo: float, hi: float) -> float | None:
    """A zero of ``f`` in [lo, hi] found by scanning for a sign change, then bisection. Where
    ``f`` is undefined at a point scanned (a symbol that divides, scanned through 0) the scan
    reads just short of it; a sign change across the pole itself is no root."""
    def at(x: float) -> float | None:
        try:
            return f(x)
        except (ArithmeticError, ValueError):
            return None

    steps = 64
    prev_x, prev = lo, at(lo)
    for i in range(1, steps + 1):
        x = lo + (hi - lo) * i / steps
        cur = at(x)
        if cur is None:
            x -= (hi - lo) / steps * 1e-3
            cur = at(x)
        if prev == 0:
            return prev_x
        if prev is not None and cur is not None and (prev < 0) != (cur < 0):
            a, b, fa = prev_x, x, prev
            for _ in range(80):
                m = 0.5 * (a + b)
                fm = f(m)
                if (fm < 0) == (fa < 0):
                    a, fa = m, fm
                else:
                    b = m
            return 0.5 * (a + b)
        prev_x, prev = x, cur
    return None


def smooth_at(expr: Expr, where: ast.AST, zero: ast.AST, seed: int, fixed: dict[str, float] | None = None,
              signed: set[str] | None = None, poles: bool = True, nonnegative: frozenset[str] = frozenset()) -> bool:
    """``where`` (an expanded expression) has the same one-sided slopes on both sides of the
    points where ``zero`` crosses 0, along each symbol ``zero`` depends on, for random values
    of the other symbols (``fixed`` ones keep the value given; ``signed`` ones are negative
    on every other trial). A draw where ``where`` is 0 around the switch (another mask
    factor is 0 there) says nothing and is drawn again, as does one with no switch along the
    symbol moved; an infinite value on either side is no smooth join, nor is a pole there
    (unless ``poles`` is False: the switch patches it). A symbol read by a call the evaluator
    does not model cannot be moved (``_held_still``): the join is judged not smooth. A symbol
    in ``nonnegative`` (the range analysis proves it >= 0) is only moved through values >= 0:
    ``where(sq > eps * eps, sqrt(sq), sq / (2 * eps) + eps / 2)`` joins at eps = sqrt(sq), and
    its jump at eps = -sqrt(sq) is never reached."""
    if expr.size(where) > _MAX_NODES:
        return False  # dozens of helpers inlined into one expression: too much to evaluate, judged not smooth
    rng = random.Random(seed)
    symbols = sorted(expr.symbols(where) | expr.symbols(zero))
    movable = sorted(expr.symbols(zero))
    if not movable or len(symbols) > 12:
        return False
    # calls the evaluator does not model stand for numbers of their own (`predict(params, x)`);
    # one that reads the symbol moved (`jnp.sign(r)` as r moves) would be held still: no judgment
    held = _held_still(expr, where, zero, movable)
    trial = draws = 0
    while trial < _TRIALS:
        draws += 1
        if draws > 4 * _TRIALS:
            return False  # 0 in every draw: nothing seen of the switch
        env = {s: rng.uniform(0.3, 2.0) for s in symbols}
        env.update({s: -env[s] for s in signed or () if s in env and trial % 2 == (seed % 2)})
        env.update(fixed or {})
        s = movable[draws % len(movable)] if draws > _TRIALS else movable[trial % len(movable)]
        if s in held:
            return False

        def g(x: float, s: str = s) -> float:
            return expr.value(zero, {**env, s: x})

        # near the other symbols first; then farther out, where a numerically stable form
        # switches (softplus to log1p(exp(x)) at -9, log1p(exp(x)) to x + exp(-x) at 18)
        x0 = next((r for span in _SPANS if (r := _root(g, 0.0 if s in nonnegative else -span, span)) is not None), None)
        if x0 is None:
            # no switch along this symbol for these values (`z <= -1 / t**2` moved along t with
            # z > 0): draw again; a join never seen in any draw is judged not smooth
            continue
        h = _H * max(1.0, abs(x0))
        wide = 1e3 * h
        if g(x0 - wide) == 0.0 and g(x0 + wide) == 0.0:
            # the two sides tie on a whole interval (PPO's `minimum(r * a, clip(r, lo, hi) * a)`
            # inside the clip range): smooth inside, the kink is where the tie ends
            return False

        def w(x: float, s: str = s) -> float:
            return expr.value(where, {**env, s: x})

        # slopes from points on one side each, not across the switch: published constants
        # are rounded (Lab's 7.787 and 0.008856), so the branches may meet with a jump of
        # 1e-7 that a quotient over the switch would read as a slope; the jump itself is
        # judged by the value test below
        at = {k: w(x0 + k * h) for k in (-3, -2, -1, 0, 1, 2, 3)}
        sides = {v for k, v in at.items() if k}  # the switch point itself may hold a third value
        if not all(math.isfinite(v) for v in sides):
            if len(sides) == 1 and not math.isnan(at[1]):
                trial += 1  # -inf on both sides: flat (`where(value == v, 0, -inf)` off the point)
                continue
            return False  # `where(p > 0, log_p - z, -inf)`: a jump to infinity
        if sides == {0.0} and w(x0 - wide) == w(x0 + wide) == 0.0:
            continue  # 0 on both sides in this draw (another mask factor is 0): draw again
        if poles and any(_pole(at, side, w(x0 + side * wide), functools.partial(w, x0 + side * h * 1e-3))
                         for side in (-1, 1)):
            return False  # `(e / (0.1 * |p|)) ** 2`: the abs is squared away, not the pole at 0
        if not math.isfinite(at[0]):
            at[0] = at[1]
        trial += 1
        left = (at[-1] - at[-2]) / h
        right = (at[2] - at[1]) / h
        # one-sided quotients differ by about 1.5 h w'' on a smooth join (relu(x) ** 2 at 0),
        # by the jump of the slope at a kink however small its coefficient (1e-4 * |w|)
        curvature = max(abs(at[3] - 2 * at[2] + at[1]), abs(at[-3] - 2 * at[-2] + at[-1])) / (h * h)
        tolerance = 1e-3 * (abs(left) + abs(right)) + 4 * h * curvature + 1e-12 * (1.0 + abs(at[0])) / h
        if abs(at[1] - at[-1]) > 1e-3 * (1.0 + abs(at[0])) or abs(left - right) > tolerance:
            return False
    return True


def _held_still(expr: Expr, where: ast.AST, zero: ast.AST, movable: list[str]) -> set[str]:
    """The symbols of ``movable`` that a call the evaluator does not model reads (``r`` in
    ``jnp.sign(r)``): moving one while that call keeps its drawn value judges nothing."""
    calls = [n for k, n in {**expr.symbol_nodes(where), **expr.symbol_nodes(zero)}.items() if isinstance(n, ast.Call)]
    read = {ast.unparse(x) for call in calls for x in ast.walk(call) if x is not call and x is not call.func
            and isinstance(x, (ast.Name, ast.Attribute, ast.Subscript))}
    return {s for s in movable if s in read}


def _pole(at: dict[int, float], side: int, far: float, closer: Callable[[], float]) -> bool:
    """The values grow without bound towards the switch on one side (1/x, 1/x**2, x**-0.5):
    finite differences there read any two blow-ups as matching slopes. A floor below the
    probe's step (``max(eps, |a - 2|)`` divided by) stops growing a thousand times closer in."""
    near, mid, out = (abs(at[k * side]) for k in (1, 2, 3))
    if not (near > 1.25 * mid > 1.25 ** 2 * out and near > 10.0 * (1.0 + abs(far))):
        return False
    try:
        return not abs(closer()) < 10.0 * near
    except ArithmeticError:
        return True


def _guarded(check) -> bool:
    try:
        return check()
    except (Unknown, ArithmeticError, ValueError, TypeError, RecursionError, OverflowError):
        return False


def where_is_smooth(call: ast.Call, cond: ast.AST, ctx) -> bool:
    """``where(lhs < rhs, a, b)`` whose branches agree in value and slope where lhs == rhs."""
    test = cond
    expr = Expr(call, ctx)
    if isinstance(test, ast.Name) and id(test) in expr.subst:
        test = expr.subst[id(test)]
    test = _as_compare(test, ctx)
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in CMP):
        return False
    if isinstance(test.ops[0], (ast.Eq, ast.NotEq)) and selects_between_others(test, call.args[1:]):
        # `where(out != 0, g - v, g)`: an equality switches at one point, where both one-sided
        # slopes see the same branch; only a branch that holds the compared value can join it
        return False
    if _logical(expr, call) and len(_switches(expr, call)) > 1:
        return False  # a mask combined with another comparison: see `_switches`
    switch = ast.BinOp(left=test.left, op=ast.Sub(), right=test.comparators[0])
    # an equality patches one point (`where(z == 0, 1.0, w / ((1 + w) * z))`): a pole of the
    # other branch there is what the patch is for, the division's own finding (KC205)
    poles = not isinstance(test.ops[0], (ast.Eq, ast.NotEq))
    nonnegative = _nonnegative_symbols(expr, switch, ctx)
    if _guarded(lambda: all(smooth_at(expr, call, switch, seed, poles=poles, nonnegative=nonnegative) for seed in (1, 2))):
        return True
    # ``f = where(xyz > 0.008856, xyz ** (1/3), 7.787 * xyz + 4/29)`` over an ``xyz`` the
    # evaluator cannot follow to the inputs (an einsum, a tensor of constants): judge the
    # join as a function of the compared name itself
    held = next((side for side in (test.left, test.comparators[0]) if isinstance(side, ast.Name)), None)
    if held is None:
        return False
    local = Expr(call, ctx, held=held)
    if isinstance(cond, ast.Name) and id(cond) in local.subst:
        local.subst[id(cond)] = test
    nonnegative = _nonnegative_symbols(local, switch, ctx)
    return _guarded(lambda: all(smooth_at(local, call, switch, seed, poles=poles, nonnegative=nonnegative) for seed in (1, 2)))


def _nonnegative_symbols(expr: Expr, zero: ast.AST, ctx) -> frozenset[str]:
    """The symbols of ``zero`` the range analysis proves >= 0 (``eps``, a sum of squares)."""
    from kinkcheck.lint import ranges

    return frozenset(text for text, node in expr.symbol_nodes(zero).items()
                     if ranges.is_nonnegative(ranges.range_of(node, ctx)))


def names_in(*nodes: ast.AST) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def selects_between_others(test: ast.AST, branches: list[ast.expr]) -> bool:
    """``where(out != 0, g - v, g)``: the branches are arrays of their own, neither holding a
    value the test compares nor a constant filled in (``where(p == 0, 0.0, x)``, a guard)."""
    return not any(isinstance(b, ast.Constant) for b in branches) and not names_in(test) & names_in(*branches)


def switch_of(test: ast.AST, ctx) -> ast.AST | None:
    """``lhs - rhs`` of the comparison ``lhs < rhs`` (or ``jnp.less(lhs, rhs)``): what crosses
    0 where it switches; None for anything else."""
    test = _as_compare(test, ctx)
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in CMP) \
            or isinstance(test.ops[0], (ast.Eq, ast.NotEq)):
        return None  # an equality switches at one point: one-sided slopes cannot see it
    return ast.BinOp(left=test.left, op=ast.Sub(), right=test.comparators[0])


def _as_compare(test: ast.AST, ctx) -> ast.AST:
    """``jnp.less_equal(a, b)`` / ``a.le(b)`` as the comparison ``a <= b`` (else ``test``)."""
    if not (isinstance(test, ast.Call) and callee_tail(test.func) in CALL_CMP):
        return test
    method = isinstance(test.func, ast.Attribute) and not is_module(test.func.value)
    return call_comparison(test, method) or test


def kink_smoothed(site_node: ast.AST, argument: ast.AST | None, ctx) -> bool:
    """The kink at ``site_node`` (``abs(u)``, ``relu(u)`` with ``u = argument``) reaches the
    loss only through one ``where`` that is differentiable where ``u`` crosses 0."""
    if argument is None:
        return False
    for call in ctx.where_calls():
        if len(call.args) != 3:
            continue
        expr = Expr(call, ctx)
        if not _contains(expr, call, site_node):
            continue
        if not flows_only_into(site_node, call, ctx) or not _evaluated(expr, call, site_node):
            return False  # `where(m > 0, x.abs().amax(), 1)`: an opaque call hides the abs from the test
        if _logical(expr, call) and len(_switches(expr, call)) > 1:
            return False  # `where((n < b) & (t.abs() > 1e-3), ...)`: see `_switches`
        # the other symbols take both signs where theirs is unknown: in the cosine embedding
        # loss, `where(y > 0, 1 - cos, relu(cos - margin))`, a label drawn > 0 every time would
        # never select the relu, and its kink would read as smoothed away
        return _smooth_for_settings(expr, call, argument, ctx)
    return False


def returned_smooth(site_node: ast.AST, zero: ast.AST | None, ctx) -> bool:
    """The value at ``site_node`` reaches the function's return only through one returned
    expression that is differentiable where ``zero`` crosses 0: Huber written with a minimum,
    ``q = minimum(|e|, delta); 0.5 * q ** 2 + delta * (|e| - q)``, is C1 at ``|e| == delta``
    and quadratic around ``e == 0``."""
    if zero is None:
        return False
    sink = returned_sink(site_node, ctx)
    if sink is None or sink is ASIDE or not flows_only_into(site_node, sink, ctx):
        return False
    expr = Expr(sink, ctx, along=site_node)
    if not _evaluated(expr, sink, site_node) or _equality_mask(expr, sink):
        return False
    if _logical(expr, sink) and len(_switches(expr, sink)) > 1:
        return False  # a mask combined with another comparison: see `_switches`
    return _smooth_for_settings(expr, sink, zero, ctx)


def _smooth_for_settings(expr: Expr, root: ast.AST, zero: ast.AST, ctx) -> bool:
    """``root`` is smooth where ``zero`` crosses 0 for the other symbols' settings (defaults
    fixed, unknown signs tried both ways: ``_settings``), on two seeds; not when no settings
    can be made."""
    settings = _settings(expr, root, zero, ctx)
    if settings is None:
        return False
    fixed, signed = settings
    return _guarded(lambda: all(smooth_at(expr, root, zero, seed, fixed, signed) for seed in (1, 2)))


def _switches(expr: Expr, root: ast.AST) -> set[frozenset[str]]:
    """The operand pairs of the order comparisons ``root`` computes (names followed; an
    equality, ``(x == 0) & (z == 0)``, switches at one point and is judged apart). Random draws of
    the symbols flip a comparison only where its threshold is in their range: with a second
    switch combined with the one judged (a data mask ``target.abs() > 1e-3`` joined by ``&``)
    a piece that one never selects in the draws goes unseen, so masks combined or negated
    across more than one switch are not judged smooth. ``|u| <= k`` and ``|u| > k`` are one
    switch."""
    out: set[frozenset[str]] = set()
    for node in expr.walk(root):
        test = _as_compare(node, expr.ctx) if isinstance(node, ast.Call) else node
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and not isinstance(test.ops[0], (ast.Eq, ast.NotEq)):
            out.add(frozenset((ast.dump(test.left), ast.dump(test.comparators[0]))))
    return out


def _logical(expr: Expr, root: ast.AST) -> bool:
    """``root`` combines or negates masks (``&``, ``|``, ``~``, ``logical_and``), names followed."""
    return any(isinstance(node, ast.BinOp) and type(node.op) in LOGICAL
               or isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Invert, ast.Not))
               or isinstance(node, ast.Call) and callee_tail(node.func) in ("logical_and", "logical_or", "logical_not")
               for node in expr.walk(root))


def _equality_mask(expr: Expr, sink: ast.AST) -> bool:
    """``(target == c).float()`` in the returned value: random reals never tie, so the
    evaluator would read the mask as 0 everywhere and the kink it multiplies as flat."""
    return any(isinstance(n, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in n.ops)
               or isinstance(n, ast.Call) and callee_tail(n.func) in ("eq", "ne", "isclose", "equal", "not_equal")
               for n in expr.walk(sink))


def _default_number(node: ast.AST, ctx) -> float | None:
    """The numeric default of the parameter ``node`` names (Huber's ``delta=1.0``), else None."""
    from kinkcheck.lint.resolve import const_value

    default = ctx.param_default(node.id) if isinstance(node, ast.Name) and hasattr(ctx, "param_default") else None
    v = const_value(default) if default is not None else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _settings(expr: Expr, sink: ast.AST, zero: ast.AST, ctx) -> tuple[dict[str, float], set[str]] | None:
    """Values for the symbols that do not move the kink: a parameter's numeric default (Huber's
    ``delta=1.0``; ``eps=0.0`` stays 0), else a random positive value where the range analysis
    proves the symbol > 0, a log reads it (``log(scale)``) or it is the threshold of a value that
    is never negative (``|u| <= kappa``), else, for a symbol read only by
    smooth operations (the label ``y`` of a stable BCE, ``relu(x) - x * y + log1p(exp(-|x|))``),
    a random value of either sign (the second set), also for one inside a kinked call, where
    both signs must then pass: ``relu(|x| - t)`` is smooth only for t > 0 and stays a finding.
    None when a symbol of unknown sign bounds a clip or a minimum (``minimum(maximum(x, lo),
    hi)`` is flat, so smooth, for hi < lo)."""
    from kinkcheck.lint import ranges

    movable = expr.symbols(zero)
    logged = expr.logged_symbols(sink)
    crossable, bounding = expr.bound_symbols(sink)
    fixed: dict[str, float] = {}
    signed: set[str] = set()
    thresholds = expr.threshold_symbols(sink, ctx)
    for text, node in expr.symbol_nodes(sink).items():
        if text in movable:
            continue
        number = _default_number(node, ctx)
        if number is not None:
            fixed[text] = number
        elif text in crossable:
            return None  # random values may cross the bounds of a clip: flat, smooth for nothing
        elif text not in logged and not ranges.is_nonnegative(ranges.range_of(node, ctx)) \
                and text not in thresholds:
            if text in bounding:
                return None  # `minimum(maximum(x, lo), hi)` is smooth for hi < lo: the sign decides
            # either sign is tried: the value must be smooth for both (`relu(|x| - t)` is not for
            # t < 0; IQN's quantile weight `abs(tau - (u < 0))` times a Huber loss is for any tau)
            signed.add(text)
    return fixed, signed


#: reductions the scalar evaluator reads as the identity: exact only under linear operations
_REDUCTIONS = frozenset({"sum", "mean", "nansum", "nanmean"})


def _evaluated(expr: Expr, root: ast.AST, target: ast.AST, linear: bool = True) -> bool:
    """``target`` is computed by the evaluator inside ``root`` on every path to it: every call on
    the way, and ``target`` itself, is one it models (an unknown call is an opaque number:
    ``F.l1_loss``, ``.to_dense()`` would hide the kink behind a symbol), and a reduction on the
    way has only linear operations above it (``abs(w).sum() ** 2`` is no ``|w| ** 2``). One
    path is not enough: in ``log(a.sum()) - log(a)`` the scalar evaluator reads the sum as
    ``a`` and the difference as 0, smooth whatever ``a`` does."""
    if id(root) in expr.subst:
        return _evaluated(expr, expr.subst[id(root)], target, linear)
    tail = evaluator_name(root, expr.ctx) if isinstance(root, ast.Call) else ""
    if isinstance(root, ast.Call) and (tail not in KNOWN or (tail in _REDUCTIONS and not linear)):
        return False
    if root is target:
        return True
    if isinstance(root, (ast.Name, ast.Attribute, ast.Subscript)):
        return False
    if isinstance(root, ast.Call):
        func = root.func
        parts = [*root.args, *(k.value for k in root.keywords)]
        if isinstance(func, ast.Attribute) and not is_module(func.value):
            parts.insert(0, func.value)
        keeps = evaluator_name(root, expr.ctx) in SAME  # casts, views and the reductions themselves are linear
        if tail == "where" and len(root.args) == 3 and _untaken(expr, root, target):
            return False
        return _every_path(expr, [(p, linear and keeps) for p in parts], target)
    if isinstance(root, ast.BinOp):
        if isinstance(root.op, (ast.Add, ast.Sub)):
            return _every_path(expr, [(root.left, linear), (root.right, linear)], target)
        if isinstance(root.op, (ast.Mult, ast.Div)):
            left, right = _contains(expr, root.left, target), _contains(expr, root.right, target)
            scaled = linear and left != right and not (isinstance(root.op, ast.Div) and right)
            return _every_path(expr, [(root.left, scaled), (root.right, scaled)], target)
        return _every_path(expr, [(root.left, False), (root.right, False)], target)
    if isinstance(root, ast.UnaryOp):
        return _evaluated(expr, root.operand, target, linear)
    return _every_path(expr, [(c, False) for c in ast.iter_child_nodes(root)], target)


def _untaken(expr: Expr, call: ast.Call, target: ast.AST) -> bool:
    """``where(is_label, pos, neg)`` with ``target`` in ``neg``: a mask that compares nothing is a
    symbol the evaluator draws true, so it only ever computes the first branch (an equality,
    the second)."""
    cond: ast.AST = call.args[0]
    if id(cond) in expr.subst:
        cond = expr.subst[id(cond)]
    if isinstance(cond, ast.Compare) and len(cond.ops) == 1 and isinstance(cond.ops[0], (ast.Eq, ast.NotEq)):
        # `where(one_hot(t) == 1, pos, neg)`: random draws are never equal, so only the
        # branch of "not equal" is ever computed
        return not _contains(expr, call.args[2 if isinstance(cond.ops[0], ast.Eq) else 1], target)
    compares = any(isinstance(n, ast.Compare) or isinstance(n, ast.Call) and evaluator_name(n, expr.ctx) in CALL_CMP
                   for n in expr.walk(cond))
    negated = isinstance(cond, ast.UnaryOp) and isinstance(cond.op, (ast.Not, ast.Invert)) \
        or isinstance(cond, ast.Call) and evaluator_name(cond, expr.ctx) == "logical_not"
    return not compares and not _contains(expr, call.args[2 if negated else 1], target)


def _every_path(expr: Expr, parts: list[tuple[ast.AST, bool]], target: ast.AST) -> bool:
    """Some part holds ``target`` and every part that holds it computes it faithfully."""
    holding = [(p, lin) for p, lin in parts if _contains(expr, p, target)]
    return bool(holding) and all(_evaluated(expr, p, target, lin) for p, lin in holding)


def _contains(expr: Expr, root: ast.AST, target: ast.AST) -> bool:
    for n in ast.walk(root):
        if n is target:
            return True
        if id(n) in expr.subst and _contains(expr, expr.subst[id(n)], target):
            return True
    return False
