"""Black boxes judged on the value-flow facts (``flow``): does the cut lose a gradient the loss needs?

``.item()``, ``float(t)``, ``.tolist()``, ``.numpy()`` and numpy calls cut the gradient of
what they convert: they matter when that value carries gradient and the result reaches the
loss as a value (a condition is a branch, KC401's business; a logged or reported statistic
reaches nothing). ``.detach()``, ``.data``, ``stop_gradient`` and ``no_grad`` are deliberate
stop-gradients (a teacher, a target, a weight, running statistics): they matter only when
they leave the loss with no gradient at all, i.e. every returned value is plain or data
although the function differentiates something, or when they cut the scale of the very value
divided by it (``partial_cuts``).
"""

from __future__ import annotations

import ast

from kinkcheck.lazyre import lazy_pattern

from kinkcheck.lint import dead_terms, namespaces, partial_cuts
from kinkcheck.lint.bindings import mutated_names
from kinkcheck.lint.flow import _inside, _returns, in_condition, reaches_loss
from kinkcheck.lint.resolve import ARRAY_LIBRARIES, DATA, HOST_ROOTS, PLAIN, TENSOR
from kinkcheck.lint.sinks import _callee, every_bound_use, reads, uses_of
from kinkcheck.lint.walk import walk_local
from kinkcheck.syntax import LOGGING_CALLS, scalar_cast_of

#: black boxes that cut a value out of the graph on purpose when the loss keeps a gradient
DELIBERATE = frozenset({"KC503", "KC506"})


def loss_keeps_gradient(ctx) -> bool:
    """Some returned value may carry gradient (or there is no return value to judge)."""
    returns = _returns(ctx)
    if not returns:
        return True
    return any(ctx.kind(v) not in (PLAIN, DATA) for r in returns if r.value is not None
               for v in _returned_values(r.value, ctx))


def _returned_values(value: ast.AST, ctx=None, depth: int = 2) -> list[ast.AST]:
    """``return loss, {"log": loss.detach()}`` returns two values, each judged alone; so does
    ``losses = {"loss_mask": ..., "loss_dice": ...}; return losses`` (a display bound once)."""
    if isinstance(value, ast.Name) and ctx is not None and depth and value.id not in mutated_names(ctx):
        bound = ctx.definition(value.id)  # (`losses = {}` filled item by item is not followed)
        if isinstance(bound, (ast.Tuple, ast.List, ast.Dict)):
            return _returned_values(bound, ctx, depth - 1)
    if isinstance(value, (ast.Tuple, ast.List)):
        return [v for e in value.elts for v in _returned_values(e, ctx, depth)]
    if isinstance(value, ast.Dict):
        return [v for e in value.values if e is not None for v in _returned_values(e, ctx, depth)]
    return [value]


def _undetached(node: ast.AST, ctx) -> ast.AST:
    """``pred.detach()`` / ``pred.data`` / ``stop_gradient(pred)`` -> ``pred``: what a
    conversion such as ``.detach().numpy()`` takes out of the graph (one site, judged once)."""
    for _ in range(4):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "detach", "cpu", "clone") and not ctx.is_module_ref(node.func.value):
            node = node.func.value
        elif isinstance(node, ast.Attribute) and node.attr == "data":
            node = node.value
        elif isinstance(node, ast.Call) and node.args and getattr(node.func, "attr", getattr(node.func, "id", "")) == "stop_gradient":
            node = node.args[0]
        else:
            break
    return node


def severs_gradient(site, ctx) -> bool:
    """The black-box site cuts a gradient the loss needs (see the module docstring)."""
    node = site.call if site.call is not None else site.node
    if not ctx.imports_framework():
        return False  # numpy alone differentiates nothing: a float() or an .item() cuts no graph
    number = isinstance(node, ast.Call) and _callee(node) in ("item", "tolist") or scalar_cast_of(node) is not None
    if _new_leaf(node, ctx) or _reported(node, ctx, number=number) or _after_backward(node, ctx):
        return False
    if site.code in DELIBERATE:
        if dead_terms.converted(node, ctx, any_host_call=False):
            # `pred.detach().cpu().numpy()`: one site, one finding (the conversion's, KC502)
            return False
        if any(_inside(node, d) for d in getattr(ctx.fn, "decorator_list", ())):
            # ``@torch.no_grad()`` on the whole function declares it a statistic (DETR's
            # ``loss_cardinality``, "for logging only"); a training loss written so fails
            # loudly at ``.backward()``, it is not silently wrong
            return False
        if dead_terms.in_dead_term(node, ctx):
            return True  # `pg - c * entropy` with the entropy computed under no_grad: a term that trains nothing
        if (partial_cuts.cut_own_scale(node, ctx) or partial_cuts.data_computed_with(node, ctx)) \
                and _returns(ctx) and loss_keeps_gradient(ctx):
            return reaches_loss(node, ctx)  # the loss trains, on a gradient not its own
        info = ctx.fa.ix.functions.get(ctx.qualname)
        if info is not None and info.root in (None, "module", "backward"):
            # a helper that builds a target (sinkhorn codes, k-means, matching weights) on
            # purpose, also one kept beside the losses (importance weights in `losses/`); a
            # step that differentiates its own loss (`torch.autograd.grad(cost, x)`) returns
            # what it updated (a model, an attack's images), not the loss
            return False
        return not loss_keeps_gradient(ctx) and reaches_loss(node, ctx)
    if site.operand is not None and ctx.kind(_undetached(site.operand, ctx)) in (PLAIN, DATA):
        return False
    if in_condition(node, ctx) or not partial_cuts.learned_attribute(site.operand, ctx) and (
            only_divides(node, ctx) or only_positions(node, ctx)):
        return False
    if _only_compared(node, ctx) or every_bound_use(node, ctx, lambda use: _only_compared(use, ctx)):
        return False  # `kth = sorted_loss[k].item()` then `keep = loss > min(kth, t)`: a threshold
    if _returns_host_values(ctx):
        return False  # `test()` scoring `pred.detach().numpy()` with sklearn: nothing differentiable leaves
    return reaches_loss(node, ctx)





#: host reductions that make a threshold of the values handed in
_HOST_STATISTICS = frozenset({"quantile", "percentile", "median", "nanquantile", "nanpercentile", "nanmedian"})


def _only_compared(node: ast.AST, ctx, depth: int = 1) -> bool:
    """``node``'s value is an operand of a comparison, directly or through Python arithmetic
    on numbers (``min(kth, thresh)``): a comparison has no gradient, so a threshold cut from
    the graph loses none."""
    child, parent = node, ctx.parent(node)
    for _ in range(6):
        if isinstance(parent, ast.Compare):
            return True
        if isinstance(parent, ast.Call) and child in parent.args and (
                isinstance(parent.func, ast.Name) and parent.func.id in _THRESHOLD_BUILTINS
                or _callee(parent) in _HOST_STATISTICS and not _on_tensor(parent, ctx)):
            child, parent = parent, ctx.parent(parent)  # `np.quantile(loss.detach().numpy(), q)`
            continue
        if isinstance(parent, (ast.BinOp, ast.UnaryOp)):
            child, parent = parent, ctx.parent(parent)
            continue
        if isinstance(parent, ast.Assign) and parent.value is child and child is not node and depth > 0:
            # `thr = np.quantile(...)`, then `keep = loss >= float(thr)`
            return every_bound_use(child, ctx, lambda use: _only_compared(use, ctx, depth - 1))
        return False
    return False


def _returns_host_values(ctx) -> bool:
    """Every value the function returns is computed by a host library (``return
    roc_auc_score(y, pred)``, ``return np.vstack(results)``, ``return clf.score(x, y)``): a
    caller cannot differentiate it, so a conversion to NumPy on the way loses no gradient
    silently (a torch loss written so fails loudly at ``.backward()``)."""
    returns = _returns(ctx)
    return bool(returns) and all(_host_call(v, ctx) for r in returns if r.value is not None
                                 for v in _returned_values(r.value, ctx))


def _host_call(value: ast.AST | None, ctx, depth: int = 3) -> bool:
    """A call of a host library's function, or a method of an object one built
    (``clf = LogisticRegression().fit(x, y)``, then ``clf.score(...)``)."""
    if not isinstance(value, ast.Call) or depth < 0:
        return False
    q = ctx.qualify(value.func)
    if q is not None:  # (`nx.sum` of a backend namespace computes in the framework)
        return q.split(".")[0] in HOST_ROOTS and not namespaces.through_backend(ctx, value.func)
    receiver = value.func.value if isinstance(value.func, ast.Attribute) else None
    if isinstance(receiver, ast.Name):
        receiver = ctx.definition(receiver.id)
    return _host_call(receiver, ctx, depth - 1)


#: calls whose arguments are sizes or positions: an integer there carries no gradient to cut
_POSITION_CALLS = frozenset({"range", "split", "split_with_sizes", "tensor_split", "narrow", "len", "arange",
                             "zeros", "ones", "empty", "full", "new_zeros", "new_ones", "new_empty", "new_full"})


#: host functions whose value is positions of the values handed in: their order, the place of
#: an extreme, the bins they fall in, an assignment
_INDEX_CALLS = frozenset({"argsort", "argmax", "argmin", "argpartition", "searchsorted", "digitize",
                          "linear_sum_assignment"})


def _on_tensor(call: ast.Call, ctx) -> bool:
    """``torch.argsort(...)``: an array library's index function sorts tensors (another site's
    concern); a host library's works on what was converted."""
    q = ctx.qualify(call.func) or ""
    return q.split(".")[0] in ARRAY_LIBRARIES and q.split(".")[0] not in HOST_ROOTS


def only_positions(node: ast.AST, ctx, depth: int = 6) -> bool:
    """The converted value is only ever a position: a slice bound or an index (also of an
    element of it: ``ends = offsets.tolist(); x[ends[i - 1]:ends[i]]``), a ``range`` or a
    ``split`` size, a comparison. Positions are integers: no gradient of the loss runs
    through them."""
    child, parent = node, ctx.parent(node)
    if isinstance(parent, (ast.Slice, ast.Compare)):
        return True
    if isinstance(parent, ast.Attribute) and parent.attr in ("shape", "ndim", "dtype"):
        return True  # `cost.shape[0]`: what it holds, not a value of it
    if isinstance(parent, ast.Subscript):
        if parent.slice is child:
            return True  # `x[i]`
        # `ends[i]`: an element of the converted list, followed on
        return parent.value is child and depth > 0 and only_positions(parent, ctx, depth - 1)
    if isinstance(parent, ast.Call) and child in parent.args:
        # a size, or what an index function makes of the values: their order, the place of
        # their maximum, a matching (`np.argsort(e.detach().numpy())` as rank weights,
        # `linear_sum_assignment(cost)`) is piecewise constant in them, with no gradient to lose
        return _callee(parent) in _POSITION_CALLS or _callee(parent) in _INDEX_CALLS and not _on_tensor(parent, ctx)
    if isinstance(parent, (ast.IfExp, ast.BinOp)) and child is not getattr(parent, "test", None):
        # `n if c else m`, `h * w`: arithmetic of sizes is a size
        return depth > 0 and only_positions(parent, ctx, depth - 1)
    if isinstance(parent, ast.Tuple):
        stmt = ctx.parent(parent)
        if isinstance(stmt, ast.Call) and parent in stmt.args:
            return _callee(stmt) in _POSITION_CALLS  # `x.new_full((h * w, 1), s)`: a shape
        held: ast.AST = parent
        if isinstance(stmt, ast.IfExp) and parent is not stmt.test:
            held, stmt = stmt, ctx.parent(stmt)  # `h, w = a.shape if c else (int(s[0]), int(s[1]))`
        if isinstance(stmt, ast.Assign) and stmt.value is held and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ast.Tuple) and len(stmt.targets[0].elts) == len(parent.elts):
            target = stmt.targets[0].elts[next(i for i, e in enumerate(parent.elts) if e is child)]
            if not (isinstance(target, ast.Name) and depth > 0):
                return False
            uses = uses_of(target.id, stmt, ctx)
            return bool(uses) and all(only_positions(u, ctx, depth - 1) for u in uses)
        return False
    return depth > 0 and every_bound_use(child, ctx, lambda u: only_positions(u, ctx, depth - 1))


def _reported(node: ast.AST, ctx, depth: int = 2, number: bool = False) -> bool:
    """``{"scale": self.logit_scale.exp().item()}``, ``{"logits": logits.detach()}``,
    ``f"{loss.item():.3f}"``, ``return loss, clip_frac.item()``: a copy put straight into a
    dict display, a formatted string, a logging call, beside the loss in a returned tuple or
    into an attribute of ``self`` the function does not read again is for a log, a config or
    an output record; no loss arithmetic reads it. A name bound to such
    a copy is followed (``frac = ....item(); return loss, frac``). A Python ``number`` appended
    to a list the function only appends to, returns or logs is a history
    (``losses.append(loss.item())``)."""
    child, parent = node, ctx.parent(node)
    while isinstance(parent, ast.Call) and child in parent.args and isinstance(parent.func, ast.Name) \
            and parent.func.id in _NUMBER_WRAPPERS:
        child, parent = parent, ctx.parent(parent)  # `round(x.item(), 4)`, `float(...)`
    if isinstance(parent, ast.Dict):
        return any(v is child for v in parent.values)
    if isinstance(parent, ast.DictComp):
        # `logs = {k: v.item() for k, v in terms.items()}` returned beside the loss (not summed)
        return parent.value is child and _record_dict(ctx.parent(parent), ctx)
    if isinstance(parent, ast.FormattedValue) or _logged(child, parent, ctx):
        return True
    if number and isinstance(parent, ast.Call) and parent.args == [child] and _history(parent.func, ctx):
        return True
    if isinstance(parent, ast.Tuple) and isinstance(ctx.parent(parent), ast.Return):
        return any(e is not child and _the_loss(e, ctx) for e in parent.elts)  # `return loss, stats...`
    if isinstance(parent, ast.Assign) and parent.value is child:
        from kinkcheck.lint.branch_effects import records_on_self

        if records_on_self(parent, ctx):
            return True  # `self.last_loss = loss.detach().item()`: kept to be read by others
        if depth > 0 and _record_entry(parent, ctx):
            return True  # `logs["task"] = loss.item()` in the logs returned beside the loss
    return depth > 0 and every_bound_use(child, ctx, lambda u: _reported(u, ctx, depth - 1, number))


def _record_entry(assign: ast.Assign, ctx) -> bool:
    """``logs["task"] = loss.item()``: an entry, under a literal key, of a local dict whose entry
    under that key is never read back and which itself is only returned beside the loss or
    logged. ``logs["aux"] = aux.item(); loss = loss + w * logs["aux"]`` reads it back. Under a
    formatted key (``logs[f"reg/entropy{i}"]``) no entry of the dict may be read back."""
    target = assign.targets[0] if len(assign.targets) == 1 else None
    if not (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)):
        return False
    key = _literal_key(target)
    if key is None and not isinstance(target.slice, ast.JoinedStr):
        return False
    return _entries_not_read(target.value.id, key, ctx)


def _record_dict(assign: ast.AST | None, ctx) -> bool:
    """``logs = {k: v.item() for k, v in terms.items()}``: a dict bound to a local name no entry
    of which is read back (as under a formatted key of ``_record_entry``)."""
    if not (isinstance(assign, ast.Assign) and len(assign.targets) == 1 and isinstance(assign.targets[0], ast.Name)):
        return False
    return _entries_not_read(assign.targets[0].id, None, ctx)


def _entries_not_read(name: str, key: str | None, ctx) -> bool:
    """Every read of the local dict ``name`` writes an entry, reads one under a literal key
    other than ``key`` (none, for ``key`` None), merges another record in, or reports the dict
    itself (returned beside the loss, logged)."""
    uses = reads(name, ctx)
    for use in uses:
        parent = ctx.parent(use)
        if isinstance(parent, ast.Subscript) and parent.value is use:
            if isinstance(parent.ctx, ast.Store):
                continue  # another entry written
            other = _literal_key(parent)
            if key is not None and other is not None and other != key:
                continue  # another entry read
            return False
        if isinstance(parent, ast.Attribute) and parent.value is use and parent.attr == "update" \
                and isinstance(ctx.parent(ctx.parent(parent)), ast.Expr):
            continue  # `logs.update(reg_logs)`: other entries written
        if isinstance(parent, ast.Dict) or not _reported(use, ctx, depth=0):
            return False  # `{**logs, ...}`, `{"logs": logs}`: entries read from another dict later
    return bool(uses)


def _literal_key(item: ast.Subscript) -> str | None:
    key = item.slice
    return key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None


def _history(func: ast.AST, ctx) -> bool:
    """``history.append`` where the function only appends to ``history``, returns it or logs it."""
    if not (isinstance(func, ast.Attribute) and func.attr == "append" and isinstance(func.value, ast.Name)):
        return False
    for use in reads(func.value.id, ctx):
        parent = ctx.parent(use)
        returned = isinstance(parent, ast.Return) or isinstance(parent, ast.Tuple) and isinstance(ctx.parent(parent), ast.Return)
        if not (isinstance(parent, ast.Attribute) and parent.attr == "append" or returned or _logged(use, parent, ctx)):
            return False
    return True


def reported_statistic(node: ast.AST, ctx, depth: int = 0) -> bool:
    """The value at ``node`` becomes a Python number (``.item()``, ``float(...)``) within its
    expression, and that number is only reported: ``frac = (ratio > 1.2).float().mean().item()``
    returned beside the loss is a statistic, not a term of it. A name it is bound to
    (``clip_frac = (...).float().mean()`` under ``no_grad``) is followed: every read of it
    must be such a report. So is a value kept on ``self`` under ``no_grad`` that this call does
    not read again."""
    child, parent = node, ctx.parent(node)
    for _ in range(50):
        if isinstance(parent, ast.Assign) and parent.value is child and id(parent) in ctx.no_grad_ids():
            from kinkcheck.lint.branch_effects import records_on_self

            if records_on_self(parent, ctx):
                return True  # `self.accuracy = (logits > 0).float().mean()` under no_grad: a record
        if isinstance(parent, ast.Assign) and parent.value is child and depth < 2 and len(parent.targets) == 1 \
                and isinstance(parent.targets[0], ast.Name):
            from kinkcheck.lint import sinks

            uses = sinks.reads_after(parent, {parent.targets[0].id}, ctx)
            return bool(uses) and all(reported_statistic(u, ctx, depth + 1) for u in uses)
        if parent is None or isinstance(parent, ast.stmt):
            return False
        if isinstance(parent, ast.Attribute) and parent.value is child:
            method = ctx.method_call(child)
            if method is None:
                return False
            if parent.attr in ("item", "tolist"):
                return _reported(method[1], ctx, number=True)
            child, parent = method[1], ctx.parent(method[1])
            continue
        if scalar_cast_of(parent) is child:
            return _reported(parent, ctx, number=True)
        if isinstance(parent, (ast.BinOp, ast.UnaryOp, ast.Call)):
            child, parent = parent, ctx.parent(parent)
            continue
        return False
    return False


def _the_loss(node: ast.AST, ctx) -> bool:
    """A returned value that is the loss itself: a tensor, or a loss-named value."""
    from kinkcheck.lint.roots import LOSS_NAME_RE

    if isinstance(node, ast.Name) and (LOSS_NAME_RE.search(node.id) or _TOTAL_RE.match(node.id)):
        return True
    return ctx.kind(node) == TENSOR


#: what a loss that sums its terms calls the sum (``total = total + w * term``)
_TOTAL_RE = lazy_pattern(r"^_*(total|total_cost|cost)$")


#: builtins that keep a Python number a number
_NUMBER_WRAPPERS = frozenset({"round", "float", "int", "abs"})
#: ... and the builtins a threshold passes through on its way to a comparison (``min(kth, t)``)
_THRESHOLD_BUILTINS = _NUMBER_WRAPPERS | {"min", "max"}


def _logged(child: ast.AST, parent: ast.AST | None, ctx) -> bool:
    """``child`` is an argument of a logging call."""
    if not (isinstance(parent, ast.Call) and (child in parent.args or any(k.value is child for k in parent.keywords))):
        return False
    return logging_call(parent, ctx)


def logging_call(call: ast.Call, ctx) -> bool:
    """A call that reports (``print``, ``logger.info``, ``warnings.warn``; not ``np.log``: the
    array libraries and ``math`` compute)."""
    q = ctx.qualify(call.func) or ""
    return _callee(call) in LOGGING_CALLS and q.split(".")[0] not in (*ARRAY_LIBRARIES, "math", "cmath")


def _new_leaf(node: ast.AST, ctx) -> bool:
    """``x.detach().requires_grad_()``: a new leaf made on purpose (GradCache, a hand-written
    checkpoint, the variable of an attack or of an inner optimisation): its gradient is read
    from ``.grad`` and replayed, not silently lost. The leaf may be named first and marked
    after (``w = f(x).detach(); w.requires_grad = True``)."""
    attr = ctx.parent(node)
    call = ctx.parent(attr) if isinstance(attr, ast.Attribute) and attr.value is node else None
    if isinstance(call, ast.Call) and isinstance(attr, ast.Attribute) and attr.attr == "requires_grad_":
        return all(isinstance(a, ast.Constant) and a.value is True for a in (*call.args, *(k.value for k in call.keywords)))
    stmt = attr
    if not (isinstance(stmt, ast.Assign) and stmt.value is node and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)):
        return False
    name = stmt.targets[0].id
    return any(_marks_leaf(use, ctx) for use in uses_of(name, stmt, ctx))


def _marks_leaf(use: ast.Name, ctx) -> bool:
    """``use.requires_grad = True`` or ``use.requires_grad_()``."""
    attr = ctx.parent(use)
    if not (isinstance(attr, ast.Attribute) and attr.value is use):
        return False
    up = ctx.parent(attr)
    if attr.attr == "requires_grad" and isinstance(up, ast.Assign) and up.targets == [attr]:
        return isinstance(up.value, ast.Constant) and up.value.value is True
    return attr.attr == "requires_grad_" and isinstance(up, ast.Call) and up.func is attr \
        and all(isinstance(a, ast.Constant) and a.value is True for a in up.args)


def _after_backward(node: ast.AST, ctx) -> bool:
    """``loss.backward(); loss = loss.detach()`` (gradient accumulation, GradCache): the cut
    value was differentiated before it was cut, so the copy loses no gradient."""
    base = _undetached(node, ctx)
    if base is node or not isinstance(base, ast.Name):
        return False
    line = getattr(node, "lineno", 0)
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "backward"
               and isinstance(n.func.value, ast.Name) and n.func.value.id == base.id and n.lineno < line
               for n in walk_local(ctx.fn))


def only_divides(node: ast.AST, ctx) -> bool:
    """The value at ``node`` (or the name it is bound to) is only ever a divisor:
    ``loss / avg_factor.clamp(min=1).item()`` normalises by a number on purpose."""
    def divisor(child: ast.AST) -> bool:
        parent = ctx.parent(child)
        for _ in range(50):
            if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div):
                return parent.right is child
            if isinstance(parent, ast.AugAssign) and isinstance(parent.op, ast.Div):
                return parent.value is child
            if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute) and parent.func.value is child:
                child, parent = parent, ctx.parent(parent)  # `.clamp_(min=1).item()`
                continue
            return False
        return False

    if divisor(node):
        return True
    child, parent = node, ctx.parent(node)
    while isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute) and parent.func.value is child:
        child, parent = parent, ctx.parent(parent)
    if not (isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name)):
        return False
    from kinkcheck.lint.walk import walk_local

    name = parent.targets[0].id
    uses = [n for n in walk_local(ctx.fn) if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)]
    return bool(uses) and all(divisor(u) for u in uses)
