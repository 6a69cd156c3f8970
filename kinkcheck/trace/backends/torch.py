"""PyTorch backend: a TorchDispatchMode that sees every aten op, however it was called.

The op table comes from the catalog: each rule's ``[runtime] aten`` overloads map to the
rule's code and kind. For each kind (and a few ops with their own kink location) a
*locator* turns the op's arguments into a tensor of distances to the kink plus the
operand's scale; one counting function turns distances into [exact, near, harmless,
decade histogram]. Nothing here writes to the user's tensors, and nothing syncs the device.

Speed: non-kink ops cost one dict lookup; backward passes and ``optimizer.step()`` run with
the mode off the dispatch stack (nothing is counted there), so their ops never enter
Python; module names are read from the stack only at a kink op (no module hooks). On the
CPU, counting uses reused buffers, float ops only (bool kernels are slow there), one
block-wise min-reduction to find the few elements near a kink, and numpy for those.
"""

from __future__ import annotations

import collections
import math
import sys
import threading
import warnings
import weakref

import numpy as np
import torch
import torch.nn.functional as F

from kinkcheck.trace import patches
from kinkcheck.trace.backends import _tls
from kinkcheck.trace.backends.stack import (
    KinkMode,
    enter_mode,
    exit_mode,
    lean_backward,
    max_pool1d_guard,
    on_stack,
    pop_own_modes,
    push_back,
)
from kinkcheck.trace.core import VEC_LEN, Site
from kinkcheck.trace.near import HIST_HI, HIST_LO, NBINS

_INF = math.inf
_warned: set[str] = set()


def _warn_once(key: str, msg: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


def _arg(args, kwargs, i, name, default=None):
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def _amax_abs(x):
    return x.abs().amax() if x.numel() else None


def _scale(*parts):
    """The largest of the parts (device scalars or numbers); None parts are skipped."""
    ts = [p for p in parts if isinstance(p, torch.Tensor)]
    fs = [abs(float(p)) for p in parts if p is not None and not isinstance(p, torch.Tensor)]
    if not ts:
        return max(fs) if fs else None
    out = ts[0]
    for t in ts[1:]:
        out = torch.maximum(out, t)
    return out.clamp_min(max(fs)) if fs else out


class _Scratch:
    """Reused CPU buffers. A fresh multi-megabyte CPU tensor costs page faults on every op
    (the CPU allocator does not cache), which dominated the counting cost of a small CNN.
    One set per thread: traces in two threads count at the same time (torch kernels run
    without the GIL), and must never share a buffer."""

    def __init__(self, limit: int = 12):
        self._local = threading.local()
        self.limit = limit

    def get(self, like_shape, dtype, slot: int = 0):
        bufs = getattr(self._local, "bufs", None)
        if bufs is None:
            bufs = self._local.bufs = collections.OrderedDict()
        key = (tuple(like_shape), dtype, slot)
        buf = bufs.get(key)
        if buf is None:
            buf = bufs[key] = torch.empty(key[0], dtype=dtype)
            if len(bufs) > self.limit:
                bufs.popitem(last=False)
        else:
            bufs.move_to_end(key)
        return buf


_scratch = _Scratch(limit=32)


def _absd(x):
    """|x| into a reused buffer on the CPU (the result only lives until it is counted)."""
    if x.device.type == "cpu" and x.numel() >= 4096 and not x.is_complex():
        return torch.abs(x, out=_scratch.get(x.shape, x.dtype, 0))
    return x.abs()


# -- locators: (args, kwargs, out) -> (distance, scale, evaluations, harmless) or None -------
#    distance: a float tensor (NaN/inf never count); evaluations: host int; harmless: a
#    device count or None. A locator returning (None, None, n, None) counts evaluations only.


def _zero(args, kwargs, out):
    x = args[0]
    d = _absd(x)
    return d, d.amax(), x.numel(), None


def _zero_of_output(args, kwargs, out):
    """Norms and distances: the kink is where the norm (the output) is 0."""
    o = out[0] if isinstance(out, (tuple, list)) else out
    xs = [a for a in args[:2] if isinstance(a, torch.Tensor)]
    return o.abs(), _scale(*[_amax_abs(a) for a in xs]), o.numel(), None


def _euclidean(args, kwargs, out):
    """``cdist``'s matrix-product path (p=2, more than 25 rows): ``|a|^2 + |b|^2 - 2ab`` leaves
    a coinciding pair (the diagonal of ``cdist(x, x)``) at up to ``sqrt(eps) * |a|`` instead of
    0. Pairs within that rounding of 0 get their distance again from the difference itself
    (exact 0 when the rows are equal); the others keep the output."""
    x1, x2 = args[0], args[1]
    n1 = x1.detach().pow(2).sum(-1)
    n2 = x2.detach().pow(2).sum(-1)
    eps = torch.finfo(out.dtype).eps if out.is_floating_point() else 0.0
    slack = ((n1.unsqueeze(-1) + n2.unsqueeze(-2)) * (64 * eps)).sqrt_()
    cand = out <= slack
    d = out.detach().clone()
    a = x1.detach().reshape(-1, *x1.shape[-2:])
    b = x2.detach().reshape(-1, *x2.shape[-2:])
    flat = d.view(-1, *d.shape[-2:])
    if d.device.type == "cpu":  # the few candidates, by index (reading a CPU mask costs no sync)
        k, i, j = cand.reshape(flat.shape).nonzero(as_tuple=True)
        if k.numel():
            flat[k, i, j] = (a[k, i] - b[k, j]).norm(dim=-1)
    else:  # no sync: the exact difference path for every pair where any is a candidate
        exact = torch._cdist_forward(a, b, 2.0, 2)
        flat.copy_(torch.where(cand.reshape(flat.shape), exact, flat))
    return d, None, d.numel(), None


def _log1p(args, kwargs, out):
    x = args[0]
    return (x + 1).abs(), _scale(_amax_abs(x), 1.0), x.numel(), None


def _threshold(args, kwargs, out):
    x, th = args[0], float(_arg(args, kwargs, 1, "threshold", 0.0))
    return (x - th).abs(), _scale(_amax_abs(x), abs(th)), x.numel(), None


def _pow(args, kwargs, out):
    x, p = args[0], _arg(args, kwargs, 1, "exponent")
    if not isinstance(x, torch.Tensor):
        return None
    if isinstance(p, torch.Tensor):
        kinked = (p < 1) & (p != 0)
        d = torch.where(kinked, x.abs(), _INF)
        return d, _amax_abs(x), d.numel(), None
    p = float(p)
    if p >= 1 or p == 0:
        return None  # x ** 2, x ** 1, x ** 0: no kink (negative powers are poles: counted)
    d = x.abs()
    return d, d.amax(), x.numel(), None


def _bounds(name, args, kwargs):
    if name == "clamp":
        return [_arg(args, kwargs, 1, "min"), _arg(args, kwargs, 2, "max")]
    if name == "clamp_min":
        return [_arg(args, kwargs, 1, "min")]
    if name == "clamp_max":
        return [_arg(args, kwargs, 1, "max")]
    if name == "hardtanh":
        return [_arg(args, kwargs, 1, "min_val", -1.0), _arg(args, kwargs, 2, "max_val", 1.0)]
    if name in ("hardsigmoid", "hardswish"):
        return [-3.0, 3.0]
    if name in ("hardshrink", "softshrink"):
        lam = float(_arg(args, kwargs, 1, "lambd", 0.5))
        return [-lam, lam]
    if name == "clip":
        return [_arg(args, kwargs, 1, "min"), _arg(args, kwargs, 2, "max")]
    return [0.0]


def _bound(name):
    def locate(args, kwargs, out):
        x = args[0]
        d = None
        scales = [_amax_abs(x)]
        for b in _bounds(name, args, kwargs):
            if b is None:
                continue
            di = (x - b).abs()
            d = di if d is None else torch.minimum(d, di)
            scales.append(b.abs().amax() if isinstance(b, torch.Tensor) else abs(float(b)))
        if d is None:
            return None
        return d, _scale(*scales), d.numel(), None

    return locate


def _tie(args, kwargs, out):
    a, b = args[0], args[1]
    d = (a - b).abs()
    return d, _scale(_amax_abs(a), _amax_abs(b) if isinstance(b, torch.Tensor) else abs(float(b))), d.numel(), None


def _denominator(name):
    def locate(args, kwargs, out):
        if name == "reciprocal":
            x = args[0]
            d = x.abs()
            return d, d.amax(), x.numel(), None
        a, b = args[0], args[1]
        if isinstance(b, torch.Tensor):
            d = b.abs()
            return d, d.amax(), d.numel(), None
        n = a.numel() if isinstance(a, torch.Tensor) else 1
        if float(b) == 0.0:
            d = torch.zeros(n, device=a.device, dtype=a.dtype)
            return d, 0.0, n, None
        return None, None, n, None

    return locate


def _unit(name):
    def locate(args, kwargs, out):
        x = args[0]
        d = (x - 1).abs() if name == "acosh" else (x.abs() - 1).abs()
        return d, 1.0, x.numel(), None

    return locate


def _origin(name):
    def locate(args, kwargs, out):
        if name == "angle":
            x = args[0]
            d = x.abs()
            return d, d.amax(), x.numel(), None
        y, x = args[0], args[1]
        d = torch.maximum(y.abs(), x.abs())
        return d, d.amax(), d.numel(), None

    return locate


def _step(name):
    def locate(args, kwargs, out):
        x = args[0]
        if name in ("round",):
            dec = _arg(args, kwargs, 1, "decimals", 0) or 0
            r = x * (10.0 ** dec) if dec else x
            d = (r - r.floor() - 0.5).abs()
            return d, _amax_abs(r), x.numel(), None
        if name in ("floor", "ceil", "trunc", "frac", "fix"):
            d = (x - x.round()).abs()
            return d, _amax_abs(x), x.numel(), None
        if name in ("floor_divide", "remainder", "fmod", "div"):
            q = x / args[1]
            d = (q - q.round()).abs()
            return d, _amax_abs(q), d.numel(), None
        if name in ("gt", "lt", "ge", "le", "eq", "ne", "greater", "less"):
            b = args[1]
            d = (x - b).abs()
            return d, _scale(_amax_abs(x), _amax_abs(b) if isinstance(b, torch.Tensor) else abs(float(b))), d.numel(), None
        d = x.abs()
        return d, d.amax(), x.numel(), None

    return locate


def _gap_to_selected(x, v, dims):
    """Distance from the selected value ``v`` (broadcastable, reduced dims kept) to the nearest
    *other* element of its slice: 0 means a tie. Returns one distance per slice."""
    nd = x.dim()
    dims = sorted(d % nd for d in dims) if nd else []
    r = (x - v).abs()
    if not dims:
        return None
    keep = [d for d in range(nd) if d not in dims]
    r = r.permute(*keep, *dims).reshape(*[x.shape[d] for d in keep], -1)
    if r.shape[-1] < 2:
        return None
    return r.topk(2, dim=-1, largest=False).values[..., 1]


def _reduce_tie(name):
    def locate(args, kwargs, out):
        x = args[0]
        if x.numel() < 2 or x.dim() == 0:
            return None, None, 1, None
        if name == "topk":
            k = int(_arg(args, kwargs, 1, "k"))
            dim = int(_arg(args, kwargs, 2, "dim", -1)) % x.dim()
            largest = bool(_arg(args, kwargs, 3, "largest", True))
            values, idx = out
            if k >= x.shape[dim] or k == 0:
                return None, None, values.numel() // max(k, 1), None
            kth = values.amin(dim, keepdim=True) if largest else values.amax(dim, keepdim=True)
            r = (x - kth).abs().scatter(dim, idx, _INF)
            d = r.amin(dim)
            return d, _amax_abs(x), d.numel(), None
        if name == "sort":
            dim = kwargs.get("dim", args[1] if len(args) > 1 else -1)
            values = out[0]
            d = values.diff(dim=int(dim)).abs()
            return d, _amax_abs(x), d.numel(), None
        if name in ("amax", "amin"):
            dims = _arg(args, kwargs, 1, "dim", ()) or list(range(x.dim()))
            dims = [dims] if isinstance(dims, int) else list(dims)
            keepdim = bool(_arg(args, kwargs, 2, "keepdim", False))
            v = out
            if not keepdim:
                for d0 in sorted(d % x.dim() for d in dims):
                    v = v.unsqueeze(d0)
            d = _gap_to_selected(x, v, dims)
        elif name == "aminmax":
            mn, mx = out
            dim = _arg(args, kwargs, 1, "dim")
            dims = list(range(x.dim())) if dim is None else [int(dim)]
            keepdim = bool(_arg(args, kwargs, 2, "keepdim", False))
            parts = []
            for v in (mn, mx):
                if not keepdim:
                    for d0 in sorted(d % x.dim() for d in dims):
                        v = v.unsqueeze(d0)
                parts.append(_gap_to_selected(x, v, dims).reshape(-1))
            d = torch.cat(parts)
        else:
            vals = out[0] if isinstance(out, (tuple, list)) else out
            if name in ("argmax", "argmin"):
                dim = _arg(args, kwargs, 1, "dim")
                if dim is None:
                    vals = x.reshape(-1)[out]
                else:
                    ix = out if _arg(args, kwargs, 2, "keepdim", False) else out.unsqueeze(int(dim))
                    vals = x.gather(int(dim), ix)
                    vals = vals if _arg(args, kwargs, 2, "keepdim", False) else vals.squeeze(int(dim))
            if vals.dim() == 0 and (len(args) < 2 or name in ("argmax", "argmin")) and not isinstance(out, (tuple, list)):
                dims = list(range(x.dim()))
                v = vals.reshape([1] * x.dim())
                keepdim = True
            else:
                didx = 2 if name == "kthvalue" else 1
                dim = int(_arg(args, kwargs, didx, "dim", -1))
                keepdim = bool(_arg(args, kwargs, didx + 1, "keepdim", False))
                dims = [dim]
                v = vals if keepdim else vals.unsqueeze(dim % x.dim())
            d = _gap_to_selected(x, v, dims)
        if d is None:
            return None, None, 1, None
        return d, _amax_abs(x), d.numel(), None

    return locate


def _tuple(v, n):
    if isinstance(v, (list, tuple)):
        v = list(v)
        return v * n if len(v) == 1 else v
    return [v] * n


class _WindowTie:
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
                gap = _compiled("window", _window_gap_impl, *args_)
            else:
                gap = _window_gap_impl(*args_)
        harmless = None
        if relu_in:
            harm = (vals == 0) & (gap == 0)
            harmless = harm.sum()
            gap = gap.masked_fill(harm, _INF)
        return gap, _amax_abs(vals), vals.numel(), harmless


def _top2_gap(x, vals, k, buf=None):
    """Exact gap between each window's maximum and its runner-up (0 on a tie) for windows that
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
    if t2 is None:  # 1-element windows: never a tie
        return None
    return torch.sub(vals, t2, out=t2)


def _top2_gap_2x2(x, vals, buf):
    """:func:`_top2_gap` for ``MaxPool2d(2)`` on a contiguous input, in as few calls as it
    takes: the row pairs' (max, min), then the column pairs' runner-up."""
    n = x.shape[:-2]
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    r0, r1 = x.view(*n, h, 2, 2 * w).unbind(-2)
    half = [*n, h, 2 * w]
    hi = torch.maximum(r0, r1, out=buf(half, 10))
    lo = torch.minimum(r0, r1, out=buf(half, 11))
    a0, a1 = hi.view(*n, h, w, 2).unbind(-1)
    b0, b1 = lo.view(*n, h, w, 2).unbind(-1)
    second = torch.minimum(a0, a1, out=buf(vals.shape, 12))
    second = torch.maximum(second, torch.maximum(b0, b1, out=buf(vals.shape, 13)), out=second)
    return torch.sub(vals, second, out=second)


def _quick_check_impl(self, x, vals, idx, k, relu_in):
    """CPU path for the common ``MaxPool(k)`` (stride k, no padding, sizes divisible): the
    exact runner-up gap of every window from :func:`_top2_gap`, in reused buffers.

    After a ReLU (``vals >= 0``) the windows whose maximum is 0 hold only zeros: harmless ties,
    counted apart and left out of the gaps. Only float ops (bool kernels are many times
    slower on the CPU): ``s = sign(vals)`` is 1, or 0 on a zero window; the harmless count is
    ``numel - sum(s)``; ``gap / s`` keeps every other gap bit-exact (``g / 1``) and makes the
    zero windows NaN; NaN gaps become +inf (never counted). ``sign(NaN)`` is 0 too, so when a
    window holds a NaN the zeros are counted with a compare instead."""
    nd = len(k)
    spatial = list(x.shape[-nd:])
    osz = list(vals.shape[-nd:])
    if any(o * ki != si for o, ki, si in zip(osz, k, spatial)) or math.prod(k) < 2:
        return None

    def buf(shape, slot):
        return _scratch.get(shape, x.dtype, slot)

    if tuple(k) == (2, 2) and x.is_contiguous() and vals.is_contiguous():
        gap = _top2_gap_2x2(x, vals, buf)
    else:
        gap = _top2_gap(x, vals, k, buf)
    if gap is None:
        return None
    hi = float(vals.amax())  # CPU scalars: no sync
    scale = hi if relu_in else max(abs(hi), abs(float(vals.amin())))
    has_nan = math.isnan(scale)
    if has_nan:  # a window holding a NaN: the scale of the others
        finite = vals[~torch.isnan(vals)]
        scale = float(finite.abs().amax()) if finite.numel() else 0.0
    harmless = None
    if relu_in:
        s = torch.sign(vals, out=buf(vals.shape, 1))  # 1, or 0 on a zero (and a NaN) window
        gap = gap.div_(s)
        if has_nan:
            harmless = (vals == 0).sum()
        else:  # float sums of 0/1 are exact below 2**24
            harmless = vals.numel() - s.sum(dtype=torch.float64 if vals.numel() >= 1 << 24 else torch.float32)
        gap = gap.nan_to_num_(nan=_INF)  # NaN windows too; without a ReLU they stay NaN (never counted)
    return gap, scale, vals.numel(), harmless


_WindowTie._quick_check = _quick_check_impl


def _locator(kind: str, name: str, backend):
    if name in ("linalg_vector_norm", "norm", "dist", "_cdist_forward", "_pdist_forward", "frobenius_norm",
                "linalg_norm", "linalg_matrix_norm", "nuclear_norm", "cdist", "pdist", "renorm"):
        return _zero_of_output, True
    if name == "_euclidean_dist":
        return _euclidean, True
    if name == "log1p":
        return _log1p, False
    if name == "threshold":
        return _threshold, False
    if name in ("pow", "float_power"):
        return _pow, False
    if kind == "window-tie" or "max_pool" in name:
        return _WindowTie(name, backend), True
    if kind in ("reduce-tie", "boundary") or name in ("topk", "sort"):
        return _reduce_tie(name), True
    if kind == "bound":
        return _bound(name), False
    if kind == "tie":
        return _tie, False
    if kind == "denominator":
        return _denominator(name), False
    if kind == "unit":
        return _unit(name), False
    if kind == "origin":
        return _origin(name), False
    if kind == "step":
        return _step(name), False
    return _zero, False


# -- counting ---------------------------------------------------------------------------


_BLOCK = 4096
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
        keep = np.flatnonzero(~(bmin > tol))  # within the tolerance, or NaN
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
    sel = a[a <= tol]
    n = sel.size
    if n == 0:
        return None
    vec = np.zeros(VEC_LEN, dtype=np.int64)
    nonzero = sel[sel != 0]
    exact = n - nonzero.size
    vec[0] = exact
    vec[1] = nonzero.size
    if nonzero.size:
        pos = np.clip(np.floor(np.log10(nonzero.astype(np.float64))), HIST_LO, HIST_HI).astype(np.int64) - HIST_LO
        vec[3:] = np.bincount(pos, minlength=NBINS)
    return vec


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


def count_device(d, tol):
    """Any device, no host sync, few kernels: returns the raw device layout (float64).

    One ``bucketize`` against [0, tiny, min(10^(k+1), tol+)] sorts every element into exact,
    a decade (only while within the tolerance) or far; one ``histc`` counts the buckets.
    """
    if d.dtype in (torch.float16, torch.bfloat16):
        d = d.float()
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


class _Compiled:
    """torch.compile'd kernels, made on first use; any failure falls back to eager."""

    def __init__(self):
        self.fns: dict = {}
        self.broken = False
        self.graphs = 0  # graphs compiled here (not the user's, for the compile warning)
        self.error = None

    def __call__(self, name, impl, *args):
        if not self.broken:
            fn = self.fns.get(name)
            try:
                if fn is None:
                    fn = self.fns[name] = torch.compile(impl, dynamic=True)
                stats = _dynamo_stats()
                before = stats["unique_graphs"] if stats is not None else 0
                out = fn(*args)
                if stats is not None:
                    self.graphs += stats["unique_graphs"] - before
                return out
            except Exception as err:  # noqa: BLE001 - no triton, no compiler, an inductor bug: eager
                self.broken = True
                self.error = err
                _warn_once("compile-count", f"kinkcheck.trace: compiled window check unavailable ({type(err).__name__}: "
                           f"{str(err).splitlines()[0][:200]}); using eager ops")
        return impl(*args)


def _dynamo_stats():
    dyn = sys.modules.get("torch._dynamo.utils")
    return dyn.counters["stats"] if dyn is not None else None


_compiled = _Compiled()


# -- the op table -------------------------------------------------------------------------


class _Spec:
    __slots__ = ("code", "kind", "locate", "name", "op", "post", "relu_out", "subgradient")

    def __init__(self, code, name, kind, op, locate, post, subgradient, relu_out):
        self.code, self.name, self.kind, self.op = code, name, kind, op
        self.locate, self.post, self.subgradient, self.relu_out = locate, post, subgradient, relu_out


_RESOLVED: dict = {}


def resolve(overload_name: str):
    """``abs.default`` -> torch.ops.aten.abs.default, or None when this torch lacks it."""
    try:
        return _RESOLVED[overload_name]
    except KeyError:
        op = _RESOLVED[overload_name] = _resolve(overload_name)
        return op


def _resolve(overload_name: str):
    base, _, ov = overload_name.partition(".")
    packet = getattr(torch.ops.aten, base, None)
    if packet is None:
        return None
    try:
        return getattr(packet, ov or "default")
    except (AttributeError, RuntimeError):
        return None


_RELU_OUT = {"relu", "relu_"}


def _signature(op) -> tuple:
    """An overload's inputs by name and type, leaving out ``out=`` tensors and aliasing."""
    return tuple((a.name, str(a.type)) for a in op._schema.arguments if not a.is_out)


def siblings(op) -> list[tuple[object, str]]:
    """The in-place and ``out=`` forms of ``op``: overloads of ``name`` / ``name_`` that take
    the same inputs (``abs_.default`` and ``abs.out`` for ``abs.default``; ``max.dim_max``
    for ``max.dim``). They compute the same function, so they are the same kink."""
    base = op._schema.name.split("::")[-1]
    plain = base[:-1] if base.endswith("_") and not base.startswith("_") else base
    want = _signature(op)
    out = []
    for name in (plain, plain + "_"):
        packet = getattr(torch.ops.aten, name, None)
        if packet is None:
            continue
        for ov in packet.overloads():
            other = getattr(packet, ov)
            if other is not op and _signature(other) == want:
                out.append((other, f"{name}.{ov}"))
    return out


def build_table(catalog, codes, backend) -> tuple[dict, list[str]]:
    table: dict = {}
    missing: list[str] = []
    for code in sorted(codes):
        rule = catalog[code]
        rt = rule.runtime
        if rt is None:
            continue
        sub = rule.subgradient("torch")
        subgradient = {"framework": "torch", "value": sub.value if sub else None}
        for name in rt.aten:
            op = resolve(name)
            if op is None:
                missing.append(f"{code}: aten.{name}")
                continue
            base = name.split(".")[0]
            plain = base[:-1] if base.endswith("_") and not base.startswith("_") else base
            if op in table:  # an op in two rules (clamp_min: KC103 and KC901) counts for the first
                continue
            locate, post = _locator(rt.kind, plain, backend)
            table[op] = _Spec(code, rule.name, rt.kind, f"aten.{name}", locate, post, subgradient, base in _RELU_OUT)
            for sib, sib_name in siblings(op):  # abs_ and abs.out count as abs
                if sib not in table:
                    sbase = sib_name.split(".")[0]
                    table[sib] = _Spec(code, rule.name, rt.kind, f"aten.{sib_name}", locate, post, subgradient,
                                       sbase in _RELU_OUT)
    # max-pool harmlessness needs to know relu outputs even when KC102 is not traced
    if any(s.kind == "window-tie" for s in table.values()):
        for name in ("relu.default", "relu_.default"):
            op = resolve(name)
            if op is not None and op not in table:
                table[op] = _Spec(None, None, None, f"aten.{name}", None, False, None, True)
    return table, missing


#: the TorchBackends running in this thread (to put back what a failed step left off)
_running = threading.local()


def _thread_backends() -> list:
    got = getattr(_running, "backends", None)
    if got is None:
        got = _running.backends = []
    return got


_grad_enabled = torch.is_grad_enabled

#: what the torch backend counts (the trace file's ``counted``, the summary's caption)
COUNTED = ("ops autograd differentiates: grad enabled and an input that requires grad "
           "(no_grad, inference_mode and constants are not counted)")
COUNTED_ALL = "every op, differentiated or not (only_differentiated=False)"


def _differentiated(args) -> bool:
    """Does autograd record this op? (an input tensor that requires grad; lists of tensors too)"""
    for a in args:
        if isinstance(a, torch.Tensor):
            if a.requires_grad:
                return True
        elif isinstance(a, (list, tuple)):
            for b in a:
                if isinstance(b, torch.Tensor) and b.requires_grad:
                    return True
    return False


def _has_data(args) -> bool:
    """Are the op's tensors dense tensors with values to measure? Meta tensors have none;
    sparse and nested layouts are not measured (said once)."""
    for a in args[:3]:
        if isinstance(a, torch.Tensor):
            if a.device.type == "meta":
                return False
            if a.layout != torch.strided or a.is_nested:
                _warn_once("layout", f"kinkcheck.trace: ops on {a.layout} tensors are not counted")
                return False
    return True


class _Mode(KinkMode):
    def __init__(self, backend):
        super().__init__()
        self.backend = backend
        self.table = backend.table

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        spec = self.table.get(func)
        if spec is None:
            return func(*args, **(kwargs or {}))
        return self.backend.handle(spec, func, args, kwargs or {})


class TorchBackend:
    """Pushes the dispatch mode and installs the module and optimizer hooks for one trace."""

    def __init__(self, tracer):
        self.tracer = tracer
        self.table, self.missing = build_table(tracer.catalog, tracer.codes, self)
        self.mode = _Mode(self)
        self._handles = []
        self.modules = None
        self._relu_outs: collections.OrderedDict = collections.OrderedDict()
        self._keys: dict = {}
        self._graph_task = torch._C._current_graph_task_id
        self._compiling = getattr(torch.compiler, "is_compiling", lambda: False)
        mode = tracer.counting_mode
        self._fused_forced = mode == "fused"
        self._count = {"host": count_host, "device": count_device}.get(mode)
        self._factors: dict = {}
        self._lean = False
        self._opt_popped: list = []
        self._opt_frame = None
        self.in_optimizer = False
        self.thread_id = threading.get_ident()
        self._guard = None
        self._only_diff = getattr(tracer, "only_differentiated", True)

    # -- device counters (the Backend protocol: kinkcheck.trace.backends) --

    @staticmethod
    def counters_to_host(counters) -> list:
        return [raw_to_vec(r) for r in torch.stack(list(counters)).cpu().numpy()]

    @staticmethod
    def counter_add(total, more):
        return total.add_(more)

    @staticmethod
    def counter_copy(counter):
        return counter.clone()

    # -- lifecycle --

    def start(self):
        tr = self.tracer
        tr.frameworks["torch"] = torch.__version__.split("+")[0]
        tr.counted["torch"] = COUNTED if self._only_diff else COUNTED_ALL
        stats = _dynamo_stats()
        if stats is not None and stats["unique_graphs"] - _compiled.graphs > 0:
                _warn_once("compile", "kinkcheck.trace: torch.compile'd code runs eagerly (uncompiled) inside the "
                           "trace block, so its kink ops are counted; rounding can differ from the compiled run")
        from torch.optim import optimizer as _opt

        tid = self.thread_id

        # The hooks run inside torch's step wrapper (frame 1). An optimizer subclass whose
        # step() calls super().step() runs a second wrapper inside the first once the parent
        # class has been patched too: only the outermost step counts, and a wrapper frame
        # that is no longer on the stack is a step that raised.
        def pre(opt, args, kwargs):
            if threading.get_ident() != tid:
                return
            outer = self._opt_frame
            if outer is not None and on_stack(outer, sys._getframe(2)):
                return
            self.in_optimizer = True
            # nothing inside optimizer.step() is counted: step off the dispatch stack
            # for its ops too (a leftover from a step that raised goes back first)
            push_back(self._opt_popped)
            self._opt_popped = pop_own_modes()
            self._opt_frame = sys._getframe(1)

        def post(opt, args, kwargs):
            if threading.get_ident() != tid or sys._getframe(1) is not self._opt_frame:
                return
            self._opt_frame = None
            popped, self._opt_popped = self._opt_popped, []
            push_back(popped)
            self.in_optimizer = False
            tr.step()

        self._handles.append(_opt.register_optimizer_step_pre_hook(pre))
        try:
            self._handles.append(_opt.register_optimizer_step_post_hook(post))
            if tr.modules:
                from kinkcheck.trace.attribution import ModuleStack

                self.modules = ModuleStack(tid)
                self.modules.install()
            self._guard = patches.join(torch, "max_pool1d", max_pool1d_guard, self)
            enter_mode(self.mode)
        except BaseException:
            self.stop(mode=False)
            raise
        _thread_backends().append(self)
        lean_backward.acquire()
        self._lean = True

    def stop(self, mode: bool = True):
        """Undo what :meth:`start` did, whatever other traces started or stopped meanwhile."""
        if self._lean:
            self._lean = False
            lean_backward.release()
        running = _thread_backends()
        if self in running:
            running.remove(self)
        self._release_failed_step(force=True)  # our post hook will not run any more
        for backend in running:  # a step that raised left modes off the stack
            backend._release_failed_step()
        try:
            if mode:
                exit_mode(self.mode)
        finally:
            self.mode.live = False
            while self._handles:
                self._handles.pop().remove()
            if self._guard is not None:
                patches.leave(self._guard, self)
                self._guard = None
            if self.modules is not None:
                self.modules.remove()
                self.modules = None
            self._relu_outs.clear()

    def _release_failed_step(self, force: bool = False) -> None:
        """An optimizer step whose post hook never ran (it raised) took the modes off the
        stack: put them back now (a step still running keeps them, unless ``force``)."""
        frame = self._opt_frame
        if frame is None or (not force and on_stack(frame, sys._getframe(1))):
            return
        popped, self._opt_popped = self._opt_popped, []
        self._opt_frame = None
        self.in_optimizer = False
        push_back(popped)

    # -- relu outputs, for harmless max-pool ties --

    def from_relu(self, x) -> bool:
        ent = self._relu_outs.get(id(x))
        return ent is not None and ent[0]() is x and ent[1] == x._version

    def _remember_relu(self, out):
        if out.is_inference():  # no version counter to tell a later in-place change
            return
        outs = self._relu_outs
        outs[id(out)] = (weakref.ref(out), out._version)
        if len(outs) > 256:
            outs.popitem(last=False)

    # -- the per-op path --

    def handle(self, spec, func, args, kwargs):
        tr = self.tracer
        if (
            not tr.counting
            or self.in_optimizer
            or getattr(_tls, "busy", False)
            or self._graph_task() != -1
        ):
            return func(*args, **kwargs)
        if spec.code is None:  # relu watched only for max-pool harmlessness
            out = func(*args, **kwargs)
            self._remember_relu(out)
            return out
        x0 = args[0] if args else None
        if not isinstance(x0, torch.Tensor) or not (x0.is_floating_point() or x0.is_complex()):
            if not (len(args) > 1 and isinstance(args[1], torch.Tensor) and args[1].is_floating_point()):
                return func(*args, **kwargs)
            x0 = args[1]
        if x0.numel() == 0 or not _has_data(args):
            return func(*args, **kwargs)
        if self._only_diff and not (_grad_enabled() and _differentiated(args)):
            # no_grad / inference_mode, or no input requires grad: not a kink of the loss
            return func(*args, **kwargs)
        if self._compiling() or type(x0).__name__ == "FakeTensor":
            _warn_once("fake", "kinkcheck.trace: ops traced by torch.compile are not counted")
            return func(*args, **kwargs)
        site = self._site(spec, x0)
        site.calls += 1
        if tr.every_op > 1 and (site.calls - 1) % tr.every_op:
            out = func(*args, **kwargs)
            if spec.relu_out:
                self._remember_relu(out)
            return out
        if spec.post:
            out = func(*args, **kwargs)
            self._measure(spec, site, args, kwargs, out)
        else:
            self._measure(spec, site, args, kwargs, None)  # before: in-place ops overwrite the input
            out = func(*args, **kwargs)
        if spec.relu_out:
            self._remember_relu(out)
        return out

    def _site(self, spec, x0) -> Site:
        tr = self.tracer
        att = tr._attributor
        f = att.frame(3)
        module = self.modules.current() if self.modules is not None else None
        if f is None:
            code_obj, line = None, 0
        else:
            code_obj, line = f.f_code, f.f_lineno
        dtype = x0.dtype
        key = (code_obj, line, module, spec.op, dtype)
        site = tr.sites.get(key)
        if site is None:
            if code_obj is None:
                path, fn = "<torch>", "<internal>"
            else:
                path, fn = att.describe(code_obj)
            site = tr.site(key, lambda: Site(
                path, line, fn, spec.code, spec.name, spec.op, module, str(dtype).replace("torch.", ""),
                spec.kind, "torch", spec.subgradient,
            ))
        return site

    def _measure(self, spec, site, args, kwargs, out):
        _tls.busy = True
        try:
            try:
                res = spec.locate(args, kwargs, out)
            except Exception as err:  # noqa: BLE001 - an unexpected signature must not break training
                _warn_once(f"locate:{spec.op}", f"kinkcheck.trace: cannot measure {spec.op} ({type(err).__name__}: {err}); "
                           "counting its evaluations only")
                res = (None, None, getattr(args[0], "numel", lambda: 0)(), None)
            if res is None:
                return
            d, scale, evals, harmless = res
            vec = None
            if d is not None and d.numel():
                if d.is_complex():
                    d = d.abs()
                fac = self._factors.get(d.dtype)
                if fac is None:
                    fac = self._factors[d.dtype] = self.tracer.near.factor(str(d.dtype).replace("torch.", ""))
                absf = self.tracer.near.abs
                counter = self._counter(d)
                if counter is count_host:  # CPU: plain floats (reading a CPU scalar costs no sync)
                    tol = float(scale) * fac + absf if scale is not None else absf
                    if math.isnan(tol):  # a NaN in the operand: take the scale of the rest
                        finite = d[~torch.isnan(d)]
                        tol = (float(finite.amax()) if finite.numel() else 0.0) * fac + absf
                else:
                    tol = scale * fac + absf if scale is not None else absf
                    if isinstance(tol, torch.Tensor):
                        tol = torch.nan_to_num(tol, nan=absf)
                vec = counter(d, tol)
            if harmless is not None:
                if isinstance(vec, np.ndarray) or (vec is None and self._counter(harmless) is count_host):
                    h = int(harmless)
                    if h:
                        if vec is None:
                            vec = np.zeros(VEC_LEN, dtype=np.int64)
                        vec[2] += h
                else:
                    if vec is None:
                        vec = torch.zeros(RAW_LEN, dtype=torch.float64, device=harmless.device)
                    vec[:1].add_(harmless)
            self.tracer.record(site, evals, vec)
        finally:
            _tls.busy = False

    def fused(self, x) -> bool:
        """Use the compiled window check for this tensor? (CUDA with triton, or counting="fused")."""
        if self._fused_forced:
            return True
        return x.device.type == "cuda" and _fused_ok() and not _compiled.broken

    def _counter(self, d):
        if self._count is not None:
            return self._count
        if d.device.type == "cpu":
            return count_host
        return count_device


_FUSED_OK = None


def _fused_ok() -> bool:
    global _FUSED_OK
    if _FUSED_OK is None:
        try:
            import triton  # noqa: F401

            _FUSED_OK = True
        except Exception:  # noqa: BLE001 - a broken triton install is as good as none
            _FUSED_OK = False
    return _FUSED_OK
