"""Integer provenance read off how a function uses a name (:mod:`kinkcheck.lint.kinds` asks
this for its locals and parameters): integer and truth-value arrays carry no gradient, so a
comparison, a clamp, a sort or an ``int()`` of one is no kink or step of anything
differentiated. Two uses prove that a name holds integers (or a mask):

- It indexes an array (``table[ids]``, ``x[:, col]``, ``buf.at[slot]``): torch, JAX and numpy
  index only with integers, truth values and slices; a float index raises. A mapping takes any
  key, so its subscripts prove nothing; nor does a use that only shows what a name held there
  (the name is assigned again), or a function that tests the name's dtype (it serves several).
  A local the function computes itself by comparisons or arithmetic keeps the kind its
  operands give it: a mask of the losses depends on the losses.
- It is the target of a class-index loss (``cross_entropy``/``nll_loss``) that names its
  ``ignore_index``: that index is a class, so the targets are class indices. Without it the
  target may be a float probability, which can carry gradient.

What a call returns (``argmax``, ``.long()``, ``jnp.int32(x)``) is :mod:`kinkcheck.lint.kinds_library`'s."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.resolve import DATA, TENSOR, UNKNOWN, dotted
from kinkcheck.lint.truth import truth_value
from kinkcheck.lint.walk import walk_local

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: calls that build a mapping, whose subscripts are keys of any type
_MAPPING_BUILDERS = frozenset({"dict", "defaultdict", "OrderedDict", "Counter", "ChainMap", "TensorDict"})
#: annotations of a mapping
_MAPPING_TYPE_RE = lazy_pattern(r"\b(Dict|dict|Mapping|MutableMapping|OrderedDict|DefaultDict|TensorDict|FrozenDict)\b")
#: methods that keep an array's dtype: a name rebound through them holds the same kind of numbers
_SAME_DTYPE_METHODS = frozenset({"squeeze", "unsqueeze", "view", "reshape", "flatten", "contiguous", "clone",
                                 "detach", "clamp", "clip", "cpu", "cuda"})
#: what tells an array's dtype: a function reading it serves integers and floats both
_DTYPE_TESTS = frozenset({"dtype", "is_floating_point", "is_complex"})
#: class-index losses (their target is class indices, or, without ``ignore_index``, probabilities)
_CLASS_INDEX_LOSSES = frozenset({"torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss"})
_CLASS_INDEX_MODULES = frozenset({"torch.nn.CrossEntropyLoss", "torch.nn.NLLLoss",
                                  "torch.nn.modules.loss.CrossEntropyLoss", "torch.nn.modules.loss.NLLLoss"})


def indexes_an_array(ctx: "Context", name: str) -> bool:
    """``name`` holds one value in the function, indexes an array there, and the function
    never tests its dtype. The one value: a parameter never assigned, or a local assigned
    once what a call returns (``i_x = argsort_of(x)[1]``); a mask the function computes
    itself (``keep = (loss > t) & valid``) keeps the kind its comparisons give it (they
    depend on the values compared), and arithmetic on indices keeps its operands' kind."""
    if name in _dtype_tested(ctx):
        return False
    values = ctx.assignments().get(name, [])
    if values if name in ctx.params else not (len(values) == 1 and _returned(values[0])):
        return False
    return any(_array_subscript(ctx, sub) for sub in _index_uses(ctx).get(name, ()))


def _returned(value: object) -> bool:
    """What a call returns, or an item or attribute of it, and no truth value nor a method of
    one (``logical_and(a, b)``, ``(J != 0).any(1)``: masks of what they compare)."""
    node = value
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    if not isinstance(node, ast.Call):
        return False
    while not truth_value(node):
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        else:
            return True
    return False


def class_index_target(ctx: "Context", name: str) -> bool:
    """Parameter ``name`` (rebound, if at all, only through dtype-keeping methods of itself:
    ``labels = labels.clamp(0, n)``) is the target of a class-index loss that names its
    ``ignore_index``, directly or through a function of this file that hands it on to one."""
    if not all(_same_dtype_of(value, name) for value in ctx.assignments().get(name, ())):
        return False
    return any(_class_index_call(ctx, call, name, follow=True) for call in _calls(ctx))


def _index_uses(ctx: "Context") -> dict[str, list[ast.Subscript]]:
    """name -> the subscripts of the function that index with it (alone or as an item of a
    tuple index); names a lambda or a comprehension binds are left out (they may shadow)."""
    memo: dict[str, list[ast.Subscript]] | None = ctx.__dict__.get("_index_uses")
    if memo is not None:
        return memo
    uses: dict[str, list[ast.Subscript]] = {}
    inner: set[str] = set()
    branched = _in_branches(ctx)
    for node in walk_local(ctx.fn):
        if isinstance(node, ast.Lambda):
            inner |= {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
        elif isinstance(node, ast.comprehension):
            inner |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Subscript) and id(node) not in branched:
            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            for item in items:
                if isinstance(item, ast.Name):
                    uses.setdefault(item.id, []).append(node)
    memo = {name: subs for name, subs in uses.items() if name not in inner}
    ctx.__dict__["_index_uses"] = memo
    return memo


def _in_branches(ctx: "Context") -> set[int]:
    """The nodes the function runs only on one side of an ``if`` or a conditional expression:
    an index there says what the name holds on that side (``table[t]`` when ``discrete``),
    not on the other, where it may be a float time that is floored and compared."""
    inside: set[int] = set()
    for node in walk_local(ctx.fn):
        if isinstance(node, ast.If):
            inside |= {id(n) for st in (*node.body, *node.orelse) for n in ast.walk(st)}
        elif isinstance(node, ast.IfExp):
            inside |= {id(n) for side in (node.body, node.orelse) for n in ast.walk(side)}
    return inside


def _dtype_tested(ctx: "Context") -> set[str]:
    """Names whose dtype the function reads (``x.dtype``, ``x.is_floating_point()``): it
    handles integer and float inputs both, and may index with the one and compute with the other."""
    memo: set[str] | None = ctx.__dict__.get("_dtype_tested")
    if memo is None:
        memo = {n.value.id for n in walk_local(ctx.fn) if isinstance(n, ast.Attribute)
                and n.attr in _DTYPE_TESTS and isinstance(n.value, ast.Name)}
        # the function forms: `torch.is_floating_point(t)`, `jnp.issubdtype(t.dtype, ...)`
        memo |= {n.args[0].id for n in walk_local(ctx.fn) if isinstance(n, ast.Call) and n.args
                 and isinstance(n.args[0], ast.Name) and (dotted(n.func) or "").rsplit(".", 1)[-1] in _DTYPE_TESTS}
        ctx.__dict__["_dtype_tested"] = memo
    return memo


def _array_subscript(ctx: "Context", sub: ast.Subscript) -> bool:
    """``sub`` indexes an array: a JAX ``.at[...]`` update, an index with a slice, ``...`` or
    ``None`` in it (no mapping key), or a receiver that is no mapping and no Python value
    (an array, or unknown: in array code presumed one, as :mod:`kinkcheck.lint.kinds` does)."""
    recv = sub.value
    if isinstance(recv, ast.Attribute) and recv.attr == "at":
        return True
    if isinstance(sub.slice, ast.Tuple) and any(
            isinstance(e, ast.Slice) or (isinstance(e, ast.Constant) and e.value in (None, Ellipsis))
            for e in sub.slice.elts):
        return True
    return not _mapping(ctx, recv) and ctx.kind(recv) in (TENSOR, DATA, UNKNOWN)


def _mapping(ctx: "Context", recv: ast.AST) -> bool:
    """``recv`` is (or may be) a mapping: the function subscripts it with a string too
    (``inputs["x"]``), binds it to a dict, or its annotation names one."""
    if ast.unparse(recv) in _string_keyed(ctx):
        return True
    if isinstance(recv, ast.Name):
        ann = ctx.params[recv.id][0] if recv.id in ctx.params else None
        if ann is not None and _MAPPING_TYPE_RE.search(ast.unparse(ann)):
            return True
        return any(_builds_mapping(v) for v in ctx.assignments().get(recv.id, ()))
    if isinstance(recv, ast.Attribute) and isinstance(recv.value, ast.Name) and recv.value.id == "self":
        return any(_builds_mapping(v) for v in ctx.fa.self_assigns().get(recv.attr, ()))
    return False


def _string_keyed(ctx: "Context") -> set[str]:
    """The source of every value the function subscripts with a string key (``inputs["x"]``,
    ``cache[f"{k}_mean"]``): a mapping, or a record whose other subscripts are keys too."""
    memo: set[str] | None = ctx.__dict__.get("_string_keyed")
    if memo is None:
        memo = {ast.unparse(n.value) for n in walk_local(ctx.fn) if isinstance(n, ast.Subscript) and (
            isinstance(n.slice, ast.JoinedStr) or (isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str)))}
        ctx.__dict__["_string_keyed"] = memo
    return memo


def _builds_mapping(value: object) -> bool:
    if isinstance(value, (ast.Dict, ast.DictComp)):
        return True
    return isinstance(value, ast.Call) and (dotted(value.func) or "").rsplit(".", 1)[-1] in _MAPPING_BUILDERS


def _same_dtype_of(value: object, name: str) -> bool:
    """``value`` is ``name`` passed through dtype-keeping methods (``name.squeeze(-1).to(
    x.device)``, ``name.clamp(0, n)``): it holds the same kind of numbers ``name`` held."""
    node = value
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        method = node.func.attr
        if method == "to" and not _device_move(node):
            return False
        if method != "to" and method not in _SAME_DTYPE_METHODS:
            return False
        node = node.func.value
    return isinstance(node, ast.Name) and node.id == name


def _device_move(call: ast.Call) -> bool:
    """``.to(x.device)``, ``.to("cuda")``, ``.to(device=d)``: a move, not a cast."""
    if len(call.args) == 1 and not call.keywords:
        arg = call.args[0]
        return (isinstance(arg, ast.Attribute) and arg.attr == "device") or \
            (isinstance(arg, ast.Constant) and isinstance(arg.value, str))
    return not call.args and [kw.arg for kw in call.keywords] == ["device"]


def _calls(ctx: "Context") -> list[ast.Call]:
    """The calls of the function that hand a second value by position or a ``target=``:
    those that may hand a loss its target (memoized per function)."""
    memo: list[ast.Call] | None = ctx.__dict__.get("_class_index_calls")
    if memo is None:
        memo = [n for n in walk_local(ctx.fn) if isinstance(n, ast.Call)
                and (len(n.args) > 1 or any(kw.arg == "target" for kw in n.keywords))]
        ctx.__dict__["_class_index_calls"] = memo
    return memo


def _class_index_call(ctx: "Context", call: ast.Call, name: str, *, follow: bool) -> bool:
    """``call`` hands ``name`` (through dtype-keeping methods) as the target of a class-index
    loss that names its ``ignore_index``: ``F.cross_entropy(x, name, ignore_index=n)``,
    ``nn.CrossEntropyLoss(ignore_index=n)(x, name)`` (the module built in place or bound once
    to a name or ``self`` attribute), or, with ``follow``, a function of this file whose
    parameter it fills is one."""
    ignores = any(kw.arg == "ignore_index" for kw in call.keywords)
    q = ctx.qualify(call.func)
    if q in _CLASS_INDEX_LOSSES:
        return ignores and _target_is(call, name)
    module = _class_index_module(ctx, call.func)
    if module is not None:
        return any(kw.arg == "ignore_index" for kw in module.keywords) and _target_is(call, name)
    if not (follow and ignores and q is not None and ctx.how == "def"):
        return False
    return _hands_on(ctx, q, call, name)


def _target_is(call: ast.Call, name: str) -> bool:
    """A loss's target (its second argument, or ``target=``) is ``name``, through dtype-keeping methods."""
    target = next((kw.value for kw in call.keywords if kw.arg == "target"), None)
    if target is None and len(call.args) > 1:
        target = call.args[1]
    return target is not None and _same_dtype_of(target, name)


def _class_index_module(ctx: "Context", func: ast.AST) -> ast.Call | None:
    """The ``nn.CrossEntropyLoss(...)``/``nn.NLLLoss(...)`` call ``func`` is: built in place,
    or bound once to a local name or to a ``self`` attribute (``self.loss_fct``)."""
    values: list = []
    if isinstance(func, ast.Name):
        values = ctx.assignments().get(func.id, [])
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
        values = ctx.fa.self_assigns().get(func.attr, [])
    if len(values) == 1:
        func = values[0]
    if isinstance(func, ast.Call) and ctx.qualify(func.func) in _CLASS_INDEX_MODULES:
        return func
    return None


def _hands_on(ctx: "Context", qual: str, call: ast.Call, name: str) -> bool:
    """The function ``qual`` of this file takes ``name`` from ``call`` in a parameter that it
    hands, unassigned but for dtype-keeping methods, to a class-index loss naming ``ignore_index``."""
    from kinkcheck.lint import call_sites
    from kinkcheck.lint.context import Context

    entry = ctx.fa.ix.scopes.get(qual)
    if entry is None or not isinstance(entry[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    callee = Context(ctx.fa, qual, *entry)
    for param in callee.params:
        value = call_sites.passed(param, call, callee)
        if value is not None and _same_dtype_of(value, name) and all(
                _same_dtype_of(v, param) for v in callee.assignments().get(param, ())) and any(
                _class_index_call(callee, inner, param, follow=False) for inner in _calls(callee)):
            return True
    return False
