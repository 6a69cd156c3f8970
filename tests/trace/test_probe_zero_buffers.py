"""The probe's buffers kept zero between probed steps (a sparse delta's stores into zeros): each
use starts from zeros whatever the last step wrote, and a probed training run reads the same
rows as with a fresh tensor of zeros per delta."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kinkcheck
from kinkcheck.trace.backends import torch_probe_buffers
from kinkcheck.trace.backends.torch_probe_buffers import Buffers
from kinkcheck.trace.backends.torch_probe_rules import Sparse


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_kept_zero_buffer_is_zeros_at_each_step(dtype):
    bufs = Buffers()
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(4):
        idx = rng.choice(600, size=25, replace=False)
        alloc = bufs.alloc("site")
        d = Sparse(idx).delta(torch.full((20, 30), -0.5, dtype=dtype), (20, 30), dtype, alloc)
        want = torch.zeros(600, dtype=dtype)
        want[torch.from_numpy(idx)] = -0.5
        assert torch.equal(d.view(-1), want) and not d.view(-1)[want == 0].signbit().any()
        seen.add(d.data_ptr())
        bufs.step_done()
    assert len(seen) == 1  # the same buffer, put back to zeros between steps
    bufs.clear()
    assert not bufs.zero_bufs and not bufs.dirty and bufs.bytes == 0


def test_a_buffer_over_the_limit_is_fresh_and_not_kept():
    bufs = Buffers(limit=1000)
    d = bufs.alloc("site").zeros((600,), torch.float32, torch.device("cpu"), np.array([1]))
    assert torch.equal(d, torch.zeros(600)) and not bufs.zero_bufs and not bufs.dirty


class _Net(nn.Module):
    """A ReLU read by a linear layer (its zeros get a gradient) and by a 2x2 max-pool (integer
    values: windows tie above 0), so both sites' swaps move the step's gradient."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.a = nn.Linear(4 * 16 * 16, 3)
        self.b = nn.Linear(4 * 8 * 8, 3)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randint(-1, 2, self.conv.weight.shape).float())
            self.conv.bias.zero_()

    def forward(self, x):
        h = F.relu(self.conv(x))
        return self.a(h.flatten(1)) + self.b(F.max_pool2d(h, 2).flatten(1))


def _run(steps=4):
    """The probe's rows of a few probed steps whose hits move from step to step."""
    torch.manual_seed(0)
    net = _Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    g = torch.Generator().manual_seed(1)
    with kinkcheck.trace(backends="torch", rules=["KC102", "KC106"], probe=1) as t:
        for _ in range(steps):
            x = torch.randint(0, 3, (32, 1, 16, 16), generator=g).float()
            y = torch.randint(0, 3, (32,), generator=g)
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    return {(s["code"], s["line"]): s["probe"]["steps"] for s in t.to_dict()["sites"] if s.get("probe")}


def test_probed_steps_read_as_with_fresh_zeros(monkeypatch):
    kept = _run()
    assert sum(len(rows) for rows in kept.values()) >= 6 and all(r[2] and r[2] > 0 for rows in kept.values() for r in rows)

    def fresh(self, shape, dtype, device, *touched):
        self.slot += 1
        return torch.zeros(tuple(shape), dtype=dtype, device=device)

    monkeypatch.setattr(torch_probe_buffers.Alloc, "zeros", fresh)
    assert _run() == kept
