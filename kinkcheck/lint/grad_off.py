"""Functions that run with gradients off, so that nothing they compute is a kink of a loss:
the ``forward`` of a ``torch.autograd.Function`` and the primal of a JAX custom derivative
(their rules supply the gradient), a function every caller in the file runs under
``torch.no_grad()`` (targets, assignments, point sampling), one that cuts everything it
returns (``return jax.lax.stop_gradient(projected)``: a target builder), and the bodies of a JAX
``while_loop`` (reverse mode cannot go through one). The engine quiets such functions.
Derivative rules themselves (a ``backward``, a ``defjvp`` rule, a ``defvjp`` bwd) compute a
gradient nothing differentiates: the engine keeps only their kinks and infinite values."""

from __future__ import annotations

import ast
from typing import Iterable

from kinkcheck.lint import call_sites
from kinkcheck.lint.context import Context, FileAnalysis, initializer_lambdas
from kinkcheck.lint.kinds_members import module_context
from kinkcheck.lint.resolve import dotted
from kinkcheck.lint.roots import (
    AUTOGRAD_BASES,
    AUTOGRAD_METHODS,
    AUTOGRAD_UNDIFFERENTIATED,
    DERIVATIVE_RULES,
    FORWARD_NAMES,
)
from kinkcheck.lint.walk import walk_local


def autograd_rule(fa: FileAnalysis, qualname: str, cls_qual: str | None) -> bool:
    """``backward`` (``jvp``, ``vjp``) of a ``torch.autograd.Function``, or a JAX derivative
    rule: the ``jvp`` handed to ``f.defjvp`` (or decorated ``@f.defjvp``), the ``bwd`` of
    ``f.defvjp(fwd, bwd)``."""
    if cls_qual is not None and qualname.rsplit(".", 1)[-1] in AUTOGRAD_METHODS and _autograd_function(fa, cls_qual):
        return True
    if _jax_rules(fa).get(qualname.rsplit(".", 1)[-1]) == "rule":
        return True
    return cls_qual is not None and _autograd_function(fa, cls_qual) and _only_called_from_rules(fa, qualname)


def _only_called_from_rules(fa: FileAnalysis, qualname: str) -> bool:
    """A helper of an autograd Function that only its ``backward`` calls
    (``Entmoid15._backward(output, grad)``): part of the hand-written gradient."""
    entry = fa.ix.scopes.get(qualname)
    if entry is None:
        return False
    sites = call_sites.call_sites(call_sites.caller_context(fa, qualname, entry)) or []
    return bool(sites) and all(
        caller.cls_qual is not None and caller.qualname.rsplit(".", 1)[-1] in AUTOGRAD_METHODS
        and _autograd_function(fa, caller.cls_qual) for caller, _ in sites)


def _jax_rules(fa: FileAnalysis) -> dict[str, str]:
    """Names of the file's functions registered as JAX derivative rules: ``"rule"`` for a
    ``jvp``/``bwd``, ``"fwd"`` for the forward pass of ``defvjp`` (it computes the primal,
    which the rule differentiates, as ``undifferentiated_forward`` says)."""
    got = fa.__dict__.get("_jax_rules")
    if got is not None:
        return got
    out: dict[str, str] = {}
    for node in ast.walk(fa.tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in DERIVATIVE_RULES:
            for i, a in enumerate(node.args):
                if isinstance(a, ast.Name):
                    out[a.id] = "fwd" if node.func.attr == "defvjp" and i == 0 else "rule"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                isinstance(d, ast.Attribute) and d.attr in ("defjvp", "defjvps") for d in node.decorator_list):
            out[node.name] = "rule"
    fa._jax_rules = out  # type: ignore[attr-defined]
    return out


def _autograd_function(fa: FileAnalysis, cls_qual: str) -> bool:
    return any(b in AUTOGRAD_BASES or b.endswith(".autograd.Function") for b in fa.ix.classes.get(cls_qual, ()))


def undifferentiated_forward(fa: FileAnalysis, qualname: str, cls_qual: str | None) -> bool:
    """``forward`` of a ``torch.autograd.Function`` (it runs with gradients off and its
    backward supplies the gradient), or the primal of a ``jax.custom_jvp``/``custom_vjp``
    function and what is nested in it (its rule supplies the derivative): nothing they
    compute is differentiated."""
    if any(_custom_derivative(d) or _autograd_primitive(fa, d)
           for fn in _self_and_enclosing(fa, qualname) for d in getattr(fn, "decorator_list", ())):
        return True
    if _jax_rules(fa).get(qualname.rsplit(".", 1)[-1]) == "fwd":
        return True
    return cls_qual is not None and qualname.rsplit(".", 1)[-1] in AUTOGRAD_UNDIFFERENTIATED \
        and _autograd_function(fa, cls_qual)


#: calls that differentiate inside the function itself: its values are a gradient's
_DIFFERENTIATES = frozenset({"backward", "manual_backward", "grad", "value_and_grad", "vjp", "jvp", "jacrev",
                             "jacfwd", "hessian", "gradient", "apply_gradients", "step", "minimize"})


def returns_only_cut(ctx: Context) -> bool:
    """Every value the function returns is cut on the way out (``return
    jax.lax.stop_gradient(projected)``, ``return t.max(-1).values.detach()``, ``return a.detach(),
    b.detach()``): a target builder, so no gradient runs back through anything it computes.
    Not a declared loss (a loss that detaches its result is KC5xx's finding, and the cut is the
    site), nor one that differentiates inside (a training step returning ``loss.item()``) or
    writes state a later call may differentiate (``self.center = ...``, an argument written into)."""
    from kinkcheck.lint.flow import cut_output
    from kinkcheck.syntax import base_name, call_tail

    fn = ctx.fn
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or declared_loss(ctx):
        return False
    returned: list[ast.AST] = []
    params = set(ctx.params)
    for node in walk_local(fn):
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return False
        if isinstance(node, ast.Return):
            if node.value is None:
                return False
            returned.extend(node.value.elts if isinstance(node.value, ast.Tuple) else [node.value])
        elif isinstance(node, ast.Call) and (call_tail(node) in _DIFFERENTIATES or _writes_state(node, params)):
            return False
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) or isinstance(node, ast.Subscript) \
                and isinstance(node.ctx, ast.Store) and base_name(node) in (*params, "self"):
            return False
    return bool(returned) and all(cut_output(v, ctx) for v in returned)


def _writes_state(call: ast.Call, params: set[str]) -> bool:
    """``terms.append(r)`` on a list handed in, ``self.cache.update(...)``, ``buf.copy_(x)``:
    a write a caller (or another method) reads."""
    from kinkcheck.lint.bindings import MUTATORS
    from kinkcheck.syntax import base_name

    func = call.func
    if not isinstance(func, ast.Attribute) or base_name(func.value) not in (*params, "self"):
        return False
    return func.attr in MUTATORS or func.attr.endswith("_") and not func.attr.startswith("_")


def in_while_loop(fa: FileAnalysis, qualname: str) -> bool:
    """A function handed to ``jax.lax.while_loop`` as its ``cond_fun`` or ``body_fun`` (and
    named nowhere else in the file), or one nested in it: reverse-mode differentiation
    (``jax.grad``, ``vjp``) cannot go through a while loop (JAX raises), so what a rejection
    sampler's or a solver's loop computes is not a gradient's kink."""
    loops = fa.__dict__.get("_while_loop_functions")
    if loops is None:
        loops = fa._while_loop_functions = _while_loop_functions(fa)  # type: ignore[attr-defined]
    return any(getattr(fn, "name", None) in loops for fn in _self_and_enclosing(fa, qualname))


def _self_and_enclosing(fa: FileAnalysis, qualname: str) -> Iterable[ast.AST]:
    """The function ``qualname`` names, then each function (or class) it is nested in."""
    q = qualname
    while "." in q:
        entry = fa.ix.scopes.get(q)
        if entry is not None:
            yield entry[0]
        q = q.rsplit(".", 1)[0]


def _while_loop_functions(fa: FileAnalysis) -> set[str]:
    """Names whose every use in the file is as the cond or body function of a while loop
    (``lax.while_loop`` as the module's imports resolve it)."""
    module = module_context(fa)
    handed: set[str] = set()
    loop_args: set[int] = set()
    for call in ast.walk(fa.tree):
        if not isinstance(call, ast.Call) or module.qualify(call.func) != "jax.lax.while_loop":
            continue
        args = [*call.args[:2], *(k.value for k in call.keywords if k.arg in ("cond_fun", "body_fun"))]
        for a in args:
            if isinstance(a, ast.Name):
                handed.add(a.id)
                loop_args.add(id(a))
    if not handed:
        return handed
    for n in ast.walk(fa.tree):  # named anywhere else (called, stored, handed on): it may be differentiated
        if isinstance(n, ast.Name) and n.id in handed and id(n) not in loop_args and isinstance(n.ctx, ast.Load):
            handed.discard(n.id)
    return handed


#: why a function is a root when its own name, class, decorator or comment says it is a loss,
#: or that it is a hand-written derivative (its value is a gradient: an optimizer that rounds
#: or compares it still steps by it)
_DECLARED_LOSS = frozenset({"name", "loss-class", "decorator", "comment", "gradient"})


def declared_loss(ctx: Context) -> bool:
    """The index made the checked function loss code for one of ``_DECLARED_LOSS``."""
    info = ctx.fa.ix.functions.get(ctx.qualname) if ctx.fa.ix is not None else None
    return info is not None and info.root in _DECLARED_LOSS


def called_only_without_grad(ctx: Context, depth: int = 4) -> bool:
    """Every call of the function in this file runs with gradients off: under
    ``torch.no_grad()`` (an ``@torch.no_grad()`` assigner's ``forward`` calling its helpers,
    which call theirs), inside an autograd ``forward``, or from a function that is itself
    only called so. What it computes are targets, not the loss. A function no code in the
    file calls (a public helper), or one handed on as a value (``map(f, xs)``, ``partial(f)``),
    may be called with gradients on: it is checked."""
    memo = ctx.fa.__dict__.setdefault("_called_without_grad", {})
    if ctx.qualname in memo:
        return memo[ctx.qualname]
    if declared_loss(ctx):
        # `total += hinge_loss(model(x), y).item()` in an evaluation loop: a loss is
        # differentiated where it trains (often another file), whatever this file's calls do
        memo[ctx.qualname] = False
        return False
    memo[ctx.qualname] = False  # recursion: a cycle of calls proves nothing
    if _initializer(ctx) or _nested_in_quiet(ctx, depth):
        memo[ctx.qualname] = True
        return True
    sites = call_sites.call_sites(ctx) if depth > 0 else None  # None too when it is handed on as a value
    if sites is None and depth > 0 and (call_sites.used_as_value(ctx) or _called_by_name(ctx)):
        # handed on as a value, or a method whose callers this file does not resolve (`hess =
        # L_BFGS(x) if low_mem else BFGS(x)`; `hess.update(s, y)`): judged by every mention
        memo[ctx.qualname] = found = _named_only_without_grad(ctx)
        return found
    # a call of the function in its own body (entmax's threshold search retrying with a larger
    # k) runs within one of its other calls: it adds no way in
    resolved = {id(call.func) for _, call in sites or ()}
    sites = [(caller, call) for caller, call in sites or () if caller.qualname != ctx.qualname]
    found = bool(sites) and all(
        isinstance(caller, Context) and (
            id(call) in caller.no_grad_ids()
            or _result_cut(call, caller)
            or _lambda_handed_without_grad(caller)
            or undifferentiated_forward(ctx.fa, caller.qualname, caller.cls_qual)
            or called_only_without_grad(caller, depth - 1))
        for caller, call in sites or ())
    if found and _called_by_name(ctx):
        # `self.temperature_scale(x)` resolved, but `self.model.temperature_scale(x)` in a
        # training closure not: every mention the resolved calls do not account for must run
        # with gradients off too
        found = _named_only_without_grad(ctx, skip=resolved, depth=depth)
    memo[ctx.qualname] = found
    return found


def _called_by_name(ctx: Context) -> bool:
    """A method code calls by its name (``hess.update(s, y)``), not a network's ``forward``
    or a dunder that Python calls for it."""
    name = getattr(ctx.fn, "name", "")
    return call_sites.is_method(ctx) and name not in FORWARD_NAMES and not name.startswith("__")


def _named_only_without_grad(ctx: Context, skip: set[int] | None = None, depth: int = 4) -> bool:
    """Every mention of the function in the file (``self.uncertainty`` for a method) runs with
    gradients off: called, or handed as an argument to a call (``sample_points(logits,
    self.uncertainty)``), under ``torch.no_grad()``. Stored (``self.hook = self.f``) or named
    anywhere else, it may run with gradients on. ``skip``: mentions already judged (the
    callee of a call the file resolves); with nothing left, every mention is accounted for.
    A subclass's override calling it through ``super()`` runs it as the override itself runs."""
    fn, fa = ctx.fn, ctx.fa
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or fn.name.startswith("<"):
        return False  # module code, a lambda: not named
    name = fn.name
    method = call_sites.is_method(ctx)
    skip = skip or set()

    def mentions(n: ast.AST) -> bool:
        if id(n) in skip:
            return False
        if isinstance(n, ast.Attribute):
            return n.attr == name  # `self.f`, `other.f`, `module.f`: any of them may be this one
        return not method and isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)

    related = set(call_sites.related_classes(fa, ctx.cls_qual)) if method and ctx.cls_qual else None

    total = sum(1 for n in ast.walk(fa.tree) if mentions(n))
    quiet = 0
    for qual, entry in fa.ix.scopes.items():
        if qual.rpartition(".")[2].startswith("<lambda"):
            continue  # a lambda's nodes are its enclosing function's
        found = [n for n in walk_local(entry[0]) if mentions(n)]
        if not found:
            continue
        caller = call_sites.caller_context(fa, qual, entry)  # module code too (a `__main__` block)
        if skip and qual == ctx.qualname:
            total -= len(found)  # its own body runs within one of its calls: no way in
            continue
        # not mentions of it: another class's or module's `f`, a `super().f` naming a base's
        other = [n for n in found if _names_another(n, caller, entry[2], ctx, related)]
        total -= len(other)
        found = [n for n in found if n not in other]
        for n in found:
            holder = caller.parent(n)
            if isinstance(holder, ast.keyword):
                holder = caller.parent(holder)
            if not (isinstance(holder, ast.Call) and id(holder) in caller.no_grad_ids()) \
                    and not (_super_of_override(n, caller, name) and called_only_without_grad(caller, depth - 1)):
                return False
            quiet += 1
    # no mention left: quiet only if the resolved calls (``skip``) were, never for want of evidence
    return quiet == total if total else bool(skip)


def _names_another(mention: ast.AST, caller: Context, cls: str | None, ctx: Context,
                   related: set[str] | None) -> bool:
    """``mention`` (``<holder>.f``) cannot name the method of ``ctx``: ``F.normalize`` of a
    module, a library object's method (``optimizer.step``), ``self.f`` or ``cls.f`` in a class
    that is neither the method's class, a base nor a subclass of it (that class's own ``f``), or
    ``super().f`` in a class the method's class is no base of (``super()`` names a base's ``f``)."""
    holder = getattr(mention, "value", None)
    if holder is None:
        return False
    if _is_super(holder):
        return cls is None or ctx.cls_qual is None or ctx.cls_qual not in call_sites.bases_in_file(caller.fa, cls)
    if isinstance(holder, ast.Name) and holder.id in ("self", "cls"):
        return related is not None and cls is not None and cls not in related
    if caller.is_module_ref(holder):
        return True
    q = caller.qualify(holder)
    if q is not None and caller.how in ("instance", "attribute-of-instance"):
        return related is None or q not in related  # an object of another class
    return False


def _super_of_override(mention: ast.AST, caller: Context, name: str) -> bool:
    """``super().get_box_metrics(...)`` in a subclass's own ``get_box_metrics``: the override
    runs wherever the method is called, so it runs the base's with gradients as it runs."""
    return _is_super(getattr(mention, "value", None)) and getattr(caller.fn, "name", None) == name


def _is_super(node: ast.AST | None) -> bool:
    """``super()``: the holder of a base class's method."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def _lambda_handed_without_grad(caller: Context) -> bool:
    """``caller`` is a lambda written as an argument of a call that runs under
    ``torch.no_grad()`` (``sample_points(logits, lambda z: self.uncertainty(z))``): the callee
    runs it then, with gradients off. A lambda stored under no_grad and called later is not."""
    if not caller.qualname.rpartition(".")[2].startswith("<lambda"):
        return False
    handed = _handed_lambda(caller)
    return handed is not None and id(handed[2]) in handed[0].no_grad_ids()


def _initializer(lam: Context) -> bool:
    """``lam`` is a lambda handed to a call as a parameter's initializer (``context.initializer_lambdas``)."""
    handed = _handed_lambda(lam)
    return handed is not None and handed[1] in initializer_lambdas(handed[2])


def _handed_lambda(lam: Context) -> tuple[Context, ast.Lambda, ast.Call] | None:
    """The function that writes the lambda ``lam`` (a linked Context), the lambda's node there,
    and the call it is handed to as an argument (``f(x, lambda z: ...)``, ``f(key=lambda z: ...)``);
    None when ``lam`` is no lambda so handed."""
    enclosing_qual = lam.qualname.rpartition(".")[0]
    entry = lam.fa.ix.scopes.get(enclosing_qual)
    body = getattr(lam.fn, "body", None)
    if entry is None or not body or not isinstance(body[0], ast.Return):
        return None
    enclosing = call_sites.caller_context(lam.fa, enclosing_qual, entry)
    node = next((n for n in walk_local(entry[0]) if isinstance(n, ast.Lambda) and n.body is body[0].value), None)
    holder = enclosing.parent(node) if node is not None else None
    if isinstance(holder, ast.keyword):
        holder = enclosing.parent(holder)
    if node is None or not isinstance(holder, ast.Call) or node is holder.func:
        return None
    return enclosing, node, holder


def _nested_in_quiet(ctx: Context, depth: int) -> bool:
    """A function defined inside one that only ever runs with gradients off (a helper whose
    every result is cut): whatever it computes stays inside that one."""
    enclosing_qual = ctx.qualname.rpartition(".")[0]
    entry = ctx.fa.ix.scopes.get(enclosing_qual)
    if depth <= 0 or entry is None or not isinstance(entry[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    return called_only_without_grad(call_sites.caller_context(ctx.fa, enclosing_qual, entry), depth - 1)


def _result_cut(call: ast.AST, caller: Context) -> bool:
    """What the call returns goes only into a stop-gradient or a comparison (``dt0 = f(...);
    dt0 = lax.stop_gradient(dt0)``, ``f(x).detach()``), or only into what the caller reports
    beside its loss (``metrics = {"ev": explained_variance(v, r)}``, then ``return loss,
    jax.lax.stop_gradient(metrics)``): no gradient runs back into the callee."""
    from kinkcheck.lint.sinks import gradient_dead

    # (a caller from ``call_sites`` has its parent links)
    return gradient_dead(call, caller) or _only_reported(call, caller)


def _only_reported(call: ast.AST, caller: Context) -> bool:
    """The call's value is returned only beside the loss, in an element cut on the way out
    (``return loss, jax.lax.stop_gradient(metrics)``, ``stats.detach()``) or in the aux of a
    function differentiated with ``has_aux=True``, directly or through plain names every later
    read of which is such a return: a record, not a term (a name also looped over, stored on
    ``self`` or read by arithmetic is not)."""
    from kinkcheck.lint import flow

    stmt = flow.enclosing_statement(call, caller)
    if isinstance(stmt, ast.Return):
        return _in_report(call, stmt, caller)
    if not isinstance(stmt, ast.Assign):
        return False
    names = _plain_targets(stmt)
    return bool(names) and _names_only_reported(names, stmt, caller, 2)


def _plain_targets(stmt: ast.AST | None) -> set[str]:
    if not isinstance(stmt, ast.Assign):
        return set()
    elts = [n for t in stmt.targets for n in (t.elts if isinstance(t, ast.Tuple) else [t])]
    return {n.id for n in elts if isinstance(n, ast.Name)} if all(isinstance(n, ast.Name) for n in elts) else set()


def _names_only_reported(names: set[str], stmt: ast.stmt, caller: Context, depth: int) -> bool:
    from kinkcheck.lint import flow, sinks

    uses = sinks.reads_after(stmt, names, caller)
    for use in uses:
        where = flow.enclosing_statement(use, caller)
        if isinstance(where, ast.Return):
            if not _in_report(use, where, caller):
                return False
            continue
        merged = _plain_targets(where)  # `metrics = {**metrics, "kl": kl}`
        if not (depth and merged and not merged & names and isinstance(where, ast.Assign)
                and _names_only_reported(merged, where, caller, depth - 1)):
            return False
    return bool(uses)


def _in_report(node: ast.AST, ret: ast.Return, caller: Context) -> bool:
    from kinkcheck.lint import flow

    if not isinstance(ret.value, ast.Tuple):
        return False
    values = flow.loss_values(caller)
    for element in ret.value.elts:
        if flow._inside(node, element):
            if any(element is v for v in values):
                return False
            return flow.cut_output(element, caller) or getattr(caller.fn, "name", None) in flow.aux_functions(caller.fa)
    return False


#: HIPS autograd's decorator for a function whose gradient ``defvjp`` supplies
_AUTOGRAD_PRIMITIVES = frozenset({"autograd.extend.primitive", "autograd.primitive", "autograd.core.primitive"})


def _autograd_primitive(fa: FileAnalysis, decorator: ast.AST) -> bool:
    """``@primitive`` from ``autograd.extend`` (lifelines' ``safe_exp``): autograd never
    differentiates the body, it calls the vjp registered with ``defvjp``."""
    name = dotted(decorator) or ""
    head, _, rest = name.partition(".")
    q = fa.ix.table.names.get(head)
    return (f"{q}.{rest}" if q and rest else q or name) in _AUTOGRAD_PRIMITIVES


def _custom_derivative(decorator: ast.AST) -> bool:
    """``@jax.custom_jvp``, ``@functools.partial(jax.custom_vjp, nondiff_argnums=...)``."""
    for node in ast.walk(decorator):
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
        if name in ("custom_jvp", "custom_vjp"):
            return True
    return False
