"""Ranges of calls: callees with a known sign (exp, abs, norms, counts), those that keep their
operand's (sums, casts, views, pools), clamps and maxima with a floor, and, for a function or a
method of the checked file, the join of what it returns (its summary). ``ranges._range`` asks
``_call``; the arithmetic is in ``ranges``, names and attributes in ``ranges_names``."""

from __future__ import annotations

import ast
from typing import Any

from kinkcheck.lint.ranges import (
    _LOSS_LIBRARIES,
    _UNDERFLOW,
    ANY,
    BOTTOM,
    COUNTS,
    FLOORED,
    GE1,
    KEEP,
    NO_UNDERFLOW,
    NONNEG,
    NONNEGATIVE,
    NONNEGATIVE_LOSSES,
    NONZERO,
    POS,
    POSITIVE,
    POSU,
    REDUCE,
    _add,
    _div,
    _mul,
    _pow,
    _range_of,
    class_of_self,
    is_nonnegative,
    is_nonzero,
    is_positive,
    join,
)
from kinkcheck.lint.ranges_forms import _defined, _signed_terms
from kinkcheck.lint.ranges_returned import _returned, own_function
from kinkcheck.lint.resolve import (
    const_value,
    is_eps_like,
)
from kinkcheck.syntax import binary_operands, callee_tail


def _call_tail(node: ast.Call, ctx) -> tuple[str | None, bool]:
    """(callee's last name, whether it is a method on a value)."""
    func = node.func
    method = isinstance(func, ast.Attribute) and not (hasattr(ctx, "is_module_ref") and ctx.is_module_ref(func.value))
    q = ctx.qualify(func) if hasattr(ctx, "qualify") and not method else None
    if q:
        return q.rsplit(".", 1)[-1], False
    if isinstance(func, ast.Attribute):
        attr = func.attr
        if method and attr.endswith("_") and not attr.endswith("__"):
            attr = attr[:-1]  # `d.pow_(2)`, `x.abs_()`: an in-place method keeps the value of its twin
        return attr, method
    if isinstance(func, ast.Name):
        return func.id, False
    return None, False


#: sums and means of values into groups (a graph's nodes, a batch's segments): graph code's
#: ``scatter(src, index, reduce="mean")``, ``segment_sum``, and a tensor's ``scatter_add``
SCATTERED = frozenset({"scatter", "scatter_add", "scatter_add_", "scatter_sum", "scatter_mean", "segment_mean",
                       "segment_csr", "segment_coo", "index_add", "index_add_", "scatter_reduce", "scatter_reduce_"})


def _scattered(node: ast.Call, tail: str, method: bool, first, ctx, depth: int) -> str:
    """A sum or mean of ``src`` per group: same-signed like ``src``, and 0 in an empty group.
    The function form takes ``src`` first (``torch.scatter(input, dim, index, src)`` writes
    into ``input`` as the method does); the method adds ``src`` into the tensor it is called on,
    and ``reduce="amax"``/``"prod"`` are left alone."""
    kw = {k.arg: k.value for k in node.keywords if k.arg}
    reduce = kw.get("reduce", node.args[3] if tail.startswith("scatter_reduce") and len(node.args) > 3 else None)
    mode = reduce.value if isinstance(reduce, ast.Constant) else "sum" if reduce is None else None
    if mode not in ("sum", "add", "mean"):
        return ANY
    q = ctx.qualify(node.func) if hasattr(ctx, "qualify") and not method else None
    if method or (q or "").startswith("torch."):
        base = first
        src = kw.get("src", kw.get("source", node.args[2] if len(node.args) > 2 else None)) if method else \
            kw.get("src", node.args[3] if len(node.args) > 3 else None)
        if base is None or src is None:
            return ANY
        return join(_range_of(base, ctx, depth), _range_of(src, ctx, depth))
    r = _range_of(first, ctx, depth) if first is not None else ANY
    return NONNEG if is_nonnegative(r) else ANY


#: transforms whose result, called, computes what the function handed to them computes
_MAPPERS = frozenset({"vmap", "pmap", "jit", "partial", "checkpoint", "remat", "named_call"})


def _mapped_function(func: ast.AST) -> str | None:
    """The last name of the function a transform wraps: ``jnp.var`` of
    ``jax.vmap(functools.partial(jnp.var, keepdims=True))``."""
    for _ in range(4):
        if not (isinstance(func, ast.Call) and func.args):
            return None
        name = callee_tail(func.func)
        if name not in _MAPPERS:
            return None
        func = func.args[0]
        if isinstance(func, (ast.Name, ast.Attribute)):
            return func.attr if isinstance(func, ast.Attribute) else func.id
    return None


#: odd, strictly increasing functions that never round a nonzero float to 0: the sign of their
#: argument is theirs (``sinh``, ``asinh``, ``tanh`` and ``atanh`` near 0 are the identity)
_SIGN_KEEPING = frozenset({"sinh", "asinh", "arcsinh", "tanh", "atanh", "arctanh", "sinh_", "tanh_"})


def _call(node: ast.Call, ctx, depth: int) -> str:
    tail, method = _call_tail(node, ctx)
    if tail is None:
        mapped = _mapped_function(node.func)
        if mapped in NONNEGATIVE:
            return NONNEG  # `jax.vmap(partial(jnp.var, keepdims=True))(y)`: a variance per row
        return POS if mapped in POSITIVE and mapped in NO_UNDERFLOW else ANY
    own = own_function(node, ctx) if hasattr(ctx, "fa") else None
    if own is not None:
        # `self.clamp(d)` of a class that defines `clamp`, a helper named `softplus`: what the
        # code it calls returns, read with its defaults, so only where the call sets none of
        # them. A thin wrapper (`def segment_sum(data, ids): return jax.ops.segment_sum(data,
        # ids)`) is the library function: its summary knows nothing of the arguments
        entry = ctx.fa.ix.scopes[own][0]
        if not _wrapper_of(entry, own.rsplit(".", 1)[-1]):
            return _returned(node, ctx, depth) if not _sets_defaults(node, entry) else ANY
    args = list(node.args)
    kw = {k.arg: k.value for k in node.keywords if k.arg}
    func: Any = node.func  # an Attribute when `method`
    first = func.value if method else (args[0] if args else None)
    rest = args if method else args[1:]
    if tail in POSITIVE:
        if _UNDERFLOW.get() and tail not in NO_UNDERFLOW and not _floored(tail, first, ctx):
            return POSU
        return POS
    if tail in ("norm", "vector_norm", "matrix_norm") and first is not None and is_positive(_range_of(first, ctx, depth)):
        return POS  # the norm of positive entries (a clamped magnitude spectrum) is > 0
    if tail in ("sum", "nansum", "count_nonzero") and first is not None and _attains_extreme(
            first, _axis(node, method), ctx):
        return GE1
    if tail in ("abs", "absolute", "fabs") and first is not None and is_nonzero(_range_of(first, ctx, depth)):
        return POS  # `log(abs(scale))` of a scale kept > 0
    if tail in NONNEGATIVE:
        return NONNEG
    if tail in NONNEGATIVE_LOSSES and (ctx.qualify(node.func) or "").startswith(_LOSS_LIBRARIES):
        return NONNEG
    if tail in COUNTS:
        return GE1
    if tail in _SIGN_KEEPING and first is not None:
        # odd increasing functions keep their argument's sign: `2 / sinh(asinh(2) * tailweight)`
        r = _range_of(first, ctx, depth)
        return POS if is_positive(r) else r if r in (NONNEG, NONZERO) else ANY
    if tail in ("sqrt", "rsqrt"):
        return POS if is_positive(_range_of(first, ctx, depth)) else NONNEG
    if tail in ("pow", "float_power", "power"):
        exponent = rest[0] if rest else kw.get("exponent")
        return _pow(_range_of(first, ctx, depth), exponent, ctx, depth) if exponent is not None else ANY
    if tail in ("add", "add_"):
        other = rest[0] if rest else kw.get("other")
        return _add(_range_of(first, ctx, depth), _range_of(other, ctx, depth)) if other is not None else ANY
    if tail in ("mul", "mul_", "multiply", "matmul", "mm", "bmm", "dot", "inner"):
        other = rest[0] if rest else kw.get("other")
        return _mul(_range_of(first, ctx, depth), _range_of(other, ctx, depth)) if other is not None else ANY
    if tail in ("div", "div_", "true_divide", "divide"):
        other = rest[0] if rest else kw.get("other")
        return _div(_range_of(first, ctx, depth), _range_of(other, ctx, depth)) if other is not None else ANY
    if tail in ("maximum", "fmax") or tail == "max" and len(args) + method >= 2:
        operands = binary_operands(node, method)
        return _max(_range_of(operands[0], ctx, depth), _range_of(operands[1], ctx, depth)) if len(operands) >= 2 else ANY
    if tail in FLOORED:
        low = _floor(tail, method, args, kw)
        if low is not None:
            lr = _range_of(low, ctx, depth)
            return lr if is_nonnegative(lr) else ANY
        return ANY
    if tail in ("full", "full_like", "new_full"):
        fill = (args[1] if len(args) > 1 else kw.get("fill_value"))
        return _range_of(fill, ctx, depth) if fill is not None else ANY
    if tail in ("finfo", "iinfo"):
        return ANY
    if tail == "Parameterize" and not method and first is not None:
        # paramax's constrained parameter, `Parameterize(softplus, raw)`: the function's value
        f = first.attr if isinstance(first, ast.Attribute) else getattr(first, "id", None)
        if f not in POSITIVE:
            return ANY
        return POSU if _UNDERFLOW.get() and f not in NO_UNDERFLOW else POS
    if tail == "linspace":
        # a schedule between two ends (`linspace(warmup_temp, temp, n)`): between them
        ends = [args[i] if len(args) > i else kw.get(k) for i, k in ((0, "start"), (1, "end"))]
        return join(*(_range_of(e, ctx, depth) for e in ends)) if all(e is not None for e in ends) else ANY
    if tail == "logspace":
        return POS
    if tail == "arange":
        # `arange(1, k + 1)`: counts up from its start (0 when only the stop is given)
        start = args[0] if len(args) >= 2 else kw.get("start")
        step = args[2] if len(args) > 2 else kw.get("step")
        if step is not None and not ((const_value(step) or 0) > 0):
            return ANY
        if start is None:
            return NONNEG
        r = _range_of(start, ctx, depth)
        return r if is_nonnegative(r) else ANY
    if tail in SCATTERED:
        return _scattered(node, tail, method, first, ctx, depth)
    if tail in ("diag", "diagonal") and _cholesky_diagonal(node, first, rest, kw, ctx):
        return POS
    if tail in KEEP:
        if tail in ("max", "min", "amax", "amin", "median") and len(args) >= 2 and not method:
            return ANY  # elementwise max/min of two values: handled above for max
        if tail == "tensor" and args:
            return _range_of(args[0], ctx, depth)
        r = _range_of(first, ctx, depth) if first is not None else ANY
        if r == POSU and tail in REDUCE:
            return POS  # a mean of softmax probabilities: one may round to 0, all of them hardly
        return r
    if tail in JOINED and not method and first is not None:
        # `torch.cat([a, b])`, `np.append(1 - p, p, axis=1)`: every entry is one of theirs
        if tail != "append":
            return _range_of(first, ctx, depth)  # the sequence: a list's or tuple's join
        return join(*(_range_of(a, ctx, depth) for a in args[:2])) if len(args) >= 2 else ANY
    if tail in ("log", "log2", "log10", "log_", "log2_", "log10_") and first is not None:
        return _log(first, ctx, depth)
    if tail in ("log1p", "log1p_"):
        r = _range_of(first, ctx, depth)  # log1p(x) has x's sign: > 0, >= 0
        return r if r == BOTTOM else POS if is_positive(r) else NONNEG if is_nonnegative(r) else ANY
    if tail in ("reciprocal",) and is_positive(_range_of(first, ctx, depth)):
        return POS
    if tail == "where" and not method and len(args) == 3:
        from kinkcheck.lint.ranges_select import where_range

        return where_range(node, ctx, depth)
    cast = ctx.cast_operand(node) if tail == "cast" and hasattr(ctx, "cast_operand") else None
    if cast is not None:
        return _range_of(cast, ctx, depth)  # `typing.cast(jax.Array, x)` is x
    return _returned(node, ctx, depth)


def _wrapper_of(fn: ast.AST, name: str) -> bool:
    """``fn`` only hands its parameters on, unchanged, to a function of the same last name
    (another module's: ``return jax.ops.segment_sum(data=data, segment_ids=segment_ids)``)."""
    body = [st for st in getattr(fn, "body", ()) if not (isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant))]
    call = body[0].value if len(body) == 1 and isinstance(body[0], ast.Return) else None
    if not isinstance(call, ast.Call) or callee_tail(call.func) != name:
        return False
    signature = getattr(fn, "args", None)
    params = {a.arg for a in ast.walk(signature) if isinstance(a, ast.arg)} if isinstance(signature, ast.arguments) else set()
    receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
    return not (isinstance(receiver, ast.Name) and (receiver.id in params or receiver.id in ("self", "cls"))) \
        and all(isinstance(v, ast.Name) and v.id in params for v in (*call.args, *(k.value for k in call.keywords)))


def _sets_defaults(call: ast.Call, fn: ast.AST) -> bool:
    """The call hands a number to a parameter whose default is a number or None (``clamp(d,
    0.0)`` of ``def clamp(x, lo=1e-6)``): a summary read with the defaults does not describe
    it. Flags and axes (``keepdim=True``, ``dim=-1``) leave the range as it is, and so does a
    value of the default's own sign (``magnitude(x, self.eps)`` of ``def magnitude(spec,
    eps=1e-7)``: an eps for an eps)."""
    args = getattr(fn, "args", None)
    if not isinstance(args, ast.arguments):
        return True
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return True
    positional = [*args.posonlyargs, *args.args]
    if positional and positional[0].arg in ("self", "cls") and isinstance(call.func, ast.Attribute):
        positional = positional[1:]
    defaults = dict(zip((a.arg for a in positional[len(positional) - len(args.defaults):]), args.defaults))
    defaults.update((a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None)
    handed: list[tuple[str | None, ast.AST]] = [(positional[i].arg, v) for i, v in enumerate(call.args) if i < len(positional)]
    handed += [(k.arg, k.value) for k in call.keywords]
    return any(name in defaults and _numeric_setting(defaults[name]) and not _flag(value)
               and not _eps_for_eps(value, defaults[name]) for name, value in handed)


def _eps_for_eps(value: ast.AST, default: ast.AST) -> bool:
    """An eps-like ``value`` (``self.eps``, ``1e-6``) handed for an eps-like default."""
    return is_eps_like(default) and is_eps_like(value)


def _numeric_setting(default: ast.AST) -> bool:
    v = const_value(default)
    return isinstance(default, ast.Constant) and default.value is None or isinstance(v, float)


def _flag(value: ast.AST) -> bool:
    return isinstance(value, ast.Constant) and isinstance(value.value, (bool, str))


def _cholesky_diagonal(node: ast.Call, first: ast.AST | None, rest: list, kw: dict, ctx) -> bool:
    """The main diagonal of a Cholesky factor (``diag(L)`` after ``L = cholesky(cov)``,
    ``diagonal(L, dim1=-2, dim2=-1)`` of a batch) is > 0 wherever the factor exists (a matrix
    that is not positive definite has none: KC208 says so at the ``cholesky``), so
    ``log(diag(L))`` of a log-determinant has no pole. A ``diagonal`` over other axes (its
    default is the first two) and a factor changed in place hold its zeros."""
    offset = rest[0] if rest else kw.get("offset", kw.get("diagonal", kw.get("k")))
    if first is None or offset is not None and const_value(offset) != 0:
        return False  # an offset diagonal holds entries off the main one
    if callee_tail(node.func) == "diagonal":
        axes = [rest[i] if len(rest) > i else kw.get(a, kw.get(b)) for i, a, b in ((1, "dim1", "axis1"), (2, "dim2", "axis2"))]
        if sorted(const_value(a) if a is not None else 0 for a in axes) != [-2, -1]:
            return False
    return _cholesky_factor(first, None, ctx, 6)


#: library calls whose value (or first item: ``L, info = cholesky_ex(A)``, scipy's
#: ``c, lower = cho_factor(A)``) holds a Cholesky factor on its main diagonal
_CHOLESKY = frozenset({"cholesky", "cholesky_ex", "cho_factor"})


def _cholesky_factor(expr: ast.AST, item: int | None, ctx, depth: int) -> bool:
    """``expr`` (its ``item``-th value, where it is a tuple) is a Cholesky factor: a library's
    ``cholesky`` call; a local name bound once to one (``L, _ = jitter_cholesky(K)``, the
    factor changed in place is not); ``self.<attr>`` that every method assigns one (tinygp's
    ``self.scale_tril = linalg.cholesky(cov)``); a call of a function of this file every
    return of which is one (a retry with growing jitter). ``depth`` bounds the hops."""
    if depth <= 0 or not hasattr(ctx, "fa"):
        return False
    if isinstance(expr, ast.Name) and item is None:
        bound = _bindings(expr.id, ctx)
        return bool(bound) and not _changed_in_place(expr.id, ctx) \
            and all(_cholesky_factor(value, at, ctx, depth - 1) for value, at in bound)
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self" and item is None:
        from kinkcheck.lint import call_sites
        from kinkcheck.lint.ranges_names import _class_assignments

        assigned = _class_assignments(ctx.fa, class_of_self(ctx), expr.attr)
        return bool(assigned) and not _written_into(ctx.fa, class_of_self(ctx), expr.attr) and all(
            qual is not None and qual in ctx.fa.ix.scopes and _cholesky_factor(
                value, None, call_sites.caller_context(ctx.fa, qual, ctx.fa.ix.scopes[qual]), depth - 1)
            for qual, _, value in assigned)
    if not isinstance(expr, ast.Call):
        return False
    q = own_function(expr, ctx)
    if q is None:
        tail = callee_tail(expr.func)
        return tail == "cholesky" and item is None or tail in _CHOLESKY and tail != "cholesky" and item == 0
    from kinkcheck.lint import call_sites
    from kinkcheck.lint.walk import walk_local

    entry = ctx.fa.ix.scopes[q]
    values = [n.value for n in walk_local(entry[0]) if isinstance(n, ast.Return)]
    if item is not None:
        values = [v.elts[item] if isinstance(v, ast.Tuple) and len(v.elts) > item else None for v in values]
    inner = call_sites.caller_context(ctx.fa, q, entry)
    return bool(values) and all(v is not None and _cholesky_factor(v, None, inner, depth - 1) for v in values)


def _bindings(name: str, ctx) -> list[tuple[ast.AST, int | None]]:
    """The values a local name is assigned (``flow.bindings``) and, for a tuple target (``L,
    info = f(K)``), the position of the name in it; none for a parameter, or where a binding is
    no plain assignment (a loop or ``with`` target, an augmented, annotated or walrus binding, a
    starred or nested unpacking)."""
    from kinkcheck.lint import flow

    if name in getattr(ctx, "params", {}):
        return []
    found: list[tuple[ast.AST, int | None]] = []
    for stmt, _value in flow.bindings(ctx).get(name, ()):
        if not isinstance(stmt, ast.Assign):
            return []
        if any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
            found.append((stmt.value, None))
            continue
        at = [i for t in stmt.targets if isinstance(t, (ast.Tuple, ast.List))
              and not any(isinstance(e, ast.Starred) for e in t.elts)
              for i, e in enumerate(t.elts) if isinstance(e, ast.Name) and e.id == name]
        if len(at) != 1:
            return []  # `*rest, L = f(K)`: which item is L's depends on the length
        found.append((stmt.value, at[0]))
    return found


def _written_into(fa, cls_qual: str | None, attr: str) -> bool:
    """Some method of the class (its bases and subclasses in the file) writes into
    ``self.<attr>``: ``self.L[..., 0] = 0``, ``self.L += d``, ``self.L.zero_()`` (a factor
    changed after it was computed); with no class known, any code of the file."""
    from kinkcheck.lint.call_sites import related_classes

    trees = [n for c in related_classes(fa, cls_qual) if (n := fa.class_node(c)) is not None] if cls_qual else [fa.tree]

    def own(node: ast.AST) -> bool:  # `self.L`, also read through `.data`
        if isinstance(node, ast.Attribute) and node.attr == "data":
            node = node.value
        return isinstance(node, ast.Attribute) and node.attr == attr and isinstance(node.value, ast.Name) \
            and node.value.id == "self"

    for node in (n for tree in trees for n in ast.walk(tree)):
        if isinstance(node, ast.AugAssign) and (own(node.target) or isinstance(node.target, ast.Subscript)
                                                and own(node.target.value)):
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Subscript) and own(t.value) for t in node.targets):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and own(node.func.value) \
                and node.func.attr.endswith("_") and not node.func.attr.startswith("_"):
            return True
        if isinstance(node, ast.Call) and node.args and own(node.args[0]) and callee_tail(node.func).endswith("_") \
                and not callee_tail(node.func).endswith("__"):
            return True  # `torch.nn.init.zeros_(self.L)`
    return False


def _changed_in_place(name: str, ctx, keep: frozenset[str] = frozenset()) -> bool:
    """``L[..., 0] = 0``, ``L.mul_(keep)``, ``L.masked_fill_(m, 0)``: the function writes into
    ``name``'s values (an item store or a mutator, as :func:`bindings.mutated_names` finds
    them, or any other in-place method but those in ``keep``)."""
    from kinkcheck.lint.bindings import mutated_names
    from kinkcheck.lint.walk import walk_local

    if getattr(ctx, "fn", None) is None:
        return False
    return name in mutated_names(ctx) or any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
        and n.func.value.id == name and n.func.attr.endswith("_") and not n.func.attr.endswith("__")
        and n.func.attr not in keep for n in walk_local(ctx.fn))


#: calls that lay the entries of their arguments side by side
JOINED = frozenset({"cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "column_stack", "append"})
#: reductions to an extreme: a value compared with its own maximum reaches it somewhere
_EXTREMES = frozenset({"max", "amax", "min", "amin", "nanmax", "nanmin"})
_CASTS = frozenset({"float", "double", "int", "long", "astype", "to", "type"})
_COMPARE_CALLS = frozenset({"isclose", "equal", "eq", "greater_equal", "ge", "less_equal", "le"})


def _axis(node: ast.Call, method: bool) -> str | None:
    """The reduction axis of ``x.sum(-1)``/``jnp.max(x, axis=-1)`` as source, None for all."""
    positional = node.args if method else node.args[1:]
    axis = positional[0] if positional else next(
        (k.value for k in node.keywords if k.arg in ("axis", "dim")), None)
    return None if axis is None else ast.dump(axis)


def _attains_extreme(node: ast.AST, axis: str | None, ctx) -> bool:
    """``x == x.max(-1, keepdims=True)`` (or ``>=``, ``<=``, ``isclose``): where ``x`` meets
    its own maximum or minimum, true at least once along that axis, so counting it there (or
    everywhere) gives >= 1: a greedy policy's ``opt / opt.sum(-1, keepdims=True)``."""
    for _ in range(3):
        node = _defined(node, ctx) or node
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _CASTS:
            node = node.func.value
        else:
            break
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.GtE, ast.LtE)):
        pair = (node.left, node.comparators[0])
    elif isinstance(node, ast.Call) and _call_tail(node, ctx)[0] in _COMPARE_CALLS and len(node.args) >= 2:
        pair = (node.args[0], node.args[1])
    else:
        return False
    for value, extreme in (pair, pair[::-1]):
        if isinstance(extreme, ast.Attribute) and extreme.attr == "values":
            extreme = extreme.value  # torch's x.max(dim=-1, keepdim=True).values
        elif isinstance(extreme, ast.Subscript) and const_value(extreme.slice) == 0:
            extreme = extreme.value
        if not isinstance(extreme, ast.Call):
            continue
        tail, method = _call_tail(extreme, ctx)
        operand = extreme.func.value if method and isinstance(extreme.func, ast.Attribute) else (
            extreme.args[0] if extreme.args else None)
        if tail in _EXTREMES and operand is not None and ast.dump(operand) == ast.dump(value) and (
                axis is None or _axis(extreme, method) == axis):
            return True
    return False


def _clamped_above_one(arg: ast.AST, ctx) -> bool:
    """``n.clamp_min(2.0)``, or a name bound once to it and never written into after: a floor
    written as a number clearly above 1 (a parameter's default may be overridden, and
    ``1 + 1e-8`` rounds to 1 in float32)."""
    from kinkcheck.lint.guards import _callee_tail, _lower_bound
    from kinkcheck.lint.ranges_similarity import definition

    call = definition(arg, ctx) if isinstance(arg, ast.Name) and not _changed_in_place(arg.id, ctx) else arg
    if not isinstance(call, ast.Call):
        return False
    tail = _callee_tail(call, ctx) or ""
    if tail not in ("clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_", "maximum", "fmax"):
        return False
    low = _lower_bound(call, tail, ctx)
    floor = const_value(low) if low is not None else None
    return floor is not None and floor >= 1.001


def _log(arg: ast.AST, ctx, depth: int) -> str:
    """A log is > 0 above 1 and >= 0 from 1: ``log2(rank + 2.0)``, ``log(1 + n + softplus(x))``
    (a sum of values >= 0 with a constant above 1, or with one term >= 1 and another > 0), or
    of a value clamped above 1 (``log(n.clamp_min(2.0))``); ``log(n)`` of a count is >= 0 (0 at
    n == 1)."""
    if _clamped_above_one(arg, ctx):
        return POS
    r = _range_of(arg, ctx, depth)
    if r != GE1:
        return ANY
    terms = _signed_terms(arg)
    if len(terms) > 1 and all(sign > 0 for sign, _ in terms):
        rs = [_range_of(t, ctx, depth) for _, t in terms]
        above_one = any((const_value(t) or 0) > 1 for _, t in terms)
        if all(is_nonnegative(x) for x in rs) and (above_one or GE1 in rs and sum(is_positive(x) for x in rs) >= 2):
            return POS
    return NONNEG


def _max(a: str, b: str) -> str:
    """The range of ``max(a, b)``: at least the larger floor."""
    for r in (GE1, POS, NONNEG):
        if r in (a, b):
            return r
    return ANY


def _floor(tail: str, method: bool, args: list, kw: dict) -> ast.AST | None:
    """The lower bound a clamp call imposes, or None."""
    for key in ("min", "a_min", "lower", "min_value"):
        if key in kw:
            return kw[key]
    if tail in ("clamp_max", "clamp_max_"):
        return None
    rest = args if method else args[1:]
    return rest[0] if rest else None


def _floored(tail: str, first: ast.AST | None, ctx) -> bool:
    """``softplus(x[x >= -15])``, ``exp(x.clamp(min=-20))``: an elementwise exp of values kept
    above a floor does not round to 0 (``ranges_select``)."""
    from kinkcheck.lint.ranges_select import ELEMENTWISE_EXP, UNDERFLOW_FLOOR, floor_of

    if tail in ("softmax", "softmax_"):
        return _bounded_logits(first, ctx, UNDERFLOW_FLOOR)
    if tail not in ELEMENTWISE_EXP:
        return False
    floor = floor_of(first, ctx)
    return floor is not None and floor >= UNDERFLOW_FLOOR


def _bounded_logits(node: ast.AST | None, ctx, underflow_floor: float, depth: int = 3) -> bool:
    """``softmax(cos / t)``: logits of cosine similarities over a temperature lie in
    [-1/t, 1/t], so the smallest probability is at least exp(-2/t) / n, which does not round
    to 0 while -2/t stays above ``underflow_floor`` (MSN's and SwAV's prototype scores at
    t = 0.1; the 1/n of a few thousand classes is far from float32's smallest number)."""
    from kinkcheck.lint.ranges_select import logit_floor
    from kinkcheck.lint.ranges_similarity import definition

    if isinstance(node, ast.Name) and depth > 0:
        return _bounded_logits(definition(node, ctx), ctx, underflow_floor, depth - 1)
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
        return False
    floor = logit_floor(node, ctx)
    return floor is not None and 2 * floor >= underflow_floor
