"""How low a contrastive logit can go: a cosine similarity is >= -1, and divided by a
temperature it stays >= -1/t, so ``exp(cos / t)`` does not round to 0 (it would take
t < 1/87 in float32). ``log(exp(pos / t) / exp(sim / t).sum(1))``, InfoNCE written by hand,
meets no zero. :func:`kinkcheck.lint.ranges_select.floor_of` asks here.

A similarity is ``F.cosine_similarity``, or a dot product of unit vectors: ``(u * v).sum(1)``,
``u @ v.T``, ``torch.matmul(u, v.T)`` of ``F.normalize`` results; picking elements of one
(``torch.diag``, an index, ``cat``) keeps its floor. A temperature is a positive setting: its
value when the code fixes it (``tau=0.1``), else, for a setting named like one (``tau``,
``temp``, ``temperature``, ``ssl_temp``), at least :data:`TEMPERATURE_FLOOR`.
"""

from __future__ import annotations

import ast
import re

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.resolve import PLAIN

#: the smallest temperature a setting named like one is taken to have (contrastive losses use
#: 0.05 to 1; exp(-1/t) underflows float32 only below t ~ 0.0115)
TEMPERATURE_FLOOR = 0.02
TEMPERATURE_RE = lazy_pattern(r"(^|_)(tau|temp|temperature|temperatures|t)$", re.IGNORECASE)
#: calls whose result is the similarity of their arguments, in [-1, 1]
_COSINES = frozenset({"cosine_similarity"})
#: calls that pick or lay side by side elements of their first argument (or list of arguments)
PICKS = frozenset({"diag", "diagonal", "cat", "concatenate", "stack", "unsqueeze", "squeeze", "view", "reshape",
                    "flatten", "to", "float", "t", "transpose", "masked_select", "gather", "take_along_dim"})
#: products that sum what they multiply
_MATMULS = frozenset({"matmul", "mm", "bmm", "dot", "inner"})
_DEPTH = 8


def similarity_floor(node: ast.AST | None, ctx, depth: int = _DEPTH) -> float | None:
    """-1.0 when ``node`` is a cosine similarity or elements picked from one, else None."""
    if node is None or depth < 0:
        return None
    if isinstance(node, ast.Name):
        return similarity_floor(definition(node, ctx), ctx, depth - 1)
    if isinstance(node, ast.Subscript):
        return similarity_floor(node.value, ctx, depth - 1)
    if isinstance(node, (ast.List, ast.Tuple)):
        floors = [similarity_floor(e, ctx, depth - 1) for e in node.elts]
        return -1.0 if floors and all(f is not None for f in floors) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return -1.0 if _unit(node.left, ctx, depth - 1) and _unit(node.right, ctx, depth - 1) else None
    if not isinstance(node, ast.Call):
        return None
    tail, receiver, args = _call_parts(node, ctx)
    if tail in _COSINES:
        return -1.0
    if tail in _MATMULS:
        pair = ([receiver] if receiver is not None else []) + args
        return -1.0 if len(pair) >= 2 and _unit(pair[0], ctx, depth - 1) and _unit(pair[1], ctx, depth - 1) else None
    if tail == "sum" and (receiver is not None or args):
        product = receiver if receiver is not None else args[0]
        return -1.0 if _unit_product(product, ctx, depth - 1) else None
    if tail in PICKS:
        first = receiver if receiver is not None else (args[0] if args else None)
        return similarity_floor(first, ctx, depth - 1)
    return _returned_similarity(node, ctx, depth - 1)


def _returned_similarity(node: ast.Call, ctx, depth: int) -> float | None:
    """-1.0 when ``node`` calls a function of this file that returns a similarity on every path
    (``cosine_similarity_matrix(q, d)``, ``self.sim(z1, z2)``), read in that function's context."""
    if depth < 2 or not hasattr(ctx, "fa"):
        return None
    from kinkcheck.lint import call_sites
    from kinkcheck.lint.ranges_returned import own_function
    from kinkcheck.lint.walk import walk_local

    q = own_function(node, ctx)
    entry = ctx.fa.ix.scopes.get(q) if q else None
    if q is None or entry is None:
        return None
    values = [n.value for n in walk_local(entry[0]) if isinstance(n, ast.Return)]
    if not values or any(v is None for v in values):
        return None
    callee = call_sites.caller_context(ctx.fa, q, entry)
    floors = [similarity_floor(v, callee, depth - 2) for v in values]
    return -1.0 if all(f is not None for f in floors) else None


def temperature(node: ast.AST | None, ctx, depth: int = 2) -> float | None:
    """The smallest value the divisor ``node`` has when it is a positive setting: its value
    when the code fixes it, the smallest one the callers in the file hand a parameter without
    a default, :data:`TEMPERATURE_FLOOR` for a setting named like a temperature."""
    from kinkcheck.lint.ranges_settings import numeric_value

    for _ in range(3):
        if isinstance(node, ast.Call):
            tail, receiver, args = _call_parts(node, ctx)
            if tail in ("to", "float", "type_as") and receiver is not None:
                node = receiver  # `temperature.to(x.device)`
                continue
            if tail in ("as_tensor", "tensor", "asarray") and args:
                node = args[0]  # `torch.as_tensor(self.temperature)`
                continue
        elif isinstance(node, ast.Name) and definition(node, ctx) is not None:
            node = definition(node, ctx)
            continue
        break
    if node is None:
        return None
    v = numeric_value(node, ctx)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v) if v > 0 else None
    if isinstance(node, ast.Name) and node.id in (getattr(ctx, "params", None) or {}) and hasattr(ctx, "fa") \
            and ctx.param_default(node.id) is None and depth > 0:
        # a parameter: the smallest temperature the callers in the file hand it
        from kinkcheck.lint.call_sites import argument_values

        passed = argument_values(node.id, ctx)
        found = [temperature(value, caller, depth - 1) for caller, value in passed or ()]
        if found and all(t is not None for t in found):
            return min(t for t in found if t is not None)
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
    kind = getattr(ctx, "kind", None)
    if name and TEMPERATURE_RE.search(name) and kind is not None and kind(node) == PLAIN:
        return TEMPERATURE_FLOOR
    return None


def _unit_product(node: ast.AST | None, ctx, depth: int) -> bool:
    """``u * v`` or ``torch.mul(u, v)`` of unit vectors (summed over their axis: a cosine)."""
    if isinstance(node, ast.Name):
        node = definition(node, ctx)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _unit(node.left, ctx, depth) and _unit(node.right, ctx, depth)
    if isinstance(node, ast.Call):
        tail, receiver, args = _call_parts(node, ctx)
        pair = ([receiver] if receiver is not None else []) + args
        return tail == "mul" and len(pair) >= 2 and _unit(pair[0], ctx, depth) and _unit(pair[1], ctx, depth)
    return False


def _unit(node: ast.AST | None, ctx, depth: int) -> bool:
    """Rows of unit norm: an ``F.normalize`` result, seen through names, indexing and transposes."""
    if node is None or depth < 0:
        return False
    if isinstance(node, ast.Name):
        value = definition(node, ctx)
        if value is None and node.id in (getattr(ctx, "params", None) or {}) and hasattr(ctx, "fa"):
            # a parameter: what every caller in the file hands it (`prototype_probabilities(
            # F.normalize(anchors), F.normalize(prototypes), t)`)
            from kinkcheck.lint.call_sites import argument_values

            passed = argument_values(node.id, ctx) if depth > 1 else None
            return bool(passed) and all(_unit(v, caller, depth - 2) for caller, v in passed or ())
        return _unit(value, ctx, depth - 1)
    if isinstance(node, ast.Attribute) and node.attr in ("T", "mT"):
        return _unit(node.value, ctx, depth - 1)
    if isinstance(node, ast.Subscript):
        return _unit(node.value, ctx, depth - 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _own_norm(node.right, node.left, ctx)  # `W / W.norm(dim=0, keepdim=True)`
    if isinstance(node, ast.Call):
        tail, receiver, args = _call_parts(node, ctx)
        if tail in _L2_NORMALIZERS:
            return True  # a project's `l2_normalize(q)`: named for what it returns
        if tail == "normalize":
            p = next((kw.value for kw in node.keywords if kw.arg == "p"), args[1] if len(args) > 1 else None)
            return p is None or (isinstance(p, ast.Constant) and p.value == 2)
        if tail in ("t", "transpose", "unsqueeze", "to", "float", "detach") and receiver is not None:
            return _unit(receiver, ctx, depth - 1)
    return False


#: helpers named for rows of Euclidean norm 1 (no order to read: the name says it)
_L2_NORMALIZERS = frozenset({"l2_normalize", "l2normalize", "normalize_l2", "unit_normalize"})
#: what keeps a norm from 0 without moving it much (``n.clamp_min(eps)``, ``n + eps``)
_FLOORS = frozenset({"clamp_min", "clamp", "clip", "maximum", "fmax", "max"})


def _own_norm(den: ast.AST, num: ast.AST, ctx, depth: int = 2) -> bool:
    """``den`` is the Euclidean norm of ``num`` (the same expression), perhaps floored at an eps
    or shifted by one: F.normalize written out, whose rows have norm 1 (at most 1 with the eps)."""
    if isinstance(den, ast.Name) and depth:
        value = definition(den, ctx)
        return value is not None and _own_norm(value, num, ctx, depth - 1)
    if isinstance(den, ast.BinOp) and isinstance(den.op, ast.Add) and depth:
        return _own_norm(den.left, num, ctx, depth - 1)  # `v / (v.norm(dim=1, keepdim=True) + eps)`
    if not isinstance(den, ast.Call):
        return False
    tail, receiver, args = _call_parts(den, ctx)
    if tail in _FLOORS and depth:
        inner = receiver if receiver is not None else (args[0] if args else None)
        return inner is not None and _own_norm(inner, num, ctx, depth - 1)
    if tail not in ("norm", "vector_norm"):
        return False
    of = receiver if receiver is not None else (args[0] if args else None)
    order = next((kw.value for kw in den.keywords if kw.arg in ("p", "ord")), None)
    if order is None and receiver is not None and args:
        order = args[0]  # `v.norm(2, dim=1)`
    two = order is None or isinstance(order, ast.Constant) and order.value in (2, 2.0)
    return two and of is not None and ast.dump(of) == ast.dump(num)


def _call_parts(node: ast.Call, ctx) -> tuple[str, ast.AST | None, list[ast.expr]]:
    """The callee's last name, the receiver of a method (None for a module function) and the
    positional arguments."""
    func = node.func
    if isinstance(func, ast.Attribute):
        if ctx.is_module_ref(func.value):
            return func.attr, None, list(node.args)
        return func.attr, func.value, list(node.args)
    return (func.id if isinstance(func, ast.Name) else ""), None, list(node.args)


def definition(node: ast.Name, ctx) -> ast.AST | None:
    """The one value ``node`` holds where it is read: its only binding, or the one binding
    that reaches the read (``v = (u * w).sum(1); v = torch.exp(v / tau)``); a parameter
    rebound under a condition holds what the caller handed in too."""
    if not hasattr(ctx, "definition"):
        return None
    value = ctx.definition(node.id)
    rebound_parameter = value is not None and node.id in (getattr(ctx, "params", None) or {})
    if not rebound_parameter and (value is not None or not hasattr(ctx, "parents") or ctx.parent(node) is None):
        return value
    if not hasattr(ctx, "parents") or ctx.parent(node) is None:
        return None  # `if self.normalize: a = F.normalize(a)`: what the caller handed in may reach too
    from kinkcheck.lint import flow

    reached, from_before = flow.reaching(node.id, node, ctx)
    return reached[0][1] if len(reached) == 1 and not from_before else None
