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
    """The ties of one ``max_pool2d_with_indices`` call, and the change of its input's
    gradient when each tied window gives its gradient to its last maximum instead."""

    def __init__(self, x: torch.Tensor, tie: torch.Tensor, alt: torch.Tensor):
        self.shape, self.dtype = tuple(x.shape), x.dtype
        self.tie = tie  # (planes, windows) bool
        self.alt = alt  # (planes, windows) the last maximum's index in its plane
        self.hits = int(tie.sum())  # a sync on a GPU: probed steps only
        self.first: torch.Tensor | None = None

    def bind(self, out) -> None:
        """Keep torch's choice: the op's indices output."""
        self.first = out[1].reshape(self.tie.shape)

    def deltas(self, u: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        if self.first is None:
            raise RuntimeError("max-pool indices were not seen")
        planes = self.tie.shape[0]
        hw = self.shape[-1] * self.shape[-2]
        ut = u.reshape(planes, -1) * self.tie.to(u.dtype)
        d = ut.new_zeros(planes, hw)
        d.scatter_add_(1, self.alt, ut)
        d.scatter_add_(1, self.first, -ut)
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
    xp = x.detach().reshape(planes, 1, H, W)
    if ph or pw:
        xp = F.pad(xp, (pw, pw, ph, ph), value=float("-inf"))
    cols = F.unfold(xp, (kh, kw), dilation=(dh, dw), stride=(sh, sw))  # (planes, kh*kw, windows)
    mx = cols.amax(1, keepdim=True)
    eq = cols == mx
    tie = (eq.sum(1) >= 2) & torch.isfinite(mx[:, 0])
    kk = kh * kw
    last = (kk - 1) - eq.flip(1).to(torch.uint8).argmax(1)  # (planes, windows)
    ow = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    win = torch.arange(cols.shape[-1], device=x.device)
    oh_i, ow_i = win // ow, win % ow
    a, b = last // kw, last % kw
    ih = oh_i * sh - ph + a * dh
    iw = ow_i * sw - pw + b * dw
    alt = (ih * W + iw).clamp(0, H * W - 1)
    return PoolTie(x, tie, alt)
