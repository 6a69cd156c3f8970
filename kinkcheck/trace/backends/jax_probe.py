"""The JAX side of the subgradient sensitivity probe (:mod:`kinkcheck.trace.probe`).

On a probed step, each ``jax.grad``/``value_and_grad`` call (eager, or traced into a jitted
step) is computed as it always is, and then, for each site that call differentiates, once more
with that site's kinked op replaced by its alternative (:mod:`.jax_probe_ops`: the same values,
the other valid subgradient at the exact hits). The difference ``d = g_alt - g`` over every
differentiated input gives the site's row ``[step, hits, ||d||/||g||, cos, max |d|]``, the
record format of the torch probe. A site evaluated several times (a loop, a shared layer) swaps
at every evaluation at once: ``g_alt`` is exact, not a sum of first-order terms.

How, without touching the training run:

* The sites a call differentiates are read from the program of its JVP (counts marked
  differentiated, nested jitted functions included), not from what ran while tracing: jit's
  caches keep nested bodies, which are then not traced again.
* jit's cache key holds the trace's setting (:mod:`.jax_state`); a probed step runs the same
  function traced under a *probe* setting, compiled once and cached beside the plain one.
  Unprobed steps run the plain program from jit's C++ fast path. When a step closes (its
  counts arrive) and the next one is probed, the fast-path caches are emptied, so the next call
  of the step function comes through Python and picks the probe program (which is never
  entered there). In a loop that reads its loss each step that is exactly every N-th step; a
  loop that runs ahead of the device probes the first call dispatched after the step before
  closed, and the row says which step that was.
* In the probe program, ``grad``'s ``vjp`` returns the user's gradient from JAX's own
  ``vjp`` (the very equations of an unprobed program), and the replays are extra equations whose
  only consumer is a ``kinkcheck_probe`` primitive: the program's outputs are the unprobed
  ones, bit for bit. The replays trace the user's function again under a per-site setting
  (jit caches never mix), with the tracer's bind hook swapping the op and counting nothing.
* The sums travel in the count callback of the same call (:mod:`.jax_rewrite`), so each row
  lands on the step whose counts give its hits. Per-example gradients (``vmap(grad(f))``)
  count as one gradient: the batch's side by side.

Patches (``api.vjp`` as grad and value_and_grad call it, ``custom_jvp.__call__`` for relu's
body during a replay) are shared, reference-counted and put back by the last trace out
(:mod:`kinkcheck.trace.patches`).
"""

from __future__ import annotations

import sys
import threading

import jax
import jax.numpy as jnp
import numpy as np
from jax._src import api as _api
from jax._src import api_util, core
from jax._src import custom_derivatives as _cd
from jax._src import linear_util as lu
from jax._src import pjit as _pjit
from jax._src.interpreters import partial_eval as pe

from kinkcheck.trace import patches
from kinkcheck.trace.backends import jax_probe_ops, jax_state
from kinkcheck.trace.backends.jax_count import count_p, probe_p
from kinkcheck.trace.backends.jax_counters import to_host
from kinkcheck.trace.backends.jax_rewrite import subjaxprs
from kinkcheck.trace.probe import step_result

_local = threading.local()  # .replay (the site replayed), .busy (replaying: vjp calls are plain)
#: the frames of grad and value_and_grad: the vjp calls the probe takes
_GRAD_FRAMES = ("value_and_grad_f", "grad_f")


def _custom_functions() -> frozenset:
    got = []
    for name in jax_probe_ops.CUSTOM:
        mod, _, attr = name.rpartition(".")
        obj = getattr(sys.modules.get(mod) or jax.nn, attr, None)
        if obj is not None:
            got.append(obj)
    return frozenset(id(o) for o in got)


_CUSTOM_IDS = _custom_functions()


def replaying() -> int | None:
    """The site being replayed in this thread, or None."""
    return getattr(_local, "replay", None)


def substitute(prim, args, params, slot: int, via: str | None):
    """During a replay: the value the hooked bind returns for a kinked op at ``slot``, or
    None to bind it as it is."""
    if slot == getattr(_local, "replay", None):
        return jax_probe_ops.alternative(prim, args, params, via)
    return jax_probe_ops.baseline(prim, args, params, via)


# -- the patches ----------------------------------------------------------------------------


def _vjp_patch(orig, slot):
    def vjp(fun, *primals, has_aux=False, **kw):
        probe = _probe_here()
        if probe is None or kw or sys._getframe(1).f_code.co_name not in _GRAD_FRAMES:
            return orig(fun, *primals, has_aux=has_aux, **kw)
        return probe.vjp(orig, fun, primals, has_aux)

    return vjp


def _custom_patch(orig, slot):
    def __call__(self, *args, **kwargs):
        if getattr(_local, "replay", None) is not None and id(self) in _CUSTOM_IDS:
            return self.fun(*args, **kwargs)  # the body: its ties go through the bind hook
        return orig(self, *args, **kwargs)

    return __call__


def _probe_here():
    """This thread's probe, when a vjp it takes is being made now."""
    if getattr(_local, "busy", False) or jax_state.depth():
        return None  # a replay's own vjp, or the tracer's (observing a gradient at the kink)
    backends = getattr(jax_state.local, "backends", None)
    if not backends or backends[0].probe is None:
        return None
    return backends[0].probe


# -- the probe ------------------------------------------------------------------------------


class JaxProbe:
    """One trace's JAX probe in one thread (made by the JAX backend when ``probe=`` is set)."""

    def __init__(self, backend):
        self.backend = backend
        self.tracer = backend.tracer
        self.options = self.tracer.probe
        #: the probe program's setting, and each replay's (jit's cache keeps them apart)
        self.setting = jax_state.setting_id((backend.setting_key, "probe"), backend.only_diff)
        self.replay_settings: dict[int, int] = {}
        tr = self.tracer
        #: the next jitted step call is probed (set when the step before it closes)
        self.due = tr.counting and self.options.probes(tr.step_count)
        self.ran = False  # a probed call ran since the last step closed
        self._joined: list = []

    def start(self) -> None:
        self._joined.append(patches.join(_api, "vjp", _vjp_patch, self))
        self._joined.append(patches.join(_cd.custom_jvp, "__call__", _custom_patch, self))
        if self.due:
            _clear_fast_path()  # an earlier probe's plain programs may be there under this setting


    def stop(self) -> None:
        while self._joined:
            patches.leave(self._joined.pop(), self)

    # -- which calls are probed --

    def take_due(self) -> bool:
        """A stepping call misses jit's fast path: is it the probed one? (Once per due step.)"""
        with self.tracer.lock:
            due, self.due = self.due, False
            self.ran |= due
            return due

    def step_closed(self) -> None:
        """A jitted step's counts arrived and closed it (on one of XLA's threads). jit's C++
        fast-path caches are emptied when the next step is probed (its call then comes through
        Python, where it picks the probe program) and after a probed call (whose signature jit
        marked as Python-only, having got no executable for its fast path)."""
        tr = self.tracer
        with tr.lock:
            nxt = tr.counting and self.options.probes(tr.step_count)
            clear = nxt or self.ran
            self.due |= nxt
            self.ran = False
        if clear:
            _clear_fast_path()

    def _probing(self, primals) -> bool:
        if jax_state.current_setting() == self.setting:
            return True
        if any(isinstance(x, core.Tracer) for x in jax.tree_util.tree_leaves(primals)):
            return False  # traced by something else: only a probe program probes
        tr = self.tracer
        return tr.counting and self.options.probes(tr.step_count)  # eager

    def _replay_setting(self, slot: int) -> int:
        got = self.replay_settings.get(slot)
        if got is None:
            b = self.backend
            got = self.replay_settings[slot] = jax_state.setting_id((b.setting_key, "replay", slot), b.only_diff)
        return got

    # -- the probed vjp --

    def vjp(self, orig, fun, primals, has_aux):
        if not self._probing(primals):
            return orig(fun, *primals, has_aux=has_aux)
        out, f_vjp, *aux = orig(fun, *primals, has_aux=has_aux)

        def pullback(ct):
            g = f_vjp(ct)
            sites: list[int] = []
            try:
                sites = differentiated_sites(fun, primals)
                self._replay(orig, fun, primals, has_aux, ct, g, sites)
            except Exception as err:  # noqa: BLE001 - the probe must never break the user's gradient
                jax_state.warn_once("probe", f"kinkcheck.trace: the JAX probe failed ({type(err).__name__}: {err})")
                for slot in sites:
                    sp = self.tracer.probe_site(self.backend._site(slot))
                    sp.uncovered = sp.uncovered or f"the replay failed ({type(err).__name__}: {err})"[:200]
            return g

        return (out, pullback, *aux)

    def _replay(self, orig, fun, primals, has_aux, ct, g, sites: list[int]) -> None:
        todo = []
        for slot in sites:
            _code, _line, rule, op, _dtype = jax_state.SITES.items[slot]
            why = jax_probe_ops.covered(op, rule.via)
            if why is None:
                todo.append(slot)
            else:
                sp = self.tracer.probe_site(self.backend._site(slot))
                sp.uncovered = sp.uncovered or why
        if not todo:
            return
        gs = _flat(g)
        if not gs:
            return
        wide = jnp.float64 if any(x.dtype == jnp.float64 for x in gs) else jnp.float32
        gw = [x.astype(wide) for x in gs]
        gg = sum((jnp.vdot(x, x) for x in gw), jnp.zeros((), wide))
        rows = []
        busy = getattr(_local, "busy", False)
        _local.busy = True  # the replays' own vjp calls are plain
        try:
            for slot in todo:
                alt = self._alt_grad(orig, fun, primals, has_aux, ct, slot)
                ds = [a.astype(wide) - b for a, b in zip(_flat(alt), gw)]
                dd = sum((jnp.vdot(d, d) for d in ds), jnp.zeros((), wide))
                gd = sum((jnp.vdot(b, d) for b, d in zip(gw, ds)), jnp.zeros((), wide))
                dmax = jnp.max(jnp.stack([jnp.max(jnp.abs(d)) if d.size else jnp.zeros((), wide) for d in ds]))
                rows.append(jnp.stack([gg, dd, gd, dmax]))
        finally:
            _local.busy = busy
        probe_p.bind(jnp.stack(rows), sites=tuple(todo))

    def _alt_grad(self, orig, fun, primals, has_aux, ct, slot: int):
        prev_replay = getattr(_local, "replay", None)
        _local.replay = slot
        prev_state = jax_state.STATE.swap_local(self._replay_setting(slot))
        try:
            _out, f_alt, *_aux = orig(fun, *primals, has_aux=has_aux)
            with jax_state.quiet():
                return f_alt(ct)
        finally:
            jax_state.STATE.set_local(prev_state)
            _local.replay = prev_replay

    # -- results arriving --

    def take(self, sites, mat, counts) -> None:
        """A probed call's sums; ``counts``: the same call's (sites, count matrix), whose exact
        hits are the row's, or None (eager: the step's counts so far)."""
        tr = self.tracer
        if not tr.counting:
            return
        mat = np.asarray(mat, dtype=np.float64)
        exact: dict[int, int] = {}
        if counts is not None:
            csites, cmat = counts
            exact = {s: int(cmat[i, 1]) for i, s in enumerate(csites)}
        with tr.lock:
            tr.probe_steps += 1
            for i, slot in enumerate(sites):
                site = self.backend._site(slot)
                hits = exact.get(slot, 0) if counts is not None else _step_hits(site)
                if hits <= 0:
                    continue
                gg, dd, gd, dmax = (float(v) for v in mat[i])
                tr.probe_site(site).add(step_result(tr.step_count, hits, gg, dd, gd, dmax), self.options.threshold)


def _clear_fast_path() -> None:
    """Empty jit's C++ dispatch caches: each jitted function's next call comes through Python
    once (its traced and compiled programs stay cached)."""
    _pjit._cpp_pjit_cache_fun_only.clear()
    _pjit._cpp_pjit_cache_explicit_attributes.clear()


def differentiated_sites(fun, primals) -> list[int]:
    """The sites a vjp of ``fun`` at ``primals`` differentiates, read from its JVP's program:
    the counts there marked differentiated, nested jitted functions included (their programs
    come from jit's caches, so what ran while tracing this call is not the whole story)."""
    leaves, tree = jax.tree_util.tree_flatten(primals)

    def jvp(*xs):
        p = jax.tree_util.tree_unflatten(tree, xs)
        return jax.tree_util.tree_leaves(jax.jvp(fun, p, jax.tree_util.tree_map(_zero_tangent, p)))

    avals = [core.typeof(x) for x in leaves]
    busy = getattr(_local, "busy", False)
    _local.busy = True
    try:  # traced as it is (not through jit, whose top-level programs the tracer rewrites)
        dbg = api_util.debug_info("kinkcheck probe", jvp, avals, {})
        jaxpr, _, _ = pe.trace_to_jaxpr_dynamic(lu.wrap_init(jvp, debug_info=dbg), avals)
    finally:
        _local.busy = busy
    found: set[int] = set()
    _walk(jaxpr, found, set())
    return sorted(found)


def _zero_tangent(x):
    """A zero tangent of ``x`` (float0 for an integer input of ``grad(allow_int=True)``)."""
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return jnp.zeros_like(x)
    return np.zeros(np.shape(x), jax.dtypes.float0)


def _walk(jaxpr, found: set[int], seen: set[int]) -> None:
    if id(jaxpr) in seen:
        return
    seen.add(id(jaxpr))
    for eqn in jaxpr.eqns:
        if eqn.primitive is count_p:
            if eqn.params["diff"]:
                found.add(eqn.params["site"])
        else:
            for sub in subjaxprs(eqn):
                _walk(sub, found, seen)


def _flat(tree) -> list:
    return [x for x in jax.tree_util.tree_leaves(tree)
            if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)]


def _step_hits(site) -> int:
    """Exact hits of ``site`` in the running step (its counts so far)."""
    n = 0
    if site.cur_host is not None:
        n += int(site.cur_host[0])
    if site.cur_dev is not None:
        n += int(to_host([site.cur_dev])[0][0])
    return n
