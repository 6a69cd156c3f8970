"""The CPU fast counts give exactly what the generic counts give on the dense distances,
special values included. Max-pool windows over a ReLU (maxima and runners-up, counted without
the dense distances): windows of zeros (harmless), NaN, +inf, -0.0, subnormal and huge
maxima, exact and near ties, small tensors and big ones (the block filter). ``|x|`` counted
in chunks (a ReLU's input): zeros, near zeros, subnormals, infinities, a tail that is not a
whole block, and a NaN (handed back to the dense count)."""

import numpy as np
import pytest
import torch
from reference_counts import ABS, FAC, dense, dense_count, fast, generic
from trace_sites import one

from kinkcheck.trace.backends.torch_count import (
    _CHUNK,
    Magnitude,
    ReluWindows,
    count_host,
    count_magnitude,
    count_relu_windows,
)



def windows(n, dtype, seed, special=True):
    """(vals, second) as a ReLU'd max-pool makes them: second <= vals, both >= 0; about 10%
    zero windows, a few exact and near ties, and (``special``) NaN, +inf, -0.0, tiny maxima."""
    g = torch.Generator().manual_seed(seed)
    vals = torch.rand(n, generator=g, dtype=torch.float64).to(dtype) * 3
    second = vals * torch.rand(n, generator=g, dtype=torch.float64).to(dtype)
    pick = torch.randperm(n, generator=g)
    zero, tie, near, rest = pick[: n // 10], pick[n // 10: n // 10 + 7], pick[n // 10 + 7: n // 10 + 20], pick[n // 10 + 20:]
    vals[zero] = 0.0
    second[zero] = 0.0
    second[tie] = vals[tie]
    eps = torch.finfo(dtype).eps
    second[near] = vals[near] * (1 - eps * torch.arange(1, near.numel() + 1, dtype=dtype) / 2)
    if special:
        s = rest[:12]
        vals[s[0]], second[s[0]] = float("nan"), 1.0
        vals[s[1]], second[s[1]] = float("inf"), 2.0
        vals[s[2]], second[s[2]] = float("inf"), float("inf")
        vals[s[3]], second[s[3]] = -0.0, 0.0
        vals[s[4]], second[s[4]] = 1e-31, 0.0  # below the absolute floor: near
        vals[s[5]], second[s[5]] = 1e-40, 1e-40  # a subnormal tie
        vals[s[6]], second[s[6]] = 3e38, 3e38 * (1 - eps)
        vals[s[7]], second[s[7]] = 5e-39, 4e-39
    return vals, second





@pytest.mark.parametrize("n", [7, 1000, 2048, 5000, 401408 + 13])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("special", [True, False])
def test_fast_count_equals_the_generic_count(n, dtype, special):
    vals, second = windows(n, dtype, seed=n, special=special and n > 50)
    want = generic(vals, second)
    assert np.array_equal(fast(vals, second), want)
    if n > 50:
        assert want[0] > 0 and want[1] > 0 and want[2] > 0  # exact, near and harmless all seen


def test_no_ties_at_all_counts_only_the_zero_windows():
    vals, second = windows(100_000, torch.float32, seed=3, special=False)
    second = vals * 0.5
    vec, harmless = count_relu_windows(ReluWindows(vals, second), FAC, ABS)
    assert vec is None
    assert harmless == int((vals == 0).sum()) > 0


def test_distance_is_the_dense_distance():
    vals, second = windows(3000, torch.float32, seed=4)
    assert torch.equal(ReluWindows(vals, second).distance(), dense(vals, second))


def magnitudes(n, dtype, seed):
    """A ReLU's input: normal values, exact zeros, values a few ulps of the largest from 0."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=torch.float64).to(dtype) * 2
    pick = torch.randperm(n, generator=g)[:40]
    x[pick[:5]] = 0.0
    x[pick[5]] = -0.0
    scale = float(x.abs().max())
    eps = torch.finfo(dtype).eps
    x[pick[6:30]] = torch.linspace(-6, 6, 24, dtype=torch.float64).to(dtype) * eps * scale  # near and beyond
    x[pick[30]] = 1e-40  # subnormal
    return x



@pytest.mark.parametrize("n", [16384, 16384 + 77, 2 * _CHUNK + 4096 * 5 + 11])  # one chunk, a tail, three chunks
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chunked_magnitude_count_equals_the_dense_count(n, dtype):
    x = magnitudes(n, dtype, seed=n % 97)
    counted, vec = count_magnitude(Magnitude(x), FAC, ABS)
    want = dense_count(x)
    assert counted and want is not None and np.array_equal(vec, want)
    assert want[0] >= 6 and want[1] > 0  # exact zeros and near zeros seen


def test_chunked_magnitude_with_an_infinity_counts_everything_finite_as_near():
    x = magnitudes(50_000, torch.float32, seed=1)
    x[123] = float("inf")
    counted, vec = count_magnitude(Magnitude(x), FAC, ABS)
    assert counted and np.array_equal(vec, dense_count(x))
    assert vec[0] + vec[1] == x.numel()  # the tolerance is inf: every element within it


@pytest.mark.parametrize("where", [5, 50_000 - 3])  # in a block, in the tail
def test_chunked_magnitude_hands_a_nan_back(where):
    x = magnitudes(50_000, torch.float32, seed=2)
    x[where] = float("nan")
    assert count_magnitude(Magnitude(x), FAC, ABS) == (False, None)


def test_traced_relu_with_a_nan_counts_on_the_scale_of_the_finite_elements():
    import torch.nn.functional as F

    import kinkcheck

    x = magnitudes(50_000, torch.float32, seed=3)
    x[7] = float("nan")
    with kinkcheck.trace(only_differentiated=False, backends="torch", rules=["KC102"]) as t:
        F.relu(x)
    s = one(t, "KC102")
    d = x.abs()
    want = count_host(d, float(d[~torch.isnan(d)].amax()) * FAC + ABS)
    assert (s["evaluations"], s["exact"], s["near"]) == (x.numel(), int(want[0]), int(want[1]))
    assert want[0] >= 6 and want[1] > 0


def test_fast_counts_take_tensors_that_require_grad():
    x = magnitudes(50_000, torch.float32, seed=4).requires_grad_()
    counted, vec = count_magnitude(Magnitude(x), FAC, ABS)
    assert counted and np.array_equal(vec, dense_count(x.detach()))
    vals, second = windows(5000, torch.float32, seed=5)
    vals.requires_grad_()
    assert np.array_equal(fast(vals, second), generic(vals.detach(), second))
