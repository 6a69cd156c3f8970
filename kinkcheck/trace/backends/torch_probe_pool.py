"""The probe's other subgradient at a max-pool tie (:mod:`.torch_probe`).

Torch hands each output's gradient to the first maximum of its window (in scan order) and
returns that element's index. The other valid choice taken here: the *last* maximum of the
window. For a window with a tie, the input's gradient changes by ``+u`` at the last maximum
and ``-u`` at torch's, where ``u`` is the output's upstream gradient. Covers
``max_pool2d_with_indices`` (``F.max_pool2d``, ``nn.MaxPool2d``, and ``F.max_pool1d``, which
runs it on a unit height) without ``ceil_mode``; other pools are reported as not probed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _pair(v, default) -> tuple[int, int]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        v = default
    if isinstance(v, int):
        return v, v
    v = list(v)
    return (int(v[0]), int(v[0])) if len(v) == 1 else (int(v[0]), int(v[1]))


class PoolTie:
    """The tied windows of one ``max_pool2d_with_indices`` call (``plane``, ``window``: one
    entry per tie), each one's last maximum ``alt`` (an index in its plane), and the change of
    the input's gradient when each gives its gradient to ``alt`` instead of torch's choice."""

    def __init__(self, x: torch.Tensor, plane: torch.Tensor, window: torch.Tensor, alt: torch.Tensor):
        self.shape, self.dtype = tuple(x.shape), x.dtype
        self.planes = x.numel() // (x.shape[-1] * x.shape[-2])
        self.plane, self.window, self.alt = plane, window, alt
        self.hits = int(plane.numel())
        self.first: torch.Tensor | None = None

    def bind(self, out) -> None:
        """Keep torch's choice at the ties: the op's indices output there."""
        self.first = out[1].reshape(self.planes, -1)[self.plane, self.window]

    def deltas(self, u: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        if self.first is None:
            raise RuntimeError("max-pool indices were not seen")
        hw = self.shape[-1] * self.shape[-2]
        ut = u.reshape(self.planes, -1)[self.plane, self.window]
        d = ut.new_zeros(self.planes * hw)
        base = self.plane * hw
        d.index_add_(0, base + self.alt, ut)
        d.index_add_(0, base + self.first, -ut)
        return [(0, d.reshape(self.shape).to(self.dtype))]


def max_pool2d_rule(args, kwargs) -> PoolTie | None:
    x = args[0]
    names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
    given = dict(zip(names, args[1:]))
    given.update({k: v for k, v in kwargs.items() if k in names})
    if given.get("ceil_mode"):
        return None
    kh, kw = _pair(given["kernel_size"], None)
    sh, sw = _pair(given.get("stride"), (kh, kw))
    ph, pw = _pair(given.get("padding"), 0)
    dh, dw = _pair(given.get("dilation"), 1)
    H, W = x.shape[-2], x.shape[-1]
    planes = x.numel() // (H * W) if H * W else 0
    if not planes:
        return None
    xd = x.detach()
    if (sh, sw) == (kh, kw) and (ph, pw) == (0, 0) and (dh, dw) == (1, 1) and H % kh == 0 and W % kw == 0:
        # windows that tile the plane (MaxPool2d(2)): one reshape, no im2col
        cols = xd.reshape(planes, H // kh, kh, W // kw, kw).permute(0, 1, 3, 2, 4).reshape(planes, -1, kh * kw)
    else:
        xp = xd.reshape(planes, 1, H, W)
        if ph or pw:
            xp = F.pad(xp, (pw, pw, ph, ph), value=float("-inf"))
        cols = F.unfold(xp, (kh, kw), dilation=(dh, dw), stride=(sh, sw)).transpose(1, 2)  # (planes, windows, kh*kw)
    mx = cols.amax(-1, keepdim=True)
    eq = cols == mx
    tie = (eq.sum(-1) >= 2) & torch.isfinite(mx[..., 0])  # a tie of -inf (padding) is none
    plane, window = tie.nonzero(as_tuple=True)  # a sync on a GPU: probed steps only
    if not plane.numel():
        return PoolTie(x, plane, window, plane)
    kk = kh * kw
    last = (eq[plane, window] * torch.arange(kk, device=x.device)).amax(-1)  # the last maximum
    ow = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    a, b = last // kw, last % kw
    ih = (window // ow) * sh - ph + a * dh
    iw = (window % ow) * sw - pw + b * dw
    return PoolTie(x, plane, window, (ih * W + iw).clamp(0, H * W - 1))
