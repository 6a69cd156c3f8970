"""Parameters that only ever receive data, across the checked files.

``TemporalNorm.transform(x, mask)`` scales the input window of a forecasting model; its
statistics divide by a range and take square roots, but every call from loss code hands it
the batch the data loader produced, several calls away (``training_step(batch)`` ->
``_create_windows(batch)`` -> ``_normalization(windows)`` -> ``transform(x=...)``). No
gradient reaches those sites, yet each function on its own only sees a parameter.

The index summarises, for each function, where the arguments of its calls into checked
code and its return values come from, as sets of *atoms*: ``"p:<param>"`` (one of its own
parameters), ``"c:<i>"`` (the value its ``i``-th recorded call returns), ``"*"`` (anything
that may carry gradient: module state, a network's output, an unknown call) and ``"d"``
(data: data-named values, sizes and counts, comparisons and values built under ``no_grad``
or detached). Settings add no atom: literals, parameters with a literal default, names like
``eps`` or ``config``, and ``self.<attr>`` of a class whose methods (and those of its bases
and subclasses in the file) only ever store settings there. Scope analysis then finds, as a
greatest fixpoint over the functions in scope, the parameters every in-scope call passes
only data, and among them those it passes only settings; the engine reads them as data, or
as settings (a division by one is no pole).

Nothing is concluded for a root (users call a loss with anything), for a public function of
a public module (users' code calls it too), for a function handed around as a value, or for
a call whose arguments hide behind ``*args``/``**kwargs``.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterable

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.callables import ours
from kinkcheck.lint.pinned import unwritten
from kinkcheck.lint.resolve import ARRAY_LIBRARIES, DATA, EPS_RE, PLAIN, name_kind, parameter_free_layer
from kinkcheck.lint.roots import FORWARD_NAMES
from kinkcheck.syntax import callee_tail

DATA_PARAM = "#data "
#: the scope entry of a parameter every call hands a setting (a literal, a setting parameter)
SETTING_PARAM = "#setting "
#: the entry for the free names of a differentiated closure (no parameter is named so)
FREE = "*free"
#: the suffix of a call's target that calls an object the caller built (its forward/__call__)
INSTANCE = "#instance"
ANY = "*"
#: a value that carries no gradient but is no setting either (a target, a mask, a detached
#: prediction): free where data is asked for, not where a setting is
DATA_ATOM = "d"
#: calls and parameters followed from one argument (a budget of work, not of time)
MAX_DEPTH = 24
#: passes over a function's bindings before its names are given up as "anything"
MAX_ROUNDS = 12
#: values judged in one scope analysis before it gives up concluding anything
MAX_STEPS = 2_000_000

Atoms = tuple[str, ...]
#: (callee ref, positional arguments or -1 behind *args/**kwargs, their atoms, keyword atoms)
CallFlow = tuple[str, int, tuple[Atoms, ...], tuple[tuple[str, Atoms], ...]]
#: (parameters, positional first; the recorded calls; what the returns are made of)
Summary = tuple[tuple[str, ...], tuple[CallFlow, ...], Atoms]

#: methods and functions whose result carries no gradient, whatever they read
_CUT = frozenset({
    "detach", "item", "tolist", "numpy", "argmax", "argmin", "argsort", "long", "int", "bool", "size", "dim",
    "numel", "nonzero", "floor", "ceil", "round", "sign", "isnan", "isinf", "isfinite", "zeros_like", "ones_like",
    "empty_like", "new_zeros", "new_ones", "new_empty", "new_full", "full_like", "eq", "ne", "lt", "le", "gt", "ge",
    "logical_and", "logical_or", "logical_not", "any", "all", "get_loc", "randperm", "randint", "arange",
})
_LIBRARIES = ARRAY_LIBRARIES | {"math", "builtins", "numbers", "typing", "functools", "operator"}
_PLAIN_BUILTINS = frozenset({"len", "int", "bool", "range", "isinstance", "str", "type", "hasattr", "print", "id",
                             "repr", "format", "callable", "issubclass"})
#: keyword arguments of array functions that say how, never what: no gradient flows through them
_CONFIG_KEYWORDS = frozenset({
    "pad", "dim", "dims", "axis", "axes", "keepdim", "keepdims", "size", "shape", "mode", "value", "dtype", "device",
    "step", "stride", "padding", "dilation", "kernel_size", "out", "layout", "requires_grad", "pin_memory",
    "memory_format", "align_corners", "scale_factor", "dimension", "start_dim", "end_dim", "num_classes", "largest",
    "sorted", "descending", "stable", "indexing", "non_blocking", "copy", "repeats", "output_size", "ceil_mode",
})
#: array methods that move, reshape or convert the array they are called on: the other
#: arguments are shapes, dimensions, devices or integer indices
_SHAPE_METHODS = frozenset({
    "view", "reshape", "permute", "transpose", "unsqueeze", "squeeze", "expand", "repeat", "repeat_interleave",
    "flatten", "unflatten", "unfold", "narrow", "split", "chunk", "to", "type", "float", "double", "half", "bfloat16",
    "contiguous", "clone", "cpu", "cuda", "flip", "roll", "movedim", "index_select", "gather", "take_along_dim",
    "copy", "astype", "swapaxes", "moveaxis", "tile", "broadcast_to", "view_as", "reshape_as", "expand_as",
})
_PLAIN_ATTRS = frozenset({"shape", "dtype", "device", "ndim", "requires_grad", "is_cuda", "layout"})
#: torch.nn modules without parameters: calling one passes its input's gradient and adds none
_INTERESTING = frozenset({ast.Call, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For, ast.AsyncFor,
                          ast.comprehension, ast.withitem, ast.Yield, ast.YieldFrom})


_NOTHING: frozenset[str] = frozenset()
_DATA = frozenset({DATA_ATOM})
#: a shape, a length or a count of elements: no gradient, but a count of a selection may be 0,
#: so data rather than a setting
_SHAPE_CUTS = frozenset({"size", "dim", "numel"})
#: attributes of an array that are settings (its type, where it lives); ``shape`` is a size
_SETTING_ATTRS = frozenset({"dtype", "device", "ndim", "requires_grad", "is_cuda", "layout"})
#: cuts that build an array (a grid, a draw, a list of values): data, even of settings
_ARRAY_CUTS = frozenset({"tolist", "numpy", "nonzero", "zeros_like", "ones_like", "empty_like", "new_zeros", "new_ones",
                         "new_empty", "new_full", "full_like", "randperm", "randint", "arange"})
#: builtins whose result is a setting, whatever they read
_SETTING_BUILTINS = frozenset({"isinstance", "str", "type", "hasattr", "print", "id", "repr", "format",
                               "callable", "issubclass"})


#: plain names that hold a setting; the others (``batch``, ``num_pos``, ``lengths``) hold
#: values of the data that carry no gradient but may well be 0
_SETTING_NAME_RE = lazy_pattern(
    r"^_*(dim|dims|axis|ndim|reduction|mode|training|verbose|debug|name|kind|p_drop|dropout|\w+_mode|\w+_type|"
    r"config|cfg|conf|hparams|hyperparams|hyp|\w+_config|\w+_cfg)$")


@functools.lru_cache(maxsize=4096)
def _named(name: str) -> frozenset[str] | None:
    """A name's atoms when its name says what it holds: a setting (``eps``, ``config``) or a
    CONSTANT adds no atom, data (``target``, ``batch``) the data atom; None when the name
    says nothing."""
    kind = _kind(name)
    if name.isupper() or kind == PLAIN and (_SETTING_NAME_RE.match(name) or EPS_RE.search(name)):
        return _NOTHING
    return _DATA if kind in (DATA, PLAIN) else None


_kind = functools.lru_cache(maxsize=4096)(name_kind)


class Summariser:
    """The atoms of one function's values (index time: no other file is read)."""

    def __init__(self, params: tuple[str, ...], nodes: list[ast.AST], targets: dict[int, tuple[str | None, str | None]],
                 quiet: set[int], resolve: Callable[[ast.AST], str | None] = lambda node: None,
                 settings: frozenset[str] = frozenset(), instances: dict[int, tuple[str, ...]] | None = None,
                 own_settings: frozenset[str] = frozenset()):
        self.params = frozenset(params)
        #: every class a `self.<attr>` called as an instance may have been built from
        self.instances = instances or {}
        #: parameters with a literal default (`p=2`, `blur=0.05`): settings, as the function
        #: itself reads them (``kinds_params``), so handing one on adds no atom
        self.settings = settings
        #: attributes its class only fills with settings (``self.blur = blur``, ``blur=0.05``)
        self.own_settings = own_settings
        self.resolve = resolve
        self.targets = targets  # id(call) -> (resolved callee, how it was found)
        self.quiet = quiet
        self._pending: list[tuple[ast.Call, str]] = []
        self._call_index: dict[tuple[int, str], int] = {}
        self._names: dict[str, frozenset[str]] = {}
        self.bound: dict[str, list[ast.AST]] = {}
        #: a generator: what it yields is not written down
        self.generator = False
        calls: list[tuple[ast.Call, str]] = []
        for node in nodes:
            kind = node.__class__
            if kind not in _INTERESTING:
                continue
            if kind is ast.Call:
                if id(node) not in quiet:
                    target, how = targets.get(id(node), (None, None))
                    if target is not None and how == "instance":
                        # `self.scaler(x)` of a module the class built runs that class's
                        # forward/__call__ (`INSTANCE` marks it), whichever class it was
                        calls.extend((node, t + INSTANCE) for t in self._built(node, target))  # type: ignore[misc]
                    elif target is not None and ours(target):
                        calls.append((node, target))  # type: ignore[arg-type]
            elif kind is ast.Assign:
                for t in node.targets:  # type: ignore[attr-defined]
                    self._bind(t, node.value)  # type: ignore[attr-defined]
            elif kind is ast.AnnAssign or kind is ast.AugAssign or kind is ast.NamedExpr:
                if node.value is not None:  # type: ignore[attr-defined]
                    self._bind(node.target, node.value)  # type: ignore[attr-defined]
            elif kind is ast.For or kind is ast.AsyncFor or kind is ast.comprehension:
                self._bind(node.target, node.iter)  # type: ignore[attr-defined]
            elif kind is ast.withitem:
                if node.optional_vars is not None:  # type: ignore[attr-defined]
                    self._bind(node.optional_vars, node.context_expr)  # type: ignore[attr-defined]
            else:
                self.generator = True
        self._solve_names()
        for node, target in calls:
            self.record(node, target)

    def _bind(self, target: ast.AST, value: ast.AST) -> None:
        if isinstance(target, ast.Name):
            self.bound.setdefault(target.id, []).append(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._bind(t, value)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, value)
        elif isinstance(target, ast.Subscript):
            base = target.value
            while isinstance(base, ast.Subscript):
                base = base.value
            if isinstance(base, ast.Name):  # `windows["temporal"] = temporal`: the container holds it now
                self.bound.setdefault(base.id, []).append(value)

    def _built(self, node: ast.AST, target: str) -> tuple[str, ...]:
        """The classes of the checked files an instance call may run (none when one of
        them is a library's: its forward is not written down)."""
        built = self.instances.get(id(node), (target,))
        return built if all(ours(t) for t in built) else ()

    def record(self, node: ast.Call, target: str) -> int:
        """Write down a call into checked code; its result is the atom ``c:<index>``. The
        arguments are read once every call is known (:meth:`summary`), never from inside
        the binding they are part of (``x = self.scale(x)``)."""
        index = self._call_index.get((id(node), target))
        if index is None:
            index = self._call_index[(id(node), target)] = len(self._pending)
            self._pending.append((node, target))
        return index

    def summary(self, params: tuple[str, ...], returned: list[ast.AST]) -> Summary:
        ret: set[str] = set()
        for value in returned:
            ret |= self.atoms(value)
        calls: list[CallFlow] = []
        while len(calls) < len(self._pending):  # reading arguments may find calls inside them
            node, target = self._pending[len(calls)]
            npos = -1 if any(isinstance(a, ast.Starred) for a in node.args) else len(node.args)
            kws: list[tuple[str, Atoms]] = []
            for k in node.keywords:
                if k.arg is None:
                    npos = -1
                else:
                    kws.append((k.arg, tuple(sorted(self.atoms(k.value)))))
            positional = tuple(tuple(sorted(self.atoms(a))) for a in node.args)
            calls.append((target, npos, positional, tuple(kws)))
        return params, tuple(calls), tuple(sorted(ret))

    def atoms(self, node: ast.AST) -> frozenset[str]:
        kind = node.__class__
        if kind is ast.Constant or kind is ast.JoinedStr:
            return _NOTHING
        if kind is ast.Compare:  # a truth value: data, unless it compares settings
            return _data_if(self.atoms(node.left), *(self.atoms(c) for c in node.comparators))  # type: ignore[attr-defined]
        if kind is ast.Name:
            return self._name(node.id)  # type: ignore[attr-defined]
        if kind is ast.Attribute:
            attr = node.attr  # type: ignore[attr-defined]
            base = node.value  # type: ignore[attr-defined]
            own = isinstance(base, ast.Name) and base.id in ("self", "cls")
            if attr in _PLAIN_ATTRS:
                return _NOTHING if attr in _SETTING_ATTRS else _DATA
            if _kind(attr) == DATA or (_kind(attr) == PLAIN and not (
                    own and (self.resolve(node) or "").endswith("Parameter"))):
                return _named(attr) or _DATA  # `self.temperature = nn.Parameter(...)` is learnt, whatever its name
            if own:  # module state: parameters and buffers, unless the class only stores settings there
                return frozenset() if attr in self.own_settings else frozenset({ANY})
            return self.atoms(base)
        if kind is ast.Subscript or kind is ast.Starred:
            return self.atoms(node.value)  # type: ignore[attr-defined]
        if kind is ast.BinOp:
            return self.atoms(node.left) | self.atoms(node.right)  # type: ignore[attr-defined]
        if kind is ast.UnaryOp:
            operand = self.atoms(node.operand)  # type: ignore[attr-defined]
            return _data_if(operand) if isinstance(node.op, ast.Not) else operand  # type: ignore[attr-defined]
        if kind is ast.BoolOp:
            return frozenset().union(*(self.atoms(v) for v in node.values))  # type: ignore[attr-defined]
        if kind is ast.IfExp:
            return self.atoms(node.body) | self.atoms(node.orelse)  # type: ignore[attr-defined]
        if kind in (ast.Tuple, ast.List, ast.Set):
            return frozenset().union(*(self.atoms(e) for e in node.elts))  # type: ignore[attr-defined]
        if kind is ast.Dict:
            return frozenset().union(*(self.atoms(v) for v in node.values if v is not None))  # type: ignore[attr-defined]
        if kind is ast.Call:
            return self._call(node)  # type: ignore[arg-type]
        if kind in (ast.ListComp, ast.GeneratorExp, ast.SetComp):
            return self.atoms(node.elt)  # type: ignore[attr-defined]
        return frozenset({ANY})

    def _name(self, name: str) -> frozenset[str]:
        got = self._names.get(name)
        if got is not None:
            return got
        named = _named(name)
        if named == _NOTHING and name in self.bound:
            out: frozenset[str] = _DATA  # `smooth = pred.abs()`: named like a setting, bound to whatever
        elif named is not None or name in self.settings:
            out = named or _NOTHING
        elif name in self.params:
            out = frozenset({f"p:{name}"})
        else:  # a library's constant (`torch.inf`, `math.pi`), or a global or a closure's value
            target = self.resolve(ast.Name(id=name, ctx=ast.Load()))
            out = frozenset() if target and target.partition(".")[0] in _LIBRARIES else frozenset({ANY})
        self._names[name] = out  # not bound here: it never changes
        return out

    def _solve_names(self) -> None:
        """The atoms of every local name: each binding adds what its value is made of, until
        nothing changes (a loop's `h = h * 2` adds nothing new the second time round)."""
        names = {n: vs for n, vs in sorted(self.bound.items(), key=lambda item: min(_line(v) for v in item[1]))
                 if _named(n) is None}  # in source order: most settle in one pass
        for n in names:
            self._names[n] = frozenset({f"p:{n}"}) if n in self.params and n not in self.settings else frozenset()
        for _ in range(MAX_ROUNDS):
            changed = False
            for n, values in names.items():
                new = self._names[n].union(*(self.atoms(v) for v in values))
                if new != self._names[n]:
                    self._names[n] = new
                    changed = True
            if not changed:
                return
        for n in names:  # not settled within the budget: anything may reach them
            self._names[n] = self._names[n] | {ANY}

    def _call(self, node: ast.Call) -> frozenset[str]:
        if id(node) in self.quiet:
            return _DATA  # built with gradients off
        func = node.func
        last = callee_tail(func)
        args = [*node.args, *(k.value for k in node.keywords if k.arg not in _CONFIG_KEYWORDS)]
        if last in _SHAPE_CUTS or last in _ARRAY_CUTS:
            return _DATA
        if last in _CUT:  # `target.argmax(1)`, `p.detach()`: data; `int(self.num_bins)`: a setting
            return _data_if(self.atoms(func.value) if isinstance(func, ast.Attribute) else _NOTHING, self._args(args))
        target, how = self.targets.get(id(node), (None, None))
        if target is not None and how == "instance":
            built = self._built(node, target)
            if built:
                return frozenset(f"c:{self.record(node, t + INSTANCE)}" for t in built)
            return self._args(args) if parameter_free_layer(target) else frozenset({ANY})
        if target is not None and ours(target):
            return frozenset({f"c:{self.record(node, target)}"})
        if target is not None:
            root = target.partition(".")[0]
            if root == "builtins":
                if target[9:] in _SETTING_BUILTINS:
                    return _NOTHING
                return _data_if(self._args(args)) if target[9:] in _PLAIN_BUILTINS else self._args(args)
            if root in _LIBRARIES:
                return self._args(args)
            return frozenset({ANY})
        if isinstance(func, ast.Attribute):
            base = func.value
            while isinstance(base, (ast.Attribute, ast.Subscript, ast.Call)):
                base = base.func if isinstance(base, ast.Call) else base.value
            if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                return frozenset({ANY})  # a submodule or a method: the network's output
            if last in _SHAPE_METHODS:
                return self.atoms(func.value)
            return self.atoms(func.value) | self._args(args)  # a method of an array
        return frozenset({ANY})

    def _args(self, args: Iterable[ast.AST]) -> frozenset[str]:
        return frozenset().union(*(self.atoms(a) for a in args))


def _data_if(*atoms: frozenset[str]) -> frozenset[str]:
    """What a value computed from ``atoms`` without gradient is made of (a comparison, a
    cast): a setting when they are all settings, data otherwise."""
    return _DATA if any(atoms) else _NOTHING


def _line(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)


def summarise(params: tuple[str, ...], nodes: list[ast.AST],
              targets: dict[int, tuple[str | None, str | None]], returned: list[ast.AST],
              quiet: set[int], resolve: Callable[[ast.AST], str | None],
              settings: frozenset[str] = frozenset(),
              instances: dict[int, tuple[str, ...]] | None = None,
              own_settings: frozenset[str] = frozenset()) -> Summary | None:
    """A function's summary: every call it makes into checked code (outside ``no_grad``) with
    its arguments' atoms, and the atoms of what it returns."""
    try:
        s = Summariser(params, nodes, targets, quiet, resolve, settings, instances, own_settings)
        if s.generator:
            params, calls, _ = s.summary(params, [])
            return params, calls, (ANY,)  # a generator: what it yields is not written down
        return s.summary(params, returned)
    except RecursionError:  # pragma: no cover - an expression nested thousands deep
        return None


def data_params(world, in_scope: Iterable[str], rooted: set[str]) -> list[str]:
    """Scope entries ``"<qualname>#data <param>"``: parameters of functions in scope that
    every call from ``in_scope`` hands only data, followed through the callers' own
    parameters and the return values of the checked functions they call."""
    in_scope = list(in_scope)
    scoped = set(in_scope)
    blocked = set(rooted)
    incoming: dict[str, list[tuple[str, CallFlow]]] = {}
    for q in in_scope:
        f = world.functions[q][1]
        flow: Summary | None = f.flow
        recorded = {c[0] for c in flow[1]} if flow else set()
        built = {t for r in recorded if r.endswith(INSTANCE) for t in callees(world, r)}
        if built:  # `self.scaler(x)` through the attribute's ref: written down once per class it may hold
            recorded |= {r for r in f.calls if r not in recorded and set(world.targets(r)) <= built}
        blocked.update(unwritten(world, f, recorded))
        for call in flow[1] if flow else ():
            if call[0] in world.classes:
                continue  # building an object: the arguments go to __init__, not to forward
            for t in callees(world, call[0]):
                incoming.setdefault(t, []).append((q, call))
    data: set[tuple[str, str]] = set()
    for t, calls in incoming.items():
        flow = world.functions[t][1].flow
        if t in blocked or t not in scoped or not flow or any(c[1] < 0 for _, c in calls) or not _internal(world, t):
            continue
        data.update((t, p) for p in _own(world, t, flow[0]))
    constants, differentiated = transform_params(world)
    data.update(c for c in constants if c[0] in scoped and c[0] not in incoming)
    data -= differentiated
    data.update((t, FREE) for t in _differentiated_closures(world, {c[0] for c in constants | differentiated})
                if t in scoped and t not in incoming)
    try:
        _settle(_Solver(world, data), incoming)
        # of those, the ones every call hands a setting (`self.blur` of a loss built with
        # `blur=0.05`): the callee reads them as settings, not as arrays of data
        settings = _settle(_Solver(world, {c for c in data if c[0] in incoming}, settings=True), incoming)
    except _OutOfBudget:
        return []  # a tree too tangled to settle: conclude nothing rather than something
    return [*(f"{t}{DATA_PARAM}{p}" for t, p in sorted(data - settings)),
            *(f"{t}{SETTING_PARAM}{p}" for t, p in sorted(settings))]


def _settle(solver: _Solver, incoming: dict[str, list[tuple[str, CallFlow]]]) -> set[tuple[str, str]]:
    """The greatest subset of ``solver.data`` whose every incoming call passes what the
    solver asks for (data, or settings), given the rest of the subset."""
    data = solver.data
    changed = True
    while changed:
        changed = False
        for t, p in sorted(data):
            if not all(solver.passes_data(q, call, t, p) for q, call in incoming.get(t, ())):
                data.discard((t, p))
                solver.memo.clear()
                changed = True
    return data


def transform_params(world) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(constants, differentiated): the parameters of the functions handed to a gradient
    transform that it holds constant (``jax.grad(loss)(params, batch)``: ``batch``; autograd's
    ``value_and_grad(nll)(params, T, E)``: ``T`` and ``E``) and those some transform
    differentiates (``elementwise_grad(cumulative_hazard, argnum=1)``: ``times``). A function
    loss code also calls is judged by those calls instead."""
    constants: set[tuple[str, str]] = set()
    differentiated: set[tuple[str, str]] = set()
    for ix in world.modules.values():
        for ref, argnums in getattr(ix, "grad_argnums", ()):
            for t in world.targets(ref):
                flow = world.functions[t][1].flow
                if not flow:
                    continue
                params = _own(world, t, flow[0])
                for i, p in enumerate(params):
                    (differentiated if argnums is None or i in argnums else constants).add((t, p))
    return constants - differentiated, differentiated


def _differentiated_closures(world, targets: set[str]) -> list[str]:
    """The functions a gradient transform is handed that are defined inside another function
    (``def actor_loss_fn(params): ...`` in ``update_actor``, then ``jax.grad(actor_loss_fn)``):
    what they read from the enclosing function (the critic's parameters, the minibatch) is a
    constant of that gradient. Not where the enclosing function is itself differentiated or
    loss code (an inner adaptation step of a meta-learning loss: its free names carry the
    outer gradient)."""
    from kinkcheck.lint.roots import LOSS_NAME_RE

    out = []
    for t in sorted(targets):
        outer = t.rsplit(".", 1)[0]
        if outer not in world.functions or outer in targets:
            continue
        if LOSS_NAME_RE.search(outer.rsplit(".", 1)[-1]):
            continue
        out.append(t)
    return out


def callees(world, ref: str) -> list[str]:
    """The functions a recorded call runs: an object's forward/__call__ for ``INSTANCE``."""
    if ref.endswith(INSTANCE):
        cls = ref.removesuffix(INSTANCE)
        return list(dict.fromkeys(t for name in FORWARD_NAMES for t in world.targets(f"{cls}.{name}")))
    return world.targets(ref)


def _internal(world, q: str) -> bool:
    """A method, a private function or a function of a private module: the calls in the
    checked tree are its calls. A public function (``metrics.probiou``) is also called by
    users' code, which may hand it the prediction where the package hands it the target."""
    ix, f = world.functions[q]
    return bool(f.class_qualname) or f.name.startswith("_") or any(
        part.startswith("_") and part != "__init__" for part in ix.module.split("."))


def _own(world, q: str, params: tuple[str, ...]) -> tuple[str, ...]:
    """The parameters a call's arguments bind to (``self`` is the object called on)."""
    f = world.functions[q][1]
    return params[1:] if f.class_qualname and params[:1] in (("self",), ("cls",)) else params


class _OutOfBudget(Exception):
    pass


class _Solver:
    def __init__(self, world, data: set[tuple[str, str]], settings: bool = False):
        self.world = world
        self.data = data
        #: asking for settings: data (a target, a mask) is not free then
        self.settings = settings
        self.memo: dict[tuple, bool] = {}
        self.steps = 0

    def passes_data(self, caller: str, call: CallFlow, target: str, param: str) -> bool:
        arg = _argument(self.world, call, target, param)
        return arg is not None and self.free(caller, arg, None, 0)

    def free(self, fn: str, atoms: Atoms, binding: "tuple[str, CallFlow, tuple | None] | None", depth: int) -> bool:
        """No atom of ``fn``'s value can carry gradient. ``binding``: the call (made in
        another function) that ``fn``'s parameters came from, when judging what ``fn``
        returns; None: ``fn``'s parameters are judged by the fixpoint."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _OutOfBudget
        for atom in atoms:
            if atom == ANY or depth > MAX_DEPTH:
                return False
            if atom == DATA_ATOM:
                if self.settings:
                    return False
                continue
            tag, _, rest = atom.partition(":")
            if tag == "p":
                if binding is None:
                    if (fn, rest) not in self.data:
                        return False
                else:
                    caller, call, outer = binding
                    arg = _argument(self.world, call, fn, rest)
                    if arg is None or not self.free(caller, arg, outer, depth + 1):
                        return False
            elif not self._returns_data(fn, int(rest), binding, depth):
                return False
        return True

    def _returns_data(self, fn: str, index: int, binding, depth: int) -> bool:
        flow = self.world.functions[fn][1].flow
        call = flow[1][index]
        key = (fn, index, _key(binding))
        got = self.memo.get(key)
        if got is not None:
            return got
        # met again while being worked out (`windows = self._normalization(windows)`): a value
        # built from itself adds no gradient of its own, so assume data and see
        self.memo[key] = True
        mark = len(self.memo)
        targets = [] if call[0] in self.world.classes else callees(self.world, call[0])
        ok = bool(targets) and call[1] >= 0
        for t in targets if ok else ():
            tflow = self.world.functions[t][1].flow
            if not tflow or not self.free(t, tflow[2], (fn, call, binding), depth + 1):
                ok = False
                break
        if not ok:  # what was worked out on the assumption does not hold
            for stale in list(self.memo)[mark:]:
                del self.memo[stale]
        self.memo[key] = ok
        return ok


def _key(binding) -> tuple:
    out = []
    while binding is not None:
        out.append((binding[0], id(binding[1])))
        binding = binding[2]
    return tuple(out)


def _argument(world, call: CallFlow, target: str, param: str) -> Atoms | None:
    """The atoms of what ``call`` passes for ``param`` of ``target`` (nothing for a default);
    None when it cannot be told."""
    _, npos, positional, keywords = call
    flow = world.functions[target][1].flow
    own = _own(world, target, flow[0]) if flow else ()
    for name, atoms in keywords:
        if name == param:
            return atoms
    if param in own and own.index(param) < npos:
        return positional[own.index(param)]
    return () if param in own else None


def parse(functions: Iterable[str], *markers: str) -> dict[str, frozenset[str]]:
    """qualname -> its parameters that scope entries mark with one of ``markers``: those that
    receive only data (``DATA_PARAM``), only settings (``SETTING_PARAM``), or either."""
    out: dict[str, set[str]] = {}
    for entry in functions:
        for marker in markers:
            q, sep, param = entry.partition(marker)
            if sep:
                out.setdefault(q, set()).add(param)
    return {q: frozenset(ps) for q, ps in out.items()}
