"""The tracer's op table is right: each rule's `[runtime] aten` overloads exist in the
installed torch, and running the rule's torch callables on small tensors under a recording
TorchDispatchMode hits them. Every listed overload is hit by at least one call below, so a
stale or misspelled overload fails here, not silently at trace time."""

from __future__ import annotations

import pytest

from kinkcheck import catalog

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

CAT = catalog.load()
RUNTIME = {code: r.runtime for code, r in CAT.items() if r.runtime is not None}


class Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(f"{func.overloadpacket.__name__}.{func._overloadname}")
        return func(*args, **(kwargs or {}))


def x4():
    return torch.randn(2, 3, 4, 4)


def pos():
    return torch.rand(2, 3, 4, 4) + 0.1


def unit():
    return torch.rand(8) * 0.9


def v():
    return torch.randn(5, 3)


#: rule -> [(what the user writes, the overloads it must hit)]
CALLS = {
    "KC101": [(lambda: torch.abs(x4()), {"abs.default"}), (lambda: x4().abs_(), {"abs_.default"}),
              (lambda: F.l1_loss(x4(), x4()), {"abs.default"}), (lambda: nn.L1Loss()(x4(), x4()), {"abs.default"})],
    "KC102": [(lambda: F.relu(x4()), {"relu.default"}), (lambda: nn.ReLU()(x4()), {"relu.default"}),
              (lambda: F.relu(x4(), inplace=True), {"relu_.default"}), (lambda: F.leaky_relu(x4()), {"leaky_relu.default"}),
              (lambda: F.leaky_relu_(x4()), {"leaky_relu_.default"}), (lambda: F.prelu(x4(), torch.tensor([0.25])), {"_prelu_kernel.default"}),
              (lambda: F.rrelu(x4(), training=True), {"rrelu_with_noise.default"}),
              (lambda: F.rrelu_(x4(), training=True), {"rrelu_with_noise_.default"})],
    "KC103": [(lambda: torch.clamp(x4(), -1, 1), {"clamp.default"}), (lambda: x4().clamp(min=0), {"clamp.default"}),
              (lambda: torch.clip(x4(), 0, 1), {"clamp.default"}),
              (lambda: torch.clamp(x4(), torch.zeros(1), torch.ones(1)), {"clamp.Tensor"}),
              (lambda: x4().clamp_(0, 1), {"clamp_.default"}), (lambda: x4().clamp_(torch.zeros(1), torch.ones(1)), {"clamp_.Tensor"}),
              (lambda: x4().clamp_min(0.0), {"clamp_min.default"}), (lambda: x4().clamp_min(torch.zeros(1)), {"clamp_min.Tensor"}),
              (lambda: x4().clamp_min_(0.0), {"clamp_min_.default"}), (lambda: x4().clamp_max(0.0), {"clamp_max.default"}),
              (lambda: x4().clamp_max(torch.zeros(1)), {"clamp_max.Tensor"}), (lambda: x4().clamp_max_(0.0), {"clamp_max_.default"}),
              (lambda: F.hardtanh(x4()), {"hardtanh.default"}), (lambda: F.relu6(x4()), {"hardtanh.default"}),
              (lambda: nn.ReLU6()(x4()), {"hardtanh.default"}), (lambda: nn.Hardtanh()(x4()), {"hardtanh.default"}),
              (lambda: F.hardtanh_(x4()), {"hardtanh_.default"}), (lambda: F.hardsigmoid(x4()), {"hardsigmoid.default"}),
              (lambda: F.hardswish(x4()), {"hardswish.default"}), (lambda: F.hardshrink(x4()), {"hardshrink.default"}),
              (lambda: F.softshrink(x4()), {"softshrink.default"})],
    "KC104": [(lambda: torch.maximum(x4(), x4()), {"maximum.default"}), (lambda: torch.max(x4(), x4()), {"maximum.default"}),
              (lambda: torch.minimum(x4(), x4()), {"minimum.default"}), (lambda: torch.min(x4(), x4()), {"minimum.default"}),
              (lambda: torch.fmax(x4(), x4()), {"fmax.default"}), (lambda: torch.fmin(x4(), x4()), {"fmin.default"})],
    "KC105": [(lambda: torch.max(x4()), {"max.default"}), (lambda: x4().max(dim=1), {"max.dim"}),
              (lambda: x4().min(), {"min.default"}), (lambda: torch.min(x4(), 1), {"min.dim"}),
              (lambda: torch.amax(x4(), 1), {"amax.default"}), (lambda: torch.amin(x4(), 1), {"amin.default"}),
              (lambda: torch.aminmax(x4()), {"aminmax.default"}), (lambda: torch.median(x4()), {"median.default"}),
              (lambda: x4().median(1), {"median.dim"}), (lambda: torch.nanmedian(x4()), {"nanmedian.default"}),
              (lambda: torch.nanmedian(x4(), 1), {"nanmedian.dim"}), (lambda: torch.kthvalue(v(), 2, 0), {"kthvalue.default"}),
              (lambda: torch.topk(v(), 2), {"topk.default"}), (lambda: torch.sort(v()), {"sort.default"}),
              (lambda: torch.msort(v()), {"sort.default"}), (lambda: torch.sort(v(), stable=True), {"sort.stable"})],
    "KC106": [(lambda: F.max_pool2d(x4(), 2), {"max_pool2d_with_indices.default"}),
              (lambda: F.max_pool1d(x4()[0], 2), {"max_pool2d_with_indices.default"}),
              (lambda: nn.MaxPool2d(2)(x4()), {"max_pool2d_with_indices.default"}),
              (lambda: F.max_pool3d(x4()[None], 2), {"max_pool3d_with_indices.default"}),
              (lambda: F.adaptive_max_pool2d(x4(), 2), {"adaptive_max_pool2d.default"}),
              (lambda: F.adaptive_max_pool3d(x4()[None], 2), {"adaptive_max_pool3d.default"}),
              (lambda: F.fractional_max_pool2d(x4(), 2, output_size=2), {"fractional_max_pool2d.default"}),
              (lambda: F.fractional_max_pool3d(torch.randn(1, 1, 4, 4, 4), 2, output_size=2), {"fractional_max_pool3d.default"})],
    "KC201": [(lambda: torch.sqrt(pos()), {"sqrt.default"}), (lambda: pos().sqrt_(), {"sqrt_.default"}),
              (lambda: torch.rsqrt(pos()), {"rsqrt.default"}), (lambda: pos().rsqrt_(), {"rsqrt_.default"})],
    "KC202": [(lambda: pos() ** 0.5, {"pow.Tensor_Scalar"}), (lambda: torch.pow(pos(), -1.0), {"pow.Tensor_Scalar"}),
              (lambda: torch.float_power(pos(), 0.5), {"pow.Tensor_Scalar"}),
              (lambda: torch.pow(pos(), torch.tensor(0.5)), {"pow.Tensor_Tensor"}), (lambda: pos().pow_(0.5), {"pow_.Scalar"}),
              (lambda: pos().pow_(torch.tensor(0.5)), {"pow_.Tensor"})],
    "KC203": [(lambda: torch.norm(v()), {"linalg_vector_norm.default"}), (lambda: v().norm(dim=1), {"linalg_vector_norm.default"}),
              (lambda: torch.linalg.vector_norm(v(), dim=1), {"linalg_vector_norm.default"}),
              (lambda: torch.linalg.matrix_norm(v()), {"linalg_vector_norm.default"}),
              (lambda: torch.ops.aten.norm.ScalarOpt_dim(v(), 2, [1]), {"norm.ScalarOpt_dim"}),
              (lambda: torch.ops.aten.norm.Scalar(v()), {"norm.Scalar"}),
              (lambda: torch.dist(v(), v()), {"dist.default"}), (lambda: torch.cdist(v(), v()), {"_cdist_forward.default"}),
              (lambda: F.pdist(v()), {"_pdist_forward.default"}),
              (lambda: torch.cdist(torch.randn(30, 3), torch.randn(30, 3)), {"_euclidean_dist.default"}),
              (lambda: torch.ops.aten.norm.ScalarOpt_dim_dtype(v(), 2, [1], False, dtype=torch.float64), {"norm.ScalarOpt_dim_dtype"}),
              (lambda: torch.ops.aten.norm.ScalarOpt_dtype(v(), 2, dtype=torch.float64), {"norm.ScalarOpt_dtype"})],
    "KC204": [(lambda: torch.log(pos()), {"log.default"}), (lambda: pos().log_(), {"log_.default"}),
              (lambda: torch.log2(pos()), {"log2.default"}), (lambda: pos().log2_(), {"log2_.default"}),
              (lambda: torch.log10(pos()), {"log10.default"}), (lambda: pos().log10_(), {"log10_.default"})],
    "KC205": [(lambda: x4() / pos(), {"div.Tensor"}), (lambda: torch.div(x4(), pos()), {"div.Tensor"}),
              (lambda: torch.true_divide(x4(), pos()), {"div.Tensor"}), (lambda: x4() / 2.0, {"div.Tensor"}),
              (lambda: x4().div_(pos()), {"div_.Tensor"}), (lambda: torch.ops.aten.div.Scalar(x4(), 2.0), {"div.Scalar"}),
              (lambda: torch.ops.aten.div_.Scalar(x4(), 2.0), {"div_.Scalar"}),
              (lambda: 1.0 / pos(), {"reciprocal.default"}), (lambda: torch.reciprocal(pos()), {"reciprocal.default"}),
              (lambda: pos().reciprocal_(), {"reciprocal_.default"})],
    "KC206": [(lambda: torch.acos(unit()), {"acos.default"}), (lambda: torch.arccos(unit()), {"acos.default"}),
              (lambda: unit().acos_(), {"acos_.default"}), (lambda: torch.asin(unit()), {"asin.default"}),
              (lambda: unit().asin_(), {"asin_.default"}), (lambda: torch.acosh(unit() + 1), {"acosh.default"}),
              (lambda: (unit() + 1).acosh_(), {"acosh_.default"}), (lambda: torch.atanh(unit()), {"atanh.default"}),
              (lambda: unit().atanh_(), {"atanh_.default"})],
    "KC207": [(lambda: torch.atan2(x4(), x4()), {"atan2.default"}), (lambda: torch.arctan2(x4(), x4()), {"atan2.default"}),
              (lambda: x4().atan2_(x4()), {"atan2_.default"}), (lambda: torch.angle(torch.complex(x4(), x4())), {"angle.default"})],
    "KC301": [(lambda: torch.sign(x4()), {"sign.default"}), (lambda: x4().sign_(), {"sign_.default"}),
              (lambda: torch.sgn(x4()), {"sgn.default"}), (lambda: x4().sgn_(), {"sgn_.default"})],
    "KC302": [(lambda: torch.round(x4()), {"round.default"}), (lambda: torch.round(x4(), decimals=2), {"round.decimals"}),
              (lambda: x4().round_(), {"round_.default"}), (lambda: torch.floor(x4()), {"floor.default"}),
              (lambda: x4().floor_(), {"floor_.default"}), (lambda: torch.ceil(x4()), {"ceil.default"}),
              (lambda: x4().ceil_(), {"ceil_.default"}), (lambda: torch.trunc(x4()), {"trunc.default"}),
              (lambda: torch.fix(x4()), {"trunc.default"}), (lambda: x4().trunc_(), {"trunc_.default"}),
              (lambda: x4() // pos(), {"floor_divide.default"}),
              (lambda: torch.ops.aten.floor_divide.Scalar(x4(), 2.0), {"floor_divide.Scalar"}),
              (lambda: torch.ops.aten.div.Scalar_mode(x4(), 2.0, rounding_mode="floor"), {"div.Scalar_mode"}), (lambda: 2.0 % pos(), {"remainder.Scalar_Tensor"}),
              (lambda: torch.div(x4(), pos(), rounding_mode="floor"), {"div.Tensor_mode"}),
              (lambda: x4() % pos(), {"remainder.Tensor"}), (lambda: torch.ops.aten.remainder.Scalar(x4(), 2.0), {"remainder.Scalar"}),
              (lambda: torch.fmod(x4(), pos()), {"fmod.Tensor"}), (lambda: torch.ops.aten.fmod.Scalar(x4(), 2.0), {"fmod.Scalar"})],
    "KC303": [(lambda: torch.argmax(x4()), {"argmax.default"}), (lambda: x4().argmin(1), {"argmin.default"})],
    "KC305": [(lambda: torch.heaviside(x4(), torch.tensor(0.5)), {"heaviside.default"}),
              (lambda: x4().heaviside_(torch.tensor(0.5)), {"heaviside_.default"})],
    "KC901": [(lambda: x4().clamp_min(1e-8), {"clamp_min.default"}), (lambda: x4().clamp_min_(1e-8), {"clamp_min_.default"})],
}

CASES = [(code, i, fn, expected) for code, calls in CALLS.items() for i, (fn, expected) in enumerate(calls)]


def test_every_runtime_rule_has_calls_here():
    assert set(CALLS) == set(RUNTIME)


@pytest.mark.parametrize("code", sorted(RUNTIME))
def test_listed_overloads_exist(code):
    for name in RUNTIME[code].aten:
        packet, overload = name.split(".")
        assert hasattr(getattr(torch.ops.aten, packet), overload), name


@pytest.mark.parametrize("code,i,fn,expected", CASES, ids=[f"{c}-{i}" for c, i, _, _ in CASES])
def test_call_hits_the_listed_overloads(code, i, fn, expected):
    assert expected <= set(RUNTIME[code].aten), f"{code}: {expected - set(RUNTIME[code].aten)} missing from the catalog"
    rec = Recorder()
    with rec:
        fn()
    assert expected <= rec.ops, f"{code}: expected {expected}, saw {sorted(rec.ops)}"


@pytest.mark.parametrize("code", sorted(RUNTIME))
def test_every_listed_overload_is_hit_by_some_call(code):
    hit = set().union(*(expected for expected_code, _, _, expected in CASES if expected_code == code))
    assert set(RUNTIME[code].aten) <= hit, f"{code}: never exercised: {set(RUNTIME[code].aten) - hit}"


def test_an_aten_overload_belongs_to_one_rule_except_the_eps_floor():
    owner: dict[str, set[str]] = {}
    for code, rt in RUNTIME.items():
        for op in rt.aten:
            owner.setdefault(op, set()).add(code)
    shared = {op: codes for op, codes in owner.items() if len(codes) > 1}
    assert shared == {"clamp_min.default": {"KC103", "KC901"}, "clamp_min_.default": {"KC103", "KC901"}}


def test_numpy_callables_are_patchable_functions():
    import numpy as np

    for rt in RUNTIME.values():
        for name in rt.numpy:
            mod, _, attr = name.rpartition(".")
            target = np.linalg if mod == "numpy.linalg" else np
            assert mod in ("numpy", "numpy.linalg") and callable(getattr(target, attr)), name
