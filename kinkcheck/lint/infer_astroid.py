"""Bounded astroid inference for the callees the import table cannot name.

The engine resolves almost every callee from the file's own import table
(``kinkcheck.lint.resolve``). What only inference can see -- a callable taken from a
dict, returned by a helper, fetched with ``getattr(torch, "sqrt")``, stored on ``self`` in
another method, wrapped in ``functools.partial``, passed as a default argument -- is asked
of astroid here, pylint-style (infer ``call.func``, compare ``qname()`` with the catalog),
under three rules:

* **Nothing foreign is ever built.** While a file is inferred, astroid's manager answers
  every import itself: a catalog module (``torch``, ``torch.nn.functional``, ``numpy``,
  ``jax.numpy``, ``math``...) is a small stub that defines one ``def <name>(*args,
  **kwargs)`` per catalog callable (and a class per module-type callable such as
  ``nn.ReLU``), so inference ends on a node whose ``qname()`` is the catalog name; a sibling
  module of the checked tree may be built from its file (a few per file); every other
  module is an empty stub. Naive inference over one transformers file builds thousands of
  modules; this builds none.
* **A budget per file**: astroid's ``max_inferable_values``, a node cap per inference
  (``InferenceContext.max_inferred``), a cap on inference calls and on the nodes all of
  them visit together. Budgets count work, never seconds, so a busy machine finds exactly
  what an idle one does (and what is cached is what any run would find). When one runs
  out, the file keeps its import-table results and a note says so.
* **Nothing leaks.** The manager's module cache, its import entry points, its value cap and
  the inference caches are restored when the file is done, so a pylint run in the same
  process (or the next file) sees astroid exactly as before.

astroid is imported only when a file needs it.
"""

from __future__ import annotations

import ast
import os
import threading
from dataclasses import dataclass

#: inference calls per file (one per unresolved callee, plus partial() follow-ups)
MAX_CALLS = 48
#: nodes all the inferences of one file may visit together
MAX_WORK = 1500
#: values one node may infer to (astroid's ``max_inferable_values``, 100 by default)
MAX_VALUES = 16
#: nodes one inference may visit (``InferenceContext.max_inferred``)
MAX_NODES = 100
#: callees that may hit the node limit before the file stops inferring
MAX_EXPLODED = 3
#: files larger than this (characters) are not built with astroid at all
MAX_SOURCE = 300_000
#: sibling modules of the checked tree built from their files, per analyzed file
MAX_TREE_MODULES = 4

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Inferred:
    """One catalog callable a callee may be."""

    qname: str
    #: calling an instance of a catalog class (``layers["act"](x)`` with ``nn.ReLU()``)
    instance: bool = False
    #: positional arguments already filled by ``functools.partial``
    shift: int = 0


# -- catalog stubs --------------------------------------------------------------------------


def stub_sources(callables) -> dict[str, str]:
    """Module name -> stub source defining the catalog callables of that module.

    ``torch.nn.functional.relu`` -> ``def relu`` in ``torch.nn.functional``;
    ``torch.nn.ReLU`` -> ``class ReLU`` in ``torch.nn``; ``torch.Tensor.abs`` -> method
    ``abs`` of ``class Tensor`` in ``torch``. ``builtins`` stays astroid's own."""
    funcs: dict[str, set[str]] = {}
    classes: dict[str, dict[str, set[str]]] = {}
    for q in callables:
        parts = q.split(".")
        if len(parts) < 2 or parts[0] == "builtins" or not all(p.isidentifier() for p in parts):
            continue
        i = 0
        while i < len(parts) - 1 and not parts[i][:1].isupper():
            i += 1
        module, rest = ".".join(parts[:i]), parts[i:]
        if not module:
            continue
        if len(rest) == 1:
            if rest[0][:1].isupper():
                classes.setdefault(module, {}).setdefault(rest[0], set())
            else:
                funcs.setdefault(module, set()).add(rest[0])
        elif len(rest) == 2:
            classes.setdefault(module, {}).setdefault(rest[0], set()).add(rest[1])
    out: dict[str, str] = {}
    for module in sorted(set(funcs) | set(classes)):
        lines = ['"""kinkcheck stub: the catalog callables of this module, nothing else."""']
        for name in sorted(funcs.get(module, ())):
            lines.append(f"def {name}(*args, **kwargs): ...")
        for cls, methods in sorted(classes.get(module, {}).items()):
            lines.append(f"class {cls}:")
            lines.append("    def __init__(self, *args, **kwargs): ...")
            lines.append("    def __call__(self, *args, **kwargs): ...")
            for m in sorted(methods):
                lines.append(f"    def {m}(self, *args, **kwargs): ...")
        out[module] = "\n".join(lines) + "\n"
    return out


# -- one file ---------------------------------------------------------------------------------


class FileInference:
    """Lazily builds the file's astroid tree and infers callees, within the budget.

    Use ``callee(call)`` for each ``ast.Call`` whose callee the import table could not
    resolve, and ``close()`` when the file is done (restores astroid's global state).
    ``note`` is set to one line when the budget ran out or the file could not be built."""

    def __init__(self, source: str, path: str, module: str, stubs: dict[str, str], tree_root: str | None):
        self.source = source
        self.path = path
        self.module = module or "__kinkcheck_file__"
        self.stubs = stubs
        self.tree_root = tree_root
        self.note: str | None = None
        self.calls = 0
        self.exploded = 0
        self.work = 0
        self.dead = False
        #: modules this file's inference saw, by name (for tests: none is foreign)
        self.modules: dict = {}
        self._tree = None
        self._by_pos: dict[tuple, object] = {}
        self._tree_builds = 0
        self._saved: dict | None = None

    # -- public -------------------------------------------------------------------------
    def callee(self, call: ast.Call) -> list[Inferred]:
        """The catalog callables ``call.func`` may be, by inference (possibly empty)."""
        if self.dead:
            return []
        if self.calls >= MAX_CALLS:
            return self._stop(f"astroid inference budget spent ({MAX_CALLS} calls); "
                              "the rest of the file resolves through its imports only")
        if self.work > MAX_WORK:
            return self._stop(f"astroid inference budget spent ({MAX_WORK} nodes); "
                              "the rest of the file resolves through its imports only")
        try:
            self._enter()
            if self._tree is None and not self._build():
                return []
            node = self._by_pos.get(_pos(call))
            if node is None:
                return []
            return self._infer_callee(node)
        except RecursionError:
            return self._stop("astroid inference recursed too deeply; "
                              "the rest of the file resolves through its imports only")
        except Exception:  # noqa: BLE001 - astroid raises many things on odd code: never fatal here
            return []

    def close(self) -> None:
        """Restore astroid's manager and caches exactly as they were before this file."""
        if self._saved is None:
            return
        try:
            self._restore()
        finally:
            self._tree = None
            self._by_pos = {}
            _LOCK.release()

    def _restore(self) -> None:
        saved, self._saved = self._saved, None
        if saved is None:
            return
        from astroid import context as actx
        from astroid.inference_tip import _cache as tip_cache
        from astroid.manager import AstroidManager

        for name, fn in saved["methods"].items():
            setattr(AstroidManager, name, fn)
        AstroidManager.brain["max_inferable_values"] = saved["max_values"]
        actx.InferenceContext.max_inferred = saved["max_nodes"]
        cache = AstroidManager.brain["astroid_cache"]
        cache.clear()
        cache.update(saved["cache"])
        _drop_new(actx._INFERENCE_CACHE, saved["inference_cache"])
        _drop_new(tip_cache, saved["tip_cache"])

    # -- internals ----------------------------------------------------------------------
    def _stop(self, why: str) -> list[Inferred]:
        self.dead = True
        if self.note is None:
            self.note = why
        return []

    def _enter(self) -> None:
        if self._saved is not None:
            return
        from astroid import context as actx
        from astroid.inference_tip import _cache as tip_cache
        from astroid.manager import AstroidManager

        _LOCK.acquire()
        try:
            from astroid.builder import AstroidBuilder

            AstroidBuilder(AstroidManager())  # bootstraps builtins once per process, outside the snapshot
            self._patch(actx, tip_cache, AstroidManager)
        except BaseException:
            try:
                self._restore()
            finally:
                _LOCK.release()
            raise

    def _patch(self, actx, tip_cache, AstroidManager) -> None:
        saved = {
            "methods": {n: AstroidManager.__dict__[n] for n in ("ast_from_module_name", "ast_from_file", "ast_from_module")},
            "max_values": AstroidManager.brain["max_inferable_values"],
            "max_nodes": actx.InferenceContext.max_inferred,
            "cache": dict(AstroidManager.brain["astroid_cache"]),
            "inference_cache": len(actx._INFERENCE_CACHE),
            "tip_cache": len(tip_cache),
        }
        self._saved = saved
        this = self
        original_from_file = saved["methods"]["ast_from_file"]

        def ast_from_module_name(manager, modname, context_file=None, use_cache=True):
            return this._import(manager, modname, original_from_file)

        def ast_from_file(manager, filepath, modname=None, fallback=True, source=False):
            from astroid.exceptions import AstroidBuildingError

            raise AstroidBuildingError(f"kinkcheck: not building {filepath}")

        def ast_from_module(manager, module, modname=None):
            return this._import(manager, modname or getattr(module, "__name__", ""), original_from_file)

        AstroidManager.ast_from_module_name = ast_from_module_name
        AstroidManager.ast_from_file = ast_from_file
        AstroidManager.ast_from_module = ast_from_module
        AstroidManager.brain["max_inferable_values"] = MAX_VALUES
        actx.InferenceContext.max_inferred = MAX_NODES
        # modules this file already built (kept across the file's calls) are visible again
        AstroidManager.brain["astroid_cache"].update(self.modules)

    def _import(self, manager, modname, original_from_file):
        """Every import astroid makes while this file is inferred ends here."""
        from astroid.builder import AstroidBuilder
        from astroid.exceptions import AstroidBuildingError

        if not modname:
            raise AstroidBuildingError("kinkcheck: no module name")
        if modname in self.modules:
            return self.modules[modname]
        if modname == "builtins":
            return manager.builtins_module
        module = None
        if modname not in self.stubs:
            filename = self._tree_file(modname)
            if filename is not None and self._tree_builds < MAX_TREE_MODULES:
                self._tree_builds += 1
                try:
                    module = original_from_file(manager, filename, modname, fallback=False)
                except Exception:  # noqa: BLE001 - a sibling that fails to build is an empty stub
                    module = None
        if module is None:
            # a stub is a package, so `torch.nn` -> `torch.nn.functional` asks here again
            module = AstroidBuilder(manager).string_build(self.stubs.get(modname, ""), modname + ".__init__")
        self.modules[modname] = module
        return module

    def _tree_file(self, modname: str) -> str | None:
        """A module of the checked tree (next to this file), never one from site-packages."""
        if self.tree_root is None:
            return None
        base = os.path.join(self.tree_root, *modname.split("."))
        for filename in (base + ".py", os.path.join(base, "__init__.py")):
            if os.path.isfile(filename):
                if os.path.getsize(filename) > MAX_SOURCE:
                    return None
                return filename
        return None

    def _build(self) -> bool:
        from astroid.builder import AstroidBuilder
        from astroid.manager import AstroidManager

        if len(self.source) > MAX_SOURCE:
            self._stop(f"file too large for astroid inference ({len(self.source) // 1000} kB); "
                       "callees resolve through its imports only")
            return False
        try:
            path = self.path if self.path.endswith(".py") else None
            tree = AstroidBuilder(AstroidManager()).string_build(self.source, self.module, path)
        except RecursionError:
            self._stop("file too deeply nested for astroid; callees resolve through its imports only")
            return False
        except Exception as exc:  # noqa: BLE001 - reported as a note, never fatal
            self._stop(f"astroid could not build the file ({type(exc).__name__}); "
                       "callees resolve through its imports only")
            return False
        self._tree = tree
        self.modules[tree.name] = tree
        from astroid import nodes

        for node in tree.nodes_of_class(nodes.Call):
            self._by_pos.setdefault((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset), node)
        return True

    def _infer(self, node):
        """Inferred values of one astroid node, counted against the budget."""
        from astroid.context import InferenceContext
        from astroid.exceptions import AstroidError

        self.calls += 1
        values = []
        context = InferenceContext()
        try:
            for value in node.infer(context=context):
                values.append(value)
                if len(values) >= MAX_VALUES:
                    break
        except (AstroidError, StopIteration, AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            if isinstance(exc.__cause__ or exc.__context__, RecursionError):
                raise RecursionError from exc  # astroid wraps it in an InferenceError
            # otherwise what was inferred before the failure still counts
        self.work += context.nodes_inferred
        if context.nodes_inferred > MAX_NODES:
            self.exploded += 1
            if self.exploded >= MAX_EXPLODED:
                self._stop(f"astroid inference hit its limit of {MAX_NODES} nodes on {self.exploded} callees; "
                           "the rest of the file resolves through its imports only")
        return values

    def _infer_callee(self, call) -> list[Inferred]:
        from astroid import bases, nodes, objects

        out: list[Inferred] = []
        for value in self._infer(call.func):
            if isinstance(value, objects.PartialFunction):
                wrapped = getattr(value.args, "parent", None)
                q = wrapped.qname() if isinstance(wrapped, nodes.FunctionDef) else None
                if q:
                    out.append(Inferred(q, shift=len(value.filled_args)))
            elif isinstance(value, bases.BoundMethod):
                continue  # `t.abs` bound to an inferred receiver: the operand is not in the source
            elif isinstance(value, nodes.FunctionDef):
                out.append(Inferred(value.qname()))
            elif isinstance(value, bases.Instance) and isinstance(value._proxied, nodes.ClassDef):
                out.append(Inferred(value._proxied.qname(), instance=True))
        if not out:
            out.extend(self._partial(call))
        return list(dict.fromkeys(out))

    def _partial(self, call) -> list[Inferred]:
        """``partial(torch.clamp, min=0)``: astroid's own partial support needs the wrapped
        function's real parameter names, which a stub does not have; follow the first
        argument of a ``partial(...)`` the callee is (or is assigned from) instead."""
        from astroid import nodes

        sources = []
        func = call.func
        if isinstance(func, nodes.Call):
            sources.append(func)
        elif isinstance(func, nodes.Name):
            _, assigns = func.lookup(func.name)
            for a in assigns[:4]:
                parent = a.parent
                if isinstance(a, nodes.AssignName) and isinstance(parent, nodes.Assign) and isinstance(parent.value, nodes.Call):
                    sources.append(parent.value)
        out = []
        for src in sources:
            f = src.func
            name = f.name if isinstance(f, nodes.Name) else f.attrname if isinstance(f, nodes.Attribute) else None
            if name != "partial" or not src.args or isinstance(src.args[0], nodes.Starred):
                continue
            for value in self._infer(src.args[0]):
                if isinstance(value, nodes.FunctionDef):
                    out.append(Inferred(value.qname(), shift=len(src.args) - 1))
        return out


def _pos(node: ast.AST) -> tuple:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0), getattr(node, "end_lineno", 0),
            getattr(node, "end_col_offset", 0))


def _drop_new(cache: dict, size_before: int) -> None:
    """Remove what was added to an insertion-ordered cache since it had ``size_before``
    entries (entries that reference this file's nodes)."""
    extra = len(cache) - size_before
    if extra <= 0:
        return
    for key in [k for _, k in zip(range(extra), reversed(cache))]:
        cache.pop(key, None)
