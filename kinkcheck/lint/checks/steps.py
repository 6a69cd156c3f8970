"""KC304: a comparison used as a number (a mask multiplied in, a 0/1 loss)."""

from __future__ import annotations

import ast

from kinkcheck.lint.checks import Site, node_check
from kinkcheck.lint.checks.branch import value_comparison
from kinkcheck.lint.resolve import TENSOR

AS_NUMBER_METHODS = frozenset({"float", "double", "half", "bfloat16", "to", "type", "type_as", "long", "int",
                               "sum", "mean", "nansum", "nanmean", "prod", "cumsum", "mul", "add", "sub"})
AS_NUMBER_FUNCS = frozenset({"sum", "mean", "nansum", "nanmean", "prod", "cumsum", "mul", "multiply", "add",
                             "astype", "asarray", "float32", "float64"})


@node_check("KC304", ast.Compare)
def comparison_as_mask(node: ast.Compare, ctx):
    k = value_comparison(node, ctx, follow=0)
    if k is None:
        return
    child, parent = node, ctx.parent(node)
    used = False
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.Mult, ast.Add, ast.Sub, ast.Div, ast.MatMult)):
        used = True
    elif isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub):
        used = True
    elif isinstance(parent, ast.Attribute) and parent.attr in AS_NUMBER_METHODS and isinstance(ctx.parent(parent), ast.Call):
        used = True
    elif isinstance(parent, ast.Call) and child in parent.args:
        f = parent.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        if name in AS_NUMBER_FUNCS or name == "float":
            used = True
    if not used:
        return
    yield Site("KC304", node, "comparison", node, None, "medium" if k == TENSOR else "low", node, "node")

