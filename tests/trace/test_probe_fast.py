"""The probe's quick paths give what the plain ones give: corrections straight into the engine
against torch.autograd.grad, the numpy stores of a sparse max-pool change against index_add,
and the numpy sums of small CPU leaves beside torch's sums of the others."""

import pytest
import torch
import torch.nn.functional as F
from test_probe_sparse import pool_tie
from trace_sites import assert_plain_step_sums

import kinkcheck
from kinkcheck.trace import Probe
from kinkcheck.trace.backends import torch_probe, torch_probe_push, torch_probe_rules
from kinkcheck.trace.backends.torch_count import ReluWindows
from kinkcheck.trace.backends.torch_probe_buffers import FRESH
from kinkcheck.trace.backends.torch_probe_pool import PoolTie
from kinkcheck.trace.backends.torch_probe_stats import StepSums
from kinkcheck.trace.backends.torch_windows import _runner_up


def _cnn_probe_rows():
    """A probed step of conv -> ReLU -> max-pool -> linear with ReLU zeros and tied windows
    that the gradient reaches: the probe's rows and the parameters' gradients."""
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 3, (8, 1, 8, 8), generator=g).float()
    conv = torch.nn.Conv2d(1, 4, 3, padding=1)
    lin = torch.nn.Linear(4 * 4 * 4, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.randint(-2, 3, conv.weight.shape, generator=g).float())
        conv.bias.fill_(-1.0)
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=g))
        lin.bias.copy_(torch.randn(lin.bias.shape, generator=g))  # not the global generator: the same step each call
    params = [*conv.parameters(), *lin.parameters()]
    with kinkcheck.trace(backends="torch", rules=["KC102", "KC106"], probe=Probe(every=1)) as t:
        out = lin(F.max_pool2d(torch.relu(conv(x)), 2).flatten(1))
        F.cross_entropy(out, torch.arange(8) % 3).backward()
    rows = {s["op"]: s["probe"]["steps"] for s in t.to_dict()["sites"] if s.get("probe")}
    return rows, [p.grad.clone() for p in params]


def test_corrections_straight_into_the_engine_match_autograd_grad(monkeypatch):
    fast, grads_fast = _cnn_probe_rows()
    monkeypatch.setattr(torch_probe_push, "_ENGINE", None)  # another torch: the public torch.autograd.grad
    plain, grads_plain = _cnn_probe_rows()
    assert fast == plain and len(fast) == 2
    assert all(rows[0][1] > 0 and rows[0][2] > 0 for rows in fast.values())  # hit, and moved
    assert all(torch.equal(a, b) for a, b in zip(grads_fast, grads_plain))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_numpy_stores_of_the_sparse_change_equal_index_add(dtype):
    g = torch.Generator().manual_seed(5)
    x = F.relu(torch.randint(-2, 3, (3, 4, 12, 12), generator=g).to(dtype))
    tie, vals = pool_tie(x, 2, hint=True)
    assert tie.sparse is not None
    u = torch.randn(vals.shape, generator=g, dtype=dtype)
    u.view(-1)[tie.sparse[0][:3]] = torch.tensor([-0.0, 0.0, float("inf")], dtype=dtype)  # signs of zeros, inf
    (_, d), = tie.deltas(u)
    tied, last, first = (torch.from_numpy(a) for a in tie.sparse)
    v = u.reshape(-1)[tied]
    want = torch.zeros(x.numel(), dtype=dtype).index_add_(0, last, v).index_add_(0, first, -v).reshape(x.shape)
    assert torch.equal(d, want) and torch.equal(d.signbit(), want.signbit())


def test_small_cpu_leaves_in_numpy_beside_others_in_torch():
    torch.manual_seed(0)
    shapes = {1: ((300, 300), torch.float32), 2: ((7,), torch.float32), 3: ((5, 3), torch.float16),
              4: ((11,), torch.float64), 5: ((4,), torch.float32)}
    g = {k: [None, torch.randn(s).to(dt)] for k, (s, dt) in shapes.items() if k != 5}  # leaf 5: no gradient
    d = {k: torch.randn(shapes[k][0]).to(shapes[k][1]) for k in (5, 3, 1, 2)}
    sums = StepSums(g)
    assert tuple(sums.host) == (2, 4)  # the small float32/64 CPU leaves
    assert_plain_step_sums(sums, g, d)


def _passes(monkeypatch, start=None):
    """The CNN step of :func:`_cnn_probe_rows` with each correction pass's leaf gradients
    kept (and ``PoolTie.start`` replaced by ``start`` when given); every pass through the
    engine (not the first convolution's gather, :func:`torch_probe._first_conv`)."""
    got = []
    vjp = torch_probe._vjp

    def spy(edges, grads, leaves):
        out = vjp(edges, grads, leaves)
        got.append([None if c is None else c.clone() for c in out])
        return out

    with monkeypatch.context() as m:
        m.setattr(torch_probe, "_vjp", spy)
        m.setattr(torch_probe_push, "CONV_PATCHES", 0)
        if start is not None:
            m.setattr(PoolTie, "start", start)
        rows, grads = _cnn_probe_rows()
    return rows, grads, got


def test_a_pool_over_a_relu_starts_its_pass_below_the_relu(monkeypatch):
    taken = []
    start = PoolTie.start

    def spy(self, nxt):
        below = start(self, nxt)
        taken.append((nxt[0].name(), below[0].name()))
        return below

    rows, grads, passes = _passes(monkeypatch, spy)
    assert taken == [("ReluBackward0", "ConvolutionBackward0")]
    plain_rows, plain_grads, plain_passes = _passes(monkeypatch, lambda self, nxt: nxt)  # through the ReLU
    assert rows == plain_rows and len(passes) == len(plain_passes) == 2
    for ours, theirs in zip(passes, plain_passes):  # each pass's change of each leaf, bit for bit
        assert [a is None for a in ours] == [b is None for b in theirs] and any(a is not None for a in ours)
        assert all(torch.equal(a, b) and torch.equal(a.signbit(), b.signbit())
                   for a, b in zip(ours, theirs) if a is not None)
    assert all(torch.equal(a, b) for a, b in zip(grads, plain_grads))


def test_a_hook_on_the_relu_output_keeps_the_pass_through_the_relu():
    x = F.relu(torch.tensor([[[[3.0, 2.0], [2.0, -1.0]], [[2.0, 2.0], [0.0, 1.0]]]], requires_grad=True) * 1.0)
    out = F.max_pool2d_with_indices(x, 2)
    vals = out[0].detach()
    windows = ReluWindows(vals, _runner_up(x.detach(), vals, [2, 2]))
    nxt = out[0].grad_fn.next_functions[0]

    def tie():
        t = PoolTie(x, 2, ((2, 2), (2, 2), (0, 0), (1, 1)))
        t.zero_harmless = True
        t.bind(out, (x, (2, 2), windows))
        assert t.sparse is not None and t.hits == 1
        return t

    assert nxt[0] is x.grad_fn and tie().start(nxt)[0].name() == "MulBackward0"  # below the ReLU
    x.register_hook(lambda g: g * 2)  # the user's backward doubles what passes the ReLU's output
    assert tie().start(nxt) is nxt


def test_relu_zeros_as_a_list_give_the_dense_masks_changes(monkeypatch):
    monkeypatch.setattr(torch_probe_rules, "SPARSE_MIN", 1)  # this small CNN's zeros as a list
    rows, grads, passes = _passes(monkeypatch)
    monkeypatch.setattr(torch_probe_rules, "SPARSE_MIN", 1 << 62)  # as a dense 0/1 mask
    dense_rows, dense_grads, dense_passes = _passes(monkeypatch)
    assert rows == dense_rows and rows["aten.relu.default"][0][2] > 0
    for ours, theirs in zip(passes, dense_passes, strict=True):  # each pass's change of each leaf
        assert [a is None for a in ours] == [b is None for b in theirs]
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs) if a is not None)
    assert all(torch.equal(a, b) for a, b in zip(grads, dense_grads))


def test_relu_zeros_of_a_large_cpu_tensor_are_kept_as_a_list():
    x = torch.randn(64, 128)
    x[3, 5] = x[60, 7] = 0.0
    k, hits = torch_probe_rules._sparse_zeros(x, FRESH)
    assert k == 2 and hits.idx.tolist() == [3 * 128 + 5, 60 * 128 + 7]
    u = torch.randn(64, 128)
    want = u * (x == 0)
    assert torch.equal(hits.delta(u, (64, 128), torch.float32, FRESH), want)
    assert torch.equal(hits.delta(u.double(), (64, 128), torch.float32, FRESH), want)  # another dtype: dense
    assert torch.equal(hits.delta(torch._neg_view(-u), (64, 128), torch.float32, FRESH), want)  # numpy refuses it
    u[3, 5] = u[60, 7] = 0.0
    assert hits.delta(u, (64, 128), torch.float32, FRESH) is None  # no gradient reaches them: no change
    assert torch_probe_rules._sparse_zeros(x[:, :64], FRESH) is None  # not contiguous: a dense mask
    assert torch_probe_rules._sparse_zeros(torch.zeros(64, 128), FRESH) is None  # zeros everywhere: dense
