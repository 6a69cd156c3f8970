"""The probe's sums over a step's parameters (:mod:`.torch_probe`): ``||g||^2`` once per step,
and per hit site ``||d||^2``, ``<g, d>`` and ``max |d|`` of its correction ``d = g_alt - g``.

Leaves are summed in three kinds of chunk: a large leaf on its own (a dot product over it as it
is, no copy); the small dense float32/64 leaves on the CPU together, in numpy at float64 (a
small model has a handful of tiny leaves: a torch op costs several microseconds of dispatch
where numpy's cost one, and a probed small CNN step spent 0.3 ms in these sums); and the other
small leaves of a device together, flattened into one vector. Each chunk gives a row
``[||d||^2, <g, d>, max |d|]``; the rows of a device are stacked and moved once. Sums run at
float32 at least (half-precision gradients are summed at float32) and at float64 for a float64
model and for the small CPU leaves.
"""

from __future__ import annotations

import numpy as np
import torch

#: a leaf of at least this many elements is summed on its own
LARGE = 1 << 16

_HOST = (torch.float32, torch.float64)


def _wide(v: torch.Tensor) -> torch.Tensor:
    """``v`` flat, at float32 at least (a dense float32 or float64 tensor as it is: no copy)."""
    if v.is_sparse:
        v = v.to_dense()
    if v.dtype not in (torch.float32, torch.float64):
        v = v.float()
    return v.reshape(-1)


def _host(t: torch.Tensor) -> bool:
    """Is ``t`` a small dense float32/64 CPU tensor (summed in numpy)?"""
    return t.device.type == "cpu" and t.layout == torch.strided and t.dtype in _HOST and t.numel() < LARGE


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``<a, b>`` without BLAS: numpy's BLAS starts worker threads that spin on other cores
    after each call (on a 2-core machine they took a core from the training loop)."""
    return float(np.multiply(a, b).sum())


def _flat_np(t: torch.Tensor) -> np.ndarray:
    return (t.detach() if t.requires_grad else t).numpy().reshape(-1)


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
        rest = []
        #: the small CPU leaves' gradients, each flat at float64, and all of them as one vector
        self.host: dict[int, np.ndarray] = {}
        for k, (_, grad) in g.items():
            if _host(grad):
                self.host[k] = _flat_np(grad).astype(np.float64)
            else:
                rest.append((k, grad))
        self.host_keys = tuple(self.host)
        self.host_g = np.concatenate(list(self.host.values())) if self.host else np.zeros(0)
        self.gg = _dot(self.host_g, self.host_g)
        self.flat = {key: _wide(grad) for key, grad in rest}
        #: per device, the chunks of g: keys -> flat vector (a site reaching the same leaves reuses it)
        self.chunks: dict[torch.device, dict[tuple, torch.Tensor]] = {}
        for dev, items in _by_device(rest).items():
            chunks = self.chunks[dev] = {keys: v for keys, _, v in _chunks(items)}
            self.gg += sum(r[0] for r in _rows([torch.dot(v, v).reshape(1) for v in chunks.values()]))

    def _g(self, dev, keys: tuple, sizes: tuple, d: torch.Tensor) -> torch.Tensor:
        """The step's gradient over the leaves ``keys``, laid out as the chunk ``d``."""
        got = self.chunks.get(dev, {}).get(keys)
        if got is not None:
            return got
        parts = [self.flat.get(k) if k not in self.host else torch.from_numpy(self.host[k]).to(d.device) for k in keys]
        if any(p is None for p in parts):  # a leaf the user's pass gave no gradient: zeros
            out = d.new_zeros(d.numel())
            at = 0
            for p, n in zip(parts, sizes):
                if p is not None:
                    out[at:at + n] = p
                at += n
            return out
        return _cat([p for p in parts if p is not None])

    def _host_g_of(self, keys: tuple, sizes: list[int]) -> np.ndarray:
        """The step's gradient over the small CPU leaves ``keys`` as one float64 vector."""
        if keys == self.host_keys:
            return self.host_g
        parts = []
        for k, n in zip(keys, sizes):
            p = self.host.get(k)
            if p is None:  # no gradient this step (zeros), or a gradient of another layout
                f = self.flat.get(k)
                p = np.zeros(n) if f is None else f.detach().to("cpu", torch.float64).numpy()
            parts.append(p)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def site(self, sums: dict[int, torch.Tensor]) -> tuple[float, float, float]:
        """``||d||^2``, ``<g, d>`` and ``max |d|`` of one site's correction ``sums``
        (``id(leaf) -> its correction``), with one transfer per device."""
        rows: list = []
        host, rest = [], []
        for k, d in sums.items():
            if _host(d):
                host.append((k, _flat_np(d)))
            else:
                rest.append((k, d))
        if host:
            d64 = np.concatenate([v for _, v in host], dtype=np.float64)
            g64 = self._host_g_of(tuple(k for k, _ in host), [v.size for _, v in host])
            amax = float(np.max(np.abs(d64))) if d64.size else 0.0
            rows.append([_dot(d64, d64), _dot(g64, d64), amax])
        for dev, items in _by_device(rest).items():
            chunk_rows = []
            for keys, sizes, d in _chunks(items):
                g = self._g(dev, keys, sizes, d)
                if g.dtype != d.dtype:
                    g, d = g.double(), d.double()
                amax_t = torch.linalg.vector_norm(d, float("inf")) if d.numel() else d.new_zeros(())
                chunk_rows.append(torch.stack([torch.dot(d, d), torch.dot(g, d), amax_t]))
            rows += _rows(chunk_rows)
        if not rows:
            return 0.0, 0.0, 0.0
        return sum(r[0] for r in rows), sum(r[1] for r in rows), max(r[2] for r in rows)


def _rows(parts: list[torch.Tensor]) -> list:
    """Same-length tensors of one device as Python rows of floats, with one transfer."""
    if any(p.dtype != parts[0].dtype for p in parts):
        parts = [p.double() for p in parts]
    return torch.stack(parts).double().tolist()
