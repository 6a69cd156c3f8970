"""A top-level jitted call whose counts come back as extra outputs, not through a callback.

Measured on XLA:CPU, any Python host callback in a program makes its call wait until the
whole program has run (no asynchronous dispatch) and hands the GIL to XLA's thread and back
once per call. So a plain call of a rewritten program (:class:`.jax_rewrite.Rewrite`) runs
the form that returns one count vector per site after the user's outputs, and this module
takes them off: their evaluations are known from tracing, the vectors stay on the device
(:mod:`.jax_counters`), and the call returns at once, as an untraced one does. Jit's C++
fast path keeps the compiled form for the next calls; it rebuilds their outputs through
:class:`Counted`, whose rebuild takes the counts off (a few microseconds of Python per call).
``jit(f).lower(...)`` and calls inside other transformations still get the callback form.
"""

from __future__ import annotations

import weakref

from jax import tree_util
from jax._src import sharding_impls
from jax._src import tree_util as _registry

from kinkcheck.trace.backends import jax_state

#: the callback form of a rewritten program -> its :class:`.jax_rewrite.Rewrite`
REWRITES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Sink:
    """Where a call's count vectors go (set by the backend module)."""

    take = staticmethod(lambda sites, evals, vecs, step: None)


sink = Sink()


def call(orig, rw, outputs, p, args_flat, fun, args, kwargs, fast: bool = True):
    """``_run_python_pjit`` for the program with its counts as extra outputs: what it would
    return for ``p``, the counts taken off (and handed to :attr:`sink`). With ``fast``, jit's
    C++ fast path takes the next calls: their outputs come back through :class:`Counted`."""
    n = len(rw.sites)
    params = dict(p.params)
    params["jaxpr"] = outputs
    params["out_shardings"] = (*params["out_shardings"], *(sharding_impls.UNSPECIFIED,) * n)
    params["out_layouts"] = (*params["out_layouts"], *(None,) * n)
    flat = tree_util.tree_structure((0,) * (p.out_tree.num_leaves + n))  # every output, in a tuple
    got = orig(p._replace(params=params, out_tree=flat), args_flat, fun, args, kwargs)
    out_flat = got[1]
    outs, vecs = tree_util.tree_unflatten(p.out_tree, out_flat[:-n]), out_flat[-n:]
    _take(rw, vecs)
    if not fast or got[5] is None:  # no executable: jit keeps calling through Python
        return (outs, out_flat[:-n], p.out_tree, got[3], p.params["jaxpr"], None, *got[6:])
    tree = _registry.default_registry.flatten(Counted(outs, vecs, rw), None)[1]
    return (outs, out_flat, tree, got[3], outputs, got[5], *got[6:])


def _take(rw, vecs) -> None:
    try:
        sink.take(rw.sites, rw.evals, vecs, rw.step)
    except Exception as err:  # noqa: BLE001 - counting must never break the user's program
        jax_state.warn_once("outputs", f"kinkcheck.trace: lost a JAX count ({type(err).__name__}: {err})")


class Counted:
    """A call's outputs and its count vectors as one pytree (the tree jit's C++ fast path
    rebuilds every call's outputs with). Registered apart in two of jax's registries: jit
    reads the outputs of the call that compiled it through the default one (this object),
    and the fast path rebuilds later calls' through the dispatch one, whose rebuild hands
    the count vectors to :attr:`sink` and gives the caller its own outputs."""

    __slots__ = ("outs", "rw", "vecs")

    def __init__(self, outs, vecs, rw):
        self.outs, self.vecs, self.rw = outs, tuple(vecs), rw


def _flatten(c: Counted):
    return (c.outs, *c.vecs), c.rw


def _rebuild(rw, children) -> Counted:
    return Counted(children[0], children[1:], rw)


def _deliver(rw, children):
    """A fast-path call's outputs: the counts taken, the caller's outputs returned."""
    _take(rw, children[1:])
    return children[0]


_registry.default_registry.register_node(Counted, _flatten, _rebuild)
_registry.dispatch_registry.register_node(Counted, _flatten, _deliver)
