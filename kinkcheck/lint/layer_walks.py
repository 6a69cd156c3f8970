"""The layers a loss walks (``for m in model.modules()``): their ``weight`` and ``bias`` are
learnable tensors, so a penalty on them (an L1 on the first layer, a group lasso) is a term
of the loss. :mod:`kinds` asks this of a ``.weight`` read off a value it thinks plain."""

from __future__ import annotations

import ast


#: the learnable tensors every layer names alike
LAYER_PARAMETERS = frozenset({"weight", "bias"})
#: the methods that walk a network's layers
_LAYER_WALKS = frozenset({"modules", "children", "named_modules", "named_children"})


def layer_of_walk(node: ast.AST, fn: ast.AST | None) -> bool:
    """``m`` of ``for m in model.modules()`` (or of a comprehension over it), or ``first =
    next(m for m in model.modules() if ...)``: a layer of a network, whose ``weight`` and
    ``bias`` are learnable (a penalty on them is a term of the loss)."""
    if not isinstance(node, ast.Name) or fn is None:
        return False

    def walks(iterable: ast.AST) -> bool:
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute) \
                and iterable.func.attr in _LAYER_WALKS:
            return True
        return isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) \
            and iterable.func.id in ("list", "reversed", "enumerate") and bool(iterable.args) and walks(iterable.args[0])

    def binds(target: ast.AST) -> bool:
        return isinstance(target, ast.Name) and target.id == node.id or isinstance(target, ast.Tuple) and any(
            isinstance(e, ast.Name) and e.id == node.id for e in target.elts)

    for n in ast.walk(fn):
        if isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)) and binds(n.target) and walks(n.iter):
            return True
        if isinstance(n, ast.Assign) and any(binds(t) for t in n.targets) and isinstance(n.value, ast.Call) \
                and isinstance(n.value.func, ast.Name) and n.value.func.id == "next" and n.value.args \
                and isinstance(n.value.args[0], ast.GeneratorExp) \
                and any(walks(g.iter) for g in n.value.args[0].generators):
            return True
    return False
