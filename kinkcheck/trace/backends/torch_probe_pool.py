"""The probe's other subgradient at a max-pool tie (:mod:`.torch_probe`).

Torch hands each output's gradient to the first maximum of its window (in scan order) and
returns that element's index. The other valid choice taken here: the *last* maximum of the
window. For a window with a tie, the input's gradient changes by ``+u`` at the last maximum
and ``-u`` at torch's, where ``u`` is the output's upstream gradient. Covers
``max_pool2d_with_indices`` and ``max_pool3d_with_indices`` (``F.max_pool1d/2d/3d``,
``nn.MaxPool*d``; ``ceil_mode`` too) and ``adaptive_max_pool2d/3d`` (``F.adaptive_max_pool1d``
runs the 2-d one on a unit height); fractional pools (random windows) are reported as not
probed.

The ties are found after the op runs, from its output: each position ``j`` in a window is a
view of the input at the output's shape (a strided slice; a gather for adaptive windows), so
``kernel`` comparisons with the pooled values give every window's maxima without an im2col
copy of the input or a second pooling pass (on a CPU both cost more than the pool itself).
The change of the input's gradient is then two scatters of the masked upstream gradient.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch

from kinkcheck.trace.backends import torch_probe_rules as rules
from kinkcheck.trace.backends.torch_count import _host_buf
from kinkcheck.trace.backends.torch_probe_buffers import FRESH, Alloc


def _ntuple(v, n: int, default) -> tuple[int, ...]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        v = default
    if isinstance(v, int):
        return (int(v),) * n
    v = [int(e) for e in v]
    return tuple(v) * n if len(v) == 1 else tuple(v[-n:])


def _strides(size: Sequence[int]) -> list[int]:
    out, acc = [], 1
    for s in reversed(size):
        out.append(acc)
        acc *= s
    return out[::-1]


#: per geometry and device: (flat index of each window position, its validity or None)
_TABLES: OrderedDict = OrderedDict()


def _table(key, make):
    got = _TABLES.get(key)
    if got is None:
        got = _TABLES[key] = make()
        if len(_TABLES) > 64:
            _TABLES.popitem(last=False)
    return got


def _grid(per_dim: list[torch.Tensor]) -> torch.Tensor:
    """Sum of per-dimension vectors broadcast to the output's spatial grid."""
    n = len(per_dim)
    total = None
    for i, v in enumerate(per_dim):
        v = v.reshape([-1 if k == i else 1 for k in range(n)])
        total = v if total is None else total + v
    assert total is not None
    return total


def _weights(offsets: list[int], origins: torch.Tensor, dtype: torch.dtype):
    """Window position ``j`` as ``offsets[j] + 1`` (so that the largest ``eq_j * w_j`` over a
    window is its last maximum: within a window, the in-bounds positions' offsets grow in scan
    order), and each window's origin minus 1 (its flat index of position 0, less the 1)."""
    n = origins.dim()
    w = torch.tensor([o + 1 for o in offsets], dtype=dtype, device=origins.device).view((-1,) + (1,) * (n + 1))
    return w, (origins - 1).to(dtype)


class PoolTie:
    """The tied windows of one max-pool call: found by :meth:`bind` from the op's output
    (``tie``: a mask at the output's shape; ``alt``, each window's last maximum as an index in
    its plane; ``first``, torch's), and the change of the input's gradient when each tied
    window gives its gradient to ``alt`` instead of torch's choice (:meth:`deltas`)."""

    def __init__(self, x: torch.Tensor, n: int, geometry: tuple | None, alloc: Alloc = FRESH):
        self.alloc = alloc
        self.x: torch.Tensor | None = x  # until bind: a pool does not change its input
        self.shape, self.dtype = tuple(x.shape), x.dtype
        self.spatial = tuple(int(s) for s in x.shape[-n:])
        self.plane = 1
        for s in self.spatial:
            self.plane *= s
        self.planes = x.numel() // self.plane
        self.geometry = geometry  # (kernel, stride, padding, dilation), or None: adaptive
        self.hits = 0
        #: the input is a relu's output: a tie at 0 moves nothing (relu passes no gradient there)
        self.zero_harmless = False
        self.tie: torch.Tensor | None = None
        self.alt: torch.Tensor | None = None
        self.first: torch.Tensor | None = None
        #: the tied windows alone (:meth:`_bind_sparse`): their flat output index, and the flat
        #: input index of their last and of their first maximum
        self.sparse: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        #: the input, when it is a ReLU's output and the ties were found sparsely (:meth:`start`)
        self.relu_out: torch.Tensor | None = None

    # -- the windows --

    def _regular(self, xd: torch.Tensor, out: tuple[int, ...], dtype: torch.dtype):
        """(views, offsets, origins, None) of a kernel/stride/padding/dilation pool."""
        assert self.geometry is not None
        k, s, p, d = self.geometry
        # pad with -inf: the padding, and the last windows of ceil_mode reaching past it
        extra = [max(0, (o - 1) * si + di * (ki - 1) + 1 - (L + 2 * pi))
                 for o, si, di, ki, L, pi in zip(out, s, d, k, self.spatial, p)]
        if any(p) or any(extra):
            padded = (xd.shape[0],) + tuple(L + 2 * pi + ei for L, pi, ei in zip(self.spatial, p, extra))
            buf = self.alloc(padded, xd.dtype, xd.device).fill_(float("-inf"))
            buf[(slice(None),) + tuple(slice(pi, pi + L) for pi, L in zip(p, self.spatial))].copy_(xd)
            xd = buf
        views = []
        for a in itertools.product(*(range(ki) for ki in k)):
            idx = tuple(slice(ai * di, ai * di + si * (o - 1) + 1, si) for ai, di, si, o in zip(a, d, s, out))
            views.append(xd[(slice(None),) + idx])

        def make():
            strides = _strides(self.spatial)
            offsets = [sum(ai * di * st for ai, di, st in zip(a, d, strides))
                       for a in itertools.product(*(range(ki) for ki in k))]
            origins = _grid([(torch.arange(o, device=xd.device) * si - pi) * st
                             for o, si, pi, st in zip(out, s, p, strides)])
            return _weights(offsets, origins, dtype)

        w, base = _table(("regular", self.spatial, out, self.geometry, xd.device, dtype), make)
        return views, w, base, None

    def _adaptive(self, xd: torch.Tensor, out: tuple[int, ...], dtype: torch.dtype):
        """(views, offsets, origins, validity) of an adaptive pool: window ``o`` of a
        dimension of length ``L`` spans ``[floor(o L / O), ceil((o + 1) L / O))``."""
        dev = xd.device

        def per_dim():
            dims = []
            for L, O in zip(self.spatial, out):
                o = torch.arange(O, device=dev)
                start = torch.div(o * L, O, rounding_mode="floor")
                end = torch.div((o + 1) * L + O - 1, O, rounding_mode="floor")
                kmax = int((end - start).max())
                dims.append((start, [((start + a).clamp(max=L - 1), start + a < end) for a in range(kmax)]))
            return dims

        dims = _table(("adaptive-dims", self.spatial, out, dev), per_dim)
        views = []
        for combo in itertools.product(*(positions for _, positions in dims)):
            v = xd
            for i, (idx, _) in enumerate(combo):
                v = v.index_select(1 + i, idx)
            views.append(v)

        def make():
            strides = _strides(self.spatial)
            kmax = [len(positions) for _, positions in dims]
            offsets = [sum(ai * st for ai, st in zip(a, strides)) for a in itertools.product(*(range(m) for m in kmax))]
            origins = _grid([start * st for (start, _), st in zip(dims, strides)])
            valid = torch.stack([_grid([ok.long() for _, ok in combo]) == len(out)
                                 for combo in itertools.product(*(positions for _, positions in dims))])
            return (*_weights(offsets, origins, dtype), valid.to(dtype))

        w, base, valid = _table(("adaptive", self.spatial, out, dev, dtype), make)
        return views, w, base, valid

    # -- the op's output --

    def bind(self, result, hint=None) -> None:
        """Find the ties from the op's output ``(values, indices)``, or, when the tracer has
        just counted this call's windows (``hint``: the input, the kernel and the windows'
        maxima and runners-up, :mod:`.torch_windows`), from those."""
        x, self.x = self.x, None
        if x is None:
            return
        values, indices = result[0].detach(), result[1]
        if hint is not None and hint[0] is x and self._tiling(hint[1]) and x.is_contiguous():
            self._bind_sparse(x, indices, hint[1], hint[2])
            return
        n = len(self.spatial)
        out = tuple(int(s) for s in values.shape[-n:])
        S = 1
        for o in out:
            S *= o
        if not S:
            return
        P = self.planes
        xd = x.detach().reshape(P, *self.spatial)
        # masks as float 0/1 (on a CPU, bool kernels and compares of strided views are many
        # times slower than one stacked copy and float ops); sums of 0/1 and flat indices are
        # exact in float32 below 2**24
        ft = torch.float64 if max(self.plane, P * S) >= 1 << 24 else torch.float32
        views, w, base, valid = (self._regular if self.geometry is not None else self._adaptive)(xd, out, ft)
        kk = len(views)
        vals = values.reshape(P, *out)
        dev = values.device
        A = self.alloc
        cols = torch.stack(views, out=A((kk, P) + out, xd.dtype, dev))
        eq = torch.eq(cols, vals.unsqueeze(0), out=cols if cols.dtype == ft else A(cols.shape, ft, dev))
        if valid is not None:
            eq.mul_(valid.unsqueeze(1))
        tie = torch.sum(eq, 0, out=A(vals.shape, ft, dev))
        tie = torch.gt(tie, 1.5, out=tie)
        ok = torch.gt(vals, float("-inf"), out=A(vals.shape, ft, dev))
        tie.mul_(ok)  # a tie of -inf (padding) is none; a NaN equals nothing
        hits = int(tie.sum())  # a sync on a GPU: probed steps only
        if not hits:
            return
        self.hits = hits
        if self.zero_harmless:
            # both choices at a tie of relu zeros reach relu's backward where its output is 0,
            # which passes nothing: the swap changes the gradient by exactly 0 there
            tie.mul_(torch.ne(vals, 0, out=ok))
            if not int(tie.sum()):
                return
        # each window's last maximum: the largest offset + 1 it is equal at, from its origin - 1
        last = torch.amax(eq.mul_(w), 0, out=A(vals.shape, ft, dev)).add_(base).clamp_(0, self.plane - 1)
        self.alt = A((P, S), torch.int64, dev).copy_(last.reshape(P, S))
        self.tie = tie.reshape(P, S)
        self.first = indices.reshape(P, S)

    def _tiling(self, kernel) -> bool:
        """Are the windows ``kernel``, tiling the input (stride = kernel, no padding or dilation)?"""
        if self.geometry is None:
            return False
        k, s, p, d = self.geometry
        return tuple(k) == tuple(kernel) and tuple(s) == tuple(k) and not any(p) and all(di == 1 for di in d)

    def _bind_sparse(self, x: torch.Tensor, indices: torch.Tensor, kernel, windows) -> None:
        """Ties from the tracer's count of tiling windows over a ReLU: a window ties where its
        runner-up equals its maximum (NaN never does); only those windows (a few, or the
        windows of zeros, which move nothing) are looked at again, to find their last maximum:
        one pass per window position over the tied windows alone, each keeping the position
        where the input equals the window's maximum (the last such one wins)."""
        vals = windows.vals.detach().reshape(-1).numpy()
        second = windows.second.detach().reshape(-1).numpy()
        if windows.kept is not None and self.zero_harmless:
            # the count's one pass has left out the windows far from a tie and the windows of
            # zeros (each a tie: a ReLU's output is >= 0): the ties are those zeros and the
            # kept windows whose runner-up equals their maximum
            zeros, kept = windows.kept
            tied = kept[np.equal(vals.take(kept), second.take(kept))]
            self.hits = zeros + tied.size
        else:
            tie = np.equal(vals, second, out=_host_buf(vals.size, torch.bool, 70))
            self.hits = int(np.count_nonzero(tie))
            if self.zero_harmless:  # both choices at a tie of relu zeros move the gradient by exactly 0
                tie &= np.not_equal(vals, 0, out=_host_buf(vals.size, torch.bool, 71))
            tied = np.flatnonzero(tie)
        if not tied.size:
            return
        # each tied window's origin as a flat index of the input: its plane's start plus its
        # origin within the plane (a table per geometry)
        kernel = tuple(kernel)
        within = _origins(self.spatial, kernel)
        plane, w = np.divmod(tied, within.size)
        at: np.ndarray = plane * self.plane
        origin: np.ndarray = within.take(w) + at
        xf = x.detach().reshape(-1).numpy()
        top = vals.take(tied)
        last = origin.copy()  # a tied window equals its maximum at two positions at least
        for off in _offsets(self.spatial, kernel)[1:]:
            cell = origin + off
            np.copyto(last, cell, where=xf.take(cell) == top)
        first = indices.detach().reshape(-1).numpy().take(tied) + at
        self.sparse = (tied, last, first)
        if self.zero_harmless:
            self.relu_out = x

    def start(self, nxt: tuple) -> tuple:
        """Where the pass of this change starts: the pool's input edge ``nxt``, or the edge
        below the ReLU whose output the pool read. The change is nonzero only at tied windows'
        maxima, which are not 0 (ties of zeros are left out), so they are ReLU outputs above 0,
        where its backward passes the change bit for bit, and it is +0 elsewhere, as that
        backward writes there: starting below it saves a ``threshold_backward`` over the whole
        tensor. Only for the sparse ties (the dense search's change can hold ``inf * 0`` NaN
        at untied windows, which the ReLU's backward zeroes at its zeros), and only when the
        ReLU's node is the one that made the pool's input and no tensor hook waits on it."""
        y = self.relu_out
        fn = nxt[0]
        if y is None or self.sparse is None or y.grad_fn is not fn or y._backward_hooks or nxt[1] != 0:
            return nxt
        if not fn.name().startswith("ReluBackward") or len(fn.next_functions) != 1:
            return nxt
        below = fn.next_functions[0]
        return below if below[0] is not None else nxt

    def deltas(self, u: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        """The change of the input's gradient for the upstream gradient ``u``; none when it is
        exactly 0 (no tied window that moves anything has an upstream gradient but 0: the
        pass it would cost is left out, :func:`.torch_probe_rules.nonzero`)."""
        return [(edge, d) for edge, d, _ in self.changes(u)]

    def changes(self, u: torch.Tensor) -> list[tuple[int, torch.Tensor, tuple[np.ndarray, ...] | None]]:
        """:meth:`deltas`, each with the flat indices outside which its change is exactly 0
        (the sparse ties' last and first maxima), or None (the dense search's change)."""
        if self.sparse is not None:
            d = self._sparse_delta(u, *self.sparse)
            return [] if d is None else [(0, d, (self.sparse[1], self.sparse[2]))]
        if self.tie is None or self.alt is None or self.first is None:
            return []  # every tie moves the gradient by exactly 0
        P = self.planes
        v = torch.mul(u.reshape(P, -1), self.tie, out=self.alloc(self.tie.shape, torch.result_type(u, self.tie), u.device))
        if not rules.nonzero(v):
            return []
        d = self.alloc((P, self.plane), v.dtype, v.device).zero_()
        d.scatter_add_(1, self.alt, v)
        d.scatter_add_(1, self.first, v.neg_())
        return [(0, d.reshape(self.shape).to(self.dtype), None)]

    def _sparse_delta(self, u: torch.Tensor, tied: np.ndarray, last: np.ndarray,
                      first: np.ndarray) -> torch.Tensor | None:
        """``+u`` at each tied window's last maximum and ``-u`` at torch's, added into zeros
        (None: ``u`` is 0 at every tied window). The windows tile, so no two windows share a
        cell, and a window's last maximum is not torch's (its first): plain numpy stores of
        ``0 + u`` and ``0 - u`` (the sums index_add would make, signs of zeros included) on a
        CPU; index_add elsewhere."""
        n = self.planes * self.plane
        if u.device.type == "cpu" and u.dtype in (torch.float32, torch.float64) and not np.any(last == first):
            v = u.detach().reshape(-1).numpy().take(tied)
            if not rules.nonzero(v):
                return None
            d = self.alloc.zeros((n,), u.dtype, u.device, last, first)
            dn = d.numpy()
            dn[last] = v + 0.0
            dn[first] = 0.0 - v
        else:
            pick = [torch.from_numpy(a).to(u.device) for a in (tied, last, first)]
            vt = u.reshape(-1)[pick[0]]
            if not rules.nonzero(vt):
                return None
            d = self.alloc((n,), u.dtype, u.device).zero_()
            d.index_add_(0, pick[1], vt)
            d.index_add_(0, pick[2], vt.neg_())
        return d.reshape(self.shape).to(self.dtype)


def _origins(spatial: tuple, kernel: tuple) -> np.ndarray:
    """Each tiling window's origin as a flat index within its plane, windows in scan order."""

    def make():
        strides = _strides(spatial)
        per_dim = [np.arange(L // k) * k * st for L, k, st in zip(spatial, kernel, strides)]
        grid = np.zeros([len(v) for v in per_dim], dtype=np.int64)
        for i, v in enumerate(per_dim):
            grid += v.reshape([-1 if j == i else 1 for j in range(len(per_dim))])
        return grid.reshape(-1)
    return _table(("origins", spatial, kernel), make)


def _offsets(spatial: tuple, kernel: tuple) -> np.ndarray:
    """Each window position's flat offset from its window's origin, in scan order."""
    return _table(("offsets", spatial, kernel), lambda: np.array(
        [sum(a * st for a, st in zip(combo, _strides(spatial))) for combo in itertools.product(*(range(k) for k in kernel))],
        dtype=np.int64))


def _pool_rule(n: int):
    """``max_pool{n}d_with_indices(x, kernel_size, stride, padding, dilation, ceil_mode)``"""
    names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")

    def rule(args, kwargs, alloc: Alloc = FRESH) -> PoolTie | None:
        x = args[0]
        given = dict(zip(names, args[1:]))
        given.update({k: v for k, v in kwargs.items() if k in names})
        if x.dim() < n + 1 or not x.numel():
            return None
        kernel = _ntuple(given["kernel_size"], n, None)
        geometry = (kernel, _ntuple(given.get("stride"), n, kernel), _ntuple(given.get("padding"), n, 0),
                    _ntuple(given.get("dilation"), n, 1))
        return PoolTie(x, n, geometry, alloc)
    return rule


def _adaptive_rule(n: int):
    """``adaptive_max_pool{n}d(x, output_size)``"""

    def rule(args, kwargs, alloc: Alloc = FRESH) -> PoolTie | None:
        x = args[0]
        if x.dim() < n + 1 or not x.numel():
            return None
        return PoolTie(x, n, None, alloc)
    return rule


#: op -> (rule, the name its autograd node starts with)
POOL_RULES = {
    "max_pool2d_with_indices": (_pool_rule(2), "MaxPool2DWithIndicesBackward"),
    "max_pool3d_with_indices": (_pool_rule(3), "MaxPool3DWithIndicesBackward"),
    "adaptive_max_pool2d": (_adaptive_rule(2), "AdaptiveMaxPool2DBackward"),
    "adaptive_max_pool3d": (_adaptive_rule(3), "AdaptiveMaxPool3DBackward"),
}
