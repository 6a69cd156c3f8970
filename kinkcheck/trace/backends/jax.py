"""JAX backend: kinked lax primitives counted inside the compiled program.

While a trace runs in a thread, four things are patched (shared by every running trace,
reference-counted, put back by the last one: :mod:`kinkcheck.trace.patches`):

* ``Primitive.bind``: when a kinked primitive (the catalog's ``[runtime] jax``) is bound at
  the user's level (by a lax function, not by another primitive's JVP, batching or transpose
  rule, not inside optax, random sampling or a smooth function such as ``log_softmax``), the
  site is read from the Python stack (the user's line) and a ``kinkcheck_count`` is bound on
  the same operands (:mod:`.jax_count`). Eager ops count at once, on the device; under
  ``jit``, ``grad``, ``vmap``, ``scan``, ``while_loop`` and ``cond`` JAX's own rules carry
  the count into the program.
* jit's tracing (``pjit._trace_for_jit``) and ``pjit._infer_params``: a top-level jitted
  program is rewritten so that its counts are summed on the device and handed to the host once
  per call (:mod:`.jax_rewrite`); jit's cache keeps the unrewritten program, which calls
  nested in other programs reuse.
* ``pjit._infer_params`` and ``pjit._run_python_pjit``: jax's own jitted functions
  (``jnp.abs``, ``jax.nn.relu``) are traced once per calling line and kept off jit's C++
  fast path, so that each call counts at its own line and runs the program it runs untraced.

With ``probe=`` (:mod:`.jax_probe`), also ``api.vjp`` as ``grad``/``value_and_grad`` call it
and ``custom_jvp.__call__`` (relu's body, during a replay).

The trace's setting (its rules, near tolerance and ``only_differentiated``) is a thread-local
JAX config option that is part of jit's cache key: inside the block jitted functions are traced and compiled afresh
with counting (once per setting, then cached), and outside it the very programs compiled
before run as they were, untouched. Each call of a program that computes a gradient is one
step (``optimizer.step()`` in torch).

Only what is differentiated counts by default (``only_differentiated``, as in torch): a kinked
op evaluated in a forward call (``jax.jit(loss)(params, x)`` in an eval loop) or on operands
that do not depend on what ``grad``/``value_and_grad``/``vjp``/``jvp`` differentiates (data,
``stop_gradient``) is not a kink of training. The decision is JAX's own, made while tracing:
a count becomes differentiated when its JVP rule runs (:mod:`.jax_count`), which JAX does only
for an operand with a non-zero tangent, also when ``grad`` transforms a jaxpr traced before
(``grad(jit(f))``). The primal of a ``custom_jvp``/``custom_vjp`` function (``jax.nn.relu``)
is evaluated outside the differentiating trace, so its counts are marked differentiated at
bind time when that function's call has a non-zero tangent (:func:`.jax_frames.custom_diff`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
import threading
import types
import warnings
import weakref

import jax
import jax.numpy as jnp
import numpy as np
from jax._src import config as _config
from jax._src import core
from jax._src import pjit as _pjit

from kinkcheck.trace import patches
from kinkcheck.trace.attribution import INTERNAL, Attributor, package_dirs
from kinkcheck.trace.backends import _tls as _busy_tls
from kinkcheck.trace.backends import jax_frames, jax_observe, jax_ops, jax_probe
from kinkcheck.trace.backends.jax_count import count_p, sink
from kinkcheck.trace.backends.jax_rewrite import is_gradient, rewrite, sites_in
from kinkcheck.trace.core import Site

#: frames under these packages are never the user's line (flax/haiku/equinox layers are
#: library code the user calls, as torch.nn is)
JAX_INTERNAL = (*INTERNAL, "jax", "jaxlib", "flax", "haiku", "equinox")
#: kinked ops made inside these packages are not counted: optimizer updates are never
#: differentiated (as torch's optimizer.step() is not counted)
SKIP_PACKAGES = ("optax",)

COUNTED = ("kinked lax ops that grad, value_and_grad, vjp or jvp differentiates (an operand that depends on "
           "the differentiated inputs), eager or compiled (jit, vmap, scan, while_loop, cond); forward-only "
           "calls (evaluation), constants and stop_gradient, optax updates, random sampling and initializers "
           "are not counted")
COUNTED_ALL = ("every kinked lax op the program evaluates, differentiated or not (only_differentiated=False), "
               "eager or compiled; optax updates, random sampling and initializers are not counted")


def _state():
    got = _config.config_states.get("kinkcheck_trace")
    if got is None:
        got = _config.State("kinkcheck_trace", None, "kinkcheck.trace() is counting kinks in this thread "
                            "(part of jit's cache key)", include_in_jit_key=True, include_in_trace_context=True)
    return got


_STATE = _state()


class _Sites:
    """Process-wide site descriptors: compiled programs outlive a trace (jit's cache), so the
    sites baked into them are numbered once per process and each trace maps them to its own."""

    def __init__(self):
        self.lock = threading.Lock()
        self.index: dict[tuple, int] = {}
        self.items: list[tuple] = []

    def slot(self, key: tuple) -> int:
        got = self.index.get(key)
        if got is None:
            with self.lock:
                got = self.index.get(key)
                if got is None:
                    got = self.index[key] = len(self.items)
                    self.items.append(key)
        return got


_sites = _Sites()
_settings: dict[tuple, int] = {}
_settings_lock = threading.Lock()
#: setting id -> does it count only differentiated evaluations?
_only_diff: dict[int, bool] = {}


def _setting_id(setting: tuple, only_diff: bool) -> int:
    with _settings_lock:
        got = _settings.setdefault((setting, only_diff), len(_settings) + 1)
        _only_diff[got] = only_diff
        return got


def _wants(diff: bool) -> bool:
    """Is a count with this ``diff`` counted by the program traced or lowered now (in this
    thread, under this trace's setting)? Outside any trace: yes (nobody receives it)."""
    if diff:
        return True
    value = _STATE.value
    if isinstance(value, tuple):  # (setting, calling line): see _infer_patch
        value = value[0]
    return not _only_diff.get(value, False)


@contextlib.contextmanager
def _quiet():
    """The counting code's own kinked ops (count_vector's abs and max) are not the user's."""
    depth = getattr(_local, "depth", 0)
    _local.depth = 1
    try:
        yield
    finally:
        _local.depth = depth


_local = threading.local()  # .backends (this thread's), .depth, .prev (the state before)
_active: tuple = ()  # every running JaxBackend, any thread (host callbacks arrive on XLA's threads)
_active_lock = threading.Lock()


def _thread_backends() -> list:
    got = getattr(_local, "backends", None)
    if got is None:
        got = _local.backends = []
    return got


# -- the patches ------------------------------------------------------------------------------


def _bind_patch(orig, slot):
    def bind(self, *args, **params):
        backends = getattr(_local, "backends", None)
        if not backends or getattr(_local, "depth", 0):
            return orig(self, *args, **params)
        rule = backends[0].by_prim.get(self)
        if rule is None:
            return orig(self, *args, **params)
        _local.depth = 1  # what the primitive's own rules bind (abs's JVP: sign) is not the user's
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
                _warn_once(f"count:{self.name}", f"kinkcheck.trace: cannot count lax.{self.name} "
                           f"({type(err).__name__}: {err})")
            return out
        finally:
            _local.depth = 0
            _busy_tls.busy = busy

    return bind


def _jit_patch(orig, slot):
    """Tracing a jitted function's body: a jit called meanwhile is nested (see :func:`_rewritten`)."""

    def _trace_for_jit(fun, *args, **kwargs):
        nested = getattr(_local, "jit_depth", 0)
        _local.jit_depth = nested + 1
        try:
            return orig(fun, *args, **kwargs)
        finally:
            _local.jit_depth = nested

    return _trace_for_jit


#: a traced program -> its rewrite (None: nothing to count); jit's own cache keeps the traced
#: program unrewritten, since the same entry serves calls nested in other programs
_REWRITES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _rewritten(p, args):
    """jit's parameters for this call with its program's counts summed on the device
    (:mod:`.jax_rewrite`), for a program that runs as it is: not one traced inside another
    jit, nor one that vmap or grad will transform (tracer arguments)."""
    if getattr(_local, "jit_depth", 0) or _STATE.value is None or _has_tracers(args):
        return p
    closed = p.params["jaxpr"]
    try:
        new = _REWRITES[closed]
    except KeyError:
        new = None
        if sites_in(closed.jaxpr):
            with _quiet():  # the re-trace binds the user's primitives again: count nothing new
                new = rewrite(closed)
        _REWRITES[closed] = new
    if new is None:
        return p
    return p._replace(params={**p.params, "jaxpr": new})


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
            prev = _STATE.swap_local((_current_setting(), caller))
            try:
                p, flat = orig(fun, *args, **kwargs)
            finally:
                _STATE.set_local(prev)
        backends = getattr(_local, "backends", None)
        if not backends:
            return p, flat
        user_args = args[1] if len(args) > 1 else kwargs.get("args", ())
        probe = backends[0].probe
        if probe is None or caller is not None or not _top_level(user_args) \
                or not _stepping(p.params["jaxpr"]) or not probe.take_due():
            return _rewritten(p, user_args), flat
        prev = _STATE.swap_local(probe.setting)  # the probe program: traced once, cached by jit
        try:
            p, flat = orig(fun, *args, **kwargs)
        finally:
            _STATE.set_local(prev)
        p = _rewritten(p, user_args)
        _PROBE_PROGRAMS.add(p.params["jaxpr"])  # run once, never from jit's C++ fast path (_run_patch)
        return p, flat

    return _infer_params


def _run_patch(orig, slot):
    """Calls of jax's own jitted functions stay off jit's C++ fast path while a trace counts
    (that path's cache does not know the calling line: see :func:`_infer_patch`)."""

    def _run_python_pjit(p, args_flat, fun, args, kwargs):
        out = orig(p, args_flat, fun, args, kwargs)
        if p.params.get("jaxpr") in _PROBE_PROGRAMS or _internal_call(fun, where=False):
            out = (*out[:5], None, *out[6:])  # no executable: no fast-path entry
        return out

    return _run_python_pjit


def _internal_call(fun, where: bool = True):
    """For a call of one of jax's own jitted functions while this thread counts: the calling
    line (file, first line, name, line) of the first user frame and whether it is the primal
    of a differentiated custom_jvp/custom_vjp call (:func:`.jax_frames.custom_diff`; True when ``where``
    is False); None for any other call."""
    backends = getattr(_local, "backends", None)
    if not backends or _depth() or getattr(fun, "_apply_primitive", None):
        return None
    att = backends[0].attributor
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


def _current_setting():
    """The setting this thread traces under now (a probe's own, during a probed call)."""
    value = _STATE.value
    return value[0] if isinstance(value, tuple) else value


def _top_level(args) -> bool:
    """A call that runs as it is: not traced inside another jit, nor transformed."""
    return not getattr(_local, "jit_depth", 0) and not _has_tracers(args)


#: the programs of probed calls: never entered in jit's C++ fast path
_PROBE_PROGRAMS: weakref.WeakSet = weakref.WeakSet()
#: a traced program -> does each call of it close a step (a gradient, with counts)?
_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _stepping(closed) -> bool:
    got = _STEPS.get(closed)
    if got is None:
        got = _STEPS[closed] = bool(sites_in(closed.jaxpr)) and is_gradient(closed.jaxpr)
    return got


def _depth() -> int:
    return int(getattr(_local, "depth", 0))


def _has_tracers(args) -> bool:
    return any(isinstance(x, core.Tracer) for x in jax.tree_util.tree_leaves(args))


_warned: set[str] = set()


def _warn_once(key: str, msg: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


# -- where counts arrive ---------------------------------------------------------------------


def _on_host(sites, mat, step, probe=None) -> None:
    """A program's counts (host callback, on one of XLA's threads): every running trace
    that selected the rule takes them (and the probe's sums of a probed call)."""
    try:
        for backend in _active:
            backend.take(sites, mat, step, probe)
    except Exception as err:  # noqa: BLE001 - an error here would abort the user's program
        _warn_once("host", f"kinkcheck.trace: lost a JAX count ({type(err).__name__}: {err})")


def _on_eager(site, evaluations, vec) -> None:
    """An eager op's counts (a device vector): this thread's traces take them."""
    for backend in getattr(_local, "backends", None) or ():
        backend.take_eager(site, evaluations, vec)


def _on_probe(sites, mat) -> None:
    """The probe's sums of a call that came without its counts (eager, or out of the rewrite's reach)."""
    try:
        for backend in _active:
            if backend.probe is not None:
                backend.probe.take(sites, mat, None)
    except Exception as err:  # noqa: BLE001 - an error here would abort the user's program
        _warn_once("probe-host", f"kinkcheck.trace: lost a JAX probe result ({type(err).__name__}: {err})")


sink.host = staticmethod(_on_host)
sink.probe = staticmethod(_on_probe)
sink.eager = staticmethod(_on_eager)
sink.wants = staticmethod(_wants)
sink.quiet = staticmethod(_quiet)


# -- the backend -----------------------------------------------------------------------------


@functools.cache
def _installed(names: tuple[str, ...]) -> tuple[str, ...]:
    """The packages of ``names`` that are installed (the attributor caches its directories
    once all the packages it is given are found)."""
    return tuple(n for n in names if package_dirs(n))


@functools.cache
def _skip_dirs() -> tuple[str, ...]:
    return tuple(d for name in SKIP_PACKAGES for d in package_dirs(name))



class JaxBackend:
    """One trace's JAX counting in one thread (see the module doc)."""

    def __init__(self, tracer):
        self.tracer = tracer
        self.by_prim, self.by_code, self.missing = jax_ops.table(tracer.catalog, tracer.codes)
        self.smooth = jax_ops.smooth_codes()
        self.thread_id = threading.get_ident()
        self.attributor = Attributor(tracer.root, _installed(JAX_INTERNAL))
        self.skip_dirs = _skip_dirs()
        self.near = (float(tracer.near.ulps), float(tracer.near.abs))
        #: the trace's setting as jit's cache key sees it: a small int (jit compares its
        #: context on every call), one per (rules, near) in this process
        self.only_diff = bool(getattr(tracer, "only_differentiated", True))
        self.setting_key = (tuple(sorted(tracer.codes)), self.near)
        if getattr(tracer, "probe", None) is not None:  # programs of their own: see jax_probe
            self.setting_key = (*self.setting_key, "probed")
        self.setting = _setting_id(self.setting_key, self.only_diff)
        #: the subgradient sensitivity probe (:mod:`.jax_probe`), when the trace asks for one
        self.probe: jax_probe.JaxProbe | None = None
        self._sites: dict[int, Site] = {}
        self._joined: list = []
        self._started = False

    # -- device counters (the Backend protocol) --

    @staticmethod
    def counters_to_host(counters) -> list:
        raw = np.asarray(jnp.stack(list(counters)), dtype=np.int64)
        return [row[1:].copy() for row in raw]

    @staticmethod
    def counter_add(total, more):
        return total + more

    @staticmethod
    def counter_copy(counter):
        return counter  # jax arrays are immutable

    # -- lifecycle --

    def start(self):
        global _active
        tr = self.tracer
        tr.frameworks["jax"] = jax.__version__
        counted = getattr(tr, "counted", None)
        if isinstance(counted, dict):
            counted["jax"] = COUNTED if self.only_diff else COUNTED_ALL
        try:
            self._joined.append((patches.join(core.Primitive, "bind", _bind_patch, self), self))
            self._joined.append((patches.join(_pjit, "_trace_for_jit", _jit_patch, self), self))
            self._joined.append((patches.join(_pjit, "_run_python_pjit", _run_patch, self), self))
            self._joined.append((patches.join(_pjit, "_infer_params", _infer_patch, self), self))
            if getattr(tr, "probe", None) is not None:
                self.probe = jax_probe.JaxProbe(self)
                self.probe.start()
            mine = _thread_backends()
            if not mine:
                _local.prev = _STATE.swap_local(self.setting)
            mine.append(self)
            self._started = True
            with _active_lock:
                _active = (*_active, self)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        global _active
        try:
            if self._started:
                _drain()
                self._observe()
        finally:
            with _active_lock:
                _active = tuple(b for b in _active if b is not self)
            mine = _thread_backends()
            if self in mine:
                mine.remove(self)
                if not mine:
                    _STATE.set_local(getattr(_local, "prev", None))
                    _local.prev = None
                else:
                    _STATE.set_local(mine[0].setting)
            self._started = False
            probe, self.probe = self.probe, None
            if probe is not None:
                probe.stop()
            while self._joined:
                slot, listener = self._joined.pop()
                patches.leave(slot, listener)

    def _observe(self) -> None:
        """Each site that hit its kink exactly gets the gradient JAX computes there (:mod:`.jax_observe`)."""
        depth = getattr(_local, "depth", 0)
        _local.depth = 1  # differentiating the op is not the user's op
        try:
            for slot, site in list(self._sites.items()):
                if "observed" in site.extra or not _exact_hits(site):
                    continue
                _code, _line, rule, op, dtype = _sites.items[slot]
                obs = jax_observe.observe(rule.via or op.removeprefix("lax."), dtype)
                if obs is not None:
                    site.extra["observed"] = dict(obs)
        except Exception as err:  # noqa: BLE001 - a missing observation must not lose the trace
            _warn_once("observe", f"kinkcheck.trace: cannot observe a JAX gradient ({type(err).__name__}: {err})")
        finally:
            _local.depth = depth

    # -- counting, at bind time --

    def count(self, prim, rule, args, params) -> None:
        """Bind a count for this kinked primitive, if it is the user's (see the module doc)."""
        got = self._locate(prim, rule, args, params, 3)
        if got is None:
            return
        slot, rule, diff, how, operands = got
        count_p.bind(*operands, site=slot, how=how, near=(*self.near, rule.near), diff=diff)

    def replay(self, prim, rule, args, params, caller, orig):
        """A kinked bind while the probe replays a call for one site: that site's op takes its
        alternative subgradient (:mod:`.jax_probe`); nothing is counted."""
        if jax_frames.from_lax(caller):
            got = self._locate(prim, rule, args, params, 3)
            if got is not None:
                out = jax_probe.substitute(prim, args, params, got[0], got[1].via)
                if out is not None:
                    return out
        return orig(prim, *args, **params)

    def _locate(self, prim, rule, args, params, depth: int):
        """(site slot, rule, differentiated, how, operands) of a kinked bind that is the
        user's, or None; ``depth``: the bind's caller, counted from here."""
        where = self._where(rule, prim.name, depth + 1)
        if where is None:
            return None
        rule, code_obj, line, diff = where
        spec = jax_ops.how(prim.name, args, params)
        if spec is None:
            return None
        how, operands = spec
        dtype = str(core.typeof(args[1] if prim.name == "clamp" else args[0]).dtype)
        slot = _sites.slot((code_obj, line, rule, f"lax.{prim.name}", dtype))
        return slot, rule, diff, how, operands

    def _where(self, rule, name: str, depth: int = 3):
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
        if rule.code not in self.tracer.codes:
            return None
        return rule, user[0], user[1], jax_frames.custom_diff(sys._getframe(depth))

    # -- counts arriving --

    def _site(self, slot: int) -> Site:
        site = self._sites.get(slot)
        if site is None:
            code_obj, line, rule, op, dtype = _sites.items[slot]
            tr = self.tracer
            path, fn = self.attributor.describe(code_obj)
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
                if not evals or _sites.items[slot][2].code not in tr.codes:
                    continue
                vec = mat[i, 1:]
                tr.record(self._site(slot), evals, vec.copy() if vec.any() else None)
        if step:
            tr.step()
            if self.probe is not None:
                self.probe.step_closed()

    def take_eager(self, slot, evaluations, vec) -> None:
        tr = self.tracer
        if tr.counting and _sites.items[slot][2].code in tr.codes:
            tr.record(self._site(slot), evaluations, vec)


def _exact_hits(site: Site) -> bool:
    n = int(site.totals()[0])
    if site.cur_host is not None:
        n += int(site.cur_host[0])
    if site.cur_dev is not None:
        n += int(JaxBackend.counters_to_host([site.cur_dev])[0][0])
    return n > 0


def _new_site(path, line, fn, rule, op, dtype) -> Site:
    site = Site(path, line, fn, rule.code, rule.name, op, None, dtype, rule.kind, "jax",
                {"framework": "jax", "value": rule.subgradient})
    site.extra["near_scale"] = rule.near  # what near was measured against (catalog.NEAR_SCALES)
    return site


def _drain() -> None:
    """Wait until every dispatched program has run, so its counts have arrived."""
    jax.effects_barrier()
    for a in jax.live_arrays():
        try:
            a.block_until_ready()
        except Exception:  # noqa: BLE001, S112 - a deleted or donated buffer has nothing to wait for
            continue
