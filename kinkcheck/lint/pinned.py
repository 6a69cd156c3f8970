"""Settings that every caller in loss code passes, and the branches they never take.

``bbox_overlaps(pred, target, is_aligned=True)`` is how every IoU loss calls the helper; its
``else`` branch (the pairwise matrix that assigners and NMS ask for, under ``no_grad``) is
never loss code. Scope analysis sees every call the loss code makes across the checked
files, so it can say which keyword settings a function in scope always receives there;
the engine then leaves out the ``if`` branches those settings rule out.

A setting is pinned only when every call from loss code passes the same literal by
keyword, no call hides arguments behind ``*args``/``**kwargs``, the function is not itself
a root (users call a loss with anything) and is not handed around as a value. The pins
travel in the scope's function set as ``"<qualname>#pin <param> <positional> <literal>"``,
so they are part of the cached results' key.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Container, Iterable
from typing import TYPE_CHECKING

from kinkcheck.lint.resolve import DATA, name_kind
from kinkcheck.lint.walk import walk_local

if TYPE_CHECKING:  # pragma: no cover
    from kinkcheck.lint.context import Context

PIN = "#pin "

Setting = tuple[str, int, tuple[tuple[str, "str | None"], ...], bool]


def call_settings(target: str, call: ast.Call) -> Setting:
    """What the index keeps of one call: the callee, how many positional arguments it
    passes (-1 behind ``*args``/``**kwargs``), each keyword with its literal (or None), and
    whether it hands over only data (``overlaps(gt_bboxes, anchors)``: no gradient flows
    through that call, so the settings it takes do not matter)."""
    npos = -1 if any(isinstance(a, ast.Starred) for a in call.args) else len(call.args)
    kws: list[tuple[str, str | None]] = []
    for k in call.keywords:
        if k.arg is None:
            npos = -1
            continue
        kws.append((k.arg, _literal(k.value)))
    values = [*call.args, *(k.value for k in call.keywords)]
    kinds = [None if _literal(v) is not None else _data_named(v) for v in values]
    data = any(kinds) and all(k is not False for k in kinds)
    return target, npos, tuple(kws), data


def _data_named(node: ast.AST) -> bool:
    """``gt_bboxes``, ``self.anchors``, ``targets[i]``: named as data (``resolve.name_kind``)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute) and name_kind(node.attr) == DATA:
            return True
        node = node.value
    return isinstance(node, ast.Name) and name_kind(node.id) == DATA


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _literal(node.operand)
        return f"-{inner}" if inner is not None and inner[:1] not in ("'", '"', "T", "F", "N") else None
    if isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, float, str, type(None))):
        return repr(node.value)
    return None


def pins(world, callers: Iterable[str], rooted: set[str]) -> list[str]:
    """Scope entries pinning the keyword settings every call from ``callers`` (the functions
    in scope) passes to a function in scope."""
    calls: dict[str, list[tuple[int, dict[str, str | None]]]] = {}
    blocked: set[str] = set(rooted)
    for q in callers:
        f = world.functions[q][1]
        recorded: dict[str, list[tuple[int, dict[str, str | None]]]] = {}
        for target, npos, kws, data in f.settings:
            recorded.setdefault(target, [])
            if not data:
                recorded[target].append((npos, dict(kws)))
        blocked.update(unwritten(world, f, recorded))
        for ref in f.calls:
            if ref in recorded:
                for t in world.targets(ref):
                    calls.setdefault(t, []).extend(recorded[ref])
    out: list[str] = []
    for t, seen in calls.items():
        if t in blocked or not seen or any(npos < 0 for npos, _ in seen):
            continue
        common = {k: v for k, v in seen[0][1].items() if v is not None}
        for _, kws in seen[1:]:
            common = {k: v for k, v in common.items() if kws.get(k) == v}
        most = max(npos for npos, _ in seen)
        out.extend(f"{t}{PIN}{k} {most} {v}" for k, v in sorted(common.items()))
    return out


def unwritten(world, f, recorded: Container[str]) -> set[str]:
    """The functions ``f`` may run without the index having written down what it hands
    them: those it calls through a ref ``recorded`` lacks (a value, a table), and those it
    stores, passes or returns as values (they may be called from anywhere)."""
    out: set[str] = set()
    for ref in f.calls:
        if ref not in recorded:
            out.update(world.targets(ref))
    for ref in f.refs:
        out.update(world.targets(ref))
    return out


def parse(functions: Iterable[str]) -> dict[str, list[tuple[str, int, str]]]:
    """qualname -> (parameter, positional arguments at most, literal) from scope entries."""
    out: dict[str, list[tuple[str, int, str]]] = {}
    for entry in functions:
        q, sep, rest = entry.partition(PIN)
        if not sep:
            continue
        param, npos, literal = rest.split(" ", 2)
        out.setdefault(q, []).append((param, int(npos), literal))
    return out


def dead_nodes(ctx: Context, pinned: list[tuple[str, int, str]]) -> set[int]:
    """ids of the nodes in ``if`` branches the pinned settings rule out."""
    values = _values(ctx, pinned)
    if not values:
        return set()
    dead: set[int] = set()
    for node in walk_local(ctx.fn):
        if isinstance(node, ast.If) and id(node) not in dead:
            taken = _decide(node.test, values)
            if taken is not None:
                for stmt in node.orelse if taken else node.body:
                    dead.update(id(n) for n in ast.walk(stmt))
    return dead


def _values(ctx: Context, pinned: list[tuple[str, int, str]]) -> dict[str, object]:
    """The pinned parameters no positional argument can reach and the function never rebinds."""
    fn = ctx.fn
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return {}
    positional = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
    if ctx.cls_qual and positional[:1] in (["self"], ["cls"]):
        positional = positional[1:]
    keyword_only = {a.arg for a in fn.args.kwonlyargs}
    rebound = {n.id for n in walk_local(fn) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    out: dict[str, object] = {}
    for param, npos, literal in pinned:
        if param in rebound or not (param in keyword_only or (param in positional and positional.index(param) >= npos)):
            continue
        try:
            out[param] = ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            continue
    return out


_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Is: operator.is_, ast.IsNot: operator.is_not,
            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}


def _decide(test: ast.AST, values: dict[str, object]) -> bool | None:
    """Whether ``test`` holds for the pinned values; None when they do not decide it."""
    if isinstance(test, ast.Name):
        return bool(values[test.id]) if test.id in values else None
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _decide(test.operand, values)
        return None if inner is None else not inner
    if isinstance(test, ast.BoolOp):
        parts = [_decide(v, values) for v in test.values]
        stop = isinstance(test.op, ast.Or)  # the value that decides an `or` (True) or an `and` (False)
        if stop in parts:
            return stop
        return None if None in parts else not stop
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.left, ast.Name) \
            and test.left.id in values and type(test.ops[0]) in _COMPARE:
        try:
            other = ast.literal_eval(test.comparators[0])
        except (ValueError, SyntaxError):
            return None
        if isinstance(test.ops[0], (ast.Is, ast.IsNot)) and other not in (None, True, False):
            return None  # identity of other literals is an accident of interning
        try:
            return bool(_COMPARE[type(test.ops[0])](values[test.left.id], other))
        except TypeError:
            return None
    return None
