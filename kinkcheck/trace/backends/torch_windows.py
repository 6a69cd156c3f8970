"""Max-pool window ties for the torch backend: the gap between each window's maximum and its
runner-up (0 on a tie), the fast CPU fold for tiling windows, the unfold fallback, and the
harmless ties among a ReLU's zeros."""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F

from kinkcheck.trace.backends.torch_compiled import compiled
from kinkcheck.trace.backends.torch_count import ReluWindows, _scratch

_INF = math.inf


def _arg(args, kwargs, i, name, default=None):
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def _tuple(v, n):
    if isinstance(v, (list, tuple)):
        v = list(v)
        return v * n if len(v) == 1 else v
    return [v] * n


class WindowTie:
    """Max-pool windows whose maximum is not unique (or nearly so).

    Non-overlapping windows with indices (the common ``MaxPool2d(2)``): blank the chosen
    maximum and pool again; the gap to the second value is the distance. Otherwise unfold
    the (−inf padded) input into windows. Ties at an exact 0 in the output of a preceding
    ReLU are harmless (the gradient there is 0 either way) and counted apart.
    """

    def __init__(self, name, backend):
        self.name = name
        self.backend = backend
        self.nd = 3 if "3d" in name else (1 if "1d" in name else 2)

    def __call__(self, args, kwargs, out):
        name, nd = self.name, self.nd
        x = args[0]
        vals, idx = (out if isinstance(out, (tuple, list)) else (out, None))
        if not x.is_floating_point() or vals.numel() == 0:
            return None
        spatial = list(x.shape[-nd:])
        if name.startswith("adaptive"):
            osz = list(vals.shape[-nd:])
            if any(s % o for s, o in zip(spatial, osz)):
                return None, None, vals.numel(), None  # uneven adaptive windows: evaluations only
            k = [s // o for s, o in zip(spatial, osz)]
            s, p, dil, ceil = k, [0] * nd, [1] * nd, False
        elif name.startswith("fractional"):
            return None, None, vals.numel(), None
        else:
            k = _tuple(_arg(args, kwargs, 1, "kernel_size"), nd)
            s = _tuple(_arg(args, kwargs, 2, "stride", None) or k, nd)
            if not s:
                s = k
            p = _tuple(_arg(args, kwargs, 3, "padding", 0), nd)
            dil = _tuple(_arg(args, kwargs, 4, "dilation", 1), nd)
            ceil = bool(_arg(args, kwargs, 5, "ceil_mode", False))
        span = [(ki - 1) * di + 1 for ki, di in zip(k, dil)]
        disjoint = all(si >= sp for si, sp in zip(s, span)) and not any(p) and all(d == 1 for d in dil)
        fused = self.backend is not None and self.backend.fused(x)
        relu_in = self.backend is not None and self.backend.from_relu(x)
        if x.device.type == "cpu" and not fused and list(s) == list(k) and disjoint:
            quick = self._quick_check(x, vals, idx, k, relu_in)
            if quick is not None:
                return quick
        if idx is not None and disjoint and nd in (1, 2, 3) and not fused:
            flat = x.flatten(-nd)
            if x.device.type == "cpu":
                blank = _scratch.get(flat.shape, flat.dtype, 2).copy_(flat)
                blank.scatter_(-1, idx.flatten(-nd), -_INF)
                blank = blank.view_as(x)
            else:
                blank = flat.scatter(-1, idx.flatten(-nd), -_INF).view_as(x)
            pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1]
            second = pool(blank, k, s, 0, 1, ceil)
            gap = vals - second
        else:
            pads = []
            for i in reversed(range(nd)):
                L = spatial[i] + 2 * p[i]
                o = vals.shape[-nd + i]
                extra = max(0, (o - 1) * s[i] + span[i] - L)
                pads += [p[i], p[i] + extra]
            args_ = (x, vals, pads, list(span), list(s), list(dil), nd)
            if fused:
                gap = compiled("window", _window_gap_impl, *args_)
            else:
                gap = _window_gap_impl(*args_)
        harmless = None
        if relu_in:
            harm = (vals == 0) & (gap == 0)
            harmless = harm.sum()
            gap = gap.masked_fill(harm, _INF)
        return gap, vals.abs(), vals.numel(), harmless  # near on each window's own maximum


def _runner_up(x, vals, k, buf=None):
    """Each window's runner-up (equal to its maximum on a tie) for windows that
    tile the input (kernel == stride, no padding, sizes divisible): an elementwise fold of
    (best, second) pairs along one window axis at a time, on strided views of ``x``. No
    upsampling, no second pool, no bool masks: a few elementwise ops on at most half of
    ``x``. ``vals`` (the pool's own output) is the best of each window. ``buf(shape, slot)``
    hands out reused output buffers (CPU); None allocates."""
    nd = len(k)
    t1, t2 = x, None
    slot = 10
    for i, ki in enumerate(k):
        axis = x.dim() - nd + i
        shape = list(t1.shape)
        split = shape[:axis] + [shape[axis] // ki, ki] + shape[axis + 1:]
        v1 = t1.reshape(split)
        v2 = t2.reshape(split) if t2 is not None else None
        last = i == nd - 1
        out_shape = shape[:axis] + [shape[axis] // ki] + shape[axis + 1:]
        o1 = buf(out_shape, slot) if buf is not None else None
        o2 = buf(out_shape, slot + 1) if buf is not None else None
        slot += 2
        b1, b2 = v1.select(axis + 1, 0), (v2.select(axis + 1, 0) if v2 is not None else None)
        for j in range(1, ki):
            a1 = v1.select(axis + 1, j)
            a2 = v2.select(axis + 1, j) if v2 is not None else None
            # second best so far: the larger of min(best, new best) and both seconds
            lo = torch.minimum(b1, a1, out=o2) if o2 is not None else torch.minimum(b1, a1)
            if b2 is not None:
                lo = torch.maximum(lo, b2, out=lo)
            if a2 is not None:
                lo = torch.maximum(lo, a2, out=lo)
            b2 = lo
            if not (last and j == ki - 1):  # the last maximum is the pool's output
                b1 = torch.maximum(b1, a1, out=o1) if o1 is not None else torch.maximum(b1, a1)
            if j < ki - 1 and o1 is not None:  # folding in place: the next pair needs fresh outputs
                o1, o2 = buf(out_shape, slot), buf(out_shape, slot + 1)
                slot += 2
        t1, t2 = b1, b2
    return t2  # None for 1-element windows: never a tie


def _runner_up_2x2(x, vals, buf):
    """:func:`_runner_up` for ``MaxPool2d(2)`` on a contiguous input (see :func:`_runner_up_2x2_room`)."""
    return _runner_up_2x2_room(x, vals, buf)[0]


def _runner_up_2x2_room(x, vals, buf):
    """:func:`_runner_up` for ``MaxPool2d(2)`` on a contiguous input, in as few calls and as
    little fresh memory as it takes: the row pairs' maxima, then their minima, then the
    column pairs. Returns ``(second, room)``: ``room`` two more buffers of ``vals``' shape
    that this pass has just written (still in cache) and no longer needs, for the counting.

    A column pair is two neighbours in memory; an elementwise op on every other element
    (a stride-2 view) runs element by element, about five times slower per element than on
    contiguous memory. So the column pairs are taken on the whole row buffer shifted by one
    (``min(hi[:-1], hi[1:])``: contiguous, twice the elements, the even ones are the pairs),
    and the even elements are gathered at the end by :func:`_evens` (bit-exact, vectorised).
    The scratch buffers are cold at each step (the model's own work evicts them), so the
    minima go where the maxima were, and the runner-up where the minima were."""
    n = x.shape[:-2]
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    r0, r1 = x.view(*n, h, 2, 2 * w).unbind(-2)
    half = [*n, h, 2 * w]
    wide = _PAIR_INT.get(x.dtype)
    if wide is None:
        hi = torch.maximum(r0, r1, out=buf(half, 10))
        lo = torch.minimum(r0, r1, out=buf(half, 11))
        a0, a1 = hi.view(*n, h, w, 2).unbind(-1)
        b0, b1 = lo.view(*n, h, w, 2).unbind(-1)
        second = torch.minimum(a0, a1, out=buf(vals.shape, 12))
        second = torch.maximum(second, torch.maximum(b0, b1, out=buf(vals.shape, 13)), out=second)
        return second, (buf(vals.shape, 11), buf(vals.shape, 13))
    hf = torch.maximum(r0, r1, out=buf(half, 10)).view(-1)
    m = hf.numel()
    a = buf([m], 12)
    # a[2j]: the smaller of column pair j's maxima; odd elements straddle two windows (never
    # read), the last is left unwritten
    torch.minimum(hf[:-1], hf[1:], out=a[:-1])
    lf = torch.minimum(r0, r1, out=buf(half, 10)).view(-1)  # the maxima are no longer needed
    # ... and the larger of its minima: max(a, lo[2j], lo[2j+1]) is the window's runner-up
    torch.maximum(a[:-1], lf[:-1], out=a[:-1])
    torch.maximum(a[:-1], lf[1:], out=a[:-1])
    k = m // 2
    room = buf([m], 10)
    second = _evens(a, wide, room[:k].view(vals.shape))
    return second, (room[k:].view(vals.shape), a[:k].view(vals.shape))


#: per dtype: the integer type as wide as two elements, and the one as wide as one (the
#: bit-exact gather of even elements, :func:`_evens`); float64 has no 128-bit integer
_PAIR_INT = {torch.float32: (torch.int64, torch.int32), torch.float16: (torch.int32, torch.int16),
             torch.bfloat16: (torch.int32, torch.int16)} if sys.byteorder == "little" else {}


def _evens(full, wide, out):
    """``full[0::2]`` into ``out`` (contiguous, ``full.numel() // 2`` elements): each pair of
    elements read as one integer twice as wide, narrowed to the element's width, keeps its
    low half, which on a little-endian machine is the even element, bits unchanged (NaN
    payloads, -0.0). One contiguous conversion instead of a stride-2 copy."""
    pair, single = wide
    out.view(single).view(-1).copy_(full.view(pair))
    return out


def _quick_check_impl(self, x, vals, idx, k, relu_in):
    """CPU path for the common ``MaxPool(k)`` (stride k, no padding, sizes divisible): the
    exact runner-up of every window from :func:`_runner_up`, in reused buffers.

    After a ReLU (``vals >= 0``) the windows whose maximum is 0 hold only zeros: harmless ties,
    counted apart and left out of the gaps. In float32/64 the counting takes the maxima and
    runners-up as they are (:class:`ReluWindows`, counted by ``count_relu_windows``). Other
    dtypes use only float ops here (bool kernels are many times slower on the CPU):
    ``s = sign(vals)`` is 1, or 0 on a zero window; the harmless count is ``numel - sum(s)``;
    ``gap / s`` keeps every other gap bit-exact (``g / 1``) and makes the zero windows NaN;
    NaN gaps become +inf (never counted). ``sign(NaN)`` is 0 too, so when a window holds a
    NaN the zeros are counted with a compare instead."""
    nd = len(k)
    spatial = list(x.shape[-nd:])
    osz = list(vals.shape[-nd:])
    if any(o * ki != si for o, ki, si in zip(osz, k, spatial)) or math.prod(k) < 2:
        return None

    def buf(shape, slot):
        return _scratch.get(shape, x.dtype, slot)

    room = None
    if tuple(k) == (2, 2) and x.is_contiguous() and vals.is_contiguous():
        second, room = _runner_up_2x2_room(x, vals, buf)
    else:
        second = _runner_up(x, vals, k, buf)
    if second is None:
        return None
    if relu_in and x.dtype in _RELU_COUNTED:
        windows = ReluWindows(vals.contiguous(), second.contiguous(), room)
        probe = getattr(self.backend, "probe", None)
        if probe is not None and probe.on:  # a probed step's tie search starts from these (torch_probe_pool)
            self.backend.window_hint = (x, tuple(k), windows)
        return windows, None, vals.numel(), None
    gap = torch.sub(vals, second, out=second)
    # near on each window's own maximum (a NaN window's tolerance is NaN: never counted)
    scale = vals if relu_in else torch.abs(vals, out=buf(vals.shape, 4))
    harmless = None
    if relu_in:
        has_nan = math.isnan(float(vals.amax()))  # a CPU scalar: no sync
        s = torch.sign(vals, out=buf(vals.shape, 1))  # 1, or 0 on a zero (and a NaN) window
        gap = gap.div_(s)
        if has_nan:
            harmless = (vals == 0).sum()
        else:  # float sums of 0/1 are exact below 2**24
            harmless = vals.numel() - s.sum(dtype=torch.float64 if vals.numel() >= 1 << 24 else torch.float32)
        gap = gap.nan_to_num_(nan=_INF)  # NaN windows too; without a ReLU they stay NaN (never counted)
    return gap, scale, vals.numel(), harmless


#: dtypes whose ReLU windows go to ``count_relu_windows`` (numpy counts them natively)
_RELU_COUNTED = (torch.float32, torch.float64)


WindowTie._quick_check = _quick_check_impl  # type: ignore[attr-defined]


def _window_gap_impl(x, vals, pads: list[int], span: list[int], stride: list[int], dil: list[int], nd: int):
    """Gap between each window's maximum and its runner-up (0 on a tie), from the unfolded input."""
    w = F.pad(x, pads, value=-_INF) if any(pads) else x
    for i in range(nd):
        w = w.unfold(x.dim() - nd + i, span[i], stride[i])
        if dil[i] > 1:
            w = w[..., :: dil[i]]
    w = w.flatten(-nd)
    w = w[tuple([Ellipsis] + [slice(0, o) for o in vals.shape[-nd:]] + [slice(None)])]
    eq = w == vals.unsqueeze(-1)
    tie = eq.sum(-1) > 1
    second = w.masked_fill(eq, -_INF).amax(-1)
    return torch.where(tie, torch.zeros_like(vals), vals - second)
