"""Which lax primitives are kinked, for which rule, and where each one's kink lies.

The catalog's ``[runtime] jax`` lists name lax primitives (``abs``, ``max``) and qualified
jax functions (``jax.nn.relu``): a kinked primitive bound while such a function runs belongs
to that function's rule (``jnp.maximum`` inside ``jax.nn.relu`` is a relu at zero, the
``sqrt`` inside ``jnp.linalg.norm`` a norm at zero). :func:`how` reads the primitive's
operands and parameters into the static description of its kink that
:func:`kinkcheck.trace.backends.jax_count.distance` measures.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import dataclasses
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from jax._src import core

#: the modules that define the lax primitives the catalog can name
_PRIM_MODULES = ("jax._src.lax.lax", "jax._src.lax.special", "jax._src.lax.windowed_reductions")

#: jax functions whose kinked primitives are not kinks of the user's loss: smooth functions
#: built from a max they cancel (log_softmax subtracts a stopped max), reductions that divide
#: by a count, random sampling and initializers (never differentiated)
SMOOTH = (
    "jax.nn.log_softmax", "jax.nn.softmax", "jax.nn.logsumexp", "jax.scipy.special.logsumexp",
    "jax.numpy.mean", "jax.numpy.average", "jax.numpy.var", "jax.numpy.nanmean",
    "jax._src.numpy.reductions._mean", "jax._src.numpy.reductions._var",
)
#: files whose kinked primitives are never the user's: random sampling, initializers
SKIP_FILES = ("jax/_src/random.py", "jax/_src/prng.py", "jax/_src/nn/initializers.py")
#: catalog functions built on a comparison (``jnp.where(x >= 0, x, a * x)``), with no kinked
#: primitive of their own: the comparison that picks the branch is their kink, a tie of its
#: two operands. Comparisons count only inside these functions (``x > 0`` elsewhere is the
#: analyzer's KC304/KC402, not a runtime kink)
BRANCHES = {
    "jax.nn.leaky_relu": ("ge",),  # x >= 0
    "jax.nn.hard_tanh": ("gt", "lt"),  # x > 1, x < -1
    "jax.numpy.heaviside": ("lt",),  # x1 < 0 (its x1 > 0 is the same kink: counted once)
}
_COMPARISONS = ("ge", "gt", "le", "lt")


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    kind: str
    subgradient: str | None
    #: what near is measured against (catalog.NEAR_SCALES): tensor, element or own
    near: str = "tensor"
    #: the catalog function whose primitives these are (``jax.nn.relu``), or None
    via: str | None = None
    #: the comparisons that are this function's kink (:data:`BRANCHES`); for a comparison
    #: primitive's own entry, ("*",): it counts only inside such a function
    branch: tuple[str, ...] = ()


def primitives() -> dict[str, core.Primitive]:
    """Every lax primitive by name."""
    out: dict[str, core.Primitive] = {}
    for mod_name in _PRIM_MODULES:
        mod = importlib.import_module(mod_name)
        for value in vars(mod).values():
            if isinstance(value, core.Primitive):
                out.setdefault(value.name, value)
    return out


@functools.lru_cache(maxsize=1)
def lax_files() -> frozenset[str]:
    """The files of the lax functions that bind kinked primitives for the user (``lax.abs``)."""
    files = (importlib.import_module(m).__file__ for m in _PRIM_MODULES)
    return frozenset(os.path.realpath(f) for f in files if f)


def function_code(qualname: str):
    """The code object behind a qualified jax function (through custom_jvp, jit, wraps), or None."""
    mod_name, _, attr = qualname.rpartition(".")
    try:
        obj = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError):
        return None
    for _ in range(6):
        if inspect.isfunction(obj):
            return obj.__code__
        obj = getattr(obj, "fun", None) or getattr(obj, "__wrapped__", None) or getattr(obj, "_fun", None)
        if obj is None:
            return None
    return None


def table(catalog, codes) -> tuple[dict, dict, list[str]]:
    """(primitive -> Rule, function code object -> Rule, the selected codes' names not found).

    Every rule of the catalog is entered, selected or not, so that a bind belongs to the same
    rule whatever the selection: the ``lax.max`` inside ``jax.nn.relu`` is KC102's with or
    without KC104 selected (and never KC104's), the ``sqrt`` inside ``jnp.linalg.norm`` KC203's.
    The selection filters afterwards: the backend counts a bind only when the rule it ends up
    with is selected. A primitive whose own rule is not selected is kept only while a selected
    function may bind it."""
    prims = primitives()
    by_prim: dict = {}
    by_code: dict = {}
    missing: list[str] = []
    for code in sorted(catalog):
        rule = catalog[code]
        rt = rule.runtime
        if rt is None:
            continue
        sub = rule.subgradient("jax")
        entry = Rule(code, rule.name, rt.kind, sub.value if sub else None, getattr(rt, "near", "tensor"))
        for name in rt.jax:
            if "." in name:
                fn = function_code(name)
                if fn is None:
                    missing.append(f"{code}: {name}")
                else:
                    branch = BRANCHES.get(name, ())
                    by_code.setdefault(fn, dataclasses.replace(entry, via=name, branch=branch))
                    for prim in branch:
                        by_prim.setdefault(prims[prim], Rule("", "", "tie", None, branch=("*",)))
            elif name in prims:
                by_prim.setdefault(prims[name], entry)
            else:
                missing.append(f"{code}: lax.{name}")
    if not any(r.code in codes for r in by_code.values()):
        by_prim = {p: r for p, r in by_prim.items() if r.code in codes}
    return by_prim, by_code, [m for m in missing if m.split(":")[0] in codes]


def smooth_codes() -> frozenset:
    return frozenset(c for c in (function_code(q) for q in SMOOTH) if c is not None)


def _aval(x):
    return core.typeof(x)


def _concrete(x):
    """The value of an operand known while tracing (a constant), or None."""
    if isinstance(x, core.Tracer):
        return None
    try:
        return np.asarray(x)
    except Exception:  # noqa: BLE001 - an array we cannot read is just not a constant
        return None


def reachable(how_: tuple, operands) -> bool:
    """Can a count's kink be reached, given what is known by now of its operands? Inside a
    jnp function's own jit a constant denominator (``x / 2.0``) is a tracer; once the program
    is inlined for counting (:mod:`.jax_rewrite`) it is a literal, and no site."""
    if how_[0] == "denominator":
        y = _concrete(operands[1])
        return y is None or not np.all(y != 0)
    if how_[0] == "pow":
        p = _concrete(operands[1])
        return p is None or bool(np.any((p < 1) & (p != 0)))
    return True


_ZERO = ("abs", "sqrt", "rsqrt", "cbrt", "log", "sign")
_UNIT = ("acos", "asin", "acosh", "atanh")


def how(name: str, args, params) -> tuple[tuple, tuple] | None:
    """(the static kink location, the operands to measure) for one bind, or None when this
    bind cannot reach its kink (integer operands, a constant non-zero denominator, x ** 2)."""
    operands = tuple(args)
    x = args[0]
    dt = _aval(x if name != "clamp" else args[1]).dtype
    if not jnp.issubdtype(dt, jnp.inexact):  # jnp's: bfloat16 and float8 too (numpy's says no)
        return None
    if name in _ZERO:
        return ("zero",), operands[:1]
    if name == "log1p":
        return ("log1p",), operands[:1]
    if name == "pow":
        p = _concrete(args[1])
        if p is not None and not np.any((p < 1) & (p != 0)):
            return None
        return ("pow",), operands
    if name in ("max", "min") or name in _COMPARISONS:
        return ("tie",), operands
    if name == "clamp":
        return ("bound",), operands
    if name == "div":
        y = _concrete(args[1])
        if y is not None and np.all(y != 0):
            return None
        return ("denominator",), operands
    if name in _UNIT:
        return ("unit", name), operands[:1]
    if name == "atan2":
        return ("origin",), operands
    if name in ("round", "floor", "ceil"):
        return ("step", name), operands[:1]
    if name == "rem":
        return ("step", "rem"), operands
    if name in ("reduce_max", "reduce_min", "argmax", "argmin"):
        pick = "max" if name.endswith("max") else "min"
        return ("reduce", tuple(int(a) for a in params["axes"]), pick), operands[:1]
    if name == "sort":  # ties between neighbours of the sorted keys (argsort's too, as torch's sort)
        if int(params.get("num_keys", 1)) != 1:
            return None
        return ("sort", int(params["dimension"])), operands[:1]
    if name == "top_k":  # a tie across the k-th boundary: the k-th and the (k+1)-th largest
        return ("topk", int(params["k"]), int(params.get("axis", -1))), operands[:1]
    if name == "reduce_window_max":  # max-pool: each window's maximum and its runner-up
        return ("window", tuple(int(d) for d in params["window_dimensions"]),
                tuple(int(d) for d in params["window_strides"]),
                tuple((int(lo), int(hi)) for lo, hi in params["padding"]),
                tuple(int(d) for d in params["base_dilation"]),
                tuple(int(d) for d in params["window_dilation"])), operands[:1]
    return None
