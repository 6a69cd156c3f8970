"""Nothing is counted inside backward or optimizer.step(), so the tracer's dispatch mode steps
off the stack while they run (their ops skip the trip through Python); it is always back
afterwards, also when they raise, and never moves a user's own mode."""

import pytest
import torch
from trace_sites import by_code, one
from torch.utils._python_dispatch import TorchDispatchMode

import kinkcheck
from kinkcheck.trace.backends.torch import _Mode


def own_modes():
    """How many kinkcheck modes are on this thread's dispatch stack."""
    n = torch._C._len_torch_dispatch_stack()
    return sum(isinstance(torch._C._get_dispatch_stack_at(i), _Mode) for i in range(n))


class Probe(torch.autograd.Function):
    """The identity; backward records the stack and takes an abs of its own (not counted). Its
    forward runs under no_grad (autograd differentiates the Function, not its ops): callers
    take the counted abs before it."""

    seen: list = []  # noqa: RUF012 - a test probe
    fail = False

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        Probe.seen.append(own_modes())
        if Probe.fail:
            raise RuntimeError("backward failed")
        return g + (x - x).abs()


class ProbeSGD(torch.optim.SGD):
    seen: list = []  # noqa: RUF012 - a test probe
    fail = False

    def step(self, closure=None):
        ProbeSGD.seen.append(own_modes())
        if ProbeSGD.fail:
            raise RuntimeError("step failed")
        return super().step(closure)


def engine():
    return torch.autograd._engine_run_backward, torch.autograd.graph._engine_run_backward


def test_backward_and_step_run_without_the_mode_and_it_comes_back():
    before = engine()
    Probe.seen.clear()
    ProbeSGD.seen.clear()
    w = torch.tensor([0.0, 1.0, -2.0], requires_grad=True)
    opt = ProbeSGD([w], lr=0.1)
    with kinkcheck.trace(backends="torch") as t:
        assert own_modes() == 1
        Probe.apply(w.abs()).sum().backward()
        assert own_modes() == 1
        opt.step()
        assert own_modes() == 1
        Probe.apply(w.abs()).sum().backward()
    assert Probe.seen == [0, 0] and ProbeSGD.seen == [0]
    # forward abs only, both times (w[0] stays 0: its gradient is sign(0) = 0)
    assert [(s["evaluations"], s["exact"]) for s in by_code(t, "KC101")] == [(3, 1), (3, 1)]
    assert [[r[0] for r in s["per_step"]] for s in by_code(t, "KC101")] == [[0], [1]]
    assert own_modes() == 0 and engine() == before


def test_nested_traces_both_step_off_and_both_come_back():
    Probe.seen.clear()
    w = torch.zeros(2, requires_grad=True)
    with kinkcheck.trace(backends="torch"), kinkcheck.trace(backends="torch") as inner:
        Probe.apply(w.abs()).sum().backward()
        assert own_modes() == 2
    assert Probe.seen == [0]
    assert one(inner, "KC101")["exact"] == 2
    assert own_modes() == 0


def test_a_users_mode_on_top_stays_and_keeps_ours_underneath():
    class Counting(TorchDispatchMode):
        ops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Counting.ops += 1
            return func(*args, **(kwargs or {}))

    Probe.seen.clear()
    w = torch.zeros(2, requires_grad=True)
    with kinkcheck.trace(backends="torch"), Counting():
        Probe.apply(w.abs()).sum().backward()
    assert Probe.seen == [1]  # not popped from under the user's mode
    assert Counting.ops > 0


@pytest.mark.parametrize("where", ["backward", "step"])
def test_a_raising_backward_or_step_leaves_nothing_off_or_patched(where):
    before = engine()
    w = torch.zeros(2, requires_grad=True)
    opt = ProbeSGD([w], lr=0.1)
    Probe.fail, ProbeSGD.fail = where == "backward", where == "step"
    try:
        with kinkcheck.trace(backends="torch") as t:
            with pytest.raises(RuntimeError, match="failed"):
                Probe.apply(w.abs()).sum().backward()
                opt.step()
            if where == "backward":
                assert own_modes() == 1
                (w * 1).abs()  # still counted after a failed backward
    finally:
        Probe.fail = ProbeSGD.fail = False
    assert own_modes() == 0 and engine() == before
    assert sum(s["evaluations"] for s in by_code(t, "KC101")) == (4 if where == "backward" else 2)


def test_an_optimizer_subclass_calling_super_step_counts_one_step():
    """Once any SGD has been built, SGD.step is wrapped with the global hooks too, so a
    subclass's step() that calls super().step() runs them twice: still one training step."""
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # patches SGD.step
    ProbeSGD.seen.clear()
    w = torch.tensor([0.0, 1.0], requires_grad=True)
    opt = ProbeSGD([w], lr=0.1)
    with kinkcheck.trace(backends="torch") as t:
        for _ in range(3):
            w.abs().sum().backward()
            opt.step()
            assert own_modes() == 1
    assert ProbeSGD.seen == [0, 0, 0]
    assert t.to_dict()["steps"] == 3
    assert [r[0] for r in one(t, "KC101")["per_step"]] == [0, 1, 2]
