"""The tracer on real training loops: attribution, modules, steps, and unchanged results."""

import threading

import pytest
import torch
import torch.nn.functional as F
from trace_sites import by_code, one
from torch import nn

import kinkcheck

HERE = "tests/trace/test_training.py"


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))


def cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 4),
    )


def train(model, x, y, steps=4, l1=True):
    """A real loop: Adam, cross-entropy plus an L1 penalty (a kink of our own)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses, grads = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        if l1:
            loss = loss + 1e-3 * sum(p.abs().sum() for p in model.parameters())
        loss.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        opt.step()
        losses.append(loss.detach().clone())
    return losses, grads, [p.detach().clone() for p in model.parameters()]


def data(shape):
    g = torch.Generator().manual_seed(1)
    return torch.randn(*shape, generator=g), torch.randint(0, 4, (shape[0],), generator=g)


@pytest.mark.parametrize("make,shape", [(mlp, (16, 20)), (cnn, (8, 1, 16, 16))])
@pytest.mark.slow
def test_training_is_bit_identical_with_and_without_tracing(make, shape):
    x, y = data(shape)
    plain = train(make(), x, y)
    with kinkcheck.trace() as t:
        traced = train(make(), x, y)
    for a, b in zip(plain[0], traced[0]):
        assert torch.equal(a, b)
    for ga, gb in zip(plain[1], traced[1]):
        assert all(torch.equal(u, v) for u, v in zip(ga, gb))
    assert all(torch.equal(u, v) for u, v in zip(plain[2], traced[2]))
    assert one(t, "KC101")["evaluations"] > 0  # it did trace


def test_attribution_module_path_and_steps():
    x, y = data((8, 1, 16, 16))
    model = cnn()
    with kinkcheck.trace(backends="torch") as t:
        train(model, x, y, steps=3, l1=False)
    relus = by_code(t, "KC102")
    assert {s["module"] for s in relus} == {"1 (ReLU)", "4 (ReLU)"}
    for s in relus:
        assert s["path"] == HERE
        assert s["function"] == "train"
        assert s["evaluations"] == 3 * (8 * 8 * 16 * 16 if s["module"] == "1 (ReLU)" else 8 * 8 * 8 * 8)
        assert [r[0] for r in s["per_step"]] == [0, 1, 2]  # optimizer.step() advanced the steps
    pools = by_code(t, "KC106")
    assert {s["module"] for s in pools} == {"2 (MaxPool2d)", "5 (MaxPool2d)"}
    assert t.to_dict()["steps"] == 3


def test_attribution_to_the_users_own_forward_line():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return F.relu(self.fc(x))  # the line the count goes to

    net = Net()
    with kinkcheck.trace(backends="torch") as t:
        net(torch.randn(2, 4))
    s = one(t, "KC102")
    import inspect

    _, start = inspect.getsourcelines(Net.forward)
    assert s["line"] == start + 1 and s["function"].endswith("Net.forward")
    assert s["module"] == "Net"


def test_manual_steps_and_every_step_sampling():
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with kinkcheck.trace(backends="torch", every_step=2) as t:
        for _ in range(5):
            x.abs()
            t.step()
    s = one(t, "KC101")
    assert [r[0] for r in s["per_step"]] == [0, 2, 4]
    assert (s["evaluations"], s["exact"]) == (6, 3)


def test_every_op_sampling_counts_every_nth_call_per_site():
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with kinkcheck.trace(backends="torch", every_op=3) as t:
        for _ in range(7):
            x.abs()
    s = one(t, "KC101")
    assert (s["evaluations"], s["exact"]) == (6, 3)  # calls 1, 4, 7
    assert t.to_dict()["sampling"] == {"every_step": 1, "every_op": 3}


def _dispatch_modes():
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    return len(_get_current_dispatch_mode_stack())


def _hooks():
    from torch.nn.modules import module as m
    from torch.optim import optimizer as o

    return (len(m._global_forward_pre_hooks), len(m._global_forward_hooks),
            len(o._global_optimizer_pre_hooks), len(o._global_optimizer_post_hooks))


@pytest.mark.parametrize("exc", [ValueError, KeyboardInterrupt])
def test_nothing_stays_pushed_or_hooked_after_an_error(exc):
    import numpy as np

    before = (_dispatch_modes(), _hooks(), np.abs, np.maximum)
    x, y = data((16, 20))
    with pytest.raises(exc), kinkcheck.trace():
        assert _dispatch_modes() == before[0] + 1
        assert np.abs is not before[2]
        train(mlp(), x, y, steps=1)
        raise exc("stop")
    assert (_dispatch_modes(), _hooks(), np.abs, np.maximum) == before


def test_error_inside_a_module_forward_does_not_leave_the_module_stack_dirty():
    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    model = nn.Sequential(nn.ReLU(), Boom())
    with kinkcheck.trace(backends="torch") as t:
        with pytest.raises(RuntimeError):
            model(torch.zeros(2))
        torch.zeros(3, requires_grad=True).abs()
    assert one(t, "KC101")["module"] is None


def test_nested_traces_both_count_their_blocks():
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with kinkcheck.trace(backends="torch") as outer:
        x.abs()
        with kinkcheck.trace(backends="torch") as inner:
            x.abs()
        x.abs()
    assert sum(s["evaluations"] for s in by_code(outer, "KC101")) == 6
    assert sum(s["evaluations"] for s in by_code(inner, "KC101")) == 2
    # the inner trace's own counting ops (abs, amax...) are not counted by the outer one
    assert len(by_code(outer, "KC101")) == 3


def test_other_threads_are_not_traced_but_can_trace_themselves():
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    seen = {}

    def worker():
        x.abs()  # not traced: the main thread's trace does not see other threads
        with kinkcheck.trace(backends="torch") as own:
            x.abs()
        seen["own"] = sum(s["evaluations"] for s in by_code(own, "KC101"))

    with kinkcheck.trace(backends="torch") as t:
        th = threading.Thread(target=worker)
        th.start()
        th.join()
        x.abs()
    assert sum(s["evaluations"] for s in by_code(t, "KC101")) == 2
    assert seen["own"] == 2


def test_decorator_form_accumulates_over_calls(tmp_path):
    out = tmp_path / "t.json"
    tracer = kinkcheck.trace(backends="torch", output=str(out))

    @tracer
    def loss(x):
        return x.abs().sum()

    loss(torch.zeros(3, requires_grad=True))
    loss(torch.zeros(3, requires_grad=True))
    site = one(tracer, "KC101")
    assert site["exact"] == 6
    assert site["per_step"] == [[0, 6, 6, 0]]  # no optimizer step between the calls: one step
    assert out.exists()


def test_a_trace_cannot_be_entered_twice_at_once():
    t = kinkcheck.trace(backends="torch")
    with t, pytest.raises(RuntimeError, match="already active"):
        t.__enter__()
    assert _dispatch_modes() == 0


def test_rule_selection():
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with kinkcheck.trace(backends="torch", rules=["KC102"]) as t:
        x.abs()
        x.relu()
    assert {s["code"] for s in t.to_dict()["sites"]} == {"KC102"}


def test_backward_and_optimizer_internals_are_not_counted():
    w = torch.zeros(3, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.1)  # Adam takes sqrt and divides internally
    with kinkcheck.trace(backends="torch") as t:
        w.abs().sum().backward()
        opt.step()
    assert {s["code"] for s in t.to_dict()["sites"]} == {"KC101"}


def test_summary_prints_a_table(capsys):
    with kinkcheck.trace(backends="torch") as t:
        torch.zeros(4, requires_grad=True).abs()
    t.summary()
    out = capsys.readouterr().out
    assert "KC101" in out and "abs" in out and "1 sites" in out
