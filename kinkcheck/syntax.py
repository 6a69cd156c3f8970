"""Small readings of Python's own AST shared by the analyzer and the remedy filler (the
bottom layer: both may import it)."""

from __future__ import annotations

import ast


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def assigned_pairs(target: ast.AST, value: ast.AST | None) -> list[tuple[ast.AST, ast.AST]]:
    """(target, value) of an assignment, element by element where a tuple is assigned a tuple
    of the same length (``self.n_fft, self.hop = n_fft, hop``); none for an annotation alone."""
    if value is None:
        return []
    if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
            and len(target.elts) == len(value.elts) and not any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts)):
        return [pair for t, v in zip(target.elts, value.elts) for pair in assigned_pairs(t, v)]
    return [(target, value)]


def base_name(node: ast.AST) -> str | None:
    """``x`` of ``x``, ``x[i]``, ``x.attr``, ``x[i].attr``."""
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def binary_operands(call: ast.Call, method: bool) -> list[ast.expr]:
    """The two operands of ``f(a, b)`` or of the method call ``a.f(b)`` (fewer when fewer are
    written): elementwise max/min, comparisons written as calls."""
    if method and isinstance(call.func, ast.Attribute):
        return [call.func.value, *call.args[:1]]
    return list(call.args[:2])


def callee_tail(func: ast.AST) -> str:
    """The last name of a callee: ``where`` of ``jnp.where``, ``isfinite`` of ``isfinite``."""
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def call_tail(node: ast.AST) -> str:
    """The last name of what ``node`` calls (``abs`` of ``x.abs()``); "" for a node that is no
    call, or one that calls what has no name (``table[k](x)``)."""
    return callee_tail(node.func) if isinstance(node, ast.Call) else ""


#: comparisons written as calls: ``jnp.less_equal(z, 0.0)``, ``d.lt(beta)``, ``x.ne(0)``
COMPARISON_OPS: dict[str, type[ast.cmpop]] = {
    "less": ast.Lt, "lt": ast.Lt, "less_equal": ast.LtE, "le": ast.LtE, "greater": ast.Gt, "gt": ast.Gt,
    "greater_equal": ast.GtE, "ge": ast.GtE, "equal": ast.Eq, "eq": ast.Eq, "not_equal": ast.NotEq, "ne": ast.NotEq}


def call_comparison(call: ast.Call, method: bool) -> ast.Compare | None:
    """``a.lt(b)`` / ``jnp.less(a, b)`` as the comparison ``a < b`` it computes; None for any
    other call, or one without two operands."""
    op = COMPARISON_OPS.get(callee_tail(call.func))
    operands = binary_operands(call, method)
    if op is None or len(operands) != 2:
        return None
    return ast.copy_location(ast.Compare(left=operands[0], ops=[op()], comparators=[operands[1]]), call)


def new_axes(index: ast.AST) -> int | None:
    """How many axes an index adds when it keeps every element (``[:, None]``,
    ``[..., np.newaxis]``, ``[...]``); None when it picks elements (``[0]``, ``[mask]``)."""
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    added = 0
    for p in parts:
        if isinstance(p, ast.Constant) and p.value is None or isinstance(p, ast.Attribute) and p.attr == "newaxis":
            added += 1
        elif not (isinstance(p, ast.Slice) and p.lower is p.upper is p.step is None
                  or isinstance(p, ast.Constant) and p.value is Ellipsis):
            return None
    return added


#: calls that only record a value: ``print``, ``logger.info``, ``self.log``, ``wandb.log``,
#: Stable-Baselines' ``logger.record``, MLflow's ``log_metrics``, ``tf.summary.scalar``
#: (``np.log`` shares a name: callers rule out the array libraries)
LOGGING_CALLS = frozenset({"print", "log", "log_dict", "info", "debug", "warning", "warn", "error", "exception",
                           "critical", "add_scalar", "add_scalars", "set_postfix", "record", "record_mean",
                           "log_metric", "log_metrics", "log_scalar", "log_scalars", "scalar"})
#: Python's number casts: ``float(t)``, ``int(t)`` and ``bool(t)`` of a tensor read its value
#: on the host (a cut of the gradient, as ``.item()`` is)
SCALAR_CASTS = frozenset({"float", "int", "bool"})


def scalar_cast_of(node: ast.AST) -> ast.AST | None:
    """``x`` of ``float(x)`` / ``int(x)`` / ``bool(x)`` (the builtin by name, one argument)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SCALAR_CASTS \
            and len(node.args) == 1 and not node.keywords:
        return node.args[0]
    return None


def scalar_source(node: ast.AST) -> ast.AST:
    """``t`` of ``t.item()`` / ``t.tolist()`` / ``float(t)``: the tensor a Python number is read
    off (the node itself when it is no such read)."""
    if isinstance(node, ast.Call) and not node.keywords:
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in ("item", "tolist") and not node.args:
            return f.value
        inner = scalar_cast_of(node)
        if inner is not None:
            return inner
    return node


def number_reads(expr: ast.AST) -> list[ast.AST]:
    """The tensors ``expr`` reads Python numbers off (``diff`` of ``t * diff.max().item()``)."""
    return [src for n in ast.walk(expr) if (src := scalar_source(n)) is not n]
