"""What is loss code: roots, and what roots run, across the checked files.

Roots (from the index): functions named like loss/objective/criterion, every method of a
loss class (named ``*Loss``/``*Criterion``/``*Objective``, a loss-named ``nn.Module``, a
subclass of ``_Loss`` or of a checked loss class, or one whose ``forward`` is a root),
``@kinkcheck.loss`` and ``# kinkcheck: loss``, hand-written derivatives (``grad``,
``*_grad``, ``jacobian``, ``backward`` in array code; the ``backward`` of an
``autograd.Function``, whose ``forward`` runs with gradients off), functions handed to ``jax.grad`` & co., callables bound to a
loss-like name (``criterion = lambda ...``, ``loss_fn=my_loss``), config
``loss-functions``, and the statements that compute what ``.backward()`` /
``torch.autograd.grad`` differentiate (the function that contains them is in scope as
``"<qualname>#slice"``: only those statements are checked, so the ``loss.item()`` printed
next to them is not).

From the roots, scope follows calls and the callables a function stores, passes or
returns, through the import tables and re-exports of the checked files and through values
(``self.dist_fn = Metric()``, factories, ``partial``, lambdas, tables of callables,
parameters). A call is one step of ``max_depth``; following a value to what it holds
is not.
"""

from __future__ import annotations

import fnmatch
import re
from collections import deque

from kinkcheck.lint import return_range
from kinkcheck.lint.argflow import data_params
from kinkcheck.lint.callables import CALL, PARAM
from kinkcheck.lint.pinned import pins
from kinkcheck.lint.values import TABLE
from kinkcheck.lint.index import MODULE_CODE, FileIndex, FunctionInfo
from kinkcheck.lint.resolve import ARRAY_LIBRARIES, FRAMEWORK_ROOTS
from kinkcheck.lint.roots import (
    AUTOGRAD_BASES, AUTOGRAD_METHODS, FORWARD_NAMES, LOSS_BASES, LOSS_CLASS_RE, LOSS_FAMILY_RE, LOSS_NAME_RE,
    LOSS_WORD_RE, MODEL_BASES,
)

SCOPES = ("loss", "model", "all")
SLICE = "#slice"
MAX_HOPS = 24
#: the overrides followed from one base-class method: a framework base class with hundreds of
#: subclasses in the checked tree must not pull them all into scope through one call
MAX_SUBCLASSES = 32


class _World:
    """Every function, class and binding of the checked files, by qualified name."""

    def __init__(self, indexes: list[FileIndex]):
        self.functions: dict[str, tuple[FileIndex, FunctionInfo]] = {}
        self.modules: dict[str, FileIndex] = {}
        self.classes: dict[str, tuple[str, ...]] = {}
        self.bindings: dict[str, list[str]] = {}
        self.methods: dict[str, list[str]] = {}  # class -> its own methods
        self.networks: set[str] = set()
        for ix in indexes:
            self.networks.update(getattr(ix, "networks", ()))
            self.modules[ix.module] = ix
            self.classes.update(ix.classes)
            for q, f in ix.functions.items():
                self.functions[q] = (ix, f)
                if f.class_qualname and q == f"{f.class_qualname}.{f.name}":
                    self.methods.setdefault(f.class_qualname, []).append(q)
            for k, refs in getattr(ix, "bindings", {}).items():
                self.bindings.setdefault(k, []).extend(refs)
        #: class -> refs of what its attributes hold
        self.held: dict[str, list[str]] = {}
        for key, refs in self.bindings.items():
            owner = key.rpartition(".")[0]
            if owner in self.classes:
                self.held.setdefault(owner, []).extend(refs)
        self._network: dict[str, bool] = {}
        self._loss: dict[str, bool] = {}
        self._autograd: dict[str, bool] = {}
        self._targets: dict[str, list[str]] = {}
        self._mro: dict[str, list[str]] = {}
        self._params: dict[tuple[str, str], list[str]] | None = None
        self._children: dict[str, list[str]] | None = None
        self._indexes = indexes

    # -- classes -----------------------------------------------------------------------
    def cls(self, q: str) -> str | None:
        """``q`` as a checked class, following re-exports."""
        for _ in range(6):
            if q in self.classes:
                return q
            nxt = self._reexport(q)
            if nxt is None:
                return None
            q = nxt
        return None

    def mro(self, cls: str) -> list[str]:
        """The class and its checked ancestors, nearest first."""
        got = self._mro.get(cls)
        if got is None:
            self._mro[cls] = [cls]  # a cycle ends here
            got = [cls]
            for base in self.classes.get(cls, ()):
                b = self.cls(base)
                if b:
                    got.extend(x for x in self.mro(b) if x not in got)
            self._mro[cls] = got
        return got

    def bases(self, cls: str) -> set[str]:
        """Every base name of the class and its checked ancestors, as written (resolved)."""
        return {b for c in self.mro(cls) for b in self.classes.get(c, ())}

    # -- values --------------------------------------------------------------------------
    def values(self, ref: str, seen: set[str]) -> set[tuple[str, str]]:
        """What ``ref`` may hold: ("def", function), ("class", class) or ("inst", class)."""
        if ref in seen or len(seen) > MAX_HOPS:
            return set()
        seen.add(ref)
        if ref.endswith(CALL):  # what calling the value returns
            out: set[tuple[str, str]] = set()
            for kind, q in self.values(ref[: -len(CALL)], seen):
                if kind == "class":
                    out.add(("inst", q))
                elif kind == "def":
                    for r in self.functions[q][1].returns:
                        out |= self.values(r, seen)
            return out
        if PARAM in ref:
            fn, _, rest = ref.partition(PARAM)
            param, _, member = rest.partition(".")
            out = set()
            for r in self.params().get((fn, param), ()):
                out |= self.values(r, seen)
            for attr in member.split(".") if member else ():
                out = {v for kind, q in out if kind in ("class", "inst") for v in self._member(q, attr, seen)}
            return out
        out = set()
        if ref in self.functions:
            out.add(("def", ref))
        if ref in self.classes:
            out.add(("class", ref))
        for r in self.bindings.get(ref, ()):
            out |= self.values(r, seen)
        if out:
            entries = self.bindings.get(ref.rpartition(".")[0] + "." + TABLE, ())
            if ref in entries:  # one entry of a class that is a table of callables: any entry
                for r in entries:
                    out |= self.values(r, seen)
            return out
        nxt = self._reexport(ref)
        if nxt is not None:
            return self.values(nxt, seen)
        head, _, attr = ref.rpartition(".")
        if head:
            for kind, q in self.values(head, seen):
                if kind in ("class", "inst"):
                    out |= self._member(q, attr, seen)
        return out

    def _member(self, cls: str, attr: str, seen: set[str]) -> set[tuple[str, str]]:
        """An attribute of a class or of its instances: a method, a stored value, or
        ``apply`` of an autograd Function (which runs its forward and backward)."""
        for c in self.mro(cls):
            q = f"{c}.{attr}"
            if q in self.functions or q in self.bindings:
                return self.values(q, seen)
        if attr == "apply" and self.is_autograd(cls):
            return {("def", m) for c in self.mro(cls) for m in self.methods.get(c, ())
                    if m.rsplit(".", 1)[-1] in AUTOGRAD_METHODS}
        return set()

    def targets(self, ref: str) -> list[str]:
        """The functions that calling ``ref`` may run: the function itself, a class's (or
        instance's) forward/__call__, inherited ones, what a binding or a parameter holds,
        what a factory returns, or what a re-export stands for."""
        got = self._targets.get(ref)
        if got is None:
            out: list[str] = []
            for kind, q in self.values(ref, set()):
                if kind == "def":
                    out.append(q)
                else:
                    for name in FORWARD_NAMES:
                        out.extend(t for t in self.targets(f"{q}.{name}") if t not in out)
            out.extend(self._overrides(ref))
            self._targets[ref] = got = list(dict.fromkeys(out))
        return got

    def builds(self, cls: str, ref: str) -> bool:
        """``ref`` is an attribute of ``cls`` that its own code binds to a newly built
        object (``self.net = FeatureNet().eval()``), never to something it was handed."""
        key = ref[: -len(CALL)] if ref.endswith(CALL) else ref
        held = [r for c in self.mro(cls) for r in self.bindings.get(f"{c}.{key.rpartition('.')[2]}", ())] \
            if key.rpartition(".")[0] == cls else []
        return bool(held) and all(r.endswith(CALL) and PARAM not in r for r in held)

    def _overrides(self, ref: str) -> list[str]:
        """``self.compute_mat(...)`` in a base class's ``forward`` (ref ``Base.compute_mat``)
        runs the method of whichever subclass ``self`` is: the overrides in the checked
        files, also where the base only declares it (a template method)."""
        owner, _, attr = ref.rpartition(".")
        if owner not in self.classes or not attr:
            return []
        return [f"{c}.{attr}" for c in self.subclasses(owner) if f"{c}.{attr}" in self.functions]

    def subclasses(self, cls: str) -> list[str]:
        """The checked classes that derive from ``cls``, however deep."""
        if self._children is None:
            self._children = {}
            for c in self.classes:
                for base in self.classes.get(c, ()):
                    b = self.cls(base)
                    if b is not None and b != c:
                        self._children.setdefault(b, []).append(c)
        out: list[str] = []
        stack = list(self._children.get(cls, ()))
        while stack and len(out) < MAX_SUBCLASSES:
            c = stack.pop()
            if c not in out and c != cls:
                out.append(c)
                stack.extend(self._children.get(c, ()))
        return out

    def _reexport(self, qname: str) -> str | None:
        parts = qname.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            ix = self.modules.get(".".join(parts[:cut]))
            if ix is None:
                continue
            target = ix.exports.get(parts[cut])
            if target and target != ".".join(parts[: cut + 1]):
                return ".".join([target, *parts[cut + 1 :]])
            if target is None and cut == len(parts) - 1:
                for star in getattr(ix, "stars", ()):
                    cand = f"{star}.{parts[cut]}"
                    if cand in self.functions or cand in self.classes or cand in self.bindings:
                        return cand
            return None
        return None

    # -- parameters ----------------------------------------------------------------------
    def params(self) -> dict[tuple[str, str], list[str]]:
        """(function, parameter) -> refs passed for it anywhere in the checked files."""
        if self._params is None:
            self._params = {}
            receivers: dict[str, list[tuple[str, tuple[str, ...], int]]] = {}
            for ix in self._indexes:
                for callee, slot, ref in getattr(ix, "passes", ()):
                    fns = receivers.get(callee)
                    if fns is None:
                        fns = receivers[callee] = self._receivers(callee)
                    for fn, params, shift in fns:
                        if isinstance(slot, str):
                            param = slot if slot in params else None
                        else:
                            param = params[slot + shift] if slot + shift < len(params) else None
                        if param is not None:
                            self._params.setdefault((fn, param), []).append(ref)
        return self._params

    def _receivers(self, callee: str) -> list[tuple[str, tuple[str, ...], int]]:
        """The functions an argument of a call to ``callee`` lands in, with their
        parameters and how many the call fills implicitly (``self``): the function itself,
        a class's ``__init__`` (constructing) or ``forward``/``__call__`` (an instance)."""
        out = []
        for kind, q in self.values(callee, set()):
            if kind == "def":
                fns = {("def", q)}
            elif kind == "class":
                fns = self._member(q, "__init__", set())
            else:
                fns = {v for name in FORWARD_NAMES for v in self._member(q, name, set())}
            for k, fn in fns:
                if k != "def":
                    continue
                info = self.functions[fn][1]
                if not info.params:
                    continue  # takes no function (the index keeps parameters only then)
                shift = 1 if info.class_qualname and info.params[:1] in (("self",), ("cls",)) else 0
                out.append((fn, info.params, shift))
        return out

    # -- kinds of classes -------------------------------------------------------------------
    def is_network(self, cls: str | None, depth: int = 0) -> bool:
        """A class that builds layers, itself, through a base, or through the modules it
        holds (``self.encoder = Encoder()``)."""
        if cls is None or depth > 3:
            return False
        got = self._network.get(cls)
        if got is None:
            self._network[cls] = False  # a cycle ends here
            got = any(c in self.networks for c in self.mro(cls))
            if not got:
                held = (self.cls(r[: -len(CALL)]) for c in self.mro(cls) for r in self.held.get(c, ()) if r.endswith(CALL))
                got = any(h is not None and self.is_network(h, depth + 1) for h in held)
            self._network[cls] = got
        return got

    def is_autograd(self, cls: str) -> bool:
        got = self._autograd.get(cls)
        if got is None:
            got = self._autograd[cls] = any(b in AUTOGRAD_BASES or b.endswith(".autograd.Function")
                                            for b in self.bases(cls))
        return got

    def is_loss_class(self, cls: str) -> bool:
        """Named like a loss (``*Loss``, a loss-named module), a subclass of ``_Loss`` or of a
        checked loss class, or one whose forward is a root."""
        got = self._loss.get(cls)
        if got is None:
            self._loss[cls] = False  # a cycle ends here
            got = self._loss_by_itself(cls) or any(self.is_loss_class(c) for c in self.mro(cls)[1:])
            self._loss[cls] = got
        return got

    def _loss_by_itself(self, c: str) -> bool:
        name = c.rsplit(".", 1)[-1]
        if LOSS_CLASS_RE.search(name):
            return True
        for b in self.classes.get(c, ()):
            tail = b.rsplit(".", 1)[-1]
            if b in LOSS_BASES or (b.startswith("torch.nn.") and tail.endswith("Loss")):
                return True
            if (b in MODEL_BASES or b.startswith("torch.nn.") and tail == "Module") and (
                    LOSS_WORD_RE.search(name) or LOSS_FAMILY_RE.search(_snake(name))):
                return True  # `class InfoNCE(nn.Module)`, `class NTXent(nn.Module)`: named after its loss
        for m in self.methods.get(c, ()):
            f = self.functions[m][1]
            if f.name in FORWARD_NAMES and f.root in ("decorator", "comment", "loss-class", "grad-transform"):
                return True
        return False


def _snake(name: str) -> str:
    """``InfoNCE`` -> ``info_nce``, ``NTXent`` -> ``nt_xent``, ``SmoothL1`` -> ``smooth_l1``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _configured(f: FunctionInfo, patterns: tuple[str, ...]) -> bool:
    for pat in patterns:
        if f.qualname == pat or f.qualname.endswith("." + pat) or fnmatch.fnmatchcase(f.qualname, pat) or fnmatch.fnmatchcase(f.name, pat):
            return True
    return False


def _class_roots(world: _World) -> list[str]:
    """Every method of a loss class (and the forward/__call__ it inherits), the
    ``backward`` of autograd Functions. Dunders other than ``__call__`` (``__init__``,
    ``__repr__``) set the loss up; they do not compute it."""
    out: list[str] = []
    for cls in world.classes:
        if world.is_autograd(cls):
            out.extend(m for c in world.mro(cls) for m in world.methods.get(c, ())
                       if m.rsplit(".", 1)[-1] in AUTOGRAD_METHODS)
        elif world.is_loss_class(cls):
            seen: set[str] = set()
            for c in world.mro(cls):  # its own methods, then the ones it inherits ...
                if c in MODEL_BASES:
                    break  # ... short of the framework's Module (when torch itself is checked)
                for m in world.methods.get(c, ()):
                    name = m.rsplit(".", 1)[-1]
                    if name in seen:
                        continue  # overridden
                    seen.add(name)
                    if name == "__call__" or not (name.startswith("__") and name.endswith("__")
                                                  or OUTPUT_METHOD_RE.match(name)):
                        out.append(m)
    return out


#: methods of a loss class that turn its input into a forecast, quantiles or draws for output
#: (``to_prediction``, ``to_quantiles``, ``sample``, ``predict``): loss code only where the loss
#: itself calls them (a point metric's ``loss`` calling ``to_prediction`` is followed there)
OUTPUT_METHOD_RE = re.compile(r"^(predict\w*|to_prediction|to_quantiles|sample|sample_n|plot\w*)$")


def _value_roots(world: _World, indexes: list[FileIndex]) -> list[str]:
    """Functions handed to jax.grad & co., callables bound or passed under a loss-like
    name, and callables passed for a loss-like parameter of a checked function."""
    refs: list[str] = []
    for ix in indexes:
        refs.extend(ix.grad_targets)
        refs.extend(getattr(ix, "bound_roots", ()))
    for (fn, param), passed in world.params().items():
        if LOSS_NAME_RE.search(param):
            refs.extend(passed)
    return [t for r in dict.fromkeys(refs) for t in world.targets(r)]


#: array libraries without automatic differentiation
_NO_AUTODIFF = frozenset({"numpy", "scipy", "cupy"})


def _numpy_only(ix: FileIndex) -> bool:
    """The module imports NumPy or SciPy and no library that differentiates."""
    roots = {q.split(".")[0] for q in ix.imports.values()}
    return bool(roots & _NO_AUTODIFF) and not (roots & (ARRAY_LIBRARIES - _NO_AUTODIFF))


def _class_held(ix: FileIndex) -> set[str]:
    """Lambdas bound to class attributes: no function holds them."""
    return {ref for key, refs in ix.bindings.items() if key.rsplit(".", 1)[0] in ix.classes for ref in refs}


def loss_scope(
    indexes: list[FileIndex],
    *,
    scope: str = "loss",
    loss_functions: tuple[str, ...] = (),
    max_depth: int = 3,
) -> dict[str, frozenset[str]]:
    """path -> qualnames in scope (``"<q>#slice"`` for backward-only statements)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r} (expected one of {', '.join(SCOPES)})")
    world = _World(indexes)
    if scope == "all":
        # lambdas are checked as part of the function that holds them; a class body holds
        # none (`MANHATTAN = lambda x, y: ...` in a table of metrics is checked on its own)
        # a training step is known to differentiate only what its `.backward()` reads: its
        # logging (`losses.append(loss.item())`) and metrics are checked no more than in loss scope
        every = {ix.path: {q + SLICE if f.root == "backward" and not _configured(f, loss_functions) else q
                           for q, f in ix.functions.items() if not f.is_lambda or q in _class_held(ix)}
                 for ix in indexes if ix.functions}
        # NumPy has no autodiff: a NumPy-only module is differentiated where it computes a loss,
        # an objective handed to an optimizer or a hand-written gradient, as loss scope finds them
        numpy_only = {ix.path for ix in indexes if ix.functions and _numpy_only(ix)}
        if numpy_only:
            loss = _reached(world, indexes, "loss", loss_functions, max_depth)
            for path in numpy_only:
                every[path] = loss.get(path, set())
        scoped = every
    else:
        scoped = _reached(world, indexes, scope, loss_functions, max_depth)
    return_range.add_entries(world, scoped)
    return {path: frozenset(qs) for path, qs in scoped.items()}


def _reached(world: _World, indexes: list[FileIndex], scope: str, loss_functions: tuple[str, ...],
             max_depth: int) -> dict[str, set[str]]:
    """path -> what loss (or model) scope reaches from its roots, with the settings and data
    parameters every call from there pins (:mod:`pinned`, :mod:`argflow`)."""
    whole: dict[str, int] = {}  # qualname -> depth reached
    rooted: set[str] = set()
    sliced: set[str] = set()
    queue: deque[tuple[str, int]] = deque()

    def add(q: str, depth: int, root: bool = False, owned: bool = False) -> None:
        if q in whole and whole[q] <= depth:
            return
        f = world.functions[q][1]
        if not root and not owned and scope == "loss" and f.model_forward and world.is_network(f.class_qualname):
            return  # calling the network inside the loss does not make its forward loss code
        whole[q] = depth
        if root:
            rooted.add(q)
        queue.append((q, depth))

    host = _host_modules(indexes)
    setup = _setup_helpers(world) if any(f.root == "module" for _, f in world.functions.values()) else set()
    for q, (ix, f) in world.functions.items():
        if f.root == "backward" and not _configured(f, loss_functions):
            sliced.add(q)
        elif _configured(f, loss_functions) or (f.root and not (ix.module in host and f.root in IMPLIED_ROOTS)
                                                 and not (f.root == "module" and q in setup)) \
                or (scope == "model" and f.model_forward):
            add(q, 0, root=True)
    for q in _class_roots(world):
        if world.functions[q][0].module not in host:
            add(q, 0, root=True)
    for q in _value_roots(world, indexes):
        add(q, 0, root=True)
    for q in sliced:
        if q in whole:
            continue
        _, f = world.functions[q]
        for call in f.slice_calls:
            for t in world.targets(call):
                add(t, _step(world, f, t, 1))
    while queue:
        q, depth = queue.popleft()
        if depth > whole.get(q, depth):
            continue  # reached again at a smaller depth since
        _, f = world.functions[q]
        owner = f.class_qualname if f.class_qualname and world.is_loss_class(f.class_qualname) else None
        for ref in (*f.calls, *f.refs):
            # a network the loss builds and holds (a perceptual loss's feature extractor) is
            # part of the loss; a model it is handed is not
            owned = owner is not None and world.builds(owner, ref)
            for t in world.targets(ref):
                d = _step(world, f, t, depth + 1)
                if d <= max_depth:
                    add(t, d, owned=owned)
    out: dict[str, set[str]] = {}
    for q in whole:
        ix, _ = world.functions[q]
        out.setdefault(ix.path, set()).add(q)
    for q in sliced:
        if q not in whole:
            ix, _ = world.functions[q]
            out.setdefault(ix.path, set()).add(q + SLICE)
    callers = [*whole, *sliced]
    for entry in [*pins(world, callers, rooted), *data_params(world, callers, rooted)]:
        q = entry.partition("#")[0]
        if q in whole:
            out[world.functions[q][0].path].add(entry)
    return out


#: roots a name or a place implies; an explicit mark or a gradient taken is a root anywhere
IMPLIED_ROOTS = frozenset({"name", "module", "loss-class"})
#: what a module imports that makes it array code on the host: numpy, never differentiated
#: inside a package whose other modules differentiate with a framework
_HOST_ROOTS = frozenset({"numpy", "scipy", "pandas", "sklearn"})


def _host_modules(indexes: list[FileIndex]) -> set[str]:
    """Modules that compute with numpy only, in a package whose other checked modules import
    torch or jax: a ``losses/numpy.py`` of evaluation metrics beside ``losses/pytorch.py``
    training losses. Training differentiates through the framework, so a metric named like a
    loss there is evaluation code; it is still checked where loss code calls it."""
    imported = {ix.module: {t.split(".")[0] for t in ix.imports.values()} for ix in indexes}
    framework = {m.split(".")[0] for m, roots in imported.items() if roots & FRAMEWORK_ROOTS}
    return {m for m, roots in imported.items()
            if m.split(".")[0] in framework and roots & _HOST_ROOTS and not roots & FRAMEWORK_ROOTS}


def _setup_helpers(world: _World) -> set[str]:
    """Functions that only constructors call: ``quantiles_to_outputs(quantiles)`` of a losses
    package, called from loss classes' ``__init__`` to name outputs. They compute settings,
    not the loss, so a losses package's module does not make them roots."""
    callers: dict[str, set[str]] = {}
    stored: set[str] = set()  # `self.scale_decouple = nbinomial_scale_decouple`: run later, by others
    for q, (_, f) in world.functions.items():
        for ref in f.calls:
            for t in world.targets(ref):
                callers.setdefault(t, set()).add(q)
        for ref in f.refs:
            stored.update(world.targets(ref))
    return {q for q, by in callers.items()
            if q not in stored and all(c.rsplit(".", 1)[-1] == "__init__" for c in by)}


def _step(world: _World, caller: FunctionInfo, target: str, depth: int) -> int:
    """The depth of ``target`` called from ``caller`` at ``depth``: a lambda written inside
    the caller costs nothing (its code is the caller's)."""
    f = world.functions[target][1]
    if f.is_lambda and target.startswith(caller.qualname + "."):
        return depth - 1
    return depth


__all__ = ["loss_scope", "SCOPES", "SLICE", "MODULE_CODE"]
