"""The analyzer's driver: the functions in scope of one file, node by node, through matching,
checks, guards and the value-flow facts, to findings.

Per file (:func:`analyze_file`): parse (or recall the index's tree), then for each function
in scope (:func:`_analyze_scopes`; a ``#slice`` entry keeps only what the backward pass
differentiates) a :class:`~kinkcheck.lint.context.Context`, and per node
(:func:`_node_findings`): sites from the catalog's ``[match]`` tables
(:mod:`kinkcheck.lint.matching`) and the checks registered by code
(:mod:`kinkcheck.lint.checks`), refined by their rule's refiner, dropped when every operand
is a Python value (:mod:`kinkcheck.lint.kinds`), a guard accepts them
(:mod:`kinkcheck.lint.guards`) or the value-flow facts say the kink cannot reach a gradient
(:mod:`kinkcheck.lint.flow`); what is left becomes a finding.

Names resolve through the file's own import table (``kinkcheck.lint.resolve``), local
aliases (``orig = torch.abs``), instances (``pool = nn.MaxPool2d(2); pool(x)``,
``self.act = nn.ReLU()`` in ``__init__``) and re-exports of sibling files of the checked
tree. Nothing is imported and no foreign package is ever read, so the analyzer works the
same with or without torch/jax installed and costs one ``ast.parse`` plus a walk per file.
What may be a tensor is :mod:`kinkcheck.lint.kinds`' policy; how confident a finding is,
:mod:`kinkcheck.lint.matching`'s.
"""

from __future__ import annotations

import ast
import sys
from typing import Iterable

from kinkcheck.catalog import Rule
from kinkcheck.findings import Finding
from kinkcheck.lint import checks as registry
from kinkcheck.lint import argflow, flow, grad_off, joins, outside_calls, pinned, return_data, return_range, severing, sink_paths, sinks, smooth_ifs
from kinkcheck.lint.checks import Site
from kinkcheck.lint.context import Budget, Context, FileAnalysis, no_grad_nodes
from kinkcheck.lint.guards import accepts
from kinkcheck.lint.index import recall
from kinkcheck.lint.walk import backward_slice, walk_local
from kinkcheck.lint.make_finding import site_finding
from kinkcheck.lint.matching import Tables, _operand, match_call, match_operator
from kinkcheck.lint.resolve import ARRAY_LIBRARIES, PLAIN, TENSOR
from kinkcheck.lint.roots import (
    GRAD_OF_EXPR, backward_operand, differentiated_expr, returns_the_loss,
)
from kinkcheck.syntax import binary_operands

SLICE = "#slice"
DEFAULT_BUDGET = 200_000
#: kinks at 0 that a power above 1 smooths: |x|**2, relu(x)**2 (clamp/maximum only at a 0 bound)
SQUARED_AWAY = frozenset({"KC101", "KC102"})
#: categories whose sites matter only where their value reaches what the function returns
REACHING = frozenset({"step"})


def _nan_norm(site: Site) -> bool:
    """JAX's norm'(0) is nan, and ``2 * 0 * nan`` is still nan: ``jnp.linalg.norm(v) ** 2`` has a
    nan gradient at v == 0, where torch's masked norm'(0) = 0 gives the square its true slope."""
    if not (site.qname and site.qname.split(".")[0] == "jax"):
        return False
    order = _operand(site.call, 1, "ord") if isinstance(site.call, ast.Call) else None
    # the 2-norm and Frobenius norm divide by themselves; the 1- and inf-norms' slopes are
    # finite (an order held in a name may be either)
    return not (isinstance(order, ast.Constant) and order.value not in (None, 2, 2.0, "fro"))


class _ArraysAfterAll(Exception):
    """A file without array imports turned out to call an array library (found by astroid)."""


def parse(source: str, path: str) -> ast.Module:
    """``ast.parse``; a parser out of memory is a SyntaxError, deep nesting a RecursionError
    (which :func:`analyze_file` retries with room for it)."""
    try:
        return ast.parse(source, path)
    except MemoryError:
        raise SyntaxError(f"{path}: expression nested too deeply to parse") from None


def analyze_file(*args, **kwargs) -> list[Finding]:
    """See :func:`_analyze_file`; a file nested too deep for the default recursion limit is
    analysed again with room for it (``deep.run``), never skipped."""
    from kinkcheck.lint import deep

    return deep.run(_analyze_file, *args, **kwargs)


def _analyze_file(
    source: str,
    path: str,
    module: str,
    functions: frozenset[str] | None,
    *,
    codes: frozenset[str],
    catalog,
    budget: int = DEFAULT_BUDGET,
    infer: bool = True,
    notes: list[str] | None = None,
) -> list[Finding]:
    """Raw findings (not yet documented by comments) for the functions in scope.

    ``functions=None`` checks all code; an entry ``"mod.train#slice"`` checks only the
    statements of ``mod.train`` that compute what is differentiated. Raises only
    SyntaxError/ValueError (unparsable source) and RecursionError (nesting too deep: the
    caller retries); a blown budget or any other trouble in one function skips that
    function and keeps going.

    ``infer=False`` turns the astroid fallback off (import-table resolution only). When
    the fallback's budget runs out (or the file is too big for it), one line goes to
    ``notes`` when given, else to stderr as ``kinkcheck: <path>: note: ...``.
    """
    known = recall(source, path, module)
    tree, ix = known if known is not None else (parse(source, path), None)
    registry.validate(catalog)
    codes = frozenset(c for c in codes if c in catalog)
    if not codes:
        return []
    fa = FileAnalysis(source, path, module, tree, budget, ix)
    fa.catalog = catalog
    fa.infer_enabled = infer
    tables = Tables.get(catalog, codes)
    fa.tails = tables.tails
    try:
        try:
            findings = _analyze_scopes(fa, tables, catalog, codes, functions, path)
        except _ArraysAfterAll:
            fa.reset_kinds()
            findings = _analyze_scopes(fa, tables, catalog, codes, functions, path)
    finally:
        fa.close()
    note = fa.inference.note if fa.inference is not None else None
    if note:
        if notes is not None:
            notes.append(f"{path}: {note}")
        else:
            print(f"kinkcheck: {path}: note: {note}", file=sys.stderr)
    return findings


#: methods that build, copy, compare or show an object: never differentiated as a loss
OBJECT_PLUMBING = frozenset({"__init__", "__post_init__", "__repr__", "__str__", "__hash__", "__eq__", "__ne__",
                             "__getstate__", "__setstate__", "__reduce__", "tree_flatten", "tree_unflatten",
                             "extra_repr", "__init_subclass__", "__class_getitem__"})


def _analyze_scopes(fa: FileAnalysis, tables: Tables, catalog, codes: frozenset[str],
                    functions: frozenset[str] | None, path: str) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[tuple] = set()
    settings = pinned.parse(functions) if functions else {}
    fa.setting_params = argflow.parse(functions, argflow.SETTING_PARAM) if functions else {}
    # a setting carries no gradient either
    fa.data_params = argflow.parse(functions, argflow.DATA_PARAM, argflow.SETTING_PARAM) if functions else {}
    fa.return_ranges = return_range.parse(functions) if functions else {}
    fa.data_returns = return_data.parse(functions) if functions else {}
    fa.outside_calls = outside_calls.parse(functions) if functions else frozenset()
    for qualname, (fn, env, cls_qual) in _definitions(fa):
        if cls_qual and qualname.rsplit(".", 1)[-1] in OBJECT_PLUMBING:
            continue
        if functions is None:
            sliced = False
        elif qualname in functions:
            sliced = False
        elif qualname + SLICE in functions:
            sliced = True
        else:
            continue
        try:
            for f in _analyze_function(fa, tables, catalog, codes, qualname, fn, env, cls_qual, sliced,
                                       settings.get(qualname)):
                key = (f.code, f.line, f.col, f.end_line, f.end_col)
                if key not in seen:
                    seen.add(key)
                    findings.append(f)
        except _ArraysAfterAll:
            raise
        except Budget:
            from kinkcheck.lint.runner import parse_error

            findings.append(parse_error(path, f"analysis stopped in {qualname}: the file is larger than the work budget "
                                              f"of {DEFAULT_BUDGET:,} steps; it and the functions after it are not "
                                              "checked", getattr(fn, "lineno", 1), getattr(fn, "col_offset", 0) + 1))
            break
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:  # pragma: no cover - defensive
            print(f"kinkcheck: {path}: {qualname}: analysis skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
            continue
    findings.sort(key=lambda f: (f.line, f.col, f.code))
    return findings


def _definitions(fa: FileAnalysis) -> list[tuple[str, tuple]]:
    """Every function body of the file by qualified name, a name defined twice (in the two
    branches of an ``if``) once per body."""
    out: list[tuple[str, tuple]] = []
    for qualname, entry in list(fa.ix.scopes.items()):
        out.extend((qualname, earlier) for earlier in fa.ix.shadowed.get(qualname, ()))
        out.append((qualname, entry))
    return out


def _managers_around(body: list[ast.AST], kept: list[ast.AST], ctx: Context) -> list[ast.AST]:
    """The context managers of the ``with`` blocks that hold a statement of the backward slice
    (``with torch.no_grad(): drift = ...`` then ``loss = loss + mu * drift``): what runs the
    kept statement without gradient is part of computing the loss (KC506 judges it)."""
    ids = {id(k) for k in kept}
    found: list[ast.AST] = []
    for stmt in walk_local(body):
        if isinstance(stmt, (ast.With, ast.AsyncWith)) and id(stmt) not in ids \
                and any(id(s) in ids for s in walk_local(stmt.body)):
            for item in stmt.items:
                ctx.parents[id(item.context_expr)] = stmt
                found.append(item.context_expr)
    return found


def _analyze_function(fa: FileAnalysis, tables: Tables, catalog, codes: frozenset[str], qualname: str, fn: ast.AST,
                      env, cls_qual: str | None, sliced: bool,
                      settings: list[tuple[str, int, str]] | None = None) -> Iterable[Finding]:
    """``settings``: what every call from loss code passes (:mod:`pinned`); the branches
    they rule out are not checked."""
    ctx = Context(fa, qualname, fn, env, cls_qual)
    dead = pinned.dead_nodes(ctx, settings) if settings else set()
    roots: list[ast.AST]
    if fn is fa.tree:
        roots = [s for s in fa.tree.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    else:
        roots = list(getattr(fn, "body", []))
    body = roots  # the `with torch.no_grad():` around a sliced statement is not in the slice
    branches: dict[int, ast.AST] = {}
    managers: list[ast.AST] = []
    if sliced:
        exprs = _backward_exprs(fa, ctx, roots)
        roots = backward_slice(roots, exprs, gate=True) if exprs else roots
        # a branch whose test the slice holds is checked as a branch (KC401), its body only
        # where the slice holds it
        branches = {id(n.test): n for n in walk_local(body) if isinstance(n, (ast.If, ast.While))}
        managers = _managers_around(body, roots, ctx)
        roots += managers
    nodes: list[ast.AST] = []
    for r in roots:
        if id(r) in branches:
            nodes.append(branches[id(r)])
            ctx.parents[id(r)] = branches[id(r)]
        for node in walk_local([r]):
            if id(node) in dead:
                continue
            nodes.append(node)
            for child in ast.iter_child_nodes(node):
                ctx.parents[id(child)] = node
    # decorators of a function in scope run as part of it (``@torch.no_grad()``)
    for dec in getattr(fn, "decorator_list", ()) if fn is not fa.tree else ():
        for node in ast.walk(dec):
            nodes.append(node)
    nodes.sort(key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))
    managed = {id(n) for m in managers for n in ast.walk(m)}
    # nothing under torch.no_grad() / inference_mode() carries a gradient: only the
    # no_grad itself (KC506) is reported there
    quiet = no_grad_nodes(fn if fn is not fa.tree else None, body, ctx)
    # ... except a division by zero or a step in a `with torch.no_grad():` block whose value
    # reaches the loss: the inf/nan, or the jump, is a number the loss then carries
    # (`alpha = (iou > 0.5).float() * v / (1 - iou + v)`, then `iou - alpha * v`)
    whole = bool(quiet) and _all_quiet(body, quiet)
    # a function that cuts everything it returns (a target builder) keeps only its cuts: one
    # of them is the site if the cut was not meant (a helper detaching what a loss needs)
    cuts_kept: set[int] = set()
    if grad_off.undifferentiated_forward(fa, qualname, cls_qual) or grad_off.called_only_without_grad(ctx) \
            or grad_off.in_while_loop(fa, qualname):
        quiet, whole = {id(n) for n in nodes}, True
    elif grad_off.returns_only_cut(ctx):
        cuts_kept = {id(n) for n in nodes} - quiet  # (not those a no_grad block already quiets)
        quiet, whole = {id(n) for n in nodes}, True
    node_checks = [(code, types, check) for code, (types, check) in registry.NODE_CHECKS.items() if code in codes]
    function = qualname
    # a hand-written backward computes the gradient; nothing differentiates through it (short
    # of a double backward), so a tensor it reads as Python numbers cuts no gradient, a pole
    # of a slope only (`sqrt(y)` at 0 is 0) is no pole of the value it computes, and a Python
    # branch (`if ctx.scale > 1:`) picks a gradient formula, it is no jump of a differentiated
    # value. Its masks stay: `grad * (y > 0)` is the Jacobian of the kink its forward hides
    opaque_ok = grad_off.autograd_rule(fa, qualname, cls_qual)
    # a comparison that a `where`/`masked_fill` selects on and that is also used as a number
    # (`masked_mean(loss, semi_hard)`): one comparison, one finding (the selection's); the
    # masks are held back until every selection of the function is known
    masks: list[Finding] = []
    selected: set[tuple[int, int, int, int]] = set()
    for node in nodes:
        fa.spend()
        found = list(_node_findings(fa, tables, catalog, codes, ctx, node, node_checks, function))
        if managed and id(node) in managed:
            found = [f for f in found if f.code == "KC506"]  # a grad mode or a precision chosen, no branch of the loss
        if opaque_ok:
            found = [f for f in found if f.category not in ("blackbox", "branch") and f.code not in SLOPE_SINGULAR]
        if quiet and id(node) in quiet:
            found = [f for f in found if f.code == "KC506" or f.category == "blackbox" and id(node) in cuts_kept or (
                (f.code in VALUE_SINGULAR or f.category == "step") and not whole and flow.reaches_loss(node, ctx))]
        selected.update((f.line, f.col, f.end_line, f.end_col) for f in found if f.code == "KC402")
        masks.extend(f for f in found if f.code == "KC304")
        yield from (f for f in found if f.code != "KC304")
    yield from (f for f in masks if (f.line, f.col, f.end_line, f.end_col) not in selected)


def _all_quiet(body: list[ast.AST], quiet: set[int]) -> bool:
    """Every statement of the body runs with gradients off: the function is decorated
    ``@torch.no_grad()``, or all it does (after its docstring) is inside ``with torch.no_grad():``."""
    statements = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                          and isinstance(s.value.value, str))]
    return bool(statements) and all(
        id(s) in quiet or (isinstance(s, (ast.With, ast.AsyncWith)) and all(id(b) in quiet for b in s.body))
        for s in statements)


#: kinks whose value itself is inf/nan, not only their slope: harmful even without gradient
VALUE_SINGULAR = frozenset({"KC205"})
#: singular points of the slope only, the value there finite and continuous (sqrt and norm at
#: 0, acos/asin at +-1): harmless in code that is evaluated, not differentiated
SLOPE_SINGULAR = frozenset({"KC201", "KC203", "KC206"})
#: findings about a slope alone (an infinite or undefined derivative, a finite value)
SLOPE_ONLY = SLOPE_SINGULAR | {"KC202"}


def _node_findings(fa: FileAnalysis, tables: Tables, catalog, codes: frozenset[str], ctx: Context, node: ast.AST,
                   node_checks: list, function: str) -> Iterable[Finding]:
    sites: list[Site] = []
    if isinstance(node, ast.Call):
        sites.extend(match_call(node, ctx, tables))
    elif isinstance(node, (ast.BinOp, ast.AugAssign)):
        sites.extend(match_operator(node, ctx, tables))
    for code, types, check in node_checks:
        if isinstance(node, types):
            sites.extend(check(node, ctx) or ())
    if not fa.arrays:
        for site in sites:
            if site.qname and site.qname.split(".")[0] in ARRAY_LIBRARIES:
                # torch.sqrt reached through astroid (``TABLE["sqrt"](x)``): this file does
                # compute on arrays after all; the caller analyzes it again as an array file
                fa.arrays = True
                raise _ArraysAfterAll()
    refined: list[Site] = []
    for site in sites:
        refiner = registry.REFINERS.get(site.code)
        if refiner is not None and site.via != "node":
            out = refiner(site, ctx)  # None (not a site), a site, or several (one per comparison)
            refined.extend(out if isinstance(out, list) else [out] if out is not None else [])
        else:
            refined.append(site)
    kept: list[tuple[Rule, Site]] = []
    for site in refined:
        rule = catalog[site.code]
        if site.via != "node" and site.operand is not None and _all_plain(site, ctx):
            continue
        if accepts(rule.guards if site.guards is None else site.guards, site.operand, ctx, site):
            continue
        if rule.category == "blackbox" and not severing.severs_gradient(site, ctx):
            continue
        if rule.category in ("kink", "singular") and site.via != "node" and sinks.gradient_dead(
                site.call or site.node, ctx, value_matters=site.code in VALUE_SINGULAR):
            continue  # `mask = d.abs() < t`: the kinked value only decides a mask
        reaching = rule.category in REACHING or rule.category in ("kink", "singular") and flow.returns_aux(ctx) \
            or rule.category == "branch" and isinstance(site.call, ast.IfExp)  # a choice between values
        if reaching and (not flow.reaches_loss(site.call or site.node, ctx)
                         or severing.reported_statistic(site.call or site.node, ctx)
                         or rule.category == "step" and sink_paths.detached_only(site.call or site.node, ctx)):
            continue  # `print((p > 0.5).float().mean())`: a logged statistic is not the loss; nor
            # is the max of a policy's scale in the metrics dict beside a JAX loss
        if (site.code in SQUARED_AWAY or site.code in ("KC103", "KC104") or site.code == "KC203" and not _nan_norm(site)) \
                and sinks.squared_away(site, ctx) or sinks.tie_cancelled(site, ctx):
            continue  # `abs(e) ** 2`, `torch.norm(v) ** 2`: a power above 1 is flat where the kink is;
            # `|a - b| / max(a, b)`: the numerator is 0 where the max ties
        if site.code in SQUARED_AWAY and site.via != "node" and joins.kink_smoothed(site.call or site.node, site.operand, ctx):
            continue  # smooth-L1: near 0 only the quadratic branch of the `where` sees the abs
        if site.code == "KC402" and _smooth_where(site, ctx):
            continue  # the branches meet with the same value and slope (Huber, smooth-L1)
        if site.code == "KC401" and smooth_ifs.if_is_smooth(site.call, ctx):
            continue  # `if z >= 1: return 0.0` then `return (1 - z) ** 2`: a C1 join, as a where's
        if site.code in RETURNED_SMOOTH and site.via != "node" and joins.returned_smooth(
                site.call or site.node, _kink_zero(site, ctx), ctx):
            continue  # Huber with a minimum: the returned value is C1 across the tie
        if site.code == "KC304" and joins.returned_smooth(site.node, joins.switch_of(site.node, ctx), ctx):
            continue  # Huber written with masks: `(|u| <= k) * u**2 / 2 + (|u| > k) * k * (|u| - k / 2)`
        kept.append((rule, site))
    # `np.sqrt(t)` in torch code: no gradient flows through the call (KC505), so the slope
    # of its kink never shows; one site, one finding. A pole (`np.log(t)` at 0) is in the
    # value, gradient or not: it stays
    outside = {id(site.call) for _, site in kept if site.code == "KC505"}
    for rule, site in kept:
        if id(site.call) in outside and (rule.category == "kink" or site.code in SLOPE_ONLY):
            continue
        yield site_finding(fa, rule, site, function)


#: kinks whose returned value may be smooth across them (checked numerically, ``joins``)
RETURNED_SMOOTH = frozenset({"KC101", "KC102", "KC103", "KC104"})


def _kink_zero(site: Site, ctx: Context) -> ast.AST | None:
    """What crosses 0 at the kink: ``u`` of ``abs(u)``, ``a - b`` of ``minimum(a, b)``."""
    call = site.call
    if site.code == "KC104" and isinstance(call, ast.Call):
        operands = binary_operands(call, site.via == "method")
        return ast.BinOp(left=operands[0], op=ast.Sub(), right=operands[1]) if len(operands) == 2 else None
    if site.code == "KC103":
        return _one_bound_zero(site, ctx)
    return site.operand


def _one_bound_zero(site: Site, ctx: Context) -> ast.AST | None:
    """``x - b`` of a clamp with one bound (``clip(x, 0)``, ``clamp(x, min=m)``); a clamp with
    two bounds has two kinks, which the one-crossing test cannot judge."""
    from kinkcheck.lint.guards import _lower_bound, _upper_bound

    call, operand = site.call, site.operand
    if not isinstance(call, ast.Call) or operand is None:
        return None
    tail = (site.qname or site.callee).strip(".()").rsplit(".", 1)[-1]
    bounds = [b for b in (_lower_bound(call, tail, ctx), _upper_bound(call, tail, ctx))
              if b is not None and not (isinstance(b, ast.Constant) and b.value is None)]
    if len(bounds) != 1 or not isinstance(operand, ast.expr) or not isinstance(bounds[0], ast.expr):
        return None
    return ast.BinOp(left=operand, op=ast.Sub(), right=bounds[0])


def _smooth_where(site: Site, ctx: Context) -> bool:
    call = site.call
    if not (isinstance(call, ast.Call) and len(call.args) == 3 and getattr(call.func, "attr", getattr(call.func, "id", "")) == "where"):
        return False
    return joins.where_is_smooth(call, call.args[0], ctx)


def _all_plain(site: Site, ctx: Context) -> bool:
    """Plain Python never has a gradient: ``abs(i - j)`` on ints, ``x / 2`` on int args."""
    operands = [site.operand]
    call = site.call
    if site.via == "operator" and isinstance(call, ast.BinOp):
        operands = [call.left, call.right]
    elif isinstance(call, ast.Call) and site.qname and site.qname.startswith(("builtins.", "math.", "operator.")):
        operands = list(call.args) or [site.operand]
    kinds = [ctx.kind(o) for o in operands if o is not None]
    if not kinds:
        return False
    if site.qname and site.qname.startswith("math."):
        return all(k != TENSOR for k in kinds)  # math.* on an unknown value: a Python number
    return all(k == PLAIN for k in kinds)


def _backward_exprs(fa: FileAnalysis, ctx: Context, roots: list[ast.AST]) -> list[ast.AST]:
    exprs: list[ast.AST] = []
    returned = returns_the_loss(fa.ix.classes, ctx.qualname.rsplit(".", 1)[-1], ctx.cls_qual)
    for r in roots:
        for node in walk_local([r]):
            if returned and isinstance(node, ast.Return) and node.value is not None:
                exprs.append(node.value)
            if isinstance(node, ast.Call):
                operand = backward_operand(node, lambda: (ctx.qualify(node.func), ctx.how))
                if operand is not None:
                    exprs.append(operand)  # `loss.backward()`, `accelerator.backward(loss)`
                    continue
                q = ctx.qualify(node.func)
                differentiated = differentiated_expr(node) if q in GRAD_OF_EXPR else None
                if differentiated is not None:
                    exprs.append(differentiated)
    return exprs
