"""One rank of a 2-process gloo training run, traced into out/trace-{rank}.json."""

import os
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

import kinkcheck


def main(rank: int, world: int, port: str, out: str):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(rank)
    with kinkcheck.trace(backends="torch", output=os.path.join(out, "trace-{rank}.json")):
        for _ in range(3):
            x = torch.randn(4, 8, generator=g)
            x[:, 0] = 0.0
            x.requires_grad_(True)  # an input the loss differentiates (an adversarial or a learned input)
            opt.zero_grad()
            loss = F.cross_entropy(model(x), torch.zeros(4, dtype=torch.long)) + x.abs().mean()
            loss.backward()
            opt.step()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
