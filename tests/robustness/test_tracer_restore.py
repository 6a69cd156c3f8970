"""The tracer restores exactly what it patched, whatever the order of exits.

After every scenario below, each attribute a backend may patch (the catalog's numpy callables,
``torch.max_pool1d``, the autograd engine entry, torch's global optimizer hooks) is the very
object it was before (``is``), no dispatch mode is left on the stack and torch's "inside a
dispatch mode" flags read as before (Dynamo stops compiling while they are set).
"""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.utils._python_dispatch as pd  # noqa: E402
from torch.optim import optimizer as _opt  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

import kinkcheck  # noqa: E402
from kinkcheck import catalog as _catalog  # noqa: E402
from kinkcheck.trace import patches  # noqa: E402


def _numpy_targets() -> list[tuple[object, str]]:
    out = []
    for rule in _catalog.load().values():
        for qual in rule.runtime.numpy if rule.runtime is not None else ():
            mod, _, attr = qual.rpartition(".")
            try:
                owner = importlib.import_module(mod)
            except ImportError:
                continue
            if hasattr(owner, attr):
                out.append((owner, attr))
    return out


NUMPY_TARGETS = _numpy_targets()
OTHER_TARGETS = [(torch, "max_pool1d"), (torch.autograd, "_engine_run_backward"),
                 (torch.autograd.graph, "_engine_run_backward")]


def snapshot() -> dict:
    """Everything the tracer may touch, by identity."""
    return {
        "attrs": [getattr(owner, attr) for owner, attr in NUMPY_TARGETS + OTHER_TARGETS],
        "pre_hooks": dict(_opt._global_optimizer_pre_hooks),
        "post_hooks": dict(_opt._global_optimizer_post_hooks),
        "modes": torch._C._len_torch_dispatch_stack(),
        "flags": (pd._is_in_torch_dispatch_mode, pd._is_in_non_infra_torch_dispatch_mode,
                  pd._is_in_any_mode_without_ignore_compile_internals),
    }


def assert_restored(before: dict) -> None:
    after = snapshot()
    changed = [f"{owner.__name__}.{attr}" for (owner, attr), a, b in
               zip(NUMPY_TARGETS + OTHER_TARGETS, before["attrs"], after["attrs"]) if a is not b]
    assert not changed, f"left patched: {changed}"
    assert patches.active() == []
    for key in ("pre_hooks", "post_hooks"):
        assert after[key].keys() == before[key].keys()
        assert all(after[key][k] is before[key][k] for k in before[key])
    assert after["modes"] == before["modes"] == 0
    assert after["flags"] == before["flags"] == (False, False, False)


def evaluations(t, code: str = "KC101") -> int:
    return sum(s["evaluations"] for s in t.to_dict()["sites"] if s["code"] == code)


def kinks(n: int = 1) -> None:
    """``n`` traced abs evaluations in torch (2 elements each) and in numpy (3 each)."""
    for _ in range(n):
        torch.tensor([0.0, 1.0], requires_grad=True).abs()  # differentiated: counted
        np.abs(np.array([0.0, 1.0, -1.0]))


def test_exits_out_of_order_in_one_thread():
    before = snapshot()
    a, b = kinkcheck.trace(), kinkcheck.trace()
    a.__enter__()
    b.__enter__()
    kinks()  # both count
    a.__exit__(None, None, None)
    kinks()  # only b is still running
    b.__exit__(None, None, None)
    kinks()  # neither
    assert_restored(before)
    assert evaluations(a) == 2 + 3
    assert evaluations(b) == 2 * (2 + 3)


def test_an_exit_from_under_a_users_mode_keeps_the_users_mode_running():
    class Counting(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops += 1
            return func(*args, **(kwargs or {}))

    before = snapshot()
    t, user = kinkcheck.trace(backends="torch"), Counting()
    t.__enter__()
    user.__enter__()
    t.__exit__(None, None, None)  # not the innermost: taken out from under the user's mode
    assert torch._C._len_torch_dispatch_stack() == 1 and torch._C._get_dispatch_stack_at(0) is user
    x = torch.tensor([0.0])
    ops = user.ops
    x.abs()
    assert user.ops == ops + 1
    user.__exit__(None, None, None)
    assert_restored(before)


def test_a_step_that_raised_inside_nested_traces_then_out_of_order_exits():
    class Failing(torch.optim.SGD):
        def step(self, closure=None):
            raise RuntimeError("step failed")

    before = snapshot()
    w = torch.zeros(2, requires_grad=True)
    opt = Failing([w], lr=0.1)
    a, b = kinkcheck.trace(backends="torch"), kinkcheck.trace(backends="torch")
    a.__enter__()
    b.__enter__()
    with pytest.raises(RuntimeError, match="step failed"):
        opt.step()  # the hooks took both modes off the stack; the post hook never ran
    a.__exit__(None, None, None)
    kinks()
    b.__exit__(None, None, None)
    assert_restored(before)
    assert evaluations(b) == 2


@pytest.mark.slow
def test_one_trace_per_thread_in_four_threads_exiting_in_any_order():
    before = snapshot()
    n = 4
    inside = threading.Barrier(n)
    turn = [threading.Event() for _ in range(n)]
    order = [2, 0, 3, 1]
    traces: dict[int, object] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with kinkcheck.trace() as t:
                traces[i] = t
                kinks(i + 1)
                inside.wait(timeout=30)  # all four are inside at once
                turn[i].wait(timeout=30)
                kinks(1)
            nxt = order.index(i) + 1
            if nxt < n:
                turn[order[nxt]].set()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
            for e in turn:
                e.set()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    turn[order[0]].set()
    for th in threads:
        th.join(timeout=60)
    assert not errors, errors
    assert_restored(before)
    for i, t in traces.items():
        assert evaluations(t) == (i + 2) * (2 + 3), i  # each thread's own calls, no one else's


@pytest.mark.slow
def test_a_decorated_function_that_recurses():
    before = snapshot()
    tracer = kinkcheck.trace()

    @tracer
    def descend(depth: int) -> float:
        x = torch.tensor([0.0, float(depth)], requires_grad=True)
        y = float(x.abs().sum())
        return y + (descend(depth - 1) if depth else 0.0)

    assert descend(3) == 3 + 2 + 1 + 0
    assert_restored(before)
    assert evaluations(tracer) == 4 * 2  # every level counted once
    assert descend(1) == 1  # and it can run again
    assert evaluations(tracer) == 6 * 2
    assert_restored(before)


@pytest.mark.slow
def test_a_decorated_function_running_in_two_threads_at_once():
    before = snapshot()
    tracer = kinkcheck.trace()
    both_inside = threading.Barrier(2)
    first_out = threading.Event()
    results: dict[int, float] = {}
    errors: list[BaseException] = []

    @tracer
    def work(i: int) -> float:
        kinks(i + 1)
        both_inside.wait(timeout=30)
        if i == 1:
            first_out.wait(timeout=30)  # thread 0 leaves first, thread 1 is still traced
        kinks(1)
        return float(np.abs(np.array([-float(i)]))[0])

    def run(i: int) -> None:
        try:
            results[i] = work(i)
            if i == 0:
                first_out.set()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
            first_out.set()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors, errors
    assert results == {0: 0.0, 1: 1.0}
    assert_restored(before)
    # thread 0: 2 calls of kinks() + 1 np.abs; thread 1: 3 calls + 1 np.abs
    assert evaluations(tracer) == 5 * (2 + 3) + 2
    with tracer:  # entering it in the usual way still works afterwards
        kinks()
    assert_restored(before)


def test_the_same_trace_cannot_be_entered_twice_in_one_thread():
    before = snapshot()
    t = kinkcheck.trace()
    with t, pytest.raises(RuntimeError, match="already active"):
        t.__enter__()
    assert_restored(before)
