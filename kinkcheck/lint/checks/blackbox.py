"""KC503 ``.data``, KC505 numpy/scipy inside torch or jax loss code, KC506 ``no_grad``."""

from __future__ import annotations

import ast

from kinkcheck.lint.checks import Site, node_check, refine
from kinkcheck.lint.resolve import PLAIN, TENSOR, UNKNOWN, const_value


@node_check("KC503", ast.Attribute)
def data_attribute(node: ast.Attribute, ctx):
    """``x.data`` reads a tensor's storage without autograd; in loss code the gradient
    through it is silently zero. ``self.data`` / ``batch.data`` of non-tensors are skipped."""
    if node.attr != "data" or not isinstance(node.ctx, ast.Load):
        return
    base = node.value
    if isinstance(base, ast.Name) and base.id in ("self", "cls"):
        return
    k = ctx.kind(base)
    if k not in (TENSOR, UNKNOWN) or ctx.is_module_ref(base):
        return
    yield Site("KC503", node, ".data", base, None, "medium" if k == TENSOR else "low", node, "node")


def _foreign(q: str | None) -> bool:
    return bool(q) and q.split(".")[0] in ("numpy", "scipy")


@node_check("KC505", ast.Call)
def foreign_array_library(node: ast.Call, ctx):
    """A numpy/scipy call on a tensor-ish value in code that uses torch or jax: autodiff
    cannot see through it. Calls on Python numbers (``np.log(2)``) are not flagged."""
    if not ctx.imports_framework():
        return
    q = ctx.qualify(node.func)
    if not _foreign(q) or ctx.how not in ("import", "star"):
        return
    args = [*node.args, *(k.value for k in node.keywords)]
    kinds = [ctx.kind(a) for a in args]
    if not kinds or all(k not in (TENSOR, UNKNOWN) for k in kinds):
        return
    conf = "high" if TENSOR in kinds else "medium"
    yield Site("KC505", node, ctx.source(node.func), args[kinds.index(TENSOR) if TENSOR in kinds else kinds.index(UNKNOWN)], q, conf, node, "node")


@refine("KC506")
def no_grad(site: Site, ctx):
    """``torch.set_grad_enabled(True)`` turns gradients on; only a False (or unknown) flag counts."""
    call = site.call
    if (site.qname or "").endswith("set_grad_enabled") and isinstance(call, ast.Call):
        arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "mode"), None)
        if isinstance(arg, ast.Constant) and arg.value is True:
            return None
    return site.with_(operand=None)
