"""What a remedy template may name, read from the matched call's syntax tree.

A site is described by the call (or operator, comparison, conditional) that was matched and
its kinked operand; from those nodes come the template's bindings (``x``, ``other``,
``lhs``/``rhs``, ``then``/``else``, the bounds ``lo``/``hi``, ``dim``/``keepdim``, the
user's own ``eps``) and facts that decide whether a remedy fits at all (a torch ``max``
over a dim returns a tuple; a denominator that already adds an eps). Only the stdlib
``ast``: the analyzed code is never imported.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass, field

from kinkcheck.lazyre import lazy_pattern

#: the node a remedy template stands for is the whole matched call: ``{call}``
CALL = "call"

#: callees whose torch spelling returns (values, indices) when given a dim
_TUPLE_WITH_DIM = frozenset({"max", "min", "median", "nanmedian", "mode"})
_TUPLE_ALWAYS = frozenset({"topk", "sort", "kthvalue"})
#: keyword names of a reduction's dimension and of keeping it
_DIM_KEYWORDS = ("dim", "axis")
_KEEPDIM_KEYWORDS = ("keepdim", "keepdims")


@dataclass
class Bindings:
    """The site's named pieces (ast nodes) and facts, for one rule's remedies."""

    values: dict[str, ast.AST] = field(default_factory=dict)
    facts: set[str] = field(default_factory=set)
    #: the callee's last name (``maximum``, ``clamp``, ``/``) and its qualified name if known
    callee: str = ""
    qname: str | None = None
    #: the node a rewrite replaces (the call, the conditional, the comparison)
    target: ast.AST | None = None
    #: the kinked operand inside ``target`` (``{call}`` is the target with it as ``{x}``)
    operand: ast.AST | None = None


def bind(*, node: ast.AST, call: ast.AST | None, operand: ast.AST | None, qname: str | None,
         callee: str, framework: str, parent: ast.AST | None = None) -> Bindings:
    """The bindings of one site: ``node`` the finding's node, ``call`` the matched Call /
    BinOp / IfExp, ``operand`` the kinked operand, ``callee`` the name as written,
    ``parent`` the node around the call (``.values`` / ``[0]`` of torch's (values, indices))."""
    b = Bindings(qname=qname)
    b.callee = _OPERATORS.get(callee.strip(), "") or _short(qname, callee)
    if (qname or "").split(".")[0] == "math" or qname in _NUMBER_BUILTINS:
        b.facts.add("builtin")  # round(n * k), math.sqrt(v): Python numbers, no tensor method applies
    target = call if call is not None else node
    if isinstance(operand, ast.Name) and operand.id in MODULE_ROOTS:
        operand = None  # ``torch = pytest.importorskip("torch")`` read as a method: never fill {x} with a module
    if operand is not None:
        b.values["x"] = operand
    if isinstance(target, ast.IfExp):
        _branch(b, target.test, target.body, target.orelse)
        b.target = target
    elif isinstance(target, ast.Call) and b.callee == "where" and len(target.args) == 3:
        _branch(b, *target.args)
        b.target = target
    elif isinstance(node, ast.Compare):
        _branch(b, node, None, None)
        b.target = node
    elif isinstance(target, ast.BinOp):
        other = target.left if operand is target.right else target.right
        b.values["other"] = other
        b.target = target
        if isinstance(target.op, ast.Pow):
            _exponent_facts(b, other)
    elif isinstance(target, ast.Call):
        b.target = target
        _call_facts(b, target, operand, framework)
    else:
        b.target = node
    if operand is not None and b.target is not None and b.target is not operand:
        b.values[CALL] = b.target
        b.operand = operand
    _operand_facts(b, operand)
    if "tuple-result" in b.facts and _selects_values(parent, b.target) and b.callee in _TUPLE_WITH_DIM:
        b.facts.discard("tuple-result")  # x.max(dim=1).values: the rewrite replaces the values
        b.target = parent
        b.values.pop(CALL, None)
    return b


def _selects_values(parent: ast.AST | None, call: ast.AST | None) -> bool:
    """``call.values`` or ``call[0]``: the values of torch's (values, indices)."""
    if isinstance(parent, ast.Attribute):
        return parent.value is call and parent.attr == "values"
    if isinstance(parent, ast.Subscript):
        return parent.value is call and _number(parent.slice) == 0.0
    return False



#: builtins that are mostly called on Python numbers (``abs(pred - y)`` is a tensor's __abs__)
_NUMBER_BUILTINS = frozenset({"builtins.round", "builtins.max", "builtins.min", "builtins.pow", "builtins.divmod"})
_OPERATORS = {"/": "Div", "**": "Pow", "//": "FloorDiv", "%": "Mod"}


def _short(qname: str | None, callee: str) -> str:
    """``torch.nn.functional.relu`` -> ``relu``; ``.clamp()`` -> ``clamp``; ``/`` stays."""
    name = qname or callee
    name = name.strip(".").removesuffix("()")
    return name.rsplit(".", 1)[-1] if name else ""


def _branch(b: Bindings, test: ast.AST, then: ast.AST | None, other: ast.AST | None) -> None:
    """``lhs``/``rhs`` of a comparison read as ``lhs > rhs``; the two values selected."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        lhs, rhs, op = test.left, test.comparators[0], test.ops[0]
        if isinstance(op, (ast.Lt, ast.LtE)):
            lhs, rhs = rhs, lhs
        if isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)):
            b.values.update(lhs=lhs, rhs=rhs)
    if then is not None and other is not None:
        b.values.update(then=then, **{"else": other})


def _arg(call: ast.Call, index: int, *keywords: str) -> ast.AST | None:
    for kw in call.keywords:
        if kw.arg in keywords:
            return kw.value
    if 0 <= index < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
        return call.args[index]
    return None


def _is_none(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _number(node: ast.AST | None) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return -inner if inner is not None else None
    return None


#: positional arguments a callee takes besides its operand; a call with more (or with a
#: keyword outside _KEYWORDS: ``where=``, ``initial=``, ``out=``) says something a rewrite
#: that is not written around ``{call}`` would drop ("extra-args")
_POSITIONAL = {"clamp": 2, "clip": 2, "clamp_min": 1, "clamp_max": 1, "hardtanh": 2, "max": 2, "min": 2, "amax": 2,
               "amin": 2, "nanmax": 2, "nanmin": 2, "median": 2, "argmax": 2, "argmin": 2, "norm": 3,
               "vector_norm": 3, "softmax": 1, "log_softmax": 1, "leaky_relu": 1, "pow": 1, "float_power": 1,
               "power": 1, "div": 1, "true_divide": 1, "divide": 1, "atan2": 1, "arctan2": 1, "maximum": 1,
               "minimum": 1, "fmax": 1, "fmin": 1, "heaviside": 1, "where": 2, "masked_fill": 2, "max_pool2d": 1,
               "topk": 2, "kthvalue": 2, "std": 3}
_KEYWORDS = frozenset({"dim", "axis", "keepdim", "keepdims", "min", "max", "a_min", "a_max", "lower", "upper", "p",
                       "ord", "negative_slope", "input", "other", "exponent", "min_val", "max_val", "x", "x1", "x2",
                       "y", "a", "values", "condition", "kernel_size", "unbiased", "correction", "ddof"})
_KEEPDIM_AT = {"max": 1, "min": 1, "amax": 1, "amin": 1, "nanmax": 1, "nanmin": 1, "median": 1, "argmax": 1,
               "argmin": 1, "norm": 2, "vector_norm": 2}


def _call_facts(b: Bindings, call: ast.Call, operand: ast.AST | None, framework: str) -> None:
    """Bounds, dims, the other operand and the facts of a matched call. ``first`` is the
    index of the first argument after the operand: 0 for a method (``x.clamp(lo, hi)``),
    1 for a function (``torch.clamp(x, lo, hi)``)."""
    method = isinstance(call.func, ast.Attribute) and call.func.value is operand
    first = 0 if method else 1
    name = b.callee
    if any(isinstance(a, ast.Starred) for a in call.args) or any(kw.arg is None for kw in call.keywords):
        b.facts.add("starred")
    if len(call.args) > _POSITIONAL.get(name, 0) + (0 if method else 1) or any(
            kw.arg not in _KEYWORDS for kw in call.keywords if kw.arg is not None):
        b.facts.add("extra-args")
    others = [a for a in call.args if a is not operand and not isinstance(a, ast.Starred)]
    if others and name not in ("clamp", "clip", "clamp_min", "clamp_max"):
        b.values["other"] = others[0]
    if name in ("clamp", "clip"):
        lo = _arg(call, first, "min", "a_min", "lower")
        hi = _arg(call, first + 1, "max", "a_max", "upper")
        _bound(b, "lo", lo)
        _bound(b, "hi", hi)
    elif name == "clamp_min":
        _bound(b, "lo", _arg(call, first, "min"))
    elif name == "clamp_max":
        _bound(b, "hi", _arg(call, first, "max"))
    elif name == "hardtanh":
        _bound(b, "lo", _arg(call, first, "min_val") or ast.Constant(-1.0))
        _bound(b, "hi", _arg(call, first + 1, "max_val") or ast.Constant(1.0))
    elif name == "relu6":
        _bound(b, "lo", ast.Constant(0.0))
        _bound(b, "hi", ast.Constant(6.0))
    elif name == "leaky_relu":
        b.values["slope"] = _arg(call, first, "negative_slope") or ast.Constant(0.01)
    if name in ("norm", "vector_norm"):
        p = _arg(call, first, "p", "ord")
        if p is None or _is_none(p) or _number(p) == 2.0 or (isinstance(p, ast.Constant) and p.value == "fro"):
            b.facts.add("p2")
        dim = _arg(call, first + 1, *_DIM_KEYWORDS)
    elif name in ("kthvalue", "topk"):
        dim = _arg(call, first + 1, *_DIM_KEYWORDS)
    elif name in ("softmax", "log_softmax", "argmax", "argmin", "max", "min", "amax", "amin", "median",
                  "logsumexp", "sum", "mean"):
        dim = _arg(call, first, *_DIM_KEYWORDS)
    else:
        dim = None
    if dim is not None and not _is_none(dim):
        b.values["dim"] = dim
        b.facts.add("dim")
        if _number(dim) == -1.0:
            b.facts.add("dim-last")
    keepdim = _arg(call, first + _KEEPDIM_AT[name]) if name in _KEEPDIM_AT else None
    for kw in call.keywords:
        if kw.arg in _KEEPDIM_KEYWORDS:
            keepdim = kw.value
    if keepdim is not None:
        b.values["keepdim"] = keepdim
    if framework == "torch" and (name in _TUPLE_ALWAYS or (name in _TUPLE_WITH_DIM and "dim" in b.facts)):
        b.facts.add("tuple-result")
    if name in ("div", "true_divide", "divide") and any(kw.arg == "rounding_mode" for kw in call.keywords):
        b.facts.add("rounding-mode")
    if name in ("pow", "float_power"):
        _exponent_facts(b, b.values.get("other"))
    if name == "std" and isinstance(call.func, ast.Attribute):  # std(...) = sqrt(var(...)), same arguments
        func = copy.copy(call.func)
        func.attr = "var"
        variance = copy.copy(call)
        variance.func = func
        b.values["variance"] = variance


def _bound(b: Bindings, name: str, node: ast.AST | None) -> None:
    if node is not None and not _is_none(node):
        b.values[name] = node
        b.facts.add(name)


def _exponent_facts(b: Bindings, p: ast.AST | None) -> None:
    value = _number(p)
    if value is not None and 0 < value < 1:
        b.facts.add("exponent-unit")


#: names that read as a small guard constant (``den + eps``)
_EPS_NAMES = ("eps", "epsilon", "tiny", "tol", "delta", "smooth")


def _is_eps(node: ast.AST) -> bool:
    value = _number(node)
    if value is not None:
        return 0 < value <= 1e-2
    if isinstance(node, ast.Name):
        return any(part in node.id.lower() for part in _EPS_NAMES)
    if isinstance(node, ast.Attribute):
        return node.attr in ("eps", "tiny") or any(part in node.attr.lower() for part in _EPS_NAMES)
    return False


#: names that read as a count, a size or a norm: never negative
_NONNEG_NAME = lazy_pattern(r"(count|num|total|norm|length|size|numel|mask|weight|^n_|_n$|^n$)", re.I)
#: calls whose value is never negative
_NONNEG_CALLS = frozenset({"abs", "absolute", "fabs", "norm", "vector_norm", "matrix_norm", "sqrt", "exp", "softplus",
                           "sigmoid", "softmax", "relu", "numel", "count_nonzero", "square", "var", "std", "len",
                           "cdist", "dist", "logsumexp_pos", "ones_like", "clamp_min"})
_SUMS = frozenset({"sum", "mean", "nansum", "nanmean", "cumsum", "prod"})


def nonneg(node: ast.AST, depth: int = 0) -> bool:
    """Whether an expression is never negative by its form: a norm, a square, an exp, a
    count-like name, a sum of such, a positive number, a shape."""
    if depth > 8:
        return False
    value = _number(node)
    if value is not None:
        return value >= 0
    if isinstance(node, ast.Name):
        return bool(_NONNEG_NAME.search(node.id))
    if isinstance(node, ast.Attribute):
        return bool(_NONNEG_NAME.search(node.attr))
    if isinstance(node, ast.Subscript):  # x.shape[0], counts[i]
        return nonneg(node.value, depth + 1) or (isinstance(node.value, ast.Attribute) and node.value.attr == "shape")
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            p = _number(node.right)
            return (p is not None and p % 2 == 0) or nonneg(node.left, depth + 1)
        if isinstance(node.op, ast.Mult):
            return ast.dump(node.left) == ast.dump(node.right) or (
                nonneg(node.left, depth + 1) and nonneg(node.right, depth + 1))
        if isinstance(node.op, (ast.Add, ast.Div)):
            return nonneg(node.left, depth + 1) and nonneg(node.right, depth + 1)
        return False
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in _NONNEG_CALLS or name in ("size",):
            return True
        if name == "pow" and node.args and (_number(node.args[-1]) or 1) % 2 == 0:
            return True
        if name in _SUMS:  # a sum of what is never negative: x.sum(), torch.sum(x)
            inner = func.value if isinstance(func, ast.Attribute) and not _module_like(func.value) else (
                node.args[0] if node.args else None)
            return inner is not None and nonneg(inner, depth + 1)
        if name in ("clamp", "clip", "clamp_"):
            lo = _arg(node, 0 if isinstance(func, ast.Attribute) and not _module_like(func.value) else 1,
                      "min", "a_min", "lower")
            lo_value = _number(lo)
            return lo_value is not None and lo_value >= 0
    return False


def _operand_facts(b: Bindings, operand: ast.AST | None) -> None:
    """Facts about the kinked operand: it already adds an eps (``den + eps``: the eps is
    taken from the code), it is a softmax or sigmoid (a log of it has a log-space form)."""
    if operand is None:
        return
    if nonneg(operand):
        b.facts.add("x-nonneg")
    if isinstance(operand, ast.BinOp) and isinstance(operand.op, ast.Add):
        for term, rest in ((operand.right, operand.left), (operand.left, operand.right)):
            if _is_eps(term):
                b.facts.add("eps-in-x")
                b.values["eps"] = term
                b.values["base"] = rest
                break
    if isinstance(operand, ast.Call):
        func = operand.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name == "where":  # already a double-where's inner guard: no second one around it
            b.facts.add("x-guarded")
        is_method = isinstance(func, ast.Attribute) and not _module_like(func.value)
        inner = func.value if isinstance(func, ast.Attribute) and is_method else (
            operand.args[0] if operand.args else None)
        if name == "softmax" and inner is not None:
            dim = _arg(operand, 0 if is_method else 1, *_DIM_KEYWORDS)
            if dim is not None:
                b.facts.add("x-softmax")
                b.values.update(logits=inner, softmax_dim=dim)
        elif name == "sigmoid" and inner is not None and len(operand.args) <= (0 if is_method else 1):
            b.facts.add("x-sigmoid")
            b.values["logits"] = inner


#: names that start a module path rather than a value (``torch.softmax(z)`` vs ``z.softmax()``)
MODULE_ROOTS = frozenset({"torch", "F", "nn", "functional", "np", "numpy", "onp", "jnp", "jax", "lax", "math",
                          "scipy", "special"})


def _module_like(node: ast.AST) -> bool:
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id in MODULE_ROOTS


def with_operand(target: ast.AST, operand: ast.AST, replacement: ast.AST) -> ast.AST:
    """``target`` with ``operand`` replaced by ``replacement``: only the nodes on the path
    between them are copied (shallow), the rest is shared and never changed, so a template
    naming ``{call}`` and ``{x}`` evaluates the operand once, at no cost of copying."""
    if target is operand:
        return replacement
    path = _path(target, operand)
    if path is None:
        return target
    root = copy.copy(target)
    node = root
    for name, index in path:
        child = getattr(node, name)
        if index is None:
            nxt = child
            new = replacement if nxt is operand else copy.copy(nxt)
            setattr(node, name, new)
        else:
            items = list(child)
            nxt = items[index]
            new = replacement if nxt is operand else copy.copy(nxt)
            items[index] = new
            setattr(node, name, items)
        node = new
    return root


def _path(node: ast.AST, target: ast.AST) -> list[tuple[str, int | None]] | None:
    for name, value in ast.iter_fields(node):
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is target:
                    return [(name, i)]
                if isinstance(item, ast.AST):
                    rest = _path(item, target)
                    if rest is not None:
                        return [(name, i), *rest]
        elif isinstance(value, ast.AST):
            if value is target:
                return [(name, None)]
            rest = _path(value, target)
            if rest is not None:
                return [(name, None), *rest]
    return None
