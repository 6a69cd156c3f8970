"""The CPU fast counts when hits are everywhere: a step of quantized values (weights on a grid,
pixels in sixteenths) puts thousands of ReLU inputs exactly at 0 and ties thousands of max-pool
windows. Every block passes the block filter there, and the counts must still be exactly the
dense ones: exact zeros with near ones beside them, windows of zeros, ties, NaN and -0.0."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference_counts import ABS, FAC, dense_count, fast, generic

from kinkcheck.trace.backends.torch_count import (
    _CHUNK,
    Magnitude,
    _vec,
    _within,
    count_magnitude,
)
from kinkcheck.trace.backends.torch_windows import _runner_up, _runner_up_2x2



def quantized(shape, dtype, seed, near=True):
    """Multiples of 1/8 (about a fifth exactly 0), a few values a couple of ulps of the
    largest from 0 (near), one -0.0."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 3).round().div(8).to(dtype)
    flat = x.view(-1)
    pick = torch.randperm(flat.numel(), generator=g)[:9]
    if near:
        scale = float(flat.abs().max())
        flat[pick[:8]] = torch.tensor([-3, -2, -1, 1, 2, 3, 5, 9], dtype=torch.float64).to(dtype) * (
            torch.finfo(dtype).eps * scale)
    flat[pick[8]] = -0.0
    return x


@pytest.mark.parametrize("tol", [0.0, 1e-6, 0.25, -1.0])
def test_within_is_the_selection_it_replaces(tol):
    a = np.abs(quantized((5000,), torch.float32, seed=1).numpy())
    a[[3, 70]] = np.nan
    want = _vec(a[a <= tol])
    got = _within(a, tol)
    assert (got is None and want is None) or np.array_equal(got, want)



@pytest.mark.parametrize("n", [4096 * 4, 4096 * 7 + 123, 2 * _CHUNK + 4096 * 3 + 5])  # one chunk, a tail, three chunks
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("near", [True, False])
def test_relu_input_with_zeros_in_every_block(n, dtype, near):
    x = quantized((n,), dtype, seed=n % 101, near=near)
    counted, vec = count_magnitude(Magnitude(x), FAC, ABS)
    want = dense_count(x)
    assert counted and np.array_equal(vec, want)
    assert want[0] > n // 10 and (want[1] > 0) == near


def tied_relu_windows(shape, dtype, seed):
    """(relu output, pool maxima, runners-up) of a quantized input: windows of zeros, exact
    ties at positive values, a few near ties, and plain windows."""
    r = F.relu(quantized(shape, dtype, seed))
    v = F.max_pool2d(r, 2)
    second = _runner_up_2x2(r, v, lambda s, k: torch.empty(s, dtype=dtype))
    return r, v, second




@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(16, 8, 8, 8), (64, 16, 14, 14)])
def test_relu_windows_tied_everywhere(dtype, shape):
    r, v, second = tied_relu_windows(shape, dtype, seed=shape[0])
    want = generic(v, second)
    assert np.array_equal(fast(v, second), want)
    assert want[0] > 50 and want[2] > 50  # many exact ties and many windows of zeros


def test_relu_windows_with_nan_and_infinite_windows_among_the_ties():
    r, v, second = tied_relu_windows((16, 8, 8, 8), torch.float32, seed=3)
    v, second = v.clone(), second.clone()
    flat_v, flat_s = v.view(-1), second.view(-1)
    flat_v[5], flat_s[5] = float("nan"), 1.0
    flat_v[9], flat_s[9] = float("inf"), float("inf")
    flat_v[11], flat_s[11] = float("inf"), 2.0
    assert np.array_equal(fast(v, second), generic(v, second))


@pytest.mark.parametrize("k", [(2, 2), (3, 3), (2,), (2, 2, 2)])
def test_runner_up_folds_agree_with_a_sort(k):
    nd = len(k)
    shape = (3, 4) + tuple(6 for _ in range(nd))
    x = quantized(shape, torch.float64, seed=len(k))
    vals = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1](x, k)
    w = x
    for i, ki in enumerate(k):
        w = w.unfold(x.dim() - nd + i, ki, ki)
    w = w.reshape(*vals.shape, -1).sort(-1).values
    assert torch.equal(_runner_up(x, vals, list(k)), w[..., -2])
