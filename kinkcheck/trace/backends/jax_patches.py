"""The four JAX functions a trace patches while it runs, and why.

Shared by every running trace, reference-counted, put back by the last one
(:mod:`kinkcheck.trace.patches`):

* ``Primitive.bind``: when a kinked primitive (the catalog's ``[runtime] jax``) is bound at
  the user's level (by a lax function, not by another primitive's JVP, batching or transpose
  rule, not inside optax, random sampling or a smooth function such as ``log_softmax``), the
  site is read from the Python stack (the user's line, :mod:`.jax_locate`) and a
  ``kinkcheck_count`` is bound on the same operands (:mod:`.jax_count`). Eager ops count at
  once, on the device; under ``jit``, ``grad``, ``vmap``, ``scan``, ``while_loop`` and ``cond``
  JAX's own rules carry the count into the program. While the probe replays a call
  (:mod:`.jax_probe`), the bind swaps the replayed site's op instead.
* jit's tracing (``pjit._trace_for_jit``) and ``pjit._infer_params``: a top-level jitted
  program is rewritten so that its counts are summed on the device and handed to the host once
  per call (:mod:`.jax_rewrite`); jit's cache keeps the unrewritten program, which calls
  nested in other programs reuse. A probed step's call is traced under the probe's setting.
* ``pjit._run_python_pjit``: a plain call of a rewritten program runs the form that returns
  its counts as extra outputs and takes them off (:mod:`.jax_dispatch`).
* ``pjit._infer_params`` and ``pjit._run_python_pjit``: jax's own jitted functions
  (``jnp.abs``, ``jax.nn.relu``) are traced once per calling line and kept off jit's C++
  fast path, so that each call counts at its own line and runs the program it runs untraced.
"""

from __future__ import annotations

import inspect
import sys
import weakref

import jax
from jax._src import core
from jax._src import pjit as _pjit

from kinkcheck.trace import patches
from kinkcheck.trace.backends import _tls as _busy_tls
from kinkcheck.trace.backends import jax_dispatch, jax_frames, jax_probe
from kinkcheck.trace.backends.jax_rewrite import is_gradient, rewrite, sites_in
from kinkcheck.trace.backends.jax_state import STATE, current_setting, depth, has_tracers, local, quiet, \
    top_level, warn_once


def join(backend, joined: list) -> None:
    """Join the four patches for ``backend``, each ``(slot, listener)`` onto ``joined`` as it
    is made (what a failure leaves half done, the caller leaves)."""
    for owner, name, make in ((core.Primitive, "bind", _bind_patch), (_pjit, "_trace_for_jit", _jit_patch),
                              (_pjit, "_run_python_pjit", _run_patch), (_pjit, "_infer_params", _infer_patch)):
        joined.append((patches.join(owner, name, make, backend), backend))


def _bind_patch(orig, slot):
    def bind(self, *args, **params):
        backends = getattr(local, "backends", None)
        if not backends or getattr(local, "depth", 0):
            return orig(self, *args, **params)
        rule = backends[0].locator.by_prim.get(self)
        if rule is None:
            return orig(self, *args, **params)
        local.depth = 1  # what the primitive's own rules bind (abs's JVP: sign) is not the user's
        busy = getattr(_busy_tls, "busy", False)
        _busy_tls.busy = True  # nor are the numpy calls jax makes meanwhile
        try:
            if backends[0].probe is not None and jax_probe.replaying() is not None:
                return backends[0].replay(self, rule, args, params, sys._getframe(1).f_code, orig)
            out = orig(self, *args, **params)
            if not jax_frames.from_lax(sys._getframe(1).f_code):
                return out  # a jaxpr evaluated again by a transformation: counted when first traced
            try:
                backends[0].count(self, rule, args, params)
            except Exception as err:  # noqa: BLE001 - counting must never break the user's program
                warn_once(f"count:{self.name}", f"kinkcheck.trace: cannot count lax.{self.name} "
                          f"({type(err).__name__}: {err})")
            return out
        finally:
            local.depth = 0
            _busy_tls.busy = busy

    return bind


def _jit_patch(orig, slot):
    """Tracing a jitted function's body: a jit called meanwhile is nested (see :func:`_rewritten`)."""

    def _trace_for_jit(fun, *args, **kwargs):
        nested = getattr(local, "jit_depth", 0)
        local.jit_depth = nested + 1
        try:
            return orig(fun, *args, **kwargs)
        finally:
            local.jit_depth = nested

    return _trace_for_jit


#: a traced program -> its rewrite (None: nothing to count); jit's own cache keeps the traced
#: program unrewritten, since the same entry serves calls nested in other programs
_REWRITES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _rewritten(p, args):
    """jit's parameters for this call with its program's counts summed on the device
    (:mod:`.jax_rewrite`), for a program that runs as it is: not one traced inside another
    jit, nor one that vmap or grad will transform (tracer arguments)."""
    if getattr(local, "jit_depth", 0) or STATE.value is None or has_tracers(args):
        return p
    closed = p.params["jaxpr"]
    try:
        new = _REWRITES[closed]
    except KeyError:
        new = None
        if sites_in(closed.jaxpr):
            with quiet():  # the re-trace binds the user's primitives again: count nothing new
                new = rewrite(closed)
            jax_dispatch.REWRITES[new.emit] = new
        _REWRITES[closed] = new
    if new is None:
        return p
    return p._replace(params={**p.params, "jaxpr": new.emit})


def _infer_patch(orig, slot):
    """A top-level call's program is rewritten to count on the device (:func:`_rewritten`).
    jax's own jitted functions (``jnp.abs``, ``jax.nn.relu``) are traced once per calling
    line while a trace counts: jit caches one traced program per function and shape, and the
    first caller's line would otherwise be baked into it for every caller. The calling line
    joins the trace's setting in jit's cache key for the duration of the call."""

    def _infer_params(fun, *args, **kwargs):
        caller = _internal_call(fun)
        if caller is None:
            p, flat = orig(fun, *args, **kwargs)
        else:
            prev = STATE.swap_local((current_setting(), caller))
            try:
                p, flat = orig(fun, *args, **kwargs)
            finally:
                STATE.set_local(prev)
        backends = getattr(local, "backends", None)
        if not backends:
            return p, flat
        user_args = args[1] if len(args) > 1 else kwargs.get("args", ())
        probe = backends[0].probe
        if probe is None or caller is not None or not top_level(user_args) \
                or not _stepping(p.params["jaxpr"]) or not probe.take_due():
            return _rewritten(p, user_args), flat
        prev = STATE.swap_local(probe.setting)  # the probe program: traced once, cached by jit
        try:
            p, flat = orig(fun, *args, **kwargs)
        finally:
            STATE.set_local(prev)
        p = _rewritten(p, user_args)
        _PROBE_PROGRAMS.add(p.params["jaxpr"])  # run once, never from jit's C++ fast path (_run_patch)
        return p, flat

    return _infer_params


def _run_patch(orig, slot):
    """Calls of jax's own jitted functions stay off jit's C++ fast path while a trace counts
    (that path's cache does not know the calling line: see :func:`_infer_patch`)."""

    def _run_python_pjit(p, args_flat, fun, args, kwargs):
        jaxpr = p.params.get("jaxpr")
        slow = jaxpr in _PROBE_PROGRAMS or _internal_call(fun, where=False)
        rw = jax_dispatch.REWRITES.get(jaxpr)
        if rw is not None and core.trace_state_clean():
            with quiet():
                outputs = rw.outputs()
            if outputs is not None:  # counts as outputs (jax_dispatch)
                return jax_dispatch.call(orig, rw, outputs, p, args_flat, fun, args, kwargs, fast=not slow)
        out = orig(p, args_flat, fun, args, kwargs)
        if rw is not None and core.trace_state_clean():
            # its counts come through a callback, on XLA's thread: the call waits for them, so
            # that counts taken at dispatch (eager ops, jax_dispatch) keep the program's order
            # (the fast path could not wait)
            jax.block_until_ready(out[1])
            slow = True
        if slow:
            out = (*out[:5], None, *out[6:])  # no executable: no fast-path entry
        return out

    return _run_python_pjit


def _internal_call(fun, where: bool = True):
    """For a call of one of jax's own jitted functions while this thread counts: the calling
    line (file, first line, name, line) of the first user frame and whether it is the primal
    of a differentiated custom_jvp/custom_vjp call (:func:`.jax_frames.custom_diff`; True when ``where``
    is False); None for any other call."""
    backends = getattr(local, "backends", None)
    if not backends or depth() or getattr(fun, "_apply_primitive", None):
        return None
    att = backends[0].locator.attributor
    code = getattr(inspect.unwrap(fun), "__code__", None)
    if code is None or not att.is_internal(code):
        return None
    if not where:
        return True
    diff = jax_frames.custom_diff(sys._getframe(2))  # the primal of a differentiated custom_jvp (jax.nn.relu)
    f = att.frame(3)
    if f is None:
        return ("<internal>", 0, "", 0, diff)
    c = f.f_code
    return (c.co_filename, c.co_firstlineno, c.co_name, f.f_lineno, diff)


#: the programs of probed calls: never entered in jit's C++ fast path
_PROBE_PROGRAMS: weakref.WeakSet = weakref.WeakSet()
#: a traced program -> does each call of it close a step (a gradient, with counts)?
_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _stepping(closed) -> bool:
    got = _STEPS.get(closed)
    if got is None:
        got = _STEPS[closed] = bool(sites_in(closed.jaxpr)) and is_gradient(closed.jaxpr)
    return got
