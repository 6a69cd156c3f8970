"""How often does training put a ReLU exactly on its kink? A small ReLU MLP trained on
scikit-learn's digits under ``kinkcheck.trace`` in float16, bfloat16, float32 and float64.

    python bench/relu_zeros.py [--epochs 30] [--hidden 256] [--dtypes float16,bfloat16,float32,float64]

Prints, per precision, the fraction of ReLU inputs that were exactly 0 and within 4 ULPs of
0 at the operand's scale, next to the figures of Bertoin et al., "Numerical influence of
ReLU'(0) on backpropagation" (NeurIPS 2021) for an MNIST MLP: exact zeros about 1e-9 to 8e-9
of evaluations in float32 and 3e-8 to 1.2e-7 in float16.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import kinkcheck

PUBLISHED = {"float32": "1e-9 .. 8e-9", "float16": "3e-8 .. 1.2e-7"}


def cpu_supports(dtype) -> bool:
    try:
        a = torch.ones(4, 4, dtype=dtype)
        (a @ a).relu().sum().float().item()
        return True
    except RuntimeError:
        return False


def run(dtype, epochs, hidden, batch, seed=0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    xtr, xte, ytr, yte = train_test_split(d.data / 16.0, d.target, test_size=0.25, random_state=0)
    xtr, xte = torch.tensor(xtr, dtype=dtype), torch.tensor(xte, dtype=dtype)
    ytr, yte = torch.tensor(ytr), torch.tensor(yte)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                          nn.Linear(hidden, 10)).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    with kinkcheck.trace(backends="torch", rules=["KC102"]) as t:
        for _ in range(epochs):
            perm = torch.randperm(len(xtr), generator=g)
            for i in range(0, len(xtr), batch):
                idx = perm[i:i + batch]
                opt.zero_grad()
                F.cross_entropy(model(xtr[idx]).float(), ytr[idx]).backward()
                opt.step()
    secs = time.perf_counter() - t0
    with torch.no_grad():
        acc = (model(xte).float().argmax(1) == yte).float().mean().item()
    sites = t.to_dict()["sites"]
    ev = sum(s["evaluations"] for s in sites)
    ex = sum(s["exact"] for s in sites)
    nr = sum(s["near"] for s in sites)
    return {"evaluations": ev, "exact": ex, "near": nr, "acc": acc, "secs": secs, "steps": t.step_count,
            "per_layer": {s["module"]: (s["exact"], s["evaluations"]) for s in sites}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--dtypes", default="float16,bfloat16,float32,float64")
    args = p.parse_args(argv)
    print(f"digits MLP 64-{args.hidden}-{args.hidden}-10, batch {args.batch}, {args.epochs} epochs, "
          f"SGD momentum; torch {torch.__version__}")
    print()
    print("| dtype | ReLU evaluations | exact 0 | exact fraction | near (<= 4 ULP) | near fraction | Bertoin et al. exact | test acc | time |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.dtypes.split(","):
        dtype = getattr(torch, name)
        if not cpu_supports(dtype):
            print(f"| {name} | (not supported by this CPU build) | | | | | | | |")
            continue
        r = run(dtype, args.epochs, args.hidden, args.batch)
        ev = r["evaluations"]
        print(f"| {name} | {ev:,} | {r['exact']:,} | {r['exact'] / ev:.2e} | {r['near']:,} | {r['near'] / ev:.2e} | "
              f"{PUBLISHED.get(name, '-')} | {r['acc']:.3f} | {r['secs']:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
