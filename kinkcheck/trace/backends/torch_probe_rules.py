"""The probe's other subgradient per elementwise op (:mod:`.torch_probe`).

A rule ``rule(args, kwargs, alloc)`` sees the op's arguments before it runs (an in-place op
overwrites its input), takes its masks from ``alloc`` (:mod:`.torch_probe_buffers`) and
returns ``(hits, parts)``, None (nothing to swap), or a string (why this call cannot be
probed). ``hits`` is a 0/1 mask at the output's shape, or their number; each part
``(edge, change, input)`` says that on the op's input edge ``edge`` the gradient changes by
``change * u`` (``u`` the upstream gradient), summed to ``input``'s shape: ``change`` is the
hit mask times (alternative slope - torch's slope), so one multiply gives the part's delta,
or a :class:`Sparse` list of the hit elements where that slope difference is 1.

Masks are float 0/1 (float32 at least): on a CPU, bool kernels are several times slower than
float ones, and a float mask folds the slopes in. A ReLU's or abs's zeros in a CPU tensor are
found with numpy and kept as a list (:class:`Sparse`): they are few, and the change is then
``u`` at them and 0 elsewhere, a fill and a few stores instead of a multiply over the tensor,
and it is known to be 0 (no pass) from ``u`` at them alone.

The alternative taken (torch's own in brackets), each checked against a brute-force
backward in tests/trace/test_probe.py:

* relu 1 (0); leaky_relu and rrelu in eval mode 1 (the negative slope); prelu 1 (its weight);
* abs +1 (0; -1 moves the gradient by as much, the other way);
* clamp / clamp_min / clamp_max the outside slope 0 (1), and a trained tensor bound 1 (0);
  hardtanh / relu6 the inside slope 1 (0);
* hardsigmoid at +-3 the inside slope 1/6 (0); hardswish at -3 the inside slope -1/2 (0)
  and at 3 the inside slope 3/2 (1);
* hardshrink / softshrink at +-lambd the outside slope 1 (0);
* maximum / minimum the whole tie to the first argument (0.5 each); fmax / fmin to the second
  (all to the first).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

#: tensors of fewer elements keep a dense mask (numpy's per-call costs would not pay)
SPARSE_MIN = 1 << 12

_HOST = (torch.float32, torch.float64)


def nonzero(v: torch.Tensor | np.ndarray) -> bool:
    """Has ``v`` (a tensor or a numpy array) an element that is not 0 (a NaN is)? A change of
    the gradient that has none costs no correction pass (:mod:`.torch_probe`). Read by numpy
    on a CPU (a torch ``any`` over a float tensor costs five times as much there); a sync on a
    GPU: probed steps only."""
    if isinstance(v, torch.Tensor) and _numpy_view(v):
        v = v.detach().numpy()
    return bool(v.any())


def _numpy_view(t: torch.Tensor) -> bool:
    """Can numpy read ``t`` as it is (a strided float32/64 CPU tensor, no negative view)?"""
    return t.device.type == "cpu" and t.layout == torch.strided and t.dtype in _HOST and not t.is_neg()


class Sparse:
    """The hit elements of a CPU tensor (flat indices) where the slope grows by exactly 1: the
    change of the input's gradient is ``u`` there and 0 elsewhere."""

    __slots__ = ("idx",)

    def __init__(self, idx: np.ndarray):
        self.idx = idx

    def delta(self, u: torch.Tensor, shape: tuple, dtype: torch.dtype, alloc) -> torch.Tensor | None:
        """``u`` at the hits, +0 elsewhere (None: ``u`` is 0 at every hit, so the change is).
        Equal to the dense ``u * mask`` where ``u`` is finite (that product makes a NaN of an
        infinite ``u`` at an element the swap does not touch, and -0 of a negative one)."""
        if not self.stored(u, shape, dtype):
            d = self.dense(u, shape, dtype)
            return d if nonzero(d) else None
        v = u.detach().numpy().reshape(-1).take(self.idx)
        if not nonzero(v):
            return None
        d = alloc.zeros(shape, dtype, u.device, self.idx)
        d.numpy().reshape(-1)[self.idx] = v
        return d

    def stored(self, u: torch.Tensor, shape: tuple, dtype: torch.dtype) -> bool:
        """Is the change stores of ``u`` at the hits into zeros (:meth:`delta`), so that it is
        0 at every element but the hits (the dense product can make NaN elsewhere)?"""
        return u.dtype == dtype and tuple(u.shape) == shape and _numpy_view(u)

    def dense(self, u: torch.Tensor, shape: tuple, dtype: torch.dtype) -> torch.Tensor:
        """The plain product for an upstream gradient of another dtype or shape (autocast, a
        broadcast): ``u`` times the 0/1 mask of the hits, summed to ``shape``."""
        m = torch.zeros(shape, dtype=dtype)
        m.view(-1)[torch.from_numpy(self.idx)] = 1
        d = u * m.to(u.device)
        return (d.sum_to_size(shape) if tuple(d.shape) != shape else d).to(dtype)


def _sparse_zeros(x: torch.Tensor, alloc):
    """``(number of zeros, Sparse)`` of a contiguous float32/64 CPU tensor whose zeros are few,
    ``(0, None)`` when it has none, None when a dense mask does better (small, or many zeros)."""
    n = x.numel()
    if n < SPARSE_MIN or x.device.type != "cpu" or x.dtype not in _HOST or not x.is_contiguous():
        return None
    xn = x.detach().numpy().reshape(-1)
    idx = np.flatnonzero(np.equal(xn, 0, out=alloc((n,), torch.bool, x.device).numpy()))
    if idx.size > n // 4:
        return None
    return (idx.size, Sparse(idx)) if idx.size else (0, None)


def _arg(args, kwargs, i, name, default):
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def _dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _eq(x: torch.Tensor, b, alloc) -> torch.Tensor:
    """``x == b`` as a float 0/1 mask at the broadcast shape."""
    # torch.broadcast_shapes goes through symbolic-shape checks: ~0.5 ms a call
    same = not isinstance(b, torch.Tensor) or b.shape == x.shape or b.dim() == 0
    shape = x.shape if same else torch.broadcast_shapes(x.shape, b.shape)
    return torch.eq(x, b, out=alloc(shape, _dtype(x), x.device))


def _times(m: torch.Tensor, c, alloc) -> torch.Tensor:
    """``m * c`` (``c`` a number or a tensor that broadcasts to ``m``)."""
    return torch.mul(m, c, out=alloc(m.shape, m.dtype, m.device))


def _detached(v):
    return v.detach() if isinstance(v, torch.Tensor) else v


def _zero(slope: float):
    """A kink at 0 where the other slope is ``slope`` more than torch's (relu, abs)."""

    def rule(args, kwargs, alloc):
        x = args[0]
        if slope == 1:
            got = _sparse_zeros(x, alloc)
            if got is not None:
                k, hits = got
                return None if hits is None else (k, [(0, hits, x)])
        m = _eq(x, 0, alloc)
        return m, [(0, m if slope == 1 else _times(m, slope, alloc), x)]
    return rule


def _leaky(args, kwargs, alloc):
    x = args[0]
    m = _eq(x, 0, alloc)
    return m, [(0, _times(m, 1.0 - float(_arg(args, kwargs, 1, "negative_slope", 0.01)), alloc), x)]


def _rrelu(args, kwargs, alloc):
    """``rrelu_with_noise(x, noise, lower, upper, training)``: in eval mode a leaky relu of
    slope (lower + upper) / 2; in training mode the slope is drawn per element (not probed)."""
    if _arg(args, kwargs, 4, "training", False):
        return "rrelu in training mode (a random slope per element): not probed"
    x = args[0]
    slope = (float(_arg(args, kwargs, 2, "lower", 1 / 8)) + float(_arg(args, kwargs, 3, "upper", 1 / 3))) / 2
    m = _eq(x, 0, alloc)
    return m, [(0, _times(m, 1.0 - slope, alloc), x)]


def _prelu(args, kwargs, alloc):
    """``_prelu_kernel(x, weight)``: at 0 torch takes the negative side's slope (the weight);
    the weight's own gradient there is x * u = 0 either way."""
    x, w = args[0], args[1]
    m = _eq(x, 0, alloc)
    return m, [(0, _times(m, 1 - _detached(w).to(m.dtype), alloc), x)]


def _bounds(lo_i: int | None, hi_i: int | None, coef: float, lo_default=None, hi_default=None,
            names=("min", "max")):
    """clamp-like ops: ``x`` at a bound takes slope ``torch's + coef``; a tensor bound that
    requires grad (its own edge) takes the slope ``x`` gave up."""

    def rule(args, kwargs, alloc):
        x = args[0]
        lo = _arg(args, kwargs, lo_i, names[0], lo_default) if lo_i is not None else None
        hi = _arg(args, kwargs, hi_i, names[1], hi_default) if hi_i is not None else None
        parts, m = [], None
        for edge, b in ((lo_i, lo), (hi_i, hi)):
            if b is None:
                continue
            mb = _eq(x, _detached(b), alloc)
            m = mb if m is None else torch.maximum(m, mb, out=alloc(mb.shape, mb.dtype, mb.device))
            if isinstance(b, torch.Tensor) and b.requires_grad:
                parts.append((edge, _times(mb, -coef, alloc), b))
        if m is None:
            return None
        return m, [(0, _times(m, coef, alloc), x), *parts]
    return rule


def _hardtanh(args, kwargs, alloc):
    return _bounds(1, 2, 1.0, -1.0, 1.0, ("min_val", "max_val"))(args, kwargs, alloc)


def _two_kinks(lo: float, hi: float, coef_lo: float, coef_hi: float):
    """Fixed kinks at ``lo`` and ``hi`` with their own change of slope (hardsigmoid, hardswish)."""

    def rule(args, kwargs, alloc):
        x = args[0]
        m_lo, m_hi = _eq(x, lo, alloc), _eq(x, hi, alloc)
        change = _times(m_lo, coef_lo, alloc).add_(m_hi, alpha=coef_hi)
        return m_lo.add_(m_hi), [(0, change, x)]
    return rule


def _shrink(args, kwargs, alloc):
    """hardshrink / softshrink: at +-lambd torch takes the inside slope 0; the other is 1."""
    x = args[0]
    lambd = float(_arg(args, kwargs, 1, "lambd", 0.5))
    m = _eq(x, lambd, alloc)
    m = torch.maximum(m, _eq(x, -lambd, alloc), out=m)
    return m, [(0, m, x)]


def _tie(first: float):
    """maximum/minimum-like: on a tie the first argument's slope becomes torch's + ``first``."""

    def rule(args, kwargs, alloc):
        x, y = args[0], args[1]
        if not isinstance(y, torch.Tensor):
            return None
        m = _eq(x, y.detach(), alloc)
        return m, [(0, _times(m, first, alloc), x), (1, _times(m, -first, alloc), y)]
    return rule


#: plain op name -> (rule, the name its autograd node starts with)
RULES: dict[str, tuple[Callable, str]] = {
    "relu": (_zero(1.0), "ReluBackward"),
    "leaky_relu": (_leaky, "LeakyReluBackward"),
    "rrelu_with_noise": (_rrelu, "RreluWithNoiseBackward"),
    "_prelu_kernel": (_prelu, "PreluKernelBackward"),
    "abs": (_zero(1.0), "AbsBackward"),
    "clamp": (_bounds(1, 2, -1.0), "ClampBackward"),
    "clamp_min": (_bounds(1, None, -1.0), "ClampMinBackward"),
    "clamp_max": (_bounds(None, 1, -1.0), "ClampMaxBackward"),
    "hardtanh": (_hardtanh, "HardtanhBackward"),
    "hardsigmoid": (_two_kinks(-3.0, 3.0, 1 / 6, 1 / 6), "HardsigmoidBackward"),
    "hardswish": (_two_kinks(-3.0, 3.0, -0.5, 0.5), "HardswishBackward"),
    "hardshrink": (_shrink, "HardshrinkBackward"),
    "softshrink": (_shrink, "SoftshrinkBackward"),
    "maximum": (_tie(0.5), "MaximumBackward"),
    "minimum": (_tie(0.5), "MinimumBackward"),
    "fmax": (_tie(-1.0), "FmaxBackward"),
    "fmin": (_tie(-1.0), "FminBackward"),
}
