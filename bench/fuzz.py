"""Does ``kinkcheck check`` survive unusual and hostile input? Prints counts from one run.

    pip install hypothesmith                     # needed only when --generated > 0
    python bench/fuzz.py                         # 500 generated, 500 mutated, every package found
    python bench/fuzz.py --generated 0 --mutated 50 --sweep none        # no hypothesmith needed
    python bench/fuzz.py --sweep numpy,torch --sample 2000 --seed 3 --jobs 4

Inputs: programs from hypothesmith's grammar strategy (every other one behind a torch/numpy
import prelude); the files of examples/ and tests/fixtures/engine/ with 1-3 random mutations
each (lines deleted, duplicated or swapped, tokens deleted or duplicated, deep nesting,
truncation, NUL bytes, invalid UTF-8, a coding cookie), written to a temporary folder that is
kept when something failed; and the source folders of installed packages (numpy, scipy,
sklearn, jax, torch, transformers: whatever ``importlib.util.find_spec`` finds), read in
place and never written (``--no-cache``, a neutral ``--config``, entries compared after).

Each batch runs as ``python -m kinkcheck check --all --no-cache --output-format json -j 1``
in its own process group, with KINKCHECK_DEBUG=1 (a crash prints its traceback) and a
timeout. Printed, one ``name: value`` line each: files, tracebacks (stderr containing
"Traceback"), internal errors ("internal error" lines), hangs (timeouts), invalid JSON, the
exit-code histogram per batch (0/1/2/other), the slowest batch, the slowest of the
``--slowest`` largest files timed alone, peak RSS of any child (``RUSAGE_CHILDREN``), writes
into checked folders; then each bad batch and each of its files that fails alone. Exit
status 1 when anything failed, else 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEEDS = [REPO / "examples", REPO / "tests" / "fixtures" / "engine"]
PACKAGES = ("numpy", "scipy", "sklearn", "jax", "torch", "transformers")
PRELUDE = "import torch\nimport numpy as np\nfrom torch.nn.functional import *\n\n"
TOKEN = re.compile(rb"\w+|[^\w\s]")


@dataclass
class Run:
    """One kinkcheck process over ``files``; ``code`` None means it was killed at the timeout."""

    files: list[Path]
    code: int | None
    seconds: float
    stdout: str
    stderr: str

    def problem(self) -> str | None:
        """What went wrong, in a few words; None for a clean exit 0/1/2 with valid output."""
        if self.code is None:
            return "hang"
        if "Traceback" in self.stderr:
            return "traceback"
        if "internal error" in self.stderr or "analyzer crashed" in self.stderr:
            return "internal error"
        if self.code not in (0, 1, 2):
            return f"exit {self.code}"
        return None if self.json_ok() else "invalid json"

    def json_ok(self) -> bool:
        """Exit 0/1 must print one JSON report; exit 2 (nothing checked) may print nothing."""
        if self.code == 2 and not self.stdout.strip():
            return True
        try:
            return isinstance(json.loads(self.stdout).get("findings"), list)
        except (ValueError, AttributeError):
            return False


def generated(n: int, seed: int, out: Path) -> list[Path]:
    """``n`` programs from hypothesmith's grammar strategy (duplicates dropped)."""
    if n <= 0:
        return []
    try:
        from hypothesis.configuration import set_hypothesis_home_dir

        set_hypothesis_home_dir(out / ".hypothesis")  # its caches, not in the working directory
        import hypothesmith
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import seed as fixed_seed
    except ImportError:
        print("bench/fuzz.py: --generated needs hypothesmith: pip install hypothesmith (or pass --generated 0)",
              file=sys.stderr)
        raise SystemExit(2) from None
    sources: list[str] = []

    @fixed_seed(seed)
    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(hypothesmith.from_grammar())
    def collect(source: str) -> None:
        sources.append(source)

    with warnings.catch_warnings():  # hypothesmith compiles what it generates: '1()' warns
        warnings.simplefilter("ignore", SyntaxWarning)
        collect()
    paths = []
    for i, source in enumerate(dict.fromkeys(sources)):
        path = out / f"g{i:04d}.py"
        path.write_bytes(((PRELUDE if i % 2 else "") + source).encode("utf-8", "surrogatepass"))
        paths.append(path)
    return paths


def line_edit(data: bytes, rng: random.Random) -> bytes:
    """Delete, duplicate or swap lines."""
    lines = data.splitlines(keepends=True) or [b"\n"]
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    if rng.random() < 0.4:
        lines[i], lines[j] = lines[j], lines[i]
    else:
        lines[i:i + 1] = [lines[i]] * rng.choice([0, 2])
    return b"".join(lines)


def token_edit(data: bytes, rng: random.Random) -> bytes:
    """Delete or duplicate one token (a word or one punctuation character)."""
    a, b = rng.choice([m.span() for m in TOKEN.finditer(data)] or [(0, 0)])
    return data[:a] + data[b:] if rng.random() < 0.5 else data[:b] + b" " + data[a:b] + data[b:]


def deep_nesting(data: bytes, rng: random.Random) -> bytes:
    """Before a random line, at its indentation: nested calls, brackets or blocks, or a long sum."""
    lines = data.splitlines(keepends=True) or [b"\n"]
    i = rng.randrange(len(lines))
    indent = re.match(rb"[ \t]*", lines[i]).group()
    depth, kind = rng.choice([50, 99, 200, 1000, 3000]), rng.randrange(4)
    if kind == 2:  # blocks: the tokenizer stops at 100 levels of indentation
        levels = min(depth, 120)
        new = [indent + b" " * k + b"if x > 0:\n" for k in range(levels)]
        new.append(indent + b" " * levels + b"y = torch.sqrt(x)\n")
    else:
        value = [b"torch.abs(" * depth + b"x" + b")" * depth, b"[" * depth + b"x" + b"]" * depth,
                 None, b" + ".join([b"torch.abs(x)"] * depth)][kind]
        new = [indent + b"y = " + value + b"\n"]
    return b"".join(lines[:i] + new + lines[i:])


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data) + 1)]


def bad_bytes(data: bytes, rng: random.Random) -> bytes:
    """A NUL byte or an invalid UTF-8 sequence at a random offset."""
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.choice([b"\x00", b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c"]) + data[i:]


def coding_cookie(data: bytes, rng: random.Random) -> bytes:
    return b"# -*- coding: " + rng.choice([b"latin-1", b"utf-16", b"no-such-codec"]) + b" -*-\n" + data


MUTATIONS: list[Callable[[bytes, random.Random], bytes]] = [
    line_edit, line_edit, token_edit, token_edit, deep_nesting, truncate, bad_bytes, bad_bytes, coding_cookie]


def mutated(n: int, seed: int, out: Path) -> list[Path]:
    """``n`` copies of the seed files, each with 1-3 mutations."""
    rng = random.Random(seed)
    seeds = sorted(p for folder in SEEDS for p in folder.glob("*.py"))
    paths = []
    for i in range(n):
        source = seeds[i % len(seeds)]
        data = source.read_bytes()
        for _ in range(rng.randint(1, 3)):
            data = rng.choice(MUTATIONS)(data, rng)
        path = out / f"m{i:04d}_{source.name}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def package_roots(spec: str) -> dict[str, list[Path]]:
    """Package name -> its source folders, for 'all', 'none' or a comma-separated list."""
    names = {"all": PACKAGES, "none": ()}.get(spec, tuple(filter(None, spec.split(","))))
    roots = {}
    for name in names:
        found = importlib.util.find_spec(name)
        if found is not None and found.submodule_search_locations:
            roots[name] = [Path(p) for p in found.submodule_search_locations]
    return roots


def package_files(roots: dict[str, list[Path]], sample: int, seed: int) -> dict[str, list[Path]]:
    """Package name -> its .py files; with ``sample``, that many of all of them, chosen with ``seed``."""
    files = {name: sorted(f for folder in folders for f in folder.rglob("*.py")) for name, folders in roots.items()}
    everything = [f for fs in files.values() for f in fs]
    if 0 < sample < len(everything):
        kept = set(random.Random(seed).sample(everything, sample))
        files = {name: [f for f in fs if f in kept] for name, fs in files.items()}
    return files


def entries(roots: list[Path]) -> set[str]:
    """Every path under ``roots``: a file or folder kinkcheck created or removed shows up."""
    return {os.path.join(d, n) for root in roots for d, dirs, files in os.walk(root) for n in dirs + files}


def run_check(files: list[Path], config: Path, timeout: float) -> Run:
    """One kinkcheck process over ``files``; the whole process group is killed at the timeout."""
    cmd = [sys.executable, "-m", "kinkcheck", "check", "--all", "--no-cache", "--output-format", "json",
           "-j", "1", "--config", str(config), "--", *map(str, files)]
    env = {**os.environ, "KINKCHECK_DEBUG": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=config.parent, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        code = None
    return Run(files, code, time.perf_counter() - start, out.decode(errors="replace"), err.decode(errors="replace"))


def run_all(batches: list[list[Path]], config: Path, timeout: float, jobs: int) -> list[Run]:
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return list(pool.map(lambda files: run_check(files, config, timeout), batches))


def isolate(bad: list[Run], config: Path, timeout: float, jobs: int) -> list[Run]:
    """Re-run each file of the first 5 bad batches alone; the runs that still fail."""
    files = [f for run in bad[:5] for f in run.files]
    return [run for run in run_all([[f] for f in files], config, timeout, jobs) if run.problem()]


def slowest_alone(files: list[Path], n: int, config: Path, timeout: float) -> Run | None:
    """The slowest of the ``n`` largest files, each checked alone (one at a time, unloaded)."""
    largest = sorted(files, key=lambda f: f.stat().st_size, reverse=True)[:n]
    runs = [run_check([f], config, timeout) for f in largest]
    return max(runs, key=lambda r: r.seconds, default=None)


def summarize(counts: dict[str, int], runs: list[Run], slow: Run | None, written: set[str],
              timeout: float) -> None:
    problems = Counter(run.problem() for run in runs)
    codes = Counter(r.code if r.code in (0, 1, 2) else "other" for r in runs if r.code is not None)
    batch = max(runs, key=lambda r: r.seconds, default=None)
    print(f"files: {sum(counts.values())} ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    print(f"batches: {len(runs)}")
    print(f"tracebacks: {sum('Traceback' in r.stderr for r in runs)}")
    print(f"internal errors: {sum(r.stderr.count('internal error') + r.stderr.count('analyzer crashed') for r in runs)}")
    print(f"hangs: {problems['hang']} (timeout {timeout:g} s)")
    print(f"invalid json: {problems['invalid json']}")
    print("exit codes: " + " ".join(f"{k}={codes[k]}" for k in (0, 1, 2, "other")))
    if batch:
        print(f"slowest batch: {batch.seconds:.1f} s ({len(batch.files)} files from {batch.files[0]})")
    if slow:
        late = " (timed out)" if slow.code is None else ""
        print(f"slowest file: {slow.seconds:.1f} s{late} {slow.files[0]} ({slow.files[0].stat().st_size:,} bytes)")
    print(f"peak rss: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB")
    print(f"writes into checked folders: {len(written)}" + "".join(f"\n  {p}" for p in sorted(written)[:10]))


def show_failures(bad: list[Run], failed: list[Run]) -> None:
    """Each bad batch's problem, then each file that fails alone with the end of its stderr."""
    print(f"bad batches: {len(bad)}" + "".join(f"\n  {r.problem()}: {len(r.files)} files from {r.files[0]}" for r in bad))
    print(f"failing files (alone): {len(failed)}")
    for run in (failed or bad)[:20]:
        tail = "\n    ".join(run.stderr.strip().splitlines()[-12:])
        print(f"  {run.problem()}: {run.files[0]}\n    {tail}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generated", type=int, default=500, help="hypothesmith programs (default 500)")
    ap.add_argument("--mutated", type=int, default=500, help="mutated loss files (default 500)")
    ap.add_argument("--sweep", default="all", help="'all' (default), 'none' or e.g. numpy,torch")
    ap.add_argument("--sample", type=int, default=0, help="check only this many sweep files (seeded)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=300, help="seconds per batch (default 300)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="kinkcheck processes at once")
    ap.add_argument("--batch", type=int, default=50, help="files per kinkcheck process (default 50)")
    ap.add_argument("--slowest", type=int, default=5, help="largest files to time alone (default 5)")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="kinkcheck-fuzz-"))
    failed = False
    try:
        failed = fuzz(args, work)
        return 1 if failed else 0
    finally:
        if failed:
            print(f"inputs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def fuzz(args: argparse.Namespace, work: Path) -> bool:
    """Write the inputs into ``work``, check them, print the summary; True when anything failed."""
    config = work / "pyproject.toml"
    config.write_text("[tool.kinkcheck]\n")
    for folder in ("generated", "mutated"):
        (work / folder).mkdir()
    roots = package_roots(args.sweep)
    folders = [f for fs in roots.values() for f in fs]
    inputs = {"generated": generated(args.generated, args.seed, work / "generated"),
              "mutated": mutated(args.mutated, args.seed, work / "mutated"),
              **package_files(roots, args.sample, args.seed)}
    print(f"checking {sum(map(len, inputs.values()))} files in {work} (jobs {args.jobs}, seed {args.seed})",
          file=sys.stderr, flush=True)
    before = entries(folders)
    batches = [files[i:i + args.batch] for files in inputs.values() for i in range(0, len(files), args.batch)]
    runs = run_all(batches, config, args.timeout, args.jobs)
    slow = slowest_alone([f for files in inputs.values() for f in files], args.slowest, config, args.timeout)
    written = entries(folders) ^ before
    summarize({k: len(v) for k, v in inputs.items()}, runs, slow, written, args.timeout)
    bad = [r for r in runs if r.problem()]
    if bad:
        show_failures(bad, isolate(bad, config, args.timeout, args.jobs))
    return bool(bad or written)


if __name__ == "__main__":
    sys.exit(main())
