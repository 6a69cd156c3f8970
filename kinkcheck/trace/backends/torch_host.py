"""Host-side pieces of the torch backend's CPU counting (:mod:`.torch_count`): reused scratch
buffers, and the count vector of the few distances found within the tolerance."""

from __future__ import annotations

import math
import threading

import numpy as np
import torch

from kinkcheck.trace.counts import VEC_LEN
from kinkcheck.trace.near import HIST_HI, HIST_LO, NBINS

# the C entries behind np.max / np.count_nonzero: a NumPy call's Python wrapper costs more than a
# small array's work once the model's own kernels have evicted the interpreter's caches
_maxr = np.maximum.reduce
try:
    from numpy._core.multiarray import count_nonzero as _cnz
except ImportError:  # NumPy 1.x
    from numpy.core.multiarray import count_nonzero as _cnz  # type: ignore[no-redef]


class _Scratch:
    """Reused CPU buffers. A fresh multi-megabyte CPU tensor costs page faults on every op
    (the CPU allocator does not cache), which dominated the counting cost of a small CNN.

    One flat buffer per (dtype, slot), viewed at the shape asked for and grown to the largest:
    every op that uses a slot writes the same memory, which is still in cache from the op
    before (a CNN's second pool reuses the first's), instead of a buffer per shape that the
    model's own work evicts between steps. A caller keeps the buffers it uses live in distinct
    slots. One set per thread: traces in two threads count at the same time (torch kernels
    run without the GIL), and must never share a buffer."""

    def __init__(self):
        self._local = threading.local()

    def get(self, like_shape, dtype, slot: int = 0):
        shape = tuple(like_shape)
        try:
            views = self._local.views
        except AttributeError:
            views = self._local.views = {}
            self._local.bufs = {}
        key = (dtype, slot, shape)
        got = views.get(key)
        if got is None:
            got = self._view(views, key)
        return got

    def _view(self, views: dict, key: tuple):
        """The view for ``key`` made (and kept: a counted op asks for the same shapes every
        step, and slicing a tensor costs microseconds); the slot grown when it is too small."""
        dtype, slot, shape = key
        bufs = self._local.bufs
        n = math.prod(shape)
        buf = bufs.get((dtype, slot))
        if buf is None or buf.numel() < n:
            buf = bufs[(dtype, slot)] = torch.empty(n, dtype=dtype)
            for k in [k for k in views if k[0] == dtype and k[1] == slot]:  # views of the old buffer
                del views[k]
        if len(views) >= 512:  # a model of many shapes: start again rather than grow
            views.clear()
        got = views[key] = buf[:n].view(shape)
        return got


_scratch = _Scratch()


def _host_buf(n: int, dtype, slot: int) -> np.ndarray:
    """A reused numpy buffer of ``n`` elements (a view of a CPU scratch tensor of torch
    ``dtype``, kept beside it). A fresh array of a megabyte is fresh pages from the kernel, and
    their faults cost more than the counting itself (a NumPy temporary freed and made again)."""
    views = getattr(_scratch._local, "views", None)
    key = (dtype, slot, (n,), "np")
    got = views.get(key) if views is not None else None
    if got is None:
        got = _scratch.get((n,), dtype, slot).numpy()
        _scratch._local.views[key] = got  # dropped with the tensor views when the slot grows
    return got


def _vec(sel):
    """[exact, near, harmless, decades] for the selected distances (all within tolerance)."""
    n = sel.size
    if n == 0:
        return None
    vec = np.zeros(VEC_LEN, dtype=np.int64)
    nonzero = sel[sel != 0]
    k = nonzero.size
    vec[0] = n - k
    vec[1] = k
    if k:
        lg = np.log10(nonzero.astype(np.float64))
        if k <= _FEW:  # a few: binned one by one, on the same float64 logarithms
            bins = [0] * NBINS
            try:
                for d in lg.tolist():
                    bins[min(max(math.floor(d), HIST_LO), HIST_HI) - HIST_LO] += 1
            except (OverflowError, ValueError):  # an infinite distance (or NaN): the array way
                pass
            else:
                vec[3:] = bins
                return vec
        np.floor(lg, out=lg)  # clipped to [HIST_LO, HIST_HI] (np.clip, without its wrappers)
        np.minimum(np.maximum(lg, HIST_LO, out=lg), HIST_HI, out=lg)
        pos = lg.astype(np.int64)
        pos -= HIST_LO
        vec[3:] = np.bincount(pos, minlength=NBINS)
    return vec


#: up to this many near distances, :func:`_vec` bins them in a Python loop (fewer numpy calls)
_FEW = 32


def _within(a, tol: float):
    """``_vec(a[a <= tol])`` for distances ``a`` (NaN never counts), in fewer passes when
    nearly everything is far or exactly 0 (a step of quantized values hits thousands of
    exact zeros): compares into reused buffers and counts; the selection only when some
    are near, and when many are within (more than one in 64), only if not all exact."""
    if a.size == 0:
        return None
    within = np.less_equal(a, tol, out=_host_buf(a.size, torch.bool, 60))
    k = int(_cnz(within))
    if not k:
        return None
    if tol >= 0 and k > a.size >> 6:  # every exact zero is within
        exact = int(_cnz(np.equal(a, 0, out=_host_buf(a.size, torch.bool, 61))))
        if exact == k:
            only: np.ndarray = np.zeros(VEC_LEN, dtype=np.int64)
            only[0] = exact
            return only
    return _vec(a[within])
