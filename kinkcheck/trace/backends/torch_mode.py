"""The torch backend's op table and dispatch mode: which aten overloads are kinks (from the
catalog's ``[runtime]`` sections, with their in-place and ``out=`` siblings found in the op
registry), and the mode that sends those to the backend and every other op straight on."""

from __future__ import annotations

import warnings

import torch

from kinkcheck.trace.backends.stack import KinkMode
from kinkcheck.trace.backends.torch_locate import locator

_warned: set[str] = set()


def _warn_once(key: str, msg: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


class _Spec:
    """One kinked overload: its rule, how to locate the kink, and what near is measured on."""

    __slots__ = ("code", "kind", "locate", "name", "near", "op", "plain", "post", "relu_out")

    def __init__(self, code, name, kind, op, locate, post, relu_out, near="tensor", plain=""):
        self.code, self.name, self.kind, self.op = code, name, kind, op
        self.locate, self.post, self.relu_out, self.near, self.plain = locate, post, relu_out, near, plain


_RESOLVED: dict = {}


def resolve(overload_name: str):
    """``abs.default`` -> torch.ops.aten.abs.default, or None when this torch lacks it."""
    try:
        return _RESOLVED[overload_name]
    except KeyError:
        op = _RESOLVED[overload_name] = _resolve(overload_name)
        return op


def _resolve(overload_name: str):
    base, _, ov = overload_name.partition(".")
    packet = getattr(torch.ops.aten, base, None)
    if packet is None:
        return None
    try:
        return getattr(packet, ov or "default")
    except (AttributeError, RuntimeError):
        return None


_RELU_OUT = {"relu", "relu_"}


def _signature(op) -> tuple:
    """An overload's inputs by name and type, leaving out ``out=`` tensors and aliasing."""
    return tuple((a.name, str(a.type)) for a in op._schema.arguments if not a.is_out)


_SIBLINGS: dict = {}


def siblings(op) -> list[tuple[object, str]]:
    """The in-place and ``out=`` forms of ``op``: overloads of ``name`` / ``name_`` that take
    the same inputs (``abs_.default`` and ``abs.out`` for ``abs.default``; ``max.dim_max``
    for ``max.dim``). They compute the same function, so they are the same kink. Found once
    per process (reading schemas costs milliseconds; a trace starts every training step in
    a decorated loss)."""
    got = _SIBLINGS.get(op)
    if got is None:
        got = _SIBLINGS[op] = _siblings(op)
    return got


def _siblings(op) -> list[tuple[object, str]]:
    base = op._schema.name.split("::")[-1]
    plain = base[:-1] if base.endswith("_") and not base.startswith("_") else base
    want = _signature(op)
    out = []
    for name in (plain, plain + "_"):
        packet = getattr(torch.ops.aten, name, None)
        if packet is None:
            continue
        for ov in packet.overloads():
            other = getattr(packet, ov)
            if other is not op and _signature(other) == want:
                out.append((other, f"{name}.{ov}"))
    return out


_TABLES: dict = {}


def build_table(catalog, codes, backend) -> tuple[dict, list[str]]:
    """op -> _Spec for the selected rules, and the overloads this torch lacks. The table is
    made once per (catalog, rules) and copied per trace (a trace may start every step); only
    the max-pool locators, which ask their backend about ReLU outputs, are made afresh."""
    key = (id(catalog), frozenset(codes))
    got = _TABLES.get(key)
    if got is None or got[0] is not catalog:
        got = _TABLES[key] = (catalog, *_build_table(catalog, codes))
    _, shared, missing = got
    table = dict(shared)
    for op, spec in shared.items():
        if spec.kind == "window-tie":
            locate, post = locator(spec.kind, spec.plain, backend, near=spec.near)
            table[op] = _Spec(spec.code, spec.name, spec.kind, spec.op, locate, post, spec.relu_out, spec.near, spec.plain)
    return table, list(missing)


def _build_table(catalog, codes) -> tuple[dict, list[str]]:
    backend = None  # window-tie locators are bound to their backend by build_table
    table: dict = {}
    missing: list[str] = []
    for code in sorted(codes):
        rule = catalog[code]
        rt = rule.runtime
        if rt is None:
            continue
        for name in rt.aten:
            op = resolve(name)
            if op is None:
                missing.append(f"{code}: aten.{name}")
                continue
            base = name.split(".")[0]
            plain = base[:-1] if base.endswith("_") and not base.startswith("_") else base
            if op in table:  # an op in two rules (clamp_min: KC103 and KC901) counts for the first
                continue
            locate, post = locator(rt.kind, plain, backend, near=rt.near, op=op, bounds=rt.bounds_of(plain), code=code)
            table[op] = _Spec(code, rule.name, rt.kind, f"aten.{name}", locate, post, base in _RELU_OUT, rt.near, plain)
            for sib, sib_name in siblings(op):  # abs_ and abs.out count as abs
                if sib not in table:
                    sbase = sib_name.split(".")[0]
                    table[sib] = _Spec(code, rule.name, rt.kind, f"aten.{sib_name}", locate, post,
                                       sbase in _RELU_OUT, rt.near, plain)
    # max-pool harmlessness needs to know relu outputs even when KC102 is not traced
    if any(s.kind == "window-tie" for s in table.values()):
        for name in ("relu.default", "relu_.default"):
            op = resolve(name)
            if op is not None and op not in table:
                table[op] = _Spec(None, None, None, f"aten.{name}", None, False, True)
    return table, missing


_grad_enabled = torch.is_grad_enabled

#: what the torch backend counts (the trace file's ``counted``, the summary's caption)
COUNTED = ("ops autograd differentiates: grad enabled and an input that requires grad "
           "(no_grad, inference_mode and constants are not counted)")
COUNTED_ALL = "every op, differentiated or not (only_differentiated=False)"


def _differentiated(args) -> bool:
    """Does autograd record this op? (an input tensor that requires grad; lists of tensors too)"""
    for a in args:
        if isinstance(a, torch.Tensor):
            if a.requires_grad:
                return True
        elif isinstance(a, (list, tuple)):
            for b in a:
                if isinstance(b, torch.Tensor) and b.requires_grad:
                    return True
    return False


def _has_data(args) -> bool:
    """Are the op's tensors dense tensors with values to measure? Meta tensors have none;
    sparse and nested layouts are not measured (said once)."""
    for a in args[:3]:
        if isinstance(a, torch.Tensor):
            if a.device.type == "meta":
                return False
            if a.layout != torch.strided or a.is_nested:
                _warn_once("layout", f"kinkcheck.trace: ops on {a.layout} tensors are not counted")
                return False
    return True


_OpOverload = torch._ops.OpOverload


class _Mode(KinkMode):
    """Sends kink ops to the backend and every other op straight on. Ops are looked up by
    ``id`` (an overload's ``__hash__`` is a Python method) in what this mode has seen: a
    non-kink overload is called through its C entry (``OpOverload.__call__`` only forwards to
    it), so a non-kink op runs no Python frame but this one (and torch's wrapper of it)."""

    def __init__(self, backend):
        super().__init__()
        self.backend = backend
        self.table = backend.table
        self._plain: dict[int, object] = {}  # id(op) -> what to call
        self._kinks: dict[int, _Spec] = {}  # id(op) -> its spec (the table keeps the op alive)
        self._held: list = []  # the non-kink ops seen: alive while their ids are keys

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        key = id(func)
        call = self._plain.get(key)
        if call is not None:
            return call(*args, **(kwargs or {}))
        spec = self._kinks.get(key)
        if spec is None:
            spec = self.table.get(func)
            if spec is None:
                return self._learn(func)(*args, **(kwargs or {}))
            self._kinks[key] = spec
        return self.backend.handle(spec, func, args, kwargs or {})

    def _learn(self, func):
        """A non-kink op seen for the first time: what to call for it from now on."""
        call = func._op if type(func) is _OpOverload else func  # a subclass may call otherwise
        self._held.append(func)
        self._plain[id(func)] = call
        return call
