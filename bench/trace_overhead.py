"""Training-step overhead of ``kinkcheck.trace()`` against a plain step and ``detect_anomaly``.

    python bench/trace_overhead.py                  # CPU: MLP and CNN (ResNet-18 with --all)
    python bench/trace_overhead.py --device cuda    # + ResNet-18 and ViT-S at 224x224
    python bench/trace_overhead.py --device cuda --quick
    python bench/trace_overhead.py --jax            # only the JAX jitted MLP step
    python bench/trace_overhead.py --threads 1 --clock cpu   # CPU time: steadier on a shared machine

Modes run interleaved (plain, empty dispatch mode, trace, trace sampled, detect_anomaly, ...)
in every repeat, so machine noise hits all of them alike; the table shows median step times
and ratios to the plain step (``--stat min``: the fastest repeat of each mode, which is
steadier on a machine shared with other work). Each repeat enters every mode afresh (a
trace's setup, about 0.2 ms, is part of its ``--steps`` steps). Models are defined inline
(no torchvision needed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import kinkcheck

# -- models -----------------------------------------------------------------------------


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class ResNet18(nn.Module):
    """torchvision's resnet18 layout: 7x7 stem, 3x3/2 max-pool, [2, 2, 2, 2] basic blocks."""

    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class ViTSmall(nn.Module):
    """ViT-S/16: 384 wide, 12 blocks, 6 heads, GELU MLP, pre-norm."""

    def __init__(self, img=224, patch=16, dim=384, depth=12, heads=6, classes=1000):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        n = (img // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, n + 1, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], 1) + self.pos
        return self.head(self.norm(self.blocks(x))[:, 0])


def resnet18():
    try:
        import torchvision

        return torchvision.models.resnet18()
    except ImportError:
        return ResNet18()


MODELS = {
    # name: (constructor, input shape, classes, batch)
    "mlp": (mlp, (1, 28, 28), 10, 256),
    "cnn": (small_cnn, (1, 28, 28), 10, 64),
    "resnet18": (resnet18, (3, 224, 224), 1000, 64),
    "vit_s": (ViTSmall, (3, 224, 224), 1000, 64),
}


# -- modes ------------------------------------------------------------------------------


class EmptyMode:
    """The floor: a TorchDispatchMode that only forwards every op."""

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        class _M(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                return func(*args, **(kwargs or {}))

        self.mode = _M()

    def __enter__(self):
        return self.mode.__enter__()

    def __exit__(self, *a):
        return self.mode.__exit__(*a)


MODES = {
    "plain": contextlib.nullcontext,
    "dispatch": EmptyMode,
    "trace": lambda: kinkcheck.trace(backends="torch"),
    "trace/10": lambda: kinkcheck.trace(backends="torch", every_step=10),
    "anomaly": torch.autograd.detect_anomaly,
}


def bench_model(name, device, repeats, steps, warmup, modes, small, clock=time.perf_counter):
    make, shape, classes, batch = MODELS[name]
    if small and name in ("resnet18", "vit_s"):
        shape, batch = (3, 64, 64), 16
    torch.manual_seed(0)
    model = (make() if name != "vit_s" else ViTSmall(img=shape[-1])).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, *shape, device=device)
    y = torch.randint(0, classes, (batch,), device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def run(n):
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()

    times = {m: [] for m in modes}
    with warnings_off():
        for m in modes:  # warm up every mode (allocator, fused counting kernel)
            with MODES[m]():
                run(warmup)
        sync()
        for _ in range(repeats):
            for m in modes:
                ctx = MODES[m]()
                sync()
                t0 = clock()
                with ctx:
                    run(steps)
                    sync()
                times[m].append((clock() - t0) / steps)
    return times


def paired(plain: list[float], other: list[float]) -> tuple[float, float, float]:
    """The median and quartiles of the per-repeat ratios (each repeat times every mode back to
    back, so a slow spell of the machine slows both sides of a ratio alike)."""
    ratios = sorted(o / p for p, o in zip(plain, other))
    if len(ratios) < 4:
        return statistics.median(ratios), ratios[0], ratios[-1]
    q = statistics.quantiles(ratios, n=4)
    return statistics.median(ratios), q[0], q[2]


def disagreement(plain: list[float], other: list[float]) -> float:
    """How much the repeats disagree: the interquartile range of the per-repeat ratios
    (each repeat times every mode back to back) over their median."""
    ratios = sorted(o / p for p, o in zip(plain, other))
    if len(ratios) < 4:
        return (ratios[-1] - ratios[0]) / statistics.median(ratios) if ratios else 0.0
    q = statistics.quantiles(ratios, n=4)
    return (q[2] - q[0]) / statistics.median(ratios)


@contextlib.contextmanager
def warnings_off():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--models", default=None, help="comma-separated: mlp,cnn,resnet18,vit_s")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="steps per timed block")
    p.add_argument("--quick", action="store_true", help="fewer repeats (a few minutes on a GPU)")
    p.add_argument("--all", action="store_true", help="on CPU also ResNet-18 / ViT-S (at 64x64, batch 16)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--stat", choices=["median", "min"], default="median", help="step time over the repeats")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="wall: elapsed time; cpu: this process's CPU time (all its threads), which time "
                   "slices lost to other processes do not inflate (steadiest with --threads 1 on a shared machine)")
    p.add_argument("--jax", action="store_true", help="only the JAX jitted MLP step (the default runs it "
                   "after the torch models when jax is installed)")
    p.add_argument("--no-jax", action="store_true", help="only the torch models")
    args = p.parse_args(argv)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads == 1 and "jax" not in sys.modules:
        # XLA reads its thread settings when jax is first imported (report_jax imports it)
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    if args.jax:
        report_jax(args.repeats or (5 if args.quick else 11), args.steps or (5 if args.quick else 10), clock)
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device available")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.models:
        models = args.models.split(",")
    elif args.device == "cuda" or args.all:
        models = ["mlp", "cnn", "resnet18", "vit_s"]
    else:
        models = ["mlp", "cnn"]
    repeats = args.repeats or (5 if args.quick else 11)
    steps = args.steps or (5 if args.quick else 10)
    modes = list(MODES)
    dev = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    if args.clock == "cpu" and args.device == "cuda":
        p.error("--clock cpu: CPU time does not measure GPU work")
    print(f"kinkcheck {kinkcheck.__version__}, torch {torch.__version__}, {dev}; "
          f"{args.stat} of {repeats} interleaved repeats x {steps} steps, {args.clock} time")
    rows = []
    for name in models:
        small = args.device == "cpu" and name in ("resnet18", "vit_s")
        times = bench_model(name, args.device, repeats, steps, warmup=3, modes=modes, small=small, clock=clock)
        stat = statistics.median if args.stat == "median" else min
        med = {m: stat(v) for m, v in times.items()}
        base = med["plain"]
        rows.append((name, base, {m: med[m] / base for m in modes}))
        line = f"{name:9s} plain {base * 1e3:8.2f} ms  " + "  ".join(f"{m} {med[m] / base:5.2f}x" for m in modes[1:])
        print(line, flush=True)
        print(f"{'':9s} per-repeat ratios, median [q1-q3]: " + "  ".join(
            "{} {:.2f} [{:.2f}-{:.2f}]".format(m, *paired(times["plain"], times[m])) for m in modes[1:]), flush=True)
        for m in modes[1:]:
            spread = disagreement(times["plain"], times[m])
            if spread > 0.10:
                print(f"warning: {name} {m}: the repeats disagree by {spread:.0%} (interquartile range of the "
                      "per-repeat ratios over their median): the machine is noisy, rerun before trusting it",
                      flush=True)
    print()
    print("| model | batch | plain ms/step | " + " | ".join(modes[1:]) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in modes[1:]) + " |")
    for name, base, ratios in rows:
        batch = MODELS[name][3] if not (args.device == "cpu" and name in ("resnet18", "vit_s")) else 16
        print(f"| {name} | {batch} | {base * 1e3:.2f} | " + " | ".join(f"{ratios[m]:.2f}x" for m in modes[1:]) + " |")
    import importlib.util

    if args.device == "cpu" and not args.no_jax and importlib.util.find_spec("jax") is not None:
        print()
        report_jax(repeats, steps, clock)


# -- JAX --------------------------------------------------------------------------------------


def jax_mlp_bench(repeats: int, steps: int, warmup: int = 3, clock=time.perf_counter) -> dict[str, list[float]]:
    """The torch MLP (784-512-512-10, ReLU, batch 256) as a jitted JAX SGD step: plain, traced
    (``backends="jax"``) and under ``jax_debug_nans``, interleaved in every repeat. Each
    repeat enters its mode afresh (the trace's setup and its final read are timed)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    sizes = [784, 512, 512, 10]
    params = [(jnp.asarray(rng.normal(0, (2 / a) ** 0.5, (a, b)).astype(np.float32)), jnp.zeros(b, jnp.float32))
              for a, b in zip(sizes, sizes[1:])]
    x = jnp.asarray(rng.normal(size=(256, 784)).astype(np.float32))
    y = jnp.asarray(rng.integers(0, 10, 256).astype(np.int32))

    def loss(ps, x, y):
        h = x
        for w, b in ps[:-1]:
            h = jax.nn.relu(h @ w + b)
        w, b = ps[-1]
        logp = jax.nn.log_softmax(h @ w + b)
        return -jnp.take_along_axis(logp, y[:, None], 1).mean()

    @jax.jit
    def step(ps, x, y):
        g = jax.grad(loss)(ps, x, y)
        return jax.tree_util.tree_map(lambda p, d: p - 0.01 * d, ps, g)

    @contextlib.contextmanager
    def debug_nans():
        jax.config.update("jax_debug_nans", True)
        try:
            yield
        finally:
            jax.config.update("jax_debug_nans", False)

    modes = {"plain": contextlib.nullcontext, "trace": lambda: kinkcheck.trace(backends="jax"),
             "jax_debug_nans": debug_nans}

    def run(n):
        ps = params
        for _ in range(n):
            ps = step(ps, x, y)
        jax.block_until_ready(ps)

    times = {m: [] for m in modes}
    with warnings_off():
        for m in modes:  # compile every mode's program first
            with modes[m]():
                run(warmup)
        for _ in range(repeats):
            for m, make in modes.items():
                ctx = make()
                t0 = clock()
                with ctx:
                    run(steps)
                times[m].append((clock() - t0) / steps)
    return times


def report_jax(repeats: int, steps: int, clock=time.perf_counter) -> None:
    import jax

    times = jax_mlp_bench(repeats, steps, clock=clock)
    clock_name = "cpu" if clock is time.process_time else "wall"
    ratios = {m: [t / p for t, p in zip(v, times["plain"])] for m, v in times.items() if m != "plain"}
    base = statistics.median(times["plain"])
    print(f"jax {jax.__version__}: jitted MLP step (784-512-512-10, batch 256), median of {repeats} "
          f"interleaved repeats x {steps} steps, {clock_name} time")
    print(f"jax_mlp  plain {base * 1e3:8.2f} ms  " + "  ".join(
        f"{m} {statistics.median(r):5.2f}x" for m, r in ratios.items()))
    fastest = min(times["plain"])
    print(f"fastest repeat of each mode (steadier on a shared machine): plain {fastest * 1e3:8.2f} ms  " + "  ".join(
        f"{m} {min(v) / fastest:5.2f}x" for m, v in times.items() if m != "plain"))
    for m, r in ratios.items():
        spread = (max(r) - min(r)) / statistics.median(r)
        if spread > 0.10:
            print(f"warning: the {m} repeats disagree by {spread:.0%} (min {min(r):.2f}x, max {max(r):.2f}x): "
                  "the machine is busy; rerun, or read the ratio with care", file=sys.stderr)


if __name__ == "__main__":
    main()
