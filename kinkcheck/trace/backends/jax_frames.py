"""What the Python stack says about a kinked primitive's bind, for the JAX backend.

Whether it is a transformation's own work (a JVP, batching or transpose rule), whether a lax
function bound it (the user's op, not a jaxpr evaluated again), whether it is the primal of a
differentiated ``custom_jvp``/``custom_vjp`` call (``jax.nn.relu`` under ``grad``), and the
user's line of an equation traced lazily while a jaxpr is differentiated. Each answer is
JAX's own state, read while tracing; nothing here runs in the compiled program.
"""

from __future__ import annotations

import os
import types

from jax._src import source_info_util
from jax._src.interpreters import ad as _ad
from jax._src.interpreters import partial_eval as _pe

from kinkcheck.trace.backends import jax_ops

_RULE_FRAMES: dict = {}
_RULE_FILES = tuple(os.sep + os.path.join("interpreters", f) for f in ("ad.py", "batching.py", "partial_eval.py"))


def in_rule(code) -> bool:
    """Is this frame a transformation applying a primitive's rule (a JVP, batching or
    transpose rule, the backward pass)? What such rules bind is the transformation's work, not
    the user's op (the transpose of ``x / y`` divides by ``y`` again)."""
    got = _RULE_FRAMES.get(code)
    if got is None:
        name = code.co_name
        got = _RULE_FRAMES[code] = code.co_filename.endswith(_RULE_FILES) and (
            name == "process_primitive" or name.startswith(("backward_pass", "transpose")))
    return got


#: JVPTrace's and LinearizeTrace's handling of custom_jvp / custom_vjp calls: they evaluate the
#: function's primal (or fwd) outside the differentiating trace
CUSTOM_CALLS = frozenset(
    getattr(getattr(_ad, cls), meth).__code__
    for cls in ("JVPTrace", "LinearizeTrace") for meth in ("process_custom_jvp_call", "process_custom_vjp_call")
    if hasattr(getattr(_ad, cls, None), meth))


def _nested_codes(fn, names: tuple[str, ...]) -> set:
    code = getattr(fn, "__code__", None)
    return {c for c in (code.co_consts if code else ()) if isinstance(c, types.CodeType) and c.co_name in names}


#: the thunks that trace a custom_jvp's JVP rule (or a custom_vjp's fwd) lazily, when a jaxpr
#: traced before is differentiated (``grad(jit(f))`` with ``jax.nn.relu`` in ``f``): the Python
#: stack then holds the transformation, not the user's line, which is the equation's source
THUNKS = frozenset(
    c for cls in ("DynamicJaxprTrace", "JaxprTrace") for meth in ("process_custom_jvp_call", "process_custom_vjp_call")
    for c in _nested_codes(getattr(getattr(_pe, cls, None), meth, None),
                           ("jvp_jaxpr_thunk", "fwd_jaxpr_from_zeros", "fwd_jaxpr_thunk")))


def source_line(att):
    """(code, line) of the first user frame of the equation being transformed, or None."""
    tb = source_info_util.current().traceback
    if tb is None:
        return None
    codes, lastis = tb.raw_frames()
    for code, lasti in zip(codes, lastis):
        if not att.is_internal(code):
            return code, tb.code_addr2line(code, lasti)
    return None


def custom_diff(f) -> bool:
    """Is the op bound in this frame's dynamic extent the primal of a differentiated
    custom_jvp/custom_vjp call (``jax.nn.relu`` under ``grad``)? JAX evaluates that primal
    outside the differentiating trace, so the count's JVP rule never runs; the innermost
    such call on the stack says, by its tangents (all symbolic zeros: not differentiated)."""
    while f is not None:
        if f.f_code in CUSTOM_CALLS:
            tangents = f.f_locals.get("tangents_in")
            if tangents is None:  # a jax that names it otherwise: count, as before this test
                return True
            return any(type(t) is not _ad.Zero for t in tangents)
        f = f.f_back
    return False


_LAX_FILES: dict = {}


def from_lax(code) -> bool:
    """Was the primitive bound by a lax function (``lax.abs``: the user's op), rather than by
    a jaxpr interpreter (a transformation evaluating a jaxpr traced before)?"""
    got = _LAX_FILES.get(code)
    if got is None:
        got = _LAX_FILES[code] = os.path.realpath(code.co_filename) in jax_ops.lax_files()
    return got
