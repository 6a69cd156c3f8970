"""The CPU max-pool fast path for ``MaxPool2d(2)`` over a ReLU: the runner-up taken on
contiguous shifted views with the even elements gathered bit-exactly (float32/16/bf16), the
counting written into the runner-up search's own spent buffers, the one-pass window filter
(and the two-pass one below it), and a traced CNN step that takes this path and counts
exactly what the generic count gives."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from reference_counts import ABS, FAC, fast, generic
from test_pool_windows import counted, expected, tied_input

import kinkcheck
from kinkcheck.trace.backends import torch_windows
from kinkcheck.trace.backends.torch_count import (
    ReluWindows,
    _scratch,
    count_relu_windows,
)
from kinkcheck.trace.backends.torch_windows import (
    _evens,
    _runner_up_2x2,
    _runner_up_2x2_room,
)


def special(shape, dtype, seed):
    """Eighths (many exact ties), with NaN, +-inf and -0.0 sprinkled in."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g) * 3).round().div(8).to(dtype)
    flat = x.view(-1)
    flat[::13] = float("nan")
    flat[5::17] = -0.0
    flat[7::19] = float("inf")
    flat[3::23] = -float("inf")
    return x


def by_sort(x):
    """Each 2x2 window's second largest (NaN where the window holds one, as max/min give it)."""
    w = x.unfold(-2, 2, 2).unfold(-2, 2, 2).reshape(*x.shape[:-2], x.shape[-2] // 2, x.shape[-1] // 2, 4)
    second = w.sort(-1).values[..., -2]
    return torch.where(w.isnan().any(-1), float("nan"), second)


def same_values(a, b):
    """Equal as numbers (+0 == -0), NaN where the other is NaN."""
    return bool(((a == b) | (a.isnan() & b.isnan())).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("shape", [(3, 5, 6, 8), (2, 1, 2, 2), (4, 3, 28, 28)])
def test_runner_up_2x2_is_each_windows_second_largest(dtype, shape):
    x = special(shape, dtype, seed=shape[-1])
    vals = F.max_pool2d(x, 2)
    second = _runner_up_2x2(x, vals, lambda s, k: torch.empty(s, dtype=dtype))
    assert second.shape == vals.shape and second.dtype == dtype
    assert same_values(second, by_sort(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_evens_gathers_every_other_element_bit_exactly(dtype):
    wide = torch_windows._PAIR_INT[dtype]
    info = torch.iinfo(wide[1])
    bits = torch.randint(info.min, info.max, (2 * 1000,), dtype=torch.int64).to(wide[1])
    bits[:8] = torch.tensor([0, info.min, -1, info.max, 1, info.min + 1, -2, 7], dtype=torch.int64).to(wide[1])
    full = bits.view(dtype)  # any bit pattern: NaN payloads, -0.0, subnormals, infinities
    out = _evens(full, wide, torch.empty(1000, dtype=dtype))
    assert torch.equal(out.view(wide[1]), bits[0::2])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_room_is_spent_memory_apart_from_the_runner_up(dtype):
    """The room the counting writes holds nothing it still reads: not the runner-up, not each other."""
    x = F.relu(special((4, 3, 8, 8), dtype, seed=1))
    vals = F.max_pool2d(x, 2)
    second, room = _runner_up_2x2_room(x, vals, lambda s, k: _scratch.get(s, dtype, k))
    kept = second.clone()
    spans = []
    for t in (second, *room):
        assert t.shape == vals.shape
        start = t.data_ptr()
        spans.append((start, start + t.numel() * t.element_size()))
    spans.sort()
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    for t in room:
        t.fill_(7.0)
    assert same_values(second, kept)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(16, 8, 8, 8), (64, 16, 14, 14)])
def test_counting_in_the_room_counts_what_the_generic_count_does(dtype, shape):
    x = F.relu(special(shape, dtype, seed=shape[0]))
    x.view(-1)[::13] = 0.5  # no NaN: the block filter decides
    vals = F.max_pool2d(x, 2)
    second, room = _runner_up_2x2_room(x, vals, lambda s, k: _scratch.get(s, dtype, k))
    vec, harmless = count_relu_windows(ReluWindows(vals, second, room), FAC, ABS)
    got = np.zeros(43, dtype=np.int64) if vec is None else vec.copy()
    got[2] += harmless
    assert np.array_equal(got, generic(vals, second))
    assert np.array_equal(got, fast(vals, second))  # the scratch buffers: the same counts
    assert got[0] > 0 and got[2] > 0


def test_a_traced_relu_pool_takes_the_room_and_counts_each_window(monkeypatch):
    seen = []
    orig = torch_windows._runner_up_2x2_room

    def spy(x, vals, buf):
        got = orig(x, vals, buf)
        seen.append(got[1] is not None)
        return got

    monkeypatch.setattr(torch_windows, "_runner_up_2x2_room", spy)
    x = tied_input((8, 4, 16, 16), seed=5).requires_grad_()
    with kinkcheck.trace(backends="torch") as t:
        F.max_pool2d(F.relu(x), 2).sum().backward()
    assert seen == [True]
    assert counted(t) == expected(F.relu(x.detach()), (2, 2), relu=True)


def boundary_windows(n, dtype, fac, seed):
    """(vals, second) of a ReLU'd pool with runners-up a few multiples of ``fac`` below the
    maximum on both sides of the near tolerance, windows of zeros, -0.0, tiny and huge maxima."""
    g = torch.Generator().manual_seed(seed)
    vals = (torch.rand(n, generator=g, dtype=torch.float64) * 3).to(dtype)
    second = vals * 0.5
    k = torch.arange(n, dtype=torch.float64)
    edge = (k % 7 == 0)
    second[edge] = (vals[edge].double() * (1 - fac * (k[edge] % 11) / 4)).to(dtype)  # 0 .. 2.5 fac below
    vals[k % 13 == 0] = 0.0
    second[k % 13 == 0] = 0.0
    vals[5], second[5] = -0.0, 0.0
    vals[6], second[6] = 1e-31 if dtype == torch.float32 else 1e-300, 0.0  # below the absolute floor
    vals[8], second[8] = 3e38, 3e38 * (1 - fac / 2)
    vals[9], second[9] = 1e-40, 1e-40  # a subnormal tie
    return vals, second


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ulps", [4.0, 1.0, 0.5])
def test_the_one_pass_window_filter_counts_what_the_generic_count_does(monkeypatch, dtype, ulps):
    from kinkcheck.trace.backends import torch_count

    fac = ulps * torch.finfo(dtype).eps
    vals, second = boundary_windows(20_000, dtype, fac, seed=int(ulps * 10))
    want = torch_count.count_host_rel(
        torch.sub(vals, second).div_(torch.sign(vals)).nan_to_num_(nan=float("inf")), vals, fac, ABS)
    signs = []
    sign = torch.sign
    monkeypatch.setattr(torch, "sign", lambda *a, **k: signs.append(1) or sign(*a, **k))
    vec, harmless = count_relu_windows(ReluWindows(vals, second), fac, ABS)
    assert (vec is None and want is None) or np.array_equal(vec, want)
    assert harmless == int((vals == 0).sum())
    assert want[0] > 0 and want[1] > 0
    assert (signs == []) == (ulps >= 1)  # one pass once fac >= eps; the two-pass filter below
