"""The probe's sums over a step's parameters (:mod:`.torch_probe`): ``||g||^2`` once per step,
and per hit site ``||d||^2``, ``<g, d>`` and ``max |d|`` of its correction ``d = g_alt - g``.

Each is taken over all leaves at once: the leaves' gradients are flattened into one vector per
device (one copy per step), and a site's corrections into another, so that a step costs a few
BLAS calls and one transfer per site instead of a handful of small ops per leaf (on a small
model those dominated the probe). Sums run at float32 at least (half-precision gradients are
summed at float32) and at float64 for a float64 model.
"""

from __future__ import annotations

import torch


def _wide(v: torch.Tensor) -> torch.Tensor:
    """``v`` flat, at float32 at least (a dense float32 or float64 tensor as it is: no copy)."""
    if v.is_sparse:
        v = v.to_dense()
    if v.dtype not in (torch.float32, torch.float64):
        v = v.float()
    return v.reshape(-1)


def _cat(parts: list[torch.Tensor]) -> torch.Tensor:
    if len(parts) == 1:
        return parts[0]
    dtype = torch.float64 if any(p.dtype == torch.float64 for p in parts) else torch.float32
    return torch.cat([p.to(dtype) for p in parts])


class _Group:
    """The step's gradient of the leaves on one device, as one flat vector."""

    def __init__(self, keys: list[int], grads: list[torch.Tensor]):
        flat = [_wide(g) for g in grads]
        self.keys = keys
        self.g = _cat(flat)
        self.at: dict[int, tuple[int, int]] = {}
        start = 0
        for k, f in zip(keys, flat):
            self.at[k] = (start, start + f.numel())
            start += f.numel()

    def slice(self, key: int, n: int) -> torch.Tensor:
        span = self.at.get(key)
        if span is None:  # a leaf the user's pass gave no gradient
            return self.g.new_zeros(n)
        return self.g[span[0]:span[1]]


class StepSums:
    """The step's ``||g||^2`` and, per site, the sums of its correction against ``g``."""

    def __init__(self, g: dict[int, list]):
        """``g``: ``id(leaf) -> [leaf, the step's gradient of it]``."""
        by_device: dict[torch.device, tuple[list[int], list[torch.Tensor]]] = {}
        for key, (_, grad) in g.items():
            keys, grads = by_device.setdefault(grad.device, ([], []))
            keys.append(key)
            grads.append(grad)
        self.groups = {dev: _Group(keys, grads) for dev, (keys, grads) in by_device.items()}
        parts = [torch.dot(grp.g, grp.g).double().reshape(1).cpu() for grp in self.groups.values()]
        self.gg = float(torch.cat(parts).sum()) if parts else 0.0

    def site(self, sums: dict[int, torch.Tensor]) -> tuple[float, float, float]:
        """``||d||^2``, ``<g, d>`` and ``max |d|`` of one site's correction ``sums``
        (``id(leaf) -> its correction``), with one transfer per device."""
        by_device: dict[torch.device, tuple[list[int], list[torch.Tensor]]] = {}
        for key, d in sums.items():
            keys, ds = by_device.setdefault(d.device, ([], []))
            keys.append(key)
            ds.append(_wide(d))
        rows = []
        for dev, (keys, ds) in by_device.items():
            d = _cat(ds)
            grp = self.groups.get(dev)
            if grp is None:
                gd = d.new_zeros(())
            else:
                g = grp.g if keys == grp.keys else _cat([grp.slice(k, x.numel()) for k, x in zip(keys, ds)])
                if g.dtype != d.dtype:
                    g, d = g.double(), d.double()
                gd = torch.dot(g, d)
            amax = torch.linalg.vector_norm(d, float("inf")) if d.numel() else d.new_zeros(())
            rows.append(torch.stack([torch.dot(d, d), gd.to(d.dtype), amax]).double().reshape(1, 3).cpu())
        if not rows:
            return 0.0, 0.0, 0.0
        t = torch.cat(rows)
        dd, gd = (float(v) for v in t[:, :2].sum(0))
        return dd, gd, float(t[:, 2].max())
