"""What the cheap pass (``index``) records per file: plain, picklable data that the cache
stores by file content and scope analysis reads."""

from __future__ import annotations

from dataclasses import dataclass, field

INDEX_VERSION = 24

MODULE_CODE = "<module>"
#: how JAX optimizers apply a gradient: flax's ``TrainState.apply_gradients``, optax's ``apply_updates``
APPLIES_GRADIENTS = frozenset({"apply_gradients", "apply_updates"})

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
    #: why this is a root: "name", "loss-class", "decorator", "comment", "backward", "grad-transform",
    #: "double-backward" (``autograd.grad(..., create_graph=True)``: the gradient is differentiated again)
    root: str | None = None
    has_candidates: bool = False
    #: ``forward``/``__call__`` of an nn.Module / flax module (scope "model")
    model_forward: bool = False
    class_qualname: str | None = None
    #: refs (see ``callables``) of the callables this function stores, passes or returns
    refs: tuple[str, ...] = ()
    #: refs of what it returns (a factory's product)
    returns: tuple[str, ...] = ()
    #: parameter names, positional first
    params: tuple[str, ...] = ()
    #: a lambda bound to a name or passed as a value, indexed as a function of its own
    is_lambda: bool = False
    #: the calls it makes into checked code: (callee, positional arguments or -1 behind a
    #: ``*args``/``**kwargs``, the keywords with the literal each passes or None, whether
    #: only data is handed over); see ``pinned``
    settings: tuple[tuple[str, int, tuple[tuple[str, str | None], ...], bool], ...] = ()
    #: where its calls' arguments and its return values come from (``argflow.Summary``):
    #: (parameters, the calls into checked code with their arguments' atoms, the returns' atoms)
    flow: "tuple | None" = None
    #: the range every return value has, for callers in other files (``return_range``)
    ret_range: str | None = None
    #: the parameters ("name:position") a module-level function's returns are made of when
    #: nothing else in them can carry gradient, for callers in other files (``return_data``)
    data_return: tuple[str, ...] | None = None
    #: it applies a gradient with an optimizer (flax's ``apply_gradients``, optax's ``apply_updates``)
    applies_gradients: bool = False
    #: the metric-named callees every call of which here only reports (``float(mae(p, y))``);
    #: see ``reported_calls``
    reported: tuple[str, ...] = ()


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
    #: (grad target, the positions of its arguments the transform differentiates, None for all)
    grad_argnums: tuple[tuple[str, tuple[int, ...] | None], ...] = ()
    may_have_findings: bool = False
    #: module-level names, class attributes and ``self.attr`` -> refs of the values stored there
    bindings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: (callee, position or keyword, ref): a callable passed to a call
    passes: tuple[tuple[str, int | str, str], ...] = ()
    #: refs bound to loss-like names (``criterion = ...``, ``loss_fn=...``)
    bound_roots: tuple[str, ...] = ()
    #: modules imported with ``*``
    stars: tuple[str, ...] = ()
    #: classes that build layers (``nn.Linear``, ``nn.Conv2d``, flax/equinox/haiku layers):
    #: networks, whose forward is not loss code even when a loss calls it
    networks: tuple[str, ...] = ()
    version: int = INDEX_VERSION

    @property
    def roots(self) -> dict[str, str]:
        return {q: f.root for q, f in self.functions.items() if f.root}
