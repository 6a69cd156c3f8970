"""A hit whose change of subgradient is exactly 0 costs no correction pass: the backward below
an op is linear in the change pushed into it, so a change of zeros moves nothing. The common
case is a ReLU zero that max-pooling passes over (the upstream gradient is 0 there), or a tied
window whose output gets no gradient. The skipped pass gives the rows the full pass gives."""

import pytest
import torch
import torch.nn.functional as F

import kinkcheck
from kinkcheck.trace import Probe
from kinkcheck.trace.backends import torch_probe, torch_probe_rules


def _windows():
    """Four 2x2 windows (in a 4x4 plane, 2 channels) each with an exact 0 that is not the
    window's maximum, and two of them tied at a positive maximum."""
    plane = torch.tensor([[3.0, 0.0, 2.0, 2.0],
                          [1.0, 3.0, 0.0, 1.0],
                          [0.0, 5.0, 4.0, 0.0],
                          [1.0, 2.0, 1.0, 3.0]])
    return torch.stack([plane, plane * 2]).unsqueeze(0)  # (1, 2, 4, 4)


@pytest.fixture(params=["dense", "sparse"])
def zeros_as(request, monkeypatch):
    """The ReLU's zeros as a dense mask, or as a list (numpy's, for larger CPU tensors)."""
    monkeypatch.setattr(torch_probe_rules, "SPARSE_MIN", 1 if request.param == "sparse" else 1 << 62)
    return request.param


def _step(c: torch.Tensor):
    """One probed step of ``(max_pool2d(relu(x * w), 2) * c).sum()``: the sites' rows by op,
    the gradient of ``w``, and how many correction passes ran."""
    w = torch.ones(1, 2, 4, 4, requires_grad=True)
    passes = []
    vjp = torch_probe._vjp

    def spy(edges, grads, leaves):
        passes.append(len(edges))
        return vjp(edges, grads, leaves)

    mp = pytest.MonkeyPatch()
    mp.setattr(torch_probe, "_vjp", spy)
    try:
        with kinkcheck.trace(backends="torch", rules=["KC102", "KC106"], probe=Probe(every=1)) as t:
            (F.max_pool2d(torch.relu(_windows() * w), 2) * c).sum().backward()
    finally:
        mp.undo()
    rows = {s["op"]: s["probe"]["steps"] for s in t.to_dict()["sites"] if s.get("probe")}
    return rows, w.grad, len(passes)


RELU, POOL = "aten.relu.default", "aten.max_pool2d_with_indices.default"


def test_relu_zeros_pooled_away_cost_no_pass(zeros_as):
    c = torch.arange(1.0, 9.0).reshape(1, 2, 2, 2)
    rows, _, passes = _step(c)
    # the ReLU's zeros are hit but never a window's maximum: no gradient reaches them
    (_, hits, rel, cos, dmax), = rows[RELU]
    assert hits == 8 and rel == 0.0 and cos == 1.0 and dmax == 0.0
    # the tied windows get gradient: their pass runs, and moves it
    assert rows[POOL][0][1] > 0 and rows[POOL][0][2] > 0
    assert passes == 1  # the pool's alone


def test_a_tied_window_without_gradient_costs_no_pass():
    c = torch.ones(1, 2, 2, 2)
    c[0, :, 0, :] = 0  # the tied windows' outputs (the top row) get no gradient
    rows, _, passes = _step(c)
    (_, hits, rel, cos, dmax), = rows[POOL]
    assert hits == 4 and rel == 0.0 and cos == 1.0 and dmax == 0.0
    assert passes == 0


@pytest.mark.parametrize("zero_tie", [False, True])
def test_skipping_gives_the_full_passes_rows_bit_for_bit(zero_tie, zeros_as):
    c = torch.arange(1.0, 9.0).reshape(1, 2, 2, 2)
    if zero_tie:
        c[0, :, 0, 0] = -0.0  # the tied windows
        c[0, :, 0, 1] = 0.0
    rows, grad, passes = _step(c)
    mp = pytest.MonkeyPatch()
    mp.setattr(torch_probe_rules, "nonzero", lambda v: True)  # every change pushed down, zeros too
    try:
        full_rows, full_grad, full_passes = _step(c)
    finally:
        mp.undo()
    assert full_passes == 2 and passes < full_passes
    assert rows == full_rows
    assert torch.equal(grad, full_grad)
    w = torch.ones(1, 2, 4, 4, requires_grad=True)  # and as untraced
    (F.max_pool2d(torch.relu(_windows() * w), 2) * c).sum().backward()
    assert torch.equal(grad, w.grad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_nonzero_reads_signed_zeros_as_nothing_and_nan_as_something(dtype):
    d = torch.zeros(3, 5, dtype=dtype)
    d[1, 2] = -0.0
    assert not torch_probe_rules.nonzero(d)
    assert not torch_probe_rules.nonzero(d.t())  # a strided view
    assert not torch_probe_rules.nonzero(torch._neg_view(d))  # a view numpy cannot read
    d[2, 4] = float("nan")
    assert torch_probe_rules.nonzero(d) and torch_probe_rules.nonzero(d.t())
    d[2, 4] = torch.finfo(dtype).tiny / 2  # subnormal
    assert torch_probe_rules.nonzero(d)
