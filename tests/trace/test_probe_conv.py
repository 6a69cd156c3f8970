"""A first convolution's changes (its input needs no gradient) are pushed to its weight and bias
from the hits alone, one batch per convolution and pass (:class:`torch_probe._FirstConv`),
instead of one engine pass each: the rows agree with the engine's passes to the model's
rounding (exactly where the sums are exact), and training is unchanged."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.graph import GradientEdge

import kinkcheck
from kinkcheck.trace import Probe
from kinkcheck.trace.backends import torch_probe, torch_probe_push, torch_probe_rules

GEOMETRIES = {
    "3x3 pad 1": (nn.Conv2d, dict(kernel_size=3, padding=1), (6, 2, 8, 8)),
    "stride 2": (nn.Conv2d, dict(kernel_size=3, stride=2), (6, 2, 9, 9)),
    "dilation 2, pad 2, no bias": (nn.Conv2d, dict(kernel_size=3, padding=2, dilation=2, bias=False), (6, 2, 8, 8)),
    "2x3 kernel, pad (1, 0)": (nn.Conv2d, dict(kernel_size=(2, 3), padding=(1, 0)), (6, 2, 8, 8)),
    "1-d": (nn.Conv1d, dict(kernel_size=3, padding=1), (6, 2, 16)),
    "3-d": (nn.Conv3d, dict(kernel_size=3, padding=1), (4, 1, 4, 4, 4)),
}


def _step(geometry, dtype, pool=True):
    """A probed step of conv -> ReLU (-> max-pool) -> linear: the rows by op, the parameters'
    gradients, and how many correction passes went through the engine."""
    cls, kw, shape = GEOMETRIES[geometry]
    g = torch.Generator().manual_seed(7)
    conv = cls(shape[1], 4, **kw).to(dtype)
    with torch.no_grad():
        conv.weight.copy_(torch.randint(-2, 3, conv.weight.shape, generator=g).to(dtype))
        if conv.bias is not None:
            conv.bias.fill_(-1.0)
    x = torch.randint(0, 3, shape, generator=g).to(dtype)  # integer sums: ReLU zeros, tied windows
    with torch.no_grad():
        h = F.relu(conv(x))
        if pool:
            h = F.max_pool2d(h, 2)
    lin = nn.Linear(h[0].numel(), 3).to(dtype)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=g, dtype=dtype))
        lin.bias.zero_()
    passes = []
    vjp = torch_probe._vjp

    def spy(edges, grads, leaves):
        passes.append(1)
        return vjp(edges, grads, leaves)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(torch_probe, "_vjp", spy)
        with kinkcheck.trace(backends="torch", rules=["KC102", "KC106"], probe=Probe(every=1)) as t:
            h = F.relu(conv(x))
            if pool:
                h = F.max_pool2d(h, 2)
            F.cross_entropy(lin(h.flatten(1)), torch.arange(shape[0]) % 3).backward()
    rows = {s["op"]: s["probe"]["steps"] for s in t.to_dict()["sites"] if s.get("probe")}
    return rows, [p.grad.clone() for p in (*conv.parameters(), *lin.parameters())], len(passes)


@pytest.fixture(autouse=True)
def _zeros_as_a_list(monkeypatch):
    monkeypatch.setattr(torch_probe_rules, "SPARSE_MIN", 1)  # these small tensors' ReLU zeros as a list


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_first_conv_rows_match_the_engine_passes(monkeypatch, geometry, dtype):
    pool = not geometry.startswith(("1-d", "3-d"))
    rows, grads, passes = _step(geometry, dtype, pool)
    monkeypatch.setattr(torch_probe_push, "CONV_PATCHES", 0)  # every change through the engine
    plain_rows, plain_grads, plain_passes = _step(geometry, dtype, pool)
    assert passes < plain_passes  # (a max-pool whose windows do not tile finds its ties densely: the engine)
    assert rows.keys() == plain_rows.keys() and rows["aten.relu.default"][0][1] > 0
    for op, got in rows.items():
        want = plain_rows[op]
        assert [r[:2] for r in got] == [r[:2] for r in want]
            # the upstream gradient's values are not integers: the sums round, in their own order
        assert [r[2:] for r in got] == [pytest.approx(r[2:], rel=1e-5, abs=1e-12) for r in want]
    assert any(r[2] > 0 for r in rows["aten.relu.default"])
    assert all(torch.equal(a, b) for a, b in zip(grads, plain_grads))  # training is the same


def _plan(conv, x, d=None, leaves=None):
    y = conv(x)
    d = torch.zeros(y.shape) if d is None else d
    return torch_probe._FirstConv.plan(GradientEdge(y.grad_fn, 0), d, leaves or list(conv.parameters()))


def test_only_plain_first_convolutions_of_finite_inputs_are_batched():
    x = torch.rand(2, 2, 6, 6)
    assert _plan(nn.Conv2d(2, 4, 3), x) is not None
    assert _plan(nn.Conv2d(2, 4, 3), x.clone().index_fill_(3, torch.tensor([2]), float("inf"))) is None
    assert _plan(nn.Conv2d(2, 4, 3, groups=2), x) is None
    assert _plan(nn.ConvTranspose2d(2, 4, 3), x) is None
    assert _plan(nn.Conv2d(2, 4, 3), x.clone().requires_grad_()) is None  # its input needs a gradient
    conv = nn.Conv2d(2, 4, 3)
    assert _plan(conv, x, leaves=[conv.weight]) is None  # a leaf the pass does not accumulate into
    assert _plan(conv, x, d=torch.zeros(2, 4, 4, 4, dtype=torch.float64)) is None  # another dtype
    conv.weight.register_hook(lambda g: g * 2)
    conv.weight.register_hook(lambda g: g)  # a user's hook beside the probe's
    assert _plan(conv, x) is None


def test_a_hit_without_gradient_adds_nothing_and_a_full_batch_takes_the_engine(monkeypatch):
    conv = nn.Conv2d(1, 2, 3, padding=1)
    x = torch.rand(1, 1, 4, 4)
    batch = _plan(conv, x)
    assert batch is not None
    d = torch.zeros(1, 2, 4, 4)
    d[0, 1, 2, 3] = 2.0
    import numpy as np
    assert batch.add("site", d, (np.array([0, 1 * 16 + 2 * 4 + 3]),))  # d is 0 at the first hit
    (w, b), = batch.changes(2, torch_probe.Buffers(), "k")
    want_w, want_b = torch.autograd.grad(conv(x), list(conv.parameters()), d)
    assert torch.allclose(w, want_w) and torch.equal(b, want_b)
    monkeypatch.setattr(torch_probe_push, "CONV_PATCHES", 10)
    assert not batch.add("site", d, (np.arange(16),))
