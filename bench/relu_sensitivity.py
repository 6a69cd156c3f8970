"""Does ReLU'(0) matter? The subgradient probe on a digits MLP and CNN in four precisions, and its cost.

    python bench/relu_sensitivity.py [--epochs 10] [--hidden 256] [--models mlp,cnn] [--dtypes float16,bfloat16,float32,float64]
    python bench/relu_sensitivity.py --cost-only [--cost-rounds 20] [--cost-models cnn]   # the cost part alone

Trains a ReLU MLP and a small CNN (conv, ReLU, max-pool) on scikit-learn's digits under
``kinkcheck.trace(probe=Probe(every=1))`` in each precision and prints, per model, precision
and kind of site (ReLU, max-pool), in how many steps some input was exactly on the kink (a ReLU
input 0, a max-pool window tied), in how many the other subgradient (relu'(0) = 1 instead of 0;
the window's last maximum instead of its first) moved the step's gradient by more than the
probe's threshold (``||g_alt - g|| / ||g||`` > 2**-10), and how far. Next to it, the
pattern of Bertoin et al., "Numerical influence of ReLU'(0) on backpropagation" (NeurIPS
2021): in 64-bit the choice changes nothing, in 32-bit it changes backpropagation in some
steps, in 16-bit in most; the last column says whether this run agrees.

Then the probe's cost, from one run in float32 on a worst case (every step hits every ReLU and
max-pool site exactly, and every hit site's swap moves the gradient, so each pays a real
correction backward): probed step / untraced step, and the average step with the default
sampling (``probe=True``: every 50th step) / tracing without the probe.
"""

from __future__ import annotations

import argparse
import math
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


def model_for(dtype, hidden, seed=0, kind="mlp"):
    torch.manual_seed(seed)
    if kind == "cnn":  # 8x8 digits: conv 3x3 -> ReLU -> max-pool 2 -> linear
        return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(16 * 4 * 4, 10)).to(dtype)
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 10)).to(dtype)


def train(dtype, epochs, hidden, batch, trace=None, seed=0, kind="mlp"):
    """Train; returns the per-step seconds and the trace (or None)."""
    x, y = data(dtype)
    model = model_for(dtype, hidden, seed, kind)
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
    with kinkcheck.trace(backends="torch", rules=["KC102", "KC106"], **trace) as t:
        loop()
    return times, t


def sensitivity(dtype, epochs, hidden, batch, kind) -> dict[str, dict]:
    """Per rule (KC102 ReLU, KC106 max-pool): probed steps, steps hit, steps sensitive, and
    the median / max of ``rel`` over (site, step) pairs with hits."""
    _, t = train(dtype, epochs, hidden, batch, trace={"probe": Probe(every=1)}, kind=kind)
    d = t.to_dict()
    thr = d["probe"]["threshold"]
    out = {}
    for code in ("KC102", "KC106") if kind == "cnn" else ("KC102",):
        hit_steps, sens_steps, rels = set(), set(), []
        for s in d["sites"]:
            if s["code"] != code:
                continue
            for step, _hits, rel, _cos, _mx in (s.get("probe") or {}).get("steps", []):
                hit_steps.add(step)
                rels.append(rel if rel is not None else float("inf"))
                if rel is None or rel > thr:
                    sens_steps.add(step)
        out[code] = {"steps": d["probe"]["steps"], "hit": len(hit_steps), "sensitive": len(sens_steps),
                     "median": statistics.median(rels) if rels else None, "max": max(rels) if rels else None}
    return out


def on_grid(p: torch.Tensor) -> torch.Tensor:
    """``p`` rounded to a power-of-two grid of its own: about four steps on each side of 0
    (``2**floor(log2(max |p| / 4))``). Every tensor keeps nonzero values (one grid for all
    rounds a wide layer's small weights to 0, and a layer of zeros passes no gradient down:
    every swap above it moves nothing), and the pixels (sixteenths) times grid weights sum
    exactly, so pre-activations land exactly on 0 and windows tie."""
    m = float(p.abs().max())
    if m == 0:
        return p.clone()
    step = 2.0 ** math.floor(math.log2(m / 4))
    return (p / step).round() * step


def _changes(t) -> dict[str, list]:
    """Per site (rule and module), its probed rows' relative changes ``||g_alt - g|| / ||g||``
    (none: the site was not hit exactly, or not probed)."""
    out: dict[str, list] = {}
    for s in t.to_dict()["sites"]:
        rows = (s.get("probe") or {}).get("steps", [])
        out.setdefault(f"{s['code']} at {s.get('module') or s.get('line')}", []).extend(r[2] for r in rows)
    return out


def cost(hidden, batch, rounds, kind="mlp") -> dict:
    """Median step seconds, untraced / traced / every step probed, on a worst case for the
    probe: float32 weights on power-of-two grids (:func:`on_grid`; the pixels are
    sixteenths) and lr = 0, so every step hits every site exactly, and every hit site's swap
    moves the step's gradient (checked: a site whose change reads 0 would time a correction of
    zeros, which an exact shortcut may skip; the bench stops instead). Modes are interleaved
    in short rounds (other work on the machine slows them alike); each ratio is given in
    wall-clock time and in this process's CPU time (on a shared machine the latter does not
    count the time others take the cores)."""
    x, y = data(torch.float32)
    x, y = x[:batch], y[:batch]
    model = model_for(torch.float32, hidden, kind=kind)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(on_grid(p))
    opt = torch.optim.SGD(model.parameters(), lr=0.0)

    def step():
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        return time.perf_counter() - t0, time.process_time() - c0

    times: dict[str, list[tuple[float, float]]] = {"untraced": [], "traced": [], "probed": []}
    hits = 0
    changes: dict[str, list] = {}
    for r in range(rounds + 1):
        keep = r > 0  # round 0 warms up
        got = [step() for _ in range(5)]
        with kinkcheck.trace(backends="torch", rules=["KC102", "KC106"]) as t:
            got_t = [step() for _ in range(5)]
        with kinkcheck.trace(backends="torch", rules=["KC102", "KC106"], probe=Probe(every=1)) as t:
            got_p = [step() for _ in range(5)]
        hits += sum(s["probe"]["probed"] for s in t.to_dict()["sites"] if s.get("probe"))
        for site, rels in _changes(t).items():
            changes.setdefault(site, []).extend(rels)
        if keep:
            times["untraced"] += got
            times["traced"] += got_t
            times["probed"] += got_p
    # runs of 50 steps with the default sampling (one probed step each) against runs without
    # the probe, alternated; the median of the pairs' mean ratios (a shared machine's stalls
    # land in either run alike)
    pairs = []
    for _ in range(rounds):
        with kinkcheck.trace(backends="torch", rules=["KC102", "KC106"]):
            plain_run = [step() for _ in range(50)]
        with kinkcheck.trace(backends="torch", rules=["KC102", "KC106"], probe=True):
            probe_run = [step() for _ in range(50)]
        pairs.append([statistics.fmean(s[i] for s in probe_run) / statistics.fmean(s[i] for s in plain_run)
                      for i in (0, 1)])
    flat = sorted(site for site, rels in changes.items() if not all(rels))
    if not changes or flat:
        raise SystemExit(f"relu_sensitivity: degenerate cost case ({kind}): the gradient change is 0 (or none) at "
                         f"{', '.join(flat) or 'every site'}; the probed steps would time corrections of zeros")
    out: dict = {"(site, step) pairs probed with hits": hits}
    out.update({f"gradient change at {site} (rel, min-max)": (float(f"{min(v):.3g}"), float(f"{max(v):.3g}"))
                for site, v in changes.items()})
    for i, clock in ((0, "wall"), (1, "CPU")):
        med = {k: statistics.median(s[i] for s in v) for k, v in times.items()}
        out.update({
            f"probed step / untraced step ({clock})": med["probed"] / med["untraced"],
            f"probed step / traced step ({clock})": med["probed"] / med["traced"],
            f"traced step / untraced step ({clock})": med["traced"] / med["untraced"],
            f"default sampling, from the medians ({clock})": 1 + (med["probed"] - med["traced"]) / (50 * med["traced"]),
            f"default sampling, run mean / traced ({clock})": statistics.median(p[i] for p in pairs),
        })
    out["untraced step, ms (wall, CPU)"] = tuple(round(statistics.median(s[i] for s in times["untraced"]) * 1e3, 2)
                                                 for i in (0, 1))
    return out


def fmt(v) -> str:
    return "-" if v is None else f"{v:.2g}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--dtypes", default="float16,bfloat16,float32,float64")
    p.add_argument("--models", default="mlp,cnn")
    p.add_argument("--cost-batch", type=int, default=256)
    p.add_argument("--cost-hidden", type=int, default=1024)
    p.add_argument("--cost-rounds", type=int, default=20)
    p.add_argument("--cost-only", action="store_true", help="skip the training runs: the cost part alone")
    p.add_argument("--cost-models", default="mlp,cnn", help="the cost part's models")
    p.add_argument("--threads", type=int, default=0, help="torch's CPU threads (0: its default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cost_only:
        print_cost(args)
        return
    print(f"digits, batch {args.batch}, {args.epochs} epochs, SGD momentum, every step probed; MLP 64-{args.hidden}-"
          f"{args.hidden}-10; CNN conv3x3(16)-ReLU-maxpool2-linear; torch {torch.__version__}")
    print()
    head = (f"{'model':5} {'dtype':9} {'site':8} {'steps':>6} {'hit':>5} {'sensitive':>9} {'share':>6} {'median':>8} "
            f"{'max':>8}  {'Bertoin et al.':28} agrees")
    print(head)
    print("-" * len(head))
    shares: dict[tuple[str, str, str], float] = {}
    for kind in args.models.split(","):
        for name in args.dtypes.split(","):
            dtype = getattr(torch, name)
            if not cpu_supports(dtype):
                print(f"{kind:5} {name:9} (this CPU build cannot run it)")
                continue
            for code, r in sensitivity(dtype, args.epochs, args.hidden, args.batch, kind).items():
                share = r["sensitive"] / r["steps"] if r["steps"] else 0.0
                shares[(kind, code, name)] = share
                paper, ok = PAPER[name]
                site = {"KC102": "ReLU", "KC106": "max-pool"}[code]
                print(f"{kind:5} {name:9} {site:8} {r['steps']:>6} {r['hit']:>5} {r['sensitive']:>9} {share:>6.0%} "
                      f"{fmt(r['median']):>8} {fmt(r['max']):>8}  {paper:28} {'yes' if ok(share) else 'no'}")
    print()
    for kind, code in sorted({(k, c) for k, c, _ in shares}):
        got = {n: v for (k, c, n), v in shares.items() if (k, c) == (kind, code)}
        low = max((got[k] for k in ("float16", "bfloat16") if k in got), default=None)
        if low is None or "float32" not in got or "float64" not in got:
            continue
        order = low >= got["float32"] >= got["float64"] == 0
        site = {"KC102": "ReLU", "KC106": "max-pool"}[code]
        print(f"{kind} {site}: ordering 16-bit >= 32-bit >= 64-bit = 0 (as in the paper) "
              f"{'agrees' if order else 'does not agree'}"
              f"{'' if not order or low > got['float32'] else ' only weakly (no 16-bit step above 32-bit)'}")
    print()
    print("hit: steps with an input exactly on the kink; sensitive: steps where the other subgradient moved the step's "
          "gradient by more than 2**-10 of its norm; median/max of ||g_alt - g|| / ||g|| over (site, step) with hits")
    print("floor: a swap that changes nothing in exact arithmetic can still read about the rounding of the sums that "
          "push it down: the CNN's float64 max-pool rel of ~1e-17 is that (its ties there sit in the digits' blank "
          "background, equal conv biases over zero patches: exactly no change; the conv's weight and bias changes are "
          "summed at float64 from the hits, so float32 reads exactly 0). The 16-bit max-pool values are real: pushing "
          "the same change through a float64 copy of the conv gives the same rel to 3 digits (coarse rounding ties "
          "windows on the strokes too).")
    print()
    print_cost(args)


def print_cost(args) -> None:
    print(f"cost, float32, batch {args.cost_batch}, weights on power-of-two grids and lr 0 so that every step hits "
          f"every site and every swap moves the gradient, {torch.get_num_threads()} thread(s) (one run, median step "
          f"times over {args.cost_rounds} rounds of 5 steps per mode, interleaved):")
    for kind in args.cost_models.split(","):
        c = cost(args.cost_hidden, args.cost_batch, args.cost_rounds, kind)
        print(f"  {'MLP 64-%d-%d-10' % (args.cost_hidden, args.cost_hidden) if kind == 'mlp' else 'CNN conv3x3(16)-ReLU-maxpool2-linear'}")
        for k, v in c.items():
            print(f"    {k:58} {v}" if isinstance(v, (int, tuple)) else f"    {k:58} {v:5.2f}x")


if __name__ == "__main__":
    main()
