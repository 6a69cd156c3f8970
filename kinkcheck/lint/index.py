"""The cheap pass: one stdlib-``ast`` walk per file, before anything expensive.

``index_source`` records what scope analysis needs (functions, the calls they make as
qualified names, which are roots and why, and through ``values.py`` the callables each
function calls through values, stores, passes and returns) and whether the file contains
any candidate op at all. The result is plain data (picklable, cacheable by file content),
so a driver can index a whole tree in a process pool and build nothing else for files out
of scope. The rules for roots are in ``roots.py``.
"""

from __future__ import annotations

import ast
import functools

from kinkcheck.lint import return_data, return_range
from kinkcheck.lint.argflow import summarise
from kinkcheck.lint.bindings import parameters, setting_attributes, setting_params
from kinkcheck.lint.call_sites import bases_among
from kinkcheck.lint.callables import ours, param_defaults, param_names
from kinkcheck.lint.env import _Env
# the records the index produces (scope, the cache and the driver read them from here too)
from kinkcheck.lint.index_records import APPLIES_GRADIENTS, INDEX_VERSION, MODULE_CODE, FileIndex, FunctionInfo
from kinkcheck.lint.namespaces import NAMESPACE_ATTRS, NUMPY
from kinkcheck.lint.pinned import Setting, call_settings
from kinkcheck.lint.reported_calls import reported_targets
from kinkcheck.lint.resolve import (
    ARRAY_LIBRARIES,
    FRAMEWORK_ROOTS,
    ImportTable,
    _module_level,
    dotted,
    module_exports,
)
from kinkcheck.lint.roots import (
    FORWARD_NAMES,
    GRAD_OF_EXPR,
    GRAD_TRANSFORMS,
    METRIC_NAME_RE,
    backward_operand,
    creates_graph,
    differentiated_expr,
    function_root,
    library_loss,
    returns_library_loss,
    returned_losses,
    returns_the_loss,
    transform_argnums,
)
from kinkcheck.lint.values import ValuePass, attribute_ctors, bind_names, param_annotations
from kinkcheck.lint.walk import (
    _SCOPES,
    _module_nodes,
    backward_slice,
    local_bindings,
    walk_local,
)
from kinkcheck.source import lines as source_lines
from kinkcheck.syntax import callee_tail


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
    import hashlib  # here: a --no-cache run never loads OpenSSL

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


def _blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists a compound statement holds: its body, ``else``, ``finally`` and
    ``except`` blocks."""
    blocks = [getattr(stmt, sub, None) or [] for sub in ("body", "orelse", "finalbody")]
    return blocks + [h.body for h in getattr(stmt, "handlers", None) or ()]


def _qual(module: str, name: str) -> str:
    return f"{module}.{name}" if module else name


def is_package_path(path: str) -> bool:
    return path.replace("\\", "/").rsplit("/", 1)[-1] == "__init__.py"


class _Indexer:
    def __init__(self, tree: ast.Module, source: str, path: str, module: str):
        self.tree = tree
        self.lines = source_lines(source)  # numbered as the parser numbers them
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
        #: class -> attribute -> every class its methods build it from (`self.scaler = A()` or `B()`)
        self.class_ctors: dict[str, dict[str, tuple[str, ...]]] = {}
        #: class -> the attributes its methods only ever fill with settings (argflow), less those
        #: a base or a subclass of the file stores something else in
        self.class_settings: dict[str, frozenset[str]] = {}
        self._class_state: dict[str, frozenset[str]] = {}
        self.grad_targets: list[str] = []
        self.grad_argnums: list[tuple[str, tuple[int, ...] | None]] = []
        self.cands = candidate_names()
        #: qualname -> (def node or the module, its name environment, enclosing class)
        self.scopes: dict[str, tuple[ast.AST, _Env, str | None]] = {}
        #: earlier definitions of a name defined again (``if inplace: def f ... else: def f``):
        #: checked with the last one, whichever the code runs
        self.shadowed: dict[str, list[tuple[ast.AST, _Env, str | None]]] = {}
        self.how: str | None = None
        self.valuepass: ValuePass | None = ValuePass(self)
        self._class_nodes: list[tuple[str, ast.ClassDef]] = []
        #: hand-written derivatives are roots in array code only
        self.array_code = any(v.partition(".")[0] in ARRAY_LIBRARIES
                              for v in (*self.table.names.values(), *self.table.stars))
        #: ... and metrics are losses by name only where a framework differentiates them
        self.framework_code = any(v.partition(".")[0] in FRAMEWORK_ROOTS
                                  for v in (*self.table.names.values(), *self.table.stars))

    def qual(self, name: str) -> str:
        return _qual(self.module, name)

    # -- the one walk --------------------------------------------------------------------
    def _walk(self) -> None:
        """Walk every node once: ``self._nodes`` maps each def (and the module) to its own
        nodes (``walk_local``), ``self._imports`` lists every import statement and
        ``self._class_nodes`` the classes with the defs lexically inside them."""
        self._nodes: dict[int, list[ast.AST]] = {}
        self._imports: list[ast.Import | ast.ImportFrom] = []
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
    def _library_name(self, node: ast.AST, env: "_Env") -> str | None:
        """The qualified name of an imported module's attribute (``torch.rand``); None for
        anything else (a local value, a method of one, a function of this file)."""
        q = self.resolve(node, env)
        return q if self.how in ("import", "star", "builtin") else None

    def resolve(self, node: ast.AST, env: "_Env") -> str | None:
        """Qualified name of a Name/Attribute chain; sets ``self.how`` to how it was found:
        "import", "def", "builtin", "star", "instance" (a value built by calling a class,
        so calling it runs that class) or "self" (a method of the enclosing class)."""
        self.how = None
        d = dotted(node)
        if d is None:
            return None
        head, _, rest = d.partition(".")
        parts = d.split(".")
        at = next((i for i, p in enumerate(parts) if i and p in NAMESPACE_ATTRS), None)
        if at is not None:
            self.how = "import"  # `A.xnp.norm(v)`: the array namespace an operator carries
            return ".".join((NUMPY, *parts[at + 1:]))
        base = env.lookup(head, self)
        if base is None:
            self.how = None  # the lookup may have resolved something else on the way
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

    def _method_of_new(self, func: ast.Attribute, env: "_Env") -> str | None:
        """``Beta(a, b).log_prob(x)``: the method of the class just built."""
        ctor = self.resolve(func.value.func, env) if isinstance(func.value, ast.Call) else None
        if ctor is None or self.how not in ("def", "import", "star") or not ctor.rsplit(".", 1)[-1][:1].isupper():
            self.how = None
            return None
        self.how = "attribute-of-instance"
        return f"{ctor}.{func.attr}"

    # -- walk ----------------------------------------------------------------------------
    def run(self) -> FileIndex:
        self._collect_classes(self.tree.body, self.module, None)
        self._unsettle_related()
        module_nodes = self._nodes[id(self.tree)]
        bound, values = local_bindings(self.tree, [*module_nodes, *self._top_defs])
        bound -= set(self.exports)
        module_env = _Env(None, bound, values, None, self.module)
        self._function(self.tree, _qual(self.module, MODULE_CODE), MODULE_CODE, module_env, None, module_nodes)
        self._defs(self.tree.body, self.module, module_env, None)
        vp = self.valuepass
        assert vp is not None, "an index is built once"
        vp.class_bindings(self._class_nodes, module_env)
        vp.index_lambdas(_Env)
        self.valuepass = None
        vp.close()  # it and its helper point back here: leave no cycle for the collector
        funcs = self.functions
        return FileIndex(
            module=self.module,
            path=self.path,
            imports=dict(self.table.names),
            exports=self.exports,
            functions=funcs,
            classes=self.classes,
            grad_targets=tuple(dict.fromkeys(self.grad_targets)),
            grad_argnums=tuple(dict.fromkeys(self.grad_argnums)),
            may_have_findings=any(f.has_candidates for f in funcs.values()),
            bindings={k: tuple(dict.fromkeys(v)) for k, v in vp.bindings.items()},
            passes=tuple(dict.fromkeys(vp.passes)),
            bound_roots=tuple(dict.fromkeys(vp.bound_roots)),
            stars=tuple(self.table.stars),
            networks=tuple(sorted(vp.networks)),
        )

    def _collect_classes(self, body, prefix: str, cls_qual: str | None) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                q = _qual(prefix, stmt.name)
                self._class_nodes.append((q, stmt))
                env = _Env(None, set(), {}, None, self.module)
                # `Distribution[Array, ...]`: a generic base is its class
                bare = [x.value if isinstance(x, ast.Subscript) else x for x in stmt.bases]
                bases = tuple(b for b in (self.resolve(x, env) or dotted(x) or "" for x in bare) if b)
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
                            ctor = self.resolve(node.value.func, env)  # type: ignore[attr-defined]  # a Call (sorted above)
                            if ctor:
                                attrs[t.attr] = ctor
                self.class_attrs[q] = attrs
                self.class_ctors[q] = attribute_ctors(inside, lambda func: self.resolve(func, env))
                self.class_settings[q], self._class_state[q] = setting_attributes(
                    [(d, self._nodes.get(id(d), [])) for d in self._class_defs.get(id(stmt), ())])
                self._collect_classes(stmt.body, q, q)
            elif isinstance(stmt, (ast.If, ast.Try, ast.With)):
                # `if is_torch_distributed_available(): class _AllReduce(torch.autograd.Function)`:
                # a class defined under a guard is the module's, as `_defs` reads its methods
                for block in _blocks(stmt):
                    self._collect_classes(block, prefix, cls_qual)

    def _unsettle_related(self) -> None:
        """A setting attribute of a class is state once a base or a subclass in the file stores
        a tensor there (``self.scale = pred.abs().mean()`` in a subclass's forward)."""
        ancestors = {q: set(bases_among(self.classes, q, len(self.classes))) for q in self.classes}
        for q in self.class_settings:
            related = ancestors.get(q, set()) | {d for d, up in ancestors.items() if q in up}
            state = frozenset().union(*(self._class_state.get(r, frozenset()) for r in related))
            self.class_settings[q] = self.class_settings[q] - state

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
                for block in _blocks(stmt):
                    self._defs(block, prefix, env, cls_qual)

    @staticmethod
    def _nested(nodes, q: str) -> dict[str, str]:
        return {
            s.name: f"{q}.{s.name}"
            for s in nodes
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        }

    def _function(self, fn, qualname: str, name: str, env: "_Env", cls_qual: str | None, nodes=None,
                  is_lambda: bool = False) -> None:
        earlier = self.scopes.get(qualname)
        if earlier is not None and earlier[0] is not fn:
            self.shadowed.setdefault(qualname, []).append(earlier)
        self.scopes[qualname] = (fn, env, cls_qual)
        calls: list[str] = []
        settings: list[Setting] = []
        has_cands = False
        if nodes is None:
            nodes = list(walk_local(fn)) if fn is not self.tree else list(_module_nodes(self.tree))
        backward_exprs: list[ast.AST] = []
        double_backward = False
        applies_gradients = False
        #: for the value pass: calls with what the import table made of their callee,
        #: assignments, returns, and every local binding of a name
        call_nodes: list[tuple[ast.Call, str | None]] = []
        hows: dict[int, tuple[str | None, str | None]] = {}
        instances: dict[int, tuple[str, ...]] = {}
        stores: list[ast.AST] = []
        returned: list[ast.AST] = []
        assigns: dict[str, list[ast.AST]] = {}
        quiet = self._no_grad_calls(fn, nodes, env)
        for node in nodes:
            kind = node.__class__
            if kind is ast.Call:
                target = self.resolve(node.func, env)
                how = self.how
                if target is None and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call):
                    target = self._method_of_new(node.func, env)
                call_nodes.append((node, target))
                hows[id(node)] = (target, how)
                if how == "instance" and cls_qual is not None and isinstance(node.func, ast.Attribute):
                    built = self.class_ctors.get(cls_qual, {}).get(node.func.attr)
                    if built and len(built) > 1:
                        instances[id(node)] = built
                if target and id(node) not in quiet:
                    calls.append(target)
                    if ours(target):
                        settings.append(call_settings(target, node))
                    if target in GRAD_TRANSFORMS and node.args:
                        self._grad_target(node.args[0], env, calls, transform_argnums(node, target))
                    differentiated = differentiated_expr(node) if target in GRAD_OF_EXPR else None
                    if differentiated is not None:
                        backward_exprs.append(differentiated)
                        double_backward = double_backward or creates_graph(node)
                operand = backward_operand(node, lambda: (target, how))
                if operand is not None:
                    backward_exprs.append(operand)  # `loss.backward()`, `accelerator.backward(loss)`
                last = callee_tail(node.func)
                applies_gradients = applies_gradients or last in APPLIES_GRADIENTS
                if last in self.cands or last == "getattr" or (target and target.rsplit(".", 1)[-1] in self.cands):
                    has_cands = True
            elif kind in _NOT_INDEXED:
                continue
            elif (kind is ast.BinOp or kind is ast.AugAssign) and node.op.__class__ in _SLOPE_OPS:
                has_cands = True
            elif kind in _BRANCHES:
                has_cands = True
            elif kind is ast.Attribute:
                if node.attr == "data" or node.attr in self.cands:
                    # `torch.abs` used as a value (a dict entry, a default argument, a partial):
                    # only the astroid fallback can follow it to its call, so analyze the file
                    has_cands = True
            elif kind is ast.Assign or kind is ast.AnnAssign:
                if node.value is not None:
                    stores.append(node)
                    for t in node.targets if kind is ast.Assign else [node.target]:
                        bind_names(t, node.value, assigns)
            elif kind is ast.For or kind is ast.AsyncFor:
                bind_names(node.target, node.iter, assigns, element=True)
            elif kind is ast.Return and node.value is not None:
                returned.append(node.value)
        params: tuple[str, ...] = ()
        if fn is not self.tree:
            env.qual = qualname
            params = param_names(fn)
            env.params = frozenset(params)
            env.defaults = param_defaults(fn)
            env.assigns = assigns
            env.annotations = param_annotations(fn)
        assert self.valuepass is not None, "the value pass runs while the index is built"
        value_calls, refs, returns, slice_refs, takes_function = self.valuepass.function(
            fn, qualname, env, call_nodes, stores, returned)
        # a function called under ``torch.no_grad()`` builds a target, not the loss
        calls.extend(value_calls if not quiet else
                     [t for nid, got in slice_refs.items() if nid not in quiet for t in got])
        decorators = [self.resolve(d.func if isinstance(d, ast.Call) else d, env)
                      for d in getattr(fn, "decorator_list", ())]
        calls.extend(d for d in decorators if d)
        root, model_forward = function_root(self, fn, name, cls_qual, decorators, is_lambda)
        if double_backward and fn is not self.tree:
            root = root or "double-backward"  # a gradient penalty: what follows the grad is differentiated too
        if not is_lambda and returns_the_loss(self.classes, name, cls_qual):
            backward_exprs.extend(returned)  # Lightning's `training_step`: its trainer differentiates the return
        elif not is_lambda and cls_qual is not None and name in FORWARD_NAMES and not root and not backward_exprs:
            backward_exprs.extend(returned_losses(returned, cls_qual.rsplit(".", 1)[-1]))  # a module's forward that returns its `loss`
            if not backward_exprs and any(map(library_loss, calls)) \
                    and returns_library_loss(returned, fn, lambda f: self.resolve(f, env)):
                backward_exprs.extend(returned)  # `return ce + self.alpha * penalty` with `ce = F.cross_entropy(...)`
        elif not is_lambda and cls_qual is None and fn is not self.tree and not root and not backward_exprs \
                and not METRIC_NAME_RE.search(name) and any(map(library_loss, calls)) \
                and returns_library_loss(returned, fn, lambda f: self.resolve(f, env)):
            # `def waveform_l1(y_hat, y): return F.l1_loss(y_hat, y)`, or an optimizer's closure
            # doing the same: a function (not a method) returning a library's loss is a loss,
            # whatever it is called (what computes it is checked); a metric is not by this alone
            backward_exprs.extend(returned)
        slice_calls: tuple[str, ...] = ()
        if backward_exprs:
            root = root or "backward"
            body = fn.body
            sliced = backward_slice(body, backward_exprs, gate=True)
            sc = []
            for stmt_or_expr in sliced:
                for node in ast.walk(stmt_or_expr):
                    if isinstance(node, ast.Call):
                        t = self.resolve(node.func, env)
                        if t:
                            sc.append(t)
                        sc.extend(slice_refs.get(id(node), ()))
            slice_calls = tuple(dict.fromkeys(sc))
        flow = None  # what its calls' arguments and its returns are made of (argflow)
        if fn is not self.tree and not is_lambda:
            flow = summarise(params, nodes, hows, returned, quiet, lambda node: self.resolve(node, env),
                             setting_params(fn), instances, self.class_settings.get(cls_qual or "", frozenset()))
        # every call of checked code whose value is only reported (a metric, a diagnostic
        # helper put in the logs): scope does not follow it from here
        resolved_calls = {id(node): target for node, target in call_nodes if target is not None}
        reported = reported_targets(name, nodes, resolved_calls, hows, quiet) if resolved_calls else ()
        ret_range = None
        if fn is not self.tree and not is_lambda and returned:
            ret_range = return_range.summarise(fn, parameters(fn), lambda node: (self.resolve(node, env), self.how))
        if qualname in self.shadowed:
            ret_range = None  # defined more than once (`if ...: def f ... else: def f ...`)
        data_return = None
        if fn is not self.tree and not is_lambda and returned and cls_qual is None and qualname not in self.shadowed:
            data_return = return_data.summarise(fn, params, lambda node: self._library_name(node, env))
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
            refs=tuple(dict.fromkeys(refs)),
            returns=tuple(dict.fromkeys(returns)),
            params=params if takes_function else (),  # for arguments handed to it (``scope.py``)
            is_lambda=is_lambda,
            settings=tuple(settings),
            flow=flow,
            ret_range=ret_range,
            data_return=data_return,
            applies_gradients=applies_gradients,
            reported=reported,
        )

    def _no_grad_calls(self, fn, nodes: list[ast.AST], env: "_Env") -> set[int]:
        """ids of the calls made with gradients off (the whole body of a function decorated
        ``@torch.no_grad()``, the body of ``with torch.no_grad():``): what they call is not
        differentiated through this function, so it is not loss code on this account."""
        def off(expr: ast.AST) -> bool:
            return self.resolve(expr.func if isinstance(expr, ast.Call) else expr, env) in NO_GRAD

        if fn is not self.tree and any(off(d) for d in getattr(fn, "decorator_list", ())):
            return {id(n) for n in nodes if n.__class__ is ast.Call}
        out: set[int] = set()
        for node in nodes:
            if node.__class__ in (ast.With, ast.AsyncWith) and any(off(i.context_expr) for i in node.items):
                out.update(id(n) for n in walk_local(list(node.body)) if n.__class__ is ast.Call)
        return out

    def _grad_target(self, arg: ast.AST, env: "_Env", calls: list[str], argnums: tuple[int, ...] | None = None) -> None:
        if isinstance(arg, ast.Lambda):
            for node in ast.walk(arg.body):
                if isinstance(node, ast.Call):
                    t = self.resolve(node.func, env)
                    if t:
                        self.grad_targets.append(t)
            return
        if isinstance(arg, ast.Call):  # jax.grad(partial(loss, cfg)) / jax.jit(loss): positions shift
            if arg.args:
                self._grad_target(arg.args[0], env, calls)
            return
        t = self.resolve(arg, env)
        if t:
            self.grad_targets.append(t)
            self.grad_argnums.append((t, argnums))


#: context managers and decorators that turn gradients off: torch's, and JAX's constant folding
#: (``with jax.ensure_compile_time_eval():`` computes concrete values while tracing)
NO_GRAD = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad",
                     "jax.ensure_compile_time_eval"})

#: the nodes the index loop looks at, by class (ast node classes are never subclassed)
_NOT_INDEXED = frozenset({ast.Name, ast.Constant, ast.arg, ast.arguments, ast.keyword, ast.Expr, ast.Tuple,
                          ast.Subscript, ast.Slice, ast.UnaryOp, ast.BoolOp, ast.List, ast.Dict, ast.alias})
_SLOPE_OPS = frozenset({ast.Div, ast.Pow, ast.FloorDiv, ast.Mod})
_BRANCHES = frozenset({ast.Compare, ast.If, ast.While, ast.IfExp})
