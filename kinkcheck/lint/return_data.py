"""Helpers of another checked file whose return carries no gradient: a draw of timesteps
(``sample_continuous_t(n, device=d)`` returns ``torch.rand(n)``), a grid, a schedule built
from them. A file sees only its own functions, so what such a helper returned read as
anything that may carry gradient, and the clamp of the drawn timesteps, the square root of a
schedule built from them, the log of a drawn noise level were findings of the loss.

At index time :func:`summarise` works out, for a module-level function, the parameters its
returns are made of when nothing else in them can carry gradient: draws, grids and other
arrays built without gradient, numbers, shapes, comparisons, and arithmetic and array
functions of those (anything else, a call into other code, module state, a global: no
summary). Scope hands each file the summaries of the functions of other modules its
functions in scope call, as ``"<qualname>#returns-data <param>:<index>,..."``; the call's
value is data where the arguments it passes for those parameters carry no gradient either
(or it leaves them to their defaults).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from kinkcheck.lint.resolve import ARRAY_LIBRARIES, DATA_FUNCS
from kinkcheck.lint.return_range import other_module_callees, parameter_specs
from kinkcheck.lint.walk import walk_local
from kinkcheck.syntax import base_name, callee_tail

DATA_ENTRY = "#returns-data "
#: attributes of an array that are numbers or settings, never its values
_NUMBER_ATTRS = frozenset({"shape", "dtype", "device", "ndim", "size", "is_cuda", "layout", "requires_grad"})
#: keywords of array functions that say how, not what
_HOW_KEYWORDS = frozenset({"dim", "axis", "keepdim", "keepdims", "dtype", "device", "out", "layout",
                           "generator", "key"})
#: library modules whose lowercase functions build networks, not arrays
_NETWORK_FACTORIES = ("torch.hub.", "torchvision.models.", "timm.", "transformers.")
#: array methods whose result carries none of the receiver's gradient
_CUT_METHODS = frozenset({"detach", "argmax", "argmin", "argsort", "long", "int", "bool", "nonzero", "floor",
                          "ceil", "round", "sign", "isnan", "isinf", "isfinite", "size", "dim", "numel",
                          "item", "tolist", "numpy"})
_LIBRARIES = ARRAY_LIBRARIES | {"math", "builtins"}
#: names followed through their bindings before a summary gives up (a budget of work)
_MAX_NAMES = 32
#: how deep an expression is read before a summary gives up (a 60,000-term sum is one
#: expression 60,000 levels deep)
_MAX_DEPTH = 64


def summarise(fn: ast.AST, params: Iterable[str],
              resolve: Callable[[ast.AST], str | None]) -> tuple[str, ...] | None:
    """``("p_mean:1", ...)``: the parameters (with their positions) the returns of ``fn`` are
    made of when nothing else in them can carry gradient; None otherwise (or when it yields,
    or returns nothing)."""
    positions = {p: i for i, p in enumerate(params)}
    bound: dict[str, list[ast.AST]] = {}
    returned: list[ast.AST] = []
    for node in walk_local(fn):
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Global, ast.Nonlocal)):
            return None
        if isinstance(node, ast.Return):
            if node.value is None:
                return None
            returned.append(node.value)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for n in _stored_names(t):
                    bound.setdefault(n, []).append(node.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            # `per_scale.append(v)`, `out.add_(v)`: a method may store its arguments in the
            # value it is called on
            base = base_name(node.func.value)
            if base is not None:
                bound.setdefault(base, []).extend([*node.args, *(k.value for k in node.keywords)])
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            for n in _stored_names(node.target):  # an element of what it iterates
                bound.setdefault(n, []).append(node.iter)
        elif isinstance(node, ast.NamedExpr):
            bound.setdefault(node.target.id, []).append(node.value)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            for n in _stored_names(node.optional_vars):
                bound.setdefault(n, []).append(node.context_expr)
    if not returned:
        return None
    depends = _Reader(positions, bound, resolve).all_of(*returned)
    return None if depends is None else tuple(sorted(f"{p}:{positions[p]}" for p in depends))


def _stored_names(target: ast.AST) -> list[str]:
    """The local names an assignment target writes: ``a`` and ``b`` of ``a, *b = ...``, ``x``
    of ``x[i] = ...`` and ``x.attr = ...`` (the value is stored into ``x``)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for e in target.elts for n in _stored_names(e)]
    if isinstance(target, ast.Starred):
        return _stored_names(target.value)
    base = base_name(target)
    return [base] if base is not None else []


class _Reader:
    def __init__(self, positions: dict[str, int], bound: dict[str, list[ast.AST]],
                 resolve: Callable[[ast.AST], str | None]):
        self.positions = positions
        self.bound = bound
        self.resolve = resolve
        self.names: dict[str, frozenset[str] | None] = {}
        self.depth = 0

    def depends(self, node: ast.AST) -> frozenset[str] | None:
        """The parameters ``node``'s value is made of; None when something else in it may
        carry gradient, or it is too deep to read."""
        if self.depth >= _MAX_DEPTH:
            return None
        self.depth += 1
        try:
            return self._depends(node)
        finally:
            self.depth -= 1

    def _depends(self, node: ast.AST) -> frozenset[str] | None:
        if isinstance(node, ast.Constant):
            return frozenset()
        if isinstance(node, ast.Compare):
            return frozenset()  # a truth value
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.Attribute):
            if node.attr in _NUMBER_ATTRS:
                return frozenset()
            q = self.resolve(node)
            if q is not None and q.partition(".")[0] in _LIBRARIES:
                return frozenset()  # `math.pi`, `torch.float32`
            return self.depends(node.value) if isinstance(node.value, ast.Name) and node.value.id in self.positions \
                else None
        if isinstance(node, ast.Subscript):
            return self.depends(node.value)
        if isinstance(node, ast.BinOp):
            return self.all_of(node.left, node.right)
        if isinstance(node, ast.UnaryOp):
            return frozenset() if isinstance(node.op, ast.Not) else self.depends(node.operand)
        if isinstance(node, ast.BoolOp):
            return self.all_of(*node.values)
        if isinstance(node, ast.IfExp):
            return self.all_of(node.body, node.orelse)
        if isinstance(node, (ast.Tuple, ast.List)):
            return self.all_of(*node.elts)
        if isinstance(node, ast.Call):
            return self._call(node)
        return None

    def all_of(self, *nodes: ast.AST) -> frozenset[str] | None:
        out: frozenset[str] = frozenset()
        for n in nodes:
            got = self.depends(n)
            if got is None:
                return None
            out |= got
        return out

    def _name(self, node: ast.Name) -> frozenset[str] | None:
        name = node.id
        if name in self.names:
            return self.names[name]
        values = self.bound.get(name)
        if values is None:
            if name in self.positions:
                return frozenset({name})
            q = self.resolve(node)
            return frozenset() if q is not None and q.partition(".")[0] in _LIBRARIES else None
        if len(self.names) >= _MAX_NAMES:
            return None
        self.names[name] = frozenset({name}) if name in self.positions else frozenset()  # met again: adds nothing
        out: frozenset[str] | None = self.names[name]
        for v in values:
            got = self.depends(v)
            if got is None or out is None:
                out = None
                break
            out = out | got
        self.names[name] = out
        return out

    def _call(self, node: ast.Call) -> frozenset[str] | None:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            return None
        if callee_tail(node.func) == "requires_grad_" or any(
                k.arg == "requires_grad" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                for k in node.keywords):
            return None  # `torch.randn(n, d, requires_grad=True)`: a leaf that is learnt
        args = [*node.args, *(k.value for k in node.keywords if k.arg not in _HOW_KEYWORDS)]
        tail = callee_tail(node.func)
        q = self.resolve(node.func)
        if q is not None and q.partition(".")[0] in _LIBRARIES:
            if q.startswith(_NETWORK_FACTORIES):
                return None  # `torch.hub.load(...)`, `resnet18()`: a network
            if tail in DATA_FUNCS:
                return frozenset()  # a draw, a grid, an array built without gradient
            if tail[:1].isupper():
                return None  # a class: a layer holds parameters
            return self.all_of(*args)
        if isinstance(node.func, ast.Attribute) and q is None:
            if tail in _CUT_METHODS or tail in DATA_FUNCS:
                return frozenset()
            return self.all_of(node.func.value, *args)  # a method of an array
        return None  # a function of the checked code, or one nothing is known of


def add_entries(world, scoped: dict[str, set[str]]) -> None:
    """Add to each file's scope set the entries of the functions of other modules its functions
    in scope call that return data given data (``world`` is scope's view of every index)."""
    for qs in scoped.values():
        qs.update({f"{t}{DATA_ENTRY}{','.join(tf.data_return)}" for t, tf in other_module_callees(world, qs)
                   if tf.data_return is not None})


def parse(functions: Iterable[str]) -> dict[str, tuple[tuple[str, int], ...]]:
    """qualname -> the parameters its data-only return depends on, from scope entries."""
    out = {}
    for entry in functions:
        q, sep, rest = entry.partition(DATA_ENTRY)
        if sep:
            out[q] = parameter_specs(rest)
    return out
