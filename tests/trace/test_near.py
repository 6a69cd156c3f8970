"""Near means near the kink on the scale that matters for the rule (catalog [runtime] near):
the operand's largest magnitude for a relu or an abs, the element's own operands for ties
and bounds, the value's own magnitude for poles. Guarded values are never near."""

import torch
import torch.nn.functional as F
from trace_sites import by_code, one

import kinkcheck
from kinkcheck import catalog


def test_a_guarded_denominator_far_from_zero_is_never_near():
    torch.manual_seed(0)
    x = torch.randn(100_000, requires_grad=True)
    y = torch.randn(100_000) * 1000  # y ** 2 + 1 >= 1, next to values around 1e7
    with kinkcheck.trace(backends="torch", rules=["KC205"]) as t:
        x / (y**2 + 1)
    s = one(t, "KC205")
    assert (s["evaluations"], s["exact"], s["near"], s["near_scale"]) == (100_000, 0, 0, "own")


def test_an_ssim_denominator_at_its_floor_is_not_near():
    torch.manual_seed(0)
    img = torch.rand(4, 1, 32, 32) * 2
    img[:, :, :16] = 0  # flat black patches: mu = 0, sigma = 0, the denominator is c1 * c2 = 9e-8
    img.requires_grad_(True)
    c1, c2 = 0.01**2, 0.03**2
    with kinkcheck.trace(backends="torch", rules=["KC205"]) as t:
        mu = F.avg_pool2d(img, 3, 1, 1)
        var = F.avg_pool2d(img * img, 3, 1, 1) - mu * mu
        den = (2 * mu * mu + c1) * (2 * var + c2)
        (2 * mu * mu + c1) / den
    s = one(t, "KC205")
    # on the old scale (4 ulps of the largest denominator, about 16) every floor value was near
    assert float(den.min()) < 1e-7 < 4 * 2**-23 * float(den.max())
    assert (s["exact"], s["near"]) == (0, 0)


def test_a_relu_input_within_rounding_of_zero_at_the_tensor_scale_is_near():
    x = torch.tensor([0.0, 1e-7, -3e-7, 1e-3, 2.0, -1.0], requires_grad=True)
    with kinkcheck.trace(backends="torch", rules=["KC102"]) as t:
        F.relu(x)
    s = one(t, "KC102")  # tensor scale 2: 4 * eps32 * 2 = 9.5e-7
    assert (s["exact"], s["near"], s["near_scale"]) == (1, 2, "tensor")


def test_a_tie_is_near_on_the_elements_own_magnitude_not_the_tensors_largest():
    a = torch.tensor([1.0, 1.0, 1e6, 1e-3], requires_grad=True)
    b = torch.tensor([1.0, 1.0 + 2**-22, 1e6 + 0.0625, 1e-3 + 1e-5])
    with kinkcheck.trace(backends="torch", rules=["KC104"]) as t:
        torch.maximum(a, b)
    s = one(t, "KC104")
    # 1 + 2^-22 is 2 ulps from 1: near; 1e6 + 1/16 is 1 ulp of 1e6: near; 1e-3 + 1e-5 is far
    # (next to 1e6 it would have been "near" on the tensor's scale)
    assert (s["exact"], s["near"], s["near_scale"]) == (1, 2, "element")


def test_the_clamp_floor_of_f_normalize_and_a_constant_divisor_are_no_sites():
    x = torch.randn(8, 3, requires_grad=True)
    with kinkcheck.trace(backends="torch", rules=["KC103", "KC205"]) as t:
        F.normalize(x, dim=1)  # clamp_min(1e-12): a guard
        x / 2  # a nonzero constant never reaches the pole
        x.clamp(min=-1.0)  # a real bound: counted
    assert [s["op"] for s in t.to_dict()["sites"]] == ["aten.div.Tensor", "aten.clamp.default"]
    # F.normalize divides by the clamped norm: a denominator the tracer measures (never near 0)
    (div,) = by_code(t, "KC205")
    assert (div["exact"], div["near"]) == (0, 0)


def test_hardshrink_and_hardsigmoid_bounds_come_from_the_catalog():
    rt = catalog.load()["KC103"].runtime
    assert rt.bounds_of("hardsigmoid") == (-3.0, 3.0) and rt.bounds_of("hardshrink") == ("-lambd", "lambd")
    x = torch.tensor([-3.0, 3.0, 0.25, -0.25, 1.0], requires_grad=True)
    with kinkcheck.trace(backends="torch", rules=["KC103"]) as t:
        F.hardsigmoid(x)
        F.hardshrink(x, lambd=0.25)
    sig, shrink = by_code(t, "KC103")
    assert (sig["op"], sig["exact"]) == ("aten.hardsigmoid.default", 2)
    assert (shrink["op"], shrink["exact"]) == ("aten.hardshrink.default", 2)


def test_every_runtime_rule_says_what_near_means():
    for code, rule in catalog.load().items():
        if rule.runtime is not None and rule.runtime.aten:
            assert rule.runtime.near in catalog.NEAR_SCALES and rule.runtime.near_why, code
