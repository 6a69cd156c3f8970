"""Tracer counts of ReLU inputs against an independent count made with forward hooks,
on the digits MLP that bench/relu_zeros.py trains, in low precision where zeros are common."""

import pytest
import torch
import torch.nn.functional as F
from trace_sites import by_code
from torch import nn

import kinkcheck


def digits(dtype):
    sklearn = pytest.importorskip("sklearn.datasets")
    d = sklearn.load_digits()
    x = torch.tensor(d.data[:256] / 16.0, dtype=dtype)
    return x, torch.tensor(d.target[:256])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.slow
def test_tracer_matches_hook_counts(dtype):
    x, y = digits(dtype)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    counted = {"evals": 0, "zeros": 0, "near": 0}

    def hook(mod, inputs):
        (inp,) = inputs
        a = inp.detach().abs()
        tol = 4 * torch.finfo(dtype).eps * a.amax() + 1e-30
        counted["evals"] += inp.numel()
        counted["zeros"] += int((inp == 0).sum())
        counted["near"] += int(((a > 0) & (a <= tol)).sum())

    for m in model:
        if isinstance(m, nn.ReLU):
            m.register_forward_pre_hook(hook)
    with kinkcheck.trace(backends="torch", rules=["KC102"]) as t:
        for _ in range(20):
            opt.zero_grad()
            F.cross_entropy(model(x).float(), y).backward()
            opt.step()
    sites = by_code(t, "KC102")
    assert sum(s["evaluations"] for s in sites) == counted["evals"] == 20 * 256 * 128
    assert sum(s["exact"] for s in sites) == counted["zeros"]
    assert sum(s["near"] for s in sites) == counted["near"]
    if dtype == torch.bfloat16:
        assert counted["zeros"] > 0  # bfloat16 does land on ReLU's kink
