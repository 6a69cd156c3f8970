"""A top-level jitted call whose counts come back as extra outputs, not through a callback.

Measured on XLA:CPU, any Python host callback in a program makes its call wait until the
whole program has run (no asynchronous dispatch) and hands the GIL to XLA's thread and back
once per call: about a tenth of a small MLP's step, more than the counting itself. So a
plain call of a rewritten program (:class:`.jax_rewrite.Rewrite`) runs the form that
returns one count vector per site after the user's outputs; jit's Python dispatch runs it
(the extra outputs cannot go through its C++ fast path, which returns every output to the
caller) and this module takes the extra outputs off: their evaluations are known from
tracing, the vectors stay on the device (:mod:`.jax_counters`), and the call returns at
once, as an untraced one does. ``jit(f).lower(...)`` and calls inside other
transformations still get the callback form.
"""

from __future__ import annotations

import contextlib
import weakref

import jax
from jax import tree_util
from jax._src import core, sharding_impls

from kinkcheck.trace.backends import jax_state

#: the callback form of a rewritten program -> its :class:`.jax_rewrite.Rewrite`
REWRITES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Sink:
    """Where a call's count vectors go (set by the backend module)."""

    take = staticmethod(lambda sites, evals, vecs, step: None)


sink = Sink()


def call(orig, rw, outputs, p, args_flat, fun, args, kwargs):
    """``_run_python_pjit`` for the program with its counts as extra outputs: what it would
    return for ``p``, the counts taken off (and handed to :attr:`sink`)."""
    n = len(rw.sites)
    fast = _fast(rw, outputs, p.params)
    if fast is not None:  # its own jit, on jit's C++ fast path: a few microseconds per call
        with _own():
            out_flat = list(fast(*args_flat))
        got: tuple = (None, out_flat, None, args_flat, None, None, None, [])
    else:
        params = dict(p.params)
        params["jaxpr"] = outputs
        params["out_shardings"] = (*params["out_shardings"], *(sharding_impls.UNSPECIFIED,) * n)
        params["out_layouts"] = (*params["out_layouts"], *(None,) * n)
        flat = tree_util.tree_structure((0,) * (p.out_tree.num_leaves + n))  # every output, in a tuple
        got = orig(p._replace(params=params, out_tree=flat), args_flat, fun, args, kwargs)
        out_flat = got[1]
    outs, vecs = tree_util.tree_unflatten(p.out_tree, out_flat[:-n]), out_flat[-n:]
    try:
        sink.take(rw.sites, rw.evals, vecs, rw.step)
    except Exception as err:  # noqa: BLE001 - counting must never break the user's program
        jax_state.warn_once("outputs", f"kinkcheck.trace: lost a JAX count ({type(err).__name__}: {err})")
    # no executable: jit keeps calling through Python (its fast path would return the counts)
    return (outs, out_flat[:-n], p.out_tree, got[3], p.params["jaxpr"], None, *got[6:])


def _fast(rw, outputs, params):
    """A jit of the counting program for a call with nothing but donations to honour (no
    shardings, layouts, mesh or compiler options), or None: then jit's Python dispatch runs
    it with the call's own parameters (a hundred microseconds and more per call)."""
    if (params["compiler_options_kvs"] or not params["ctx_mesh"].empty
            or any(not isinstance(s, sharding_impls.UnspecifiedValue)
                   for s in (*params["in_shardings"], *params["out_shardings"]))
            or any(v is not None for v in (*params["in_layouts"], *params["out_layouts"]))):
        return None
    key = (params["donated_invars"], params["keep_unused"])
    got = rw.fast.get(key)
    if got is None:
        donate = tuple(i for i, d in enumerate(params["donated_invars"]) if d)
        got = rw.fast[key] = jax.jit(core.jaxpr_as_fun(outputs), donate_argnums=donate,
                                     keep_unused=params["keep_unused"])
    return got


@contextlib.contextmanager
def _own():
    """The counting program's jit is the tracer's: not the user's ops (nothing is counted
    when it is traced), nor a top-level program to rewrite."""
    local = jax_state.local
    depth, nested = getattr(local, "depth", 0), getattr(local, "jit_depth", 0)
    local.depth, local.jit_depth = 1, nested + 1
    try:
        yield
    finally:
        local.depth, local.jit_depth = depth, nested
