"""A cut whose value enters the loss only as a term of its own: a term that trains nothing.

``.detach()``, ``stop_gradient``, ``.data`` and ``no_grad`` are deliberate where they fix a
target, a weight or a shift and the loss keeps a gradient elsewhere (``severing``). One use is
never deliberate: a term added to the loss that carries no gradient at all (``pg - c *
entropy`` with the entropy computed under ``no_grad``, ``sim + lam * penalty(flow.detach())``).
Adding a constant to a loss changes its value, not its gradient, so the loss reports a term
that is never minimised. A cut value that a live term also reads is a shift, not a dead term
(a log-sum-exp's detached maximum, ``m + log(sum(exp(x - m)))``; a straight-through estimator's
``x + (round(x) - x).detach()``).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.flow import (
    _inside,
    _returns,
    bindings,
    enclosing_statement,
    loss_values,
)
from kinkcheck.lint.partial_cuts import cut_operand
from kinkcheck.lint.resolve import DATA, PLAIN
from kinkcheck.lint.roots import handed_loss
from kinkcheck.lint.walk import walk_local
from kinkcheck.syntax import call_tail, scalar_cast_of

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: how many assignments a loss or a term is followed through
_HOPS = 4
#: the most terms one loss is split into (a budget of work, not a limit of meaning)
_MAX_TERMS = 64
#: why a function is loss code when what it returns is the loss itself (not a helper's value
#: that the loss transforms further, nor a hand-written gradient)
_RETURNS_LOSS = frozenset({"name", "loss-class", "decorator", "comment", "grad-transform", "module"})


def in_dead_term(cut: ast.AST, ctx: Context) -> bool:
    """``cut`` (a ``.detach()``/``stop_gradient`` call, a ``.data`` read, the ``no_grad`` of a
    ``with``) feeds only a term of the loss that carries no gradient, beside terms that do."""
    if converted(cut, ctx):
        return False  # `p = pred.detach().numpy()`: one site, one finding (the conversion's, KC502)
    if _marks_leaves(ctx):
        return False  # `w = x.detach(); w.requires_grad = True`: what is differentiated starts from a cut
    block = _with_block(cut, ctx)
    for loss in _losses(ctx):
        expanded: set[str] = set()
        terms = list(itertools.islice(_summands(loss, ctx, _HOPS, frozenset(), expanded, getattr(loss, "lineno", 0)),
                                      _MAX_TERMS + 1))
        if len(terms) > _MAX_TERMS or _value_shift(terms, expanded, ctx):
            continue  # too many to judge; or `s - s.detach() - v.detach()`: the value is set on purpose
        live = [t for t in terms if ctx.kind(t) not in (PLAIN, DATA)]
        if not live:
            continue  # a loss cut whole is `severing.loss_keeps_gradient`'s to judge
        # what a live term reads, and the loss's own names (`loss - loss.detach()`, `energy =
        # energy.detach()` when not training): a term reading them is no term of its own
        read_live = expanded | {n.id for t in live for n in ast.walk(t) if isinstance(n, ast.Name)}
        for term in terms:
            if not _constant(term, ctx) or _zero(term) or _values_read(term, ctx) & read_live:
                continue
            if _holds(term, cut, block, ctx, _HOPS):
                return True
    return False


#: names a run's settings go by (``cfg.ent_coef``, ``config.beta``, ``hparams.lam``)
_SETTINGS_RE = lazy_pattern(r"^(cfg|config|conf|hparams|hps|args|opt|opts|options|settings)$")


def _constant(term: ast.AST, ctx: Context) -> bool:
    """``term`` carries no gradient: data (a cut value), or a product of one with settings
    (``cfg.ent_coef * entropy``)."""
    if isinstance(term, (ast.Dict, ast.List, ast.Tuple, ast.Set, ast.JoinedStr)):
        return False  # `return loss, {"td_error": err}`: a record handed back beside the loss
    if ctx.kind(term) == DATA:
        return True
    if isinstance(term, ast.BinOp) and isinstance(term.op, (ast.Mult, ast.Div)):
        sides = (term.left, term.right)
        return any(_constant(side, ctx) for side in sides) and all(
            _constant(side, ctx) or _setting(side, ctx) for side in sides)
    return False


def _setting(node: ast.AST, ctx: Context) -> bool:
    """A Python number or a field of the run's settings (``cfg.vf_coef``, ``self.cfg.beta``)."""
    if ctx.kind(node) == PLAIN:
        return True
    while isinstance(node, ast.Attribute):
        node = node.value
        if isinstance(node, ast.Attribute) and _SETTINGS_RE.match(node.attr):
            return True
    if not isinstance(node, ast.Name):
        return False
    if _SETTINGS_RE.match(node.id):
        return True
    values = [value for _, value in bindings(ctx).get(node.id, [])]
    return len(values) == 1 and isinstance(values[0], ast.Name) and bool(_SETTINGS_RE.match(values[0].id))


def _values_read(term: ast.AST, ctx: Context) -> set[str]:
    """The names whose values ``term`` reads: not Python numbers, nor the object that holds
    settings (``self`` of ``self.cfg.coef``, ``cfg`` of ``cfg.beta``), nor the data handed in."""
    holders = {id(n.value) for n in ast.walk(term) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
               and (n.value.id == "self" or _SETTINGS_RE.match(n.value.id))}
    cut = {id(n) for c in ast.walk(term) if cut_operand(c, ctx) is not None for n in ast.walk(c)}  # `penalty(flow.detach())` reads no flow
    return {n.id for n in ast.walk(term) if isinstance(n, ast.Name) and id(n) not in holders and id(n) not in cut
            and ctx.kind(n) != PLAIN and not _input_data(n, ctx)}


def _input_data(name: ast.Name, ctx: Context) -> bool:
    """A parameter that is data and is never rebound (the targets ``y``): every term may read
    it, so reading it ties no term to another."""
    return name.id in ctx.params and name.id not in ctx.assignments() and ctx.kind(name) == DATA




def _value_shift(terms: list[ast.AST], expanded: set[str], ctx: Context) -> bool:
    """``s - s.detach()`` among the terms: a zero that carries the gradient, written so that
    the loss's value can be set by the other terms (DiCE's magic box, a reported value)."""
    operands = [(t, cut_operand(t, ctx)) for t in terms]
    texts = {ast.unparse(t) for t, operand in operands if operand is None} | expanded
    # (the method `s.detach()`: its receiver is what it cuts)
    return any(isinstance(t, ast.Call) and isinstance(t.func, ast.Attribute) and operand is t.func.value
               and ast.unparse(operand) in texts for t, operand in operands)


#: calls that fill zeros (an accumulator's start, ``loss = w.new_zeros(())``)
_ZERO_FILLS = frozenset({"zeros", "zeros_like", "new_zeros"})


def _zero(term: ast.AST) -> bool:
    """A term that adds nothing to the value either: an accumulator's zero start, or ``0.0 *
    stop_gradient(floor)`` (a statistic kept in the graph on purpose)."""
    if isinstance(term, ast.Call):
        return call_tail(term) in _ZERO_FILLS
    return isinstance(term, ast.BinOp) and isinstance(term.op, ast.Mult) and any(
        isinstance(side, ast.Constant) and side.value == 0 for side in (term.left, term.right))


#: what a detached value is handed through on its way to the host
_TO_HOST = frozenset({"cpu", "numpy", "tolist", "item"})


def converted(cut: ast.AST, ctx: Context, any_host_call: bool = True) -> bool:
    """``cut`` (``x.detach()``) is converted to host values: ``.cpu().numpy()``, ``.item()``,
    ``np.asarray(...)``, ``float(...)``: the conversion reports it. With ``any_host_call``, also
    handed to any NumPy or SciPy function (``np.exp(x.detach())``): a value the host computes
    with, no term of the loss of its own."""
    node = cut
    for _ in range(3):
        parent = ctx.parent(node)
        if isinstance(parent, ast.Call) and node in parent.args:
            q = ctx.qualify(parent.func) or ""
            host = q.split(".")[0] in ("numpy", "scipy") if any_host_call else q in _HOST_CONVERSIONS
            return host or scalar_cast_of(parent) is not None
        if not (isinstance(parent, ast.Attribute) and parent.attr in _TO_HOST):
            return False
        call = ctx.parent(parent)
        if parent.attr != "cpu":
            return True
        node = call if isinstance(call, ast.Call) else parent
    return False


#: calls that convert an array to host values
_HOST_CONVERSIONS = frozenset({"numpy.asarray", "numpy.array", "numpy.asanyarray", "numpy.ascontiguousarray"})


def _marks_leaves(ctx: Context) -> bool:
    """The function makes its own leaves (``w.requires_grad = True``, ``x.requires_grad_()``,
    ``nn.Parameter(x)``): an
    attack or an input optimisation differentiates values that start as cut copies."""
    for n in walk_local(ctx.fn):
        if isinstance(n, ast.Attribute) and n.attr in ("requires_grad", "requires_grad_") \
                and (n.attr == "requires_grad_" or isinstance(n.ctx, ast.Store)):
            return True
        if call_tail(n) == "Parameter":
            return True  # `y_k = nn.Parameter(images)`
    return False


def _with_block(cut: ast.AST, ctx: Context) -> ast.AST | None:
    """The ``with torch.no_grad():`` statement whose context manager ``cut`` is, else None."""
    stmt = enclosing_statement(cut, ctx)
    if isinstance(stmt, (ast.With, ast.AsyncWith)) and any(_inside(cut, item.context_expr) for item in stmt.items):
        return stmt
    return None


def _losses(ctx: Context) -> list[ast.expr]:
    """What a training step calls ``.backward()`` on, else what a loss function returns as its
    loss."""
    differentiated = []
    for n in walk_local(ctx.fn):
        if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)):
            continue
        if n.func.attr == "backward" and not n.args:
            differentiated.append(_unscaled(n.func.value, ctx))
        elif (handed := handed_loss(n)) is not None and isinstance(handed, ast.expr):
            differentiated.append(_unscaled(handed, ctx))  # `accelerator.backward(loss)`
    if differentiated or not _returns(ctx):
        return differentiated
    info = ctx.fa.ix.functions.get(ctx.qualname)
    return [v for v in loss_values(ctx) if isinstance(v, ast.expr)] if info is not None \
        and info.root in _RETURNS_LOSS else []


def _unscaled(node: ast.expr, ctx: Context) -> ast.expr:
    """``(loss / accum_steps)`` -> ``loss``, ``scaler.scale(loss)`` -> ``loss``: what a backward
    call differentiates, less a scale that changes no term's share of it."""
    for _ in range(4):
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Mult)) and _setting(node.right, ctx):
            node = node.left
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and _setting(node.left, ctx):
            node = node.right
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "scale" \
                and len(node.args) == 1:
            node = node.args[0]  # AMP's `scaler.scale(loss)`
        else:
            break
    return node


def _summands(node: ast.AST, ctx: Context, hops: int, seen: frozenset[str], expanded: set[str],
              until: int) -> Iterator[ast.AST]:
    """The terms ``node`` adds up (``a - c * b`` -> ``a``, ``c * b``), through the assignments of
    a name made up to line ``until`` (``loss = ce; loss = loss + reg``: ``ce``, ``reg``); the
    names followed go to ``expanded``."""
    parts = _sum_parts(node)
    if parts is not None:
        for part in parts:
            yield from _summands(part, ctx, hops, seen, expanded, until)
    elif isinstance(node, ast.Name) and node.id in seen:
        return  # `loss = loss + reg`: the earlier value's terms are its other bindings'
    elif isinstance(node, ast.Name) and hops and node.id not in expanded:
        bound = [value for stmt, value in bindings(ctx).get(node.id, []) if getattr(stmt, "lineno", 0) <= until]
        values = [value for value in bound if value is not None]
        if not values or len(values) < len(bound) or all(_sum_parts(v) is None for v in values):
            yield node  # (a name bound to no sum is one term: `m` of `m = x.max().detach()`)
            return
        expanded.add(node.id)
        # `loss = loss + reg` adds to what came before; `loss = reduce(loss)` replaces it
        updates = [v for v in values if any(isinstance(n, ast.Name) and n.id == node.id for n in ast.walk(v))]
        added = all(_adds_to(v, node.id) for v in updates)
        for value in values:
            if added or value in updates:
                yield from _summands(value, ctx, hops - 1, seen | {node.id}, expanded, until)
    else:
        yield node


def _sum_parts(node: ast.AST) -> list[ast.expr] | None:
    """What ``node`` adds or subtracts (``a - b`` -> ``a``, ``b``; ``-a`` -> ``a``); None for no sum."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return [node.operand]
    return None


def _adds_to(value: ast.AST, name: str) -> bool:
    """``value`` reads ``name`` only as a term of a sum (``loss + reg``, ``loss - c * ent``)."""
    terms = [value]
    while terms:
        t = terms.pop()
        parts = _sum_parts(t)
        if parts is not None:
            terms += parts
        elif not (isinstance(t, ast.Name) and t.id == name) and any(
                isinstance(n, ast.Name) and n.id == name for n in ast.walk(t)):
            return False
    return True


def _holds(term: ast.AST, cut: ast.AST, block: ast.AST | None, ctx: Context, hops: int,
           seen: set[str] | None = None) -> bool:
    """``term`` holds the cut's value: the cut is inside it, or it reads a name bound from one
    that does (or, for ``no_grad``, bound inside its block). Each name is followed once."""
    if _inside(cut, term):
        return True
    if not hops:
        return False
    seen = set() if seen is None else seen
    for name in {n.id for n in ast.walk(term) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - seen:
        seen.add(name)
        for stmt, value in bindings(ctx).get(name, []):
            if block is not None and _inside(stmt, block):
                return True
            if value is not None and _holds(value, cut, block, ctx, hops - 1, seen):
                return True
    return False
