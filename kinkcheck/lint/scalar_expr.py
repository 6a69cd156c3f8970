"""A scalar evaluator for the expressions of loss code, used to judge joins numerically.

``Expr`` replaces each name of an expression by the single value reaching it (a few
assignments deep, through same-file helpers inlined, a closure's binding, the arm of a branch
the site is in) and evaluates the result for numbers drawn for what is left (parameters,
attributes, items: its symbols). Only scalar arithmetic, comparisons, masks and a fixed table
of elementwise functions are modelled; anything else raises ``Unknown`` and the caller gives
up. Nothing read is ever imported or run.
"""

from __future__ import annotations

import ast
import math
from typing import Callable

from kinkcheck.lint import flow
from kinkcheck.lint.huber_calls import HuberCall, elementwise_huber, huber_value
from kinkcheck.lint.inline_calls import inlined
from kinkcheck.lint.resolve import dimension_argument
from kinkcheck.lint.sink_paths import NAME_HOPS, finite_guarded
from kinkcheck.syntax import COMPARISON_OPS, callee_tail

#: elementwise functions the evaluator knows, by the last part of their name
_UNARY: dict[str, Callable[[float], float]] = {
    "abs": abs, "absolute": abs, "fabs": abs, "sqrt": math.sqrt, "exp": math.exp, "log": math.log,
    "log1p": math.log1p, "expm1": math.expm1, "square": lambda v: v * v, "relu": lambda v: max(v, 0.0),
    "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-v)), "tanh": math.tanh, "sin": math.sin, "cos": math.cos,
    "atan": math.atan, "arctan": math.atan, "softplus": lambda v: math.log1p(math.exp(v)),
    "neg": lambda v: -v, "negative": lambda v: -v,
}
#: methods and functions that keep a scalar's value (casts, reductions of one element, views,
#: the real part: the values drawn are real)
SAME = frozenset({"float", "double", "half", "to", "astype", "detach", "clone", "contiguous", "sum", "mean",
                   "squeeze", "unsqueeze", "view", "reshape", "flatten", "type_as", "stop_gradient", "asarray",
                   "array", "tensor", "as_tensor", "real"})
#: ``X @ w`` of scalars standing in for arrays is their product (a linear model's prediction)
_BIN = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b, ast.MatMult: lambda a, b: a * b}
#: ``&`` and ``|`` of two 0/1 masks
LOGICAL = {ast.BitAnd: min, ast.BitOr: max}
CMP = {ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b,
        ast.GtE: lambda a, b: a >= b, ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b}
#: order comparisons written as calls (``jnp.less_equal(z, 0.0)``, ``d.lt(beta)``); an equality
#: switches at one point, which one-sided slopes cannot see
CALL_CMP: dict[str, type[ast.cmpop]] = {
    name: op for name, op in COMPARISON_OPS.items() if op not in (ast.Eq, ast.NotEq)}
#: arrays of one value shaped like another (``zeros_like(w)`` as a ``where``'s other branch)
_FILLED: dict[str, float | None] = {"zeros_like": 0.0, "ones_like": 1.0, "new_zeros": 0.0, "new_ones": 1.0,
                                    "full_like": None, "new_full": None}
#: the libraries' numbers (``math.pi``, ``jnp.pi``, ``from numpy import e``)
_CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf}
_CONSTANT_ROOTS = frozenset({"math", "numpy", "jax", "torch", "cmath"})
#: the evaluator's name for an elementwise library Huber term (``huber_calls``)
_HUBER = "<huber>"
KNOWN = frozenset({*_UNARY, *SAME, *CALL_CMP, *_FILLED, _HUBER, "where", "pow", "power", "maximum", "fmax", "minimum",
                    "fmin", "clamp", "clip", "clamp_min", "clamp_max", "logical_not", "logical_and", "logical_or"})
#: calls whose later arguments bound the first, and calls selecting between their operands
_BOUNDED = frozenset({"clamp", "clip", "clamp_min", "clamp_max"})
_SELECTING = frozenset({"maximum", "fmax", "minimum", "fmin"})


#: two-operand max/min that are elementwise (numpy's and jax's ``max(a, axis)`` always reduce)
_PAIRWISE = frozenset({"torch.max", "torch.min", "builtins.max", "builtins.min"})


def evaluator_name(call: ast.Call, ctx) -> str:
    """The evaluator's name for what ``call`` does: builtin ``max(a, b)`` and two-operand
    ``torch.max(a, b)`` are ``maximum`` (``min`` likewise); ``torch.max(x, 1)`` or ``(x, dim)``,
    ``x.max()`` and numpy's and jax's ``max(x, axis)`` reduce, and keep their name, opaque to
    the evaluator."""
    tail = callee_tail(call.func)
    if tail in ("huber_loss", "smooth_l1_loss") and elementwise_huber(call, ctx) is not None:
        return _HUBER
    if tail in ("max", "min") and len(call.args) == 2 and not call.keywords:
        q = ctx.qualify(call.func) or ""
        if q in _PAIRWISE and (q.startswith("builtins.") or not dimension_argument(call.args[1], ctx)):
            return "maximum" if tail == "max" else "minimum"
    return tail


def _huber(call: ast.Call, ctx) -> HuberCall:
    term = elementwise_huber(call, ctx)
    if term is None:
        raise Unknown(callee_tail(call.func))
    return term


class Unknown(Exception):
    """An expression the evaluator does not model."""


def _library_constant(node: ast.AST, ctx) -> float | None:
    """The value of ``math.pi``, ``np.e``, ``torch.pi`` (a name or an attribute), else None."""
    if not isinstance(node, (ast.Name, ast.Attribute)):
        return None
    last = node.attr if isinstance(node, ast.Attribute) else node.id
    if last not in _CONSTANTS:
        return None
    q = ctx.qualify(node) or ""
    return _CONSTANTS[last] if q.partition(".")[0] in _CONSTANT_ROOTS and q.rsplit(".", 1)[-1] == last else None


def _fill(node: ast.Call, name: str) -> ast.AST | float:
    """What an array of one value (``zeros_like(w)``, ``w.new_full(size, v)``) holds: a
    number, or the node of its fill value."""
    value = _FILLED[name]
    if value is not None:
        return value
    fill = next((k.value for k in node.keywords if k.arg == "fill_value"), None)
    if fill is None and len(node.args) >= 2:
        fill = node.args[1]  # `full_like(w, v)` and `w.new_full(size, v)` alike
    if fill is None:
        raise Unknown(name)
    return fill


def _binding_ids(name: ast.Name, ctx) -> tuple[tuple[int, ...], bool]:
    """Which bindings reach this use of a name (by identity), and whether its value from
    before the body does."""
    defs, before = flow.reaching(name.id, name, ctx)
    return tuple(id(d[0]) for d in defs), before


#: functions real only for a positive argument (a symbol they read is tried positive)
_POSITIVE_DOMAIN = frozenset({"log", "log2", "log10", "sqrt", "rsqrt"})


def _closure_binding(name: str, ctx) -> tuple[list, object]:
    """The one binding of a free variable in the function a nested function is defined in, with
    that function's context (``r_c = r_cutoff ** 2`` above ``def smooth_fn(dr): ...``); no
    binding when it has none or several."""
    from kinkcheck.lint.kinds import _enclosing

    outer = _enclosing(ctx)
    if outer is None or name in outer.params:
        return [], ctx
    defs = flow.bindings(outer).get(name) or []
    return (list(defs), outer) if len(defs) == 1 else ([], ctx)


def module_constants(fa) -> dict[str, ast.expr]:
    """Names the module binds once, at its top level, to arithmetic of numbers
    (``_LAB_EPS = 216.0 / 24389.0``, ``_LAB_KAPPA = 24389.0 / 27.0``): what they hold. A name
    bound anywhere else too, or declared ``global``, is none."""
    memo = fa.__dict__.get("_module_constants")
    if memo is not None:
        return memo
    counts: dict[str, int] = {}
    values: dict[str, ast.expr] = {}
    for node in ast.walk(fa.tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            counts[node.id] = counts.get(node.id, 0) + 1
        elif isinstance(node, ast.Global):
            for name in node.names:
                counts[name] = counts.get(name, 0) + 2
    for stmt in fa.tree.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name) and counts.get(targets[0].id) == 1:
                values[targets[0].id] = stmt.value
    memo = {}
    for name, value in values.items():
        if all(isinstance(n, (ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop, ast.Load))
               and not (isinstance(n, ast.Constant) and not isinstance(n.value, (int, float)))
               for n in ast.walk(value)):
            memo[name] = value
    fa.__dict__["_module_constants"] = memo
    return memo


class Expr:
    """An expression with its names replaced by the single value reaching each (``expand``)."""

    def __init__(self, node: ast.AST, ctx, depth: int = NAME_HOPS + 1, held: ast.Name | None = None,
                 along: ast.AST | None = None):
        self.ctx = ctx
        self.subst: dict[int, ast.AST] = {}
        self.node = node
        #: the site judged: a name bound in both arms of a branch (`if kappa > 0: loss = ...
        #: else: loss = ...`) is read as the binding in the arm the site is in, its path
        self._along = along
        #: a name kept as a symbol wherever the same binding reaches it (the compared value of a
        #: ``where``: smoothness in it is what matters, however it was computed)
        self._held = (held.id, _binding_ids(held, ctx)) if held is not None else None
        self._expand(node, depth)

    def _expand(self, node: ast.AST, depth: int, ctx=None) -> None:
        ctx = ctx or self.ctx
        for n in ast.walk(node):
            if isinstance(n, ast.Call) and depth > 0 and id(n) not in self.subst:
                body = inlined(n, ctx)  # `huber(u, kappa)` of this file: the expression it returns
                if body is not None:
                    self.subst[id(n)] = body
                continue
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and depth > 0 and id(n) not in self.subst:
                if self._held is not None and n.id == self._held[0] and _binding_ids(n, ctx) == self._held[1]:
                    continue
                defs, before = flow.reaching(n.id, n, ctx)
                where = ctx
                if not defs and before and n.id not in ctx.params:
                    defs, where = _closure_binding(n.id, ctx)
                    before = False
                    constant = None if defs else module_constants(ctx.fa).get(n.id)
                    if constant is not None:
                        self.subst[id(n)] = constant  # `_LAB_EPS = 216.0 / 24389.0`
                        continue
                # `errors = pred - target if target is not None else pred`: a choice by config
                # the evaluator cannot make; the name stays a symbol
                # `safe_x = where(isfinite(x), x, 0)`: x itself wherever it is finite; the name
                # stays a symbol
                if len(defs) > 1 and not before and self._along is not None:
                    defs = [d for d in defs if not flow.exclusive(d[0], self._along, ctx)]
                if len(defs) == 1 and not before and defs[0][1] is not None and not isinstance(defs[0][1], ast.IfExp) \
                        and not finite_guarded(defs[0][1], where):
                    value = defs[0][1]
                    self.subst[id(n)] = value
                    self._expand(value, depth - 1, where)

    def size(self, node: ast.AST) -> int:
        """How many nodes the evaluator reads under ``node`` (names replaced), memoized."""
        sizes = self.__dict__.setdefault("_sizes", {})
        if id(node) not in sizes:
            sizes[id(node)] = sum(1 for _ in self.walk(node))
        return sizes[id(node)]

    def symbols(self, node: ast.AST | None = None) -> set[str]:
        return set(self.symbol_nodes(node))

    def symbol_nodes(self, node: ast.AST | None = None) -> dict[str, ast.AST]:
        """Each symbol's text and one node it stands for."""
        out: dict[str, ast.AST] = {}
        self._symbols(self.node if node is None else node, out)
        return out

    def bound_symbols(self, node: ast.AST) -> tuple[set[str], set[str]]:
        """The symbols that place a kink: (those bounding a clip from both sides, those of a
        one-sided clamp's bound or a minimum's or maximum's operands). Random values may cross a
        two-sided clip's bounds (``clip(i + m, 1, n - 1)`` is flat for n < 2, smooth for
        nothing), and the sign of a one-sided bound decides (``minimum(maximum(x, lo), hi)``)."""
        both: dict[str, ast.AST] = {}
        one: dict[str, ast.AST] = {}
        for n in self.walk(node):
            if not isinstance(n, ast.Call):
                continue
            tail = evaluator_name(n, self.ctx)
            receiver = isinstance(n.func, ast.Attribute) and not is_module(n.func.value)
            if tail in _BOUNDED:
                bounds = [*n.args[0 if receiver else 1:], *(k.value for k in n.keywords)]
            elif tail in _SELECTING:
                bounds = [*n.args, *(k.value for k in n.keywords)]
                if isinstance(n.func, ast.Attribute) and receiver:
                    bounds.append(n.func.value)
            else:
                continue
            for bound in bounds:
                self._symbols(bound, both if tail in _BOUNDED and len(bounds) >= 2 else one)
        return set(both), set(one)

    def walk(self, node: ast.AST, prune: Callable[[ast.AST], bool] | None = None):
        """The nodes under ``node``, names replaced by the value reaching them; none under a
        node below ``node`` that ``prune`` picks (nor that node)."""
        todo = [node]
        while todo:
            n = todo.pop()
            if id(n) in self.subst:
                todo.append(self.subst[id(n)])
                continue
            if prune is not None and n is not node and prune(n):
                continue
            yield n
            todo.extend(ast.iter_child_nodes(n))

    def logged_symbols(self, node: ast.AST) -> set[str]:
        """The symbols a log or a root reads as they are (``log(scale)``): the expression is
        only real where they are > 0, so they are tried positive."""
        out: set[str] = set()
        for n in self.walk(node):
            if isinstance(n, ast.Call) and callee_tail(n.func) in _POSITIVE_DOMAIN and n.args:
                arg = self.subst.get(id(n.args[0]), n.args[0])
                if isinstance(arg, (ast.Name, ast.Attribute, ast.Subscript)):
                    out.add(ast.unparse(arg))
        return out

    def threshold_symbols(self, node: ast.AST, ctx) -> set[str]:
        """Symbols compared with a value that is never negative (``|u| <= kappa``): a threshold
        below 0 would make the comparison constant, so the code means it positive. A constant is
        no such value: in ``y > 0`` the symbol is what is compared, of either sign."""
        from kinkcheck.lint import ranges
        from kinkcheck.lint.resolve import const_value

        out: set[str] = set()
        for n in self.walk(node):
            if isinstance(n, ast.Compare) and len(n.ops) == 1 and type(n.ops[0]) in (ast.Lt, ast.LtE, ast.Gt, ast.GtE):
                pairs: tuple[tuple[ast.AST, ast.AST], ...] = ((n.left, n.comparators[0]), (n.comparators[0], n.left))
                for side, other in pairs:
                    while id(side) in self.subst:
                        side = self.subst[id(side)]
                    if isinstance(side, (ast.Name, ast.Attribute)) and const_value(other) is None \
                            and ranges.is_nonnegative(ranges.range_of(other, ctx)):
                        out.add(ast.unparse(side))
        return out

    def _symbols(self, node: ast.AST, out: dict[str, ast.AST]) -> None:
        if id(node) in self.subst:
            return self._symbols(self.subst[id(node)], out)
        if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
            if _library_constant(node, self.ctx) is None:
                out.setdefault(ast.unparse(node), node)
            return
        if isinstance(node, ast.Call):
            func = node.func
            tail = evaluator_name(node, self.ctx)
            if tail not in KNOWN:
                out.setdefault(ast.unparse(node), node)  # `predict(params, x)`: some number the loss is given
                return
            receiver = isinstance(func, ast.Attribute) and not is_module(func.value)
            if tail == _HUBER:  # `reduction="none"` is no number
                for operand in _huber(node, self.ctx).operands():
                    self._symbols(operand, out)
                return
            if tail in _FILLED:  # `zeros_like(w)`: only the fill is a number; `w` gives the shape
                fill = _fill(node, tail) if len(node.args) + len(node.keywords) >= 2 else None
                if isinstance(fill, ast.AST):  # `full_like(w, v)`: v is a number of its own
                    self._symbols(fill, out)
                return
            if isinstance(func, ast.Attribute) and receiver:
                self._symbols(func.value, out)  # `x.abs()`: the receiver
            args = [*node.args, *(k.value for k in node.keywords)]
            if tail in SAME:
                args = [] if receiver else node.args[:1]  # `m.astype(jnp.float32)`: a dtype is no number
            for a in args:
                self._symbols(a, out)
            return
        for child in ast.iter_child_nodes(node):
            self._symbols(child, out)

    def value(self, node: ast.AST, env: dict[str, float]) -> float:
        if id(node) in self.subst:
            return self.value(self.subst[id(node)], env)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
            constant = _library_constant(node, self.ctx)
            if constant is not None:
                return constant
            key = ast.unparse(node)
            if key not in env:
                raise Unknown(key)
            return env[key]
        if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            return _BIN[type(node.op)](self.value(node.left, env), self.value(node.right, env))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.value(node.operand, env)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Invert, ast.Not)):
            return 1.0 - _truth(self.value(node.operand, env))  # `~mask`: the complement of a 0/1 mask
        if isinstance(node, ast.BinOp) and type(node.op) in LOGICAL:
            return LOGICAL[type(node.op)](_truth(self.value(node.left, env)), _truth(self.value(node.right, env)))
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in CMP:
            return float(CMP[type(node.ops[0])](self.value(node.left, env), self.value(node.comparators[0], env)))
        if isinstance(node, ast.Call):
            return self._call(node, env)
        raise Unknown(type(node).__name__)

    def _call(self, node: ast.Call, env: dict[str, float]) -> float:
        name = evaluator_name(node, self.ctx)
        if name not in KNOWN:
            key = ast.unparse(node)
            if key not in env:
                raise Unknown(key)
            return env[key]
        func = node.func
        receiver = [func.value] if isinstance(func, ast.Attribute) and not is_module(func.value) else []
        args = receiver + list(node.args)
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        if name == "where" and len(args) == 3:
            return self.value(args[1] if self.value(args[0], env) else args[2], env)
        if name == _HUBER:
            term = _huber(node, self.ctx)
            residual = self.value(term.prediction, env) - (0.0 if term.target is None else self.value(term.target, env))
            return huber_value(residual, 1.0 if term.scale is None else self.value(term.scale, env), term.smooth_l1)
        if name in _FILLED:
            fill = _fill(node, name)
            return fill if isinstance(fill, float) else self.value(fill, env)
        if name in CALL_CMP and len(args) == 2:
            return float(CMP[CALL_CMP[name]](self.value(args[0], env), self.value(args[1], env)))
        if name in SAME and len(args) >= 1:
            return self.value(args[0], env)
        if name == "logical_not" and len(args) == 1:
            return 1.0 - _truth(self.value(args[0], env))
        if name in ("logical_and", "logical_or") and len(args) == 2:
            op = LOGICAL[ast.BitAnd if name == "logical_and" else ast.BitOr]
            return op(_truth(self.value(args[0], env)), _truth(self.value(args[1], env)))
        if name in _UNARY and len(args) == 1:
            return float(_UNARY[name](self.value(args[0], env)))
        if name in ("pow", "power") and len(args) == 2:
            return self.value(args[0], env) ** self.value(args[1], env)
        if name in ("maximum", "fmax", "minimum", "fmin") and len(args) == 2:
            pick = max if name in ("maximum", "fmax") else min
            return pick(self.value(args[0], env), self.value(args[1], env))
        if name in ("clamp", "clip", "clamp_min", "clamp_max") and args:
            v = self.value(args[0], env)
            lo = kw.get("min", args[1] if len(args) > 1 and name != "clamp_max" else None)
            hi = kw.get("max", args[2] if len(args) > 2 else args[1] if name == "clamp_max" and len(args) > 1 else None)
            if lo is not None and not (isinstance(lo, ast.Constant) and lo.value is None):
                v = max(v, self.value(lo, env))
            if hi is not None and not (isinstance(hi, ast.Constant) and hi.value is None):
                v = min(v, self.value(hi, env))
            return v
        raise Unknown(name)


def _truth(v: float) -> float:
    """``v`` as a mask's 0 or 1; anything else (``~n`` of an integer) is not modelled."""
    if v not in (0.0, 1.0):
        raise Unknown("not a truth value")
    return v


def is_module(node: ast.AST) -> bool:
    root = node
    while isinstance(root, ast.Attribute):
        root = root.value
    return isinstance(root, ast.Name) and root.id in ("torch", "jnp", "np", "numpy", "jax", "math", "F", "lax")
