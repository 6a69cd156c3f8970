"""What a setting stands for, for the range fact (:mod:`kinkcheck.lint.ranges`): the
defaults of parameters (``eps=0.0`` is no guard, ``t=0.07`` is positive), ``self.<attr>``
config set from them, and the number a name or expression fixes (``order / rho``)."""

from __future__ import annotations

import ast

from kinkcheck.lint.bindings import parameters
from kinkcheck.lint.ranges import ANY, POS, _config_name, _const, class_of_self, join
from kinkcheck.lint.resolve import const_value, is_eps_like
from kinkcheck.syntax import callee_tail


def known_zero(node: ast.AST, ctx) -> bool:
    """An eps that is 0 wherever the code gives it a value: ``x + self.log_eps`` with
    ``__init__(self, log_eps=0.0)`` (auraloss's magnitude loss) or ``x + eps`` with
    ``eps=0``: no guard until a caller passes a positive one."""
    if isinstance(node, ast.Name):
        default = ctx.param_default(node.id) if hasattr(ctx, "param_default") else None
        if default is None and hasattr(ctx, "qualname") and node.id not in getattr(ctx, "bound", ()):
            return _closure_zero(node.id, ctx)
        return default is not None and const_value(default) == 0 and not ctx.assignments().get(node.id)
    if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"):
        return False
    fa = getattr(ctx, "fa", None)
    values = fa.self_assigns().get(node.attr, []) if fa is not None else []
    if not values:
        return False
    for value in values:
        if isinstance(value, ast.Name):
            defaults = _defaults_of(value.id, fa)
            if not defaults or any(const_value(d) != 0 for d in defaults):
                return False
        elif const_value(value) != 0:
            return False
    return True


def _closure_zero(name: str, ctx) -> bool:
    """``eps_root`` of ``def scale_by_adam(..., eps_root=0.0): def f(m, v): ... v.add(eps_root)``:
    a free name of a nested function that the enclosing one defaults to 0 and never rebinds."""
    from kinkcheck.lint.kinds import binding_scope

    outer = binding_scope(name, ctx)
    if outer is None:
        return False
    default = outer.param_default(name)
    return default is not None and const_value(default) == 0 and not outer.assignments().get(name)


def _param_defaults(fa) -> dict[str, list[ast.expr]]:
    """Every default any function of the file gives a parameter of each name (memoized)."""
    cache = getattr(fa, "_param_defaults", None)
    if cache is None:
        cache = {}
        for fn in ast.walk(fa.tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = fn.args
                positional = [*args.posonlyargs, *args.args]
                for a, d in zip(positional[len(positional) - len(args.defaults):], args.defaults):
                    cache.setdefault(a.arg, []).append(d)
                for a, kd in zip(args.kwonlyargs, args.kw_defaults):
                    if kd is not None:
                        cache.setdefault(a.arg, []).append(kd)
        try:
            fa._param_defaults = cache
        except AttributeError:
            pass
    return cache


def _init_param(name: str, fa) -> str:
    """``self.t = t`` in ``__init__(self, t=0.07)``: the range of that parameter's defaults."""
    defaults = _param_defaults(fa).get(name)
    if not defaults:
        return _config_name(name)
    rs = []
    for d in defaults:
        v = const_value(d)
        if v is not None:
            rs.append(_const(v))
        elif is_eps_like(d):
            rs.append(POS)
        elif isinstance(d, ast.Constant) and d.value is None:
            rs.append(_config_name(name))
        else:
            rs.append(ANY)
    return join(*rs)


def numeric_value(node: ast.AST | None, ctx, depth: int = 4):
    """The number ``node`` stands for when literals, parameter defaults, assignments that
    reach it and ``self.<attr>`` config fix it (``order / rho`` with ``order=1.0, rho=2.0``
    is 0.5), else None."""
    if node is None or depth < 0:
        return None
    v = const_value(node)
    if v is not None:
        return v
    if isinstance(node, ast.Name):
        if hasattr(ctx, "parents") and ctx.parent(node) is not None:
            from kinkcheck.lint import flow

            found, entry = flow.reaching(node.id, node, ctx)
            values = [numeric_value(val, ctx, depth - 1) if val is not None and not flow.is_size_stand_in(val) else None
                      for _, val in found]
            if entry:
                default = ctx.param_default(node.id) if hasattr(ctx, "param_default") else None
                values.append(numeric_value(default, ctx, depth - 1) if default is not None else None)
            if values and all(x is not None for x in values) and len(set(values)) == 1:
                return values[0]
        return None
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        fa = getattr(ctx, "fa", None)
        own = _own_settings(fa, class_of_self(ctx), node.attr) if fa is not None else None
        values = fa.self_assigns().get(node.attr, []) if fa is not None and own is None else []
        nums: list = [] if own is None else own
        for value in values:
            if isinstance(value, ast.Name):
                defaults = _defaults_of(value.id, fa)
                nums.extend(const_value(d) for d in defaults) if defaults else nums.append(None)
            else:
                nums.append(const_value(value))
        if nums and all(x is not None for x in nums) and len(set(nums)) == 1:
            return nums[0]
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        a, b = numeric_value(node.left, ctx, depth - 1), numeric_value(node.right, ctx, depth - 1)
        if a is None or b is None:
            return None
        try:
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(type(node.op)) if not isinstance(
                node.op, ast.Div) else a / b
        except ZeroDivisionError:
            return None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = numeric_value(node.operand, ctx, depth - 1)  # `x ** (-p)` with `p = 4` above
        return None if v is None or isinstance(v, bool) else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        a, b = numeric_value(node.left, ctx, depth - 1), numeric_value(node.right, ctx, depth - 1)
        if a is None or b is None or isinstance(a, bool) or isinstance(b, bool) or (a <= 0 and not float(b).is_integer()):
            return None
        try:
            return float(a) ** b  # `eps ** 0.5` with `eps=1e-8`
        except (OverflowError, ZeroDivisionError):
            return None
    if isinstance(node, ast.Call) and len(node.args) == 1 and not isinstance(node.args[0], ast.Starred):
        # a number made a tensor, or its root (`torch.tensor(eps)`, `math.sqrt(eps)`)
        tail = callee_tail(node.func)
        if tail in ("tensor", "as_tensor", "float", "sqrt"):
            v = numeric_value(node.args[0], ctx, depth - 1)
            if v is None or isinstance(v, bool) or (tail == "sqrt" and v < 0):
                return None
            return float(v) ** 0.5 if tail == "sqrt" else v
    return None


def _switched_off(node: ast.AST, ctx) -> bool:
    """A product with a coefficient that is 0 wherever the code gives it a value: a parameter
    defaulting to 0.0 that no caller in the file passes otherwise (a term that is off unless
    a caller turns it on, like an ``alpha=0.0`` cross term)."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult)):
        return False  # a bare `- eps` is a threshold at 0, not a term turned off
    factors: list[ast.AST] = []
    stack: list[ast.AST] = [node]
    while stack:
        f = stack.pop()
        if isinstance(f, ast.BinOp) and isinstance(f.op, ast.Mult):
            stack += [f.left, f.right]
        else:
            factors.append(f)
    for f in factors:
        if not (isinstance(f, ast.Name) and hasattr(ctx, "param_default")):
            continue
        default = ctx.param_default(f.id)
        if default is None or const_value(default) != 0 or numeric_value(f, ctx) != 0:
            continue
        from kinkcheck.lint import call_sites

        passed = call_sites.argument_values(f.id, ctx) if hasattr(ctx, "fa") else None
        if passed is None or all(numeric_value(value, caller) == 0 for caller, value in passed):
            return True
    return False


def _own_settings(fa, cls_qual: str | None, attr: str) -> list | None:
    """The numbers the methods of ``cls_qual`` (and of its bases in the file) assign to
    ``self.<attr>``, a parameter read through that method's own default (``self.gamma =
    gamma`` with ``gamma: float = 1.0`` in this class's ``__init__``, not another class's);
    None when none of them assigns it."""
    if not cls_qual:
        return None
    from kinkcheck.lint.bindings import self_assignments
    from kinkcheck.lint.call_sites import bases_in_file

    for cls in (cls_qual, *bases_in_file(fa, cls_qual)):
        nums: list = []
        for _qual, fn, _env, value in self_assignments(fa, cls, attr):
            defaults = {k: d for k, (_, d) in parameters(fn).items()}  # that method's own
            if isinstance(value, ast.Name) and value.id in defaults:
                d = defaults[value.id]
                nums.append(const_value(d) if d is not None else None)
            else:
                nums.append(const_value(value))
        if nums:
            return nums
    return None


def _defaults_of(name: str, fa) -> list:
    return _param_defaults(fa).get(name, [])


def _is_int(annotation: ast.AST | None) -> bool:
    return isinstance(annotation, ast.Name) and annotation.id == "int" or (
        isinstance(annotation, ast.Constant) and annotation.value == "int")


def integer_setting(node: ast.AST, ctx, depth: int = 3) -> bool:
    """``node`` is a whole number the code states: a parameter ``n: int`` of this function or of
    the one it is defined in (``def Monomial(degree: int): def fn(x): return x ** degree``),
    ``self.n`` assigned only from parameters declared ``int`` (``def __init__(self, n: int)``),
    the counter of a ``for l in range(...)`` loop, or a sum, difference or product of such and
    integer literals (``2 * degree + 1``, ``l - 1``). An integer power has no fractional
    exponent, whatever its value."""
    fn = getattr(ctx, "fn", None)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)) and depth > 0:
        return all(type(const_value(side)) is int or integer_setting(side, ctx, depth - 1)
                   for side in (node.left, node.right))
    if isinstance(node, ast.Name):
        if fn is None:
            return False
        if node.id in _range_counters(fn):
            return True
        if node.id in _rebound(fn):
            return False
        if node.id not in parameters(fn) and depth > 0:
            from kinkcheck.lint.kinds import _enclosing

            outer = _enclosing(ctx) if hasattr(ctx, "qualname") else None
            return outer is not None and integer_setting(node, outer, depth - 1)  # a closure's setting
        return _is_int(_own_annotation(fn, node.id))
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        fa = getattr(ctx, "fa", None)
        return fa is not None and node.attr in _int_attributes(fa)
    return False


def whole_grid(call: ast.AST, ctx, depth: int = 3) -> bool:
    """``arange(stop)`` or ``arange(start, stop[, step])`` of whole numbers with a start and a
    step that are literals >= 0 and > 0, and no dtype: the integers from 0 (or the start) up,
    as an exponent a polynomial basis (``x ** 0`` has slope 0 in torch and jax). Only the grid
    itself: ``-1 - arange(n)`` holds poles."""
    if not isinstance(call, ast.Call):
        return False
    func = call.func
    if callee_tail(func) != "arange" or call.keywords or isinstance(func, ast.Attribute) and not (
            hasattr(ctx, "is_module_ref") and ctx.is_module_ref(func.value)):
        return False
    args = call.args
    if not 1 <= len(args) <= 3 or any(isinstance(a, ast.Starred) for a in args):
        return False
    start, step = (args[0] if len(args) > 1 else None), (args[2] if len(args) > 2 else None)
    if start is not None and not (type(const_value(start)) is int and const_value(start) >= 0):
        return False
    if step is not None and not (type(const_value(step)) is int and const_value(step) > 0):
        return False
    stop = args[1] if len(args) > 1 else args[0]
    return type(const_value(stop)) is int or integer_setting(stop, ctx, depth)


def _own_annotation(fn: ast.AST, name: str) -> ast.AST | None:
    args = getattr(fn, "args", None)
    if not isinstance(args, ast.arguments):
        return None
    return next((a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.arg == name), None)


def _int_attributes(fa) -> set[str]:
    """``self.<attr>`` assigned only ever from a parameter declared ``int`` (memoized)."""
    cache = getattr(fa, "_int_attributes", None)
    if cache is None:
        verdict: dict[str, bool] = {}
        for fn in ast.walk(fa.tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for n in ast.walk(fn):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(
                    n, (ast.AugAssign, ast.AnnAssign)) else []
                for t in targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        value = getattr(n, "value", None)
                        ok = isinstance(n, ast.Assign) and isinstance(value, ast.Name) and _is_int(
                            _own_annotation(fn, value.id))
                        verdict[t.attr] = verdict.get(t.attr, True) and ok
        cache = {attr for attr, ok in verdict.items() if ok}
        try:
            fa._int_attributes = cache
        except AttributeError:
            pass
    return cache


def _range_counters(fn: ast.AST) -> set[str]:
    """Names bound only as the counter of a ``for ... in range(...)`` loop of ``fn``."""
    counters: set[str] = set()
    other: set[str] = set()  # names any other loop or comprehension binds
    for n in ast.walk(fn):
        if not isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)):
            continue
        if isinstance(n, (ast.For, ast.AsyncFor)) and isinstance(n.iter, ast.Call) \
                and isinstance(n.iter.func, ast.Name) and n.iter.func.id == "range":
            if isinstance(n.target, ast.Name):
                counters.add(n.target.id)
        else:
            other.update(t.id for t in ast.walk(n.target) if isinstance(t, ast.Name))
    return counters - other - _rebound(fn) - set(parameters(fn))


def _rebound(fn: ast.AST) -> set[str]:
    return {t.id for n in ast.walk(fn) if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign))
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
