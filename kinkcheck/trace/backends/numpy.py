"""NumPy backend: wraps the catalog's ``[runtime] numpy`` callables for the duration of the block.

What it sees: calls through the module attribute (``np.abs(x)``, ``numpy.linalg.norm``), the
reduce and accumulate methods of a traced ufunc reached that way (``np.maximum.reduce``), and
names the user's own modules bound before the block (``from numpy import abs``: those module
globals point at the wrapper while the block runs, and back afterwards).

What it counts: only calls the user's code makes itself. A call whose caller is a library
(scipy computing a distance transform, sklearn loading a data set) is not the user's site,
and nothing runs while a module is being imported inside the block counts.

What it cannot see, without slowing every numpy operation: operators on arrays (``a / b``,
``a ** p``, ``abs(a)``, comparisons) run the ufunc from C, and a ufunc object bound under
another name somewhere else (a library's own ``from numpy import maximum``) is never called
through anything the tracer can replace. Every patched attribute is restored on exit.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import sysconfig
import threading

import numpy as np

from kinkcheck.trace import patches
from kinkcheck.trace.backends import _tls
from kinkcheck.trace.site import VEC_LEN, Site
from kinkcheck.trace.near import HIST_HI, HIST_LO, NBINS


def _f(x):
    a = np.asarray(x)
    return a if a.dtype.kind in "fc" else None


def _absmax(a):
    return float(np.max(np.abs(a))) if a.size else 0.0


def _nan_to_inf(d):
    return d


def _locate(kind: str, name: str, args, kwargs, out):
    """(distance array, scale, evaluations) for one call, or None when not measurable."""
    if not args:
        return None
    x = _f(args[0])
    if kind == "denominator":
        if name == "reciprocal":
            b = x
        else:
            b = _f(args[1]) if len(args) > 1 else None
        if b is None:
            return None
        d = np.abs(b)
        return d, _absmax(b), d.size
    if x is None:
        return None
    if name in ("norm",):
        o = np.abs(np.asarray(out, dtype=float))
        return o, _absmax(x), o.size
    if name in ("power", "float_power"):
        p = np.asarray(args[1]) if len(args) > 1 else None
        if p is None:
            return None
        kinked = (p < 1) & (p != 0)
        if not np.any(kinked):
            return None
        d = np.where(kinked, np.abs(x), np.inf)
        return d, _absmax(x), d.size
    if kind == "zero":
        d = np.abs(x)
        return d, _absmax(x), x.size
    if kind == "bound":  # clip(a, a_min, a_max)
        lo = args[1] if len(args) > 1 else kwargs.get("a_min", kwargs.get("min"))
        hi = args[2] if len(args) > 2 else kwargs.get("a_max", kwargs.get("max"))
        ds = [np.abs(x - np.asarray(b)) for b in (lo, hi) if b is not None]
        if not ds:
            return None
        d = functools.reduce(np.minimum, ds)
        # near on max(|x|, |bound|) per element (KC103 near = "element")
        bmag = max([float(np.max(np.abs(b))) for b in (lo, hi) if b is not None] + [0.0])
        return d, np.maximum(np.abs(x), bmag) if bmag else np.full(d.shape, _absmax(x)), d.size
    if kind == "tie":
        b = _f(args[1]) if len(args) > 1 else None
        if b is None:
            return None
        d = np.abs(x - b)
        return d, np.maximum(np.abs(x), np.abs(b)), d.size  # near on max(|a|, |b|) per element
    if kind == "unit":
        d = np.abs(x - 1) if name == "arccosh" else np.abs(np.abs(x) - 1)
        return d, 1.0, x.size
    if kind == "origin":
        if name == "angle":
            d = np.abs(x)
            return d, _absmax(x), x.size
        b = _f(args[1]) if len(args) > 1 else None
        if b is None:
            return None
        d = np.maximum(np.abs(x), np.abs(b))
        return d, float(np.max(d)) if d.size else 0.0, d.size
    if kind == "step":
        if name in ("floor_divide", "remainder", "mod", "fmod"):
            b = np.asarray(args[1]) if len(args) > 1 else None
            if b is None:
                return None
            with np.errstate(divide="ignore", invalid="ignore"):
                q = x / b
            d = np.abs(q - np.round(q))
            return d, _absmax(q[np.isfinite(q)]) if q.size else 0.0, d.size
        if name in ("floor", "ceil", "trunc", "fix", "rint", "around", "round"):
            off = 0.5 if name in ("rint", "around", "round") else 0.0
            d = np.abs(x - np.floor(x) - off) if off else np.abs(x - np.round(x))
            return d, np.abs(x), x.size  # near on |x| per element
        d = np.abs(x)
        return d, _absmax(x), x.size
    if kind in ("reduce-tie", "boundary"):
        if name == "sort":
            axis = kwargs.get("axis", args[1] if len(args) > 1 else -1)
            if axis is None:
                d = np.abs(np.diff(np.asarray(out).ravel()))
            else:
                d = np.abs(np.diff(np.asarray(out), axis=axis))
            return d, _absmax(x), d.size
        axis = kwargs.get("axis", args[1] if len(args) > 1 else None)
        v = np.asarray(out)
        if name in ("argmax", "argmin"):
            v = np.take_along_axis(x.ravel() if axis is None else x,
                                   np.asarray(out).reshape(-1) if axis is None else np.expand_dims(out, axis), axis=0 if axis is None else axis)
            if axis is not None and not kwargs.get("keepdims", False):
                v = np.squeeze(v, axis)
        if axis is None:
            r = np.abs(x.ravel() - v.ravel()[0]) if v.size == 1 else None
            if r is None or r.size < 2:
                return None
            d = np.partition(r, 1)[1:2]
        else:
            keep = kwargs.get("keepdims", False)
            vv = v if keep else np.expand_dims(v, axis)
            r = np.abs(x - vv)
            if r.shape[axis] < 2:
                return None
            d = np.take(np.partition(r, 1, axis=axis), 1, axis=axis)
        return d, _absmax(x), d.size
    d = np.abs(x)
    return d, _absmax(x), x.size


def count(d: np.ndarray, tol: float):
    d = np.asarray(d)
    with np.errstate(invalid="ignore"):
        sel = d[d <= tol]
    n = sel.size
    if n == 0:
        return None
    vec: np.ndarray = np.zeros(VEC_LEN, dtype=np.int64)
    exact = int(np.count_nonzero(sel == 0))
    vec[0], vec[1] = exact, n - exact
    pos = sel[sel != 0].astype(np.float64)
    if pos.size:
        idx = np.clip(np.floor(np.log10(pos)), HIST_LO, HIST_HI).astype(np.int64) - HIST_LO
        vec[3:] = np.bincount(idx, minlength=NBINS)
    return vec


#: ufunc methods counted, as the reduction or running selection they are (maximum/minimum)
_METHODS = ("reduce", "accumulate")


class _UfuncProxy:
    """Stands in for a ufunc while traced: calls are counted, and so are ``reduce`` and
    ``accumulate`` of the maximum/minimum family; everything else (``.outer``, ``nin``...) goes
    to the real ufunc, which numpy's own code relies on."""

    __slots__ = ("__wrapped__", "_call", "_slot", "_ufunc")

    def __init__(self, ufunc, call, slot):
        self._ufunc = ufunc
        self._call = call
        self._slot = slot
        self.__wrapped__ = ufunc

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name):
        real = getattr(self._ufunc, name)
        if name in _METHODS and self._ufunc.__name__ in _SELECTING:
            return _notify(real, self._slot, name)
        return real

    def __repr__(self):
        return f"<traced {self._ufunc!r}>"


_SELECTING = ("maximum", "minimum", "fmax", "fmin")
_PROXY_CALL = _UfuncProxy.__call__.__code__


def _notify(orig, slot, method=None):
    """``orig``, then each listening trace measures the call (never while a backend measures)."""

    @functools.wraps(orig)
    def wrapper(*args, **kwargs):
        out = orig(*args, **kwargs)
        listeners = slot.listeners
        if listeners and not getattr(_tls, "busy", False):
            tid = threading.get_ident()
            for listen in listeners:
                listen(tid, args, kwargs, out, method)
        return out

    return wrapper


def _wrap(orig, slot):
    """The one wrapper of a numpy callable, shared by every running trace."""
    wrapper = _notify(orig, slot)
    wrapper.__kinkcheck_original__ = orig
    if isinstance(orig, np.ufunc):
        return _UfuncProxy(orig, wrapper, slot)
    return wrapper


def _library_dirs() -> tuple[str, ...]:
    """Where installed code lives (site-packages, the standard library): not the user's."""
    return _library_dirs_for(tuple(sys.path))


@functools.lru_cache(maxsize=4)
def _library_dirs_for(path: tuple[str, ...]) -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {os.path.realpath(paths[k]) for k in ("purelib", "platlib", "stdlib", "platstdlib") if paths.get(k)}
    dirs |= {os.path.realpath(p) for p in path if p.rstrip(os.sep).endswith(("site-packages", "dist-packages"))}
    return tuple(d.rstrip(os.sep) + os.sep for d in sorted(dirs))


class _Callers:
    """Is a numpy call the user's own? Its direct caller must be user code (not a library, not
    torch, numpy or kinkcheck), and no module may be importing on the stack."""

    def __init__(self, attributor):
        self.attributor = attributor
        self.libs = _library_dirs()
        self._user: dict[object, bool] = {}

    def is_user(self, code) -> bool:
        hit = self._user.get(code)
        if hit is None:
            fn = code.co_filename
            if fn.startswith("<"):
                hit = not self.attributor.is_internal(code)  # <stdin>, notebooks: the user's
            else:
                real = os.path.realpath(fn)
                hit = not self.attributor.is_internal(code) and not real.startswith(self.libs)
            self._user[code] = hit
        return hit

    @staticmethod
    def importing(frame) -> bool:
        """Is a module being imported (an importlib frame below this one, or a module body
        whose module is still initialising)?"""
        f = frame
        while f is not None:
            if f.f_code.co_filename.startswith("<frozen importlib"):
                return True
            f = f.f_back
        spec = frame.f_globals.get("__spec__")
        return bool(getattr(spec, "_initializing", False))


class NumpyBackend:
    """Listens to the shared numpy patches (:mod:`kinkcheck.trace.patches`) for one trace in
    one thread: calls from other threads, from libraries, during imports, or while another
    backend measures, are not counted."""

    #: what this backend counts (the trace file's ``counted``)
    COUNTED = ("calls the user's own code makes (not a library's calls, nothing while a module imports); "
               "operators on arrays are not seen")

    def __init__(self, tracer):
        self.tracer = tracer
        self.thread_id = threading.get_ident()
        self._joined: list[tuple[patches.Slot, object]] = []
        self._callers: _Callers | None = None

    def start(self):
        tr = self.tracer
        tr.frameworks["numpy"] = np.__version__
        if hasattr(tr, "counted"):
            tr.counted["numpy"] = self.COUNTED
        seen = set()
        try:
            originals: dict[int, tuple] = {}
            for code in sorted(tr.codes):
                rule = tr.catalog[code]
                for qual in rule.runtime.numpy:
                    if qual in seen:
                        continue
                    seen.add(qual)
                    owner, attr = self._owner(qual)
                    if owner is None:
                        continue
                    listener = self._listener(rule, attr)
                    slot = patches.join(owner, attr, _wrap, listener)
                    self._joined.append((slot, listener))
                    originals[id(slot.orig)] = (slot.orig, rule, attr)
            self._bind_user_names(originals)
        except BaseException:
            self.stop()
            raise

    def _bind_user_names(self, originals: dict) -> None:
        """``from numpy import abs`` in the user's modules: those globals point at the traced
        wrapper for the block (one scan of the modules loaded from outside any library)."""
        if self._callers is None:
            self._callers = _Callers(self.tracer._attributor)
        for mod in _user_modules(self._callers.libs):
            try:
                items = list(vars(mod).items())
            except TypeError:
                continue
            for key, value in items:
                got = originals.get(id(value))
                if got is not None and got[0] is value and not key.startswith("__"):
                    listener = self._listener(got[1], got[2])
                    self._joined.append((patches.join(mod, key, _wrap, listener), listener))

    def stop(self):
        while self._joined:
            slot, listener = self._joined.pop()
            patches.leave(slot, listener)

    @staticmethod
    def _owner(qual: str):
        mod_name, _, attr = qual.rpartition(".")
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            return None, attr
        if not hasattr(mod, attr):
            return None, attr
        return mod, attr

    def _listener(self, rule, name):
        tr = self.tracer
        kind = rule.runtime.kind
        tid = self.thread_id
        if self._callers is None:
            self._callers = _Callers(tr._attributor)
        callers = self._callers

        def listen(thread_id, args, kwargs, out, method=None):
            if thread_id != tid or not tr.counting:
                return
            caller = sys._getframe(2)  # listen <- the wrapper <- whoever called numpy
            if caller.f_code is _PROXY_CALL:  # a ufunc: through the proxy's __call__
                caller = caller.f_back
            if not callers.is_user(caller.f_code) or callers.importing(caller):
                return
            _tls.busy = True
            try:
                self._measure(rule, kind, name, method, args, kwargs, out, caller)
            except Exception:  # noqa: BLE001, S110 - counting must never break the user's computation
                pass
            finally:
                _tls.busy = False

        return listen

    def _measure(self, rule, kind, name, method, args, kwargs, out, caller):
        tr = self.tracer
        if method == "reduce":  # np.maximum.reduce(x, axis=0) is np.max(x, axis=0)
            axis = args[1] if len(args) > 1 else kwargs.get("axis", 0)
            res = _locate("reduce-tie", "max", (args[0], axis), {"keepdims": kwargs.get("keepdims", False)}, out)
        elif method == "accumulate":  # a running maximum ties where the next value equals it
            res = _running_tie(args, kwargs, out)
        else:
            res = _locate(kind, name, args, kwargs, out)
        if res is None:
            return
        d, scale, evals = res
        dtype = np.asarray(args[0]).dtype.name if args else "float64"
        code_obj, line = caller.f_code, caller.f_lineno
        op = f"numpy.{name}" + (f".{method}" if method else "")
        key = (code_obj, line, None, rule.code, op, dtype)
        site = tr.sites.get(key)
        if site is None:
            path, fn = tr._attributor.describe(code_obj)
            site = tr.site(key, lambda: _new_site(path, line, fn, rule, op, dtype, kind))
        site.calls += 1
        if tr.every_op > 1 and (site.calls - 1) % tr.every_op:
            return
        d = np.asarray(d)
        if d.dtype.kind == "c":
            d = np.abs(d)
        near = rule.runtime.near
        if near == "own":
            tiny = float(np.finfo(d.dtype).tiny) if d.dtype.kind in "fc" else 0.0
            tol = tr.near.ulps * tiny + tr.near.abs
        else:
            scale = np.asarray(scale, dtype=np.float64)
            if near == "tensor" and scale.ndim:
                scale = np.max(scale) if scale.size else 0.0
            tol = scale * tr.near.factor(d.dtype.name) + tr.near.abs
        tr.record(site, evals, count(d, tol) if d.size else None)


#: module -> is it the user's (loaded from outside every library)? decided once per module
_USER_MODULES: dict[int, tuple[object, bool]] = {}


_USER_LIST: list = [0, []]  # [len(sys.modules) when scanned, the user modules then]


def _user_modules(libs: tuple[str, ...]) -> list:
    """The user's modules, rescanned only when sys.modules changed size (a trace may start
    every step: scanning two thousand modules each time costs milliseconds)."""
    if _USER_LIST[0] != len(sys.modules):
        _USER_LIST[1] = [m for m in list(sys.modules.values()) if _user_module(m, libs)]
        _USER_LIST[0] = len(sys.modules)
    return _USER_LIST[1]


def _user_module(mod, libs: tuple[str, ...]) -> bool:
    got = _USER_MODULES.get(id(mod))
    if got is not None and got[0] is mod:
        return got[1]
    f = getattr(mod, "__file__", None)
    name = getattr(mod, "__name__", "")
    user = (isinstance(f, str) and bool(f) and isinstance(name, str)
            and name.split(".")[0] not in ("numpy", "torch", "kinkcheck", "scipy", "sklearn", "jax")
            and not os.path.realpath(f).startswith(libs))
    _USER_MODULES[id(mod)] = (mod, user)
    return user


def _new_site(path, line, fn, rule, op, dtype, kind) -> Site:
    site = Site(path, line, fn, rule.code, rule.name, op, None, dtype, kind, "numpy", None)
    site.extra["near_scale"] = rule.runtime.near
    return site


def _running_tie(args, kwargs, out):
    """``np.maximum.accumulate``: step i ties where x[i] equals the running value before it."""
    x = _f(args[0])
    if x is None:
        return None
    axis = args[1] if len(args) > 1 else kwargs.get("axis", 0)
    acc = np.asarray(out)
    n = x.shape[axis] if x.ndim else 0
    if n < 2:
        return None
    prev = np.take(acc, np.arange(n - 1), axis=axis)
    nxt = np.take(x, np.arange(1, n), axis=axis)
    d = np.abs(prev - nxt)
    return d, np.maximum(np.abs(prev), np.abs(nxt)), d.size
