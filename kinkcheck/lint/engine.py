"""Rule matching on the functions in scope: generic ``[match]`` tables, guards, and the
checks registered by code in ``kinkcheck.lint.checks``.

Names resolve through the file's own import table (``kinkcheck.lint.resolve``), local
aliases (``orig = torch.abs``), instances (``pool = nn.MaxPool2d(2); pool(x)``,
``self.act = nn.ReLU()`` in ``__init__``) and re-exports of sibling files of the checked
tree. Nothing is imported and no foreign package is ever read, so the analyzer works the
same with or without torch/jax installed and costs one ``ast.parse`` plus a walk per file.

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

Confidence of a finding:
    high    the callee resolved to a catalog callable by qualified name (capped by the
            rule's own ``confidence``)
    medium  a tensor method name, an operator or a builtin on a value known or assumed
            (UNKNOWN in loss code) to be a tensor, an instance of a catalog class, or a
            callee only astroid inference could name (``ops["abs"](x)``, ``pick()(x)``,
            ``getattr(torch, "sqrt")(x)``: see ``kinkcheck.lint.infer_astroid``; the
            finding's ``extra["inferred"]`` holds the qualified name)
    low     name heuristics: ``from torch import *``, a branch on an UNKNOWN value
"""

from __future__ import annotations

import ast
import re
import sys
from typing import Iterable

from kinkcheck.findings import Finding
from kinkcheck.lint import checks as registry
from kinkcheck.lint.checks import Site
from kinkcheck.lint import flow
from kinkcheck.lint.guards import accepts
from kinkcheck.lint.index import MODULE_CODE, _Env, _Indexer, _qual, backward_slice, local_bindings, recall, walk_local
from kinkcheck.lint.resolve import (
    DATA, DATA_FUNCS, JOIN_BUILTINS, PLAIN, PLAIN_ATTRS, PLAIN_BUILTINS, PLAIN_METHODS, TENSOR, UNKNOWN,
    ARRAY_LIBRARIES, ARRAY_ROOTS, FRAMEWORK_ROOTS, Reexports, annotation_kind, dotted, join, name_kind,
)

SLICE = "#slice"
DEFAULT_BUDGET = 200_000
#: the parser's own line split (\r\n, \r, \n; not form feeds): ``ast._splitlines_no_ff``
#: at C speed, which matters on a big file in the pre-commit case
_RAW_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_PLACEHOLDER = re.compile(r"\{[A-Za-z_]\w*\}")
_CONF_ORDER = {"low": 0, "medium": 1, "high": 2}

OPERATORS = {ast.Div: "/", ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@",
             ast.Mult: "*", ast.Add: "+", ast.Sub: "-"}


def min_conf(*levels: str) -> str:
    return min(levels, key=lambda c: _CONF_ORDER.get(c, 0))


class _ArraysAfterAll(Exception):
    """A file without array imports turned out to call an array library (found by astroid)."""


class Budget(Exception):
    """The per-file work budget ran out: the rest of the file is not analyzed."""


class _Tables:
    """Catalog lookups for the selected codes, built once per (catalog, codes)."""

    _cache: dict = {}

    def __init__(self, catalog, codes: frozenset[str]):
        self.callables: dict[str, list[str]] = {}
        self.methods: dict[str, list[str]] = {}
        self.operators: dict[str, list[str]] = {}
        #: last segments of the selected callables (``abs``, ``relu``, ``ReLU``)
        self.tails: set[str] = set()
        for code in sorted(codes):
            rule = catalog.get(code)
            if rule is None:
                continue
            for c in rule.match.callables:
                self.callables.setdefault(c, []).append(code)
                self.tails.add(c.rsplit(".", 1)[-1])
            for m in rule.match.methods:
                self.methods.setdefault(m, []).append(code)
            for o in rule.match.operators:
                self.operators.setdefault(o, []).append(code)

    @classmethod
    def get(cls, catalog, codes: frozenset[str]) -> "_Tables":
        key = (id(catalog), codes)
        t = cls._cache.get(key)
        if t is None:
            if len(cls._cache) > 32:
                cls._cache.clear()
            t = cls._cache[key] = cls(catalog, codes)
        return t


class Context:
    """What checks and guards may ask about the function being analyzed."""

    def __init__(self, fa: "_FileAnalysis", qualname: str, fn: ast.AST, env: _Env, cls_qual: str | None):
        self.fa = fa
        self.qualname = qualname
        self.fn = fn
        self.env = env
        self.cls_qual = cls_qual
        self.bound, self.values = (local_bindings(fn) if fn is not fa.tree else local_bindings(fa.tree))
        self.params = _params(fn)
        self.parents: dict[int, ast.AST] = {}
        self._kinds: dict[str, str] = {}
        self._busy: set[str] = set()
        self._assigns: dict[str, list[ast.AST]] | None = None
        self._flow_assigns: dict[str, list] | None = None
        self._no_grad: set[int] | None = None
        self._array_receivers: set[str] | None = None
        self._wheres: list[ast.Call] | None = None

    # -- names ------------------------------------------------------------------------
    def qualify(self, node: ast.AST) -> str | None:
        q = self.fa.ix.resolve(node, self.env)
        if q is None:
            return None
        how = self.fa.ix.how
        q = self.fa.follow(q)
        self.fa.ix.how = how
        return q

    @property
    def how(self) -> str | None:
        return self.fa.ix.how

    def is_module_ref(self, node: ast.AST) -> bool:
        """``torch``, ``np.linalg``, ``F``: a module (or class) reference, not a value."""
        d = dotted(node)
        if d is None:
            return False
        head = d.split(".")[0]
        if head in self.bound or head == "self":
            return False
        q = self.fa.ix.resolve(node, self.env)
        return q is not None and self.fa.ix.how in ("import", "star")

    def definition(self, name: str) -> ast.AST | None:
        return self.values.get(name)

    def param_default(self, name: str) -> ast.AST | None:
        p = self.params.get(name)
        return p[1] if p else None

    def source(self, node: ast.AST) -> str:
        return self.fa.segment(node)

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(id(node))

    def assignments(self) -> dict[str, list]:
        """name -> every value assigned to it in the function (loop targets and unpacking
        are opaque markers, not nodes)."""
        if self._flow_assigns is None:
            self._flow_assigns = _assignments(self.fn if self.fn is not self.fa.tree else self.fa.tree, aug=True)
        return self._flow_assigns

    def array_receivers(self) -> set[str]:
        """Names this function calls array methods on (``m.mean()``, ``k.norm(dim=1)``)."""
        if self._array_receivers is None:
            self._array_receivers = {
                n.func.value.id for n in walk_local(self.fn if self.fn is not self.fa.tree else self.fa.tree)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
                and n.func.attr in ARRAY_METHODS}
        return self._array_receivers

    def no_grad_ids(self) -> set[int]:
        """ids of the nodes that run under ``torch.no_grad()`` in this function."""
        if self._no_grad is None:
            self._no_grad = set()
            if self.fn is not self.fa.tree:
                self._no_grad = _no_grad_nodes(self.fn, list(self.fn.body), self)
        return self._no_grad

    def where_calls(self) -> list[ast.Call]:
        """Every ``where``-like call of the function (for the double-where guard)."""
        if self._wheres is None:
            body = self.fn if self.fn is not self.fa.tree else self.fa.tree
            self._wheres = [n for n in walk_local(body) if isinstance(n, ast.Call)
                            and (getattr(n.func, "attr", None) or getattr(n.func, "id", None)) == "where"]
        return self._wheres

    def imports_framework(self) -> bool:
        return self.fa.framework

    # -- value kinds ------------------------------------------------------------------
    def kind(self, node: ast.AST | None) -> str:
        if node is None:
            return UNKNOWN
        self.fa.spend()
        try:
            k = self._kind(node)
        except RecursionError:
            k = UNKNOWN
        if k == UNKNOWN and not self.fa.arrays:
            return PLAIN  # a file that imports no array library computes on Python values
        return k

    def _kind(self, node: ast.AST) -> str:
        k = self.kind
        if isinstance(node, ast.Constant):
            return PLAIN
        if isinstance(node, (ast.JoinedStr, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.Lambda,
                             ast.ListComp, ast.SetComp, ast.DictComp)):
            return PLAIN
        if isinstance(node, ast.GeneratorExp):
            return k(node.elt)
        if isinstance(node, ast.Name):
            return self.name_kind(node.id)
        if isinstance(node, ast.Attribute):
            if node.attr in PLAIN_ATTRS:
                return PLAIN
            if node.attr in ("data", "T", "mT", "real", "imag", "grad"):
                base = k(node.value)
                return DATA if node.attr == "data" and base != PLAIN else base
            if isinstance(node.value, ast.Name) and node.value.id == "self" and self.cls_qual:
                return self.fa.attr_kind(self.cls_qual, node.attr)
            if self.is_module_ref(node):
                return PLAIN  # math.pi, torch.float32, np.inf
            if node.attr in ("values",):
                return k(node.value)
            base = k(node.value)
            if base in (PLAIN, DATA):
                return base
            return name_kind(node.attr) or UNKNOWN
        if isinstance(node, ast.Subscript):
            base = k(node.value)
            return base
        if isinstance(node, ast.BinOp):
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
            return self._call_kind(node)
        if isinstance(node, ast.NamedExpr):
            return k(node.value)
        if isinstance(node, ast.Starred):
            return k(node.value)
        return UNKNOWN

    def _call_kind(self, node: ast.Call) -> str:
        k = self.kind
        q = self.qualify(node.func)
        how = self.how
        if q is not None and how in ("builtin",) or (q or "").startswith("builtins."):
            name = q.rsplit(".", 1)[-1]
            if name in PLAIN_BUILTINS:
                return PLAIN
            if name in JOIN_BUILTINS:
                return join(*(k(a) for a in node.args)) if node.args else UNKNOWN
            return UNKNOWN
        if q is not None and how in ("import", "star", "instance", "attribute-of-instance"):
            root = q.split(".")[0]
            tail = q.rsplit(".", 1)[-1]
            if tail in PLAIN_CALLS:
                return PLAIN
            if root == "math" or q in ("torch.is_tensor", "torch.numel", "numpy.ndim", "numpy.shape", "numpy.size", "torch.Size", "jax.numpy.ndim", "jax.numpy.shape"):
                return PLAIN
            if root in ("numpy", "scipy") and self.fa.framework:
                return DATA  # numpy inside torch/jax code computes on data (KC505 flags the call)
            if root in ARRAY_ROOTS:
                if tail in DATA_FUNCS or tail.startswith(("is", "get_", "set_")):
                    return DATA if not tail.startswith(("is_", "get_", "set_")) else PLAIN
                if tail.endswith("_like") or tail in ("tensor", "as_tensor", "asarray", "array"):
                    return DATA if all(k(a) in (PLAIN, DATA) for a in node.args) else TENSOR
                arg_kinds = [k(a) for a in node.args]
                if DATA in arg_kinds and all(a in (PLAIN, DATA) for a in arg_kinds):
                    return DATA  # torch.abs(mask.float() - 1): a function of data is data
                return TENSOR
        if isinstance(node.func, ast.Attribute) and not self.is_module_ref(node.func.value):
            meth = node.func.attr
            recv = k(node.func.value)
            if meth in PLAIN_METHODS:
                return PLAIN
            if meth in DATA_FUNCS:
                return DATA if recv != PLAIN else PLAIN
            if recv == PLAIN:
                return PLAIN
            if meth in ("float", "double", "half", "bfloat16", "to", "type", "type_as", "long", "int", "bool", "contiguous",
                        "view", "reshape", "squeeze", "unsqueeze", "flatten", "permute", "transpose", "expand",
                        "expand_as", "clone", "cpu", "cuda", "sum", "mean", "abs", "clamp"):
                return recv
            if recv == DATA:  # mask.sum(), labels.max(): data, unless a tensor goes in
                return join(DATA, *(k(a) for a in node.args))
            return TENSOR if recv == TENSOR else UNKNOWN
        return UNKNOWN

    def name_kind(self, name: str) -> str:
        if name in self._kinds:
            return self._kinds[name]
        if name in self._busy:
            return _CYCLE  # `h = h // 2`: the name's own earlier value adds nothing
        self._busy.add(name)
        try:
            kind = self._name_kind(name)
        finally:
            self._busy.discard(name)
        if kind == _CYCLE:
            return UNKNOWN
        self._kinds[name] = kind
        return kind

    def _name_kind(self, name: str) -> str:
        if name in ("True", "False", "None"):
            return PLAIN
        if name in self.params:
            ann, default = self.params[name]
            ak = annotation_kind(ann)
            if ak == TENSOR and self.fa.framework and _numpy_annotation(ann):
                return DATA  # an np.ndarray handed to torch/jax code is data
            if ak == TENSOR and (name_kind(name) == DATA or PARAM_DATA_RE.search(name)):
                return DATA  # `target: Tensor`: the annotation says array, the name says which
            if ak == PLAIN and self.fa.jax and isinstance(ann, ast.Name) and ann.id in ("float", "complex"):
                ak = None  # under jax.grad a `score: float` is a tracer: the namespace decides
            if ak:
                return ak
            if PARAM_DATA_RE.search(name):
                return DATA  # sample weights and normalisers handed to a loss (`weight`, `avg_factor`)
            if default is not None and isinstance(default, ast.Constant) and default.value is not None:
                return PLAIN
            hk = name_kind(name)
            if hk == PLAIN and name in self.array_receivers():
                hk = None  # `m.mean()`, `k.abs()`: used as an array whatever the name suggests
            assigned = self._assigned_kinds(name)
            if hk == DATA and set(assigned) <= {UNKNOWN, DATA, PLAIN}:
                return DATA  # `label, weight = _expand(label, ...)`: still the labels
            return join(hk or UNKNOWN, *assigned) if assigned else (hk or UNKNOWN)
        if name in self.bound:
            assigned = self._assigned_kinds(name)
            if assigned:
                kinds = set(assigned)
                if kinds == {PLAIN} or kinds == {DATA} or kinds == {TENSOR}:
                    return kinds.pop()
                if UNKNOWN in kinds:
                    hk = name_kind(name)
                    if hk:
                        return hk
                return join(*assigned)
            return name_kind(name) or UNKNOWN
        # enclosing scopes / module level
        mk = self.fa.module_kind(name)
        if mk is not None:
            return mk
        q = self.fa.ix.resolve(ast.Name(id=name, ctx=ast.Load()), self.env)
        if q is not None and self.fa.ix.how in ("import", "builtin", "def", "star"):
            return PLAIN  # a module, function or class object is not a value
        return name_kind(name) or UNKNOWN

    def _assigned_kinds(self, name: str) -> list[str]:
        if self._assigns is None:
            self._assigns = _assignments(self.fn if self.fn is not self.fa.tree else self.fa.tree)
        out = []
        for value in self._assigns.get(name, ()):
            if isinstance(value, _Iter):
                it = self.kind(value.iterable)
                if isinstance(value.iterable, ast.Call) and (dotted(value.iterable.func) or "") in ("range", "enumerate", "zip"):
                    func = dotted(value.iterable.func)
                    if func == "range":
                        it = PLAIN
                    elif func == "enumerate":
                        it = PLAIN if value.index == 0 else (self.kind(value.iterable.args[0]) if value.iterable.args else UNKNOWN)
                    else:
                        it = UNKNOWN
                out.append(PLAIN if it == PLAIN else (UNKNOWN if it == UNKNOWN else it))
            elif isinstance(value, _Opaque):
                out.append(UNKNOWN)
            elif id(value) in self.no_grad_ids():
                out.append(DATA)  # computed under no_grad: a constant to autograd
            else:
                out.append(self.kind(value))
        return [k for k in out if k != _CYCLE]


_CYCLE = "cycle"
#: kinks at 0 that a power above 1 smooths: |x|**2, relu(x)**2 (clamp/maximum only at a 0 bound)
SQUARED_AWAY = frozenset({"KC101", "KC102"})
#: parameters of a loss that carry no gradient by the conventions of loss APIs
#: (torch's ``weight=``, mmdet's ``avg_factor``); learnable weights are ``self.weight``
PARAM_DATA_RE = re.compile(r"^(weight|weights|sample_weight|sample_weights|class_weight|class_weights|"
                           r"pos_weight|avg_factor|loss_weight|reduction_override|ignore_index)$")
#: methods that only an array has: a name they are called on holds an array
ARRAY_METHODS = frozenset({"mean", "sum", "norm", "abs", "sqrt", "exp", "log", "pow", "clamp", "matmul", "reshape",
                           "view", "transpose", "permute", "softmax", "sigmoid", "unsqueeze", "squeeze", "std", "var"})
#: calls that answer a question about the run, not about a value
PLAIN_CALLS = frozenset({"world_size", "get_world_size", "get_rank", "rank", "local_rank", "device_count",
                         "is_initialized", "is_available", "numel", "dim", "ndimension"})
#: import roots never followed into sibling files when deciding whether a file uses arrays
BUILTIN_ROOTS = frozenset(sys.stdlib_module_names) | {"__future__", "kinkcheck"}


def _numpy_annotation(ann: ast.AST | None) -> bool:
    text = dotted(ann) or (ann.value if isinstance(ann, ast.Constant) and isinstance(ann.value, str) else "")
    if text.startswith(("jnp.", "jax.", "jax_", "chex.")):
        return False  # `x: jnp.ndarray` is a traced array under jax.grad, not host data
    return "ndarray" in text or text.startswith(("np.", "numpy."))


class _Iter:
    __slots__ = ("iterable", "index")

    def __init__(self, iterable, index=None):
        self.iterable = iterable
        self.index = index


class _Opaque:
    __slots__ = ()


def _assignments(fn: ast.AST, aug: bool = False) -> dict[str, list]:
    """name -> assigned values. With ``aug``, ``x += v`` binds ``x + v`` (what the range
    analysis needs) instead of ``v`` (enough for kinds, which join anyway)."""
    out: dict[str, list] = {}

    def bind(target, value):
        if isinstance(target, ast.Name):
            out.setdefault(target.id, []).append(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for i, elt in enumerate(target.elts):
                if isinstance(value, _Iter):
                    bind(elt, _Iter(value.iterable, i))
                elif isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
                    bind(elt, value.elts[i])
                elif (isinstance(value, ast.Attribute) and value.attr in ("shape", "size")) or (
                        isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "size"):
                    bind(elt, ast.Constant(value=1))  # `b, n, _ = x.shape`: ints (sizes, >= 1)
                elif isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in ("max", "min", "topk", "sort", "aminmax", "kthvalue", "median"):
                    bind(elt, value if i == 0 else ast.Call(func=ast.Name(id="argmax", ctx=ast.Load()), args=[], keywords=[]))
                else:
                    bind(elt, _Opaque())
        elif isinstance(target, ast.Starred):
            bind(target.value, _Opaque())
        elif isinstance(target, ast.Subscript) and not aug:
            base = target.value
            while isinstance(base, ast.Subscript):
                base = base.value
            if isinstance(base, ast.Name) and not isinstance(value, (_Iter, _Opaque)):
                bind(base, value)  # `loss[0] = box_loss`: the container now holds what was stored

    nodes = walk_local(fn) if not isinstance(fn, ast.Module) else walk_local(fn)
    for node in nodes:
        if isinstance(node, ast.Assign):
            for t in node.targets:
                bind(t, node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            ak = annotation_kind(node.annotation)
            bind(node.target, ast.Constant(value=0) if ak == PLAIN else node.value)
        elif isinstance(node, ast.AugAssign):
            if aug and isinstance(node.target, ast.Name):
                bind(node.target, ast.copy_location(
                    ast.BinOp(left=ast.Name(id=node.target.id, ctx=ast.Load()), op=node.op, right=node.value), node))
            else:
                bind(node.target, node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            bind(node.target, _Iter(node.iter))
        elif isinstance(node, ast.comprehension):
            bind(node.target, _Iter(node.iter))
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bind(node.optional_vars, _Opaque())
        elif isinstance(node, ast.NamedExpr):
            bind(node.target, node.value)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.setdefault(node.name, []).append(ast.Constant(value=0))
    return out


def _params(fn: ast.AST) -> dict[str, tuple[ast.AST | None, ast.AST | None]]:
    args = getattr(fn, "args", None)
    if args is None or not isinstance(args, ast.arguments):
        return {}
    out: dict[str, tuple] = {}
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for a, d in zip(positional, defaults):
        out[a.arg] = (a.annotation, d)
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        out[a.arg] = (a.annotation, d)
    for a in (args.vararg, args.kwarg):
        if a is not None:
            out[a.arg] = (ast.Name(id="tuple", ctx=ast.Load()), None)
    return out


class _FileAnalysis:
    def __init__(self, source: str, path: str, module: str, tree: ast.Module, budget: int, ix: _Indexer | None = None):
        self.source = source
        self.path = path
        self.module = module
        self.tree = tree
        self.lines = source.splitlines()
        self._raw_lines = _RAW_LINES.findall(source)  # split as the parser does (ast's offsets use it)
        self.budget = budget
        if ix is None:
            ix = _Indexer(tree, source, path, module)
            ix.run()
        self.ix = ix
        self.reexports = Reexports(path, module)
        names = [*self.ix.table.names.values(), *self.ix.table.stars]
        roots = {q.split(".")[0] for q in names}
        self.framework = bool(roots & FRAMEWORK_ROOTS)
        self.jax = "jax" in roots
        #: the file uses an array library (imported directly or re-exported by a sibling
        #: module): only then may a value of UNKNOWN kind be a tensor
        self.arrays = bool(roots & ARRAY_LIBRARIES) or any(
            self.follow(q).split(".")[0] in ARRAY_LIBRARIES for q in names if q.split(".")[0] not in BUILTIN_ROOTS)
        self._attr_kinds: dict[tuple[str, str], str] = {}
        self._buffers: set[str] | None = None
        self._module_ctx: Context | None = None
        #: astroid fallback: None until a call needs it; False when turned off
        self.inference = None
        self.infer_enabled = True
        self._infer_tokens: frozenset[str] | None = None
        self._self_assigns: dict[str, list[ast.AST]] | None = None
        self._self_busy: set[str] = set()
        #: catalog tail names of the selected rules (set by analyze_file)
        self.tails: frozenset[str] | set[str] = frozenset()
        #: ast.Call id -> the qualified name astroid inferred for its callee
        self.inferred: dict[int, str] = {}

    def infer_callee(self, call: ast.Call, tables: "_Tables"):
        """Catalog callables astroid infers for ``call.func`` (see infer_astroid), or [].
        Never runs in a file that mentions no catalog name at all."""
        if not self.infer_enabled:
            return []
        if self._infer_tokens is None:
            self._infer_tokens = _mentioned(self.tree, tables.tails)
        if not self._infer_tokens:
            return []
        if self.inference is None:
            from kinkcheck.lint.infer_astroid import FileInference

            self.inference = FileInference(self.source, self.path, self.module, _stubs(self.catalog),
                                           self.reexports.root)
        return self.inference.callee(call)

    def close(self) -> None:
        if self.inference is not None:
            self.inference.close()

    def self_assigns(self) -> dict[str, list[ast.AST]]:
        """attr -> values assigned to ``self.<attr>`` anywhere, or to ``attr`` in a class body."""
        if self._self_assigns is None:
            out: dict[str, list[ast.AST]] = {}
            bare: set[int] = set()  # `self.matcher = matcher`: a parameter without default
            for fn in ast.walk(self.tree):
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    params = {k for k, (_, d) in _params(fn).items() if d is None}
                    bare.update(id(n.value) for n in walk_local(fn) if isinstance(n, ast.Assign)
                                and isinstance(n.value, ast.Name) and n.value.id in params)
            for node in ast.walk(self.tree):
                if isinstance(node, ast.ClassDef):
                    for stmt in node.body:
                        if isinstance(stmt, ast.Assign):
                            for t in stmt.targets:
                                if isinstance(t, ast.Name):
                                    out.setdefault(t.id, []).append(stmt.value)
                elif isinstance(node, (ast.Assign, ast.AnnAssign)) and getattr(node, "value", None) is not None:
                    for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                            if id(node.value) not in bare:
                                out.setdefault(t.attr, []).append(node.value)
            self._self_assigns = out
        return self._self_assigns

    def reset_kinds(self) -> None:
        self._module_ctx = None
        self._attr_kinds = {}

    def spend(self, n: int = 1) -> None:
        self.budget -= n
        if self.budget < 0:
            raise Budget()

    def follow(self, qname: str) -> str:
        root = qname.split(".")[0]
        if root in ARRAY_ROOTS or root in ("builtins", "math", "operator"):
            return qname
        return self.reexports.follow(qname)

    def segment(self, node: ast.AST) -> str:
        """Source text of a node (``ast.get_source_segment`` re-splits the whole file on
        every call, which is quadratic on big files)."""
        try:
            lineno, end_lineno = node.lineno - 1, node.end_lineno - 1
            col, end_col = node.col_offset, node.end_col_offset
            lines = self._raw_lines
            if lineno == end_lineno:
                return lines[lineno].encode()[col:end_col].decode()
            first = lines[lineno].encode()[col:].decode()
            last = lines[end_lineno].encode()[:end_col].decode()
            return "".join([first, *lines[lineno + 1 : end_lineno], last])
        except (AttributeError, TypeError, IndexError, UnicodeDecodeError):
            try:
                return ast.unparse(node)
            except Exception:
                return "?"

    def column(self, line: int, offset: int) -> int:
        """1-based character column from ast's UTF-8 byte offset."""
        try:
            text = self._raw_lines[line - 1]
        except IndexError:
            return offset + 1
        if text.isascii():
            return offset + 1
        return len(text.encode()[:offset].decode(errors="ignore")) + 1

    def module_kind(self, name: str) -> str | None:
        """Kind of a module-level name: constants are PLAIN (``EPS = 1e-8``)."""
        if self._module_ctx is None:
            fn, env, cls = self.ix.scopes[_qual(self.module, MODULE_CODE)]
            self._module_ctx = Context(self, _qual(self.module, MODULE_CODE), self.tree, env, None)
        ctx = self._module_ctx
        if name in ctx.bound and name not in self.ix.exports:
            return ctx.name_kind(name)
        return None

    def attr_kind(self, cls_qual: str, attr: str) -> str:
        key = (cls_qual, attr)
        if key in self._attr_kinds:
            return self._attr_kinds[key]
        self._attr_kinds[key] = UNKNOWN
        kinds = []
        for qual, (fn, env, c) in self.ix.scopes.items():
            if c != cls_qual or fn is self.tree:
                continue
            ctx = None
            for node in walk_local(fn):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and getattr(node, "value", None) is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for t in targets:
                        if isinstance(t, ast.Attribute) and t.attr == attr and isinstance(t.value, ast.Name) and t.value.id == "self":
                            ctx = ctx or Context(self, qual, fn, env, c)
                            kinds.append(ctx.kind(node.value))
        kind = join(*kinds) if kinds else (name_kind(attr) or UNKNOWN)
        if kinds and UNKNOWN in kinds and name_kind(attr):
            kind = name_kind(attr)
        if attr in self.buffers():
            kind = DATA  # `self.register_buffer("ref", ...)`: state, not a parameter
        self._attr_kinds[key] = kind
        return kind

    def buffers(self) -> set[str]:
        """Names registered with ``self.register_buffer("name", ...)`` anywhere in the file."""
        if self._buffers is None:
            self._buffers = {
                n.args[0].value for n in ast.walk(self.tree)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "register_buffer"
                and n.args and isinstance(n.args[0], ast.Constant) and isinstance(n.args[0].value, str)}
        return self._buffers


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
    fa = _FileAnalysis(source, path, module, tree, budget, ix)
    fa.catalog = catalog
    fa.infer_enabled = infer
    tables = _Tables.get(catalog, codes)
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


def _analyze_scopes(fa, tables, catalog, codes, functions, path) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[tuple] = set()
    for qualname, (fn, env, cls_qual) in list(fa.ix.scopes.items()):
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
            for f in _analyze_function(fa, tables, catalog, codes, qualname, fn, env, cls_qual, sliced):
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


def _analyze_function(fa, tables, catalog, codes, qualname, fn, env, cls_qual, sliced) -> Iterable[Finding]:
    ctx = Context(fa, qualname, fn, env, cls_qual)
    if fn is fa.tree:
        roots = [s for s in fa.tree.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    else:
        roots = list(fn.body)
    if sliced:
        exprs = _backward_exprs(fa, ctx, roots)
        roots = backward_slice(roots, exprs) if exprs else roots
    nodes: list[ast.AST] = []
    for r in roots:
        for node in walk_local([r]):
            nodes.append(node)
            for child in ast.iter_child_nodes(node):
                ctx.parents[id(child)] = node
    # decorators of a function in scope run as part of it (``@torch.no_grad()``)
    for dec in getattr(fn, "decorator_list", ()) if fn is not fa.tree else ():
        for node in ast.walk(dec):
            nodes.append(node)
    nodes.sort(key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))
    # nothing under torch.no_grad() / inference_mode() carries a gradient: only the
    # no_grad itself (KC506) is reported there
    quiet = _no_grad_nodes(fn if fn is not fa.tree else None, roots, ctx)
    node_checks = [(code, types, check) for code, (types, check) in registry.NODE_CHECKS.items() if code in codes]
    function = qualname
    for node in nodes:
        fa.spend()
        found = list(_node_findings(fa, tables, catalog, codes, ctx, node, node_checks, function))
        if quiet and id(node) in quiet:
            found = [f for f in found if f.code == "KC506"]
        yield from found


NO_GRAD = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad"})


def _no_grad_nodes(fn, roots, ctx: Context) -> set[int]:
    """ids of the nodes that run with gradients off: the whole body of a function decorated
    ``@torch.no_grad()``, the body of ``with torch.no_grad():``."""
    def is_no_grad(expr) -> bool:
        target = expr.func if isinstance(expr, ast.Call) else expr
        return ctx.qualify(target) in NO_GRAD

    out: set[int] = set()
    if fn is not None and any(is_no_grad(d) for d in getattr(fn, "decorator_list", ())):
        for r in roots:
            out.update(id(n) for n in walk_local([r]))
        return out
    for r in roots:
        for n in walk_local([r]):
            if isinstance(n, (ast.With, ast.AsyncWith)) and any(is_no_grad(i.context_expr) for i in n.items):
                out.update(id(m) for m in walk_local(list(n.body)))
    return out


def _node_findings(fa, tables, catalog, codes, ctx, node, node_checks, function):
    sites: list[Site] = []
    if isinstance(node, ast.Call):
        sites.extend(_match_call(node, ctx, tables))
    elif isinstance(node, (ast.BinOp, ast.AugAssign)):
        sites.extend(_match_operator(node, ctx, tables))
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
    for site in refined:
        rule = catalog[site.code]
        if site.via != "node" and site.operand is not None and _all_plain(site, ctx):
            continue
        if accepts(rule.guards, site.operand, ctx, site):
            continue
        if rule.category == "blackbox" and not flow.severs_gradient(site, ctx):
            continue
        if rule.category in ("kink", "singular") and site.via != "node" and flow.only_compared(site.call or site.node, ctx):
            continue  # `mask = d.abs() < t`: the kinked value only decides a mask
        if site.code in SQUARED_AWAY and flow.squared_away(site, ctx):
            continue
        yield _finding(fa, rule, site, function)


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


def _operand(call: ast.Call, argument: int, keyword: str | None) -> ast.AST | None:
    if argument < len(call.args) and not isinstance(call.args[argument], ast.Starred):
        return call.args[argument]
    if keyword:
        for kw in call.keywords:
            if kw.arg == keyword:
                return kw.value
    if call.args and argument == 0:
        return call.args[0]
    return None


def _match_call(node: ast.Call, ctx: Context, tables: _Tables) -> list[Site]:
    out: list[Site] = []
    func = node.func
    instance_call = False
    if isinstance(func, ast.Call):  # nn.ReLU()(x)
        q = ctx.qualify(func.func)
        instance_call = q is not None
    else:
        q = ctx.qualify(func)
        if ctx.how in ("instance",):
            instance_call = True
        elif ctx.how == "attribute-of-instance":
            q = None
    how = ctx.how
    if q is not None and q in tables.callables:
        tail = q.rsplit(".", 1)[-1]
        is_class = tail[:1].isupper()
        if is_class and not instance_call:
            q = None  # constructing nn.ReLU() evaluates nothing; calling the instance does
        elif not is_class and instance_call:
            q = None
    if q is not None and q in tables.callables:
        callee = ctx.source(func)
        for code in tables.callables[q]:
            rule = _rule(ctx, code)
            conf = rule.confidence
            if how == "star":
                conf = "low"
            elif instance_call or how == "builtin" or q.startswith("builtins."):
                conf = min_conf(conf, "medium")
            operand = _operand(node, rule.match.argument, rule.match.keyword)
            out.append(Site(code, node, callee, operand, q, conf, node, "instance" if instance_call else "call"))
        return out
    if q is not None and ctx.how in ("import", "star", "def", "builtin") and not isinstance(func, ast.Call):
        return out  # a module function / local helper that is not in the catalog
    if isinstance(func, ast.Attribute) and func.attr in tables.methods and not ctx.is_module_ref(func.value):
        recv_kind = ctx.kind(func.value)
        if recv_kind == PLAIN or _object_receiver(func.value, ctx):
            return out
        for code in tables.methods[func.attr]:
            rule = _rule(ctx, code)
            arg = rule.match.argument
            operand = func.value if arg == 0 else _operand(node, arg - 1, rule.match.keyword)
            conf = min_conf(rule.confidence, "medium")
            out.append(Site(code, node, f".{func.attr}()", operand, None, conf, node, "method"))
        return out
    if _wants_inference(node, ctx, q, how):
        out.extend(_match_inferred(node, ctx, tables))
    return out


def _object_receiver(recv: ast.AST, ctx: Context) -> bool:
    """``self.norm(x)``, ``self.cost_fn.norm(x)``: a method of the class itself or of an
    object it holds (a cost, a metric, a sub-module), not a tensor method such as ``t.norm()``."""
    if isinstance(recv, ast.Name) and recv.id in ("self", "cls"):
        return True
    if isinstance(recv, ast.Attribute) and isinstance(recv.value, ast.Name) and recv.value.id == "self" and ctx.cls_qual:
        values = ctx.fa.self_assigns().get(recv.attr, [])
        if values and all(_constructs_object(v, ctx) for v in values):
            return True
        # `self.cost_fn.norm(x)`: a tensor's own norm() takes an order or a dim, never an array
        call = ctx.parent(ctx.parent(recv)) if ctx.parent(recv) is not None else None
        if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], (ast.Name, ast.Attribute, ast.Subscript)):
            return ctx.kind(recv) not in (TENSOR,) and ctx.parent(recv).attr in ("norm",)
    return False


def _constructs_object(value: ast.AST, ctx: Context) -> bool:
    """``SqEuclidean()``, ``costs.Cosine(...)``, ``nn.Linear(...)``: an instance of a class."""
    if not isinstance(value, ast.Call):
        return False
    name = value.func.attr if isinstance(value.func, ast.Attribute) else getattr(value.func, "id", "")
    return name[:1].isupper()


def _wants_inference(node: ast.Call, ctx: Context, q: str | None, how: str | None) -> bool:
    """Whether astroid may name this callee where the import table could not: cheap,
    syntactic reasons to skip the calls inference cannot help with (a parameter without a
    default, an instance of a known class, a method of the class itself)."""
    func = node.func
    if how in ("instance", "attribute-of-instance") and not isinstance(func, ast.Call):
        return False  # calling (a method of) an instance of a class the import table knows
    if isinstance(func, ast.Call):  # pick()(x), getattr(torch, "sqrt")(x), partial(...)(x)
        if q is None:
            return _has_value(func.func, ctx)
        return how in ("def", "builtin", "self") or q in ("functools.partial", "operator.attrgetter", "operator.methodcaller")
    if q is not None:
        if how == "self":  # self.fn(x): a method of the class is followed by scope, not here
            return (q not in ctx.fa.ix.scopes and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    and _self_attr_may_be_callable(func.attr, ctx))
        return False  # an instance of a class the import table knows, or a resolved name
    if isinstance(func, ast.Attribute):
        return False  # `x.unsqueeze(1)`: a method of a value; the catalog's methods table judges those
    return _has_value(func, ctx)


def _has_value(expr: ast.AST, ctx: Context) -> bool:
    """The head name of ``expr`` (``ops`` in ``ops["abs"]``) is bound to something astroid
    could follow to a catalog callable: not a parameter without a default, not only
    instances of classes (``loss_fct = MSELoss()`` in two branches)."""
    while isinstance(expr, (ast.Attribute, ast.Subscript, ast.Call)):
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
            return _self_attr_may_be_callable(expr.attr, ctx)  # self.ops["abs"](x)
        expr = expr.func if isinstance(expr, ast.Call) else expr.value
    if not isinstance(expr, ast.Name):
        return isinstance(expr, (ast.Dict, ast.List, ast.Tuple, ast.IfExp, ast.BoolOp, ast.Lambda))
    name = expr.id
    if name == "self":
        return True
    if ctx._assigns is None:
        ctx._assigns = _assignments(ctx.fn if ctx.fn is not ctx.fa.tree else ctx.fa.tree)
    values = ctx._assigns.get(name, ())
    if name in ctx.params:
        return ctx.params[name][1] is not None or any(_may_be_callable(v, ctx) for v in values)
    if values:
        return any(_may_be_callable(v, ctx) for v in values)
    return True  # a module-level or enclosing name


def _may_be_callable(value, ctx: Context) -> bool:
    """Whether an assigned value could be (or hold) a catalog callable: not a constant, not
    an instance of a class other than a catalog one (``MSELoss()``; ``nn.ReLU()`` is)."""
    if isinstance(value, _Opaque):
        return True
    if isinstance(value, _Iter):
        return _may_be_callable(value.iterable, ctx)
    if isinstance(value, (ast.Constant, ast.JoinedStr)):
        return False
    if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        return any(_may_be_callable(v, ctx) for v in value.elts)
    if isinstance(value, ast.Dict):
        return any(_may_be_callable(v, ctx) for v in value.values)
    if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name) and value.value.id == "self":
        return _self_attr_may_be_callable(value.attr, ctx)  # {"labels": self.loss_labels}: a method
    if isinstance(value, ast.Call):
        tail = dotted(value.func)
        tail = tail.rsplit(".", 1)[-1] if tail else None
        if tail and tail[:1].isupper():
            return tail in ctx.fa.tails  # a constructor: only a catalog class matters
        return True  # a helper's result, getattr(...), partial(...)
    return True


def _self_attr_may_be_callable(attr: str, ctx: Context) -> bool:
    """Some ``self.<attr> = value`` (or a class-level ``attr = value``) in the file could
    make ``self.<attr>`` a catalog callable."""
    busy = ctx.fa._self_busy
    if attr in busy:
        return False
    busy.add(attr)
    try:
        return any(_may_be_callable(v, ctx) for v in ctx.fa.self_assigns().get(attr, ()))
    finally:
        busy.discard(attr)


def _match_inferred(node: ast.Call, ctx: Context, tables: _Tables) -> list[Site]:
    """Sites for a callee astroid inferred to a catalog callable (confidence <= medium)."""
    out: list[Site] = []
    for hit in ctx.fa.infer_callee(node, tables):
        codes = tables.callables.get(hit.qname)
        if not codes:
            continue
        is_class = hit.qname.rsplit(".", 1)[-1][:1].isupper()
        if is_class != hit.instance:
            continue  # constructing nn.ReLU() evaluates nothing; calling the instance does
        ctx.fa.inferred[id(node)] = hit.qname
        callee = ctx.source(node.func)
        for code in codes:
            rule = _rule(ctx, code)
            argument = rule.match.argument - hit.shift
            operand = _operand(node, argument, rule.match.keyword) if argument >= 0 else None
            conf = min_conf(rule.confidence, "medium")
            out.append(Site(code, node, callee, operand, hit.qname, conf, node, "instance" if hit.instance else "call"))
    return out


def _mentioned(tree: ast.Module, tails) -> frozenset[str]:
    """Catalog tail names the file mentions anywhere a callable could come from: an
    attribute (``torch.abs``), an imported name, a string (``getattr(torch, "sqrt")``) or
    a bare name that is not itself called or an annotation (``{"abs": abs}``). Empty: no
    call in the file can infer to a catalog callable, so astroid never starts for it."""
    tails = frozenset(tails)
    found: set[str] = set()
    skip: set[int] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Call):
            skip.add(id(n.func))
        elif isinstance(n, ast.Attribute):
            if n.attr in tails:
                found.add(n.attr)
        elif isinstance(n, ast.Name):
            if n.id in tails and id(n) not in skip and isinstance(n.ctx, ast.Load):
                found.add(n.id)
        elif isinstance(n, ast.alias):
            tail = n.name.rsplit(".", 1)[-1]
            if tail in tails:
                found.add(tail)
        elif isinstance(n, ast.Constant):
            if isinstance(n.value, str) and n.value in tails:
                found.add(n.value)
        elif isinstance(n, ast.arg):
            continue  # annotations: `x: float` names no callable
        elif isinstance(n, ast.AnnAssign):
            stack.append(n.target)
            if n.value is not None:
                stack.append(n.value)
            continue
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(n.body)
            stack.extend(n.decorator_list)
            stack.extend(d for d in (*n.args.defaults, *n.args.kw_defaults) if d is not None)
            continue
        stack.extend(ast.iter_child_nodes(n))
    return frozenset(found)


_STUBS: dict[int, tuple] = {}


def _stubs(catalog) -> dict[str, str]:
    """Stub module sources for every catalog callable (all rules: the names are facts about
    the libraries, the selection applies when matching)."""
    hit = _STUBS.get(id(catalog))
    if hit is None or hit[0] is not catalog:
        from kinkcheck.lint.infer_astroid import stub_sources

        hit = _STUBS[id(catalog)] = (catalog, stub_sources({c for rule in catalog.values() for c in rule.match.callables}))
    return hit[1]


def _match_operator(node, ctx: Context, tables: _Tables) -> list[Site]:
    sym = OPERATORS.get(type(node.op))
    if sym is None or sym not in tables.operators:
        return []
    if isinstance(node, ast.AugAssign):
        left, right = node.target, node.value
    else:
        left, right = node.left, node.right
    out = []
    for code in tables.operators[sym]:
        rule = _rule(ctx, code)
        operand = right if rule.match.argument == 1 else left
        out.append(Site(code, node, sym, operand, None, min_conf(rule.confidence, "medium"),
                        node if isinstance(node, ast.BinOp) else ast.BinOp(left=left, op=node.op, right=right), "operator"))
    return out


def _rule(ctx: Context, code: str):
    return ctx.fa.catalog[code]


def _backward_exprs(fa, ctx: Context, roots) -> list[ast.AST]:
    exprs = []
    for r in roots:
        for node in walk_local([r]):
            if isinstance(node, ast.Call):
                if isinstance(node.func, ast.Attribute) and node.func.attr == "backward":
                    q = ctx.qualify(node.func)
                    if q is None or ctx.how not in ("import",):
                        exprs.append(node.func.value)
                        continue
                q = ctx.qualify(node.func)
                if q in ("torch.autograd.grad", "torch.autograd.backward") and node.args:
                    exprs.append(node.args[0])
    return exprs


def _placeholders(site: Site) -> dict[str, ast.AST | None]:
    """What a remedy template may name: ``{x}`` the kinked operand, ``{other}`` the other
    operand, ``{lhs}``/``{rhs}`` a comparison read as "lhs > rhs", ``{then}``/``{else}`` the
    two values of a conditional expression or a ``where``."""
    values: dict[str, ast.AST | None] = {"x": site.operand, "other": _other_operand(site)}
    test, then, other = None, None, None
    node = site.call if site.call is not None else site.node
    if isinstance(node, ast.IfExp):
        test, then, other = node.test, node.body, node.orelse
    elif isinstance(node, ast.Call) and len(node.args) == 3:
        test, then, other = node.args
    elif isinstance(site.node, ast.Compare):
        test = site.node
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        lhs, rhs = test.left, test.comparators[0]
        if isinstance(test.ops[0], (ast.Lt, ast.LtE)):
            lhs, rhs = rhs, lhs
        if isinstance(test.ops[0], (ast.Lt, ast.LtE, ast.Gt, ast.GtE)):
            values.update(lhs=lhs, rhs=rhs)
    values.update(then=then, **{"else": other})
    return values


#: torch names in remedy templates and their jax / numpy spellings; a rewrite that keeps any
#: other torch-only piece is not offered as concrete in jax or numpy code
_FRAMEWORK_NAMES = {
    "jax": {"torch.sqrt": "jnp.sqrt", "torch.log": "jnp.log", "torch.exp": "jnp.exp", "torch.tanh": "jnp.tanh",
            "torch.sigmoid": "jax.nn.sigmoid", "torch.where": "jnp.where", "torch.logaddexp": "jnp.logaddexp",
            "torch.acos": "jnp.arccos", "torch.atan2": "jnp.arctan2", "torch.round": "jnp.round",
            "torch.sign": "jnp.sign", "torch.nn.functional.silu": "jax.nn.silu"},
    "numpy": {"torch.sqrt": "np.sqrt", "torch.log": "np.log", "torch.exp": "np.exp", "torch.tanh": "np.tanh",
              "torch.where": "np.where", "torch.logaddexp": "np.logaddexp", "torch.acos": "np.arccos",
              "torch.atan2": "np.arctan2", "torch.round": "np.round", "torch.sign": "np.sign"},
}
_TORCH_ONLY = re.compile(r"\btorch\.|\.clamp(_min|_max)?\(|\.detach\(|\bbeta=|\bdim=")
_TORCH_NAME = re.compile(r"\btorch(?:\.[A-Za-z_]\w*)+(?=\()")


def _framework(fa: "_FileAnalysis", site: Site) -> str:
    """The array library a site is written in: its callable's, else the file's imports."""
    top = (site.qname or "").split(".")[0]
    if top in ("torch", "jax", "numpy"):
        return top
    imported = {q.split(".")[0] for q in fa.ix.table.names.values()}
    return next((f for f in ("torch", "jax", "numpy") if f in imported), "torch")


def _in_framework(rewrite: str, framework: str) -> str | None:
    """The torch-spelled rewrite in the site's own framework, or None if it cannot be said."""
    if framework not in _FRAMEWORK_NAMES:
        return rewrite
    table = _FRAMEWORK_NAMES[framework]
    spelled = _TORCH_NAME.sub(lambda m: table.get(m.group(), m.group()), rewrite)
    return None if _TORCH_ONLY.search(spelled) else spelled


def _other_operand(site: Site) -> ast.AST | None:
    """The operand that is not kinked: the numerator of a division, the exponent of a power
    (``{other}`` in a remedy template)."""
    call = site.call
    if isinstance(call, ast.BinOp):
        return call.left if site.operand is call.right else call.right
    if isinstance(call, ast.Call):
        for arg in call.args:
            if arg is not site.operand and not isinstance(arg, ast.Starred):
                return arg
    return None


def _finding(fa: _FileAnalysis, rule, site: Site, function: str) -> Finding:
    node = site.node
    line = getattr(node, "lineno", 1)
    col = fa.column(line, getattr(node, "col_offset", 0))
    end_line = getattr(node, "end_lineno", None) or line
    end_off = getattr(node, "end_col_offset", None)
    end_col = fa.column(end_line, end_off) if end_off is not None else col + 1
    arg = fa.segment(site.operand) if site.operand is not None else ""
    message = rule.message.replace("{callee}", site.callee).replace("{arg}", arg)
    replacement = None
    for remedy in rule.remedies:
        if remedy.rewrite:
            replacement = remedy.rewrite
            for name, value in _placeholders(site).items():
                if value is not None and "{" + name + "}" in replacement:
                    text = fa.segment(value)
                    replacement = replacement.replace("{" + name + "}", text if _atomic(value) else f"({text})")
            if _PLACEHOLDER.search(replacement):
                replacement = None  # the template needs more than this site shows: not concrete
            else:
                replacement = _in_framework(replacement, _framework(fa, site))
            break
    snippet = fa.lines[line - 1] if 0 < line <= len(fa.lines) else ""
    extra = {}
    inferred = fa.inferred.get(id(site.call)) if site.call is not None else None
    if inferred is not None and site.via in ("call", "instance"):
        extra["inferred"] = inferred
        message = f"{message} (inferred: `{site.callee}` is `{inferred}`)"
    return Finding(
        code=rule.code,
        name=rule.name,
        category=rule.category,
        path=fa.path,
        line=line,
        col=col,
        end_line=end_line,
        end_col=end_col,
        message=message,
        confidence=site.confidence,
        function=function,
        snippet=snippet,
        replacement=replacement,
        extra=extra,
    )


def _atomic(node: ast.AST) -> bool:
    return isinstance(node, (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant))
