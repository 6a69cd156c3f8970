"""What checks and guards see: a :class:`Context` per function being analyzed, and the
:class:`FileAnalysis` it belongs to.

A check receives ``ctx: Context`` and asks it about names (``ctx.qualify(node)`` and
``ctx.how``, ``ctx.is_module_ref``, ``ctx.definition``, ``ctx.param_default``), structure
(``ctx.parent``, ``ctx.source``, ``ctx.assignments()``, ``ctx.where_calls()``,
``ctx.no_grad_ids()``) and values (``ctx.kind(node)``, ``ctx.name_kind(name)``; see
:mod:`kinkcheck.lint.kinds`). Nothing here imports or runs the code it reads.
"""

from __future__ import annotations

import ast
import re
import sys
from typing import Any

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint import kinds, kinds_members, namespaces
from kinkcheck.lint.env import _Env
from kinkcheck.lint.index import NO_GRAD, _Indexer
from kinkcheck.lint.walk import local_bindings, walk_local
from kinkcheck.lint.bindings import assignments_in, parameters
from kinkcheck.lint.kinds import ARRAY_METHODS
from kinkcheck.lint.resolve import (
    ARRAY_LIBRARIES,
    ARRAY_ROOTS,
    Reexports,
    dotted,
)
from kinkcheck.source import lines as source_lines
from kinkcheck.source import raw_lines
from kinkcheck.syntax import assigned_pairs

#: import roots never followed into sibling files when deciding whether a file uses arrays
BUILTIN_ROOTS = frozenset(sys.stdlib_module_names) | {"__future__", "kinkcheck"}


class Budget(Exception):
    """The per-file work budget ran out: the rest of the file is not analyzed."""


#: a loss by its name's last word (``loss``, ``dloss``, ``hinge_loss``, ``objective``)
_SCALAR_LOSS_RE = lazy_pattern(r"(^|_)(d?loss|objective|criterion|nll)$", re.IGNORECASE)
#: what a per-sample loss calls the prediction it is handed
_SCALAR_PREDICTION_RE = lazy_pattern(r"^(p|pred|preds|y_pred|y_hat|yhat|prediction|predictions|output|outputs|"
                                     r"score|scores|logit|logits|raw_prediction|margin|z)$")


class Context:
    """What checks and guards may ask about the function being analyzed."""

    fa: "FileAnalysis"
    #: the function's qualified name (``mod.Loss.forward``); ``fn`` its node, or the module
    qualname: str
    fn: ast.AST
    env: _Env
    #: the qualified name of the class the function is a method of
    cls_qual: str | None
    #: names bound in the function, and the value bound to each where there is one
    bound: set[str]
    values: dict[str, ast.AST]
    #: parameter name -> (annotation, default)
    params: dict[str, tuple[ast.AST | None, ast.AST | None]]

    def __init__(self, fa: "FileAnalysis", qualname: str, fn: ast.AST, env: _Env, cls_qual: str | None):
        self.fa = fa
        self.qualname = qualname
        self.fn = fn
        self.env = env
        self.cls_qual = cls_qual
        self.bound, self.values = (local_bindings(fn) if fn is not fa.tree else local_bindings(fa.tree))
        self.params = parameters(fn)
        self.data_params = fa.data_params.get(qualname, frozenset())
        self.setting_params = fa.setting_params.get(qualname, frozenset())
        self.parents: dict[int, ast.AST] = {}
        self._kinds: dict[str, str] = {}
        self._busy: set[str] = set()
        #: a name met again while being worked out, since the innermost open name began
        self._cycle_met = False
        #: kinds worked out again because a name around them was still open (bounded)
        self._provisional_count = 0
        self._assigns: dict[str, list[ast.AST]] | None = None
        self._no_grad: set[int] | None = None
        self._array_receivers: set[str] | None = None
        self._numpy_arguments: set[str] | None = None
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
            # ... unless it holds an array namespace: `nx = get_backend(x)`, `xnp = A.xnp`
            q = self.fa.ix.resolve(node, self.env)
            return q is not None and q.split(".")[0] == namespaces.NUMPY and self.fa.ix.how == "import"
        q = self.fa.ix.resolve(node, self.env)
        return q is not None and self.fa.ix.how in ("import", "star")

    def self_class(self) -> str | None:
        """The class whose ``self`` this function reads: its own for a method, the enclosing
        method's for a closure inside it (``def loss_fn(params): ... self.kappa``)."""
        if self.cls_qual is not None or "self" in self.params:
            return self.cls_qual
        from kinkcheck.lint.kinds import _enclosing

        outer = _enclosing(self)
        return outer.self_class() if outer is not None else None

    def definition(self, name: str) -> ast.AST | None:
        return self.values.get(name)

    def bound_once(self, name: str) -> ast.AST | None:
        """The value a local name (no parameter) gets from its one assignment, else None."""
        if name in self.params or len(self.assignments().get(name, ())) != 1:
            return None
        return self.definition(name)

    def param_default(self, name: str) -> ast.AST | None:
        p = self.params.get(name)
        return p[1] if p else None

    def source(self, node: ast.AST) -> str:
        return self.fa.segment(node)

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(id(node))

    def method_call(self, value: ast.AST) -> tuple[ast.Attribute, ast.Call] | None:
        """The method called on ``value`` and its call (``.sum`` and ``x.sum(1)`` for ``x``);
        None where ``value`` is not the receiver of a call (``x.shape``, ``f(x)``)."""
        attr = self.parent(value)
        if not (isinstance(attr, ast.Attribute) and attr.value is value):
            return None
        call = self.parent(attr)
        return (attr, call) if isinstance(call, ast.Call) and call.func is attr else None

    def cast_operand(self, node: ast.AST) -> ast.AST | None:
        """``x`` of ``typing.cast(T, x)`` (the type checker's identity); None for any other
        node, ``tf.cast(x, dtype)`` included."""
        if isinstance(node, ast.Call) and len(node.args) == 2 and (self.qualify(node.func) or "") == "typing.cast":
            return node.args[1]
        return None

    def assignments(self) -> dict[str, list]:
        """name -> every value assigned to it in the function (loop targets and unpacking
        are opaque markers, not nodes)."""
        if self._assigns is None:
            self._assigns = assignments_in(self.fn if self.fn is not self.fa.tree else self.fa.tree)
        return self._assigns

    def array_receivers(self) -> set[str]:
        """Names this function calls array methods on (``m.mean()``, ``k.norm(dim=1)``)."""
        if self._array_receivers is None:
            self._array_receivers = {
                n.func.value.id for n in walk_local(self.fn if self.fn is not self.fa.tree else self.fa.tree)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
                and n.func.attr in ARRAY_METHODS}
        return self._array_receivers

    def numpy_arguments(self) -> set[str]:
        """Names this function hands straight to numpy (``np.log(diameter)``), never tested
        for their type (``isinstance(x, np.ndarray)`` dispatches numpy and torch inputs).
        In torch or JAX code such a value is no array that carries gradient: numpy raises
        on a tensor that requires grad and on a tracer."""
        if self._numpy_arguments is None:
            body = self.fn if self.fn is not self.fa.tree else self.fa.tree
            handed: set[str] = set()
            tested: set[str] = set()
            for n in walk_local(body):
                if not isinstance(n, ast.Call):
                    continue
                names = {a.id for a in (*n.args, *(k.value for k in n.keywords)) if isinstance(a, ast.Name)}
                if isinstance(n.func, ast.Name) and n.func.id in ("isinstance", "type") \
                        or (self.qualify(n.func) or "").rsplit(".", 1)[-1] in ("is_tensor", "is_array", "isscalar"):
                    tested |= names
                elif (self.qualify(n.func) or "").startswith("numpy."):
                    handed |= names
            self._numpy_arguments = handed - tested
        return self._numpy_arguments

    def no_grad_ids(self) -> set[int]:
        """ids of the nodes that run under ``torch.no_grad()`` in this function."""
        if self._no_grad is None:
            if self.fn is not self.fa.tree:
                self._no_grad = no_grad_nodes(self.fn, list(getattr(self.fn, "body", [])), self)
            else:  # module code: a `with torch.no_grad():` in a `__main__` block
                self._no_grad = no_grad_nodes(None, [s for s in self.fa.tree.body if not isinstance(
                    s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))], self)
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

    @property
    def scalar_loss(self) -> bool:
        """A loss or a hand-written derivative of one, named for it by its last word, in a file
        that imports no array library (``def dloss(self, p, y): if p * y < 1: ...``, river's
        and scikit-learn's per-sample losses): its parameters are the floats the loss is
        computed on, so a value of unknown kind there is one of them, not a Python setting.
        It must take a prediction by name (``p``, ``y_pred``, ``score``) beside something else:
        tooling that only mentions a loss (``loss_scope``, ``format_loss(value)``,
        ``early_stopping_criterion(history)``) or an Optuna ``objective(trial)`` is not one."""
        got = self.__dict__.get("_scalar_loss")
        if got is None:
            from kinkcheck.lint.roots import LOSS_FAMILY_RE, is_gradient_name

            name = getattr(self.fn, "name", "").lstrip("_")
            params = [p for p in self.params if p not in ("self", "cls")]
            got = self.__dict__["_scalar_loss"] = not self.fa.arrays and isinstance(
                self.fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and bool(
                _SCALAR_LOSS_RE.search(name) or LOSS_FAMILY_RE.search(name) or is_gradient_name(name)) \
                and len(params) >= 2 and any(_SCALAR_PREDICTION_RE.match(p) for p in params)
        return got

    # -- value kinds (kinkcheck.lint.kinds) ----------------------------------------------
    #: the kind of a node's value: TENSOR, DATA, PLAIN or UNKNOWN
    kind = kinds.kind
    #: the kind of a name read in this function
    name_kind = kinds.variable_kind


class FileAnalysis:
    """What the analysis knows about one file: its source, index, imports, the work budget,
    the astroid fallback's state and the kinds of module-level names and ``self`` attributes."""

    #: the rule catalog of the run (set by ``engine.analyze_file``)
    catalog: object

    def __init__(self, source: str, path: str, module: str, tree: ast.Module, budget: int, ix: _Indexer | None = None):
        self.source = source
        self.path = path
        self.module = module
        self.tree = tree
        self.lines = source_lines(source)  # split as the parser does (kinkcheck.source)
        self._raw_lines = raw_lines(source)  # with their endings: ast's offsets count in them
        self.budget = budget
        if ix is None:
            ix = _Indexer(tree, source, path, module)
            ix.run()
        self.ix = ix
        #: qualname -> parameters every call from loss code hands only data (``argflow``)
        self.data_params: dict[str, frozenset[str]] = {}
        #: qualname -> parameters every call from loss code hands a setting (``argflow``)
        self.setting_params: dict[str, frozenset[str]] = {}
        #: qualname -> the range a helper of another checked file always returns (``return_range``)
        self.return_ranges: dict[str, str] = {}
        #: qualname -> the parameters a helper of another checked file that returns data given
        #: data reads (``return_data``)
        self.data_returns: dict[str, tuple[tuple[str, int], ...]] = {}
        #: qualnames of this file's functions that other files' loss code calls (``outside_calls``)
        self.outside_calls: frozenset[str] = frozenset()
        self.reexports = Reexports(path, module)
        names = [*self.ix.table.names.values(), *self.ix.table.stars]
        roots = {q.split(".")[0] for q in names}
        self.framework = self.ix.framework_code
        self.jax = "jax" in roots
        self.torch = "torch" in roots
        self.numpy = "numpy" in roots
        #: JAX alone differentiates here: a Python branch or a host conversion of a traced value
        #: raises under ``jit`` (and most conversions under ``jax.grad`` too)
        self.jax_only = self.jax and not self.torch
        #: the file uses an array library (imported directly or re-exported by a sibling
        #: module): only then may a value of UNKNOWN kind be a tensor
        self.arrays = bool(roots & ARRAY_LIBRARIES) or any(
            self.follow(q).split(".")[0] in ARRAY_LIBRARIES for q in names if q.split(".")[0] not in BUILTIN_ROOTS)
        self._attr_kinds: dict[tuple[str, str], str] = {}
        self._buffers: set[str] | None = None
        self._module_ctx: Context | None = None
        #: astroid fallback: None until a call needs it; False when turned off
        self.inference: Any = None  # a FileInference once built (lint.infer_astroid)
        self.infer_enabled = True
        self._infer_tokens: frozenset[str] | None = None
        self._self_assigns: dict[str, list[ast.AST]] | None = None
        self._self_busy: set[str] = set()
        self._class_node_map: dict[str, ast.ClassDef] | None = None
        #: catalog tail names of the selected rules (set by analyze_file)
        self.tails: frozenset[str] | set[str] = frozenset()
        #: ast.Call id -> the qualified name astroid inferred for its callee
        self.inferred: dict[int, str] = {}

    def close(self) -> None:
        if self.inference is not None:
            self.inference.close()

    def class_node(self, qual: str) -> ast.ClassDef | None:
        """The ``class`` statement of the file's class ``qual`` (the table is built once per file)."""
        if self._class_node_map is None:
            self._class_node_map = dict(self.ix._class_nodes)
        return self._class_node_map.get(qual)

    def self_assigns(self) -> dict[str, list[ast.AST]]:
        """attr -> values assigned to ``self.<attr>`` anywhere, or to ``attr`` in a class body."""
        if self._self_assigns is None:
            out: dict[str, list[ast.AST]] = {}
            bare: set[int] = set()  # `self.matcher = matcher`: a parameter without default
            for fn in ast.walk(self.tree):
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    params = {k for k, (_, d) in parameters(fn).items() if d is None}
                    for n in walk_local(fn):
                        if isinstance(n, ast.Assign):
                            values = n.value.elts if isinstance(n.value, (ast.Tuple, ast.List)) else [n.value]
                            bare.update(id(v) for v in values if isinstance(v, ast.Name) and v.id in params)
            for node in ast.walk(self.tree):
                if isinstance(node, ast.ClassDef):
                    for stmt in node.body:
                        if isinstance(stmt, ast.Assign):
                            for t in stmt.targets:
                                if isinstance(t, ast.Name):
                                    out.setdefault(t.id, []).append(stmt.value)
                elif isinstance(node, (ast.Assign, ast.AnnAssign)) and getattr(node, "value", None) is not None:
                    for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                        for target, value in assigned_pairs(t, node.value):
                            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                                    and target.value.id == "self" and id(value) not in bare:
                                out.setdefault(target.attr, []).append(value)
            self._self_assigns = out
        return self._self_assigns

    def reset_kinds(self) -> None:
        self._module_ctx = None
        self._attr_kinds = {}
        for memo in ("_caller_contexts", "_enclosing"):  # Contexts built for other functions
            self.__dict__.pop(memo, None)

    def spend(self, n: int = 1) -> None:
        self.budget -= n
        if self.budget < 0:
            raise Budget()

    def follow(self, qname: str) -> str:
        root = qname.split(".")[0]
        if root == namespaces.NUMPY:
            return namespaces.as_numpy(qname[len(root) + 1:])  # `nx.norm` of a backend namespace
        if root == "flax":
            return namespaces.reexported(qname) or qname  # `nn.relu` of flax.linen is jax.nn.relu
        if root in ARRAY_ROOTS or root in ("builtins", "math", "operator"):
            return qname
        return namespaces.backend_module(qname, self.module.split(".")[0]) or self.reexports.follow(qname)

    def segment(self, node: ast.AST) -> str:
        """Source text of a node (``ast.get_source_segment`` re-splits the whole file on
        every call, which is quadratic on big files)."""
        try:
            lineno, end_lineno = node.lineno - 1, node.end_lineno - 1  # type: ignore[attr-defined]
            col, end_col = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
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

    # -- value kinds (kinkcheck.lint.kinds_members) --------------------------------------
    module_kind = kinds_members.module_kind
    attr_kind = kinds_members.attr_kind
    buffers = kinds_members.buffers


#: calls that create a parameter or a state variable from an initializer they are handed
_CREATORS = frozenset({"param", "variable", "get_parameter", "get_state", "create_parameter"})
#: keywords an initializer is handed by (flax's `kernel_init=`, haiku's `w_init=`, `init_fn=`)
_INIT_KEYWORD = lazy_pattern(r"^(init|init_fn|initializer|\w+_init)$")


def initializer_lambdas(call: ast.Call) -> list[ast.Lambda]:
    """Lambdas ``call`` is handed as a parameter's initializer (``self.param("log_alpha",
    lambda key: jnp.full((), jnp.log(init)))``, ``kernel_init=lambda ...``): they make a starting
    value once, when the model is built; nothing differentiates them."""
    found = [k.value for k in call.keywords if isinstance(k.value, ast.Lambda) and k.arg and _INIT_KEYWORD.match(k.arg)]
    if isinstance(call.func, ast.Attribute) and call.func.attr in _CREATORS:
        found += [a for a in call.args if isinstance(a, ast.Lambda)]
    return found


def no_grad_nodes(fn: ast.AST | None, roots: "list[ast.stmt] | list[ast.AST]", ctx: Context) -> set[int]:
    """ids of the nodes that run with gradients off: the whole body of a function decorated
    ``@torch.no_grad()``, the body of ``with torch.no_grad():``, a parameter's initializer."""
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
            elif isinstance(n, ast.Call):
                for lam in initializer_lambdas(n):
                    out.update(id(m) for m in ast.walk(lam.body))
    return out

