"""JAX backend: kinked lax primitives counted inside the compiled program.

A trace joins four patches (:mod:`.jax_patches`): the bind hook finds the kinked binds that are
the user's (:mod:`.jax_locate`) and binds a count on their operands (:mod:`.jax_count`), and jit's
tracing rewrites a top-level program so that its counts are summed on the device and come
back with its outputs (:mod:`.jax_rewrite`, :mod:`.jax_dispatch`; they stay on the device,
:mod:`.jax_counters`) or reach the host in one callback per call. With ``probe=`` (:mod:`.jax_probe`), also ``api.vjp``
as ``grad``/``value_and_grad`` call it and ``custom_jvp.__call__`` (relu's body, during a replay).

The trace's setting (its rules, near tolerance and ``only_differentiated``) is part of jit's
cache key (:mod:`.jax_state`): inside the block jitted functions are traced and compiled afresh
with counting (once per setting, then cached), and outside it the very programs compiled before
run as they were, untouched. Each call of a program that computes a gradient is one step
(``optimizer.step()`` in torch).

Only what is differentiated counts by default (``only_differentiated``, as in torch): a kinked
op evaluated in a forward call (``jax.jit(loss)(params, x)`` in an eval loop) or on operands
that do not depend on what ``grad``/``value_and_grad``/``vjp``/``jvp`` differentiates (data,
``stop_gradient``) is not a kink of training. The decision is JAX's own, made while tracing:
a count becomes differentiated when its JVP rule runs (:mod:`.jax_count`), which JAX does only
for an operand with a non-zero tangent, also when ``grad`` transforms a jaxpr traced before
(``grad(jit(f))``). The primal of a ``custom_jvp``/``custom_vjp`` function (``jax.nn.relu``)
is evaluated outside the differentiating trace, so its counts are marked differentiated at
bind time when that function's call has a non-zero tangent (:func:`.jax_frames.custom_diff`).

This module is the backend itself: its lifecycle, and where counts arrive.
"""

from __future__ import annotations

import threading

import jax
import numpy as np

from kinkcheck.trace import patches
from kinkcheck.trace.backends import jax_counters, jax_dispatch, jax_frames, jax_observe, jax_patches, jax_probe, \
    jax_state
from kinkcheck.trace.backends.jax_count import count_p, sink
from kinkcheck.trace.backends.jax_counters import to_host
from kinkcheck.trace.backends.jax_locate import Locator
from kinkcheck.trace.backends.jax_state import SITES, local, warn_once
from kinkcheck.trace.site import Site

COUNTED = ("kinked lax ops that grad, value_and_grad, vjp or jvp differentiates (an operand that depends on "
           "the differentiated inputs), eager or compiled (jit, vmap, scan, while_loop, cond); forward-only "
           "calls (evaluation), constants and stop_gradient, optax updates, random sampling and initializers "
           "are not counted")
COUNTED_ALL = ("every kinked lax op the program evaluates, differentiated or not (only_differentiated=False), "
               "eager or compiled; optax updates, random sampling and initializers are not counted")


# -- where counts arrive ---------------------------------------------------------------------


def _on_host(sites, mat, step, probe=None) -> None:
    """A program's counts (host callback, on one of XLA's threads): every running trace
    that selected the rule takes them (and the probe's sums of a probed call)."""
    try:
        for backend in jax_state.running():
            backend.take(sites, mat, step, probe)
    except Exception as err:  # noqa: BLE001 - an error here would abort the user's program
        warn_once("host", f"kinkcheck.trace: lost a JAX count ({type(err).__name__}: {err})")


def _on_outputs(sites, evals, vecs, step) -> None:
    """A call's count vectors, as extra outputs (:mod:`.jax_dispatch`): every running trace
    that selected the rule takes them, as from a callback."""
    for backend in jax_state.running():
        backend.take_vectors(sites, evals, vecs, step)


def _on_eager(site, evaluations, vec) -> None:
    """An eager op's counts (a device vector): this thread's traces take them."""
    for backend in getattr(local, "backends", None) or ():
        backend.take_eager(site, evaluations, vec)


def _on_probe(sites, mat) -> None:
    """The probe's sums of a call that came without its counts (eager, or out of the rewrite's reach)."""
    try:
        for backend in jax_state.running():
            if backend.probe is not None:
                backend.probe.take(sites, mat, None)
    except Exception as err:  # noqa: BLE001 - an error here would abort the user's program
        warn_once("probe-host", f"kinkcheck.trace: lost a JAX probe result ({type(err).__name__}: {err})")


sink.host = staticmethod(_on_host)
sink.probe = staticmethod(_on_probe)
sink.eager = staticmethod(_on_eager)
sink.wants = staticmethod(jax_state.wants)
sink.quiet = staticmethod(jax_state.quiet)
jax_dispatch.sink.take = staticmethod(_on_outputs)


# -- the backend -----------------------------------------------------------------------------


class JaxBackend:
    """One trace's JAX counting in one thread (see the module doc)."""

    def __init__(self, tracer):
        self.tracer = tracer
        #: the catalog tables for the trace's rules and the stack reading (:mod:`.jax_locate`)
        self.locator = Locator(tracer)
        self.missing = self.locator.missing
        self.thread_id = threading.get_ident()
        self.near = (float(tracer.near.ulps), float(tracer.near.abs))
        #: the trace's setting as jit's cache key sees it: a small int (jit compares its
        #: context on every call), one per (rules, near) in this process
        self.only_diff = bool(getattr(tracer, "only_differentiated", True))
        self.setting_key = (tuple(sorted(tracer.codes)), self.near)
        if getattr(tracer, "probe", None) is not None:  # programs of their own: see jax_probe
            self.setting_key = (*self.setting_key, "probed")
        self.setting = jax_state.setting_id(self.setting_key, self.only_diff)
        #: the subgradient sensitivity probe (:mod:`.jax_probe`), when the trace asks for one
        self.probe: jax_probe.JaxProbe | None = None
        self._sites: dict[int, Site] = {}
        self._joined: list = []
        self._started = False

    # -- device counters (the Backend protocol) --

    @staticmethod
    def counters_to_host(counters) -> list:
        return to_host(counters)

    @staticmethod
    def counter_add(total, more):
        return jax_counters.add(total, more)

    @staticmethod
    def counter_copy(counter):
        return counter  # jax arrays are immutable

    # -- lifecycle --

    def start(self):
        tr = self.tracer
        tr.frameworks["jax"] = jax.__version__
        counted = getattr(tr, "counted", None)
        if isinstance(counted, dict):
            counted["jax"] = COUNTED if self.only_diff else COUNTED_ALL
        try:
            jax_patches.join(self, self._joined)
            if getattr(tr, "probe", None) is not None:
                self.probe = jax_probe.JaxProbe(self)
                self.probe.start()
            mine = jax_state.thread_backends()
            if not mine:
                local.prev = jax_state.STATE.swap_local(self.setting)
            mine.append(self)
            self._started = True
            jax_state.set_running(self, True)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        try:
            if self._started:
                _drain()
                self._observe()
        finally:
            jax_state.set_running(self, False)
            mine = jax_state.thread_backends()
            if self in mine:
                mine.remove(self)
                if not mine:
                    jax_state.STATE.set_local(getattr(local, "prev", None))
                    local.prev = None
                else:
                    jax_state.STATE.set_local(mine[0].setting)
            self._started = False
            probe, self.probe = self.probe, None
            if probe is not None:
                probe.stop()
            while self._joined:
                slot, listener = self._joined.pop()
                patches.leave(slot, listener)

    def _observe(self) -> None:
        """Each site that hit its kink exactly gets the gradient JAX computes there (:mod:`.jax_observe`)."""
        depth = getattr(local, "depth", 0)
        local.depth = 1  # differentiating the op is not the user's op
        try:
            todo = [(slot, site) for slot, site in list(self._sites.items()) if "observed" not in site.extra]
            for (slot, site), hits in zip(todo, _exact_hits([site for _, site in todo])):
                if not hits:
                    continue
                _code, _line, rule, op, dtype = SITES.items[slot]
                obs = jax_observe.observe(rule.via or op.removeprefix("lax."), dtype)
                if obs is not None:
                    site.extra["observed"] = dict(obs)
        except Exception as err:  # noqa: BLE001 - a missing observation must not lose the trace
            warn_once("observe", f"kinkcheck.trace: cannot observe a JAX gradient ({type(err).__name__}: {err})")
        finally:
            local.depth = depth

    # -- counting, at bind time (called by the bind hook: jax_patches) --

    def count(self, prim, rule, args, params) -> None:
        """Bind a count for this kinked primitive, if it is the user's (:mod:`.jax_locate`)."""
        got = self.locator.locate(prim, rule, args, params, 3)
        if got is None:
            return
        slot, rule, diff, how, operands = got
        count_p.bind(*operands, site=slot, how=how, near=(*self.near, rule.near), diff=diff)

    def replay(self, prim, rule, args, params, caller, orig):
        """A kinked bind while the probe replays a call for one site: that site's op takes its
        alternative subgradient (:mod:`.jax_probe`); nothing is counted."""
        if jax_frames.from_lax(caller):
            got = self.locator.locate(prim, rule, args, params, 3)
            if got is not None:
                out = jax_probe.substitute(prim, args, params, got[0], got[1].via)
                if out is not None:
                    return out
        return orig(prim, *args, **params)

    # -- counts arriving --

    def _site(self, slot: int) -> Site:
        site = self._sites.get(slot)
        if site is None:
            code_obj, line, rule, op, dtype = SITES.items[slot]
            tr = self.tracer
            path, fn = self.locator.attributor.describe(code_obj)
            key = ("jax", code_obj, line, op, dtype, rule.code)
            site = self._sites[slot] = tr.site(key, lambda: _new_site(path, line, fn, rule, op, dtype))
        return site

    def take(self, sites, mat, step, probe=None) -> None:
        """Counts of one program call: [evaluations, exact, near, harmless, bins...] per site
        (and, for a probed call, the probe's sums: ``(sites, matrix)``)."""
        tr = self.tracer
        if probe is not None and self.probe is not None:
            self.probe.take(probe[0], probe[1], (sites, np.asarray(mat)))
        if tr.counting:
            mat = np.asarray(mat, dtype=np.int64)
            for i, slot in enumerate(sites):
                evals = int(mat[i, 0])
                if not evals or SITES.items[slot][2].code not in tr.codes:
                    continue
                vec = mat[i, 1:]
                tr.record(self._site(slot), evals, vec.copy() if vec.any() else None)
        if step:
            tr.step()
            if self.probe is not None:
                self.probe.step_closed()

    def take_vectors(self, sites, evals, vecs, step) -> None:
        """A call's count vectors (device arrays, one per site) and its evaluations per site,
        known from tracing (:mod:`.jax_dispatch`)."""
        tr = self.tracer
        if tr.counting:
            for slot, n, vec in zip(sites, evals, vecs):
                if n and SITES.items[slot][2].code in tr.codes:
                    tr.record(self._site(slot), n, vec)
        if step:
            tr.step()
            if self.probe is not None:
                self.probe.step_closed()

    def take_eager(self, slot, evaluations, vec) -> None:
        tr = self.tracer
        if tr.counting and SITES.items[slot][2].code in tr.codes:
            tr.record(self._site(slot), evaluations, vec)


def _exact_hits(sites: list[Site]) -> list[int]:
    """Each site's exact hits so far, its device counters read in one transfer."""
    hits = [int(s.host[0]) + (int(s.cur_host[0]) if s.cur_host is not None else 0) for s in sites]
    devs = [(i, c) for i, s in enumerate(sites) for c in (s.dev, s.cur_dev) if c is not None]
    for (i, _), vec in zip(devs, to_host([c for _, c in devs])):
        hits[i] += int(vec[0])
    return hits


def _new_site(path, line, fn, rule, op, dtype) -> Site:
    site = Site(path, line, fn, rule.code, rule.name, op, None, dtype, rule.kind, "jax",
                {"framework": "jax", "value": rule.subgradient})
    site.extra["near_scale"] = rule.near  # what near was measured against (catalog.NEAR_SCALES)
    return site


def _drain() -> None:
    """Wait until every dispatched program has run, so its counts have arrived (only counts
    handed over by a callback arrive late: none before such a program was ever compiled)."""
    if not jax_state.CALLBACKS.is_set():
        return
    jax.effects_barrier()
    for a in jax.live_arrays():
        try:
            a.block_until_ready()
        except Exception:  # noqa: BLE001, S112 - a deleted or donated buffer has nothing to wait for
            continue
