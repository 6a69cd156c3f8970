"""Pushing a probed step's change of subgradient down to the leaves (:mod:`.torch_probe`).

A hit site's change is linear below the op, so its correction is that change pushed from the
op's input edges to the leaves. This module holds how that push is done, apart from the
probe's bookkeeping of hits, hooks and a step's results (:class:`.torch_probe.TorchProbe`):
straight into the autograd engine (:func:`_vjp`), or, for a few hits entering a first
convolution, in one numpy batch from the hits' input patches (:class:`_FirstConv`); and which
leaves a backward pass accumulates into (:func:`_leaves`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.autograd.graph import GradientEdge

from kinkcheck.trace.backends.torch_probe_buffers import Buffers


#: the most elements of the hits' input patches one batch of :class:`_FirstConv` gathers (float64)
CONV_PATCHES = 1 << 21

_NP = {torch.float32: np.float32, torch.float64: np.float64}
_CONV_TABLES: dict = {}


class _FirstConv:
    """The changes entering one first convolution on a probed step (a convolution whose input
    needs no gradient: its weight and bias are all a pass from its output reaches), pushed
    to the weight and bias together when the user's pass ends (:meth:`.torch_probe.TorchProbe._flush`)
    instead of one engine pass each.

    Each change is 0 but at a few flat indices (a ReLU's zeros, a max-pool's tied windows'
    maxima: about 1% of a digits CNN's conv output), where an engine pass runs the whole
    ``convolution_backward`` over it (a digits CNN's two passes were half the probe's cost of
    a probed step). Here each hit adds its value times its input patch (the saved input,
    kept when the change is added) to its output channel's weight gradient, and its value
    to the bias's: one gather of every change's patches, sorted by (change, output channel),
    and one ``add.reduceat``, summed at float64 in flat order and rounded once to the
    weight's dtype. The engine's pass sums at the model's precision in its own order: the two
    agree to that rounding, bit for bit where the sums are exact.

    Only plain (not transposed) convolutions of contiguous float32/64 CPU changes whose
    weight and bias are leaves of the same dtype the pass accumulates into, with no tensor
    hook but the probe's, and whose saved input is finite (the engine's pass would make NaN
    of its zeros times an inf); any other change takes the engine's pass."""

    __slots__ = ("ck", "geometry", "hook", "items", "n", "plane", "shape", "slots", "x")

    def __init__(self, fn, x: torch.Tensor, slots: list, d: torch.Tensor):
        self.x, self.slots = x, slots
        self.shape = d.shape  # the conv's output's (each change's: checked in add)
        weight = fn._saved_weight.shape
        self.ck = math.prod(int(s) for s in weight[1:])  # a patch's elements
        self.plane = math.prod(int(s) for s in d.shape[2:])  # output positions per channel
        # read now: the node's saved values are gone once the user's pass has run it
        self.geometry: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]] = (
            tuple(int(k) for k in weight[2:]), tuple(int(e) for e in fn._saved_stride),
            tuple(int(e) for e in fn._saved_padding), tuple(int(e) for e in fn._saved_dilation))
        self.items: list[tuple] = []  # (site, change, its flat indices)
        self.n = 0  # their hits so far
        self.hook = None  # the handle of the pre-hook on the convolution's node that pushes them

    @staticmethod
    def _fits(d: torch.Tensor) -> bool:
        return d.device.type == "cpu" and d.dtype in _NP and d.layout == torch.strided and d.is_contiguous()

    @classmethod
    def plan(cls, edge: GradientEdge, d: torch.Tensor, leaves: list) -> _FirstConv | None:
        """A batch for the change ``d`` entering ``edge`` (None: the engine's pass)."""
        fn = edge.node
        if edge.output_nr != 0 or fn.name() != "ConvolutionBackward0" or not cls._fits(d):
            return None
        nxt = fn.next_functions
        if len(nxt) != 3 or nxt[0][0] is not None or fn._saved_transposed or int(fn._saved_groups) != 1:
            return None
        at = {id(leaf): i for i, leaf in enumerate(leaves)}
        slots = []
        for part, (acc, _) in enumerate(nxt[1:]):
            if acc is None:
                continue
            var = getattr(acc, "variable", None)
            if var is None or id(var) not in at or var.dtype != d.dtype or not var.is_cpu \
                    or var.layout != torch.strided or len(var._backward_hooks or ()) > 1:
                return None
            slots.append((part, at[id(var)], var))
        x = fn._saved_input
        if x.dtype != d.dtype or not x.is_cpu or x.layout != torch.strided or x.dim() != d.dim() \
                or not np.isfinite(x.detach().numpy()).all():
            return None
        return cls(fn, x.detach(), slots, d)

    def add(self, site, d: torch.Tensor, where: tuple[np.ndarray, ...]) -> bool:
        """Take the change ``d`` of ``site`` (False: the batch is full; the engine's pass)."""
        if d.shape != self.shape or d.dtype != self.x.dtype or not self._fits(d):
            return False
        idx = np.concatenate(where) if len(where) > 1 else where[0]
        if (self.n + idx.size) * (self.ck + 1) > CONV_PATCHES or self.x.numel() > CONV_PATCHES:
            return False
        self.items.append((site, d, idx))
        self.n += idx.size
        return True

    def changes(self, leaves: int, buffers: Buffers, key) -> list[tuple]:
        """Per change taken, the leaves' gradients (None: a leaf it does not reach)."""
        x, items = self.x, self.items
        d0 = items[0][1]
        kernel, stride, padding, dilation = self.geometry
        N, C, O = x.shape[0], x.shape[1], d0.shape[1]
        # the input at float64, padded with zeros, and a 1 after it (each patch's last
        # element: the bias's share)
        sizes = tuple(int(L) + 2 * p for L, p in zip(x.shape[2:], padding))
        flat = buffers.get((key, "input"), (N * C * math.prod(sizes) + 1,), torch.float64, x.device).numpy()
        padded = flat[:-1].reshape((N, C) + sizes)
        if any(padding):
            padded.fill(0.0)
        padded[(slice(None), slice(None)) + tuple(slice(p, p + int(L)) for p, L in zip(padding, x.shape[2:]))] = x.numpy()
        flat[-1] = 1.0
        st = tuple(s // 8 for s in padded.strides)
        origin, offs = _conv_tables(tuple(int(e) for e in d0.shape[2:]), st, stride, C, kernel, dilation)
        # every change's hits: their values, bins (change, output channel), patches' origins
        idx = np.concatenate([i for _, _, i in items]) if len(items) > 1 else items[0][2]
        v = np.concatenate([d.numpy().reshape(-1).take(i) for _, d, i in items]) if len(items) > 1 \
            else d0.numpy().reshape(-1).take(idx)
        bins: np.ndarray | None = None if len(items) == 1 else np.repeat(np.arange(len(items)) * O, [i.size for _, _, i in items])
        keep = v != 0  # a hit the upstream gradient does not reach adds nothing (a NaN is kept)
        if not keep.all():
            idx, v = idx[keep], v[keep]
            bins = None if bins is None else bins[keep]
        no, sp = np.divmod(idx, origin.size)
        n, o = np.divmod(no, O)
        bins = o if bins is None else np.add(bins, o, out=bins)
        order = np.argsort(bins.astype(np.int16 if len(items) * O < 1 << 15 else np.int64), kind="stable")  # radix
        base = np.add(np.multiply(n, st[0], out=n), origin.take(sp), out=n).take(order)
        # the patches as columns (a row per patch element, the last the 1), times the values
        at = np.add.outer(offs, base)
        at[-1] = flat.size - 1
        patches = flat.take(at)
        patches *= v.take(order).astype(np.float64)
        count = np.bincount(bins, minlength=len(items) * O)
        some = count > 0
        sums = np.zeros((offs.size, len(items) * O), dtype=np.float64)
        if idx.size:
            sums[:, some] = np.add.reduceat(patches, (np.cumsum(count) - count)[some], axis=1)
        sums = sums.T.astype(_NP[d0.dtype]).reshape(len(items), O, offs.size)
        out = []
        for m in range(len(items)):
            got: list = [None] * leaves
            for part, i, var in self.slots:
                got[i] = torch.from_numpy(sums[m, :, :-1] if part == 0 else sums[m, :, -1]).reshape(var.shape)
            out.append(tuple(got))
        return out


def _conv_tables(out_spatial: tuple, st: tuple, stride: tuple, C: int, kernel: tuple, dilation: tuple):
    """Per convolution geometry: each output position's window origin as a flat offset in a
    sample of the padded input, and each (input channel, kernel position)'s offset from it,
    with a last offset of 0 (the 1 after the input)."""
    key = (out_spatial, st, stride, C, kernel, dilation)
    got = _CONV_TABLES.get(key)
    if got is None:
        origin: np.ndarray = np.zeros(1, dtype=np.int64)
        for o, s, step in zip(out_spatial, stride, st[2:]):
            origin = (origin[:, None] + np.arange(o, dtype=np.int64) * (s * step)).reshape(-1)
        offs: np.ndarray = np.arange(C, dtype=np.int64) * st[1]
        for k, dil, step in zip(kernel, dilation, st[2:]):
            offs = (offs[:, None] + np.arange(k, dtype=np.int64) * (dil * step)).reshape(-1)
        if len(_CONV_TABLES) > 32:
            _CONV_TABLES.clear()
        got = _CONV_TABLES[key] = (origin, np.append(offs, 0))
    return got


def _vjp(edges: list, grads: list, leaves: list) -> tuple:
    """``torch.autograd.grad(edges, leaves, grads, retain_graph=True, allow_unused=True)``
    straight into the engine: a correction runs inside the user's pass, where the dispatch
    modes are already off and the deltas are built at each edge's shape and dtype (the engine
    checks them again), so the Python layers above it (argument checks, the trace's wrapper
    of the engine entry) only cost time: about 0.1 ms a correction on a small CNN."""
    run = getattr(_ENGINE, "run_backward", None)
    if run is None:  # another torch: the public way
        return torch.autograd.grad(edges, leaves, grads, retain_graph=True, allow_unused=True)
    # (outputs, grad_outputs, keep_graph, create_graph, inputs, allow_unreachable, accumulate_grad)
    return run(tuple(edges), tuple(grads), True, False, tuple(leaves), True, False)


_ENGINE = getattr(getattr(torch.autograd, "Variable", None), "_execution_engine", None)


def _leaves(outputs, inputs) -> list[torch.Tensor]:
    """The leaves a backward pass accumulates into: ``inputs=`` when given, else every leaf
    reachable from the outputs' graph."""
    if inputs:
        return [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    found: dict[int, torch.Tensor] = {}
    seen: set = set()
    stack = []
    for t in outputs or ():
        if isinstance(t, torch.Tensor):
            if t.grad_fn is not None:
                stack.append(t.grad_fn)
            elif t.requires_grad:
                found[id(t)] = t
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        var = getattr(fn, "variable", None)
        if isinstance(var, torch.Tensor):
            found[id(var)] = var
        for nxt, _ in fn.next_functions:
            if nxt is not None and nxt not in seen:
                stack.append(nxt)
    return list(found.values())
