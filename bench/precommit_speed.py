"""How instant does the pre-commit hook feel? One file, wall time, as ratios.

    python bench/precommit_speed.py [--repeats 21] [--file some_loss.py]

Runs, interleaved round by round (so machine noise hits every command alike):

  python -c pass                         the floor: starting an interpreter
  import astroid + parse the file        the target: kinkcheck should cost <= 1.5x this
                                         (torch hidden from astroid, as in the hook's env;
                                         also timed with torch visible, for information)
  kinkcheck check FILE (no cache)        a cold pre-commit run
  kinkcheck check FILE (warm cache)      the same file again (content-keyed cache hit)
  ruff check --no-cache FILE             a native linter, for scale

and prints each median with its ratio to the target. kinkcheck runs from this checkout
(``python -m kinkcheck``), in a scratch directory without a pyproject.toml.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: A typical training module: a model, a loss with kinks (documented and not), a train step.
SAMPLE = '''\
"""A small training module, as a pre-commit hook sees it."""

import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    def __init__(self, d_in: int, d_hidden: int, d_out: int):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_out)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def smooth_l1(pred, target, beta=1.0):
    diff = torch.abs(pred - target)
    return torch.where(diff < beta, 0.5 * diff**2 / beta, diff - 0.5 * beta).mean()


def loss_fn(model, x, y, l1_weight=1e-4):
    out = model(x)
    data = smooth_l1(out, y)
    reg = sum(p.abs().sum() for p in model.parameters())  # kink: L1 sparsity is the point
    scale = torch.sqrt(out.pow(2).mean())
    return data + l1_weight * reg + 0.01 * scale


def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = loss_fn(model, x, y)
    loss.backward()
    opt.step()
    return loss.item()


def evaluate(model, x, y):
    with torch.no_grad():
        pred = model(x).argmax(dim=1)
    return (pred == y).float().mean().item()
'''


_ASTROID_NO_TORCH = (
    "import sys, astroid; astroid.MANAGER.module_denylist.update({'torch', 'numpy', 'jax'}); "
    "astroid.parse(open(sys.argv[1]).read())"
)


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"bench: {' '.join(cmd)} failed with exit {proc.returncode}:\n{proc.stderr.decode()[-2000:]}")
    return elapsed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--file", type=Path, default=None, help="the file to check (default: a typical training module)")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="kinkcheck-bench-"))
    try:
        target = work / "train.py"
        target.write_text(args.file.read_text(encoding="utf-8") if args.file else SAMPLE, encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        py = sys.executable
        commands: dict[str, list[str]] = {
            "python -c pass": [py, "-c", "pass"],
            # astroid's brains build torch itself (seconds) when torch is installed; the hook's
            # own environment has no torch, so the target hides torch and numpy from astroid.
            "import astroid + parse": [py, "-c", _ASTROID_NO_TORCH, target.name],
            "  (same, torch visible)": [py, "-c", "import sys, astroid; astroid.parse(open(sys.argv[1]).read())", target.name],
            "kinkcheck check (no cache)": [py, "-m", "kinkcheck", "check", "--no-cache", "-q", target.name],
            "kinkcheck check (warm cache)": [py, "-m", "kinkcheck", "check", "-q", target.name],
        }
        ruff = shutil.which("ruff")
        if ruff:
            commands["ruff check --no-cache"] = [ruff, "check", "--no-cache", "--quiet", target.name]

        for cmd in commands.values():  # warm the OS file cache, byte-compile, fill kinkcheck's cache
            timed(cmd, work, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, cmd in commands.items():
                times[name].append(timed(cmd, work, env))

        med = {name: statistics.median(ts) for name, ts in times.items()}
        base = med["import astroid + parse"]
        lines = target.read_text().count("\n")
        print(f"one file ({lines} lines), median of {args.repeats} interleaved runs, python {sys.version.split()[0]}")
        print(f"{'command':32} {'median':>9} {'/ astroid+parse':>16} {'/ python -c pass':>17}")
        for name, m in med.items():
            print(f"{name:32} {m * 1000:7.1f}ms {m / base:15.2f}x {m / med['python -c pass']:16.2f}x")
        cold = med["kinkcheck check (no cache)"] / base
        verdict = "meets" if cold <= 1.5 else "MISSES"
        print(f"\ntarget: kinkcheck check (no cache) <= 1.5x import astroid + parse: {cold:.2f}x, {verdict} it")
        if ruff:
            print(f"ruff is {med['kinkcheck check (no cache)'] / med['ruff check --no-cache']:.1f}x faster than a cold kinkcheck run")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
