"""What is loss code: roots, and what roots run, across the checked files.

Roots (from the index): functions named like loss/objective/criterion, every method of a
loss class (named ``*Loss``/``*Criterion``/``*Objective``, a loss-named ``nn.Module`` or one
kept with the losses, a subclass of ``_Loss`` or of a checked loss class, or one whose
``forward`` is a root), the log-density methods of distributions and bijectors (``log_prob``,
``rsample``, ``_call``, ...),
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

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint import namespaces, outside_calls, return_data, return_range
from kinkcheck.lint.argflow import data_params
from kinkcheck.lint.index import MODULE_CODE, FileIndex, FunctionInfo
from kinkcheck.lint.pinned import pins
from kinkcheck.lint.resolve import ARRAY_LIBRARIES, FRAMEWORK_ROOTS, HOST_ROOTS
from kinkcheck.lint.roots import (
    AUTOGRAD_METHODS,
    EVALUATION_CLASS_RE,
    EVALUATION_SCORE_RE,
    LOSS_CLASS_RE,
    LOSS_FAMILY_RE,
    LOSS_NAME_RE,
    METRIC_NAME_RE,
    MODEL_BASES,
)
from kinkcheck.lint.scope_world import DENSITY_METHODS, _World

SCOPES = ("loss", "model", "all")
SLICE = "#slice"


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
        elif world.is_density(cls) and not world.is_loss_class(cls):
            out.extend(m for m in world.methods.get(cls, ()) if m.rsplit(".", 1)[-1] in DENSITY_METHODS)
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


#: methods of a loss class that turn its input into a forecast, quantiles, draws or decoded
#: labels for output (``to_prediction``, ``to_quantiles``, ``sample``, ``predict``, fastai's
#: ``decodes``): loss code only where the loss itself calls them (a point metric's ``loss``
#: calling ``to_prediction`` is followed there)
OUTPUT_METHOD_RE = lazy_pattern(r"^(predict\w*|to_prediction|to_quantiles|sample|sample_n|plot\w*|decodes?)$")


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
    """The module imports NumPy or SciPy and no library that differentiates, and takes no
    array namespace from its caller's arrays: ``nx = get_backend(x, y)`` (POT) computes in
    torch or JAX when handed their tensors, so it is differentiated code, unless the package
    is itself a host library (scikit-learn's array API support is for evaluation, not gradients)."""
    roots = {q.split(".")[0] for q in ix.imports.values()}
    if any(q.rsplit(".", 1)[-1] in namespaces.FACTORIES for q in ix.imports.values()) \
            and ix.module.split(".")[0] not in HOST_ROOTS:
        return False
    return bool(roots & _NO_AUTODIFF) and not (roots & (ARRAY_LIBRARIES - _NO_AUTODIFF))


def _local_differentiators(ix: FileIndex) -> set[str]:
    """Training steps of a JAX module (one that does not import torch, whose tensors differentiate
    on their own): functions that hand a function nested in them to jax.grad & co. and apply the
    gradient with an optimizer. A function that returns a derivative it takes (``jax.grad(f)``
    inside a cost) is differentiated through by its callers; one that applies it is not."""
    roots = {q.split(".")[0] for q in ix.imports.values()}
    if "jax" not in roots or roots & _IMPLICIT_AUTODIFF:
        return set()
    parents = {t.rpartition(".")[0] for t in ix.grad_targets}
    return {q for q in parents if q in ix.functions and ix.functions[q].applies_gradients}


#: libraries whose tensors record their own gradients, with or without a transform
_IMPLICIT_AUTODIFF = frozenset({"torch", "tensorflow", "keras", "paddle", "mxnet"})


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
        # JAX differentiates what it is handed: a function that hands a closure of its own to
        # jax.grad & co. computes the rest (a target from the target network, the optimizer
        # step, its logging) as constants of that gradient; only the closure is differentiated,
        # unless loss code calls the function itself (a meta-gradient through an inner update)
        outer = {ix.path: _local_differentiators(ix) for ix in indexes if ix.functions}
        # an accuracy, F-score, recall or AUC has slope 0 wherever it has one: no one trains on
        # it, so its argmax and thresholds are evaluation code unless loss code calls it
        scores = {ix.path: _evaluation_scores(ix) for ix in indexes if ix.functions}
        roots = _roots(world, indexes, "loss", loss_functions)
        loss = _reached(world, indexes, "loss", loss_functions, max_depth, roots)
        proximal = _proximal_operators(world, numpy_only, loss)
        for path in numpy_only:
            # ... and where it solves a nonsmooth problem by hand: its proximal operators and
            # projections hold the objective's kinks (`soft_threshold`, `project_simplex`, `svt`)
            every[path] = loss.get(path, set()) | proximal.get(path, set())
        for path, fns in [*outer.items(), *scores.items()]:
            reached = loss.get(path, set())
            every[path] -= {q for q in fns if q not in reached and q + SLICE not in reached}
        _call_facts(world, every, loss, set(roots[0]), numpy_only)
        scoped = every
    else:
        scoped = loss = _reached(world, indexes, scope, loss_functions, max_depth)
    return_range.add_entries(world, scoped)
    return_data.add_entries(world, scoped)
    outside_calls.add_entries(world, scoped, loss)
    return {path: frozenset(qs) for path, qs in scoped.items()}


#: proximal operators and projections by name (``prox_l1``, ``soft_threshold``,
#: ``project_simplex``, ``svt``): the kinks of a nonsmooth objective a solver steps through
_PROXIMAL_RE = lazy_pattern(r"(^|_)(prox|proximal|soft_?thresh(old)?|svt)($|_)|"
                            r"(^|_)proj(ect(ion)?)?_(onto_)?(simplex|l1|l2|linf|ball|box|psd|nonneg|nonnegative|sphere|"
                            r"unit|columns?|rows?|constraints?|feasible)", re.IGNORECASE)


def _proximal_operators(world: _World, paths: set[str], loss: dict[str, set[str]]) -> dict[str, set[str]]:
    """path -> the module-level functions of that file (one of ``paths``) named as a proximal
    operator or a projection onto a constraint set, in a package whose NumPy code computes an
    objective or a gradient (``loss``): a camera's ``project_points`` is no solver's."""
    solving = {ix.module.split(".")[0] for ix, _ in world.functions.values() if ix.path in paths and loss.get(ix.path)}
    out: dict[str, set[str]] = {}
    for q, (ix, f) in world.functions.items():
        if ix.path in paths and ix.module.split(".")[0] in solving and f.class_qualname is None and not f.is_lambda \
                and _PROXIMAL_RE.search(f.name):
            out.setdefault(ix.path, set()).add(q)
    return out


#: functions that build what a loss is scored against (``centerness_target``, ``get_targets``,
#: ``compute_target`` of a TD loss): called from loss code, they are not loss code themselves
TARGET_BUILDER_RE = lazy_pattern(r"(^|_)targets?$", re.IGNORECASE)
#: ... unless the name says it scores something against them (``cross_entropy_with_oh_targets``,
#: ``distance_to_target``)
_SCORED_RE = lazy_pattern(r"loss|objective|criterion|entropy|xent|bce|nll|likelihood|divergence|error|dist|diff|"
                          r"sim|_with_|_to_|_from_|_vs_|_between_", re.IGNORECASE)


def _reached(world: _World, indexes: list[FileIndex], scope: str, loss_functions: tuple[str, ...],
             max_depth: int, found: tuple[list[str], set[str]] | None = None) -> dict[str, set[str]]:
    """path -> what loss (or model) scope reaches from its roots, with the settings and data
    parameters every call from there pins (:mod:`pinned`, :mod:`argflow`)."""
    whole: dict[str, int] = {}  # qualname -> depth reached
    rooted: set[str] = set()
    queue: deque[tuple[str, int]] = deque()

    def add(q: str, depth: int, root: bool = False, owned: bool = False) -> None:
        if q in whole and whole[q] <= depth:
            return
        f = world.functions[q][1]
        if not root and not owned and scope == "loss" and f.model_forward and world.is_network(f.class_qualname):
            return  # calling the network inside the loss does not make its forward loss code
        if not root and scope == "loss" and TARGET_BUILDER_RE.search(f.name) and not _SCORED_RE.search(f.name):
            return  # `centerness_target(ltrb)`, `get_targets(...)`: what the loss is scored against
        whole[q] = depth
        if root:
            rooted.add(q)
        queue.append((q, depth))

    roots, sliced = found or _roots(world, indexes, scope, loss_functions)
    for q in roots:
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
        logged = set(f.reported)  # `float(mae(pred, y))`: a metric reported, not a term of the loss
        for ref in (*(c for c in f.calls if c not in logged), *f.refs):
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


def _roots(world: _World, indexes: list[FileIndex], scope: str,
           loss_functions: tuple[str, ...]) -> tuple[list[str], set[str]]:
    """(the roots, in order; the functions of which only the statements a ``.backward()``
    differentiates are loss code)."""
    roots: list[str] = []
    sliced: set[str] = set()
    host = _host_modules(indexes)
    setup = _setup_helpers(world) if any(f.root == "module" for _, f in world.functions.values()) else set()
    logged = _logged_metrics(world)
    for q, (ix, f) in world.functions.items():
        if f.root == "backward" and not _configured(f, loss_functions):
            sliced.add(q)
        elif _configured(f, loss_functions) or (f.root and not (ix.module in host and f.root in IMPLIED_ROOTS)
                                                 and not (f.root == "module" and q in setup) and q not in logged) \
                or (scope == "model" and f.model_forward):
            roots.append(q)
    roots.extend(q for q in _class_roots(world) if world.functions[q][0].module not in host)
    roots.extend(_value_roots(world, indexes))
    return roots, sliced


def _call_facts(world: _World, every: dict[str, set[str]], loss: dict[str, set[str]], rooted: set[str],
                skip: set[str]) -> None:
    """Add to ``every`` (the --all scope) the facts loss scope knows of the loss code in it
    (``loss``): the settings every call passes and the parameters every call hands only data
    (the constants of a gradient transform, ``jax.grad(loss)(params, batch)``'s ``batch``, and
    the free names of a differentiated closure among them), here with every function of the
    tree a caller, since with --all a model's forward calling a helper is differentiated too.
    Nothing is concluded for the rest: a library's own calls of its helpers (tests, random
    draws, initialisation) say nothing of its users' calls. Files in ``skip`` keep the facts
    loss scope gave them."""
    callers = list(world.functions)
    for entry in [*pins(world, callers, rooted), *data_params(world, callers, rooted)]:
        q = entry.partition("#")[0]
        path = world.functions[q][0].path
        if path not in skip and q in every.get(path, ()) and q in loss.get(path, ()):
            every[path].add(entry)


#: roots a name or a place implies; an explicit mark or a gradient taken is a root anywhere
IMPLIED_ROOTS = frozenset({"name", "module", "loss-class"})


def _host_modules(indexes: list[FileIndex]) -> set[str]:
    """Modules that compute with host libraries only (``HOST_ROOTS``: numpy, never
    differentiated), in a package whose other checked modules import torch or jax: a ``losses/numpy.py`` of evaluation metrics beside ``losses/pytorch.py``
    training losses. Training differentiates through the framework, so a metric named like a
    loss there is evaluation code; it is still checked where loss code calls it."""
    imported = {ix.module: {t.split(".")[0] for t in ix.imports.values()} for ix in indexes}
    framework = {m.split(".")[0] for m, roots in imported.items() if roots & FRAMEWORK_ROOTS}
    return {m for m, roots in imported.items()
            if m.split(".")[0] in framework and roots & HOST_ROOTS and not roots & FRAMEWORK_ROOTS}


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


#: the folders of a package's demonstrations and tests, whose calls are no use of the package
_DEMO_PATH_RE = lazy_pattern(r"(^|/)(examples?|tests?|benchmarks?|docs?)/")


def _logged_metrics(world: _World) -> set[str]:
    """Functions loss code by a metric's name only (``mae``, ``psnr``) that the checked tree
    calls, every time only to report (``float(mae(pred, y))``, ``metrics = {"mae": ...}``, in
    an evaluation function; ``reported_calls``) and never hands on as a value: the evaluation
    its callers log, not a term anyone trains on."""
    named = {q for q, (_, f) in world.functions.items() if f.root == "name" and f.class_qualname is None
             and METRIC_NAME_RE.search(f.name) and not LOSS_NAME_RE.search(f.name)
             and not LOSS_FAMILY_RE.search(f.name.lstrip("_"))}
    if not named:
        return set()
    demo = {q for q in named if _DEMO_PATH_RE.search(world.functions[q][0].path)}
    reported: set[str] = set()
    used: set[str] = set()
    for ix, f in world.functions.values():
        # `print(rmse(a, b))` in a library's examples or tests says nothing of its users
        shown = _DEMO_PATH_RE.search(ix.path) is not None
        quiet = set(f.reported)
        for ref in (*f.calls, *f.reported, *f.refs):
            hit = {q for q in named.intersection(world.targets(ref)) if not shown or q in demo}
            if hit:
                (reported if ref in quiet and ref not in f.refs else used).update(hit)
    return reported - used


def _evaluation_scores(ix: FileIndex) -> set[str]:
    """The functions of ``ix`` that compute a classification score (``accuracy``,
    ``top_k_accuracy``, ``f1_score``, ``recall``, ``roc_auc``), and every method of a class
    named after one (``CategoryAccuracy``, ``WeightedFScore``); not a loss-named one
    (``soft_f1_loss``), nor a precision (a precision matrix is no score)."""
    out = set()
    for q, f in ix.functions.items():
        if f.root is not None:
            continue
        # the function, its class, or a function it is defined in (trax's metric layers
        # return a closure: ``def CategoryAccuracy(): def f(...): ...``)
        parts = q[len(ix.module) + 1:].split(".") if q.startswith(ix.module + ".") else [f.name]
        if any(LOSS_NAME_RE.search(p) or LOSS_CLASS_RE.search(p) for p in parts):
            continue
        if any(EVALUATION_SCORE_RE.search(p.lstrip("_")) or EVALUATION_CLASS_RE.search(p) for p in parts):
            out.add(q)
    return out


def _step(world: _World, caller: FunctionInfo, target: str, depth: int) -> int:
    """The depth of ``target`` called from ``caller`` at ``depth``: a lambda or a function
    written inside the caller costs nothing (its code is the caller's: the ``body`` a
    simulation step hands to ``lax.scan``)."""
    if target.startswith(caller.qualname + ".") and world.functions[target][0] is world.functions[caller.qualname][0]:
        return depth - 1  # (a function of a submodule named like the caller is not written inside it)
    return depth


__all__ = ["loss_scope", "SCOPES", "SLICE", "MODULE_CODE"]
