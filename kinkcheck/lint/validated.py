"""Settings a function validates: ``assert 0 < temperature``, ``if scale <= 0: raise
ValueError(...)``, ``if not exponent.gt(0).all(): raise``. A constructor that rejects a value
states its contract; the attribute it stores then has the sign the check demands, whatever a
caller passes (``self.exponent.log()`` in another method meets no zero)."""

from __future__ import annotations

import ast

from kinkcheck.lint.paths import FLIPPED, atoms, core
from kinkcheck.lint.ranges import GE1, NONNEG, NONZERO, POS
from kinkcheck.lint.resolve import const_value
from kinkcheck.lint.walk import walk_local

#: the comparison that holds where ``left <op> right`` fails
_NEGATED = {ast.Gt: ast.LtE, ast.GtE: ast.Lt, ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}


def checks(fn: ast.AST):
    """(test, holds) for each check in ``fn`` that stops the function where it fails:
    ``assert T`` (T holds past it) and ``if T: ... raise`` with no else (T fails past it)."""
    for node in walk_local(fn):
        if isinstance(node, ast.Assert):
            yield node.test, True
        elif isinstance(node, ast.If) and node.body and isinstance(node.body[-1], ast.Raise) and not node.orelse:
            yield node.test, False


def validated_range(name: str, fn: ast.AST) -> str | None:
    """The sign the checks in ``fn`` demand of the name ``name`` (None: they demand none)."""
    signs = {s for test, holds in checks(fn) for atom, h in atoms(test, holds)
             if (s := _sign(atom, h, name)) is not None}
    if GE1 in signs:
        return GE1
    if POS in signs or {NONNEG, NONZERO} <= signs:
        return POS
    return next(iter(signs)) if signs else None


def _sign(atom: ast.AST, holds: bool, name: str) -> str | None:
    if not (isinstance(atom, ast.Compare) and len(atom.ops) == 1):
        return None
    op, left, right = type(atom.ops[0]), core(atom.left), core(atom.comparators[0])
    if const_value(left) is not None:
        op, left, right = FLIPPED[op], right, left
    c = const_value(right)
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
