"""The cheap pass: one stdlib-``ast`` walk per file, before anything expensive.

``index_source`` records what scope analysis needs (functions, the calls they make as
qualified names, which are roots and why) and whether the file contains any candidate op
at all. The result is plain data (picklable, cacheable by file content), so a driver can
index a whole tree in a process pool and build nothing else for files out of scope.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
from dataclasses import dataclass, field

from kinkcheck.lint.resolve import BUILTIN_NAMES, ImportTable, _module_level, dotted, module_exports

INDEX_VERSION = 3

MODULE_CODE = "<module>"

#: Calls that make their first argument (a function) a differentiated root.
GRAD_TRANSFORMS = frozenset(
    {
        "jax.grad", "jax.value_and_grad", "jax.vjp", "jax.jvp", "jax.jacrev", "jax.jacfwd",
        "jax.hessian", "jax.linearize", "torch.func.grad", "torch.func.grad_and_value",
        "torch.func.vjp", "torch.func.jacrev", "torch.func.jacfwd", "torch.func.hessian",
        "functorch.grad", "functorch.grad_and_value", "functorch.vjp", "functorch.jacrev",
        "functorch.jacfwd", "equinox.filter_grad", "equinox.filter_value_and_grad",
    }
)
#: Calls whose first argument (an expression) is differentiated.
GRAD_OF_EXPR = frozenset({"torch.autograd.grad", "torch.autograd.backward"})

LOSS_BASES = frozenset({"torch.nn.modules.loss._Loss", "torch.nn.modules.loss._WeightedLoss"})
MODEL_BASES = frozenset(
    {"torch.nn.Module", "torch.nn.modules.module.Module", "flax.linen.Module", "flax.nnx.Module",
     "equinox.Module", "haiku.Module", "pytorch_lightning.LightningModule", "lightning.LightningModule"}
)
LOSS_NAME_RE = re.compile(r"loss|objective|criterion|(^|_)(nll|elbo)(_|$)", re.IGNORECASE)
LOSS_CLASS_RE = re.compile(r"(Loss|Criterion|Objective)$")
MARK_RE = re.compile(r"#\s*kinkcheck:\s*loss\b")
FORWARD_NAMES = ("forward", "__call__")


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    """One function (or a file's module-level code, named ``<module>``)."""

    qualname: str
    name: str
    line: int
    end_line: int
    calls: tuple[str, ...] = ()
    #: calls made by the statements that feed ``.backward()`` / ``autograd.grad`` only
    slice_calls: tuple[str, ...] = ()
    #: why this is a root: "name", "loss-class", "decorator", "comment", "backward", "grad-transform"
    root: str | None = None
    has_candidates: bool = False
    #: ``forward``/``__call__`` of an nn.Module / flax module (scope "model")
    model_forward: bool = False
    class_qualname: str | None = None


@dataclass(frozen=True, slots=True)
class FileIndex:
    module: str
    path: str
    imports: dict[str, str] = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    #: class qualname -> qualified base names
    classes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: qualified names of functions handed to jax.grad / torch.func.grad & co. in this file
    grad_targets: tuple[str, ...] = ()
    may_have_findings: bool = False
    version: int = INDEX_VERSION

    @property
    def roots(self) -> dict[str, str]:
        return {q: f.root for q, f in self.functions.items() if f.root}


@functools.lru_cache(maxsize=1)
def candidate_names() -> frozenset[str]:
    """Last segments of every catalog callable and every method name: a call whose name is
    not in here cannot be a finding of a name-matched rule."""
    from kinkcheck import catalog
    from kinkcheck.lint.checks import extra_candidate_names

    names: set[str] = set(extra_candidate_names())
    for rule in catalog.load().values():
        names.update(c.rsplit(".", 1)[-1] for c in rule.match.callables)
        names.update(rule.match.methods)
    return frozenset(names)


def cache_salt() -> str:
    """Mix into a per-file cache key: the index depends on the catalog's names."""
    h = hashlib.sha1(f"{INDEX_VERSION}".encode())
    for n in sorted(candidate_names()):
        h.update(n.encode())
    return h.hexdigest()[:16]


def index_source(source: str, path: str, module: str) -> FileIndex:
    """Index one file. Raises SyntaxError/ValueError for unparsable source, and
    ``deep.TooDeep`` (a RecursionError) for nesting beyond even the deep retry."""
    from kinkcheck.lint import deep

    return deep.run(_index_source, source, path, module)


def _index_source(source: str, path: str, module: str) -> FileIndex:
    try:
        tree = ast.parse(source, path)
    except MemoryError:
        raise SyntaxError(f"{path}: expression nested too deeply to parse") from None
    ix = _Indexer(tree, source, path, module)
    out = ix.run()
    _RECENT[:] = [(path, module, source, tree, ix), *_RECENT[:1]]
    return out


#: the last files indexed in this process: (path, module, source, tree, indexer)
_RECENT: list[tuple] = []


def recall(source: str, path: str, module: str) -> "tuple[ast.Module, _Indexer] | None":
    """The tree and indexer ``index_source`` just built for this very source, so that the
    engine, when it runs in the same process right after (the one-file pre-commit case),
    does not parse and index the file a second time."""
    for p, m, src, tree, ix in _RECENT:
        if p == path and m == module and (src is source or src == source):
            return tree, ix
    return None


def _qual(module: str, name: str) -> str:
    return f"{module}.{name}" if module else name


def is_package_path(path: str) -> bool:
    return path.replace("\\", "/").rsplit("/", 1)[-1] == "__init__.py"


def local_bindings(fn: ast.AST, nodes: list | None = None) -> tuple[set[str], dict[str, ast.AST]]:
    """Names bound in a function (params, assignments, loop targets, with-as; a local
    ``import`` resolves through the file's import table instead) and,
    for names assigned exactly once, the assigned value (used to follow simple aliases)."""
    bound: set[str] = set()
    counts: dict[str, int] = {}
    values: dict[str, ast.AST] = {}
    args = getattr(fn, "args", None)
    if args is not None:
        for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if a is not None:
                bound.add(a.arg)
    for node in nodes if nodes is not None else walk_local(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
            counts[node.id] = counts.get(node.id, 0) + 1
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = node.value
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not fn:
            bound.add(node.name)
    values = {k: v for k, v in values.items() if counts.get(k) == 1}
    return bound, values


#: per node type, the fields that can hold child nodes (``ctx`` and plain-value fields
#: left out: ``Load()``/``Store()`` markers are never looked at)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
_SCALAR_FIELDS = frozenset({"ctx", "id", "attr", "arg", "asname", "level", "kind", "type_comment", "conversion",
                            "is_async", "simple", "lineno", "col_offset"})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _child_fields(cls: type) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(cls)
    if fields is None:
        fields = tuple(f for f in cls._fields if f not in _SCALAR_FIELDS and not (cls is ast.Constant and f == "value"))
        _CHILD_FIELDS[cls] = fields
    return fields


def _children(node: ast.AST, out: list) -> None:
    """Append the child nodes of ``node`` (what ``ast.iter_child_nodes`` gives, less the
    expression-context markers) to ``out``."""
    fields = _CHILD_FIELDS.get(node.__class__) or _child_fields(node.__class__)
    AST = ast.AST
    for f in fields:
        v = getattr(node, f, None)
        if v is None:
            continue
        if v.__class__ is list:
            for item in v:
                if isinstance(item, AST):
                    out.append(item)
        elif isinstance(v, AST):
            out.append(v)


def walk_local(fn: ast.AST):
    """Every node of a function's body, not descending into nested defs/classes (but into
    lambdas and comprehensions, which run as part of the function). Expression-context
    markers (``Load()``) are not yielded."""
    if isinstance(fn, list):
        stack = list(fn)
    elif isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        # decorators and defaults are evaluated outside; the body is what runs
        stack = [*fn.body]
    else:
        stack = []
        _children(fn, stack)
    pop, children = stack.pop, _children
    while stack:
        node = pop()
        yield node
        if isinstance(node, _SCOPES):
            continue
        children(node, stack)


class _Indexer:
    def __init__(self, tree: ast.Module, source: str, path: str, module: str):
        self.tree = tree
        self.lines = source.splitlines()
        self.path = path
        self.module = module
        self.is_package = is_package_path(path)
        #: one walk over the file: the nodes of each scope, every import, every class
        self._walk()
        self.table: ImportTable = self._import_table()
        self.exports = module_exports(tree, module, self.is_package, self.table)
        self.functions: dict[str, FunctionInfo] = {}
        self.classes: dict[str, tuple[str, ...]] = {}
        self.class_attrs: dict[str, dict[str, str]] = {}
        self.grad_targets: list[str] = []
        self.cands = candidate_names()
        #: qualname -> (def node or the module, its name environment, enclosing class)
        self.scopes: dict[str, tuple[ast.AST, _Env, str | None]] = {}
        self.how: str | None = None

    # -- the one walk --------------------------------------------------------------------
    def _walk(self) -> None:
        """Walk every node once: ``self._nodes`` maps each def (and the module) to its own
        nodes (``walk_local``), ``self._imports`` lists every import statement and
        ``self._class_nodes`` the classes with the defs lexically inside them."""
        self._nodes: dict[int, list[ast.AST]] = {}
        self._imports: list[ast.AST] = []
        self._class_defs: dict[int, list[ast.AST]] = {}  # class id -> defs inside it, any depth
        module_nodes = list(_module_nodes(self.tree))
        top_defs = [s for s in self.tree.body if isinstance(s, _SCOPES)]
        self._nodes[id(self.tree)] = module_nodes
        self._top_defs = top_defs
        module_nodes = [*module_nodes, *top_defs]
        todo: list[tuple[ast.AST, tuple[ast.ClassDef, ...]]] = []

        def scan(nodes, classes):
            for n in nodes:
                if isinstance(n, (ast.Import, ast.ImportFrom)):
                    self._imports.append(n)
                elif isinstance(n, _SCOPES):
                    todo.append((n, classes))

        scan(module_nodes, ())
        while todo:
            node, classes = todo.pop()
            if isinstance(node, ast.ClassDef):
                self._class_defs[id(node)] = []
                # the class body's own statements (class attributes, a stray import)
                body = [n for n in walk_local(node.body) if not isinstance(n, _SCOPES)]
                self._nodes[id(node)] = body
                scan(body, classes + (node,))
                for stmt in node.body:
                    if isinstance(stmt, _SCOPES):
                        todo.append((stmt, classes + (node,)))
                    else:
                        scan([n for n in walk_local([stmt]) if isinstance(n, _SCOPES)], classes + (node,))
                continue
            nodes = list(walk_local(node))
            self._nodes[id(node)] = nodes
            for cls in classes:
                self._class_defs[id(cls)].append(node)
            scan(nodes, classes)

    def _import_table(self) -> ImportTable:
        """Module-level imports win over function-level ones; among those, the first in the
        file wins (``resolve.import_table`` without walking the tree again)."""
        table = ImportTable()
        for stmt in _module_level(self.tree.body):
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                table.add(stmt, self.module, self.is_package)
        for node in sorted(self._imports, key=lambda n: (n.lineno, n.col_offset)):
            table.add(node, self.module, self.is_package, override=False)
        return table

    # -- resolution -------------------------------------------------------------------
    def resolve(self, node: ast.AST, env: "_Env") -> str | None:
        """Qualified name of a Name/Attribute chain; sets ``self.how`` to how it was found:
        "import", "def", "builtin", "star", "instance" (a value built by calling a class,
        so calling it runs that class) or "self" (a method of the enclosing class)."""
        self.how = None
        d = dotted(node)
        if d is None:
            return None
        head, _, rest = d.partition(".")
        base = env.lookup(head, self)
        if base is None:
            return None
        if base.startswith("self:"):
            cls = base[5:]
            if not rest:
                return None
            attr, _, more = rest.partition(".")
            ctor = self.class_attrs.get(cls, {}).get(attr)
            if ctor and not more:
                self.how = "instance"
                return ctor
            self.how = "self"
            return f"{cls}.{rest}"
        if rest and self.how == "instance":
            self.how = "attribute-of-instance"
        return f"{base}.{rest}" if rest else base

    # -- walk ----------------------------------------------------------------------------
    def run(self) -> FileIndex:
        self._collect_classes(self.tree.body, self.module, None)
        module_nodes = self._nodes[id(self.tree)]
        bound, values = local_bindings(self.tree, [*module_nodes, *self._top_defs])
        bound -= set(self.exports)
        module_env = _Env(None, bound, values, None, self.module)
        self._function(self.tree, _qual(self.module, MODULE_CODE), MODULE_CODE, module_env, None, module_nodes)
        self._defs(self.tree.body, self.module, module_env, None)
        funcs = self.functions
        return FileIndex(
            module=self.module,
            path=self.path,
            imports=dict(self.table.names),
            exports=self.exports,
            functions=funcs,
            classes=self.classes,
            grad_targets=tuple(dict.fromkeys(self.grad_targets)),
            may_have_findings=any(f.has_candidates for f in funcs.values()),
        )

    def _collect_classes(self, body, prefix: str, cls_qual: str | None) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                q = _qual(prefix, stmt.name)
                env = _Env(None, set(), {}, None, self.module)
                bases = tuple(b for b in (self.resolve(x, env) or dotted(x) or "" for x in stmt.bases) if b)
                self.classes[q] = bases
                attrs: dict[str, str] = {}
                inside = [*self._nodes.get(id(stmt), ())]
                for d in self._class_defs.get(id(stmt), ()):
                    inside.extend(self._nodes.get(id(d), ()))
                assigns = sorted((n for n in inside if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)),
                                 key=lambda n: (n.lineno, n.col_offset))  # the last in the file wins
                for node in assigns:
                    for t in node.targets:
                        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                            ctor = self.resolve(node.value.func, env)
                            if ctor:
                                attrs[t.attr] = ctor
                self.class_attrs[q] = attrs
                self._collect_classes(stmt.body, q, q)

    def _defs(self, body, prefix: str, env: "_Env", cls_qual: str | None) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                q = _qual(prefix, stmt.name)
                nodes = self._nodes.get(id(stmt))
                if nodes is None:
                    nodes = list(walk_local(stmt))
                bound, values = local_bindings(stmt, nodes)
                fenv = _Env(env, bound, values, cls_qual, self.module, prefix=q, nested=self._nested(nodes, q))
                self._function(stmt, q, stmt.name, fenv, cls_qual, nodes)
                self._defs(stmt.body, q, fenv, None)
            elif isinstance(stmt, ast.ClassDef):
                q = _qual(prefix, stmt.name)
                self._defs(stmt.body, q, env, q)
            elif isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
                for sub in ("body", "orelse", "finalbody"):
                    self._defs(getattr(stmt, sub, ()) or (), prefix, env, cls_qual)
                for handler in getattr(stmt, "handlers", ()) or ():
                    self._defs(handler.body, prefix, env, cls_qual)

    @staticmethod
    def _nested(nodes, q: str) -> dict[str, str]:
        return {
            s.name: f"{q}.{s.name}"
            for s in nodes
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        }

    def _function(self, fn, qualname: str, name: str, env: "_Env", cls_qual: str | None, nodes=None) -> None:
        self.scopes[qualname] = (fn, env, cls_qual)
        calls: list[str] = []
        has_cands = False
        if nodes is None:
            nodes = list(walk_local(fn)) if fn is not self.tree else list(_module_nodes(self.tree))
        backward_exprs: list[ast.AST] = []
        for node in nodes:
            if isinstance(node, ast.Call):
                target = self.resolve(node.func, env)
                if target:
                    calls.append(target)
                    if target in GRAD_TRANSFORMS and node.args:
                        self._grad_target(node.args[0], env, calls)
                    if target in GRAD_OF_EXPR and node.args:
                        backward_exprs.append(node.args[0])
                if isinstance(node.func, ast.Attribute) and node.func.attr == "backward" and not target:
                    backward_exprs.append(node.func.value)
                last = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if last in self.cands or last == "getattr" or (target and target.rsplit(".", 1)[-1] in self.cands):
                    has_cands = True
            elif isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(
                node.op, (ast.Div, ast.Pow, ast.FloorDiv, ast.Mod)
            ):
                has_cands = True
            elif isinstance(node, (ast.Compare, ast.If, ast.While, ast.IfExp)):
                has_cands = True
            elif isinstance(node, ast.Attribute) and (node.attr == "data" or node.attr in self.cands):
                # `torch.abs` used as a value (a dict entry, a default argument, a partial):
                # only the astroid fallback can follow it to its call, so analyze the file
                has_cands = True
        root = None
        decorators = getattr(fn, "decorator_list", ())
        for dec in decorators:
            target = self.resolve(dec.func if isinstance(dec, ast.Call) else dec, env)
            if target == "kinkcheck.loss":
                root = "decorator"
            elif target in GRAD_TRANSFORMS:
                root = "grad-transform"
            if target:
                calls.append(target)
        if root is None and fn is not self.tree:
            first = fn.lineno - 1
            last = fn.body[0].lineno - 1 if fn.body else first
            if any(MARK_RE.search(self.lines[i]) for i in range(first, min(last, first + 20) + 1) if i < len(self.lines)):
                root = "comment"
        model_forward = False
        if cls_qual is not None and name in FORWARD_NAMES:
            if self._class_is(cls_qual, LOSS_BASES, loss=True):
                root = root or "loss-class"
            elif self._class_is(cls_qual, MODEL_BASES, loss=False):
                model_forward = True
        if root is None and fn is not self.tree and LOSS_NAME_RE.search(name):
            root = "name"
        slice_calls: tuple[str, ...] = ()
        if backward_exprs:
            root = root or "backward"
            body = fn.body
            sliced = backward_slice(body, backward_exprs)
            sc = []
            for stmt_or_expr in sliced:
                for node in ast.walk(stmt_or_expr):
                    if isinstance(node, ast.Call):
                        t = self.resolve(node.func, env)
                        if t:
                            sc.append(t)
            slice_calls = tuple(dict.fromkeys(sc))
        end = getattr(fn, "end_lineno", None) or len(self.lines) or 1
        self.functions[qualname] = FunctionInfo(
            qualname=qualname,
            name=name,
            line=getattr(fn, "lineno", 1),
            end_line=end,
            calls=tuple(dict.fromkeys(calls)),
            slice_calls=slice_calls,
            root=root,
            has_candidates=has_cands,
            model_forward=model_forward,
            class_qualname=cls_qual,
        )

    def _grad_target(self, arg: ast.AST, env: "_Env", calls: list[str]) -> None:
        if isinstance(arg, ast.Lambda):
            for node in ast.walk(arg.body):
                if isinstance(node, ast.Call):
                    t = self.resolve(node.func, env)
                    if t:
                        self.grad_targets.append(t)
            return
        if isinstance(arg, ast.Call):  # jax.grad(partial(loss, cfg)) / jax.jit(loss)
            if arg.args:
                self._grad_target(arg.args[0], env, calls)
            return
        t = self.resolve(arg, env)
        if t:
            self.grad_targets.append(t)

    def _class_is(self, cls_qual: str, bases: frozenset[str], *, loss: bool, depth: int = 0) -> bool:
        if loss and LOSS_CLASS_RE.search(cls_qual.rsplit(".", 1)[-1]):
            return True
        if depth > 8:
            return False
        for base in self.classes.get(cls_qual, ()):
            if base in bases:
                return True
            tail = base.rsplit(".", 1)[-1]
            if loss and (base.startswith("torch.nn.") and tail.endswith("Loss")):
                return True
            if not loss and base.startswith(("torch.nn.", "flax.", "equinox.", "haiku.")) and tail == "Module":
                return True
            if base in self.classes and self._class_is(base, bases, loss=loss, depth=depth + 1):
                return True
        return False


def _module_nodes(tree: ast.Module):
    """Module-level code: every statement outside defs and classes."""
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        yield from walk_local([stmt])


def backward_slice(body: list[ast.stmt], exprs: list[ast.AST]) -> list[ast.AST]:
    """The statements (and expressions) that compute what is differentiated: the
    ``.backward()`` receivers plus every assignment their names depend on, transitively."""
    needed: set[str] = set()
    for e in exprs:
        needed |= _loads(e)
    assigns = [n for stmt in body for n in walk_local([stmt]) if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign))]
    chosen: list[ast.AST] = list(exprs)
    seen: set[int] = set()
    changed = True
    while changed:
        changed = False
        for a in assigns:
            if id(a) in seen:
                continue
            targets = a.targets if isinstance(a, ast.Assign) else [a.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            if names & needed and getattr(a, "value", None) is not None:
                seen.add(id(a))
                chosen.append(a)
                needed |= _loads(a.value)
                if isinstance(a, ast.AugAssign):
                    needed |= names
                changed = True
    return chosen


def _loads(expr: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


class _Env:
    """Name lookup for one function: locals shadow enclosing functions, module names,
    imports and builtins. Returns a qualified name, ``self:<class>`` or None (a value)."""

    def __init__(self, parent, bound, values, cls_qual, module, prefix=None, nested=None):
        self.parent = parent
        self.bound = bound
        self.values = values
        self.cls_qual = cls_qual
        self.module = module
        self.nested = nested or {}
        self._busy: set[str] = set()

    def lookup(self, name: str, ix: "_Indexer") -> str | None:
        if name in self.nested:
            ix.how = "def"
            return self.nested[name]
        if name in self.bound:
            if name == "self" and self.cls_qual:
                return f"self:{self.cls_qual}"
            value = self.values.get(name)
            if value is not None and name not in self._busy:
                self._busy.add(name)
                try:
                    if isinstance(value, (ast.Name, ast.Attribute)):
                        out = ix.resolve(value, self)
                        if ix.how == "instance":
                            ix.how = "attribute-of-instance" if "." in (dotted(value) or "") else "instance"
                        return out
                    if isinstance(value, ast.Call):
                        ctor = ix.resolve(value.func, self)
                        if ctor and ctor.rsplit(".", 1)[-1][:1].isupper():
                            ix.how = "instance"
                            return ctor  # an instance: calling it calls the class
                finally:
                    self._busy.discard(name)
            return None
        if self.parent is not None:
            return self.parent.lookup(name, ix)
        if name in ix.exports:
            q = ix.exports[name]
            ix.how = "import" if name in ix.table.names or not q.startswith(ix.module) else "def"
            return q
        if name in ix.table.names:
            ix.how = "import"
            return ix.table.names[name]
        if name in BUILTIN_NAMES:
            ix.how = "builtin"
            return f"builtins.{name}"
        for star in ix.table.stars:
            ix.how = "star"
            return f"{star}.{name}"
        return None
