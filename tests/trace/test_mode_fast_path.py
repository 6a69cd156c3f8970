"""The dispatch mode's fast path: ops looked up by id in what the mode has seen, non-kink
overloads called through their C entry, kink ops still sent to the backend every time."""

import torch

import kinkcheck
from kinkcheck.trace.backends.torch_mode import _Mode

aten = torch.ops.aten


def _mode(t):
    (backend,) = t._entries[next(iter(t._entries))]
    return backend.mode


def test_kink_ops_are_counted_every_time_among_remembered_plain_ops():
    w = torch.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    x = torch.tensor([[1.0, 1.0], [-1.0, 2.0]])
    want = [torch.relu(x @ w + i) for i in range(3)]
    with kinkcheck.trace(backends="torch", rules="KC102") as t:
        got = [torch.relu(x @ w + i) for i in range(3)]
        mode = _mode(t)
        assert mode._plain[id(aten.add.Tensor)] is aten.add.Tensor._op
        assert mode._kinks[id(aten.relu.default)] is mode.table[aten.relu.default]
        assert id(aten.relu.default) not in mode._plain
    assert all(torch.equal(a, b) for a, b in zip(got, want))
    (site,) = [s for s in t.sites.values() if s.op == "aten.relu.default"]
    assert site.calls == 3 and site.evaluations == 3 * 4


def test_an_op_that_is_not_a_plain_overload_is_called_as_it_is():
    with kinkcheck.trace(backends="torch", rules="KC102") as t:
        mode = _mode(t)

        def other(*args):
            return "called"

        assert mode._learn(other) is other
        assert mode._plain[id(other)] is other and other in mode._held


def test_a_new_mode_learns_afresh():
    with kinkcheck.trace(backends="torch", rules="KC102") as t:
        torch.ones(2) + 1
        first = _mode(t)
    with kinkcheck.trace(backends="torch", rules="KC102") as t2:
        second = _mode(t2)
        assert isinstance(second, _Mode) and second is not first and not second._plain
