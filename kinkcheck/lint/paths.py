"""Path conditions: what the tests that lead to a site say about its operand.

``if n > 0: x / n``, ``if not mask.any(): return 0`` then ``x / mask.sum()``, ``if d: y / d``:
the division is only reached where its denominator is not 0. ``facts(node, ctx)`` collects
the (test, holds) pairs that dominate ``node`` in its function: the tests of the ``if``,
``while`` and conditional expressions it sits in (true in the body, false in the ``else``),
and the tests of earlier ``if T: return/raise/continue/break`` statements of the blocks
around it (false after them) and of earlier ``assert T`` statements (true after them). ``excludes_zero`` / ``positive`` read them for one operand.
"""

from __future__ import annotations

import ast

from kinkcheck.lint.resolve import const_value
from kinkcheck.syntax import call_comparison, scalar_cast_of

#: wrappers that keep a value (and so what a test says about it)
_SAME = frozenset({"item", "float", "double", "detach", "to", "long", "int", "clone", "cpu"})
_EXITS = (ast.Return, ast.Raise, ast.Continue, ast.Break)


def facts(node: ast.AST, ctx) -> list[tuple[ast.AST, bool]]:
    out: list[tuple[ast.AST, bool]] = []
    child, parent = node, ctx.parent(node)
    for _ in range(200):
        if parent is None and child is not ctx.fn and _in(child, getattr(ctx.fn, "body", [])):
            parent = ctx.fn  # a statement of the function's own body
        if parent is None:
            break
        if isinstance(parent, (ast.If, ast.While)) and child is not parent.test:
            out.append((parent.test, _in(child, parent.body)))
        elif isinstance(parent, ast.IfExp) and child is not parent.test:
            out.append((parent.test, child is parent.body))
        for block in ("body", "orelse", "finalbody"):
            stmts = getattr(parent, block, None)
            if isinstance(stmts, list) and _in(child, stmts):
                for stmt in stmts[: stmts.index(child)]:
                    if isinstance(stmt, ast.If) and stmt.body and isinstance(stmt.body[-1], _EXITS) and not stmt.orelse:
                        out.append((stmt.test, False))
                    elif isinstance(stmt, ast.Assert):
                        out.append((stmt.test, True))  # `assert n > 0`: past it, the test holds
        child, parent = parent, ctx.parent(parent)
    return out


def _in(child: ast.AST, stmts: list) -> bool:
    return any(s is child for s in stmts)


#: ``c <op> x`` read as ``x <op'> c``
FLIPPED: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE, ast.Eq: ast.Eq, ast.NotEq: ast.NotEq,
    ast.Is: ast.Is, ast.IsNot: ast.IsNot, ast.In: ast.In, ast.NotIn: ast.NotIn}


def atoms(test: ast.AST, holds: bool):
    """(atom, holds) for the conjuncts a test establishes: ``0 < x < 1`` is ``0 < x`` and
    ``x < 1``; ``(x > 0).all()`` holding and ``(x <= 0).any()`` failing say it of every element;
    ``x.gt(0)`` is ``x > 0``."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        yield from atoms(test.operand, not holds)
    elif isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) and holds:
        for v in test.values:
            yield from atoms(v, True)
    elif isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or) and not holds:
        for v in test.values:
            yield from atoms(v, False)
    elif isinstance(test, ast.Compare) and len(test.ops) > 1 and holds:
        operands = [test.left, *test.comparators]
        for op, left, right in zip(test.ops, operands, operands[1:]):
            yield ast.Compare(left=left, ops=[op], comparators=[right]), True
    elif (inner := _quantified(test, "all" if holds else "any")) is not None:
        yield from atoms(inner, holds)
    elif (compare := _method_compare(test)) is not None:
        yield compare, holds
    else:
        yield test, holds


def _quantified(test: ast.AST, quantifier: str) -> ast.AST | None:
    """``T`` of ``T.all()``, ``all(T)``, ``torch.all(T)``, ``np.all(T)`` (or of ``any``)."""
    if not isinstance(test, ast.Call) or test.keywords:
        return None
    f = test.func
    if isinstance(f, ast.Attribute) and f.attr == quantifier:
        if not test.args:
            return f.value
        return test.args[0] if len(test.args) == 1 and isinstance(f.value, ast.Name) else None
    if isinstance(f, ast.Name) and f.id == quantifier and len(test.args) == 1:
        return test.args[0]
    return None


def _method_compare(test: ast.AST) -> ast.Compare | None:
    """``x.gt(c)`` / ``torch.gt(x, c)`` / ``jnp.greater(x, c)`` as ``x > c``: one argument is
    the method's, two the module function's."""
    if not (isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) and not test.keywords):
        return None
    method = len(test.args) == 1
    if not method and not (len(test.args) == 2 and isinstance(test.func.value, ast.Name)):
        return None
    return call_comparison(test, method)


def core(node: ast.AST) -> ast.AST:
    for _ in range(6):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _SAME:
            node = node.func.value
        elif (inner := scalar_cast_of(node)) is not None:
            node = inner
        else:
            break
    return node


def _same(a: ast.AST, b: ast.AST, ctx) -> bool:
    a, b = core(a), core(b)
    if ast.dump(a) == ast.dump(b):
        return True
    for x, y in ((a, b), (b, a)):
        if isinstance(x, ast.Name):
            value = ctx.definition(x.id)
            if value is not None and ast.dump(core(value)) == ast.dump(y):
                return True
    return False


def _count_of(test_value: ast.AST, operand: ast.AST, ctx) -> bool:
    """``mask.any()`` is true exactly where ``mask.sum()`` (a count) is >= 1."""
    t, o = core(test_value), core(operand)
    if not (isinstance(t, ast.Call) and isinstance(t.func, ast.Attribute) and t.func.attr == "any" and not t.args):
        return False
    if not (isinstance(o, ast.Call) and isinstance(o.func, ast.Attribute) and o.func.attr in ("sum", "count_nonzero")
            and not o.args):
        return False
    return _same(t.func.value, o.func.value, ctx)


def _says(atom: ast.AST, holds: bool, operand: ast.AST, ctx, *, strict: bool) -> bool:
    """Whether ``atom`` being ``holds`` keeps ``operand`` off 0 (and, when ``strict``,
    above it)."""
    if not isinstance(atom, ast.Compare):
        # bare truthiness: `if d:` / `if mask.any():`
        if holds and (_same(atom, operand, ctx) and not strict or _count_of(atom, operand, ctx)):
            return True
        return False
    if len(atom.ops) != 1:
        return False
    op, left, right = atom.ops[0], atom.left, atom.comparators[0]
    if const_value(left) is not None and const_value(right) is None:  # `0 < n` -> `n > 0`
        op, left, right = FLIPPED[type(op)](), right, left
    c = const_value(right)
    if c is None or not (_same(left, operand, ctx) or _count_of(left, operand, ctx) and c == 0 and
                         isinstance(op, (ast.Eq, ast.NotEq))):
        return False
    if _count_of(left, operand, ctx):  # `mask.any() == 0` / `!= 0`
        return (isinstance(op, ast.NotEq) and holds) or (isinstance(op, ast.Eq) and not holds)
    if holds:
        if isinstance(op, ast.Gt):
            return c >= 0
        if isinstance(op, ast.GtE):
            return c > 0
        if isinstance(op, ast.NotEq):
            return c == 0 and not strict
        return False
    if isinstance(op, ast.LtE):
        return c >= 0
    if isinstance(op, ast.Lt):
        return c > 0
    if isinstance(op, ast.Eq):
        return c == 0 and not strict
    return False


def excludes_zero(operand: ast.AST, at: ast.AST, ctx) -> bool:
    return _guarded(operand, at, ctx, strict=False)


def positive(operand: ast.AST, at: ast.AST, ctx) -> bool:
    return _guarded(operand, at, ctx, strict=True)


def _guarded(operand: ast.AST, at: ast.AST, ctx, *, strict: bool, callers: int = 1) -> bool:
    if any(_says(a, h, operand, ctx, strict=strict) for test, holds in facts(at, ctx) for a, h in atoms(test, holds)):
        return True
    # `return loss / fg_mask.sum()` in a helper whose every caller in the file calls it
    # under `if fg_mask.sum():`: the operand, written in each caller's terms, is guarded there
    if not callers or not _only_params(operand, ctx):
        return False
    from kinkcheck.lint import call_sites

    sites = call_sites.call_sites(ctx)
    if not sites:
        return False
    for caller, call in sites:
        there = _substituted(operand, call, ctx)
        if there is None or not _guarded(there, call, caller, strict=strict, callers=callers - 1):
            return False
    return True


def _only_params(operand: ast.AST, ctx) -> bool:
    """Every name the operand reads is a parameter of the function (never reassigned)."""
    from kinkcheck.lint import flow

    names = [n.id for n in ast.walk(operand) if isinstance(n, ast.Name)]
    params = set(getattr(ctx, "params", {}) or {}) - {"self", "cls"}
    assigned = flow.bindings(ctx)
    return bool(names) and all(n in params and n not in assigned for n in names)


def _substituted(operand: ast.AST, call: ast.Call, ctx) -> ast.AST | None:
    """``operand`` with each parameter replaced by what ``call`` passes for it."""
    from kinkcheck.lint import call_sites

    class Swap(ast.NodeTransformer):
        missing = False

        def visit_Name(self, node: ast.Name) -> ast.AST:
            value = call_sites.passed(node.id, call, ctx)
            if value is None:
                Swap.missing = True
                return node
            return value

    out = Swap().visit(_copy(operand))
    return None if Swap.missing else out


def _copy(node: ast.AST) -> ast.AST:
    import copy

    return copy.deepcopy(node)
