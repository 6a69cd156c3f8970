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

import torch

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

    # -- the windows --

    def _regular(self, xd: torch.Tensor, out: tuple[int, ...]):
        """(views, flat table, None) of a kernel/stride/padding/dilation pool."""
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
            flats = []
            strides = _strides(self.spatial)
            for a in itertools.product(*(range(ki) for ki in k)):
                coords = [torch.arange(o, device=xd.device) * si - pi + ai * di
                          for o, si, pi, ai, di in zip(out, s, p, a, d)]
                inside = _grid([((c >= 0) & (c < L)).long() for c, L in zip(coords, self.spatial)]) == len(out)
                flat = _grid([c * st for c, st in zip(coords, strides)])
                flats.append(torch.where(inside, flat, 0))  # padding: never a maximum that counts
            return torch.stack(flats).reshape(len(flats), -1), None

        flat, valid = _table(("regular", self.spatial, out, self.geometry, xd.device), make)
        return views, flat, valid

    def _adaptive(self, xd: torch.Tensor, out: tuple[int, ...]):
        """(views, flat table, validity) of an adaptive pool: window ``o`` of a dimension of
        length ``L`` spans ``[floor(o L / O), ceil((o + 1) L / O))``."""
        dev = xd.device

        def per_dim():
            dims = []
            for L, O in zip(self.spatial, out):
                o = torch.arange(O, device=dev)
                start = torch.div(o * L, O, rounding_mode="floor")
                end = torch.div((o + 1) * L + O - 1, O, rounding_mode="floor")
                kmax = int((end - start).max())
                dims.append([((start + a).clamp(max=L - 1), start + a < end) for a in range(kmax)])
            return dims

        dims = _table(("adaptive-dims", self.spatial, out, dev), per_dim)
        views = []
        for combo in itertools.product(*dims):
            v = xd
            for i, (idx, _) in enumerate(combo):
                v = v.index_select(1 + i, idx)
            views.append(v)

        def make():
            strides = _strides(self.spatial)
            flats, valid = [], []
            for combo in itertools.product(*dims):
                flats.append(_grid([idx * st for (idx, _), st in zip(combo, strides)]))
                valid.append(_grid([ok.long() for _, ok in combo]) == len(out))
            return torch.stack(flats).reshape(len(flats), -1), torch.stack(valid).float()

        flat, valid = _table(("adaptive", self.spatial, out, dev), make)
        return views, flat, valid

    # -- the op's output --

    def bind(self, result) -> None:
        """Find the ties from the op's output ``(values, indices)``."""
        x, self.x = self.x, None
        if x is None:
            return
        values, indices = result[0].detach(), result[1]
        n = len(self.spatial)
        out = tuple(int(s) for s in values.shape[-n:])
        S = 1
        for o in out:
            S *= o
        if not S:
            return
        P = self.planes
        xd = x.detach().reshape(P, *self.spatial)
        views, flat, valid = (self._regular if self.geometry is not None else self._adaptive)(xd, out)
        kk = len(views)
        vals = values.reshape(P, *out)
        dev = values.device
        # masks as float 0/1 (on a CPU, bool kernels and compares of strided views are many
        # times slower than one stacked copy and float ops); sums of 0/1 are exact in float32
        A = self.alloc
        cols = torch.stack(views, out=A((kk, P) + out, xd.dtype, dev))
        eq = torch.eq(cols, vals.unsqueeze(0), out=cols if cols.dtype == torch.float32 else A(cols.shape, torch.float32, dev))
        if valid is not None:
            eq.mul_(valid.unsqueeze(1))
        tie = torch.sum(eq, 0, out=A(vals.shape, torch.float32, dev))
        tie = torch.gt(tie, 1.5, out=tie)
        ok = torch.gt(vals, float("-inf"), out=A(vals.shape, torch.float32, dev))
        tie.mul_(ok)  # a tie of -inf (padding) is none; a NaN equals nothing
        wide = torch.float64 if tie.numel() >= 1 << 24 else torch.float32  # 0/1 sums stay exact
        hits = int(tie.sum(dtype=wide))  # a sync on a GPU: probed steps only
        if not hits:
            return
        self.hits = hits
        if self.zero_harmless:
            # both choices at a tie of relu zeros reach relu's backward where its output is 0,
            # which passes nothing: the swap changes the gradient by exactly 0 there
            tie.mul_(torch.ne(vals, 0, out=ok))
            if not int(tie.sum(dtype=wide)):
                return
        # the last maximum's position j in its window: the largest j it is equal at
        last = torch.amax(eq.mul_(torch.arange(kk, dtype=eq.dtype, device=dev).view((kk,) + (1,) * (n + 1))), 0,
                          out=A(vals.shape, torch.float32, dev))
        pick = A((P, S), torch.int64, dev).copy_(last.reshape(P, S)).mul_(S).add_(torch.arange(S, device=dev))
        self.alt = torch.take(flat.reshape(-1), pick, out=A((P, S), torch.int64, dev))
        self.tie = tie.reshape(P, S)
        self.first = indices.reshape(P, S)

    def deltas(self, u: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        if self.tie is None or self.alt is None or self.first is None:
            return []  # every tie moves the gradient by exactly 0
        P = self.planes
        v = torch.mul(u.reshape(P, -1), self.tie, out=self.alloc(self.tie.shape, torch.result_type(u, self.tie), u.device))
        d = self.alloc((P, self.plane), v.dtype, v.device).zero_()
        d.scatter_add_(1, self.alt, v)
        d.scatter_add_(1, self.first, v.neg_())
        return [(0, d.reshape(self.shape).to(self.dtype))]


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
