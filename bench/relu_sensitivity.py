"""Does ReLU'(0) matter? The subgradient probe on a digits MLP in four precisions, and its cost.

    python bench/relu_sensitivity.py [--epochs 10] [--hidden 256] [--dtypes float16,bfloat16,float32,float64]

Trains a ReLU MLP on scikit-learn's digits under ``kinkcheck.trace(probe=Probe(every=1))`` in
each precision and prints, per precision, in how many steps some ReLU input was exactly 0, in
how many the other subgradient (relu'(0) = 1 instead of 0) moved the step's gradient by more
than the probe's threshold (``||g_alt - g|| / ||g||`` > 2**-10), and how far. Next to it, the
pattern of Bertoin et al., "Numerical influence of ReLU'(0) on backpropagation" (NeurIPS
2021): in 64-bit the choice changes nothing, in 32-bit it changes backpropagation in some
steps, in 16-bit in most; the last column says whether this run agrees.

Then the probe's cost, from one run in float32 on a worst case (every step hits both ReLU layers
exactly): probed step / untraced step, and the average step with the default sampling
(``probe=True``: every 50th step) / tracing without the probe.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import kinkcheck
from kinkcheck.trace import Probe

#: Bertoin et al.'s finding per precision, and the share of steps that reads as agreeing
PAPER = {
    "float64": ("none", lambda f: f == 0),
    "float32": ("some steps", lambda f: 0 < f < 0.9),
    "bfloat16": ("(not studied; 16-bit: most)", lambda f: f >= 0.5),
    "float16": ("most steps", lambda f: f >= 0.5),
}


def cpu_supports(dtype) -> bool:
    try:
        a = torch.ones(4, 4, dtype=dtype)
        (a @ a).relu().sum().float().item()
        return True
    except RuntimeError:
        return False


def data(dtype):
    from sklearn.datasets import load_digits

    d = load_digits()
    return torch.tensor(d.data / 16.0, dtype=dtype), torch.tensor(d.target)


def model_for(dtype, hidden, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 10)).to(dtype)


def train(dtype, epochs, hidden, batch, trace=None, seed=0):
    """Train; returns the per-step seconds and the trace (or None)."""
    x, y = data(dtype)
    model = model_for(dtype, hidden, seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    times = []

    def loop():
        for _ in range(epochs):
            perm = torch.randperm(len(x), generator=g)
            for i in range(0, len(x), batch):
                idx = perm[i:i + batch]
                t0 = time.perf_counter()
                opt.zero_grad()
                F.cross_entropy(model(x[idx]).float(), y[idx]).backward()
                opt.step()
                times.append(time.perf_counter() - t0)

    if trace is None:
        loop()
        return times, None
    with kinkcheck.trace(backends="torch", rules=["KC102"], **trace) as t:
        loop()
    return times, t


def sensitivity(dtype, epochs, hidden, batch) -> dict:
    _, t = train(dtype, epochs, hidden, batch, trace={"probe": Probe(every=1)})
    d = t.to_dict()
    probed = d["probe"]["steps"]
    thr = d["probe"]["threshold"]
    hit_steps, sens_steps, rels = set(), set(), []
    for s in d["sites"]:
        for step, _hits, rel, _cos, _mx in (s.get("probe") or {}).get("steps", []):
            hit_steps.add(step)
            rels.append(rel if rel is not None else float("inf"))
            if rel is None or rel > thr:
                sens_steps.add(step)
    return {"steps": probed, "hit": len(hit_steps), "sensitive": len(sens_steps),
            "median": statistics.median(rels) if rels else None, "max": max(rels) if rels else None}


def cost(hidden, batch, rounds) -> dict:
    """Median step seconds, untraced / traced / every step probed, on a worst case for the
    probe: float32 weights on a grid of 1/8 (the pixels are sixteenths) and lr = 0, so every
    step hits both ReLU layers exactly and pays a correction backward for each. Modes are
    interleaved in short rounds (other work on the machine slows them alike)."""
    x, y = data(torch.float32)
    x, y = x[:batch], y[:batch]
    model = model_for(torch.float32, hidden)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_((p * 8).round() / 8)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)

    def step():
        t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        return time.perf_counter() - t0

    times: dict[str, list[float]] = {"untraced": [], "traced": [], "probed": []}
    hits = 0
    for r in range(rounds + 1):
        keep = r > 0  # round 0 warms up
        got = [step() for _ in range(5)]
        with kinkcheck.trace(backends="torch", rules=["KC102"]) as t:
            got_t = [step() for _ in range(5)]
        with kinkcheck.trace(backends="torch", rules=["KC102"], probe=Probe(every=1)) as t:
            got_p = [step() for _ in range(5)]
        hits += sum(s["probe"]["probed"] for s in t.to_dict()["sites"] if s.get("probe"))
        if keep:
            times["untraced"] += got
            times["traced"] += got_t
            times["probed"] += got_p
    # runs of 50 steps with the default sampling (one probed step each) against runs without
    # the probe, alternated; the median of the pairs' mean ratios (a shared machine's stalls
    # land in either run alike)
    pairs = []
    for _ in range(rounds):
        with kinkcheck.trace(backends="torch", rules=["KC102"]):
            plain_run = [step() for _ in range(50)]
        with kinkcheck.trace(backends="torch", rules=["KC102"], probe=True):
            probe_run = [step() for _ in range(50)]
        pairs.append(statistics.fmean(probe_run) / statistics.fmean(plain_run))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "(site, step) pairs probed with hits": hits,
        "probed step / untraced step": med["probed"] / med["untraced"],
        "probed step / traced step": med["probed"] / med["traced"],
        "traced step / untraced step": med["traced"] / med["untraced"],
        "default sampling, from the medians": 1 + (med["probed"] - med["traced"]) / (50 * med["traced"]),
        "default sampling, run mean / traced run mean": statistics.median(pairs),
    }


def fmt(v) -> str:
    return "-" if v is None else f"{v:.2g}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--dtypes", default="float16,bfloat16,float32,float64")
    p.add_argument("--cost-batch", type=int, default=256)
    p.add_argument("--cost-hidden", type=int, default=1024)
    p.add_argument("--cost-rounds", type=int, default=20)
    args = p.parse_args(argv)
    print(f"digits MLP 64-{args.hidden}-{args.hidden}-10, batch {args.batch}, {args.epochs} epochs, SGD momentum; "
          f"every step probed; torch {torch.__version__}")
    print()
    head = f"{'dtype':9} {'steps':>6} {'hit':>6} {'sensitive':>10} {'share':>6} {'median':>8} {'max':>8}  {'Bertoin et al.':28} agrees"
    print(head)
    print("-" * len(head))
    shares: dict[str, float] = {}
    for name in args.dtypes.split(","):
        dtype = getattr(torch, name)
        if not cpu_supports(dtype):
            print(f"{name:9} (this CPU build cannot run it)")
            continue
        r = sensitivity(dtype, args.epochs, args.hidden, args.batch)
        share = r["sensitive"] / r["steps"] if r["steps"] else 0.0
        shares[name] = share
        paper, ok = PAPER[name]
        print(f"{name:9} {r['steps']:>6} {r['hit']:>6} {r['sensitive']:>10} {share:>6.0%} {fmt(r['median']):>8} "
              f"{fmt(r['max']):>8}  {paper:28} {'yes' if ok(share) else 'no'}")
    low = max((shares[k] for k in ("float16", "bfloat16") if k in shares), default=None)
    if low is not None and "float32" in shares and "float64" in shares:
        order = low >= shares["float32"] >= shares["float64"] == 0
        print(f"ordering (16-bit >= 32-bit >= 64-bit = 0, as in the paper): {'agrees' if order else 'does not agree'}"
              f"{'' if low > shares['float32'] else ' only weakly (no 16-bit step above 32-bit)'}")
    print()
    print("hit: steps with a ReLU input exactly 0; sensitive: steps where relu'(0) = 1 moved the step's gradient by more "
          "than 2**-10 of its norm; median/max of ||g_alt - g|| / ||g|| over (site, step) with hits")
    print()
    c = cost(args.cost_hidden, args.cost_batch, args.cost_rounds)
    print(f"cost, float32, MLP 64-{args.cost_hidden}-{args.cost_hidden}-10, batch {args.cost_batch}, every step hitting both ReLU layers (one run, median step times):")
    for k, v in c.items():
        print(f"  {k:46} {v}" if isinstance(v, int) else f"  {k:46} {v:5.2f}x")


if __name__ == "__main__":
    main()
