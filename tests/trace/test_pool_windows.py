"""Max-pool tie counts on tiling windows (kernel == stride, the common ``MaxPool2d(2)``) agree
with an independent per-window sort, for 1-3 spatial dims, odd kernels, channels-last
inputs, adaptive pooling and pooling without indices; ReLU-zero windows count as harmless."""

import math

import pytest
import torch
import torch.nn.functional as F
from trace_sites import one

import kinkcheck
from kinkcheck.trace.near import HIST_LO


def sorted_windows(x, k):
    """Every window's elements as rows, sorted ascending (unfold one spatial dim at a time)."""
    nd = len(k)
    w = x
    for i, ki in enumerate(k):
        w = w.unfold(x.dim() - nd + i, ki, ki)
    return w.reshape(*w.shape[: x.dim()], -1).reshape(-1, math.prod(k)).sort(-1).values


def expected(x, k, relu=False):
    """(evaluations, exact, near, harmless, histogram) from the gap between each window's two
    largest values, with the documented tolerance (KC106 near = "element"): 4 ulps of that
    window's own maximum + 1e-30."""
    w = sorted_windows(x, k)
    top, gap = w[:, -1], w[:, -1] - w[:, -2]
    harmless = (top == 0) if relu else torch.zeros_like(top, dtype=torch.bool)
    tol = 4 * torch.finfo(x.dtype).eps * top.abs().double() + 1e-30
    real, tol = gap[~harmless], tol[~harmless]
    exact = int((real == 0).sum())
    near = real[(real > 0) & (real.double() <= tol)]
    hist = {"exact": exact} if exact else {}
    for v in near.double().tolist():
        key = str(max(math.floor(math.log10(v)), HIST_LO))
        hist[key] = hist.get(key, 0) + 1
    return (top.numel(), exact, near.numel(), int(harmless.sum()), hist)


def counted(t):
    s = one(t, "KC106")
    return (s["evaluations"], s["exact"], s["near"], s["harmless"], {k: s["histogram"][k] for k in sorted(s["histogram"])})


def tied_input(shape, seed):
    """Small integers (many exact ties), a few values nudged by a couple of ulps (near ties)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-3, 4, shape, generator=g).float()
    flat = x.view(-1)
    pick = torch.randperm(flat.numel(), generator=g)[:20]
    flat[pick] = flat[pick] * (1 + 2e-7) + torch.where(flat[pick] == 0, 3e-7, 0.0)
    return x


def by_hist_key(e):
    return (*e[:4], dict(sorted(e[4].items())))


@pytest.mark.parametrize(
    ("shape", "k", "pool"),
    [
        ((2, 3, 8, 8), (2, 2), lambda x: F.max_pool2d(x, 2)),
        ((2, 3, 9, 6), (3, 3), lambda x: F.max_pool2d(x, 3)),
        ((2, 3, 8, 6), (2, 3), lambda x: F.max_pool2d(x, (2, 3))),
        ((3, 4, 10), (2,), lambda x: F.max_pool1d(x, 2)),
        ((1, 2, 4, 6, 6), (2, 2, 2), lambda x: F.max_pool3d(x, 2)),
        ((2, 3, 8, 8), (4, 2), lambda x: F.adaptive_max_pool2d(x, (2, 4))),
    ],
)
def test_tiling_windows_match_a_sort_per_window(shape, k, pool):
    x = tied_input(shape, seed=len(shape) * 10 + k[0])
    with kinkcheck.trace(only_differentiated=False, backends="torch", rules=["KC106"]) as t:
        pool(x)
    got = counted(t)
    assert got == by_hist_key(expected(x, k))
    assert got[1] > 0 and got[2] > 0  # the input really has exact and near ties


def test_relu_zero_windows_are_harmless_and_not_ties():
    x = tied_input((4, 3, 8, 8), seed=7)
    with kinkcheck.trace(only_differentiated=False, backends="torch", rules=["KC106"]) as t:
        F.max_pool2d(F.relu(x), 2)
    got = counted(t)
    assert got == by_hist_key(expected(F.relu(x), (2, 2), relu=True))
    assert got[3] > 0


def test_channels_last_and_no_indices_inputs():
    x = tied_input((2, 4, 8, 8), seed=11)
    want = by_hist_key(expected(x, (2, 2)))
    with kinkcheck.trace(only_differentiated=False, backends="torch", rules=["KC106"]) as t:
        F.max_pool2d(x.to(memory_format=torch.channels_last), 2)
    assert counted(t) == want
    with torch.no_grad(), kinkcheck.trace(only_differentiated=False, backends="torch", rules=["KC106"]) as t:
        F.max_pool2d(x, 2)  # aten.max_pool2d without indices
    assert counted(t) == want


def test_nan_windows_are_not_counted_and_do_not_hide_others():
    x = tied_input((1, 1, 4, 4), seed=5)
    x[0, 0, :2, :2] = torch.tensor([[1.0, 1.0], [0.0, -1.0]])  # an exact tie
    x[0, 0, 2:, 2:] = torch.tensor([[float("nan"), 1.0], [1.0, 0.0]])  # a NaN window: no gap
    with kinkcheck.trace(only_differentiated=False, backends="torch", rules=["KC106"]) as t:
        out = F.max_pool2d(x, 2)
    s = one(t, "KC106")
    assert torch.isnan(out[0, 0, 1, 1])
    finite = sorted_windows(x, (2, 2))[:3]  # the three windows without a NaN (NaN sorts last)
    assert s["exact"] == int((finite[:, -1] == finite[:, -2]).sum()) >= 1


def test_relu_then_nan_window_keeps_the_harmless_count_exact():
    x = tied_input((2, 2, 6, 6), seed=9)
    x[0, 0, 0, 0] = float("nan")
    with kinkcheck.trace(only_differentiated=False, backends="torch", rules=["KC106"]) as t:
        F.max_pool2d(F.relu(x), 2)
    r = F.relu(x)
    w = sorted_windows(r, (2, 2))
    ok = ~torch.isnan(w).any(1)
    s = one(t, "KC106")
    assert s["harmless"] == int((w[ok, -1] == 0).sum()) > 0
    assert s["exact"] == int(((w[ok, -1] == w[ok, -2]) & (w[ok, -1] != 0)).sum())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_dtypes(dtype):
    x = torch.randint(-3, 4, (2, 3, 8, 8), generator=torch.Generator().manual_seed(1)).to(dtype)
    with kinkcheck.trace(only_differentiated=False, backends="torch", rules=["KC106"]) as t:
        F.max_pool2d(F.relu(x), 2)
    got = counted(t)
    assert got == by_hist_key(expected(F.relu(x), (2, 2), relu=True))
    assert got[1] > 0 and got[3] > 0
