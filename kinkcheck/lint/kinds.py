"""Value kinds: whether a value may carry a gradient (TENSOR), is data that never does
(DATA: targets, labels, masks, buffers, numpy results), is a Python value (PLAIN), or is not
known (UNKNOWN). :class:`kinkcheck.lint.context.Context` answers ``ctx.kind(node)`` and
``ctx.name_kind(name)`` with the functions here (what a call evaluates to is
:mod:`kinkcheck.lint.kinds_library`'s); ``flow.py`` and ``ranges.py`` hold the other value-flow
facts (what reaches the loss, a value's range).

What may be a tensor (the precision policy):
    - A file that uses no array library (no import of torch, jax, numpy, scipy, tensorflow,
      autograd, cupy, mlx, paddle, ...: ``resolve.ARRAY_LIBRARIES``, directly or re-exported
      by a sibling module) computes on Python values: a value of UNKNOWN kind is PLAIN there,
      so only a proven tensor (an annotation) can be flagged, in every scope. If astroid
      later names an array callable in such a file, the file is analyzed again as an array
      file.
    - In an array file an UNKNOWN value is assumed to be a tensor in the code checked, but
      never: strings, None, bools, ``len()``/``range()``/``enumerate()`` indices,
      ``.shape``/``.size()``/``.dim()``, membership (``in``), identity (``is``), ``==``/``!=``
      unless against a float literal or a known tensor, ``float()``/``int()`` of an
      attribute (``float(self.margin)``), ``.data`` of a non-array library's result
      (``load_digits().data``). numpy/scipy results inside torch/jax code are DATA (KC505
      flags the numpy call itself, not what is done with its result).

The recursion goes through ``ctx.kind`` (:func:`kind`, bound as ``Context.kind``), which
spends the file's work budget and turns a RecursionError into UNKNOWN.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.bindings import IterItem, Opaque, mutated_names
from kinkcheck.lint.resolve import (
    DATA,
    INTEGER_DTYPES,
    PLAIN,
    PLAIN_ATTRS,
    PREDICTION_WORD_RE,
    TENSOR,
    UNKNOWN,
    dotted,
    join,
    name_kind,
)
from kinkcheck.lint.argflow import FREE
from kinkcheck.lint.kinds_integer import class_index_target, indexes_an_array
from kinkcheck.lint.layer_walks import LAYER_PARAMETERS, layer_of_walk
from kinkcheck.lint.kinds_params import config_namespace, parameter_kind
from kinkcheck.lint.narrowing import _isinstance_kind, _observation, _reference
from kinkcheck.lint.records import record_setting
from kinkcheck.lint.truth import truth_operand
from kinkcheck.syntax import call_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: a name met again while its own kind is being worked out (``h = h // 2``)
_CYCLE = "cycle"
#: the data batch a loss is handed (``loss(preds, batch)``): its fields are data
BATCH_NAME_RE = lazy_pattern(r"^(batch|batch_data|data_batch|data_samples?|batch_data_samples|sample|samples)$")
#: batches of recorded transitions (observations, actions, rewards, behaviour log-probs)
TRANSITIONS_RE = lazy_pattern(r"^((transition|rollout|replay|experience)_?(batch|batches|data)|minibatch|mini_batch)$")
#: methods that return pieces of their receiver (``jax.random.split`` is data; ``x.split(1, -1)`` is x)
VIEW_METHODS = frozenset({"split", "chunk", "unbind", "tensor_split", "hsplit", "vsplit"})
#: methods that only an array has: a name they are called on holds an array
ARRAY_METHODS = frozenset({"mean", "sum", "norm", "abs", "sqrt", "exp", "log", "pow", "clamp", "matmul", "reshape",
                           "view", "transpose", "permute", "softmax", "sigmoid", "unsqueeze", "squeeze", "std", "var"})
#: piecewise-constant functions: their derivative is 0 wherever it exists, so what they
#: return carries no gradient (the step itself is reported where it is taken, once)
STEP_FUNCS = frozenset({"floor", "ceil", "round", "trunc", "fix", "rint", "sign", "signbit", "heaviside",
                        "floor_divide"})
#: casts to an integer or boolean dtype: the result is a count or a mask, never differentiated
INT_CASTS = frozenset({"long", "int", "bool", "short", "byte", "char"})
#: calls that answer a question about the run, not about a value
PLAIN_CALLS = frozenset({"world_size", "get_world_size", "get_rank", "rank", "local_rank", "device_count",
                         "local_device_count", "global_device_count", "process_count", "process_index", "host_count",
                         "host_id", "is_initialized", "is_available", "numel", "dim", "ndimension"})
#: what makes a learnable parameter: it carries gradient whatever its initial value is made of
PARAMETERS = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter", "torch.nn.UninitializedParameter",
                        "haiku.get_parameter"})
#: jax.random draws that are differentiable in their shape parameters (implicit reparameterization)
REPARAMETERIZED = frozenset({"gamma", "loggamma", "beta", "dirichlet"})
#: packages that never return an array: versions, paths, environment, text, logging
PLAIN_PACKAGES = frozenset({"packaging", "os", "sys", "re", "json", "importlib", "logging", "warnings", "pathlib",
                            "inspect", "platform", "shutil", "subprocess", "time", "datetime", "string", "random",
                            "socket", "getpass", "sysconfig", "textwrap", "fnmatch", "glob", "uuid", "hashlib"})


def kind(ctx: "Context", node: ast.AST | None) -> str:
    """The kind of ``node``'s value (``Context.kind``)."""
    if node is None:
        return UNKNOWN
    ctx.fa.spend()
    try:
        k = _node_kind(ctx, node)
    except RecursionError:
        k = UNKNOWN
    if k == UNKNOWN and not ctx.fa.arrays and not ctx.scalar_loss:
        return PLAIN  # a file that imports no array library computes on Python values
    return k


def _node_kind(ctx: "Context", node: ast.AST) -> str:
    k = ctx.kind
    if isinstance(node, ast.Constant):
        return PLAIN
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        # `torch.stack([loss_dx, loss_dy])`: a list holds what its elements hold
        return join(*(k(e) for e in node.elts)) if node.elts else PLAIN
    if isinstance(node, ast.Dict):
        # `{"params": params, "batch_stats": stats}` handed to `apply`: it holds what its values hold
        return join(*(k(v) for v in node.values)) if node.values else PLAIN
    if isinstance(node, (ast.JoinedStr, ast.Lambda, ast.DictComp)):
        return PLAIN
    if isinstance(node, (ast.GeneratorExp, ast.ListComp, ast.SetComp)):
        return k(node.elt)  # `torch.stack([sim(q, o) for o in others])`: what each element holds
    if isinstance(node, ast.Name):
        nk = ctx.name_kind(node.id)
        if nk in (TENSOR, UNKNOWN):
            narrowed = _isinstance_kind(ctx, node)
            if narrowed is not None:
                return narrowed
            if len(ctx.assignments().get(node.id, ())) >= (1 if node.id in ctx.params else 2):
                return _reaching_kind(ctx, node) or nk
        return nk
    if isinstance(node, ast.Attribute):
        if node.attr in PLAIN_ATTRS:
            return PLAIN
        self_attr = isinstance(node.value, ast.Name) and node.value.id == "self"
        if node.attr in ("data", "T", "mT", "real", "imag", "grad") and not self_attr:
            # `x.T`, `p.data`; `self.T` is the attribute a module stores (a temperature), not a transpose
            base = k(node.value)
            return DATA if node.attr == "data" and base != PLAIN else base
        if self_attr:
            cls = ctx.self_class()  # a closure in a method
            if cls:
                return ctx.fa.attr_kind(cls, node.attr)
        if ctx.is_module_ref(node):
            return PLAIN  # math.pi, torch.float32, np.inf
        if node.attr in ("values",):
            return k(node.value)
        if config_namespace(ctx, node.value) or record_setting(ctx, node):
            # `self.beta = args.beta` in `__init__(self, model, args: DPOConfig)`; `cfg.margin`
            # of `cfg: LossConfig`, a dataclass of the file with `margin: float = 1.0`
            return PLAIN
        base = k(node.value)
        if base == PLAIN and node.attr in LAYER_PARAMETERS and layer_of_walk(node.value, ctx):
            return TENSOR  # `m.weight` of `for m in model.modules()`: a learnable parameter
        if base in (PLAIN, DATA, _CYCLE):
            return base
        if isinstance(node.value, ast.Name) and TRANSITIONS_RE.match(node.value.id):
            return DATA  # `transition_batch.W`, `minibatch.rewards`: what the buffer recorded
        return name_kind(node.attr) or UNKNOWN
    if isinstance(node, ast.Subscript):
        if isinstance(node.value, ast.Name) and BATCH_NAME_RE.match(node.value.id) and \
                isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            return DATA  # `batch["depth"]`, `batch["cls"]`: a field of the data batch
        if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str) \
                and name_kind(node.slice.value) == DATA:
            return DATA  # `inputs["shift_labels"]`, `targets["masks"]`: the key names data
        if isinstance(node.slice, ast.Constant) and type(node.slice.value) is int and node.slice.value >= 0 \
                and isinstance(node.value, ast.Call):
            item = returned_item_kind(ctx, node.value, node.slice.value)
            if item is not None:
                return item  # `B, N, M, D, x = self.check_shapes(x, y)`: what that item of the tuple holds
        base = k(node.value)
        return base
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            # a truth value in arithmetic is a 0/1 number: `expectile - (diff < 0)`
            return join(*(DATA if truth_operand(ctx, o) else k(o) for o in (node.left, node.right)))
        return join(k(node.left), k(node.right))
    if isinstance(node, ast.UnaryOp):
        return PLAIN if isinstance(node.op, ast.Not) and k(node.operand) == PLAIN else k(node.operand)
    if isinstance(node, ast.BoolOp):
        return join(*(k(v) for v in node.values))
    if isinstance(node, ast.Compare):
        if any(isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)) for op in node.ops):
            return PLAIN
        return join(k(node.left), *(k(c) for c in node.comparators))
    if isinstance(node, ast.IfExp):
        return join(k(node.body), k(node.orelse))
    if isinstance(node, ast.Call):
        return _call_kind(ctx, node)
    if isinstance(node, ast.NamedExpr):
        return k(node.value)
    if isinstance(node, ast.Starred):
        return k(node.value)
    return UNKNOWN


def _reaching_kind(ctx: "Context", use: ast.Name) -> str | None:
    """DATA or PLAIN when every assignment that reaches ``use`` binds data or a plain value
    (``pred = pred.detach().float()`` above the use), so the name's other values (the
    parameter, a tensor bound elsewhere) cannot be read there; None otherwise."""
    from kinkcheck.lint import flow

    memo = ctx.__dict__.setdefault("_reaching_kinds", {})
    key = id(use)
    if key in memo:
        return memo[key] if memo[key] != _CYCLE else None
    memo[key] = _CYCLE
    found: str | None = None
    defs, before = flow.reaching(use.id, use, ctx)
    if use.id in mutated_names(ctx, item_stores=False) and not _rebound_after_mutations(ctx, use.id, defs):
        memo[key] = None  # `terms = []; terms.append(box_loss)`: what was appended counts too
        return None
    outer_met, ctx._cycle_met = ctx._cycle_met, False
    try:
        if defs and not before and all(value is not None for _, value in defs):
            kinds = {DATA if id(value) in ctx.no_grad_ids() else ctx.kind(value) for _, value in defs}
            if kinds <= {DATA, PLAIN}:
                found = join(*kinds)
    finally:
        met = ctx._cycle_met
        ctx._cycle_met = outer_met or met
    if met and ctx._busy:
        del memo[key]  # `x * 8` read while `x` is open: its kind is provisional, work it out again later
    else:
        memo[key] = found
    return found


def _rebound_after_mutations(ctx: "Context", name: str, defs) -> bool:
    """Every binding that reaches the use comes after every in-place change of the name, outside
    any loop that changes it (``costs = []; costs.append(bleu); costs = torch.tensor(costs)``:
    the appends filled the list, the tensor built from it is what is read)."""
    from kinkcheck.lint.bindings import mutations_of

    changes = mutations_of(ctx, name)
    if not defs or not changes:
        return False
    last = max((c.lineno, c.col_offset) for c in changes)
    for stmt, _ in defs:
        if (stmt.lineno, stmt.col_offset) <= last:
            return False
        node = ctx.parent(stmt)
        while node is not None and node is not ctx.fn:
            if isinstance(node, (ast.For, ast.AsyncFor, ast.While)) and any(
                    c.lineno >= node.lineno and c.lineno <= (node.end_lineno or node.lineno) for c in changes):
                return False
            node = ctx.parent(node)
    return True


#: provisional kinds a function may work out again before they are kept as first found
#: (loops where many names feed each other would otherwise take exponential work)
PROVISIONAL_LIMIT = 2000


def variable_kind(ctx: "Context", name: str) -> str:
    """The kind of a name read in the function (``Context.name_kind``), memoized per function.
    A kind worked out while a name around it is still open (a loop-carried validity mask: ``vp``
    of ``valid_f`` while ``valid_f`` is being worked out) may have met that open name as a
    neutral cycle: it is not kept, and worked out again once that name is known."""
    if name in ctx._kinds:
        return ctx._kinds[name]
    if name in ctx._busy:
        ctx._cycle_met = True
        return _CYCLE  # `h = h // 2`: the name's own earlier value adds nothing
    outer_met = ctx._cycle_met
    ctx._cycle_met = False
    ctx._busy.add(name)
    try:
        kind = _integer_by_use(ctx, name, _variable_kind(ctx, name))
    finally:
        ctx._busy.discard(name)
        met = ctx._cycle_met
        ctx._cycle_met = outer_met or met
    if met and ctx._busy and ctx._provisional_count < PROVISIONAL_LIMIT:
        ctx._provisional_count += 1
        return kind
    if kind == _CYCLE:
        return UNKNOWN
    ctx._kinds[name] = kind
    return kind


def _integer_by_use(ctx: "Context", name: str, found: str) -> str:
    """DATA where the kind ``found`` for ``name`` says it may carry gradient but how the
    function uses it proves it holds integers (``a[i_x]``; the targets of
    ``cross_entropy(..., ignore_index=n)``): an integer array carries none. A Python value
    stays one (``l: int`` indexing ``z[l]`` is a number, not an array)."""
    if found not in (TENSOR, UNKNOWN):
        return found
    if indexes_an_array(ctx, name) or (name in ctx.params and class_index_target(ctx, name)):
        return DATA
    return found


def _variable_kind(ctx: "Context", name: str) -> str:
    if name in ("True", "False", "None"):
        return PLAIN
    if name in ctx.params and (_observation(ctx, name) or _reference(ctx, name)):
        return DATA
    if name in ctx.params:
        return parameter_kind(ctx, name)
    if name in ctx.bound:
        assigned = _assigned_kinds(ctx, name)
        if assigned:
            kinds = set(assigned)
            if kinds == {PLAIN} or kinds == {DATA} or kinds == {TENSOR}:
                return kinds.pop()
            if UNKNOWN in kinds:
                hk = name_kind(name)
                values = ctx.assignments().get(name, ())
                if hk == PLAIN and any(_continuous_array_op(v) for v in values):
                    hk = None  # `n = z.norm(dim=1)`: a norm, whatever a name like `n` suggests
                if hk == DATA and any(_arithmetic(v) and _differentiable_operand(ctx, v, name) for v in values):
                    hk = None  # `policy_advantages = -policy_t * adv`: made of what it multiplies
                if hk and any(isinstance(c := _unpacked(v, hk), ast.Call) and _project_helper(ctx, c)
                              and _helper_of_prediction(ctx, c, name, hk) for v in values):
                    # `pred_len = limb_lengths(pred, pairs)`, `d_gt, _ = nearest_neighbor(gt, pred)`:
                    # what the project's helper computes
                    hk = None
                if hk:
                    return hk
            return join(*assigned)
        if _only_cycles(ctx, name):
            return _CYCLE  # `for i1, _ in zip(idx, aux)` inside `idx = [... for i1, _ in zip(idx, aux)]`
        return name_kind(name) or UNKNOWN
    # enclosing scopes / module level
    outer = binding_scope(name, ctx)
    if outer is not None:
        kind = outer.name_kind(name)  # a closure reads the nearest enclosing function's value
        if kind != PLAIN and name not in ("self", "cls") and FREE in ctx.data_params:
            return DATA  # `jax.grad(actor_loss_fn)`: what the closure reads from outside is constant
        return kind
    mk = ctx.fa.module_kind(name)
    if mk is not None:
        return mk
    q = ctx.fa.ix.resolve(ast.Name(id=name, ctx=ast.Load()), ctx.env)
    if q is not None and ctx.fa.ix.how in ("import", "builtin", "def", "star"):
        return PLAIN  # a module, function or class object is not a value
    return name_kind(name) or UNKNOWN


def _enclosing(ctx: "Context") -> "Context | None":
    """The Context of the function a nested function is defined in (memoized per file)."""
    if "." not in ctx.qualname:
        return None
    outer_q = ctx.qualname.rsplit(".", 1)[0]
    memo = ctx.fa.__dict__.setdefault("_enclosing", {})
    if outer_q not in memo:
        entry = ctx.fa.ix.scopes.get(outer_q)
        outer = None
        if entry is not None and isinstance(entry[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
            outer = type(ctx)(ctx.fa, outer_q, *entry)
        memo[outer_q] = outer
    return memo[outer_q]


#: integer and truth-value dtypes a cast names, by their last name (``torch.int64``,
#: ``jnp.int32``, ``"long"``, ``.type(torch.LongTensor)``)
_INTEGER_DTYPES = INTEGER_DTYPES | {"uint16", "uint32", "uint64", "bool_", "LongTensor", "IntTensor", "BoolTensor"}


def _integer_dtype(call: ast.Call) -> bool:
    """The dtype a ``.to``/``.type``/``.astype`` call converts to is an integer or bool type."""
    dtypes = [kw.value for kw in call.keywords if kw.arg == "dtype"] or call.args[:1]
    for d in dtypes:
        name = d.value if isinstance(d, ast.Constant) and isinstance(d.value, str) else dotted(d) or ""
        if name.rsplit(".", 1)[-1] in _INTEGER_DTYPES:
            return True
    return False


def _constant_call(ctx: "Context", node: ast.Call) -> bool:
    """Every value the call is handed (the object it is called on, its arguments) is data or a
    setting: in a pure function that is all its result depends on."""
    values = [*node.args, *(kw.value for kw in node.keywords)]
    if any(isinstance(v, (ast.Starred, ast.Lambda)) for v in values):
        return False
    inputs: list[ast.AST] = []
    if isinstance(node.func, ast.Attribute):
        recv = node.func.value  # the object called on (a module or `self` hands in nothing)
        if not ctx.is_module_ref(recv) and not (isinstance(recv, ast.Name) and recv.id in ("self", "cls")):
            inputs.append(recv)
    if not isinstance(node.func, ast.Name):
        # `jax.vmap(lambda s: net.apply(params, s))(states)`: the function called reads names too
        local = {a.arg for n in ast.walk(node.func) if isinstance(n, ast.Lambda) for a in n.args.args}
        inputs += [n for n in ast.walk(node.func) if isinstance(n, ast.Name) and n.id not in local
                   and n.id not in ("self", "cls") and not ctx.is_module_ref(n)]
    return all(ctx.kind(v) in (DATA, PLAIN) for v in (*inputs, *values))


def binding_scope(name: str, ctx: "Context") -> "Context | None":
    """The nearest enclosing function that binds ``name`` (a parameter or an assignment): where
    a closure's free name gets its value. None when no enclosing function does."""
    outer = _enclosing(ctx)
    while outer is not None and name not in outer.bound and name not in outer.params:
        outer = _enclosing(outer)  # `vmap(inner)` inside `vmap(outer)` reads the outermost's grid
    return outer


#: array methods whose result is a real number of an array, never a count or an index
_CONTINUOUS_METHODS = frozenset({"norm", "sqrt", "abs", "exp", "log", "pow", "std", "var", "softmax", "sigmoid",
                                 "matmul", "clamp", "clamp_min"})


def _differentiable_operand(ctx: "Context", value: ast.AST, name: str) -> bool:
    """An operand of ``value`` that may carry gradient and is no data by its own name (nor
    ``name`` itself rebound: ``idxs = idxs + offsets`` stays what ``idxs`` was)."""
    for node in ast.walk(value):
        if isinstance(node, ast.Name) and node.id != name and not ctx.is_module_ref(node):
            if name_kind(node.id) not in (DATA, PLAIN) and ctx.kind(node) in (TENSOR, UNKNOWN):
                return True
    return False


#: data words that name a measurement, which a helper may compute from a prediction (a limb's
#: ``lengths``, predicted ``durations``); indices, ids and masks stay data whoever computes them
_MEASURE_RE = lazy_pattern(r"(^|_)(lengths|lens|durations?|counts)($|_)")
#: data words that name positions or selections: data whoever computes them
_POSITIONS_RE = lazy_pattern(r"(^|_)(idx|idxs|index|indices|inds|ids|mask|masks|valid|perm|permutation|sorter)($|_)")


def _helper_of_prediction(ctx: "Context", call: ast.Call, name: str, named: str) -> bool:
    """The helper ``call`` reads a prediction (``logits``, ``pred``), or a value known to carry
    gradient; for a measurement (a limb's ``lengths``), any value that may. A count stays one
    (``dim = pytree_size(state.position)``)."""
    if named == DATA and _MEASURE_RE.search(name):
        return _differentiable_operand(ctx, call, name)
    if named == DATA and _POSITIONS_RE.search(name):
        return False  # `idxs = pick(pred, k)`: positions stay data whoever computes them
    handed = [*call.args, *(k.value for k in call.keywords)]
    return any(isinstance(n, ast.Name) and n.id != name and name_kind(n.id) not in (DATA, PLAIN)
               and (PREDICTION_WORD_RE.search(n.id) or ctx.kind(n) == TENSOR) for a in handed for n in ast.walk(a))


def _unpacked(value: object, named: str) -> object:
    """The call of ``call[i]``, the item a tuple target takes, for a name that says data
    (``d_gt, idx = nearest(gt, pred)``: a distance to the targets); a count unpacked beside
    other values (``n_tokens, logps = seq_logps(logits, labels)``) stays one."""
    if named == DATA and isinstance(value, ast.Subscript) and isinstance(value.value, ast.Call) \
            and isinstance(value.slice, ast.Constant) and type(value.slice.value) is int:
        return value.value
    return value


def _project_helper(ctx: "Context", value: object) -> bool:
    """A call by name of a function the checked package defines (this module's, or one imported
    from a module of the same top-level package): its value is what it computes from its
    arguments, which a name for a count or for data (``pred_len``, ``lengths``) cannot tell."""
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)):
        return False
    qual = ctx.qualify(value.func)
    if qual is None or ctx.how not in ("def", "import"):
        return False
    package = ctx.fa.module.split(".")[0]
    return ctx.how == "def" or qual.split(".")[0] == package and "." in ctx.fa.module


def _arithmetic(value: object) -> bool:
    """``-p * a``, ``x - y``: a value computed by operators, whose kind is its operands'."""
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
        return _arithmetic(value.operand)  # `-(-frames // stack)` is a count, rounded
    return isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.MatMult,
                                                                  ast.Pow))


def _continuous_array_op(value: object) -> bool:
    """``z.norm(dim=1)``, ``d.sqrt()``: a value computed from an array by a continuous op; so
    is what a function named for one returns (``norm(x)``, ``safe_norm(x)``: a helper of the
    file, or one imported by name), and the values of a selection along an axis
    (``probs.max(-1)``, ``.values`` or ``[0]`` of it): an array, not the count or setting a short
    name may suggest. So are the elements one per row picks out (``p[np.arange(n), pred]``: a
    confidence named ``conf``, not a config)."""
    if isinstance(value, ast.Subscript) and isinstance(value.slice, ast.Tuple) and any(
            isinstance(e, ast.Call) and call_tail(e) in ("arange", "range") for e in value.slice.elts):
        return True
    if isinstance(value, ast.Attribute) and value.attr == "values" or isinstance(value, ast.Subscript) \
            and isinstance(value.slice, ast.Constant) and value.slice.value == 0:
        value = value.value
        return isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
            and value.func.attr in _SELECTING and bool(value.args or value.keywords)
    if not isinstance(value, ast.Call):
        return False
    if isinstance(value.func, ast.Attribute):
        # `conf, pred = probs.max(-1)`: the values along an axis, not a count (`lengths.max()`)
        return value.func.attr in _CONTINUOUS_METHODS or value.func.attr in _SELECTING and bool(value.args or value.keywords)
    return isinstance(value.func, ast.Name) and value.func.id not in _BUILTIN_NUMBERS \
        and value.func.id.rsplit("_", 1)[-1] in _CONTINUOUS_METHODS


#: selections whose values along an axis are an array's (``x.max(-1)``, ``x.topk(k, dim=1)``)
_SELECTING = frozenset({"max", "min", "amax", "amin", "topk", "sort", "kthvalue", "median", "aminmax"})
#: Python's own functions of numbers: ``abs(shift)`` of a setting is a number
_BUILTIN_NUMBERS = frozenset({"abs", "pow"})


def _listed_zip(iterable: ast.AST, ctx: "Context") -> ast.AST:
    """The ``zip(...)`` a loop iterates through a name bound to it once (``qs =
    list(zip(critics, params)); for q, p in qs:``): each item still comes from its own
    iterable. Anything else as it is."""
    if isinstance(iterable, ast.Name):
        bound = ctx.definition(iterable.id)
        if isinstance(bound, ast.Call) and (dotted(bound.func) or "") in ("list", "tuple") and len(bound.args) == 1:
            bound = bound.args[0]
        if isinstance(bound, ast.Call) and (dotted(bound.func) or "") == "zip":
            return bound
    return iterable


def _only_cycles(ctx: "Context", name: str) -> bool:
    """Every value of ``name`` is an item of an iterable that is itself being worked out (the
    comprehension that rebinds a list from its own items): its kind is that list's, still open."""
    values = ctx.assignments().get(name, ())
    return bool(values) and all(isinstance(v, IterItem) and _CYCLE in (
        ctx.kind(v.iterable), ctx.kind(source) if (source := _zip_source(v, ctx)) is not None else None) for v in values)


def _zip_source(value: IterItem, ctx: "Context") -> ast.AST | None:
    """The iterable an item of ``zip(a, b)`` comes from (``b`` of ``_, x in zip(a, b)``); None
    for another iterable, or where a starred argument hides which."""
    iterable = _listed_zip(value.iterable, ctx)
    if not (isinstance(iterable, ast.Call) and dotted(iterable.func) == "zip"):
        return None
    args = iterable.args
    if value.index is None or value.index >= len(args) or any(isinstance(a, ast.Starred) for a in args):
        return None
    return args[value.index]


def _assigned_kinds(ctx: "Context", name: str) -> list[str]:
    out = []
    for value in ctx.assignments().get(name, ()):
        if isinstance(value, IterItem):
            it = ctx.kind(value.iterable)
            iterable = _listed_zip(value.iterable, ctx)
            if isinstance(iterable, ast.Call) and (dotted(iterable.func) or "") in ("range", "enumerate", "zip"):
                func = dotted(iterable.func)
                if func == "range":
                    it = PLAIN
                elif func == "enumerate":
                    it = PLAIN if value.index == 0 else (ctx.kind(iterable.args[0]) if iterable.args else UNKNOWN)
                else:
                    # `for a, b in zip(sizes[:-1], sizes[1:])`: each item comes from its own iterable
                    source = _zip_source(value, ctx)
                    it = ctx.kind(source) if source is not None else UNKNOWN
            out.append(PLAIN if it == PLAIN else (UNKNOWN if it == UNKNOWN else it))
        elif isinstance(value, Opaque):
            out.append(UNKNOWN)
        elif id(value) in ctx.no_grad_ids() or (isinstance(value, ast.Subscript) and id(value.value) in ctx.no_grad_ids()):
            out.append(DATA)  # computed under no_grad: a constant to autograd
        else:
            out.append(ctx.kind(value))
    return [k for k in out if k != _CYCLE]


from kinkcheck.lint.kinds_calls import (  # noqa: E402  (kinds_calls reads _CYCLE from here)
    returned_item_kind,
)
from kinkcheck.lint.kinds_library import _call_kind  # noqa: E402  (kinds_library reads the tables above)
