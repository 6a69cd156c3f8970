"""Reused CPU buffers for the probe's masks, deltas and gradient copies (:mod:`.torch_probe`).

The CPU allocator does not cache: a fresh multi-megabyte tensor is fresh pages from the
kernel, and the page faults cost more than the probe's arithmetic on a small model (a probed
digits-CNN step spent about as long in them as in the correction passes). A probed step
allocates the same shapes as the last one, so each buffer is kept by (owner, evaluation,
slot) and handed out again on the next probed step. A buffer's contents live until the step
closes (:meth:`Buffers.step_done`); nothing outside the probe ever holds one (gradients
pushed through ``torch.autograd.grad`` are read before the step closes).

A sparse delta (a few stores into zeros) takes a buffer kept zero instead (:meth:`Alloc.zeros`):
the elements it writes are put back to 0 when the step closes, so it costs its stores, not a
fill of the whole tensor each probed step.

Bounded: at most ``limit`` bytes are kept (beyond that, and on other devices, whose caching
allocators need none of this, an allocation is a plain ``torch.empty``); all are dropped when
the trace stops.
"""

from __future__ import annotations

import numpy as np
import torch

#: bytes of buffers one probe keeps between probed steps
LIMIT = 64 << 20


class Buffers:
    """One probe's reused CPU buffers (one thread's: see ``_local`` in :mod:`.torch_probe`)."""

    def __init__(self, limit: int = LIMIT):
        self.limit = limit
        self.bufs: dict[tuple, torch.Tensor] = {}
        self.bytes = 0
        self.evals: dict = {}  # owner -> evaluations so far this step
        #: the buffers kept zero (apart from bufs: a slot never holds another use's values) and,
        #: this step, the flat indices written into each, put back to 0 by step_done
        self.zero_bufs: dict[tuple, torch.Tensor] = {}
        self.dirty: list[tuple[np.ndarray, tuple[np.ndarray, ...]]] = []

    def alloc(self, owner) -> Alloc:
        """The allocator of ``owner``'s next evaluation this step (a site evaluated twice in a
        step gets two sets of buffers)."""
        k = self.evals.get(owner, 0)
        self.evals[owner] = k + 1
        return Alloc(self, (owner, k))

    def get(self, key: tuple, shape, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        shape = tuple(shape)
        if device.type != "cpu":
            return torch.empty(shape, dtype=dtype, device=device)
        return self._keep(self.bufs, key, shape, dtype, torch.empty)[0]

    def _keep(self, store: dict, key: tuple, shape: tuple, dtype: torch.dtype, make) -> tuple[torch.Tensor, bool]:
        """``store``'s buffer for ``key`` at this shape and dtype (a new one from ``make`` when
        it has none that fits), and whether it is kept within the byte limit."""
        buf = store.get(key)
        if buf is not None and tuple(buf.shape) == shape and buf.dtype == dtype:
            return buf, True
        if buf is not None:
            self.bytes -= buf.numel() * buf.element_size()
            del store[key]
        buf = make(shape, dtype=dtype)
        size = buf.numel() * buf.element_size()
        if self.bytes + size > self.limit:
            return buf, False
        store[key] = buf
        self.bytes += size
        return buf, True

    def zeros(self, key: tuple, shape, dtype: torch.dtype, touched: tuple[np.ndarray, ...]) -> torch.Tensor:
        """A CPU float32/64 tensor of zeros at ``shape`` whose flat elements ``touched`` its
        caller then writes (and nothing else writes: the autograd engine adds into a gradient
        in place only when nothing else holds its storage, and this keeps it)."""
        buf, kept = self._keep(self.zero_bufs, key, tuple(shape), dtype, torch.zeros)
        if kept:  # a buffer not kept is fresh zeros next time too: nothing to put back
            self.dirty.append((buf.numpy().reshape(-1), touched))
        return buf

    def step_done(self) -> None:
        self.evals.clear()
        dirty, self.dirty = self.dirty, []
        for flat, touched in dirty:
            for idx in touched:
                flat[idx] = 0

    def clear(self) -> None:
        self.bufs.clear()
        self.zero_bufs.clear()
        self.dirty.clear()
        self.bytes = 0
        self.evals.clear()


class Alloc:
    """``alloc(shape, dtype, device)``: one evaluation's buffers, a new slot per call."""

    __slots__ = ("base", "owner", "slot")

    def __init__(self, owner: Buffers | None, base: tuple):
        self.owner, self.base, self.slot = owner, base, 0

    def __call__(self, shape, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        self.slot += 1
        if self.owner is None:
            return torch.empty(tuple(shape), dtype=dtype, device=device)
        return self.owner.get((*self.base, self.slot), shape, dtype, device)

    def zeros(self, shape, dtype: torch.dtype, device: torch.device, *touched: np.ndarray) -> torch.Tensor:
        """Zeros at ``shape`` that the caller writes only at the flat indices ``touched``
        (numpy int arrays): on the CPU (float32/64) a buffer kept zero between probed steps
        (:meth:`Buffers.zeros`), elsewhere a fresh fill."""
        self.slot += 1
        if self.owner is None or device.type != "cpu" or dtype not in _KEPT_ZERO:
            return torch.zeros(tuple(shape), dtype=dtype, device=device)
        return self.owner.zeros(("zeros", *self.base, self.slot), shape, dtype, touched)


_KEPT_ZERO = (torch.float32, torch.float64)


#: an allocator that keeps nothing (rules called outside a probe, tests)
FRESH = Alloc(None, ())
