"""The three ways of counting agree: host (CPU default), device (eager, no sync) and fused
(one torch.compile'd kernel, the CUDA default). On a machine with CUDA the same training
run is also counted on the GPU and compared with the CPU."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kinkcheck

KEYS = ("evaluations", "exact", "near", "harmless", "histogram")


def workload(device):
    """A CNN step with overlapping pooling (after a ReLU: harmless ties), plus the other kinds."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-2, 3, (4, 3, 12, 12), generator=g).float().to(device)
    x[0, 0, 0, :3] = torch.tensor([1.5e-7, -2e-9, 3e-30])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1), nn.MaxPool2d(2)).to(device)
    model[0].weight.data.round_()
    model[0].bias.data.zero_()
    model(x).abs().sum().backward()
    F.relu(x)
    x.clamp(-1, 1)
    torch.maximum(x, x.flip(0))
    x.amax(dim=1)
    x / x.flip(1)
    torch.acos(x.clamp(-1, 1))
    torch.atan2(x, x.flip(2))
    x.topk(3, dim=-1)


def counts(device, counting):
    with kinkcheck.trace(only_differentiated=False, backends="torch", counting=counting) as t:
        workload(device)
    return {(s["line"], s["code"], s["op"], s["module"]): {k: s[k] for k in KEYS} for s in t.to_dict()["sites"]}


@pytest.mark.slow
def test_device_counting_matches_host_counting():
    host = counts("cpu", "host")
    assert sum(s["exact"] for s in host.values()) > 0 and sum(s["harmless"] for s in host.values()) > 0
    assert sum(s["near"] for s in host.values()) > 0
    assert counts("cpu", "device") == host


@pytest.mark.slow
def test_fused_counting_matches_host_counting():
    pytest.importorskip("torch._inductor")
    assert counts("cpu", "fused") == counts("cpu", "host")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_counts_match_cpu():
    assert counts("cuda", "auto") == counts("cpu", "host")
    assert counts("cuda", "device") == counts("cpu", "host")
