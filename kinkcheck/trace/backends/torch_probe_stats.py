"""The probe's sums over a step's parameters (:mod:`.torch_probe`): ``||g||^2`` once per step,
and per hit site ``||d||^2``, ``<g, d>`` and ``max |d|`` of its correction ``d = g_alt - g``.

Leaves are summed in two kinds of chunk: a large leaf on its own (a dot product over it as it
is, no copy), and the small leaves of a device together, flattened into one vector (a small
model has a handful of tiny leaves, and a few small ops per leaf dominated the probe's cost).
Each chunk gives a row ``[||d||^2, <g, d>, max |d|]``; the rows of a device are stacked and
moved once. Sums run at float32 at least (half-precision gradients are summed at float32)
and at float64 for a float64 model.
"""

from __future__ import annotations

import torch

#: a leaf of at least this many elements is summed on its own
LARGE = 1 << 16


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


def _chunks(items: list[tuple[int, torch.Tensor]]):
    """``(keys, sizes, flat vector)`` per chunk of one device's ``(key, tensor)`` items: each
    large tensor alone, the small ones together."""
    small = [(k, _wide(t)) for k, t in items if t.numel() < LARGE]
    for k, t in items:
        if t.numel() >= LARGE:
            yield (k,), (t.numel(),), _wide(t)
    if small:
        yield tuple(k for k, _ in small), tuple(t.numel() for _, t in small), _cat([t for _, t in small])


def _by_device(items) -> dict[torch.device, list[tuple[int, torch.Tensor]]]:
    out: dict[torch.device, list[tuple[int, torch.Tensor]]] = {}
    for key, t in items:
        out.setdefault(t.device, []).append((key, t))
    return out


class StepSums:
    """The step's ``||g||^2`` and, per site, the sums of its correction against ``g``."""

    def __init__(self, g: dict[int, list]):
        """``g``: ``id(leaf) -> [leaf, the step's gradient of it]``."""
        self.flat = {key: _wide(grad) for key, (_, grad) in g.items()}
        #: per device, the chunks of g: keys -> flat vector (a site reaching the same leaves reuses it)
        self.chunks: dict[torch.device, dict[tuple, torch.Tensor]] = {}
        self.gg = 0.0
        for dev, items in _by_device((k, grad) for k, (_, grad) in g.items()).items():
            chunks = self.chunks[dev] = {keys: v for keys, _, v in _chunks(items)}
            self.gg += sum(r[0] for r in _rows([torch.dot(v, v).reshape(1) for v in chunks.values()]))

    def _g(self, dev, keys: tuple, sizes: tuple, d: torch.Tensor) -> torch.Tensor:
        """The step's gradient over the leaves ``keys``, laid out as the chunk ``d``."""
        got = self.chunks.get(dev, {}).get(keys)
        if got is not None:
            return got
        parts = [self.flat.get(k) for k in keys]
        if any(p is None for p in parts):  # a leaf the user's pass gave no gradient: zeros
            out = d.new_zeros(d.numel())
            at = 0
            for p, n in zip(parts, sizes):
                if p is not None:
                    out[at:at + n] = p
                at += n
            return out
        return _cat([p for p in parts if p is not None])

    def site(self, sums: dict[int, torch.Tensor]) -> tuple[float, float, float]:
        """``||d||^2``, ``<g, d>`` and ``max |d|`` of one site's correction ``sums``
        (``id(leaf) -> its correction``), with one transfer per device."""
        rows: list = []
        for dev, items in _by_device(sums.items()).items():
            chunk_rows = []
            for keys, sizes, d in _chunks(items):
                g = self._g(dev, keys, sizes, d)
                if g.dtype != d.dtype:
                    g, d = g.double(), d.double()
                amax = torch.linalg.vector_norm(d, float("inf")) if d.numel() else d.new_zeros(())
                chunk_rows.append(torch.stack([torch.dot(d, d), torch.dot(g, d), amax]))
            rows += _rows(chunk_rows)
        if not rows:
            return 0.0, 0.0, 0.0
        return sum(r[0] for r in rows), sum(r[1] for r in rows), max(r[2] for r in rows)


def _rows(parts: list[torch.Tensor]) -> list:
    """Same-length tensors of one device as Python rows of floats, with one transfer."""
    if any(p.dtype != parts[0].dtype for p in parts):
        parts = [p.double() for p in parts]
    return torch.stack(parts).double().tolist()

