"""NumPy backend: wraps the catalog's ``[runtime] numpy`` callables for the duration of the block.

Only lookups through the module attribute see the wrapper (``np.abs(x)``, ``numpy.linalg.norm``);
names bound before the block (``from numpy import abs``), operators (``abs(a)``, ``a / b``) and
ufunc methods are not traced. Every patched attribute is restored on exit, even on errors.
"""

from __future__ import annotations

import functools
import importlib
import threading

import numpy as np

from kinkcheck.trace import patches
from kinkcheck.trace.backends import _tls
from kinkcheck.trace.core import VEC_LEN, Site
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
        scale = max([_absmax(x)] + [float(np.max(np.abs(b))) for b in (lo, hi) if b is not None])
        return d, scale, d.size
    if kind == "tie":
        b = _f(args[1]) if len(args) > 1 else None
        if b is None:
            return None
        d = np.abs(x - b)
        return d, max(_absmax(x), _absmax(b)), d.size
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
            return d, _absmax(x), x.size
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
    vec = np.zeros(VEC_LEN, dtype=np.int64)
    exact = int(np.count_nonzero(sel == 0))
    vec[0], vec[1] = exact, n - exact
    pos = sel[sel != 0].astype(np.float64)
    if pos.size:
        idx = np.clip(np.floor(np.log10(pos)), HIST_LO, HIST_HI).astype(np.int64) - HIST_LO
        vec[3:] = np.bincount(idx, minlength=NBINS)
    return vec


class _UfuncProxy:
    """Stands in for a ufunc while traced: calls are counted, everything else (``.reduce``,
    ``.outer``, ``nin``...) goes to the real ufunc, which numpy's own code relies on."""

    __slots__ = ("__wrapped__", "_call", "_ufunc")

    def __init__(self, ufunc, call):
        self._ufunc = ufunc
        self._call = call
        self.__wrapped__ = ufunc

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._ufunc, name)

    def __repr__(self):
        return f"<traced {self._ufunc!r}>"


def _wrap(orig, slot):
    """The one wrapper of a numpy callable, shared by every running trace: the call itself,
    then each listening trace measures it (never while a backend is measuring)."""

    @functools.wraps(orig)
    def wrapper(*args, **kwargs):
        out = orig(*args, **kwargs)
        listeners = slot.listeners
        if listeners and not getattr(_tls, "busy", False):
            tid = threading.get_ident()
            for listen in listeners:
                listen(tid, args, kwargs, out)
        return out

    wrapper.__kinkcheck_original__ = orig
    if isinstance(orig, np.ufunc):
        return _UfuncProxy(orig, wrapper)
    return wrapper


class NumpyBackend:
    """Listens to the shared numpy patches (:mod:`kinkcheck.trace.patches`) for one trace in
    one thread: calls from other threads, or while another backend measures, are not counted."""

    def __init__(self, tracer):
        self.tracer = tracer
        self.thread_id = threading.get_ident()
        self._joined: list[tuple[patches.Slot, object]] = []

    def start(self):
        tr = self.tracer
        tr.frameworks["numpy"] = np.__version__
        seen = set()
        try:
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
                    self._joined.append((patches.join(owner, attr, _wrap, listener), listener))
        except BaseException:
            self.stop()
            raise

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
        sub = {"framework": "numpy", "value": None}
        tid = self.thread_id

        def listen(thread_id, args, kwargs, out):
            if thread_id != tid or not tr.counting:
                return
            _tls.busy = True
            try:
                self._measure(rule, kind, name, sub, args, kwargs, out)
            except Exception:  # noqa: BLE001, S110 - counting must never break the user's computation
                pass
            finally:
                _tls.busy = False

        return listen

    def _measure(self, rule, kind, name, sub, args, kwargs, out):
        tr = self.tracer
        res = _locate(kind, name, args, kwargs, out)
        if res is None:
            return
        d, scale, evals = res
        dtype = np.asarray(args[0]).dtype.name if args else "float64"
        f = tr._attributor.frame(3)
        code_obj, line = (f.f_code, f.f_lineno) if f is not None else (None, 0)
        key = (code_obj, line, None, rule.code, name, dtype)
        site = tr.sites.get(key)
        if site is None:
            path, fn = tr._attributor.describe(code_obj) if code_obj is not None else ("<numpy>", "<internal>")
            site = tr.site(key, lambda: Site(path, line, fn, rule.code, rule.name, f"numpy.{name}", None, dtype,
                                             kind, "numpy", sub))
        site.calls += 1
        if tr.every_op > 1 and (site.calls - 1) % tr.every_op:
            return
        d = np.asarray(d)
        if d.dtype.kind == "c":
            d = np.abs(d)
        tol = scale * tr.near.factor(d.dtype.name) + tr.near.abs
        tr.record(site, evals, count(d, tol) if d.size else None)
