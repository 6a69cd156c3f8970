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
from typing import TYPE_CHECKING

from kinkcheck.lint.resolve import DATA, PREDICTION_WORD_RE, TENSOR, UNKNOWN
from kinkcheck.syntax import callee_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: calls that cut the gradient of the value they are handed
_CUTS = frozenset({"detach", "stop_gradient"})
#: how many names a cut value, and then the comparison's result, is followed through
_HOPS = 3
#: calls a mask passes through on its way to the loss that only record it
_RECORDING = frozenset({"append", "extend", "add_scalar", "log", "info", "debug", "warning", "print", "format",
                        "any", "all", "item", "tolist"})


def cut_prediction(node: ast.AST, ctx: Context, depth: int = _HOPS) -> bool:
    """``node`` is computed from a value that carries gradient, with the gradient cut: a
    ``.detach()`` or ``stop_gradient`` of one, or a name bound to one under ``no_grad``."""
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and callee_tail(n.func) in _CUTS:
            inner = n.func.value if isinstance(n.func, ast.Attribute) and callee_tail(n.func) == "detach" \
                and not ctx.is_module_ref(n.func.value) else (n.args[0] if n.args else None)
            if inner is not None and _differentiated(inner, ctx):
                return True
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and depth:
            value = ctx.definition(n.id)
            if value is None or ctx.kind(n) != DATA:
                continue
            if id(value) in ctx.no_grad_ids() and _differentiated(value, ctx) or cut_prediction(value, ctx, depth - 1):
                return True
    return False


def _differentiated(node: ast.AST, ctx: Context) -> bool:
    """``node`` carries gradient where it is not cut: a tensor, or a value of unknown kind
    computed from a parameter named for a prediction (``weak_logits.softmax(1)``)."""
    k = ctx.kind(node)
    if k == TENSOR:
        return True
    return k == UNKNOWN and any(isinstance(n, ast.Name) and n.id in ctx.params and PREDICTION_WORD_RE.search(n.id)
                                for n in ast.walk(node))


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
            if isinstance(parent.op, (ast.Mult, ast.Div, ast.Add, ast.Sub, ast.MatMult)) and _differentiated(other, ctx):
                return True
        elif isinstance(parent, ast.Subscript):
            if parent.slice is child:
                return _differentiated(parent.value, ctx)
        elif isinstance(parent, ast.Call):
            if callee_tail(parent.func) in _RECORDING:
                return False
            others = [*parent.args, *(k.value for k in parent.keywords)]
            if isinstance(parent.func, ast.Attribute) and parent.func is not child and not ctx.is_module_ref(parent.func.value):
                others.append(parent.func.value)
            if any(o is not child and _differentiated(o, ctx) for o in others):
                return True
        elif isinstance(parent, ast.Assign) and parent.value is child and follow:
            names = {t.id for t in parent.targets if isinstance(t, ast.Name)}
            return any(weighs_gradient(use, ctx, follow - 1) for use in _loads_after(parent, names, ctx))
        elif not isinstance(parent, _PASSED_THROUGH) or isinstance(parent, ast.IfExp) and parent.test is child:
            return False  # a condition, a statement, a comparison: it goes no further as a value
        child, parent = parent, ctx.parent(parent)
    return False


#: what hands a value on unchanged in kind (a method of the mask: its call comes next)
_PASSED_THROUGH = (ast.Attribute, ast.keyword, ast.UnaryOp, ast.Tuple, ast.List, ast.IfExp)


def _loads_after(assign: ast.Assign, names: set[str], ctx: Context):
    from kinkcheck.lint.checks.steps import _loads_after as loads

    return loads(assign, names, ctx)
