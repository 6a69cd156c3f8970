"""Counting for the torch backend: distances to a kink -> [exact, near, harmless, decades].

Two paths. On the CPU (:func:`count_host`, :func:`count_host_rel`) one block-wise
min-reduction finds the few blocks that hold anything near the kink and numpy counts those;
reading a CPU scalar costs no sync. On other devices (:func:`count_device`) a bucketize and a
histc leave a raw counter on the device (no sync), read when the trace is saved
(:func:`raw_to_vec`). The tolerance is a number (one scale for the tensor) or a tensor (one
per element: :mod:`kinkcheck.trace.near`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from kinkcheck.trace.backends.torch_host import (
    _FEW,
    _cnz,
    _host_buf,
    _maxr,
    _Scratch,
    _scratch,
    _vec,
    _within,
)
from kinkcheck.trace.counts import VEC_LEN
from kinkcheck.trace.near import HIST_HI, HIST_LO, NBINS

__all__ = ["_FEW", "_Scratch", "_host_buf", "_scratch", "_vec", "_within"]  # re-exported (tests, torch_windows)

_INF = math.inf


def _take_rows(src: np.ndarray, rows: np.ndarray, width: int, out: np.ndarray) -> np.ndarray:
    """``src`` (flat) as rows of ``width``: the rows picked, into ``out``'s head (no temporary)."""
    got = out[: rows.size * width].reshape(rows.size, width)
    np.take(src[: src.size // width * width].reshape(-1, width), rows, axis=0, out=got, mode="clip")
    return out[: rows.size * width]


def _absd(x):
    """|x| into a reused buffer on the CPU (the result only lives until it is counted)."""
    if x.device.type == "cpu" and x.numel() >= 4096 and not x.is_complex():
        return torch.abs(x, out=_scratch.get(x.shape, x.dtype, 0))
    return x.abs()


_BLOCK = 4096
#: per-element tolerances: smaller blocks, since exact ties (max-pool windows) are common
_REL_BLOCK = 512
_HOST_NP = {torch.float32: True, torch.float64: True}


def _host_tol(tol: float, dtype) -> float:
    """The tolerance as torch compares it against a ``dtype`` tensor (rounded to the dtype)."""
    if dtype in (torch.float16, torch.bfloat16):
        return float(torch.tensor(tol, dtype=dtype))
    return tol


def _np(t):
    """A CPU tensor as a flat numpy array (a view when it can be), half types as float32."""
    if t.dtype not in _HOST_NP:
        t = t.float() if t.is_floating_point() else t.double()
    return t.reshape(-1).numpy()


def count_host(d, tol):
    """CPU: find the (rare) elements within the tolerance and count them on the host.

    Big tensors: one block-wise min-reduction (torch, vectorised) says which blocks of
    ``_BLOCK`` elements hold anything within the tolerance (or a NaN); only those few are
    copied out and counted with numpy, where a handful of tiny ops cost microseconds instead
    of a dispatch each. Small tensors go to numpy whole. Counts are exactly those of
    ``d <= tol`` in ``d``'s dtype (NaN never counts)."""
    if isinstance(tol, torch.Tensor):
        tol = float(tol)  # a CPU scalar: no device sync
    tol = _host_tol(tol, d.dtype)
    n = d.numel()
    native = d.dtype in _HOST_NP
    if n >= 4 * _BLOCK:
        flat = d.reshape(-1)
        nb = n // _BLOCK
        head = flat[: nb * _BLOCK].view(nb, _BLOCK)
        bmin = _np(head.amin(1))
        keep = (~(bmin > tol)).nonzero()[0]  # within the tolerance, or NaN
        if native:  # the rest in numpy, on a view of d: no more dispatches
            arr = flat.numpy()
            picked = arr[: nb * _BLOCK].reshape(nb, _BLOCK)[keep].reshape(-1)
            tail = arr[nb * _BLOCK:]
        else:
            picked = _np(head[torch.from_numpy(keep)]) if keep.size else np.empty(0, np.float32)
            tail = _np(flat[nb * _BLOCK:])
        a = np.concatenate([picked, tail]) if tail.size else picked
    else:
        if n >= 1024 and float(d.amin()) > tol:
            return None  # the common case: one reduction (a NaN minimum falls through)
        a = _np(d)
    return _vec(a[a <= tol])



RAW_LEN = NBINS + 3  # device layout: [harmless, exact, decade HIST_LO .. HIST_HI, far]
_edges: dict = {}


def _boundaries(d):
    """Per (device, dtype): the fixed decade edges 10^(k+1) and a buffer for this op's edges."""
    key = (d.device, d.dtype)
    got = _edges.get(key)
    if got is None:
        dec = torch.tensor([10.0 ** (k + 1) for k in range(HIST_LO, HIST_HI + 1)], dtype=d.dtype, device=d.device)
        tiny = torch.finfo(d.dtype).tiny * torch.finfo(d.dtype).eps  # the smallest subnormal
        got = _edges[key] = (dec, torch.tensor([0.0, tiny], dtype=d.dtype, device=d.device))
    return got


def count_host_rel(d, scale, fac: float, absf: float):
    """CPU, a tolerance per element: counts ``d <= fac * scale + absf`` (compared in float64).

    ``scale`` is a tensor broadcastable to ``d`` (NaN never counts). One fused pass makes
    ``d - 2 * fac * scale`` (the doubled factor keeps the float rounding of that pass from
    losing a borderline element); its block minima pick the few blocks worth a look, and
    numpy decides those exactly, as :func:`count_host` does."""
    n = d.numel()
    big = n >= 4 * _BLOCK
    if big and scale.shape == d.shape:
        e = torch.sub(d, scale, alpha=2 * fac, out=_scratch.get(d.shape, d.dtype, 5))
    else:
        e = torch.sub(d, scale, alpha=2 * fac)
    flat_e = e.reshape(-1)
    n = flat_e.numel()
    thr = _host_tol(absf, d.dtype)
    rows = isinstance(scale, torch.Tensor) and scale.shape == d.shape and d.is_contiguous() and scale.is_contiguous()
    if big and rows:  # whole blocks of d and scale, as rows of 2-d views (no element gathers)
        blk = _REL_BLOCK
        nb = n // blk
        bmin = _np(flat_e[: nb * blk].view(nb, blk).amin(1))
        keep = torch.from_numpy(np.flatnonzero(~(bmin > thr)))
        fd, fs = d.reshape(-1), scale.reshape(-1)
        dd = np.concatenate([_np(fd[: nb * blk].view(nb, blk)[keep]), _np(fd[nb * blk:])])
        ss = np.concatenate([_np(fs[: nb * blk].view(nb, blk)[keep]), _np(fs[nb * blk:])])
        if dd.size == 0:
            return None
    elif big:
        nb = n // _BLOCK
        bmin = _np(flat_e[: nb * _BLOCK].view(nb, _BLOCK).amin(1))
        keep = np.flatnonzero(~(bmin > thr))
        idx = (keep[:, None] * _BLOCK + np.arange(_BLOCK)).reshape(-1)
        idx = np.concatenate([idx, np.arange(nb * _BLOCK, n)])
        if idx.size == 0:
            return None
        pick = torch.from_numpy(idx)
        dd = _np(d.expand(e.shape).reshape(-1)[pick])
        ss = _np(scale.expand(e.shape).reshape(-1)[pick]) if isinstance(scale, torch.Tensor) else np.float64(scale)
    else:
        if n >= 1024 and float(flat_e.amin()) > thr:
            return None
        dd = _np(d.expand(e.shape))
        ss = _np(scale.expand(e.shape)) if isinstance(scale, torch.Tensor) else np.float64(scale)
    d64 = dd.astype(np.float64)
    with np.errstate(invalid="ignore"):
        return _vec(dd[d64 <= fac * ss.astype(np.float64) + absf])


class Whole:
    """Distances a locator hands over undone, for the CPU counting to count whole, in fewer
    passes than the dense distances take: ``count(fac, absf)`` -> ``(vec, harmless)``, or
    None to count them the dense way (``dense()`` -> ``(distance, scale, harmless)``);
    ``distance()`` makes the dense distances, for observing a hit."""

    __slots__ = ("x",)
    x: torch.Tensor  # the tensor that says the device and dtype

    def count(self, fac: float, absf: float) -> tuple[np.ndarray | None, int] | None:
        raise NotImplementedError

    def dense(self) -> tuple:
        raise NotImplementedError

    def distance(self):
        return self.dense()[0]


class Magnitude(Whole):
    """``|x|`` of a big CPU float32/64 tensor, near on its largest magnitude (a ReLU's input):
    counted by :func:`count_magnitude` in cache-sized chunks instead of writing ``|x|`` whole."""

    __slots__ = ()

    def __init__(self, x):
        self.x = x

    def count(self, fac: float, absf: float) -> tuple[np.ndarray | None, int] | None:
        counted, vec = count_magnitude(self, fac, absf)
        return (vec, 0) if counted else None

    def dense(self) -> tuple:
        d = self.x.abs()
        return d, d.amax(), None


#: elements per chunk of :func:`count_magnitude` (2 MiB of float32: the chunk's |x| stays in cache,
#: and few enough chunks that each op still has work for every thread)
_CHUNK = 1 << 19


def count_magnitude(m: Magnitude, fac: float, absf: float) -> tuple[bool, np.ndarray | None]:
    """CPU: what :func:`count_host` counts on ``d = |x|`` with the tolerance
    ``fac * max(d) + absf``, reading ``x`` once: per chunk, ``|x|`` into a reused buffer and
    the minimum and maximum of each ``_BLOCK``; the maxima give the scale, the minima the
    few blocks worth a look, and numpy counts those (a tensor of one chunk: numpy on ``|x|``
    whole, :func:`_count_magnitude_dense`). ``(counted, vec)``: not counted when ``x`` holds
    a NaN (the scale is then that of the finite elements: the caller counts the dense way)."""
    flat = m.x.detach().reshape(-1)  # numpy refuses a tensor that requires grad
    n = flat.numel()
    dt = flat.dtype
    nb = n // _BLOCK
    per = _CHUNK // _BLOCK
    if nb <= per:  # most tensors: one chunk, counted whole
        return _count_magnitude_dense(flat, fac, absf)
    bmin = _scratch.get((nb,), dt, 31)
    bmax = _scratch.get((nb,), dt, 32)
    tmp = _scratch.get((per, _BLOCK), dt, 30)
    for i in range(0, nb, per):
        j = min(i + per, nb)
        t = torch.abs(flat[i * _BLOCK: j * _BLOCK].view(j - i, _BLOCK), out=tmp[: j - i])
        torch.amin(t, 1, out=bmin[i:j])
        torch.amax(t, 1, out=bmax[i:j])
    lo, hi = bmin.numpy(), bmax.numpy()
    arr = flat.numpy()
    top = float(_maxr(hi))
    tail = None
    if n > nb * _BLOCK:
        tail = np.abs(arr[nb * _BLOCK:])
        tail_top = float(_maxr(tail))
        top = tail_top if math.isnan(tail_top) else max(top, tail_top)
    if math.isnan(top):
        return False, None
    tol = top * fac + absf
    keep = (lo <= tol).nonzero()[0]  # no NaN left; a NaN tol (inf * 0) keeps nothing, as it counts nothing
    if keep.size <= _FEW_BLOCKS:  # the usual case: nothing, or a few near elements
        if not keep.size:
            sel = None
        else:
            rows = arr[: nb * _BLOCK].reshape(-1, _BLOCK)[keep]  # a copy of the few blocks
            np.abs(rows, out=rows)
            sel = rows[rows <= tol]
        if tail is not None:
            more = tail[tail <= tol]
            sel = more if sel is None else np.concatenate((sel, more))
        return True, (None if sel is None else _vec(sel))
    # the kept blocks' |x| and the tail's, side by side in one buffer
    a = _host_buf(keep.size * _BLOCK + n - nb * _BLOCK, dt, 62)
    picked = _take_rows(arr, keep, _BLOCK, a)
    np.abs(picked, out=picked)
    if tail is not None:
        a[picked.size:] = tail
    return True, _within(a, tol)


#: up to this many kept blocks, :func:`count_magnitude` selects from a copy of them directly
_FEW_BLOCKS = 4


def _count_magnitude_dense(flat, fac: float, absf: float) -> tuple[bool, np.ndarray | None]:
    """:func:`count_magnitude` for a tensor of one chunk (it fits in cache): ``|x|`` into a
    reused buffer, its maximum and the elements within the tolerance read by numpy on that
    buffer. A few more passes over cached memory than the block filter, and a handful of
    calls instead of a dozen (each costs more than such a pass once the model's kernels have
    evicted the interpreter's caches)."""
    n = flat.numel()
    torch.abs(flat, out=_scratch.get((n,), flat.dtype, 30))
    a = _host_buf(n, flat.dtype, 30)
    top = float(_maxr(a))
    if math.isnan(top):
        return False, None
    return True, _within(a, top * fac + absf)


class ReluWindows(Whole):
    """Max-pool windows over a ReLU's output: each window's maximum ``vals`` and runner-up
    ``second`` (same shape, contiguous, float32/64). The distance is ``vals - second``, near on
    ``vals``; a window of zeros is no tie (harmless: the gradient is 0 either way) and counts
    apart. Counted by :func:`count_relu_windows`; ``room``: two buffers of ``vals``' shape it
    may write (the runner-up search's own, still in cache), or None for the scratch ones."""

    __slots__ = ("kept", "room", "second", "vals")

    def __init__(self, vals, second, room=None):
        self.x = self.vals = vals
        self.second = second
        self.room = room
        #: set by the one-pass count: (the number of zero windows, the flat indices of the windows
        #: it kept, the rest being far from a tie); a probe's tie search reads them (torch_probe_pool)
        self.kept: tuple[int, np.ndarray] | None = None

    def count(self, fac: float, absf: float) -> tuple[np.ndarray | None, int] | None:
        return count_relu_windows(self, fac, absf)

    def dense(self) -> tuple:
        """(distances with zero and NaN windows +inf, the scale ``vals``, the zero windows)."""
        d = torch.sub(self.vals, self.second).div_(torch.sign(self.vals))
        return d.nan_to_num_(nan=_INF), self.vals, (self.vals == 0).sum()


#: per dtype: the constant that pushes a window of zeros to +inf in the block filter (any
#: positive number; the smallest normal keeps the filter's other values as they are)
_ZERO_PUSH = {torch.float32: torch.finfo(torch.float32).tiny, torch.float64: torch.finfo(torch.float64).tiny}
_ONES: dict = {}


def count_relu_windows(w: ReluWindows, fac: float, absf: float) -> tuple[np.ndarray | None, int]:
    """CPU: ``(vec, harmless)`` for max-pool windows over a ReLU's output (float32/64).

    Counts exactly what :func:`count_host_rel` counts on ``d = (vals - second) / sign(vals)``
    (NaN made +inf) with the scale ``vals``, and ``harmless`` = the windows of zeros, in
    fewer passes: one filter value per window, ``second - (1 - 2 * fac) * vals`` (one pass,
    while the maxima are finite and ``fac >= eps``), else ``gap - 2 * fac * vals + tiny /
    sign(vals)`` (the filter ``count_host_rel`` uses, with zero windows pushed to +inf and
    NaN windows left NaN); numpy picks the windows it keeps (ties, near ties, NaN: few) and
    decides them exactly from ``vals`` and ``second``. No array is made at the tensor's size."""
    vals, second = w.vals.detach(), w.second.detach()  # numpy refuses a tensor that requires grad
    n = vals.numel()
    if n < 4 * _REL_BLOCK:
        v, s = _np(vals), _np(second)
        return _relu_windows_vec(v, s, fac, absf), int(np.count_nonzero(v == 0))
    dt = vals.dtype
    thr = 4 * max(absf, _ZERO_PUSH[dt])
    room = w.room
    v = _np(vals)
    f = None
    if fac >= _EPS[dt]:
        f = torch.sub(second, vals, alpha=1 - 2 * fac, out=room[1] if room else _scratch.get(vals.shape, dt, 5))
    if f is not None and float(f.amin()) > -_INF:
        # one pass: f = second - (1 - 2 fac) * vals. A window count_host_rel counts (vals > 0,
        # vals - second <= fac * vals + absf) has f >= -absf up to roundings far below
        # thr: the doubled factor covers the rounding of (1 - 2 fac) and of the product
        # once fac >= eps. An infinite maximum (within its infinite tolerance) makes f -inf
        # or NaN, as does a NaN: those go the two-pass way (read from f, just written: the
        # maxima themselves are no longer in cache). Windows of zeros have f = 0 (kept by the
        # filter): they are told apart by counting the nonzero maxima, which is also the
        # harmless count
        far = np.less(f.view(-1).numpy(), -thr, out=_host_buf(n, torch.bool, 60))
        zero = np.equal(v, 0, out=_host_buf(n, torch.bool, 61))  # -0.0 too (a compare: counting floats is slow)
        zeros = int(_cnz(zero))
        if int(_cnz(far)) == n - zeros:  # every window but the zero ones is far
            w.kept = (zeros, _NO_WINDOWS)
            return None, zeros
        keep = np.logical_not(far, out=far)
        keep &= np.logical_not(zero, out=zero)
        pick = keep.nonzero()[0]
        w.kept = (zeros, pick)
        return _relu_windows_vec(v[pick], _np(second)[pick], fac, absf), zeros
    one = _ONES.get(dt)
    if one is None:
        one = _ONES[dt] = torch.ones((), dtype=dt)
    push = _ZERO_PUSH[dt]
    sign = torch.sign(vals, out=room[0] if room else _scratch.get(vals.shape, dt, 1))  # 1, or 0 on a zero (and a NaN) window
    e = torch.sub(vals, second, out=room[1] if room else _scratch.get(vals.shape, dt, 5))
    e.sub_(vals, alpha=2 * fac).addcdiv_(one, sign, value=push)
    # e <= thr keeps every window count_host_rel's filter keeps (the push adds at most `push`)
    vec, has_nan = None, False
    if not float(e.amin()) > thr:  # some window kept, or a NaN (a CPU scalar: no sync)
        far = np.greater(e.view(-1).numpy(), thr, out=_host_buf(n, torch.bool, 60))  # NaN: not far
        pick = np.logical_not(far, out=far).nonzero()[0]
        v, s = _np(vals)[pick], _np(second)[pick]
        has_nan = bool(np.isnan(v).any())
        vec = _relu_windows_vec(v, s, fac, absf)
    if has_nan:
        harmless = int(np.count_nonzero(_np(vals) == 0))  # sign(NaN) is 0: count the zeros themselves
    else:  # float sums of 0/1 are exact below 2**24
        harmless = n - int(sign.sum(dtype=torch.float64 if n >= 1 << 24 else dt))
    return vec, harmless


_NO_WINDOWS: np.ndarray = np.zeros(0, dtype=np.int64)
_NO_WINDOWS.flags.writeable = False

#: per dtype: machine epsilon (the one-pass window filter needs a factor of at least this)
_EPS = {torch.float32: torch.finfo(torch.float32).eps, torch.float64: torch.finfo(torch.float64).eps}


def _relu_windows_vec(v, s, fac: float, absf: float):
    """:func:`count_host_rel`'s decision on the windows' maxima ``v`` and runners-up ``s``
    (numpy, one dtype): the same float distances, zero and NaN windows never counted."""
    if v.size == 0:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.divide(v - s, np.sign(v))
        # NaN (zero and NaN windows, inf - inf) -> +inf, as the dense distances' nan_to_num: one
        # ufunc instead of that function's dozen calls (tens of microseconds on a cold step); an
        # infinite gap stays inf where nan_to_num makes it the largest float: the same decision
        # against any tolerance, and the same (top) decade
        np.fmin(d, _INF, out=d)
        return _vec(d[d.astype(np.float64) <= fac * v.astype(np.float64) + absf])


def count_device(d, tol):
    """Any device, no host sync, few kernels: returns the raw device layout (float64).

    One ``bucketize`` against [0, tiny, min(10^(k+1), tol+)] sorts every element into exact,
    a decade (only while within the tolerance) or far; one ``histc`` counts the buckets.
    """
    if d.dtype in (torch.float16, torch.bfloat16):
        d = d.float()
    if isinstance(tol, torch.Tensor) and tol.numel() > 1:  # per element: the far ones become inf
        d = torch.where(d <= tol, d, _INF)
        tol = tol.new_tensor(_INF)
    dec, head = _boundaries(d)
    if not isinstance(tol, torch.Tensor):
        tol = torch.tensor(tol, dtype=d.dtype, device=d.device)
    cap = torch.nextafter(tol.to(d.dtype), tol.new_tensor(_INF, dtype=d.dtype))
    edges = torch.cat([head, torch.minimum(dec, cap)])
    idx = torch.bucketize(d.contiguous(), edges, right=True, out_int32=True)  # it would copy anyway, and warn
    return torch.histc(idx.float(), bins=RAW_LEN, min=0, max=RAW_LEN).double()


def raw_to_vec(raw):
    """Device layout -> [exact, near, harmless, bins...] as numpy int64."""
    raw = np.asarray(raw, dtype=np.float64)
    vec = np.zeros(VEC_LEN, dtype=np.int64)
    bins = np.rint(raw[2:2 + NBINS]).astype(np.int64)
    vec[0] = round(raw[1])
    vec[1] = int(bins.sum())
    vec[2] = round(raw[0])
    vec[3:] = bins
    return vec
