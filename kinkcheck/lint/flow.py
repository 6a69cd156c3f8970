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

from kinkcheck.lint.bindings import MUTATORS, item_targets, mutations_of, written_out
from kinkcheck.lint.walk import stored_into
from kinkcheck.syntax import scalar_cast_of


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
    (a function that returns only such values is judged on all of them). A function the file
    differentiates with ``has_aux=True`` returns ``(loss, aux)``: only the loss is differentiated;
    so does JAX code that returns ``(loss, {"kl": kl, ...})``, the aux convention's metrics dict,
    whoever differentiates it."""
    cached = getattr(ctx, "_flow_loss_values", None)
    if cached is not None:
        return cached
    values: list[ast.AST] = []
    aux = getattr(ctx.fn, "name", None) in aux_functions(ctx.fa)
    ctx._flow_aux_returned = False
    for r in _returns(ctx):
        if r.value is None:
            continue
        if isinstance(r.value, ast.Tuple) and len(r.value.elts) == 2 and (
                aux or getattr(ctx.fa, "jax", False) and _metrics_dict(r.value.elts[1], ctx)):
            values.append(r.value.elts[0])
            ctx._flow_aux_returned = True
        elif isinstance(r.value, (ast.Tuple, ast.List)):
            kept = [e for e in r.value.elts if not cut_output(e, ctx)]
            values.extend(kept or r.value.elts)
        else:
            values.append(r.value)
    ctx._flow_loss_values = values
    return values


def aux_functions(fa) -> frozenset[str]:
    """Names of the functions (or methods) the file hands to a transform with ``has_aux=True``
    (``jax.value_and_grad(loss_fn, has_aux=True)``, ``torch.func.grad(f, has_aux=True)``)."""
    cached = getattr(fa, "_aux_functions", None)
    if cached is None:
        names = set()
        for node in ast.walk(fa.tree):
            if isinstance(node, ast.Call) and node.args and any(
                    k.arg == "has_aux" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in node.keywords):
                fn = node.args[0]
                if isinstance(fn, ast.Name):
                    names.add(fn.id)
                elif isinstance(fn, ast.Attribute):
                    names.add(fn.attr)
        cached = fa._aux_functions = frozenset(names)
    return cached


def returns_aux(ctx) -> bool:
    """The function returns ``(loss, aux)`` (:func:`loss_values`): what only the aux reads is
    not differentiated, kinks and poles included."""
    loss_values(ctx)
    return bool(getattr(ctx, "_flow_aux_returned", False))


def _metrics_dict(node: ast.AST, ctx) -> bool:
    """A dict literal (``{"kl": kl}``, ``dict(kl=kl)``), or a name every binding of which is one."""
    if isinstance(node, ast.Dict) or isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == "dict":
        return True
    if isinstance(node, ast.Name):
        binds = bindings(ctx).get(node.id, [])
        return bool(binds) and all(value is not None and _metrics_dict(value, ctx) for _, value in binds)
    return False


#: methods whose result is out of the graph: a detached copy, a Python number or list
_CUTTING = frozenset({"detach", "item", "tolist", "numpy"})


#: methods that combine the value they are called on with their arguments (``p.detach().pow(t)``:
#: the gradient of ``t`` runs through); judged by syntax, with no kinds asked for (``cut_output``
#: is asked while kinds are being worked out)
_COMBINING = frozenset({"pow", "pow_", "mul", "mul_", "multiply", "add", "add_", "sub", "sub_", "subtract", "div",
                        "div_", "divide", "true_divide", "matmul", "mm", "bmm", "dot", "lerp", "addcmul", "addcdiv",
                        "maximum", "minimum", "fmax", "fmin", "where", "masked_fill", "clamp", "clip"})


def _carries(arg: ast.AST) -> bool:
    """An argument of a combining method on a cut value that may carry gradient: anything but a
    literal."""
    return not isinstance(arg, ast.Constant) and not (
        isinstance(arg, ast.UnaryOp) and isinstance(arg.operand, ast.Constant))


def cut_output(node: ast.AST, ctx) -> bool:
    """``x.detach()``, ``x.detach().cpu()``, ``x.item()``, ``x.data.cpu().numpy()``, ``float(x)``,
    ``torch.exp(l.detach())``, ``jax.lax.stop_gradient(x)``,
    and a name computed only under ``no_grad`` (``with torch.no_grad(): frac = ...`` then
    ``return loss, frac``: a statistic reported beside the loss)."""
    if isinstance(node, ast.Name):
        binds = bindings(ctx).get(node.id, [])
        assigned = [value for _, value in binds if value is not None]  # `xs.append(v)` binds no value
        if assigned and all(isinstance(value, ast.List) and not value.elts for value in assigned):
            # `real_losses = []` then `real_losses.append(r_loss.item())`: a record of numbers
            added = [a for call in mutations_of(ctx, node.id) for a in call.args]
            return bool(added) and all(not (isinstance(a, ast.Name) and a.id == node.id) and cut_output(a, ctx)
                                       for a in added)
        return bool(binds) and all(id(stmt) in ctx.no_grad_ids() for stmt, _ in binds)
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in _CUTTING:
            return True
        if ctx.is_module_ref(node.func.value):  # `torch.exp(l.detach())`: every array argument cut
            if node.func.attr == "stop_gradient":
                return True
            args = [a for a in (*node.args, *(k.value for k in node.keywords)) if not isinstance(a, ast.Constant)]
            return bool(args) and all(cut_output(a, ctx) for a in args)
        handed = (*node.args, *(k.value for k in node.keywords))
        if node.func.attr in _COMBINING and any(_carries(a) for a in handed):
            return False  # `p.detach().pow(t)`: the gradient of `t` still runs through
        node = node.func.value  # `.cpu()`, `.float()`, `.mean(1)`: look at what they convert
    if isinstance(node, ast.Attribute) and node.attr == "data" and not ctx.is_module_ref(node.value):
        return True  # `(losses + 1e-5).data.cpu()`: PER priorities handed back beside the loss
    return scalar_cast_of(node) is not None


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
    written = _collective_output(stmt, ctx)
    if written is not None:
        return written in names  # `dist.all_gather(buffers, z)`, then `torch.cat(buffers)` is returned
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute):
        base = stmt.value.func.value
        while isinstance(base, (ast.Subscript, ast.Attribute)):
            base = base.value
        # `terms.append(relu(x))` then `return sum(terms)`: the container is returned (state
        # on `self` is not, nor a record appended for a reader: `results.append({...})`)
        return stmt.value.func.attr in MUTATORS and isinstance(base, ast.Name) and base.id != "self" \
            and base.id in names and (base is not stmt.value.func.value or stored_into(stmt.value) is not None)
    return False


def _collective_output(stmt: ast.AST | None, ctx) -> str | None:
    """The name a ``torch.distributed`` collective statement writes (``buffers`` of
    ``dist.all_gather(buffers, z)``, ``c`` of ``dist.all_reduce(c)``), else None."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    q = ctx.qualify(stmt.value.func) or ""
    if not (q.startswith("torch.distributed.") and q.count(".") == 2):
        return None
    written, _ = collective_arguments(stmt.value, q.rsplit(".", 1)[-1])
    return written.id if isinstance(written, ast.Name) else None


#: ``torch.distributed`` collectives that write their first argument and read their second;
#: the others reduce their first argument in place
_WRITES_FIRST = frozenset({"all_gather", "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor"})
#: their parameters by keyword: what they write, and what they are handed
_OUTPUT_KEYWORDS = ("tensor_list", "output_tensor", "output")
_INPUT_KEYWORDS = ("tensor", "input", "input_tensor", "input_list")


def collective_arguments(call: ast.Call, tail: str) -> tuple[ast.expr | None, ast.expr | None]:
    """(what the collective ``tail`` called by ``call`` writes, what it is handed), positional
    or by keyword; an in-place reduce (``all_reduce(c)``) writes what it is handed."""
    def argument(index: int, keywords: tuple[str, ...]) -> ast.expr | None:
        if len(call.args) > index:
            return call.args[index]
        return next((k.value for k in call.keywords if k.arg in keywords), None)

    if tail in _WRITES_FIRST:
        return argument(0, _OUTPUT_KEYWORDS), argument(1, _INPUT_KEYWORDS)
    handed = argument(0, ("tensor",))
    return handed, handed


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
                    bind(elt, size_stand_in(stmt), stmt)  # `h, w = x.shape[-2:]`: sizes >= 1
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
        elif isinstance(node, ast.Call) and (rebound := _inplace(node, ctx)) is not None:
            # `x.clamp_(min=eps)`, `torch.clamp_min_(x, eps)`: after it, x holds `x.clamp(min=eps)`
            bind(rebound[0], rebound[1], enclosing_statement(node, ctx) or node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                isinstance(node.func.value, ast.Name) and node.func.attr in MUTATORS:
            # `z.scatter_(-1, idx, vals)`: after it, z holds values nothing here describes
            bind(node.func.value, None, enclosing_statement(node, ctx) or node)
        elif isinstance(node, ast.Call) and (out_name := written_out(node)) is not None:
            # `np.exp(z, out=p)`: after it, p holds the call's value
            bind(out_name, node, enclosing_statement(node, ctx) or node)
    stores = [(node, t, sub, base) for node in walk_local(fn) if isinstance(node, (ast.Assign, ast.AugAssign))
              for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
              for sub, base in item_targets(t) if base.id in out]
    per_name: dict[str, int] = {}
    for _node, _t, _sub, base in stores:
        per_name[base.id] = per_name.get(base.id, 0) + 1
    for node, t, sub, base in stores:
        if sub is not t or per_name[base.id] > MAX_ITEM_STORES or _keyed(t):
            # `loss[0], loss[1] = a, b`, a table filled key by key (`sims["q2d"] = ...`): opaque
            bind(base, None, node)
            continue
        # `w[infs] = 0.0`: each element is now what it was or the value stored (`w if ...
        # else v`, the old value read where the statement runs); `w[i] += v`: or w + v
        me = ast.copy_location(ast.Name(id=base.id, ctx=ast.Load()), node)
        ctx.parents[id(me)] = node
        new: ast.expr = node.value
        if isinstance(node, ast.AugAssign):
            again = ast.copy_location(ast.Name(id=base.id, ctx=ast.Load()), node)
            ctx.parents[id(again)] = node
            new = ast.copy_location(ast.BinOp(left=again, op=node.op, right=node.value), node)
            ctx.parents[id(new)] = node
        either = ast.copy_location(ast.IfExp(test=ast.Constant(value=True), body=me, orelse=new), node)
        ctx.parents[id(either)] = node
        bind(base, either, node)
    ctx._flow_bindings = out
    return out


#: in-place tensor methods whose result is their out-of-place twin's (``x.clamp_`` -> ``x.clamp``)
ELEMENTWISE_INPLACE = frozenset({"clamp_", "clamp_min_", "clamp_max_", "clip_", "add_", "sub_", "mul_", "div_",
                                 "abs_", "sqrt_", "exp_", "log_", "pow_", "relu_", "neg_", "sigmoid_", "tanh_",
                                 "square_", "reciprocal_", "nan_to_num_"})


def _inplace(call: ast.Call, ctx) -> tuple[ast.Name, ast.expr] | None:
    """``(x, x.clamp(min=eps))`` for ``x.clamp_(min=eps)`` and ``torch.clamp_min_(x, eps)``:
    the name an in-place op rewrites and the value it holds afterwards, the old value read
    where the call runs; None for anything else."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in ELEMENTWISE_INPLACE:
        return None
    module = ctx.is_module_ref(func.value) if hasattr(ctx, "is_module_ref") else False
    target = (call.args[0] if call.args else None) if module else func.value
    if not isinstance(target, ast.Name) or any(isinstance(a, ast.Starred) for a in call.args):
        return None
    stmt = enclosing_statement(call, ctx) or call
    me = ast.copy_location(ast.Name(id=target.id, ctx=ast.Load()), call)
    twin = func.attr[:-1]
    if module:
        f = ast.copy_location(ast.Attribute(value=func.value, attr=twin, ctx=ast.Load()), call)
        value = ast.copy_location(ast.Call(func=f, args=[me, *call.args[1:]], keywords=call.keywords), call)
    else:
        f = ast.copy_location(ast.Attribute(value=me, attr=twin, ctx=ast.Load()), call)
        value = ast.copy_location(ast.Call(func=f, args=list(call.args), keywords=call.keywords), call)
    ctx.parents[id(value)] = stmt
    ctx.parents[id(f)] = value
    ctx.parents[id(me)] = value if module else f
    return target, value


#: item stores into one name that are read as bindings of it; past this many it is a table
MAX_ITEM_STORES = 4


def _keyed(target: ast.AST) -> bool:
    """``d["key"] = v``: an entry of a mapping, not elements of an array."""
    return isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant) \
        and isinstance(target.slice.value, str)


def size_stand_in(stmt: ast.AST) -> ast.Constant:
    """What a size unpacked from a shape stands for where its range is asked: a 1 (a size is
    >= 1), marked so that no one reads it as the number 1 (``w * scale - scale / 2``)."""
    node = ast.copy_location(ast.Constant(value=1), stmt)
    node.kinkcheck_size = True  # type: ignore[attr-defined]
    return node


def is_size_stand_in(node: ast.AST | None) -> bool:
    return getattr(node, "kinkcheck_size", False)


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
    # a binding followed by another one in the same block before the use is overwritten on
    # every path through that block (`if c: d = f(); d = g(d)` then a use after the if)
    cands = [c for c in cands if c[2] is None or not any(
        o[2] is not None and o is not c and _pos(o[0][0]) > _pos(c[0][0]) and _same_block(o[2], c[2]) for o in cands)]
    dominating = [_pos(b[0]) for b, dom, _ in cands if dom]
    if not dominating:
        return [b for b, _, _ in cands], not _branches_cover([c for _, _, c in cands if c is not None], uchain)
    # the last dominating binding kills those before it; later ones (a loop's next pass) stay,
    # unless it sits in the loop that carries them back: each pass rebinds before the use
    cut = max(dominating)
    cut_loops = {c[0] for c in _chain(next(b[0] for b, dom, _ in cands if dom and _pos(b[0]) == cut), ctx) if c[2]}
    return [b for b, _, _ in cands if _pos(b[0]) >= cut and _pos(b[0]) < upos
            or _pos(b[0]) >= upos and _carrying_loop(_chain(b[0], ctx), uchain) not in cut_loops], False


def _carrying_loop(dchain: list, uchain: list) -> int | None:
    """The innermost loop around both a binding and a use before it: its next pass carries
    the binding back to the use."""
    loop = None
    for d, u in zip(dchain, uchain):
        if d[0] != u[0]:
            break
        if d[2]:
            loop = d[0]
    return loop


def _same_block(a: list, b: list) -> bool:
    """Two statement chains that end in the same statement list (``body`` of one ``if``)."""
    return len(a) == len(b) and [c[:2] for c in a] == [c[:2] for c in b]


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


def exclusive(stmt: ast.AST, node: ast.AST, ctx) -> bool:
    """``stmt`` and the statement holding ``node`` lie in different arms of one ``if`` (or
    try/except): no run executes both."""
    other = enclosing_statement(node, ctx)
    return other is not None and _exclusive(_chain(stmt, ctx), _chain(other, ctx))


def _exclusive(a: list, b: list) -> bool:
    """Two statements in different branches of the same ``if`` (or try/except arms)."""
    for x, y in zip(a, b):
        if x[0] != y[0]:
            return False
        if x[1] != y[1]:
            return {x[1], y[1]} <= {"body", "orelse", "handlers"}
    return False
