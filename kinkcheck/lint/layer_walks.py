"""The layers a loss walks (``for m in model.modules()``): their ``weight`` and ``bias`` are
learnable tensors, so a penalty on them (an L1 on the first layer, a group lasso) is a term
of the loss. :mod:`kinds` asks this of a ``.weight`` read off a value it thinks plain."""

from __future__ import annotations

import ast


#: the learnable tensors every layer names alike
LAYER_PARAMETERS = frozenset({"weight", "bias"})
#: the methods that walk a network's layers
_LAYER_WALKS = frozenset({"modules", "children", "named_modules", "named_children"})


def layer_of_walk(node: ast.AST, ctx) -> bool:
    """``m`` of ``for m in model.modules()`` (or of a comprehension over it, or of ``for i,
    (name, m) in enumerate(model.named_modules())``), or ``first = next(m for m in
    model.modules() if ...)``: a layer of a network, whose ``weight`` and ``bias`` are
    learnable (a penalty on them is a term of the loss)."""
    fn = getattr(ctx, "fn", None)
    if not isinstance(node, ast.Name) or fn is None:
        return False
    walked = ctx.__dict__.get("_layer_walk_names")
    if walked is None:  # one pass over the function a Context checks, on its first `.weight`
        walked = ctx.__dict__["_layer_walk_names"] = _walked_layers(fn)
    return node.id in walked


def _walked_layers(fn: ast.AST) -> frozenset[str]:
    """The names ``fn`` binds to the layers of a network it walks (one pass over its body)."""
    out: set[str] = set()
    for n in ast.walk(fn):
        if isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)) and _walks(n.iter):
            out.update(_names(n.target))
        elif isinstance(n, ast.Assign) and isinstance(n.value, ast.Call) and isinstance(n.value.func, ast.Name) \
                and n.value.func.id == "next" and n.value.args and isinstance(n.value.args[0], ast.GeneratorExp) \
                and any(_walks(g.iter) for g in n.value.args[0].generators):
            for t in n.targets:
                out.update(_names(t))
    return frozenset(out)


def _walks(iterable: ast.AST) -> bool:
    """``model.modules()``, ``list(model.children())``, ``enumerate(model.named_modules())``."""
    if not isinstance(iterable, ast.Call):
        return False
    if isinstance(iterable.func, ast.Attribute):
        return iterable.func.attr in _LAYER_WALKS
    return isinstance(iterable.func, ast.Name) and iterable.func.id in ("list", "reversed", "enumerate", "tuple") \
        and bool(iterable.args) and _walks(iterable.args[0])


def _names(target: ast.AST) -> set[str]:
    """The names a target binds, at any depth of nesting (``i, (name, m)``)."""
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
