"""KC401: a branch on a float or tensor value (``if loss > 0:``, a ternary, ``while``, ``lax.cond``);
``value_comparison`` says whether a condition compares differentiated values (KC402 asks it too)."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint import cut_steps, ranges
from kinkcheck.lint.branch_effects import records_only, reports
from kinkcheck.lint.checks import Site, node_check
from kinkcheck.lint.conditions import (
    COMPARE_FUNCS,
    LOGICAL,
    boolean_where,
    condition_atoms,
)
from kinkcheck.lint.joins import names_in, selects_between_others
from kinkcheck.lint.resolve import (
    DATA,
    PLAIN,
    TENSOR,
    UNKNOWN,
    const_value,
)
from kinkcheck.syntax import (
    COMPARISON_OPS,
    binary_operands,
    call_tail,
    number_reads,
    scalar_cast_of,
    scalar_source,
)

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: predicates that are not value branches in the gradient sense (NaN checks, metadata)
SAFE_PREDICATES = frozenset({"isnan", "isinf", "isfinite", "isneginf", "isposinf", "is_tensor", "is_floating_point",
                             "is_complex", "isinstance", "hasattr", "callable", "is_grad_enabled", "is_available",
                             "is_initialized", "startswith", "endswith", "exists"})


def _atoms(test: ast.AST):
    if isinstance(test, ast.BoolOp):
        for v in test.values:
            yield from _atoms(v)
    elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        yield from _atoms(test.operand)
    else:
        yield test


def _string_or_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (str, bytes, bool)))


def _infinity(node: ast.AST) -> bool:
    """``float("inf")``, ``-math.inf``, ``jnp.inf``: a comparison with it is a finiteness test
    (as ``isinf`` is), not a threshold a continuous value crosses."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    if isinstance(node, ast.Attribute):
        return node.attr in ("inf", "infty", "Inf", "Infinity", "PINF", "NINF")
    if isinstance(node, ast.Name):
        return node.id in ("inf", "infty")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float" and node.args:
        arg = node.args[0]
        return isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
            and arg.value.strip().lower().lstrip("+-") in ("inf", "infinity")
    return False


def _float_literal(node: ast.AST) -> bool:
    v = const_value(node)
    return isinstance(v, float)


def id_test(operands: list[ast.AST], ctx: Context) -> bool:
    """An equality of a parameter (or an item of one) not rebound in the function and not
    named as a prediction with an integer other than 0 or 1: ids compared (``aatype == 14``).
    A value computed here (``pred_depth = clamp(...)``, then ``pred_depth != 80``) may sit at
    that integer on purpose."""
    from kinkcheck.lint.resolve import PREDICTION_WORD_RE

    def literal(node: ast.AST) -> bool:
        v = const_value(node)
        return isinstance(v, int) and not isinstance(v, bool) and v not in (0, 1)

    def parameter(node: ast.AST) -> bool:
        while isinstance(node, (ast.Subscript, ast.Attribute)) and not (
                isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"):
            node = node.value
        return isinstance(node, ast.Name) and node.id in ctx.params and node.id not in ctx.assignments() \
            and not PREDICTION_WORD_RE.search(node.id)

    return len(operands) == 2 and any(literal(a) and parameter(b) for a, b in (operands, operands[::-1]))


def value_comparison(node: ast.AST, ctx: Context, *, follow: int = 2, mask_budget: int = 2) -> str | None:
    """TENSOR/UNKNOWN when ``node`` compares differentiable values (``x > 0``,
    ``x.gt(y)``, ``(d < 1).any()``), or a share of a mask built from them
    (``(upper < lower).float().mean() > 0.5``), else None (a comparison of strings, None,
    shapes, ints, targets, masks of labels; ``is``/``in``; NaN checks). ``follow`` bounds the
    names followed, ``mask_budget`` the masks looked into (names and comparisons inside
    comparisons), both a budget of work shared by every recursive call."""
    inner = scalar_cast_of(node)
    if inner is not None:  # `if bool((df > t).all()):`
        return value_comparison(inner, ctx, follow=follow, mask_budget=mask_budget)
    if isinstance(node, ast.Name) and follow:
        value = ctx.definition(node.id)
        if value is not None:
            return value_comparison(value, ctx, follow=follow - 1, mask_budget=mask_budget)
        return None
    if isinstance(node, ast.Compare):
        if any(isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)) for op in node.ops):
            return None
        operands = [s for o in (node.left, *node.comparators) for s in _scalar_sources(o, ctx)]
        if any(_string_or_none(o) or _infinity(o) for o in operands):
            return None
        kinds = [ctx.kind(o) for o in operands]
        if all(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            # equality is rarely a float branch (`a == b` on ids, counts, enums): only
            # against a float literal or a value known to be a tensor, and never a parameter's
            # against an integer other than 0 or 1 (`aatype == 14`, `target != -100`: a class
            # id, an ignore marker, whatever its annotation says)
            if id_test(operands, ctx):
                return None
            if TENSOR not in kinds and not any(_float_literal(o) for o in operands) and \
                    not any(_float_reduction(o, k) for o, k in zip(operands, kinds)) and not _masks_other(node, ctx):
                return None
        if _exact_zero_test(node, ctx):
            return None
        if all(k in (PLAIN, DATA) for k in kinds):
            # `(upper < lower).float().mean() > 0.5`: a share of a prediction's mask is no
            # gradient carrier, but it moves with the prediction, and so does the path taken
            return _worst(_reads_predicted_mask(o, ctx, mask_budget) for o in operands)
        if any(k == TENSOR for k in kinds) and not all(k in (TENSOR, PLAIN) and (k == PLAIN or _is_data(o, ctx)) for k, o in zip(kinds, operands)):
            return TENSOR
        return UNKNOWN
    if isinstance(node, (ast.BoolOp, ast.BinOp, ast.UnaryOp)) or call_tail(node) in LOGICAL or boolean_where(node):
        # `(a.sum() == 0) & (b.sum() == 0)`: the worst of the comparisons it combines
        return _worst(value_comparison(atom, ctx, follow=follow, mask_budget=mask_budget)
                      for atom in condition_atoms(node, ctx, follow=0) if atom is not node)
    tail = call_tail(node)
    if tail in SAFE_PREDICATES:
        return None
    if tail in COMPARE_FUNCS and isinstance(node, ast.Call):
        call = node
        method = isinstance(call.func, ast.Attribute) and not ctx.is_module_ref(call.func.value)
        operands = [*binary_operands(call, method)]
        kinds = [ctx.kind(o) for o in operands]
        if all(k in (PLAIN, DATA) for k in kinds) or any(_infinity(o) or _string_or_none(o) for o in operands):
            return None  # (`mask.ne(True)` negates a mask: no threshold)
        return TENSOR if TENSOR in kinds else UNKNOWN
    if tail in ("any", "all") and isinstance(node, ast.Call):
        inner = node.func.value if isinstance(node.func, ast.Attribute) and not ctx.is_module_ref(node.func.value) else (node.args[0] if node.args else None)
        if inner is not None:
            if isinstance(inner, ast.Name) and not follow and mask_budget > 0:
                # `semi_hard = (d > p) & (d < p + m)` then `if semi_hard.any():`: whether a mask
                # of the prediction is empty; of values of unknown kind, only in a loss itself
                # (elsewhere they are as often data: `if mask.all():` in a graph utility)
                found = value_comparison(inner, ctx, follow=1, mask_budget=mask_budget - 1)
                return found if found == TENSOR or found == UNKNOWN and _in_declared_loss(ctx) else None
            return value_comparison(inner, ctx, follow=follow, mask_budget=mask_budget)
    return None


def _worst(kinds) -> str | None:
    """TENSOR if any is, else UNKNOWN if any is, else None."""
    found = set(kinds)
    return TENSOR if TENSOR in found else UNKNOWN if UNKNOWN in found else None


def _in_declared_loss(ctx: Context) -> bool:
    """The function checked is a loss by declaration: its name, its class (also a helper
    method of a loss class), a decorator or a comment (``grad_off._DECLARED_LOSS``); not a
    module's function nor a training step."""
    from kinkcheck.lint.grad_off import declared_loss
    from kinkcheck.lint.roots import LOSS_BASES, class_is

    if declared_loss(ctx):
        return True
    ix = ctx.fa.ix
    # a helper method of a loss class (`AdaptiveFocalLoss._gammas`) is the loss's code too
    return ctx.cls_qual is not None and ix is not None and class_is(ix.classes, ctx.cls_qual, LOSS_BASES, loss=True)


def _root(ctx: Context) -> str | None:
    """Why the index made the checked function loss code (``roots``), None where it did not."""
    info = ctx.fa.ix.functions.get(ctx.qualname) if ctx.fa.ix is not None else None
    return info.root if info is not None else None


def _reads_predicted_mask(node: ast.AST, ctx: Context, budget: int = 2) -> str | None:
    """TENSOR (UNKNOWN) when ``node`` reads a comparison of differentiable values (of values of
    unknown kind): ``(upper < lower).float()``, ``mask.sum()`` of ``mask = pred > t``, a
    statistic of a prediction's mask; else None. ``budget`` bounds the names and the
    comparisons inside comparisons followed."""
    if budget <= 0:
        return None
    found: list[str | None] = []
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and ctx.kind(n) == DATA:
            value = ctx.definition(n.id)
            if value is not None:
                found.append(_reads_predicted_mask(value, ctx, budget - 1))
        elif (isinstance(n, ast.Compare) or isinstance(n, ast.Call) and call_tail(n) in COMPARE_FUNCS) \
                and n is not node:
            found.append(value_comparison(n, ctx, follow=0, mask_budget=budget - 1))
        if TENSOR in found:
            return TENSOR
    return _worst(found)


def _masks_other(node: ast.Compare, ctx: Context) -> bool:
    """``delta[Z == 0] = 0``, ``where(out != 0, g - v, g)``: an equality that indexes another
    array, or selects between other arrays, compares arrays element by element (the support
    mask of a ReLU's or a sparsemax's Jacobian), not ids or enums. ``x[x == 0] = eps`` and
    ``where(x != 0, x, 1)`` (the exact zero replaced in the compared array itself) are guards,
    not this."""
    parent = ctx.parent(node) if hasattr(ctx, "parents") else None
    if isinstance(parent, ast.Subscript) and parent.slice is node and isinstance(parent.value, ast.Name):
        apart = parent.value.id not in names_in(node)
    elif isinstance(parent, ast.Call) and call_tail(parent) == "where" and len(parent.args) == 3 \
            and parent.args[0] is node:
        apart = selects_between_others(node, parent.args[1:])
    else:
        return False
    return apart and any(
        isinstance(o, ast.Name) and ctx.kind(o) not in (PLAIN, DATA) for o in (node.left, *node.comparators))


def _exact_zero_test(node: ast.Compare, ctx: Context) -> bool:
    """``r > 0`` (``0 < r``, ``r <= 0``) of a value that is never negative (a distance, a
    norm, a count): it only tells the exact zero apart (the self-distance on a pairwise
    diagonal), as ``r != 0`` would; there is no other side for the value to cross to."""
    if len(node.ops) != 1:
        return False
    op, left, right = node.ops[0], node.left, node.comparators[0]
    if const_value(right) == 0 and isinstance(op, (ast.Gt, ast.LtE)):
        value = left
    elif const_value(left) == 0 and isinstance(op, (ast.Lt, ast.GtE)):
        value = right
    else:
        return False
    return const_value(value) is None and not _rectified(value, ctx) and _nonnegative_exactly(value, ctx)


#: clamps whose lower bound, when 0, rectifies their argument
_CLAMPS = frozenset({"clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_"})


def _rectified(value: ast.AST, ctx: Context, depth: int = 3) -> bool:
    """``relu(x)``, ``x.clamp(min=0)``, ``maximum(x, 0)`` (names followed): >= 0 because a
    whole region of ``x`` is cut to 0, so ``value > 0`` tells that region apart (the active
    hinges of a triplet loss, counted as the divisor of its mean), not one point."""
    if isinstance(value, ast.Name):
        if not depth:
            return False
        definition = ctx.definition(value.id)
        if definition is not None:
            return _rectified(definition, ctx, depth - 1)
        if value.id in ctx.params:
            # a reducer's `losses` handed the hinges by a caller in the file (`reduce(relu(v))`)
            from kinkcheck.lint import call_sites

            return any(_rectified(passed, caller, depth - 1)
                       for caller, passed in call_sites.argument_values(value.id, ctx) or ())
        return False
    if not isinstance(value, ast.Call):
        return False
    tail = call_tail(value)
    method = isinstance(value.func, ast.Attribute) and not ctx.is_module_ref(value.func.value)
    if tail in ("relu", "relu_", "relu6"):
        return True
    if tail in _CLAMPS:
        kw = {k.arg: k.value for k in value.keywords if k.arg}
        args = value.args if method else value.args[1:]
        low = next((kw[k] for k in ("min", "a_min", "lower") if k in kw), args[0] if args else None)
        func = value.func
        cut = func.value if method and isinstance(func, ast.Attribute) else (value.args[0] if value.args else None)
        # `d2.clamp(min=0)` of a squared distance written expanded only removes rounding error
        return low is not None and const_value(low) == 0 and not _nonnegative_exactly(cut, ctx)
    # not `x.max(0)`, `torch.max(x, 0)` (reductions), nor the builtin `max(0, n - size)` of
    # Python numbers (a shortfall of a shape): hinges on arrays are written with these
    if tail in ("maximum", "fmax"):
        operands = [*binary_operands(value, method)]
        return any(const_value(o) == 0 for o in operands) and not any(
            const_value(o) is None and _nonnegative_exactly(o, ctx) for o in operands)
    return False


def _nonnegative_exactly(node: ast.AST | None, ctx: Context) -> bool:
    return node is not None and ranges.is_nonnegative(ranges.range_of(node, ctx))


#: reductions whose result is a float of the array (``p.sum() == 0``: an exact-zero test of
#: a prediction's mass, not an id or a count)
_FLOAT_REDUCTIONS = frozenset({"sum", "mean", "norm", "prod", "nansum", "nanmean", "max", "amax", "min", "amin"})


def _float_reduction(node: ast.AST, kind: str) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "values":
        node = node.value  # torch's `x.max(dim=-1).values`
    return kind not in (PLAIN, DATA) and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
        and node.func.attr in _FLOAT_REDUCTIONS


def _sliced(ctx: Context) -> bool:
    """Only the backward slice of the function is checked (a training step): the branches
    met there decide which value is differentiated (``if loss_val > cfg.max_loss: loss =
    loss * (cfg.max_loss / loss_val)``), so a number they read off it moves with it."""
    return _root(ctx) == "backward"


def _scalar_sources(node: ast.AST, ctx: Context) -> list[ast.AST]:
    """:func:`~kinkcheck.syntax.scalar_source` of each operand, also through a name bound once to Python
    arithmetic on a tensor's number (``scale = (lengths * vis).sum().item() / max(n, 1.0)``
    then ``if scale < eps:``): the branch reads the tensors the number came from. Not one
    computed under ``no_grad`` (an NLL before and after a fit, compared to log it), and only in
    a loss itself or in the backward slice of a step: elsewhere a trainer's step reads numbers it
    gathered across ranks to log them or to set next step's coefficients."""
    if isinstance(node, ast.Name) and (value := ctx.bound_once(node.id)) is not None \
            and (_in_declared_loss(ctx) or _sliced(ctx)) and id(value) not in ctx.no_grad_ids() and number_reads(value):
        return [scalar_source(n) for n in _numbers_of(value)]
    return [scalar_source(node)]


def _numbers_of(value: ast.AST) -> list[ast.AST]:
    """The operands Python arithmetic combines in ``value`` (``a.item() / max(b.item(), 1)``)."""
    if isinstance(value, ast.BinOp):
        return _numbers_of(value.left) + _numbers_of(value.right)
    if isinstance(value, ast.UnaryOp):
        return _numbers_of(value.operand)
    return [value]


def _is_data(node, ctx: Context) -> bool:
    return ctx.kind(node) == DATA


def _container(node: ast.AST, ctx: Context) -> bool:
    """A name, or a ``self.<attr>``, bound to a list, tuple, dict or set (what it holds may
    carry gradient; its truth is whether it is empty)."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        values = ctx.fa.self_assigns().get(node.attr, [])  # `self.tracked = list(params) if params else []`
        return bool(values) and all(_container_value(v) for v in values)
    if not isinstance(node, ast.Name):
        return False
    ann = ctx.params[node.id][0] if node.id in ctx.params else None
    if ann is not None and _container_annotation(ann):
        return True  # `kl_constraints: Sequence[Tuple[Array, Penalty]] = ()`
    return any(_container_value(v) for v in ctx.assignments().get(node.id, ()))


_CONTAINER_SHAPES = (ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)


#: torch's module containers: ``if self.constraints:`` asks whether a ModuleList is empty
_MODULE_CONTAINERS = frozenset({"ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Sequential"})


def _container_value(value: object) -> bool:
    """``[...]``, ``list(xs)``, ``sorted(xs)``, ``list(xs) if xs else []``, ``nn.ModuleList(cs)``:
    a collection."""
    if isinstance(value, ast.IfExp):
        return _container_value(value.body) and _container_value(value.orelse)
    if isinstance(value, ast.Call) and call_tail(value) in _MODULE_CONTAINERS:
        return True  # `nn.ModuleList(cs)`, `ModuleList(cs)`
    return isinstance(value, _CONTAINER_SHAPES) or isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
        and value.func.id in ("list", "dict", "tuple", "set", "sorted", "frozenset")


#: annotations of a collection: ``if xs:`` asks whether it is empty, whatever it holds
_CONTAINER_TYPES = frozenset({"Sequence", "List", "Tuple", "Dict", "Mapping", "Iterable", "Collection", "Set",
                              "FrozenSet", "MutableSequence", "MutableMapping", "list", "tuple", "dict", "set",
                              "frozenset"})


def _container_annotation(ann: ast.AST) -> bool:
    outer = ann.value if isinstance(ann, ast.Subscript) else ann
    name = outer.attr if isinstance(outer, ast.Attribute) else outer.id if isinstance(outer, ast.Name) else None
    return name in _CONTAINER_TYPES


#: JAX's traced conditionals: ``lax.cond(pred, true_fun, false_fun, *operands)`` runs one branch
TRACED_CONDS = frozenset({"jax.lax.cond"})


@node_check("KC401", ast.If, ast.While, ast.IfExp, ast.Assert, ast.Call, names=("cond",))
def float_branch(node: ast.AST, ctx: Context):
    """``if loss > 0:`` / ``x if x > 0 else -x`` / ``while err > tol`` / ``lax.cond(n <= r,
    ...)``: the taken path depends on a float value, and the gradient of the other path is
    lost."""
    if isinstance(node, ast.Assert):
        return  # an assert does not choose a path
    if isinstance(node, ast.If) and not node.orelse and all(isinstance(b, ast.Raise) or reports(b, ctx) for b in node.body):
        return  # `if bad: raise ...`: a check, like an assert; `if bad: warnings.warn(...)` changes nothing
    if isinstance(node, ast.If) and records_only(node, ctx):
        return  # `if n > 0: self._metrics["acc"].append(...)`: what this call returns is the same
    traced = isinstance(node, ast.Call)
    test: ast.AST | None
    if isinstance(node, ast.Call):
        if call_tail(node) != "cond" or (ctx.qualify(node.func) or "") not in TRACED_CONDS:
            return
        test = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "pred"), None)
        if test is None:
            return
    else:
        assert isinstance(node, (ast.If, ast.While, ast.IfExp))
        test = node.test
    worst = None
    for atom in _atoms(test):
        if traced and not _ordering(atom):
            continue  # a traced flag (`do_accept`) or an equality picks a case, it crosses no threshold
        if _of_checked_numbers(test, atom):
            continue  # `isinstance(scalar, SCALAR_TYPES) and scalar == 1.0`: a Python number
        k = value_comparison(atom, ctx, follow=0)
        if k is None and not isinstance(atom, (ast.Compare, ast.Call, ast.BoolOp)):
            # bare truthiness: only a known differentiable tensor counts (`if mask:` is data,
            # `if terms:` asks whether a list is empty)
            if ctx.kind(atom) == TENSOR and not _container(atom, ctx):
                k = TENSOR
        if k == TENSOR or (k == UNKNOWN and worst is None):
            worst = k
    keyword = "while" if isinstance(node, ast.While) else "lax.cond" if traced else "if"
    if worst is None and not traced and _in_declared_loss(ctx) and any(
            cut_steps.cut_input(o, ctx) for atom in _atoms(test) if isinstance(atom, ast.Compare)
            for o in (atom.left, *atom.comparators)):
        # `if align.detach() > threshold: return align`: no gradient reaches the test, yet
        # which terms the loss holds moves with the inputs; the detached-target guard, which
        # asks whether a gradient reaches it, does not apply
        yield Site("KC401", test, keyword, test, None, "low", node, "node", guards=())
        return
    if worst is None or worst == UNKNOWN and not traced and _jax_configuration(test, ctx):
        return  # a Python `if` in JAX code reads static configuration; `lax.cond` is traced
    conf = "medium" if worst == TENSOR else "low"
    yield Site("KC401", test, keyword, test, None, conf, node, "node")


def _of_checked_numbers(test: ast.AST, atom: ast.AST) -> bool:
    """``atom`` compares only constants and names an earlier conjunct of the ``and`` chain
    checks to be of a type other than an array (``isinstance(scalar, (int, float)) and
    scalar == 1.0``): Python values by the time it runs."""
    if not (isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) and isinstance(atom, ast.Compare)):
        return False
    checked: set[str] = set()
    for v in test.values:
        if v is atom:
            return all(isinstance(o, ast.Constant) or isinstance(o, ast.Name) and o.id in checked
                       for o in (atom.left, *atom.comparators))
        if isinstance(v, ast.Call) and call_tail(v) == "isinstance" and len(v.args) == 2 \
                and isinstance(v.args[0], ast.Name) and not _ARRAY_TYPE_RE.search(ast.unparse(v.args[1])):
            checked.add(v.args[0].id)
    return False


#: type names of arrays (an ``isinstance`` check against one says array, not number)
_ARRAY_TYPE_RE = lazy_pattern(r"Tensor|ndarray|Array|Tracer|Variable|Parameter")


def _ordering(atom: ast.AST) -> bool:
    """``a <= b``, ``jnp.greater(a, b)``: an order comparison, whose threshold a value crosses."""
    if isinstance(atom, ast.Compare):
        return all(isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for op in atom.ops)
    return isinstance(atom, ast.Call) and COMPARISON_OPS.get(call_tail(atom)) in (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def _jax_configuration(test: ast.AST, ctx: Context) -> bool:
    """In JAX code a branch on attributes only (``if prob.tau_a == 1.0:``) reads static
    configuration: under ``jit`` a Python branch on a traced value raises. A bare name
    (``if x > 0:`` in a function ``jax.grad`` runs eagerly) may still be the traced argument."""
    if not ctx.fa.jax_only:
        return False
    for node in ast.walk(test):
        if isinstance(node, ast.Name) and not isinstance(ctx.parent(node), ast.Attribute) \
                and ctx.kind(node) not in (PLAIN, DATA) and not ctx.is_module_ref(node):
            return False
    return True
