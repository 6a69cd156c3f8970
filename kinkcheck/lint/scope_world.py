"""The world scope works in: every function, class and binding of the checked files by
qualified name, with what a reference can hold (``self.dist_fn = Metric()``, factories,
``partial``, tables of callables, parameters), the overrides and subclasses a call may reach,
and which classes are networks, ``autograd.Function``s or loss classes. ``scope`` picks the
roots and walks the calls; this module answers its questions about the code."""

from __future__ import annotations

import os
import re
from collections import Counter
from fnmatch import fnmatchcase

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.callables import CALL, MATCH, PARAM
from kinkcheck.lint.index import FileIndex, FunctionInfo
from kinkcheck.lint.roots import (
    AUTOGRAD_BASES,
    AUTOGRAD_METHODS,
    FORWARD_NAMES,
    LOSS_BASES,
    LOSS_CLASS_RE,
    LOSS_FAMILY_RE,
    LOSS_MODULE_RE,
    LOSS_WORD_RE,
    MODEL_BASES,
)
from kinkcheck.lint.values import TABLE

#: where distributions and bijectors come from, and the base classes that make a class one
DENSITY_PACKAGES = ("torch.distributions.", "pyro.distributions.", "numpyro.distributions.", "distrax.",
                    "tensorflow_probability.")
DENSITY_BASES = frozenset({"Distribution", "TorchDistribution", "ExponentialFamily", "TransformedDistribution",
                           "Transform", "Bijector", "TransformModule"})
#: a base of any package (its own framework: flowjax's ``AbstractBijection``, TFP's
#: ``AutoCompositeTensorBijector``) named as what a density is built from
DENSITY_BASE_RE = lazy_pattern(r"(?:Bijection|Bijector|Distribution)$")
#: the methods of a distribution or bijector that training differentiates: the log-density, its
#: CDF, entropy and KL, the reparameterized draw, and a transform's maps and log-Jacobian, as the flow libraries
#: name them (torch's ``_call``, TFP's ``_forward``, flowjax's ``transform_and_log_det``, nflows'
#: ``forward``/``inverse``, ``fwd``/``rev`` with ``log_jac``; pomegranate's ``log_probability``,
#: scipy's ``logpdf``)
DENSITY_METHODS = frozenset({"log_prob", "_log_prob", "log_density", "log_probability", "logpdf", "logpmf", "rsample", "_call", "_inverse",
                             "log_abs_det_jacobian", "call_and_ladj", "forward_and_log_det", "inverse_and_log_det",
                             "transform_and_log_det", "_forward", "_forward_log_det_jacobian",
                             "_inverse_log_det_jacobian", "forward", "inverse", "reverse", "fwd", "rev", "log_jac",
                             "log_jacobian", "log_det",
                             # what censored likelihoods, ELBOs and entropy bonuses differentiate
                             "log_cdf", "log_survival_function", "entropy",
                             "kl_divergence", "_kl_divergence"})

#: what a distribution draws with, beside its ``log_prob``
_DRAWS = frozenset({"sample", "rsample", "sample_and_log_prob", "sample_n"})

#: the references followed from one value to what it holds
MAX_HOPS = 24
#: the overrides followed from one base-class method: a framework base class with hundreds of
#: subclasses in the checked tree must not pull them all into scope through one call
MAX_SUBCLASSES = 32


#: the methods a loop over a container calls to walk what it holds
_LOOPED = frozenset({"items", "values"})


class _World:
    """Every function, class and binding of the checked files, by qualified name."""

    def __init__(self, indexes: list[FileIndex]):
        self.functions: dict[str, tuple[FileIndex, FunctionInfo]] = {}
        self.modules: dict[str, FileIndex] = {}
        self.classes: dict[str, tuple[str, ...]] = {}
        self.class_module: dict[str, str] = {}  # class -> the module that defines it
        self.bindings: dict[str, list[str]] = {}
        self.methods: dict[str, list[str]] = {}  # class -> its own methods
        self.networks: set[str] = set()
        for ix in indexes:
            self.networks.update(getattr(ix, "networks", ()))
            self.modules[ix.module] = ix
            self.classes.update(ix.classes)
            self.class_module.update(dict.fromkeys(ix.classes, ix.module))
            for q, f in ix.functions.items():
                self.functions[q] = (ix, f)
                if f.class_qualname and q == f"{f.class_qualname}.{f.name}":
                    self.methods.setdefault(f.class_qualname, []).append(q)
            for k, refs in getattr(ix, "bindings", {}).items():
                self.bindings.setdefault(k, []).extend(refs)
        #: the dotted names a module outside packages is imported by, from its path
        self.aliases = _path_aliases(indexes, self.modules)
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
            elements = self._elements(ref[: -len(CALL)], seen)
            if elements is not None:
                return elements
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

    def _elements(self, ref: str, seen: set[str]) -> set[tuple[str, str]] | None:
        """``self.terms.items()`` / ``.values()`` where ``self.terms`` holds objects or functions
        (a ``ModuleDict``, a dict of callables) and no class of them defines that method: what
        it holds, each element of the loop over it. None where ``ref`` is not such a call."""
        head, _, attr = ref.rpartition(".")
        if attr not in _LOOPED or not head or ref in self.functions or ref in self.bindings:
            return None
        held = self.values(head, set(seen))
        if not held or any(kind != "def" and any(f"{c}.{attr}" in self.functions for c in self.mro(q)) for kind, q in held):
            return None
        return {(kind, q) for kind, q in held if kind in ("inst", "def")}

    def _member(self, cls: str, attr: str, seen: set[str]) -> set[tuple[str, str]]:
        """An attribute of a class or of its instances: a method, a stored value, or
        ``apply`` of an autograd Function (which runs its forward and backward)."""
        if attr.startswith(MATCH):
            return self._matching(cls, attr[len(MATCH):], seen)
        for c in self.mro(cls):
            q = f"{c}.{attr}"
            if q in self.functions or q in self.bindings:
                return self.values(q, seen)
        if attr == "apply" and self.is_autograd(cls):
            return {("def", m) for c in self.mro(cls) for m in self.methods.get(c, ())
                    if m.rsplit(".", 1)[-1] in AUTOGRAD_METHODS}
        # an interface that leaves the method to its subclasses (`estimator: MEstimator`, then
        # `estimator.rho(u)`): the object is one of them, and any of their methods may run
        out: set[tuple[str, str]] = set()
        for c in self.subclasses(cls):
            q = f"{c}.{attr}"
            if q in self.functions:
                out |= self.values(q, seen)
        return out

    def _matching(self, cls: str, pattern: str, seen: set[str]) -> set[tuple[str, str]]:
        """The methods whose names fit ``pattern``, of the class, its ancestors and its
        subclasses (``self`` in ``getattr(self, f"{kind}_reduction")`` may be any of them)."""
        out: set[tuple[str, str]] = set()
        for c in (*self.mro(cls), *self.subclasses(cls)):
            for q in self.methods.get(c, ()):
                if fnmatchcase(q.rpartition(".")[2], pattern):
                    out |= self.values(q, set(seen))
        return out

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
                alias = self.aliases.get(".".join(parts[:cut]))
                if alias is not None:
                    return ".".join([alias, *parts[cut:]])  # `losses.dice.Dice` of dice.py
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

    def is_density(self, cls: str) -> bool:
        """A distribution or a bijective transform of a probabilistic-programming library, of
        the checked tree deriving from one, or of a package's own framework (a base named
        ``*Bijection``, ``*Bijector``, ``*Distribution``), or a class of no base shaped like a
        distribution (it defines ``log_prob`` and draws: an RL library's own ``TanhNormal``):
        training differentiates its log-density."""
        if any(b.startswith(DENSITY_PACKAGES) and b.rsplit(".", 1)[-1] in DENSITY_BASES
               or DENSITY_BASE_RE.search(b) for b in self.bases(cls)):
            return True
        if any(b not in ("object", "builtins.object") for b in self.classes.get(cls, ())) \
                or cls.startswith(DENSITY_PACKAGES) or DENSITY_BASE_RE.search(cls):
            # a library's own hierarchy says what is a distribution (its bases above); its root
            # class (numpyro's `Distribution`) holds the generic methods every subclass overrides
            return False
        own = {m.rsplit(".", 1)[-1] for m in self.methods.get(cls, ())}
        return "log_prob" in own and bool(own & _DRAWS)

    def is_loss_class(self, cls: str) -> bool:
        """Named like a loss (``*Loss``, a loss-named module), a module kept with the losses, a
        subclass of ``_Loss`` or of a checked loss class, or one whose forward is a root."""
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
                    LOSS_WORD_RE.search(name) or LOSS_FAMILY_RE.search(_snake(name))
                    or _loss_module_class(self.class_module.get(c, ""))):
                # `class InfoNCE(nn.Module)`, `class NTXent(nn.Module)`: named after its loss;
                # `class SingleSrcPMSQE(nn.Module)` in `asteroid.losses.pmsqe`: kept with the losses
                return True
        for m in self.methods.get(c, ()):
            f = self.functions[m][1]
            if f.name in FORWARD_NAMES and f.root in ("decorator", "comment", "loss-class", "grad-transform"):
                return True
            if f.name in FORWARD_NAMES and f.model_forward and f.flow and _TARGET_PARAM_RE.match(" ".join(f.flow[0])) \
                    and not self.is_network(c) and not self._calls_held(c, f) and not _SCORE_CLASS_RE.search(name):
                # `ArcFace.forward(features, targets)` holding only its weight: a head that puts
                # the labels' margins into the logits computes the training objective
                return True
        return False

    def _calls_held(self, c: str, f) -> bool:
        """``f`` (a method of ``c``) calls something ``c`` holds, not a method of its own
        (``self.head(x)``: a module whose layers are built elsewhere)."""
        own = {m.rsplit(".", 1)[-1] for k in self.mro(c) for m in self.methods.get(k, ())}
        return any(r.startswith(c + ".") and r[len(c) + 1:] not in own for r in f.calls)


#: a module that measures (``SilhouetteScore``, ``AccuracyMetric``): evaluation, not an objective
_SCORE_CLASS_RE = lazy_pattern(r"(Score|Metric|Metrics|Accuracy|Evaluator|Evaluation)$")
#: the parameters of a forward that takes the labels (``forward(self, x, target=None)``)
_TARGET_PARAM_RE = lazy_pattern(r".*\b(target|targets|label|labels|gt_labels|y_true)\b")


def _path_aliases(indexes: list[FileIndex], modules: dict[str, FileIndex]) -> dict[str, str]:
    """``losses.dice`` -> ``dice`` for ``losses/dice.py`` in a folder without ``__init__.py``:
    a research repository imports its namespace folders by their path from where it runs,
    while the module name stops at the first folder that is no package. Each longer dotted
    suffix of the file's path names it, unless it names a checked module or two files, or the
    file shares its module name with another (whose functions then share qualified names)."""
    seen: dict[str, str | None] = {}
    shared = Counter(ix.module for ix in indexes)
    for ix in indexes:
        if shared[ix.module] > 1:
            continue  # `losses/utils.py` and `models/utils.py` are both `utils`: no alias tells them apart
        parts = [p for p in os.path.abspath(ix.path).replace("\\", "/").split("/") if p]
        if not parts or not parts[-1].endswith(".py"):
            continue
        parts[-1] = parts[-1][:-3]
        if parts[-1] == "__init__":
            parts.pop()
        own = len(ix.module.split("."))
        for start in range(len(parts) - own - 1, -1, -1):
            if not parts[start].isidentifier():
                break
            alias = ".".join(parts[start:])
            if alias not in modules:
                seen[alias] = ix.module if seen.get(alias, ix.module) == ix.module else None
    return {alias: module for alias, module in seen.items() if module is not None}


def _loss_module_class(module: str) -> bool:
    """A module class kept with the losses: in a ``losses`` package, or in a ``loss.py`` /
    ``losses.py`` module (speechbrain's ``nnet/losses.py`` ``AngularMargin``). A lone module
    is enough for a network class, unlike for a plain function (a script's ``loss.py`` may hold
    its reporting too, but nobody keeps a model's layers there)."""
    return any(LOSS_MODULE_RE.search(part) for part in module.split("."))


def _snake(name: str) -> str:
    """``InfoNCE`` -> ``info_nce``, ``NTXent`` -> ``nt_xent``, ``SmoothL1`` -> ``smooth_l1``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
