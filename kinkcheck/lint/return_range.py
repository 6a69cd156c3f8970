"""The range a small function's return value always has, worked out once at index time, so
that a caller in another file knows what a helper guarantees: ``at_least_eps(x)`` returns
``x.clamp(min=eps)``, which is > 0 whatever ``x`` is, so ``at_least_eps(v).reciprocal()``
and ``at_least_eps(v).log()`` meet no pole.

A summary holds for every argument (the callee's parameters count as what their defaults,
annotations and names say, never as the caller's values). Scope hands each file the ranges
of the other files' helpers its functions call, as ``"<qualname>#range <range>"`` entries:
part of the cache key like pins, so editing the helper re-checks its callers. Calls within
one file are summarised by ``ranges_returned`` directly.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator

from kinkcheck.lint import ranges
from kinkcheck.lint.index_records import FunctionInfo
from kinkcheck.lint.walk import walk_local

RANGE_ENTRY = "#range "
#: between a summary's range and the parameters whose defaults it holds for
#: (``"pos@min_noise:1"``: positive where a call passes no ``min_noise``, second positional)
_DEFAULTS = "@"
#: statements a summarised helper may have: a guard helper is a line or three
MAX_STATEMENTS = 6
#: what a summary may say (anything else says nothing a caller can use)
_USEFUL = frozenset({ranges.POS, ranges.POSU, ranges.GE1, ranges.NONNEG, ranges.NONZERO})


class _IndexView:
    """What ``ranges`` reads of a function while the index is built (no file analysis exists
    yet): its node, its parameters and how a name resolves."""

    def __init__(self, fn: ast.AST, params: dict, resolve: Callable[[ast.AST], tuple[str | None, str | None]]):
        self.fn = fn
        self.params = params
        self._resolve = resolve
        #: the parameters whose defaults the summary read: it holds where a call leaves them out
        self.defaults_read: set[str] = set()

    def param_default(self, name: str) -> ast.AST | None:
        default = self.params.get(name, (None, None))[1]
        if isinstance(default, ast.Constant) and default.value is None:
            return None  # `threshold=None`: left out, the floor is off, not one the summary can rest on
        if default is not None:
            self.defaults_read.add(name)
        return default

    def qualify(self, node: ast.AST) -> str | None:
        return self._resolve(node)[0]

    def is_module_ref(self, node: ast.AST) -> bool:
        q, how = self._resolve(node)
        return q is not None and how in ("import", "star") and not isinstance(node, ast.Call)


#: what a summary of a function that hands back one of its arguments starts with
#: (``"=v:0"``: the range of what the call passes for ``v``, first positional)
PASSED = "="


def passed_through(fn: ast.AST) -> tuple[str, int] | None:
    """(name, position) of the parameter every return of ``fn`` hands back reshaped, moved or
    cast (``return v.view(-1, *([1] * (like.dim() - 1)))``, ``x.to(device)``): the call's value
    has the range of that argument. None where a return computes anything else, or the
    parameter is rebound."""
    args = getattr(fn, "args", None)
    body = getattr(fn, "body", None)
    if args is None or not isinstance(body, list) or len(body) > MAX_STATEMENTS:
        return None
    order = [a.arg for a in (*args.posonlyargs, *args.args)]
    found: set[str] = set()
    for node in walk_local(fn):
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return None
        if isinstance(node, ast.Return):
            value = node.value
            while isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
                    and value.func.attr in _SAME_VALUES:
                value = value.func.value
            if not (isinstance(value, ast.Name) and value.id in order):
                return None
            found.add(value.id)
    if len(found) != 1:
        return None
    name = found.pop()
    if any(isinstance(t, ast.Name) and t.id == name for n in walk_local(fn)
           if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign))
           for t in (n.targets if isinstance(n, ast.Assign) else [n.target])):
        return None
    return name, order.index(name)


#: methods that hand back the same values, reshaped, moved or cast
_SAME_VALUES = frozenset({"view", "reshape", "view_as", "reshape_as", "unsqueeze", "squeeze", "flatten", "expand",
                          "expand_as", "broadcast_to", "contiguous", "to", "type", "type_as", "float", "double",
                          "half", "cpu", "cuda", "clone", "astype", "permute", "transpose"})


def summarise(fn: ast.AST, params: dict, resolve: Callable[[ast.AST], tuple[str | None, str | None]]) -> str | None:
    """The range every return of ``fn`` has (exp-like values counted as able to underflow to
    0), or None when it says nothing useful, the function is not small, or it yields. Where
    it rests on parameter defaults (``jnp.clip(v, min_noise, max_noise)`` of
    ``min_noise=1e-6``), the summary names them: it holds for calls that leave them out."""
    body = getattr(fn, "body", None)
    if not isinstance(body, list) or len(body) > MAX_STATEMENTS:
        return None
    values = []
    for node in walk_local(fn):
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return None
        if isinstance(node, ast.Return):
            if node.value is None:
                return None
            values.append(node.value)
    if not values:
        return None
    view = _IndexView(fn, params, resolve)
    try:
        r = ranges.join(*(ranges.range_of(v, view, underflow=True) for v in values))
    except (AttributeError, TypeError, RecursionError):
        return None  # a part of ranges that needs the file analysis: no summary
    if r not in _USEFUL:
        through = passed_through(fn)
        return f"{PASSED}{through[0]}:{through[1]}" if through is not None else None
    if not view.defaults_read:
        return r
    order = list(params)  # a keyword-only parameter's index is past every positional one
    return r + _DEFAULTS + ",".join(f"{p}:{order.index(p)}" for p in sorted(view.defaults_read))


def passed_argument(summary: str, call: ast.Call) -> ast.AST | None:
    """What ``call`` passes for the parameter a pass-through summary (``"=v:0"``) names; None
    for other summaries, or where the call leaves it out or hides it."""
    if not summary.startswith(PASSED):
        return None
    got = arguments_for(call, parameter_specs(summary[len(PASSED):]))
    return got[0] if got else None


def holds_for(summary: str, call: ast.Call) -> str:
    """The range a summary gives ``call``: its range where the call leaves out every
    parameter whose default it rests on (and hides none behind ``*args``/``**kwargs``),
    else anything."""
    if summary.startswith(PASSED):
        return ranges.ANY  # the argument's range: the caller works it out (`passed_argument`)
    r, sep, rest = summary.partition(_DEFAULTS)
    if not sep:
        return r
    return r if arguments_for(call, parameter_specs(rest)) == [] else ranges.ANY


def parameter_specs(text: str) -> tuple[tuple[str, int], ...]:
    """``"min_noise:1,max_noise:2"`` -> ``(("min_noise", 1), ("max_noise", 2))``: parameters
    with their positions, as summaries name them."""
    pairs = [spec.partition(":") for spec in text.split(",") if spec]
    return tuple((name, int(index)) for name, _, index in pairs)


def arguments_for(call: ast.Call, specs: tuple[tuple[str, int], ...]) -> list[ast.AST] | None:
    """The arguments ``call`` passes for the parameters ``specs`` name (those it leaves to
    their defaults pass nothing); None when ``*args``/``**kwargs`` hide them."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    keywords = {k.arg: k.value for k in call.keywords}
    out: list[ast.AST] = []
    for name, index in specs:
        if name in keywords:
            out.append(keywords[name])
        elif index < len(call.args):
            out.append(call.args[index])
    return out


def add_entries(world, scoped: dict[str, set[str]]) -> None:
    """Add to each file's scope set the entries ``"<callee>#range <range>"`` of the summarised
    functions of other modules that its functions in scope call (``world`` is scope's view
    of every index)."""
    for qs in scoped.values():
        qs.update({f"{t}{RANGE_ENTRY}{tf.ret_range}" for t, tf in other_module_callees(world, qs)
                   if tf.ret_range is not None})


def other_module_callees(world, qs: Iterable[str]) -> Iterator[tuple[str, FunctionInfo]]:
    """(qualname, FunctionInfo) of each function of another module that a function of ``qs``
    (one file's scope set) calls."""
    for q in list(qs):
        if "#" in q or q not in world.functions:
            continue  # an entry, or statements sliced out of a function
        ix, f = world.functions[q]
        for ref in f.calls:
            for t in world.targets(ref):
                tix, tf = world.functions[t]
                if tix.module != ix.module:
                    yield t, tf


def parse(functions: Iterable[str]) -> dict[str, str]:
    """qualname -> the range its return always has, from scope entries."""
    out = {}
    for entry in functions:
        q, sep, r = entry.partition(RANGE_ENTRY)
        if sep:
            out[q] = r
    return out
