"""Walking a function's own code: the nodes that run as part of it, what it binds, and
the backward slice of what it differentiates. Stdlib ``ast`` only (the index and every
later pass use these)."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence

from kinkcheck.lint.namespaces import factory_call

#: methods that store values into the object they are called on
MUTATORS = frozenset({"append", "extend", "insert", "add_", "sub_", "mul_", "div_", "copy_", "scatter_",
                      "scatter_add_", "scatter_reduce_", "index_put_", "index_add_", "index_copy_",
                      "masked_scatter_", "put_", "update"})


def local_bindings(fn: ast.AST, nodes: list | None = None) -> tuple[set[str], dict[str, ast.AST]]:
    """Names bound in a function (params, assignments, loop targets, with-as; a local
    ``import`` resolves through the file's import table instead) and,
    for names assigned exactly once, the assigned value (used to follow simple aliases)."""
    bound: set[str] = set()
    counts: dict[str, int] = {}
    values: dict[str, ast.AST] = {}
    args = getattr(fn, "args", None)
    if args is not None:
        for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if a is not None:
                bound.add(a.arg)
    for node in nodes if nodes is not None else walk_local(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
            counts[node.id] = counts.get(node.id, 0) + 1
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Tuple) \
                and isinstance(node.value, ast.Tuple) and len(node.targets[0].elts) == len(node.value.elts):
            # `w1, h1 = x2 - x1, y2 - y1 + eps`: each name gets its own value
            for t, v in zip(node.targets[0].elts, node.value.elts):
                if isinstance(t, ast.Name) and not isinstance(v, ast.Starred):
                    values[t.id] = v
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Tuple) \
                and node.targets[0].elts and isinstance(node.targets[0].elts[0], ast.Name) and factory_call(node.value):
            values[node.targets[0].elts[0].id] = node.value  # `xp, _ = get_namespace(X)`: the namespace
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not fn:
            bound.add(node.name)
    values = {k: v for k, v in values.items() if counts.get(k) == 1}
    return bound, values


#: per node type, the fields that can hold child nodes (``ctx`` and plain-value fields
#: left out: ``Load()``/``Store()`` markers are never looked at)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
_SCALAR_FIELDS = frozenset({"ctx", "id", "attr", "arg", "asname", "level", "kind", "type_comment", "conversion",
                            "is_async", "simple", "lineno", "col_offset"})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _child_fields(cls: type) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(cls)
    if fields is None:
        fields = tuple(f for f in getattr(cls, "_fields", ()) if f not in _SCALAR_FIELDS and not (cls is ast.Constant and f == "value"))
        _CHILD_FIELDS[cls] = fields
    return fields


def _children(node: ast.AST, out: list) -> None:
    """Append the child nodes of ``node`` (what ``ast.iter_child_nodes`` gives, less the
    expression-context markers) to ``out``."""
    fields = _CHILD_FIELDS.get(node.__class__) or _child_fields(node.__class__)
    AST = ast.AST
    for f in fields:
        v = getattr(node, f, None)
        if v is None:
            continue
        if v.__class__ is list:
            for item in v:
                if isinstance(item, AST):
                    out.append(item)
        elif isinstance(v, AST):
            out.append(v)


def walk_local(fn: "ast.AST | Sequence[ast.AST]") -> "Iterator[ast.AST]":
    """Every node of a function's body, not descending into nested defs/classes (but into
    lambdas and comprehensions, which run as part of the function). Expression-context
    markers (``Load()``) are not yielded."""
    if isinstance(fn, list):
        stack = list(fn)
    elif isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        # decorators and defaults are evaluated outside; the body is what runs
        stack = [*fn.body]
    else:
        stack = []
        _children(fn, stack)  # type: ignore[arg-type]  # a node (lists are handled above)
    pop, children = stack.pop, _children
    while stack:
        node = pop()
        yield node
        if isinstance(node, _SCOPES):
            continue
        children(node, stack)


def _module_nodes(tree: ast.Module):
    """Module-level code: every statement outside defs and classes."""
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        yield from walk_local([stmt])


def backward_slice(body: "Sequence[ast.AST]", exprs: "Sequence[ast.AST]", gate: bool = False) -> list[ast.AST]:
    """The statements (and expressions) that compute what is differentiated: the
    ``.backward()`` receivers plus every assignment their names depend on, transitively; with
    ``gate`` (a training step), the tests that decide whether it is differentiated at all
    (:func:`gating_tests`)."""
    needed: set[str] = set()
    for e in exprs:
        needed |= _loads(e)
    local = [n for stmt in body for n in walk_local([stmt])]
    assigns = [n for n in local if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign))]
    # `losses.append(term)` then `return torch.stack(losses).mean()`: the call stores into
    # the container what its arguments compute
    stores = [n for n in local if isinstance(n, ast.Expr) and stored_into(n.value) is not None]
    # a nested function that the needed values call reads the enclosing names it closes over
    # (`def _f(hue): return where(hue < 1/6, m1, m2)` then `return stack([_f(h), ...])`)
    closures = [n for n in local if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    chosen: list[ast.AST] = [*exprs, *(gating_tests(body, exprs, needed) if gate else ())]
    seen: set[int] = set()
    # the branches an assignment of the differentiated value itself is made under decide which
    # value it is (`if losses["ic"].item() > t: total = bc + ic` / `else: total = sum(...)`):
    # their tests are computed for it too (not the branches of a loop that only pick what a
    # later pass reads: early stopping on the last loss)
    direct = set(needed)
    guarding = _guarding_tests(body)
    # a branch around the differentiation too (`if counter > 0: ... loss.backward()`) decides
    # whether anything is differentiated, not which value is
    last = max((getattr(e, "lineno", 0) or 0 for e in exprs), default=0)
    shared: set[int] | None = None  # worked out only where a branch is met (a walk of the body)
    changed = True
    while changed:
        changed = False
        for a in list(chosen):
            if not isinstance(a, (ast.Assign, ast.AugAssign, ast.AnnAssign)) or not _targets(a) & direct \
                    or a.lineno > last:
                continue  # (an assignment after the differentiation is for a later pass of a loop)
            tests = guarding.get(id(a), ())
            if tests and shared is None:
                inside = {id(n) for e in exprs for n in ast.walk(e) if isinstance(n, ast.expr)}  # (Load() is shared)
                held = _containing(body, inside)
                shared = {id(t) for stmt_id, ts in guarding.items() if stmt_id in held for t in ts}
            for test in tests:
                if id(test) not in seen and id(test) not in (shared or ()):
                    seen.add(id(test))
                    chosen.append(test)
                    needed |= _loads(test)
                    changed = True
        for fn in closures:
            if fn.name in needed and id(fn) not in seen:
                seen.add(id(fn))
                needed |= {n for stmt in fn.body for n in _loads(stmt)}
                changed = True
        for a in assigns:
            if id(a) in seen:
                continue
            names = _targets(a)
            if names & needed and getattr(a, "value", None) is not None:
                seen.add(id(a))
                chosen.append(a)
                needed |= _loads(a.value)  # type: ignore[arg-type]  # not None (checked above)
                if isinstance(a, ast.AugAssign):
                    needed |= names
                changed = True
        for e in stores:
            if id(e) not in seen and stored_into(e.value) in needed:
                seen.add(id(e))
                chosen.append(e)
                needed |= _loads(e.value)
                changed = True
    return chosen


def gating_tests(body: "Sequence[ast.AST]", exprs: "Sequence[ast.AST]", names: set[str]) -> list[ast.expr]:
    """The tests of the ``if`` statements that decide whether the step differentiates at all,
    read off the value differentiated (``names``, or a number taken from it before:
    ``loss_val = loss.item()``): an ``if`` that holds the ``.backward()``, or one met before it
    whose body leaves the step (``return``, ``continue``: a batch skipped on a loss spike). The
    update then jumps where the loss crosses the threshold. An ``if`` that breaks out of the
    loop (a stopping rule) and one on a counter (gradient accumulation) are no such test."""
    inside = {id(n) for e in exprs for n in ast.walk(e) if isinstance(n, ast.expr)}  # (Load() is shared)
    first = min((getattr(e, "lineno", 0) or 0 for e in exprs), default=0)
    derived = set(names)
    local = list(walk_local(list(body)))
    for _ in range(2):  # `scaled = loss / accum; scaled.backward()`: the loss divided on its way
        for a in local:
            if isinstance(a, ast.Assign) and a.lineno < first and _targets(a) & derived:
                if isinstance(a.value, ast.BinOp) and isinstance(a.value.op, ast.Div):
                    derived |= _loads(a.value.left)  # (not the divisor: a setting, a count)
                elif isinstance(a.value, ast.UnaryOp):
                    derived |= _loads(a.value.operand)
    for _ in range(3):  # `loss_val = loss.item()`, then `spike = loss_val / running`
        for a in local:
            if isinstance(a, ast.Assign) and a.lineno < first and _loads(a.value) & derived:
                derived |= _targets(a)
    out: list[ast.expr] = []
    for node in local:
        if not isinstance(node, ast.If) or not _loads(node.test) & derived:
            continue
        holds = any(id(n) in inside for n in ast.walk(node))
        leaves = node.lineno < first and bool(node.body) and isinstance(node.body[-1], (ast.Return, ast.Continue))
        if holds or leaves:
            out.append(node.test)
    return out


def _containing(body: "Sequence[ast.AST]", inside: set[int]) -> set[int]:
    """ids of the simple statements of ``body`` (at any depth) that hold a node of ``inside``."""
    out: set[int] = set()
    for stmt in walk_local(list(body)):
        if isinstance(stmt, ast.stmt) and not isinstance(stmt, (ast.If, ast.While, ast.For, ast.AsyncFor, ast.With,
                                                                ast.AsyncWith, ast.Try)) \
                and any(id(n) in inside for n in ast.walk(stmt)):
            out.add(id(stmt))
    return out


def _targets(a: ast.AST) -> set[str]:
    """The names an assignment binds."""
    targets = a.targets if isinstance(a, ast.Assign) else [a.target]  # type: ignore[attr-defined]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


#: ``try: ... except* E:`` (Python 3.11; a plain ``try`` before)
_TRY_STAR = getattr(ast, "TryStar", ast.Try)


def _guarding_tests(body: "Sequence[ast.AST]") -> dict[int, list[ast.expr]]:
    """id of each statement -> the tests of the ``if``/``while`` statements it is nested in,
    within this function's own statements."""
    out: dict[int, list[ast.expr]] = {}

    def visit(stmts, tests: list[ast.expr]) -> None:
        for stmt in stmts:
            if tests:
                out[id(stmt)] = tests
            if isinstance(stmt, (ast.If, ast.While)):
                inner = [*tests, stmt.test]
                visit(stmt.body, inner)
                visit(stmt.orelse, inner)
            elif isinstance(stmt, ast.Match):
                for case in stmt.cases:
                    visit(case.body, [*tests, stmt.subject])
            elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.Try, _TRY_STAR)):
                for block in ("body", "orelse", "finalbody"):
                    visit(getattr(stmt, block, []), tests)
                for handler in getattr(stmt, "handlers", []):
                    visit(handler.body, tests)

    visit(body, [])
    return out


def stored_into(call: ast.AST) -> str | None:
    """The local name a mutating method call stores into: ``terms`` of ``terms.append(x)``. A
    record appended (``results.append({"scores": s, "boxes": b})``, post-processing's output
    per image) is a display for a reader, not a term of what is differentiated."""
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in MUTATORS \
            and isinstance(call.func.value, ast.Name) and call.func.value.id != "self" \
            and not (call.func.attr == "append" and call.args and all(isinstance(a, ast.Dict) for a in call.args)):
        return call.func.value.id
    return None


def _loads(expr: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
