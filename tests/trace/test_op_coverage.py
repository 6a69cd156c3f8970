"""Every op family in the catalog's runtime table is measured without errors or warnings,
however it is called (functional, method, in-place, with keywords)."""

import warnings

import torch
import torch.nn.functional as F

import kinkcheck


def exercise():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-3, 4, (2, 3, 8, 8), generator=g).float() / 2
    v = x.flatten()
    v.abs(); torch.abs_(v.clone()); torch.absolute(v)
    F.relu(v); F.leaky_relu(v, 0.1); F.leaky_relu(v.clone(), inplace=True); F.prelu(x, torch.tensor([0.2]))
    F.rrelu(v, training=True); F.rrelu(v, training=False); F.threshold(v, 0.5, 0.0); F.relu6(v)
    v.clamp(min=-1); v.clamp(max=1); torch.clamp(v, torch.zeros_like(v), torch.ones_like(v)); v.clone().clamp_(-1, 1)
    F.hardtanh(v); F.hardsigmoid(v); F.hardswish(v); F.hardshrink(v); F.softshrink(v)
    torch.maximum(v, v.flip(0)); torch.minimum(v, v.flip(0)); torch.fmax(v, v.flip(0)); torch.fmin(v, v.flip(0))
    x.max(); x.min(); x.max(dim=1); x.min(dim=1, keepdim=True); x.amax(dim=(2, 3)); x.amin(); torch.aminmax(x)
    torch.aminmax(x, dim=1); x.median(); x.median(dim=-1); x.nanmedian(); x.nanmedian(dim=0); x.kthvalue(2, dim=-1)
    x.topk(3); x.topk(2, dim=1, largest=False); x.sort(); x.sort(dim=1, descending=True); torch.sort(x, stable=True, dim=0)
    F.max_pool2d(x, 2); F.max_pool2d(x, 3, 1, 1); F.max_pool2d(x, 2, ceil_mode=True); F.max_pool2d(x, 2, dilation=2)
    F.max_pool1d(x[0], 2); F.max_pool3d(x.unsqueeze(0), 2); F.adaptive_max_pool2d(x, 4); F.adaptive_max_pool2d(x, 3)
    F.adaptive_max_pool3d(x.unsqueeze(0), 2); F.fractional_max_pool2d(x, 2, output_size=4, _random_samples=torch.rand(2, 3, 2))
    y = v.abs()
    y.sqrt(); y.rsqrt(); y.log(); y.log2(); y.log10(); torch.log1p(v.clamp(min=-1))
    y ** 0.5; y ** -1; torch.pow(y, torch.full_like(y, 0.5)); y.clone().pow_(0.5)
    torch.linalg.vector_norm(x, dim=1); torch.norm(x); x.norm(dim=0); torch.dist(x, x.flip(0))
    torch.cdist(x[0, 0], x[0, 1]); F.pdist(x[0, 0])
    v / v.flip(0); v / 2; v.clone().div_(3.0); torch.reciprocal(v); v.clone().reciprocal_()
    torch.acos(v.clamp(-1, 1)); torch.asin(v.clamp(-1, 1)); torch.acosh(y + 1); torch.atanh(v.clamp(-1, 1))
    torch.atan2(v, v.flip(0)); torch.angle(v)
    v.sign(); v.sgn(); v.round(); v.round(decimals=1); v.floor(); v.ceil(); v.trunc(); v // 0.5
    torch.div(v, 0.5, rounding_mode="floor"); v % 0.5; torch.fmod(v, 0.5); torch.remainder(v, v.flip(0) + 5)
    torch.heaviside(v, torch.tensor(0.5)); v.argmax(); x.argmin(dim=1); x.argmax(dim=1, keepdim=True)


def test_every_runtime_op_is_measured_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
            exercise()
    data = t.to_dict()
    codes = {s["code"] for s in data["sites"]}
    assert codes >= {"KC101", "KC102", "KC103", "KC104", "KC105", "KC106", "KC201", "KC202", "KC203", "KC204",
                     "KC205", "KC206", "KC207", "KC301", "KC302", "KC303", "KC305"}
    assert all(s["evaluations"] > 0 for s in data["sites"])
    assert sum(s["exact"] for s in data["sites"]) > 0


def test_results_are_unchanged_by_the_measurements():
    torch.manual_seed(0)
    exercise()
    plain = torch.random.get_rng_state()
    torch.manual_seed(0)
    with kinkcheck.trace(only_differentiated=False, backends="torch"):
        exercise()
    assert torch.equal(torch.random.get_rng_state(), plain)  # rrelu's noise drew the same numbers
