"""Cuts that change a loss's gradient although the loss keeps one.

A detached target, teacher or weight is deliberate and the loss keeps its gradient elsewhere
(``severing``). Two cuts are different:

- a scale statistic of the very value that is divided by it (``z / z.norm(dim=1,
  keepdim=True).detach()``, ``r / r.detach().std()``, ``mse(pred) / stop_gradient(var(pred))``):
  the normalised value's gradient loses the normaliser's own term (the radial part of a
  normalisation's Jacobian), so the loss is trained on a gradient that is not its own. A scale
  of another value (a reference cost fixed for the run) or a kernel bandwidth from a median
  heuristic is a setting, not this;
- a ``.data`` read computed with, of a value the loss also reads whole (``pt = logpt.data.exp()``
  weighing a focal loss of ``logpt``, ``exp(-s.data) * loss + s``) or of the module's own
  parameter: ``.data`` is the pre-``detach`` spelling of a cut that hides part of the term from
  autograd, and from its version checks. A target cut whole (``q_next.data``, a teacher's
  ``t_logits.data``), a value written to (``p.data.mul_(d)``, an EMA, a projection), handed on
  as a state or returned beside the loss is none of this.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint.resolve import ARRAY_ROOTS, DATA, PLAIN
from kinkcheck.lint.sinks import reads_after
from kinkcheck.lint.walk import walk_local
from kinkcheck.syntax import callee_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: statistics of a value's scale: dividing by one normalises the value
_SCALE_STATISTICS = frozenset({"norm", "vector_norm", "std", "var", "rms"})
#: what a normaliser passes through on its way to the division (a floor, a reshape, ``+ eps``)
_KEPT_BY = frozenset({"clamp", "clamp_min", "clip", "maximum", "fmax", "unsqueeze", "expand_as", "view", "reshape",
                      "to", "type_as", "squeeze", "sqrt"})
#: conversions to host values, reported as such; a second cut (``.data.detach()``); and the
#: statistics a running estimate reads off (``x.data.min()`` of a quantizer's observer)
_CONVERSIONS = frozenset({"numpy", "tolist", "item", "cpu", "detach", "min", "max", "amin", "amax", "aminmax", "mean",
                          "std", "var", "median", "quantile", "norm", "sum"})
#: how many names a normaliser is followed through before it divides
_HOPS = 2


def cut_own_scale(cut: ast.AST, ctx: Context) -> bool:
    """``cut`` (a ``.detach()`` or ``stop_gradient`` call, a ``.data`` read) takes a scale
    statistic of a value carrying gradient out of the graph, and the result divides an
    expression that reads that value (module docstring)."""
    found = _statistic(cut, ctx)
    if found is None:
        return False
    base, result = found
    if ctx.kind(base) in (DATA, PLAIN):
        return False
    return _divides_reader_of(result, base.id, ctx, _HOPS)


def cut_operand(cut: ast.AST, ctx: Context) -> ast.AST | None:
    if isinstance(cut, ast.Attribute) and cut.attr == "data":
        return cut.value
    if isinstance(cut, ast.Call):
        if isinstance(cut.func, ast.Attribute) and cut.func.attr in ("detach", "detach_") \
                and not ctx.is_module_ref(cut.func.value):
            return cut.func.value
        if callee_tail(cut.func) == "stop_gradient" and cut.args:
            return cut.args[0]
    return None


def _scale_of(value: ast.AST, ctx: Context) -> ast.Name | None:
    """The name whose scale ``value`` computes (``z`` of ``z.norm(dim=1)``, ``jnp.std(r)``)."""
    if not (isinstance(value, ast.Call) and callee_tail(value.func) in _SCALE_STATISTICS):
        return None
    func = value.func
    base = func.value if isinstance(func, ast.Attribute) and not ctx.is_module_ref(func.value) \
        else (value.args[0] if value.args else None)
    return base if isinstance(base, ast.Name) else None


def _statistic(cut: ast.AST, ctx: Context) -> tuple[ast.Name, ast.AST] | None:
    """(the normalised name, the expression holding its cut scale) for ``z.norm().detach()``,
    ``stop_gradient(var(pred))``, ``norm.detach()`` of ``norm = x.norm()``, and
    ``r.detach().std()`` (cut first, then measured)."""
    operand = cut_operand(cut, ctx)
    if operand is None:
        return None
    base = _scale_of(operand, ctx)
    if base is None and isinstance(operand, ast.Name):
        from kinkcheck.lint import flow

        found, _ = flow.reaching(operand.id, operand, ctx)
        values = [v for _, v in found if v is not None]
        if len(values) == 1:
            base = _scale_of(values[0], ctx)
    if base is not None:
        return base, cut
    attr = ctx.parent(cut)
    if isinstance(operand, ast.Name) and isinstance(attr, ast.Attribute) and attr.value is cut \
            and attr.attr in _SCALE_STATISTICS and isinstance(call := ctx.parent(attr), ast.Call) and call.func is attr:
        return operand, call
    return None


def _divides_reader_of(node: ast.AST, name: str, ctx: Context, hops: int) -> bool:
    """``node``'s value (through floors, reshapes, sums and products with other values, and
    names bound to it) is the divisor of an expression that reads ``name``."""
    child, parent = node, ctx.parent(node)
    for _ in range(10):
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div) and parent.right is child:
            return _reads(parent.left, name, ctx)
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.Add, ast.Mult)):
            child, parent = parent, ctx.parent(parent)
        elif isinstance(parent, ast.Attribute) and parent.value is child and parent.attr in _KEPT_BY \
                and isinstance(call := ctx.parent(parent), ast.Call) and call.func is parent:
            child, parent = call, ctx.parent(call)
        elif isinstance(parent, ast.Call) and child in parent.args and callee_tail(parent.func) in _KEPT_BY:
            child, parent = parent, ctx.parent(parent)
        elif isinstance(parent, ast.Assign) and parent.value is child and hops and len(parent.targets) == 1 \
                and isinstance(parent.targets[0], ast.Name):
            return any(_divides_reader_of(use, name, ctx, hops - 1)
                       for use in reads_after(parent, {parent.targets[0].id}, ctx))
        else:
            return False
    return False


def _reads(node: ast.AST, name: str, ctx: Context) -> bool:
    """``node`` reads ``name``, directly or through a name bound once to an expression that does
    (``num = (z1 * z2).sum(-1)``)."""
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            if n.id == name:
                return True
            value = ctx.definition(n.id) if n.id != name else None
            if value is not None and any(isinstance(m, ast.Name) and m.id == name for m in ast.walk(value)):
                return True
    return False


def data_computed_with(node: ast.AST, ctx: Context) -> bool:
    """``node`` is a ``.data`` read of a value carrying gradient whose result is computed with
    (an operand of arithmetic, through the array library's functions and methods and names
    bound to it), not written to nor handed on (module docstring)."""
    if not (isinstance(node, ast.Attribute) and node.attr == "data" and isinstance(node.ctx, ast.Load)):
        return False
    if ctx.kind(node.value) in (DATA, PLAIN):
        return False
    if not (learned_attribute(node.value, ctx) or _read_uncut(node.value, ctx)):
        return False  # `q_next.data`, `t_logits.data / T`: a target cut whole, the old `detach`
    return _in_arithmetic(node, ctx, _HOPS)


def _read_uncut(value: ast.AST, ctx: Context) -> bool:
    """``value`` is also read with its gradient elsewhere in the function (``logpt`` beside
    ``logpt.data.exp()`` in a focal loss): the cut takes only part of its gradient away."""
    shape = ast.dump(value)
    for n in walk_local(ctx.fn):
        if n is value or not isinstance(n, (ast.Name, ast.Attribute, ast.Subscript)) or ast.dump(n) != shape:
            continue
        parent = ctx.parent(n)
        if isinstance(parent, ast.Attribute) and parent.attr in ("data", "detach", "detach_"):
            continue
        if isinstance(getattr(n, "ctx", None), ast.Load):
            return True
    return False


def _in_arithmetic(node: ast.AST, ctx: Context, hops: int) -> bool:
    child, parent = node, ctx.parent(node)
    for _ in range(8):
        if isinstance(parent, (ast.BinOp, ast.UnaryOp)):
            return True
        if isinstance(parent, ast.Attribute) and parent.value is child:
            call = ctx.parent(parent)
            if parent.attr.endswith("_") or parent.attr in _CONVERSIONS or parent.attr.startswith("new_") \
                    or not (isinstance(call, ast.Call) and call.func is parent):
                # written to in place (`p.data.mul_(d)`), an attribute of it, converted to a
                # host value (`.data.cpu().numpy()`: one site, KC502's), or only the template
                # of a new array (`x.data.new_ones(n, d)`: its shape and dtype)
                return False
            child, parent = call, ctx.parent(call)
        elif isinstance(parent, ast.Call) and child in parent.args \
                and (ctx.qualify(parent.func) or "").split(".")[0] in ARRAY_ROOTS:
            child, parent = parent, ctx.parent(parent)  # `torch.exp(-s.data)`, `F.log_softmax(w.data, 0)`
        elif isinstance(parent, ast.Assign) and parent.value is child and hops and len(parent.targets) == 1 \
                and isinstance(parent.targets[0], ast.Name):
            return any(_in_arithmetic(use, ctx, hops - 1) for use in reads_after(parent, {parent.targets[0].id}, ctx))
        else:
            return False
    return False


def learned_attribute(node: ast.AST | None, ctx) -> bool:
    """``node`` reads an attribute the class makes an ``nn.Parameter`` (``self.log_tau.exp()``):
    converted to a number it is no normaliser by a count but the parameter's only way into
    the loss, cut (``sim / self.log_tau.exp().item()`` trains no temperature)."""
    if node is None:
        return False
    assigns = ctx.fa.self_assigns()
    return any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
               and any(isinstance(v, ast.Call) and callee_tail(v.func) == "Parameter" for v in assigns.get(n.attr, ()))
               for n in ast.walk(node))
