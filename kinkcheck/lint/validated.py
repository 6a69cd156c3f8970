"""Settings a function validates: ``assert 0 < temperature``, ``if scale <= 0: raise
ValueError(...)``, ``if not exponent.gt(0).all(): raise``. A constructor that rejects a value
states its contract; the attribute it stores then has the sign the check demands, whatever a
caller passes (``self.exponent.log()`` in another method meets no zero)."""

from __future__ import annotations

import ast

from kinkcheck.lint.paths import FLIPPED, atoms, core
from kinkcheck.lint.ranges import GE1, NONNEG, NONZERO, POS
from kinkcheck.lint.resolve import const_value, is_eps_like
from kinkcheck.lint.walk import walk_local

#: what an eps-like bound (``self.eps``, ``1e-8``) stands for: some number in (0, 1)
_EPS = 1e-12
#: the comparison that holds where ``left <op> right`` fails
_NEGATED = {ast.Gt: ast.LtE, ast.GtE: ast.Lt, ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}


def checks(fn: ast.AST):
    """(test, holds) for each check in ``fn`` that stops the function where it fails:
    ``assert T`` (T holds past it) and ``if T: ... raise`` with no else (T fails past it)."""
    for node in walk_local(fn):
        check = _check(node)
        if check is not None:
            yield check


def _check(node: ast.AST) -> tuple[ast.AST, bool] | None:
    """``(test, holds)`` of ``node`` when it is a check (see :func:`checks`), else None."""
    if isinstance(node, ast.Assert):
        return node.test, True
    if isinstance(node, ast.If) and node.body and isinstance(node.body[-1], ast.Raise) and not node.orelse:
        return node.test, False
    return None


def validated_range(name: str, fn: ast.AST) -> str | None:
    """The sign the checks in ``fn`` demand of the name ``name`` (None: they demand none)."""
    return _strongest({s for test, holds in checks(fn) for atom, h in atoms(test, holds)
                       if (s := _sign(atom, h, name)) is not None})


def _strongest(signs: set[str]) -> str | None:
    """The one sign that the signs demanded together amount to."""
    if GE1 in signs:
        return GE1
    if POS in signs or {NONNEG, NONZERO} <= signs:
        return POS
    return next(iter(signs)) if signs else None


def entry_range(name: str, fn: ast.AST) -> str | None:
    """The sign that the checks among ``fn``'s own statements demand of its parameter ``name``
    (``if scale.min() <= 0: raise ValueError(...)`` before ``torch.log(scale)``): only a check
    in the body itself, which every later statement runs after, and only while nothing has
    rebound the name nor returned before it (a read before the check is read unchecked)."""
    body = list(getattr(fn, "body", ()))
    found = [(i, check) for i, statement in enumerate(body) if (check := _check(statement)) is not None]
    if not found:
        return None  # most functions check nothing: no walk
    signs: set[str] = set()
    for i, (test, holds) in found:
        if any(isinstance(t, ast.Name) and t.id == name and isinstance(t.ctx, ast.Store) or isinstance(t, ast.Return)
               for statement in body[:i] for t in ast.walk(statement)):
            break
        signs.update(s for atom, h in atoms(test, holds) if (s := _sign(atom, h, name)) is not None)
    return _strongest(signs)


def exit_range(use: ast.Name, fn: ast.AST) -> str | None:
    """The sign that early exits among ``fn``'s own statements demand of the name read at
    ``use`` (``if scale < eps: return x.new_zeros(())`` before ``pred_len / scale``): exits
    that run between the name's last binding before ``use`` and ``use`` itself."""
    line = getattr(use, "lineno", 0) or 0
    signs: set[str] = set()
    for statement in getattr(fn, "body", ()):
        if (getattr(statement, "end_lineno", None) or line) >= line:
            break
        if any(isinstance(t, ast.Name) and t.id == use.id and isinstance(t.ctx, ast.Store) for t in ast.walk(statement)):
            signs.clear()  # rebound: earlier exits judged another value
            continue
        check = _exit(statement)
        if check is not None:
            signs.update(s for atom, h in atoms(check[0], check[1]) if (s := _sign(atom, h, use.id)) is not None)
    return _strongest(signs)


def _exit(node: ast.AST) -> tuple[ast.AST, bool] | None:
    """:func:`_check`, and ``if T: ... return`` with no else (T fails past it)."""
    if isinstance(node, ast.If) and node.body and isinstance(node.body[-1], ast.Return) and not node.orelse:
        return node.test, False
    return _check(node)


#: reductions whose lower bound is every element's (``scale.min() > 0``: all of it is)
_LOWEST = frozenset({"min", "amin"})


def _lowest_of(node: ast.AST) -> ast.expr | None:
    """``x`` of ``x.min()``, ``torch.min(x)``, ``x.amin()`` with no other argument."""
    if isinstance(node, ast.Call) and not node.keywords and isinstance(node.func, ast.Attribute) \
            and node.func.attr in _LOWEST:
        if not node.args and isinstance(node.func.value, ast.Name) and node.func.value.id not in _MODULES:
            return node.func.value
        if len(node.args) == 1 and isinstance(node.func.value, ast.Name) and node.func.value.id in _MODULES:
            return node.args[0]
    return None


#: the array libraries' usual names, whose ``min(x)`` reduces ``x`` (an alias a file chooses is
#: not read: the check then gives no sign, as before)
_MODULES = frozenset({"torch", "np", "numpy", "jnp"})


def _sign(atom: ast.AST, holds: bool, name: str) -> str | None:
    if not (isinstance(atom, ast.Compare) and len(atom.ops) == 1):
        return None
    op, left, right = type(atom.ops[0]), core(atom.left), core(atom.comparators[0])
    if const_value(left) is not None or is_eps_like(left) and const_value(right) is None and not is_eps_like(right):
        op, left, right = FLIPPED[op], right, left  # `0 < x`, `eps > scale`
    c = const_value(right)
    if c is None and is_eps_like(right):
        c = _EPS  # `if scale < self.eps: return ...`: past it, scale >= eps > 0
    lowest = _lowest_of(left)
    if lowest is not None:
        # a bound below the least element bounds every element; no other fact carries over
        sign = _sign(ast.Compare(left=lowest, ops=[op()], comparators=[ast.Constant(value=c)]), holds, name)
        return sign if sign in (POS, GE1, NONNEG) else None
    if not (isinstance(left, ast.Name) and left.id == name) or isinstance(c, bool) \
            or not isinstance(c, (int, float)):
        return None
    if not holds:
        op = _NEGATED.get(op, ast.Is)  # `is`/`in` say nothing of a sign
    if op is ast.Gt and c >= 0 or op is ast.GtE and c > 0:
        return GE1 if c >= 1 else POS
    if op is ast.GtE and c == 0:
        return NONNEG
    if op is ast.NotEq and c == 0 or op is ast.Lt and c <= 0 or op is ast.LtE and c < 0:
        return NONZERO
    return None
