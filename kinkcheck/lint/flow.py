"""The gradient fact of the value-flow analysis: what reaches the loss, and with gradient.

A function's *loss* is what it returns (or, in a training step, what ``.backward()``
differentiates: the engine already narrows those functions to that slice). A value
*reaches the loss* when it is part of a returned expression or is assigned to a name the
returned expressions depend on, transitively (a backward slice over assignments). A value
*carries gradient* unless its kind is plain Python or data (labels, masks from labels,
constants, grids, detached or ``no_grad`` values).

Black boxes are judged on these facts (``severing``).
"""

from __future__ import annotations

import ast

from kinkcheck.lint.bindings import MUTATORS, init_parameters
from kinkcheck.lint.callables import SAME_MODULE


def enclosing_statement(node: ast.AST, ctx) -> ast.AST | None:
    seen = 0
    while node is not None and not isinstance(node, ast.stmt) and seen < 200:
        node = ctx.parent(node)
        seen += 1
    return node


def _returns(ctx) -> list[ast.Return]:
    cached = getattr(ctx, "_flow_returns", None)
    if cached is None:
        from kinkcheck.lint.walk import walk_local

        fn = ctx.fn
        cached = [] if isinstance(fn, ast.Module) else [
            n for n in walk_local(fn) if isinstance(n, ast.Return) and n.value is not None]
        ctx._flow_returns = cached
    return cached


def returned_names(ctx) -> set[str]:
    """Names the returned expressions depend on, through every assignment (transitively)."""
    cached = getattr(ctx, "_flow_names", None)
    if cached is None:
        from kinkcheck.lint.walk import backward_slice

        body = list(getattr(ctx.fn, "body", []))
        chosen = backward_slice(body, loss_values(ctx))
        cached = set()
        for node in chosen:
            targets = getattr(node, "targets", None) or [getattr(node, "target", None)]
            for t in targets:
                if t is not None:
                    cached |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
            for n in ast.walk(node):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                    cached.add(n.id)
        ctx._flow_names = cached
    return cached


def loss_values(ctx) -> list[ast.AST]:
    """The returned expressions that may carry the loss: ``return loss, acc.detach()`` and
    ``return loss, frac.item()`` hand back statistics beside it, which no gradient reaches
    (a function that returns only such values is judged on all of them)."""
    cached = getattr(ctx, "_flow_loss_values", None)
    if cached is not None:
        return cached
    values: list[ast.AST] = []
    for r in _returns(ctx):
        if r.value is None:
            continue
        if isinstance(r.value, (ast.Tuple, ast.List)):
            kept = [e for e in r.value.elts if not _cut_output(e, ctx)]
            values.extend(kept or r.value.elts)
        else:
            values.append(r.value)
    ctx._flow_loss_values = values
    return values


#: methods whose result is out of the graph: a detached copy, a Python number or list
_CUTTING = frozenset({"detach", "item", "tolist"})


def _cut_output(node: ast.AST, ctx) -> bool:
    """``x.detach()``, ``x.detach().cpu()``, ``x.item()``, ``float(x)``, ``torch.exp(l.detach())``,
    and a name computed only under ``no_grad`` (``with torch.no_grad(): frac = ...`` then
    ``return loss, frac``: a statistic reported beside the loss)."""
    if isinstance(node, ast.Name):
        binds = bindings(ctx).get(node.id, [])
        return bool(binds) and all(id(stmt) in ctx.no_grad_ids() for stmt, _ in binds)
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in _CUTTING:
            return True
        if ctx.is_module_ref(node.func.value):  # `torch.exp(l.detach())`: every array argument cut
            args = [a for a in (*node.args, *(k.value for k in node.keywords)) if not isinstance(a, ast.Constant)]
            return bool(args) and all(_cut_output(a, ctx) for a in args)
        node = node.func.value  # `.cpu()`, `.float()`, `.mean(1)`: look at what they convert
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("float", "int")


def _inside(node: ast.AST, root: ast.AST | None) -> bool:
    return root is not None and any(n is node for n in ast.walk(root))


def in_condition(node: ast.AST, ctx) -> bool:
    """``node`` is read only to decide control flow (an if/while/assert test or a ternary's)."""
    child, parent = node, ctx.parent(node)
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.IfExp) and parent.test is child:
            return True
        child, parent = parent, ctx.parent(parent)
    if isinstance(parent, (ast.If, ast.While)) and parent.test is child:
        return True
    return isinstance(parent, ast.Assert)


def reaches_loss(node: ast.AST, ctx) -> bool:
    """``node``'s value is (part of) what the function returns; a function with no return
    value (a training step, module-level code) is judged whole."""
    if isinstance(ctx.fn, ast.Module) or not _returns(ctx):
        return True
    stmt = enclosing_statement(node, ctx)
    if isinstance(stmt, ast.Return):
        return any(_inside(node, v) for v in loss_values(ctx))
    names = returned_names(ctx)
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return any(isinstance(n, ast.Name) and n.id in names for t in targets for n in ast.walk(t))
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return any(reaches_loss(s, ctx) for s in _assignments_in(stmt.body))
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute):
        base = stmt.value.func.value
        while isinstance(base, (ast.Subscript, ast.Attribute)):
            base = base.value
        # `terms.append(relu(x))` then `return sum(terms)`: the container is returned (state
        # on `self` is not)
        return stmt.value.func.attr in MUTATORS and isinstance(base, ast.Name) and base.id != "self" and base.id in names
    return False


def _assignments_in(body: list[ast.stmt]):
    for stmt in body:
        for n in ast.walk(stmt):
            if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return)):
                yield n


# -- reaching definitions ---------------------------------------------------------------------
#
# ``b = torch.sum(x, 1)`` in one branch and ``b = torch.sum(x * x, 1) + eps`` in the other:
# a use in the second branch sees only the second. Facts about a name are therefore taken
# over the assignments that can reach the use, not over every assignment of the function.

#: (statement, value) for every binding of a name; value None when opaque (unpacking, loops)
Binding = tuple[ast.AST, "ast.AST | None"]


def bindings(ctx) -> dict[str, list[Binding]]:
    cached = getattr(ctx, "_flow_bindings", None)
    if cached is not None:
        return cached
    from kinkcheck.lint.walk import walk_local

    out: dict[str, list[Binding]] = {}

    def bind(target: ast.AST, value: ast.AST | None, stmt: ast.AST) -> None:
        if isinstance(target, ast.Name):
            out.setdefault(target.id, []).append((stmt, value))
        elif isinstance(target, (ast.Tuple, ast.List)):
            same = isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts)
            sizes = _is_shape(value)
            for i, elt in enumerate(target.elts):
                if sizes:
                    bind(elt, ast.copy_location(ast.Constant(value=1), stmt), stmt)  # `h, w = x.shape[-2:]`: sizes >= 1
                else:
                    bind(elt, value.elts[i] if same else None, stmt)  # type: ignore[union-attr]  # `same`: a Tuple/List
        elif isinstance(target, ast.Starred):
            bind(target.value, None, stmt)

    fn = ctx.fn
    for node in walk_local(fn):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                bind(t, node.value, node)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            bind(node.target, node.value, node)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            me = ast.Name(id=node.target.id, ctx=ast.Load())
            ast.copy_location(me, node)
            ctx.parents[id(me)] = node  # its value is read where the statement runs
            value = ast.copy_location(ast.BinOp(left=me, op=node.op, right=node.value), node)
            ctx.parents[id(value)] = node
            bind(node.target, value, node)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            bind(node.target, None, node)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bind(node.optional_vars, None, ctx.parent(node) or node)
        elif isinstance(node, ast.NamedExpr):
            bind(node.target, node.value, enclosing_statement(node, ctx) or node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bind(ast.Name(id=(alias.asname or alias.name).split(".")[0]), None, node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                isinstance(node.func.value, ast.Name) and node.func.attr in MUTATORS:
            # `z.scatter_(-1, idx, vals)`: after it, z holds values nothing here describes
            bind(node.func.value, None, enclosing_statement(node, ctx) or node)
    for node in walk_local(fn):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                base = t
                while isinstance(base, ast.Subscript):
                    base = base.value
                if base is not t and isinstance(base, ast.Name) and base.id in out:
                    bind(base, None, node)  # `w[0] = v`: part of w is now v
    ctx._flow_bindings = out
    return out


def _is_shape(value: ast.AST | None) -> bool:
    """``x.shape``, ``x.shape[-2:]``, ``x.size()``: a tuple of sizes."""
    while isinstance(value, ast.Subscript):
        value = value.value
    if isinstance(value, ast.Attribute) and value.attr == "shape":
        return True
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "size" \
        and not value.args


def _chain(stmt: ast.AST, ctx) -> list[tuple[int, str, bool, bool]]:
    """(id of the compound statement, field, whether it loops, whether it is an ``if``) from
    the function body down to ``stmt``."""
    out = []
    node = stmt
    for _ in range(200):
        parent = ctx.parent(node)
        if parent is None:
            break
        if isinstance(parent, ast.stmt) or isinstance(parent, ast.ExceptHandler):
            field = next((f for f in ("body", "orelse", "finalbody", "handlers")
                          if any(c is node for c in getattr(parent, f, ()) or ())), "expr")
            out.append((id(parent), field, isinstance(parent, (ast.For, ast.AsyncFor, ast.While)),
                        isinstance(parent, ast.If)))
        node = parent
    out.reverse()
    return out


def _pos(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)


def reaching(name: str, use: ast.AST, ctx) -> tuple[list[Binding], bool]:
    """The bindings of ``name`` that may reach ``use``, and whether the value from before
    the function body (a parameter, an enclosing scope) may reach it too."""
    defs = bindings(ctx).get(name)
    if not defs:
        return [], True
    use_stmt = enclosing_statement(use, ctx)
    if use_stmt is None:
        return list(defs), True
    uchain = _chain(use_stmt, ctx)
    upos = _pos(use_stmt)
    loops = {c[0] for c in uchain if c[2]}
    cands: list[tuple[Binding, bool, list | None]] = []  # (binding, whether it dominates the use, its chain if before)
    for stmt, value in defs:
        dchain = _chain(stmt, ctx)
        before = _pos(stmt) < upos and stmt is not use_stmt
        in_loop = any(c[0] in loops for c in dchain)
        if not before and not in_loop:
            continue
        if _exclusive(dchain, uchain):
            continue
        dominates = before and len(dchain) <= len(uchain) and [c[:2] for c in dchain] == [c[:2] for c in uchain[:len(dchain)]]
        cands.append(((stmt, value), dominates, dchain if before else None))
    dominating = [_pos(b[0]) for b, dom, _ in cands if dom]
    if not dominating:
        return [b for b, _, _ in cands], not _branches_cover([c for _, _, c in cands if c is not None], uchain)
    # the last dominating binding kills those before it; later ones (a loop's next pass) stay
    cut = max(dominating)
    return [b for b, _, _ in cands if _pos(b[0]) >= cut or _pos(b[0]) >= upos], False


def _branches_cover(chains: list[list], uchain: list) -> bool:
    """Every path to the use passes one of the bindings before it (``chains``: their
    statement chains): ``if c: s = a`` ``else: s = b`` (elif chains too), so the value from
    before the function cannot reach it."""
    by_depth: dict[int, list[list]] = {}  # where each binding's chain leaves the use's
    for dchain in chains:
        k = 0
        while k < min(len(dchain), len(uchain)) and dchain[k][:2] == uchain[k][:2]:
            k += 1
        by_depth.setdefault(k, []).append(dchain)
    return any(_covered(chs, k) for k, chs in by_depth.items())


def _covered(chains: list[list], k: int) -> bool:
    """Some ``if`` at depth ``k`` of these chains binds in both its branches."""
    by_if: dict[int, list[list]] = {}
    for ch in chains:
        if len(ch) > k and ch[k][3]:
            by_if.setdefault(ch[k][0], []).append(ch)
    for chs in by_if.values():
        if all(any(len(c) == k + 1 for c in branch) or _covered(branch, k + 1)
               for branch in ([c for c in chs if c[k][1] == f] for f in ("body", "orelse"))):
            return True
    return False


def _exclusive(a: list, b: list) -> bool:
    """Two statements in different branches of the same ``if`` (or try/except arms)."""
    for x, y in zip(a, b):
        if x[0] != y[0]:
            return False
        if x[1] != y[1]:
            return {x[1], y[1]} <= {"body", "orelse", "handlers"}
    return False


# -- across calls in the same file -------------------------------------------------------------


def _call_index(fa) -> dict:
    """key -> [(caller qualname, call)] for every call in the file: ``("name", f)`` for
    ``f(...)``, ``("self", cls, m)`` for ``self.m(...)``, ``("ctor", C)`` for
    ``self.x(...)`` where ``self.x = C(...)`` (the instance's forward/__call__ runs)."""
    cached = getattr(fa, "_flow_calls", None)
    if cached is not None:
        return cached
    from kinkcheck.lint.walk import walk_local

    ctors: dict[str, set[str]] = {}
    #: `self.cls_criterion = seesaw_ce_loss`: a call of the attribute calls the function
    stored: dict[str, set[str]] = {}
    for attr, values in fa.self_assigns().items():
        for v in values:
            ctors.setdefault(attr, set()).update(_classes_of(v, fa))
            v = _compiled(v) or v  # `self._step = torch.compile(_step)`: still calls _step
            if isinstance(v, ast.Name) and f"{fa.module}.{v.id}" in fa.ix.scopes:
                stored.setdefault(attr, set()).add(v.id)
    out: dict = {}
    for qual, (fn, _env, cls) in fa.ix.scopes.items():
        for node in walk_local(fn):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Name):
                out.setdefault(("name", f.id), []).append((qual, node))
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "self":
                out.setdefault(("self", cls, f.attr), []).append((qual, node))
                for c in ctors.get(f.attr, ()):
                    out.setdefault(("ctor", c), []).append((qual, node))
                for fname in stored.get(f.attr, ()):
                    out.setdefault(("name", fname), []).append((qual, node))
    fa._flow_calls = out
    return out


def _classes_of(value: ast.AST, fa, depth: int = 0) -> set[str]:
    """Names of the classes an instance bound to a ``self`` attribute may have:
    ``C(...)``, ``C(...).to(device)``, ``scheme or C()``, and an ``__init__`` parameter's
    annotation and default (``scheme: BaseScheme | None = Scheme()``)."""
    v = value
    while isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and isinstance(v.func.value, ast.Call) \
            and v.func.attr in SAME_MODULE:
        v = v.func.value  # `BboxLoss(m.reg_max).to(device)`: still a BboxLoss
    if isinstance(v, ast.Call):
        name = v.func.attr if isinstance(v.func, ast.Attribute) else getattr(v.func, "id", None)
        return {name} if name and name[:1].isupper() else set()
    if isinstance(v, ast.BoolOp):
        return {c for x in v.values for c in _classes_of(x, fa, depth)}
    if isinstance(v, ast.IfExp):
        return _classes_of(v.body, fa, depth) | _classes_of(v.orelse, fa, depth)
    if isinstance(v, ast.Name) and depth == 0:
        out: set[str] = set()
        for ann, default in init_parameters(fa, v.id):
            if ann is not None:
                out |= {n.id for n in ast.walk(ann) if isinstance(n, ast.Name) and n.id[:1].isupper()}
                out |= {n.attr for n in ast.walk(ann) if isinstance(n, ast.Attribute) and n.attr[:1].isupper()}
            if default is not None:
                out |= _classes_of(default, fa, depth + 1)
        return out
    return set()


def argument_values(param: str, ctx, limit: int = 8) -> list[tuple[object, ast.AST]] | None:
    """What callers in this file pass for ``param`` of the function ``ctx`` describes, each
    with a Context of its caller; None when a caller passes nothing for it (its default), or
    when no caller is known (then anything may come in)."""
    sites = call_sites(ctx, limit)
    if sites is None:
        return None
    out = []
    for caller, call in sites:
        value = passed(param, call, ctx)
        if value is None:
            return None
        out.append((caller, value))
    return out


#: wrappers that return the same function, compiled: calls through them are calls of it
_COMPILERS = frozenset({"compile", "jit", "script", "pjit"})


def _compiled(value: ast.AST) -> ast.Name | None:
    """``f`` of ``torch.compile(f, ...)``, ``jax.jit(f)``, ``torch.jit.script(f)``."""
    if isinstance(value, ast.Call) and value.args and isinstance(value.args[0], ast.Name):
        f = value.func
        tail = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        if tail in _COMPILERS:
            return value.args[0]
    return None


def used_as_value(ctx) -> bool:
    """The function ``ctx`` describes is named somewhere other than as the callee of a call
    (``map(f, xs)``, ``partial(f, ...)``, ``self.hook = self.f``): it may run from anywhere."""
    fn = ctx.fn
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return True
    refs = getattr(ctx.fa, "_flow_value_refs", None)
    if refs is None:
        refs = set()
        callees = {id(n.func) for n in ast.walk(ctx.fa.tree) if isinstance(n, ast.Call)}
        # `self.crit = f` and `self.step = torch.compile(f)`: calls of the attribute are indexed
        stored = [_compiled(v) or v for vs in ctx.fa.self_assigns().values() for v in vs]
        callees |= {id(v) for v in stored if isinstance(v, ast.Name)}
        for n in ast.walk(ctx.fa.tree):
            if id(n) in callees or not isinstance(getattr(n, "ctx", None), ast.Load):
                continue
            if isinstance(n, ast.Name):
                refs.add(n.id)
            elif isinstance(n, ast.Attribute):
                refs.add(n.attr)
        ctx.fa._flow_value_refs = refs
    return fn.name in refs


def _bases_in_file(fa, cls_qual: str, depth: int = 4) -> list[str]:
    """The classes of this file that ``cls_qual`` derives from, nearest first."""
    out: list[str] = []
    todo = list(fa.ix.classes.get(cls_qual, ()))
    while todo and len(out) < depth:
        b = todo.pop(0)
        if b in fa.ix.classes and b not in out and b != cls_qual:
            out.append(b)
            todo += list(fa.ix.classes.get(b, ()))
    return out


def call_sites(ctx, limit: int = 8) -> list[tuple[object, ast.Call]] | None:
    """Every call of the function ``ctx`` describes in this file, with a Context of its
    caller; None when there is none, too many, or one in code no Context describes."""
    fn = ctx.fn
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or used_as_value(ctx):
        return None  # handed on as a value, it is called from places the index cannot see
    method = _is_method(ctx)
    index = _call_index(ctx.fa)
    name = fn.name
    keys: list[tuple] = [("name", name)] if not method else [("self", ctx.cls_qual, name)]
    if method:
        # an override: the base class's own `self.m(...)` runs it on this class's instances
        keys += [("self", b, name) for b in _bases_in_file(ctx.fa, ctx.cls_qual)]
    if method and name in ("forward", "__call__"):
        # `self.scheme(...)` where the attribute holds this class or one it derives from
        keys.append(("ctor", ctx.cls_qual.rsplit(".", 1)[-1]))
        keys += [("ctor", b.rsplit(".", 1)[-1]) for b in ctx.fa.ix.classes.get(ctx.cls_qual, ())
                 if b.rsplit(".", 1)[-1] not in ("Module", "object", "ABC")]
    sites = [s for k in keys for s in index.get(k, ())]
    if not sites or len(sites) > limit:
        return None
    out = []
    for qual, call in sites:
        caller = ctx.fa.ix.scopes.get(qual)
        if caller is None:
            return None
        out.append((_caller_context(ctx.fa, qual, caller), call))
    return out


def _is_method(ctx) -> bool:
    args = ctx.fn.args
    return bool(ctx.cls_qual) and [a.arg for a in (*args.posonlyargs, *args.args)][:1] in (["self"], ["cls"])


def passed(param: str, call: ast.Call, ctx) -> ast.AST | None:
    """The expression ``call`` passes for ``param`` of the function ``ctx`` describes (None:
    its default, or not knowable through a ``*args``)."""
    args = ctx.fn.args
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    if _is_method(ctx):
        positional = positional[1:]
    if param not in positional and param not in [a.arg for a in args.kwonlyargs]:
        return None
    value = next((k.value for k in call.keywords if k.arg == param), None)
    if value is None and param in positional:
        i = positional.index(param)
        if any(isinstance(a, ast.Starred) for a in call.args[: i + 1]):
            return None
        value = call.args[i] if i < len(call.args) else None
    return value


def _caller_context(fa, qual: str, caller) -> object:
    """A Context of a calling function with its parent links, so what reaches the call
    is read flow-sensitively (``s = s.clamp_min(tiny)`` before ``loss(s)``); memoized."""
    memo = fa.__dict__.setdefault("_caller_contexts", {})
    got = memo.get(qual)
    if got is None:
        got = memo[qual] = linked_context(fa, qual, caller)
    return got


def linked_context(fa, qual: str, entry):
    """A new Context of the function ``entry`` (its scope entry: node, env, class) with the
    parent links flow facts read (the analysis of the function itself links only what it checks)."""
    from kinkcheck.lint.context import Context

    return link_parents(Context(fa, qual, entry[0], entry[1], entry[2]))


def linked_once(ctx):
    """``ctx`` with its parent links filled, once per function of the file: an enclosing
    function's Context (``kinds._enclosing``) is shared by its closures and loop bodies."""
    memo = ctx.fa.__dict__.setdefault("_linked_enclosing", set())
    if ctx.qualname not in memo:
        link_parents(ctx)
        memo.add(ctx.qualname)
    return ctx


def link_parents(ctx):
    """Fill ``ctx.parents`` for the whole function body; returns ``ctx``."""
    from kinkcheck.lint.walk import walk_local

    for node in walk_local(ctx.fn):
        for child in ast.iter_child_nodes(node):
            ctx.parents[id(child)] = node
    return ctx
