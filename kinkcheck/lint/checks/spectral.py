"""KC208: matrix decompositions (svd, eigh, cholesky) and the matrix norms built on them.

The catalog names the decompositions; this module decides what their sites mean: a
decomposition whose singular vectors are thrown away (``_, S, _ = svd(z)``) is read like
``svdvals``, singular values that are squared have no kink at 0 left, a diagonal jitter
(``cov + eps * torch.eye(d)`` with eps > 0) keeps the spectrum off 0, and a nuclear or
spectral norm (``matrix_norm(x, ord="nuc")``, ``torch.norm(x, p="nuc")``) is a site of its
own although KC203 names the same callables for its Euclidean reading.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint.checks import Site, node_check, refine
from kinkcheck.lint.resolve import DATA, PLAIN, const_value, is_eps_like
from kinkcheck.syntax import callee_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: decompositions returning a tuple, and the position of the values in it (the rest are vectors)
VALUES_AT = {"svd": 1, "svd_lowrank": 1, "pca_lowrank": 1, "eigh": 0, "eig": 0}
#: the named field of the values in torch's result tuples
VALUE_FIELDS = frozenset({"S", "eigenvalues"})
#: decompositions whose result is the values only
VALUES_ONLY = frozenset({"svdvals", "eigvalsh", "eigvals"})
#: singular values only kink at 0 (the spectrum of z^T z is smooth there), eigenvalues at ties
SQUARABLE = frozenset({"svd", "svdvals", "svd_lowrank", "pca_lowrank"})

#: the norms KC203 names, with the position of their order argument (a method: the first)
NORMS = {
    "torch.linalg.matrix_norm": ("ord", 1),
    "torch.linalg.norm": ("ord", 1),
    "torch.norm": ("p", 1),
    "numpy.linalg.norm": ("ord", 1),
    "numpy.linalg.matrix_norm": ("ord", 1),
    "jax.numpy.linalg.norm": ("ord", 1),
    "jax.numpy.linalg.matrix_norm": ("ord", 1),
}
#: norms that are always of a matrix (ord=2 is the spectral norm there)
MATRIX_ONLY = frozenset({"torch.linalg.matrix_norm", "numpy.linalg.matrix_norm", "jax.numpy.linalg.matrix_norm"})


def _tail(site: Site) -> str:
    return (site.qname or site.callee).strip(".()").rsplit(".", 1)[-1]


@refine("KC208", names=("matrix_norm", "norm"))
def spectral_degenerate(site: Site, ctx: Context):
    """A decomposition of a value with a gradient. Its singular values alone, squared, are
    smooth at 0 (``svdvals(z) ** 2``, z^T z's spectrum); a jitter of eps > 0 on the diagonal
    keeps values and cholesky's pivots off 0 but not singular vectors off a tie, so it guards
    only a decomposition whose vectors are not used."""
    operand = site.operand
    if operand is not None and ctx.kind(operand) in (PLAIN, DATA):
        return None  # a decomposition of constants or labels has no slope to blow up
    tail = _tail(site)
    vectors = tail in VALUES_AT and not _values_only(site.call, VALUES_AT[tail], ctx)
    if not vectors and tail in SQUARABLE and _squared(site.call, tail, ctx):
        return None
    if not vectors and operand is not None and _jittered(operand, ctx):
        return None  # eps * I keeps values and pivots off 0 (vectors never get here)
    if not vectors and tail != "cholesky":
        # the values alone (a nuclear or spectral norm, svdvals, eigvalsh) are finite with a
        # finite slope on both sides of a zero or a tie: a cone like |x|, a kink
        return site.with_(category="kink")
    return site


def _values_only(call: ast.AST, index: int, ctx: Context) -> bool:
    """``_, S, _ = svd(z)`` (or names never read), ``svd(z).S``, ``eigh(c)[0]``,
    ``svd(z, compute_uv=False)``: the vectors are not used."""
    if isinstance(call, ast.Call):
        for kw in call.keywords:
            if kw.arg in ("compute_uv", "eigenvectors") and isinstance(kw.value, ast.Constant) and \
                    kw.value.value is False:
                return True
    parent = ctx.parent(call)
    if isinstance(parent, ast.Attribute) and parent.value is call:
        return parent.attr in VALUE_FIELDS
    if isinstance(parent, ast.Subscript) and parent.value is call:
        return const_value(parent.slice) == index
    if isinstance(parent, ast.Assign) and parent.value is call and len(parent.targets) == 1:
        target = parent.targets[0]
        if isinstance(target, (ast.Tuple, ast.List)) and index < len(target.elts):
            others = [e for i, e in enumerate(target.elts) if i != index]
            return all(isinstance(e, ast.Name) and (e.id.startswith("_") or not _loads(e.id, ctx)) for e in others)
    return False


def _loads(name: str, ctx: Context) -> list[ast.Name]:
    """Where the function reads ``name``."""
    from kinkcheck.lint.walk import walk_local

    return [n for n in walk_local(ctx.fn) if isinstance(n, ast.Name) and n.id == name
            and isinstance(n.ctx, ast.Load) and ctx.parent(n) is not None]


def _squared(call: ast.AST, tail: str, ctx: Context) -> bool:
    """The singular values are squared where they are read: ``svdvals(z) ** 2``,
    ``svdvals(z).pow(2)``, ``torch.square(...)``, or ``S ** 2`` of ``_, S, _ = svd(z)``."""
    value: ast.AST = call
    parent = ctx.parent(call)
    if tail in VALUES_AT:
        if isinstance(parent, (ast.Attribute, ast.Subscript)):
            value, parent = parent, ctx.parent(parent)
        elif isinstance(parent, ast.Assign):
            target = parent.targets[0]
            name = target.elts[VALUES_AT[tail]] if isinstance(target, (ast.Tuple, ast.List)) else None
            return isinstance(name, ast.Name) and _every_use_squared(name.id, ctx)
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
        return _every_use_squared(parent.targets[0].id, ctx)
    return _is_squared(value, ctx)


def _every_use_squared(name: str, ctx: Context) -> bool:
    uses = _loads(name, ctx)
    return bool(uses) and all(_is_squared(u, ctx) for u in uses)


def _is_squared(value: ast.AST, ctx: Context) -> bool:
    parent = ctx.parent(value)
    if isinstance(parent, ast.BinOp) and parent.left is value and isinstance(parent.op, ast.Pow):
        exponent = const_value(parent.right)
        return exponent is not None and exponent >= 2 and exponent == int(exponent) and exponent % 2 == 0
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult):
        return ast.dump(parent.left) == ast.dump(parent.right)
    method = ctx.method_call(value)
    if method is not None:
        attr, call = method
        return attr.attr == "square" or (attr.attr == "pow" and len(call.args) == 1 and const_value(call.args[0]) == 2)
    if isinstance(parent, ast.Call) and parent.args and parent.args[0] is value:
        return callee_tail(parent.func) == "square"
    return False


def _jittered(operand: ast.AST, ctx: Context) -> bool:
    """``cov + eps * torch.eye(d)``, ``eye * 1e-4 + a @ a.T``, ``k + F.softplus(s) * eye``
    (a name assigned once is followed): a positive multiple of the identity added. An eps
    whose value is known to be 0 (a default ``eps=0``) is no jitter."""
    from kinkcheck.lint.ranges import is_positive, numeric_value, range_of

    node = operand
    for _ in range(3):
        value = ctx.definition(node.id) if isinstance(node, ast.Name) else None
        if value is None:
            break
        node = value
    helper = _helper_sum(node, ctx)
    terms = _sum_terms(helper[0] if helper else node)
    if len(terms) < 2:
        return False
    for term in terms:
        if not (isinstance(term, ast.BinOp) and isinstance(term.op, ast.Mult)):
            continue
        pairs: tuple[tuple[ast.AST, ast.AST], ...] = ((term.left, term.right), (term.right, term.left))
        for scale, other in pairs:
            if not _identity(other, ctx):
                continue
            if helper is not None and isinstance(scale, ast.Name):
                if scale.id not in helper[1]:
                    continue
                scale = helper[1][scale.id]  # the helper's jitter parameter: what this call hands it
            v = numeric_value(scale, ctx)
            if v is not None and v > 0 or v is None and (is_eps_like(scale) or is_positive(range_of(scale, ctx))):
                return True
    return False


def _helper_sum(node: ast.AST, ctx: Context) -> tuple[ast.expr, dict[str, ast.expr]] | None:
    """``_add_jitter(K, jitter)`` of a one-line helper of this file (``return K + jitter *
    jnp.eye(n)``): its returned sum, and what the call hands each of its parameters."""
    from kinkcheck.lint.ranges_returned import own_function

    if not isinstance(node, ast.Call) or (q := own_function(node, ctx)) is None:
        return None
    fn = ctx.fa.ix.scopes[q][0]
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    body = [b for b in fn.body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None \
            or any(isinstance(a, ast.Starred) for a in node.args):
        return None
    names = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
    handed: dict[str, ast.expr] = dict(zip(names, node.args))
    handed.update((k.arg, k.value) for k in node.keywords if k.arg)
    return body[0].value, handed


def _sum_terms(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _sum_terms(node.left) + _sum_terms(node.right)
    return [node]


def _identity(node: ast.AST, ctx: Context) -> bool:
    """``torch.eye(d)``, ``jnp.eye(n, dtype=...)``, or a name assigned once from one."""
    value = ctx.definition(node.id) if isinstance(node, ast.Name) else None
    if value is not None:
        node = value
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
            "type", "to", "type_as", "float", "double", "unsqueeze", "expand_as", "expand"):
        node = node.func.value  # torch.eye(d).type(f_cov.type())
    if not isinstance(node, ast.Call):
        return False
    return callee_tail(node.func) in ("eye", "identity")


@node_check("KC208", ast.Call, names=("matrix_norm", "norm"))
def spectral_norm(node: ast.Call, ctx: Context):
    """A nuclear norm (``ord="nuc"``, ``p="nuc"``) anywhere, and a spectral norm
    (``ord=2`` / ``-2``) where the norm is certainly of a matrix: ``matrix_norm``, or
    ``linalg.norm`` over two dims."""
    from kinkcheck.lint import sinks

    func = node.func
    method = False
    q = ctx.qualify(func)
    if q not in NORMS:
        if not (isinstance(func, ast.Attribute) and func.attr == "norm") or ctx.is_module_ref(func.value):
            return
        if isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
            return
        method = True
    key, pos = ("p", 0) if method else NORMS[q or ""]
    order = next((kw.value for kw in node.keywords if kw.arg == key), None)
    if order is None and len(node.args) > pos:
        order = node.args[pos]
    if order is None:
        return
    value = order.value if isinstance(order, ast.Constant) else const_value(order)
    if value == "nuc":
        pass
    elif value in (2, -2) and not isinstance(value, bool) and not method and q != "torch.norm":
        if q not in MATRIX_ONLY and not _two_dims(node):
            return
    else:
        return
    operand = func.value if isinstance(func, ast.Attribute) and method else (node.args[0] if node.args else next(
        (kw.value for kw in node.keywords if kw.arg in ("A", "input", "x")), None))
    if operand is None or ctx.kind(operand) in (PLAIN, DATA):
        return
    if sinks.gradient_dead(node, ctx):
        return
    callee = f".{func.attr}()" if method and isinstance(func, ast.Attribute) else ctx.source(func)
    # a sum of singular values (or the largest one): a cone at a zero or a tie, a kink
    yield Site("KC208", node, callee, operand, q, "high" if not method else "medium", node, "node", category="kink")


def _two_dims(node: ast.Call) -> bool:
    """``dim=(-2, -1)`` / ``axis=(0, 1)``: the norm is over two dimensions, a matrix norm."""
    dims = next((kw.value for kw in node.keywords if kw.arg in ("dim", "axis")), None)
    if dims is None and len(node.args) > 2:
        dims = node.args[2]
    return isinstance(dims, (ast.Tuple, ast.List)) and len(dims.elts) == 2
