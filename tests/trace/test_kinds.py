"""Each kind of kink, counted on tensors whose distances to the kink are known."""

import math

import pytest
import torch
import torch.nn.functional as F
from trace_sites import by_code, one

import kinkcheck


def test_abs_counts_exact_and_near_zeros():
    x = torch.tensor([0.0, -0.0, 2e-8, -3e-7, 0.5, 1.0, -2.0])
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        x.abs()
    s = one(t, "KC101")
    # scale max|x| = 2, near tolerance = 4 * eps32 * 2 = 9.5e-7: 2e-8 and 3e-7 are near
    assert (s["evaluations"], s["exact"], s["near"]) == (7, 2, 2)
    assert s["histogram"] == {"exact": 2, "-8": 1, "-7": 1}
    assert s["op"] == "aten.abs.default"
    # the gradient torch returned at a hit, observed by the backward of the very op
    assert s["observed"] == {"framework": "torch", "grad": ["0"], "at": ["0"], "step": 0}
    assert s["near_scale"] == "tensor"


def test_in_place_ops_are_measured_before_they_overwrite_the_input():
    x = torch.tensor([0.0, -1.0, 2.0, 0.0])
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        x.relu_()
    s = one(t, "KC102")
    assert s["op"] == "aten.relu_.default" and s["exact"] == 2
    assert x.tolist() == [0.0, 0.0, 2.0, 0.0]


def test_clamp_and_hardtanh_bounds():
    x = torch.tensor([-1.0, 1.0, 0.5, 6.0, 0.0, 3.0])
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        x.clamp(-1.0, 1.0)
        F.relu6(x)
        F.hardsigmoid(x)
    ops = {s["op"]: s for s in by_code(t, "KC103")}
    assert ops["aten.clamp.default"]["exact"] == 2
    assert ops["aten.hardtanh.default"]["exact"] == 2  # relu6 is hardtanh(0, 6) at the aten level
    assert ops["aten.hardsigmoid.default"]["exact"] == 1  # the kinks of hardsigmoid are at +-3


def test_maximum_ties():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])
    b = torch.tensor([1.0, 2.5, 3.0, 4.0 + 4e-7])
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        torch.maximum(a, b)
    s = one(t, "KC104")
    assert (s["evaluations"], s["exact"], s["near"]) == (4, 2, 1)


def test_reduction_ties_count_slices():
    x = torch.tensor([[3.0, 1.0, 3.0], [0.0, 2.0, 1.0], [5.0, 5.0, 5.0]])
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        x.max(dim=1)
        x.amax(dim=1)
        x.max()
    ops = {s["op"]: s for s in by_code(t, "KC105")}
    assert (ops["aten.max.dim"]["evaluations"], ops["aten.max.dim"]["exact"]) == (3, 2)
    assert (ops["aten.amax.default"]["evaluations"], ops["aten.amax.default"]["exact"]) == (3, 2)
    assert (ops["aten.max.default"]["evaluations"], ops["aten.max.default"]["exact"]) == (1, 1)


def test_topk_boundary_and_sort_neighbours():
    x = torch.tensor([[4.0, 3.0, 3.0, 1.0], [4.0, 3.0, 2.0, 1.0]])
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        x.topk(2, dim=1)
        torch.sort(x, dim=1)
    ops = {s["op"]: s for s in by_code(t, "KC105")}
    topk = ops["aten.topk.default"]
    assert (topk["evaluations"], topk["exact"]) == (2, 1)  # row 0: the 2nd and 3rd values tie
    srt = next(s for op, s in ops.items() if op.startswith("aten.sort"))
    assert (srt["evaluations"], srt["exact"]) == (6, 1)


def test_max_pool_ties_real_and_harmless():
    # window 1: tie at 2; window 2: unique max; after a ReLU: windows of zeros are harmless
    x = torch.tensor([[[[2.0, 2.0, 1.0, 0.0], [0.0, 1.0, 0.5, 0.2]]]])
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        F.max_pool2d(x, 2)
        F.max_pool2d(F.relu(-x.abs()), 2)
    plain, after_relu = by_code(t, "KC106")
    assert (plain["evaluations"], plain["exact"], plain["harmless"]) == (2, 1, 0)  # the tie at 2.0
    # all-zero windows after a ReLU: the gradient is 0 whichever index wins
    assert (after_relu["evaluations"], after_relu["exact"], after_relu["harmless"]) == (2, 0, 2)
    assert after_relu["line"] == plain["line"] + 1


def test_overlapping_and_padded_pooling_uses_windows():
    torch.manual_seed(0)
    x = torch.randint(0, 3, (2, 3, 7, 7)).float()
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        out = F.max_pool2d(x, 3, stride=2, padding=1)
    # independent count with unfold: windows whose maximum occurs more than once
    w = F.unfold(F.pad(x, (1, 1, 1, 1), value=-math.inf).view(6, 1, 9, 9), 3, stride=2).view(2, 3, 9, -1)
    ties = ((w == w.amax(2, keepdim=True)).sum(2) > 1).sum().item()
    s = one(t, "KC106")
    assert s["evaluations"] == out.numel()
    assert s["exact"] == ties and ties > 0


def test_division_reciprocal_and_scalar_denominators():
    a = torch.ones(4)
    b = torch.tensor([0.0, 1.0, -0.0, 2.0])
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        a / b
        torch.reciprocal(b)
        a / 2.0
    div, recip = by_code(t, "KC205")  # sorted by line; a / 2.0 is no site: a nonzero constant never hits
    assert (div["op"], div["evaluations"], div["exact"]) == ("aten.div.Tensor", 4, 2)
    assert (recip["op"], recip["exact"]) == ("aten.reciprocal.default", 2)


def test_acos_at_unit_and_atan2_at_origin():
    x = torch.tensor([1.0, -1.0, 0.3, 1.0 - 2 ** -23])
    y = torch.tensor([0.0, 0.0, 1.0])
    z = torch.tensor([0.0, 1.0, 0.0])
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        torch.acos(x)
        torch.atan2(y, z)
    acos = one(t, "KC206")
    assert (acos["exact"], acos["near"]) == (2, 1)
    assert one(t, "KC207")["exact"] == 1


def test_sqrt_log_norm_and_fractional_power():
    x = torch.tensor([0.0, 4.0, 1e-30])
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        x.sqrt()
        x.log()
        torch.linalg.vector_norm(torch.zeros(3, 2), dim=1)
        x ** 0.5
        x ** 2  # an integer power has no kink: not counted
    assert one(t, "KC201")["exact"] == 1
    assert one(t, "KC204")["exact"] == 1
    assert one(t, "KC203")["exact"] == 3
    pw = one(t, "KC202")
    assert (pw["evaluations"], pw["exact"]) == (3, 1)


def test_integer_tensors_are_not_counted():
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        torch.tensor([0, 1, -2]).abs()
    assert by_code(t, "KC101") == []


def test_nan_does_not_hide_exact_hits_in_large_tensors():
    x = torch.ones(5000)
    x[0] = float("nan")
    x[1:4] = 0.0
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        x.abs()
    s = one(t, "KC101")
    assert (s["evaluations"], s["exact"]) == (5000, 3)


def _window_ties(x, k):
    """Independent count: windows whose maximum occurs more than once (unfold)."""
    n, c, h, w = x.shape
    win = F.unfold(x.reshape(n * c, 1, h, w), k, stride=k)
    top = win.amax(1, keepdim=True)
    tie = (win == top).sum(1) > 1
    return tie, top.squeeze(1)


def test_max_pool_counts_match_an_independent_window_count():
    g = torch.Generator().manual_seed(3)
    x = torch.randint(-2, 3, (4, 3, 8, 8), generator=g).float()
    x[0, 0, :2, :2] = torch.tensor([[1.0, 1.0 - 2e-7], [0.5, 0.2]])  # a near tie
    with kinkcheck.trace(only_differentiated=False, backends="torch", rules=["KC106"]) as t:
        F.max_pool2d(x, 2)
        r = F.relu(x)  # zeros made by a ReLU inside the trace: their ties are harmless
        F.max_pool2d(r, 2)
    plain, after_relu = by_code(t, "KC106")
    tie, _ = _window_ties(x, 2)
    assert (plain["evaluations"], plain["exact"], plain["harmless"], plain["near"]) == (x.numel() // 4, int(tie.sum()), 0, 1)
    tie_r, top_r = _window_ties(r, 2)
    zero = tie_r & (top_r == 0)
    assert after_relu["harmless"] == int(zero.sum()) > 0
    assert after_relu["exact"] == int((tie_r & ~zero).sum()) > 0


def test_big_tensors_count_every_near_and_exact_element():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(100_003, generator=g) + 0.5  # far from 0 ...
    hits = torch.tensor([5, 4096, 4097, 70_000, 100_002])
    x[hits] = torch.tensor([0.0, 1e-7, -0.0, -3e-7, 0.0])  # ... except a few, in different blocks and the tail
    x[9000] = float("nan")
    x[9001] = 0.0  # in the same block as a NaN
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        x.abs()
    s = one(t, "KC101")
    assert (s["evaluations"], s["exact"], s["near"]) == (100_003, 4, 2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_big_half_and_double_tensors_count_like_a_direct_compare(dtype):
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(50_001, generator=g) * 4 - 2).to(dtype)
    pick = torch.randperm(50_001, generator=g)
    x[pick[:40]] = 0
    x[pick[40:60]] = torch.finfo(dtype).eps * torch.linspace(-8, 8, 20, dtype=torch.float64).to(dtype)  # around the tolerance
    with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
        x.abs()
    d = x.abs()
    tol = 4 * torch.finfo(dtype).eps * d.max().item() + 1e-30
    near = (d > 0) & (d <= tol)  # compared in the tensor's own dtype, as the tracer does
    s = one(t, "KC101")
    assert (s["evaluations"], s["exact"], s["near"]) == (x.numel(), int((d == 0).sum()), int(near.sum()))
    assert s["near"] > 0
