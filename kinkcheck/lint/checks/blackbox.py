"""KC503 ``.data``, KC505 numpy/scipy inside torch or jax loss code, KC506 ``no_grad``; KC502,
KC504, KC507 and KC508 are matched from the catalog and refined here."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint import namespaces
from kinkcheck.lint.checks import Site, node_check, refine
from kinkcheck.lint.flow import collective_arguments
from kinkcheck.lint.resolve import (
    ARRAY_LIBRARIES,
    DATA,
    INTEGER_DTYPES,
    PLAIN,
    TENSOR,
    UNKNOWN,
)
from kinkcheck.syntax import SCALAR_CASTS, dotted

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context


@node_check("KC503", ast.Attribute)
def data_attribute(node: ast.Attribute, ctx: Context):
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
    if k == UNKNOWN and _foreign_result(base, ctx):
        return  # sklearn's `load_digits().data`, a Bunch or a record: not a tensor
    yield Site("KC503", node, ".data", base, None, "medium" if k == TENSOR else "low", node, "node")


def _foreign_result(node: ast.AST, ctx: Context, depth: int = 2) -> bool:
    """``node`` is (a name assigned once from) a call into a library that is not an array
    framework, or a constructor of a class: its ``.data`` is that object's field."""
    while isinstance(node, ast.Name) and depth:
        value = ctx.definition(node.id)
        if value is None:
            return False
        node, depth = value, depth - 1
    if not isinstance(node, ast.Call):
        return False
    q = ctx.qualify(node.func)
    if q is None:
        return False
    if ctx.how in ("import", "star"):
        return q.split(".")[0] not in ARRAY_LIBRARIES
    return ctx.how in ("def", "instance") and q.rsplit(".", 1)[-1][:1].isupper()


def _numpy_value(node: ast.AST, ctx: Context, depth: int = 2) -> bool:
    """``node`` is (a name assigned once from) the result of a numpy/scipy call."""
    while isinstance(node, ast.Name) and depth:
        value = ctx.definition(node.id)
        if value is None:
            return False
        node, depth = value, depth - 1
    if isinstance(node, ast.Call):
        return _foreign(ctx.qualify(node.func)) and ctx.how in ("import", "star")
    return False


def _foreign(q: str | None) -> bool:
    return q is not None and q.split(".")[0] in ("numpy", "scipy")


#: numpy functions whose result has no gradient in any framework (truth values, positions,
#: counts): the torch or jax equivalent would give the loss no gradient either, so computing
#: them in numpy cuts nothing (a replay buffer's `np.logical_or(dones, timeouts)`)
GRADIENT_FREE = frozenset({
    "logical_and", "logical_or", "logical_not", "logical_xor", "isnan", "isinf", "isfinite", "isposinf",
    "isneginf", "isclose", "allclose", "array_equal", "array_equiv", "equal", "not_equal", "greater",
    "greater_equal", "less", "less_equal", "any", "all", "argmax", "argmin", "argsort", "argwhere", "nonzero",
    "flatnonzero", "count_nonzero", "searchsorted", "digitize", "bincount", "isin", "in1d", "signbit",
    # constants of a shape, grids and a dtype's facts: built from sizes, never from values
    # (`np.ones_like(ids)`, `np.arange(n)`, `np.finfo(dtype).eps`)
    "zeros", "ones", "empty", "zeros_like", "ones_like", "empty_like", "arange", "linspace", "logspace", "eye",
    "identity", "finfo", "iinfo", "dtype", "shape", "ndim", "size", "result_type", "promote_types",
    # what is read from files (weights, fixtures)
    "load", "loadtxt", "genfromtxt", "fromfile", "frombuffer", "save", "savez", "savetxt",
})
#: numpy modules whose functions take no array value in: draws and seeding
_GRADIENT_FREE_MODULES = ("numpy.random.",)


def jax_raises(ctx: Context) -> bool:
    """A file that differentiates with JAX alone: JAX raises on a traced value that leaves it
    (``np.asarray``/``np.sqrt`` of a tracer: TracerArrayConversionError; ``float``,
    ``math.floor``: ConcretizationTypeError, under ``jax.grad`` and ``jit`` alike), so such a
    conversion that runs converts concrete data (a replay batch, a logged loss): nothing is cut
    silently. ``.item()``, ``int`` and ``bool`` are not among them: under an un-jitted
    ``jax.grad`` they return the primal's value, a silent cut."""
    return ctx.fa.jax_only


#: casts that raise on a JAX tracer under ``jax.grad`` (``int``/``bool`` return its value)
_JAX_RAISING_CASTS = frozenset({"builtins.float", "math.floor", "math.ceil"})


@node_check("KC505", ast.Call)
def foreign_array_library(node: ast.Call, ctx: Context):
    """A numpy/scipy call on a tensor-ish value in code that uses torch or jax: autodiff
    cannot see through it. Calls on Python numbers (``np.log(2)``) are not flagged, nor any
    in JAX-only code (see ``jax_raises``)."""
    if not ctx.imports_framework() or jax_raises(ctx):
        return
    q = ctx.qualify(node.func)
    if q is None or not _foreign(q) or ctx.how not in ("import", "star") \
            or (q.startswith("numpy.") and q.rsplit(".", 1)[-1] in GRADIENT_FREE) \
            or q.startswith(_GRADIENT_FREE_MODULES):
        return
    if namespaces.through_backend(ctx, node.func):
        return  # `nx.sum(p)` of `nx = get_backend(p)`: the framework's own function
    catalog = getattr(ctx.fa, "catalog", None)
    conversion = catalog.get("KC502") if catalog is not None else None
    if conversion is not None and q in conversion.match.callables:
        return  # `np.array(t)`: one site, one finding (KC502's, the conversion)
    args = [*node.args, *(k.value for k in node.keywords)]
    # a numpy array is data in torch/jax code, but a numpy call on it is still numpy
    # inside loss code (``np.tanh(np.bincount(...))``)
    kinds = [UNKNOWN if k == DATA and _numpy_value(a, ctx) else k for a, k in ((a, ctx.kind(a)) for a in args)]
    if not kinds or all(k not in (TENSOR, UNKNOWN) for k in kinds):
        return
    conf = "high" if TENSOR in kinds else "medium"
    yield Site("KC505", node, ctx.source(node.func), args[kinds.index(TENSOR) if TENSOR in kinds else kinds.index(UNKNOWN)], q, conf, node, "node")


@refine("KC506")
def no_grad(site: Site, ctx: Context):
    """``torch.set_grad_enabled(True)`` turns gradients on; only a False (or unknown) flag counts."""
    call = site.call
    if (site.qname or "").endswith("set_grad_enabled") and isinstance(call, ast.Call):
        arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "mode"), None)
        if isinstance(arg, ast.Constant) and arg.value is True:
            return None
    return site.with_(operand=None)


#: the number casts as the import table qualifies them
BUILTIN_CASTS = frozenset(f"builtins.{c}" for c in SCALAR_CASTS)


@refine("KC504")
def python_scalar(site: Site, ctx: Context):
    """``float(self.margin)`` / ``int(cfg.steps[0])``: an attribute (or an item of one)
    whose kind is unknown is a config value or a counter, not a tensor. A value known to be
    a tensor, an unknown name (``float(pred)``) or an expression (``float(d.mean())``)
    counts; data (targets, numpy arrays in torch code) does not. ``math.floor`` /
    ``math.ceil`` keep the generic judgement."""
    if site.qname in _JAX_RAISING_CASTS and jax_raises(ctx):
        return None  # float(tracer) raises ConcretizationTypeError: a cast that runs casts data
    if site.qname not in BUILTIN_CASTS:
        return site
    operand = site.operand
    if operand is None:
        return None
    k = ctx.kind(operand)
    if k in (PLAIN, DATA):
        return None  # float(mask.sum()), int(np.argmax(...)): no gradient to cut
    if k == UNKNOWN:
        inner = operand
        while isinstance(inner, ast.Subscript):
            inner = inner.value
        if isinstance(inner, ast.Attribute):
            return None
    return site


@refine("KC502")
def numpy_conversion(site: Site, ctx: Context):
    """In JAX-only code a conversion that runs converts concrete data (see ``jax_raises``)."""
    return None if jax_raises(ctx) else site


@refine("KC507")
def tensor_copy(site: Site, ctx: Context):
    """``torch.tensor(alpha * div)``, ``torch.tensor([l1, l2])``: only a value known to carry
    gradient counts. An unknown one is nearly always data being wrapped (``torch.tensor(
    images / 16.0)`` of a loader's arrays, an ``avg_factor`` unpacked from the targets)."""
    if site.operand is None or ctx.kind(site.operand) != TENSOR:
        return None
    dtype = next((kw.value for kw in site.call.keywords if kw.arg == "dtype"), None) if isinstance(site.call, ast.Call) else None
    if dtype is not None and (dotted(dtype) or "").rsplit(".", 1)[-1] in INTEGER_DTYPES:
        return None  # `torch.tensor(idx, dtype=torch.long)`: an integer tensor carries no gradient anyway
    return site


@refine("KC508")
def collective(site: Site, ctx: Context):
    """``dist.all_gather(buffers, z)``, ``dist.all_reduce(c)``: only a tensor that may carry
    gradient counts (``dist.all_reduce(n_valid)`` of a count cuts nothing); whether what the
    collective writes reaches the loss is the black-box check's (``flow.reaches_loss``)."""
    call = site.call
    if not isinstance(call, ast.Call):
        return None
    # `from torch.distributed import all_gather as ag`: the matched name says which it is
    _, operand = collective_arguments(call, (site.qname or "").rsplit(".", 1)[-1])
    if operand is None or ctx.kind(operand) in (PLAIN, DATA):
        return None
    return site.with_(operand=operand)
