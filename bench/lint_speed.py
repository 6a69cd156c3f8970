"""How fast is ``kinkcheck check`` on real code? Prints wall times and ratios from one run.

    python bench/lint_speed.py                 # both corpora, pylint included (~3 minutes)
    python bench/lint_speed.py --skip-pylint   # kinkcheck and ast.parse only

The corpus is pinned: wheels of transformers and diffusers fetched with
``pip download --no-deps`` into ``bench/_corpus/`` (gitignored) and unpacked once.
Measured per corpus:

- kinkcheck cold (``--no-cache``) and warm (a second run with its cache),
- plain ``ast.parse`` of the same files (in-process, the floor for any Python linter),
- ``pylint --disable=all --enable=unnecessary-lambda -j2`` (astroid + one cheap checker),
- the one-file case (the pre-commit hook) against ``python -c "import astroid"`` plus
  parsing that file: ``--repeat`` rounds, each running every command once (interleaved, so a
  busy machine slows them alike); medians of wall and of CPU time (user + system of the child,
  the figure that noise from other processes moves least), with the spread.

    python bench/lint_speed.py --corpus transformers --skip-pylint --one-file-only --repeat 21

``--against DIR`` adds the one-file rows of another checkout's kinkcheck (its package on
PYTHONPATH), interleaved with these, so a change is measured against its base in one run:

    git worktree add --detach /tmp/base HEAD~3
    python bench/lint_speed.py --corpus transformers --skip-pylint --one-file-only --against /tmp/base

Targets (issue 9): cold <= 0.25x pylint -j2, warm <= 0.05x cold, one file <= 1.5x (import astroid + parse).
"""

from __future__ import annotations

import argparse
import ast
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CORPUS = HERE / "_corpus"

#: name -> (pinned version, package directory inside the wheel, one-file case)
PINS = {
    "transformers": ("5.24.0", "transformers", "transformers/models/bert/modeling_bert.py"),
    "diffusers": ("0.42.1", "diffusers", "diffusers/training_utils.py"),
}

TARGET_COLD = 0.25
TARGET_WARM = 0.05
TARGET_ONE = 1.5


def fetch(name: str) -> Path:
    """bench/_corpus/<name>-<version>/<package>/: downloaded and unpacked once."""
    version, package, _ = PINS[name]
    dest = CORPUS / f"{name}-{version}"
    if (dest / package).is_dir():
        return dest
    downloads = CORPUS / "_downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    wheels = list(downloads.glob(f"{name}-{version}-*.whl"))
    if not wheels:
        print(f"downloading {name}=={version} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--quiet", "-d", str(downloads), f"{name}=={version}"], check=True)
        wheels = list(downloads.glob(f"{name}-{version}-*.whl"))
    tmp = dest.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(wheels[0]) as zf:
        members = [m for m in zf.namelist() if m.startswith(package + "/")]
        zf.extractall(tmp, members)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def wall(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, int, str]:
    environ = {**os.environ, **(env or {})}
    # an installed kinkcheck has its .pyc files; do not make it recompile itself every run
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=environ)
    return time.perf_counter() - start, proc.returncode, proc.stdout[-2000:] + proc.stderr[-2000:]


def parse_all(files: list[Path]) -> float:
    start = time.perf_counter()
    for f in files:
        try:
            ast.parse(f.read_bytes(), str(f))
        except SyntaxError:
            pass
    return time.perf_counter() - start


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``cmd``; CPU is the child's user + system time."""
    before = cpu_of_children()
    seconds, _, _ = wall(cmd, cwd, env)
    return seconds, cpu_of_children() - before


def interleaved(cmds: dict[str, list[str]], cwd: Path, repeat: int,
                envs: dict[str, dict] | None = None) -> dict[str, tuple[list[float], list[float]]]:
    """name -> (walls, cpus): ``repeat`` rounds, each running every command once, in turn
    (``envs``: extra environment by name)."""
    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in cmds}
    for _ in range(repeat):
        for name, cmd in cmds.items():
            w, c = timed(cmd, cwd, (envs or {}).get(name))
            out[name][0].append(w)
            out[name][1].append(c)
    return out


def spread(values: list[float]) -> str:
    """median [min-max] in milliseconds"""
    return f"{statistics.median(values) * 1e3:6.1f} ms [{min(values) * 1e3:.0f}-{max(values) * 1e3:.0f}]"


def kinkcheck(*args: str) -> list[str]:
    return [sys.executable, "-m", "kinkcheck", "check", *args]


def click_app(*args: str) -> list[str]:
    """``kinkcheck check ARGS`` through the click app (kinkcheck.cli), not the console script."""
    return [sys.executable, "-c", "import sys; from kinkcheck.cli import main; main(sys.argv[1:])", "check", *args]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=sorted(PINS), action="append", help="default: all")
    ap.add_argument("--skip-pylint", action="store_true")
    ap.add_argument("--repeat", type=int, default=11,
                    help="interleaved rounds of the one-file case (medians are kept)")
    ap.add_argument("--one-file-only", action="store_true", help="only the one-file case (no corpus-wide runs)")
    ap.add_argument("--against", metavar="DIR", type=Path,
                    help="another checkout (a git worktree): its one-file rows interleaved with these")
    args = ap.parse_args(argv)
    env_path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = env_path

    CORPUS.mkdir(parents=True, exist_ok=True)
    # The corpus is its own project: its cache and (empty) config live in bench/_corpus/.
    (CORPUS / "pyproject.toml").write_text("[tool.kinkcheck]\n")
    rows = []
    ok = True
    for name in args.corpus or sorted(PINS):
        version, package, one = PINS[name]
        root = fetch(name)
        rel = root.relative_to(CORPUS)
        target = str(rel / package)
        files = sorted((root / package).rglob("*.py"))
        print(f"\n== {name} {version}: {len(files)} files, "
              f"{sum(f.stat().st_size for f in files) / 1e6:.1f} MB", flush=True)

        t_parse = t_cold = t_warm = t_pylint = None
        if not args.one_file_only:
            t_parse = parse_all(files)
            print(f"ast.parse (in-process):        {t_parse:7.2f} s", flush=True)

            shutil.rmtree(CORPUS / ".kinkcheck_cache", ignore_errors=True)
            t_cold, rc, tail = wall(kinkcheck(target, "--no-cache", "--statistics"), CORPUS)
            print(f"kinkcheck cold (--no-cache):   {t_cold:7.2f} s   exit {rc}", flush=True)
            if rc not in (0, 1):
                print(tail, file=sys.stderr)
            wall(kinkcheck(target, "--quiet", "--exit-zero", "--output-format", "concise"), CORPUS)  # fill the cache
            t_warm, rc_warm, _ = wall(kinkcheck(target, "--quiet", "--exit-zero", "--output-format", "concise"), CORPUS)
            print(f"kinkcheck warm (cache):        {t_warm:7.2f} s   ({t_warm / t_cold:.3f}x cold; target <= {TARGET_WARM})", flush=True)
            print("  findings by rule (cold run):\n    " + "\n    ".join(tail.strip().splitlines()[-12:]))

            if not args.skip_pylint:
                t_pylint, rc_p, tail_p = wall([sys.executable, "-m", "pylint", "--disable=all",
                                               "--enable=unnecessary-lambda", "-j2", "--score=n", target], CORPUS)
                print(f"pylint one checker -j2:        {t_pylint:7.2f} s   exit {rc_p}", flush=True)
                if rc_p & 1 or rc_p >= 32:  # pylint's fatal/usage bits, or no pylint at all
                    print(f"  pylint did not run ({tail_p.strip().splitlines()[-1] if tail_p.strip() else rc_p}); "
                          "no cold/pylint ratio (pip install pylint)", flush=True)
                    t_pylint = None

        one_path = str(rel / one)
        cmds = {
            "base": [sys.executable, "-c", f"import astroid, ast; ast.parse(open({one_path!r}, 'rb').read())"],
            "cold": kinkcheck(one_path, "--no-cache", "--quiet", "--exit-zero"),
            "cached": kinkcheck(one_path, "--quiet", "--exit-zero"),
            # the same runs through the click app (what the console script ran before commands/fast.py)
            "click cold": click_app(one_path, "--no-cache", "--quiet", "--exit-zero"),
            "click": click_app(one_path, "--quiet", "--exit-zero"),
        }
        envs = {}
        if args.against:
            other = {"PYTHONPATH": os.pathsep.join([str(args.against.resolve()), os.environ.get("PYTHONPATH", "")])}
            cmds["against cold"], envs["against cold"] = cmds["cold"], other
            cmds["against"], envs["against"] = cmds["cached"], other
        for key in ("cold", "cached", "against cold", "against"):  # write .pyc files, fill the caches
            if key in cmds:
                wall(cmds[key], CORPUS, envs.get(key))
        runs = interleaved(cmds, CORPUS, args.repeat, envs)
        med = {k: (statistics.median(w), statistics.median(c)) for k, (w, c) in runs.items()}
        (b_wall, b_cpu), (o_wall, o_cpu), (c_wall, c_cpu) = med["base"], med["cold"], med["cached"]
        print(f"one file ({one}), medians of {args.repeat} interleaved rounds [min-max]:")
        print(f"  {'':28}{'wall':>24}{'CPU':>24}")
        for label, key in (("import astroid + ast.parse", "base"), ("kinkcheck --no-cache", "cold"),
                           ("kinkcheck (cached)", "cached"), ("click app --no-cache", "click cold"),
                           ("click app (cached)", "click")):
            print(f"  {label:28}{spread(runs[key][0]):>24}{spread(runs[key][1]):>24}")
        print(f"  ratio --no-cache:           wall {o_wall / b_wall:.2f}x, CPU {o_cpu / b_cpu:.2f}x (target <= {TARGET_ONE})")
        print(f"  ratio cached:               wall {c_wall / b_wall:.2f}x, CPU {c_cpu / b_cpu:.2f}x")
        for label, key in (("click app --no-cache", "click cold"), ("click app cached", "click")):
            k_wall, k_cpu = med[key]
            print(f"  ratio {label + ':':21} wall {k_wall / b_wall:.2f}x, CPU {k_cpu / b_cpu:.2f}x")
        if args.against:
            print(f"  {args.against}:")
            for label, key in (("  kinkcheck --no-cache", "against cold"), ("  kinkcheck (cached)", "against")):
                print(f"  {label:28}{spread(runs[key][0]):>24}{spread(runs[key][1]):>24}")
            for label, key in (("--no-cache:", "against cold"), ("cached:", "against")):
                a_wall, a_cpu = med[key]
                print(f"  ratio {label:21} wall {a_wall / b_wall:.2f}x, CPU {a_cpu / b_cpu:.2f}x")

        rows.append((name, t_parse, t_cold, t_warm, t_pylint, o_wall / b_wall, o_cpu / b_cpu, c_wall / b_wall,
                     c_cpu / b_cpu))
        ok &= o_wall / b_wall <= TARGET_ONE
        if t_cold and t_warm:
            ok &= t_warm / t_cold <= TARGET_WARM
        if t_pylint and t_cold:
            ok &= t_cold / t_pylint <= TARGET_COLD

    def sec(t):
        return f"{t:.2f} s" if t else "-"

    print("\n| corpus | ast.parse | cold | warm | pylint -j2 | cold/pylint | warm/cold "
          "| one file / (astroid+parse), wall (CPU) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, t_parse, t_cold, t_warm, t_pylint, one_w, one_c, cached_w, cached_c in rows:
        ratio = f"{t_cold / t_pylint:.3f}" if t_pylint and t_cold else "-"
        warm = f"{t_warm / t_cold:.3f}" if t_warm and t_cold else "-"
        print(f"| {name} | {sec(t_parse)} | {sec(t_cold)} | {sec(t_warm)} | {sec(t_pylint)} | {ratio} | {warm} | "
              f"{one_w:.2f} ({one_c:.2f}), cached {cached_w:.2f} ({cached_c:.2f}) |")
    print("\nall targets met" if ok else "\nsome target missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
