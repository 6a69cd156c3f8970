"""Steps on a prediction whose gradient was cut. ``mask = prob.detach().cpu().numpy() > 0.5``
that builds the distance field weighing a Hausdorff loss, or ``with torch.no_grad(): conf =
weak_logits.softmax(1).amax(1)`` then ``(conf >= t)`` choosing the pixels of a pseudo-label
loss: no gradient flows through the comparison, yet what it selects moves with the parameters,
so the loss jumps where a prediction crosses the threshold. That is a step of the loss (KC304)
that the detached-target guard must not excuse. A comparison only counts when its result goes
on to weigh, select or be added to a value that carries gradient; targets made from another
network's outputs (a teacher's) read as data already and are not this.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint import sinks
from kinkcheck.lint.grad_off import declared_loss
from kinkcheck.lint.resolve import ARRAY_ROOTS, DATA, PLAIN, PREDICTION_WORD_RE, TENSOR, UNKNOWN
from kinkcheck.syntax import callee_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: calls that cut the gradient of the value they are handed
_CUTS = frozenset({"detach", "stop_gradient"})
#: how many names a cut value, and then the comparison's result, is followed through
_HOPS = 3
#: calls a mask passes through on its way to the loss that only record it, or pack it beside
#: the loss in a container of outputs (`dict(loss=loss, pos_rate=...)`)
_RECORDING = frozenset({"append", "extend", "add_scalar", "log", "info", "debug", "warning", "print", "format",
                        "any", "all", "item", "tolist", "dict", "tuple", "list", "set", "SimpleNamespace",
                        "namedtuple", "update"})
#: a network other than the one trained: an EMA or momentum copy, a frozen reference, a teacher,
#: an earlier snapshot; its outputs are the targets of this one, fixed as its parameters move
OTHER_NETWORK_RE = lazy_pattern(r"(^|_)(ema|momentum|mom|ref|reference|old|prev|previous|frozen|teacher|tea|t|"
                                r"target|tgt)(_|$)", re.IGNORECASE)


def cut_prediction(node: ast.AST, ctx: Context, depth: int = _HOPS) -> bool:
    """``node`` is computed from this model's prediction (a parameter named like one) with its
    gradient cut: a ``.detach()`` or ``stop_gradient`` of it, or a name bound to it under
    ``no_grad``. Only the chain that computes the value is followed: an input detached on its
    way into another network (``self.teacher(x.detach())``) is none of it."""
    return _cut_from(node, ctx, depth, _prediction)


def cut_input(node: ast.AST, ctx: Context, depth: int = _HOPS) -> bool:
    """``node`` is computed, with its gradient cut, from an input of the loss that may carry
    gradient: ``align.detach()`` with ``align = align_loss(x, y)``, ``F.normalize(z1.detach())
    .std(0).mean()``, a name bound under ``no_grad`` to a function of them. Wider than
    :func:`cut_prediction` (any parameter not of data kind, through any call): for a branch of
    a loss, where only what the test reads decides it."""
    return _cut_from(node, ctx, depth, lambda n, c, d: _reads_input(n, c, d + 1))


def _cut_from(node: ast.AST, ctx: Context, depth: int, source: Callable[[ast.AST, Context, int], bool]) -> bool:
    """A cut (``detach``, ``stop_gradient``, a name bound under ``no_grad``) in the chain that
    computes ``node``, of a value ``source`` accepts; or ``node`` itself computed under
    ``no_grad`` (``weak_logits.softmax(1).max(1)`` in the block)."""
    if id(node) in ctx.no_grad_ids() and source(node, ctx, depth):
        return True
    for n in _chain(node, ctx):
        if isinstance(n, ast.Call) and callee_tail(n.func) in _CUTS:
            inner = n.func.value if isinstance(n.func, ast.Attribute) and callee_tail(n.func) == "detach" \
                and not ctx.is_module_ref(n.func.value) else (n.args[0] if n.args else None)
            if inner is not None and source(inner, ctx, depth):
                return True
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and depth:
            if OTHER_NETWORK_RE.search(n.id):
                return False
            listed = _listed_from(n, ctx)
            if listed is not None and source(listed, ctx, depth - 1):
                return True  # `for p in pt.tolist(): if p >= 0.5:`: the numbers of a tensor, cut
            value = ctx.definition(n.id) or _bound_value(n.id, ctx)  # `conf, pseudo = probs.max(1)`: the values
            if value is None or ctx.kind(n) != DATA:
                continue
            if id(value) in ctx.no_grad_ids() and source(value, ctx, depth - 1) \
                    or _cut_from(value, ctx, depth - 1, source):
                return True
    return False


def _listed_from(name: ast.Name, ctx: Context) -> ast.AST | None:
    """The tensor a loop variable takes its Python numbers from: ``pt`` of ``for p in
    pt.tolist():``, of ``for i, p in enumerate(pt.tolist())`` (``p``, not the counter ``i``),
    of ``for c, p in zip(classes, pt.tolist())`` (``p``, not ``c``)."""
    from kinkcheck.lint.bindings import IterItem

    values = ctx.assignments().get(name.id, ())
    if len(values) != 1 or not isinstance(item := values[0], IterItem):
        return None
    iterable = item.iterable
    if isinstance(iterable, ast.Call) and callee_tail(iterable.func) in ("enumerate", "zip") \
            and not any(isinstance(a, ast.Starred) for a in iterable.args):
        if item.index is None:
            return None  # the whole tuple of a zip, or the pair of an enumerate
        at = item.index - 1 if callee_tail(iterable.func) == "enumerate" else item.index
        if not 0 <= at < len(iterable.args) or callee_tail(iterable.func) == "enumerate" and at != 0:
            return None
        iterable = iterable.args[at]
    elif item.index is not None:
        return None
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute) and iterable.func.attr == "tolist" \
            and not iterable.args:
        return iterable.func.value
    return None


def _reads_input(node: ast.AST, ctx: Context, depth: int) -> bool:
    """``node`` reads a parameter of the function that may carry gradient, directly or through
    names bound in it; another network's output (a teacher's, a target network's: ``target``,
    ``teacher_out``) is no such input, whatever else is read beside it. Names called
    (``weight_fn(target)``) are not read."""
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    names = [n for n in ast.walk(node) if isinstance(n, ast.Name) and n.id not in ("self", "cls")
             and id(n) not in called and not OTHER_NETWORK_RE.search(n.id)]
    for n in names:
        if n.id in ctx.params and ctx.kind(n) not in (DATA, PLAIN):
            return True
        if depth and n.id not in ctx.params and any(_reads_input(v, ctx, depth - 1) for v in _values_of(n, ctx)):
            return True
    return False


def _values_of(name: ast.Name, ctx: Context) -> list[ast.AST]:
    """What is bound to ``name`` where it is read (every assignment that reaches the read, for a
    name rebound later: ``err = f(x)``, ``scale = err.detach().median()``, ``err = err / scale``)."""
    if ctx.parent(name) is not None:
        from kinkcheck.lint import flow

        found, _ = flow.reaching(name.id, name, ctx)
        return [v for _, v in found if v is not None]
    value = ctx.definition(name.id)
    return [value] if value is not None else []


def _chain(node: ast.AST, ctx: Context):
    """The nodes that compute ``node``'s value: through operators, subscripts and the array
    library's functions and methods, not into the arguments of other calls (a network, a
    helper: what they return is theirs)."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        if isinstance(n, ast.Call):
            func = n.func
            if isinstance(func, ast.Attribute) and not ctx.is_module_ref(func.value):
                todo.append(func.value)  # `prob.gather(1, idx)`, `logits.softmax(1)`: the receiver
            elif (ctx.qualify(func) or "").split(".")[0] in ARRAY_ROOTS:
                todo.extend(n.args)  # `torch.sigmoid(logits)`
        elif isinstance(n, (ast.BinOp, ast.UnaryOp, ast.Subscript, ast.Compare, ast.IfExp, ast.Attribute)):
            todo.extend(c for c in ast.iter_child_nodes(n) if isinstance(c, ast.expr))


def _prediction(node: ast.AST, ctx: Context, depth: int) -> bool:
    """``node`` is computed from a parameter named for a prediction (``logits``,
    ``weak_logits``, ``pred``), through its chain and names, and from no other network."""
    for n in _chain(node, ctx):
        if not isinstance(n, ast.Name):
            continue
        if OTHER_NETWORK_RE.search(n.id):
            return False
        if n.id in ctx.params and PREDICTION_WORD_RE.search(n.id) and ctx.kind(n) != DATA:
            return True
        value = _bound_value(n.id, ctx) if depth else None
        if value is not None and _prediction(value, ctx, depth - 1):
            return True
    return False


def _bound_value(name: str, ctx: Context) -> ast.AST | None:
    """The value of a name assigned once, also as an item of an unpacking (``conf, pred =
    probs.max(1)``: the values, then the positions)."""
    values = ctx.assignments().get(name, ())
    return values[0] if len(values) == 1 and isinstance(values[0], ast.AST) else None


def differentiated(node: ast.AST, ctx: Context) -> bool:
    """``node`` carries gradient: a tensor, or a value of unknown kind computed from a
    parameter named for a prediction (``conf`` of ``conf, pred = logits.softmax(1).max(1)``)."""
    k = ctx.kind(node)
    if k == TENSOR:
        return True
    return k == UNKNOWN and (any(isinstance(n, ast.Name) and n.id in ctx.params and PREDICTION_WORD_RE.search(n.id)
                                 for n in ast.walk(node)) or _prediction(node, ctx, _HOPS))


#: calls whose value is piecewise constant in their operand: an index, a sign, a bin
_PIECEWISE = frozenset({"argmax", "argmin", "sign", "round", "floor", "ceil", "trunc", "long", "int",
                        "bucketize", "searchsorted", "digitize"})


def stepped_prediction(node: ast.AST, ctx: Context, depth: int = _HOPS) -> bool:
    """``node`` reads a name bound to a piecewise-constant function of a value that carries
    gradient: an argmax (also the positions of ``conf, pred = probs.max(1)``), a sign, a
    rounding or integer cast, a bin index. A comparison of it (``pred == target``, ``bin_idx ==
    b``) is a mask that moves with the prediction although no gradient reaches it. Written
    inline (``logits.argmax(1) != y``) the step is reported where it is made, at the same
    place, and is not this."""
    for n in _chain(node, ctx):
        if isinstance(n, ast.Call) and callee_tail(n.func) in _PIECEWISE and depth < _HOPS:
            func = n.func
            inner = func.value if isinstance(func, ast.Attribute) and not ctx.is_module_ref(func.value) \
                else (n.args[0] if n.args else None)
            # in a loss by declaration what it is handed (`scores`) is the prediction unless it
            # says otherwise; an EMA copy's or a teacher's argmax is a target
            if inner is not None and (differentiated(inner, ctx) or ctx.kind(inner) == UNKNOWN and declared_loss(ctx)) \
                    and not any(isinstance(m, ast.Name) and OTHER_NETWORK_RE.search(m.id) for m in ast.walk(inner)):
                return True
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and depth:
            value = _bound_value(n.id, ctx)
            if value is not None and stepped_prediction(value, ctx, depth - 1):
                return True
    return False


def weighs_gradient(node: ast.AST, ctx: Context, follow: int = _HOPS) -> bool:
    """The value of ``node`` (a mask) goes on, through casts, reductions, calls and names, to
    multiply, divide, shift or index a value that carries gradient, or to be handed to a call
    beside one (``cross_entropy(logits, pseudo)``)."""
    child: ast.AST = node
    parent = ctx.parent(node)
    for _ in range(12):
        if parent is None:
            return False
        if isinstance(parent, ast.BinOp):
            other = parent.right if parent.left is child else parent.left
            if isinstance(parent.op, (ast.Mult, ast.Div, ast.Add, ast.Sub, ast.MatMult)) and differentiated(other, ctx):
                return True
        elif isinstance(parent, ast.Subscript):
            if parent.slice is child:
                return differentiated(parent.value, ctx)
        elif isinstance(parent, ast.Call):
            if callee_tail(parent.func) in _RECORDING:
                return False
            others = [*parent.args, *(k.value for k in parent.keywords)]
            if isinstance(parent.func, ast.Attribute) and parent.func is not child and not ctx.is_module_ref(parent.func.value):
                others.append(parent.func.value)
            if any(o is not child and differentiated(o, ctx) for o in others):
                return True
        elif isinstance(parent, ast.Assign) and parent.value is child and follow:
            names = {t.id for t in parent.targets if isinstance(t, ast.Name)}
            return any(weighs_gradient(use, ctx, follow - 1) for use in sinks.reads_after(parent, names, ctx))
        elif not isinstance(parent, _PASSED_THROUGH) or isinstance(parent, ast.IfExp) and parent.test is child:
            return False  # a condition, a statement, a comparison: it goes no further as a value
        child, parent = parent, ctx.parent(parent)
    return False


#: what hands a value on unchanged in kind (a method of the mask: its call comes next)
_PASSED_THROUGH = (ast.Attribute, ast.keyword, ast.UnaryOp, ast.Tuple, ast.List, ast.IfExp)
