"""Which user line and which rule a kinked lax bind belongs to, read from the Python stack.

A bind is the user's when the first frame above it outside jax, flax, haiku, equinox (and
kinkcheck) is, and no smooth function (``log_softmax``), random sampling, initializer, optax
update or primitive rule lies between. The rule is the primitive's own, or that of the
innermost catalog function it went through (``jax.nn.relu``'s ``lax.max`` is KC102's:
:func:`.jax_ops.table`); the trace's rule selection filters only then.
"""

from __future__ import annotations

import functools
import os
import sys
import types

from jax._src import core

from kinkcheck.trace.attribution import INTERNAL, Attributor, package_dirs
from kinkcheck.trace.backends import jax_frames, jax_ops
from kinkcheck.trace.backends.jax_state import SITES

#: frames under these packages are never the user's line (flax/haiku/equinox layers are
#: library code the user calls, as torch.nn is)
JAX_INTERNAL = (*INTERNAL, "jax", "jaxlib", "flax", "haiku", "equinox")
#: kinked ops made inside these packages are not counted: optimizer updates are never
#: differentiated (as torch's optimizer.step() is not counted)
SKIP_PACKAGES = ("optax",)


@functools.cache
def _installed(names: tuple[str, ...]) -> tuple[str, ...]:
    """The packages of ``names`` that are installed (the attributor caches its directories
    once all the packages it is given are found)."""
    return tuple(n for n in names if package_dirs(n))


@functools.cache
def _skip_dirs() -> tuple[str, ...]:
    return tuple(d for name in SKIP_PACKAGES for d in package_dirs(name))


#: (id(catalog), codes) -> (catalog, tables): the tables of :func:`.jax_ops.table` take about a
#: millisecond (every lax primitive, every catalog function's code object) and a trace is
#: often entered once per few steps; the catalog is kept, so that its id is not reused
_TABLES: dict[tuple, tuple] = {}


def _tables(catalog, codes) -> tuple[dict, dict, list[str]]:
    key = (id(catalog), frozenset(codes))
    got = _TABLES.get(key)
    if got is None or got[0] is not catalog:
        if len(_TABLES) > 32:
            _TABLES.clear()
        got = _TABLES[key] = (catalog, jax_ops.table(catalog, codes))
    by_prim, by_code, missing = got[1]
    return by_prim, by_code, list(missing)


@functools.cache
def _smooth() -> frozenset:
    return jax_ops.smooth_codes()


class Locator:
    """One trace's reading of kinked binds: the catalog tables for its rules and its root."""

    def __init__(self, tracer):
        self.codes = tracer.codes
        self.by_prim, self.by_code, self.missing = _tables(tracer.catalog, tracer.codes)
        self.smooth = _smooth()
        self.attributor = Attributor(tracer.root, _installed(JAX_INTERNAL))
        self.skip_dirs = _skip_dirs()

    def locate(self, prim, rule, args, params, depth: int):
        """(site slot, rule, differentiated, how, operands) of a kinked bind that is the
        user's, or None; ``depth``: the bind's caller, counted from here."""
        where = self.where(rule, prim.name, depth + 1)
        if where is None:
            return None
        rule, code_obj, line, diff = where
        spec = jax_ops.how(prim.name, args, params)
        if spec is None:
            return None
        how, operands = spec
        dtype = str(core.typeof(args[1] if prim.name == "clamp" else args[0]).dtype)
        slot = SITES.slot((code_obj, line, rule, f"lax.{prim.name}", dtype))
        return slot, rule, diff, how, operands

    def where(self, rule, name: str, depth: int = 3):
        """(rule, user code, line, differentiated): the first user frame above the bind, the
        rule of the catalog function it went through and whether a custom_jvp/custom_vjp
        call around it is differentiated (:func:`.jax_frames.custom_diff`); None when the op is not the
        user's. A comparison is the user's only inside a function it is the kink of
        (``jax_ops.BRANCHES``)."""
        att = self.attributor
        f: types.FrameType | None = sys._getframe(depth)
        user = None
        while f is not None:
            code = f.f_code
            if code in self.smooth or jax_frames.in_rule(code):
                return None
            remap = self.by_code.get(code)
            if remap is not None:
                if rule.branch == ("*",):  # a comparison: the innermost catalog function decides
                    if name not in remap.branch:
                        return None
                    rule = remap
                elif not remap.branch:
                    rule = remap
            if code in jax_frames.THUNKS:  # traced lazily, when differentiated: the user's line is the equation's
                user = jax_frames.source_line(att)
                break
            if not att.is_internal(code):
                user = (code, f.f_lineno)
                break
            if code.co_filename.endswith(jax_ops.SKIP_FILES) or code.co_filename.replace(os.sep, "/").endswith(
                    jax_ops.SKIP_FILES):
                return None
            f = f.f_back
        if user is None:
            return None
        if self.skip_dirs and os.path.abspath(user[0].co_filename).startswith(self.skip_dirs):
            return None
        if rule.code not in self.codes:
            return None
        return rule, user[0], user[1], jax_frames.custom_diff(sys._getframe(depth))
