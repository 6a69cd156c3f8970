"""The probe's step sums (``StepSums``) in their fewer-call form read the very numbers of the
plain float64 computation they replace: ``multiply(x, y).sum()`` over the leaves laid end to
end at float64, and ``max |d|`` (bit for bit, so a record's rel, cos and max do not move)."""

import math

import numpy as np
import pytest
import torch

from kinkcheck.trace.backends import torch_probe_stats
from kinkcheck.trace.backends.torch_probe_stats import StepSums
from kinkcheck.trace.probe import step_result


def _plain(g: dict, d: dict) -> tuple[float, float, float, float]:
    """``||g||^2``, ``||d||^2``, ``<g, d>``, ``max |d|`` as the probe computed them before:
    each set of leaves flat at float64 in its own order, one product, one numpy sum."""
    g64 = np.concatenate([v.numpy().reshape(-1).astype(np.float64) for _, v in g.values()])
    d64 = np.concatenate([v.numpy().reshape(-1).astype(np.float64) for v in d.values()])
    gd64 = np.concatenate([g[k][1].numpy().reshape(-1).astype(np.float64) if k in g else np.zeros(v.numel())
                           for k, v in d.items()])
    return (float(np.multiply(g64, g64).sum()), float(np.multiply(d64, d64).sum()),
            float(np.multiply(gd64, d64).sum()), float(np.max(np.abs(d64))))


def _spread(shape, dtype, gen):
    """Values over many binades (the order of a float sum matters there), some exactly 0."""
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 10.0 ** torch.randint(-6, 6, shape, generator=gen)
    x[torch.rand(shape, generator=gen) < 0.1] = 0.0
    return x.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", range(4))
def test_small_cpu_leaves_give_the_plain_sums_bit_for_bit(monkeypatch, dtype, seed):
    calls = []
    row = torch_probe_stats._host_row
    monkeypatch.setattr(torch_probe_stats, "_host_row", lambda d, g: calls.append(1) or row(d, g))
    gen = torch.Generator().manual_seed(seed)
    # a digits CNN's leaves (conv 16x1x3x3 and bias, linear 10x256 and bias) and odd sizes
    shapes = {1: (10,), 2: (10, 256), 3: (16, 1, 3, 3), 4: (16,), 5: (129,), 6: (3, 7)}
    g = {k: [None, _spread(s, dtype, gen)] for k, s in shapes.items() if k != 6}  # leaf 6: no gradient
    sums = StepSums(g)
    # sites reaching leaves in another order than g's, all of them, and one without a gradient
    for keys in ((4, 3), (1, 2, 3, 4, 5), (5,), (6, 3)):
        d = {k: _spread(shapes[k], dtype, gen) for k in keys}
        gg, dd, gd, dmax = _plain(g, d)
        assert sums.gg == gg
        got = sums.site(d)
        assert got == (dd, gd, dmax)
        assert step_result(7, 3, sums.gg, *got) == step_result(7, 3, gg, dd, gd, dmax)
    assert len(calls) == 4  # every site summed in numpy


def test_max_change_from_the_squares_is_exact_at_the_float32_extremes():
    tiny = float(np.float32(1e-45))  # the smallest float32 subnormal: its square is still a float64
    for v in ([tiny, -0.0], [-3.4e38, 1.0], [0.0, -0.0], [1.5, float("inf")], [-2.0, -2.0]):
        d = {1: torch.tensor(v, dtype=torch.float32)}
        sums = StepSums({1: [None, torch.ones(2)]})
        assert sums.site(d)[2] == float(np.max(np.abs(d[1].numpy().astype(np.float64))))
    d = {1: torch.tensor([1.0, float("nan")])}
    assert math.isnan(StepSums({1: [None, torch.ones(2)]}).site(d)[2])


def test_row_sums_of_a_stacked_pair_are_the_flat_sums():
    """What ``_host_row`` rests on: numpy sums each row of a C-contiguous array pairwise, as it
    sums a flat vector (so ``[d; g] * d`` summed along the rows gives ``(d*d).sum()``, ``(g*d).sum()``)."""
    rng = np.random.default_rng(0)
    for n in (1, 7, 8, 9, 127, 128, 129, 1000, 2730, 9001):
        pair = rng.standard_normal((2, n)) * 10.0 ** rng.integers(-8, 8, (2, n))
        prods = np.multiply(pair, pair[0])
        assert np.add.reduce(prods, axis=1).tolist() == [float(np.multiply(pair[0], pair[0]).sum()),
                                                         float(np.multiply(pair[1], pair[0]).sum())]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_large_leaves_max_change_is_the_infinity_norm(monkeypatch, dtype):
    monkeypatch.setattr(torch_probe_stats, "LARGE", 4)  # every leaf summed in torch
    gen = torch.Generator().manual_seed(1)
    g = {1: [None, _spread((50,), dtype, gen)], 2: [None, _spread((6,), dtype, gen)]}
    for d2 in (_spread((6,), dtype, gen), -torch.arange(6, dtype=dtype), torch.full((6,), -0.0, dtype=dtype)):
        d = {1: torch.zeros(50, dtype=dtype), 2: d2}
        dmax = StepSums(g).site(d)[2]
        assert dmax == float(torch.linalg.vector_norm(d2, float("inf")))
        assert math.copysign(1.0, dmax) == 1.0  # never -0.0
