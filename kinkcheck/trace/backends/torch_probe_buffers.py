"""Reused CPU buffers for the probe's masks, deltas and gradient copies (:mod:`.torch_probe`).

The CPU allocator does not cache: a fresh multi-megabyte tensor is fresh pages from the
kernel, and the page faults cost more than the probe's arithmetic on a small model (a probed
digits-CNN step spent about as long in them as in the correction passes). A probed step
allocates the same shapes as the last one, so each buffer is kept by (owner, evaluation,
slot) and handed out again on the next probed step. A buffer's contents live until the step
closes (:meth:`Buffers.step_done`); nothing outside the probe ever holds one (gradients
pushed through ``torch.autograd.grad`` are read before the step closes).

Bounded: at most ``limit`` bytes are kept (beyond that, and on other devices, whose caching
allocators need none of this, an allocation is a plain ``torch.empty``); all are dropped when
the trace stops.
"""

from __future__ import annotations

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
        buf = self.bufs.get(key)
        if buf is not None and tuple(buf.shape) == shape and buf.dtype == dtype:
            return buf
        if buf is not None:
            self.bytes -= buf.numel() * buf.element_size()
            del self.bufs[key]
        buf = torch.empty(shape, dtype=dtype)
        size = buf.numel() * buf.element_size()
        if self.bytes + size <= self.limit:
            self.bufs[key] = buf
            self.bytes += size
        return buf

    def step_done(self) -> None:
        self.evals.clear()

    def clear(self) -> None:
        self.bufs.clear()
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


#: an allocator that keeps nothing (rules called outside a probe, tests)
FRESH = Alloc(None, ())
