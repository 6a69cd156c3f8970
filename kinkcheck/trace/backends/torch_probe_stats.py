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

At a step's close numpy's and torch's code is cold (the step's own work has pushed it out of
the caches): a numpy call that takes 1 us in a loop takes 5-10 us there. The small CPU leaves
are therefore summed in as few calls as give the same numbers (:func:`_host_row`), and each
array is converted to float64 once, in the copy that lays the leaves end to end.
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: a leaf of at least this many elements is summed on its own
LARGE = 1 << 16

_HOST = (torch.float32, torch.float64)
_SUM = np.add.reduce  # what ``ndarray.sum`` runs (the same pairwise sums), without its wrapper
_MAX = np.maximum.reduce


def _wide(v: torch.Tensor) -> torch.Tensor:
    """``v`` flat, at float32 at least (a dense float32 or float64 tensor as it is: no copy)."""
    if v.is_sparse:
        v = v.to_dense()
    if v.dtype not in (torch.float32, torch.float64):
        v = v.float()
    return v.reshape(-1)


def _host(t: torch.Tensor) -> bool:
    """Is ``t`` a small dense float32/64 CPU tensor (summed in numpy)?"""
    return t.dtype in _HOST and t.is_cpu and t.layout == torch.strided and t.numel() < LARGE


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``<a, b>`` without BLAS: numpy's BLAS starts worker threads that spin on other cores
    after each call (on a 2-core machine they took a core from the training loop)."""
    return float(_SUM(np.multiply(a, b)))


def _np(t: torch.Tensor) -> np.ndarray:
    """``t`` as a numpy array (a view; flattened where it is summed: ``axis=None``)."""
    return (t.detach() if t.requires_grad else t).numpy()


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
        #: the small CPU leaves' gradients as numpy views (as they are: no copy)
        self.host: dict[int, np.ndarray] = {}
        for k, (_, grad) in g.items():
            if _host(grad):
                self.host[k] = _np(grad)
            else:
                rest.append((k, grad))
        # all of them as one float64 vector (converted in the one copy): only ||g||^2 needs it
        host_g = np.concatenate(list(self.host.values()), axis=None, dtype=np.float64) if self.host else np.zeros(0)
        self.gg = _dot(host_g, host_g)
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
        parts = [self.flat.get(k) if k not in self.host else torch.from_numpy(self.host[k].astype(np.float64).reshape(-1)).to(d.device)
                 for k in keys]
        if any(p is None for p in parts):  # a leaf the user's pass gave no gradient: zeros
            out = d.new_zeros(d.numel())
            at = 0
            for p, n in zip(parts, sizes):
                if p is not None:
                    out[at:at + n] = p
                at += n
            return out
        return _cat([p for p in parts if p is not None])

    def _host_g_parts(self, keys: list, sizes: list[int]) -> list[np.ndarray]:
        """The step's gradient over the small CPU leaves ``keys``, one array per leaf."""
        parts = []
        for k, n in zip(keys, sizes):
            p = self.host.get(k)
            if p is None:  # no gradient this step (zeros), or a gradient of another layout
                f = self.flat.get(k)
                p = np.zeros(n) if f is None else f.detach().to("cpu", torch.float64).numpy()
            parts.append(p)
        return parts

    def site(self, sums: dict[int, torch.Tensor]) -> tuple[float, float, float]:
        """``||d||^2``, ``<g, d>`` and ``max |d|`` of one site's correction ``sums``
        (``id(leaf) -> its correction``), with one transfer per device."""
        rows: list = []
        host_k, host_v, rest = [], [], []
        for k, d in sums.items():
            if _host(d):
                host_k.append(k)
                host_v.append(_np(d))
            else:
                rest.append((k, d))
        if host_k:
            rows.append(_host_row(host_v, self._host_g_parts(host_k, [v.size for v in host_v])))
            if not rest:
                return rows[0][0], rows[0][1], rows[0][2]
        for dev, items in _by_device(rest).items():
            chunk_rows = []
            for keys, sizes, d in _chunks(items):
                g = self._g(dev, keys, sizes, d)
                if g.dtype != d.dtype:
                    g, d = g.double(), d.double()
                # max |d| as the larger of |max d| and |min d|: linalg.vector_norm(d, inf) is
                # twenty times slower on the CPU (2 ms over a 1M-element leaf)
                ends = torch.stack([d.amax(), d.amin()]) if d.numel() else d.new_zeros(2)
                chunk_rows.append(torch.cat([torch.stack([torch.dot(d, d), torch.dot(g, d)]), ends]))
            rows += [[r[0], r[1], max(abs(r[2]), abs(r[3]))] for r in _rows(chunk_rows)]
        if not rows:
            return 0.0, 0.0, 0.0
        return sum(r[0] for r in rows), sum(r[1] for r in rows), max(r[2] for r in rows)


def _host_row(d: list[np.ndarray], g: list[np.ndarray]) -> list[float]:
    """``[||d||^2, <g, d>, max |d|]`` of the small CPU leaves' corrections ``d`` against their
    gradients ``g`` (same sizes), at float64, in few numpy calls: the step's other work has
    left numpy's code cold, where each distinct call costs tens of microseconds.

    ``d`` and ``g`` are copied into the two rows of one float64 array ``[d; g]`` (one
    ``concatenate``), multiplied by the row ``d`` and summed along the rows: row sums run
    numpy's pairwise summation over each row as over a flat vector, so these are the
    numbers ``np.multiply(d, d).sum()`` and ``np.multiply(g, d).sum()`` give. ``max |d|`` is
    read from the squares when ``d`` is float32: a float32 square is exact at float64 and
    the square root of an exact square is exact."""
    n = sum(v.size for v in d)
    if not n:
        return [0.0, 0.0, 0.0]
    pair = np.concatenate(d + g, axis=None, dtype=np.float64).reshape(2, n)
    prods = np.multiply(pair, pair[0])
    dd, gd = _SUM(prods, axis=1).tolist()
    if all(v.dtype == np.float32 for v in d):
        amax = math.sqrt(float(_MAX(prods[0])))
    else:
        amax = float(_MAX(np.abs(pair[0])))
    return [dd, gd, amax]


def _rows(parts: list[torch.Tensor]) -> list:
    """Same-length tensors of one device as Python rows of floats, with one transfer."""
    if any(p.dtype != parts[0].dtype for p in parts):
        parts = [p.double() for p in parts]
    return torch.stack(parts).double().tolist()
