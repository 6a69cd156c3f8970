#!/usr/bin/env python3
"""Score ``kinkcheck check`` on the labelled development corpus (default scope and ``--all``).

    bash bench/fidelity/fetch.sh          # once: pinned wheels -> bench/_corpus/fidelity
    python bench/fidelity.py              # both scopes, per category and per package
    python bench/fidelity.py --scope default --verbose     # every miss and flagged safe label

kinkcheck runs the way a user would run it on a package's loss code: over the folders that
hold the labelled files, from the unpack folder, with no cache. Scoring is the shared
labelling kit's ``score.py`` (the same scorer the held-out corpora use); labels marked
ambiguous are left out of every count (``--with-ambiguous`` keeps them).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CORPUS = HERE / "fidelity"
SCOPES = {"default": [], "all": ["--all"]}
#: JAX projections, distributions and solvers are not loss-named: the goal measures them with --all
JAX_PACKAGES = ("ott-jax", "ott_jax", "distrax", "numpyro", "rlax", "dopamine-rl", "jax-md", "brax", "sbx-rl", "kfac-jax",
                "diffrax", "jraph", "jaxlie", "gpjax", "equinox", "dm-pix", "flowjax", "e3nn-jax", "dynamax", "objax", "tinygp", "tensorflow-probability", "interpax", "neural-tangents",
                "neural_tangents", "blackjax", "jaxley", "flowmc", "rejax", "trax", "coax", "jumanji",
                "netket", "sbijax", "bijx", "levanter", "dynamiqs", "distreqx", "cola", "mjx")


def find_scorer(explicit: str | None) -> Path:
    for candidate in ([explicit] if explicit else []) + [str(REPO.parent / "shared" / "fidelity" / "score.py")]:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    sys.exit("fidelity: score.py not found; pass --scorer PATH (it lives in shared/fidelity/)")


def merged_labels(out: Path, keep=lambda package: True) -> tuple[Path, list[str]]:
    """The label files (of the packages ``keep`` accepts) in one, and the folders (relative
    to the unpack root) to check."""
    lines, folders = [], set()
    for f in sorted((CORPUS / "labels").glob("*.jsonl")):
        for raw in f.read_text().splitlines():
            if raw.strip() and keep(json.loads(raw)["package"]):
                lines.append(raw)
                folders.add(str(Path(json.loads(raw)["path"]).parent))
    out.write_text("\n".join(lines) + "\n")
    return out, sorted(folders)


def run_kinkcheck(root: Path, folders: list[str], extra: list[str], out: Path) -> int:
    cmd = [sys.executable, "-m", "kinkcheck", "check", *folders, "--output-format", "json", "--no-cache",
           "--exit-zero", *extra]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        sys.exit(f"fidelity: kinkcheck exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    findings = [f for f in json.loads(proc.stdout)["findings"] if not f.get("documented")]
    out.write_text(json.dumps(findings))
    return len(findings)


def score(scorer: Path, findings: Path, labels: Path, args, quiet: bool = False) -> dict:
    metrics = findings.with_suffix(f".{labels.stem}.metrics.json")
    cmd = [sys.executable, str(scorer), str(findings), "--labels", str(labels), "--json", str(metrics)]
    if not args.with_ambiguous:
        cmd.append("--exclude-ambiguous")
    if args.verbose:
        cmd.append("--verbose")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    if not quiet:
        print(proc.stdout.rstrip())
    return json.loads(metrics.read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=REPO / "bench" / "_corpus" / "fidelity",
                    help="where fetch.sh unpacked the corpus")
    ap.add_argument("--scope", choices=[*SCOPES, "both"], default="both")
    ap.add_argument("--scorer", help="path to shared/fidelity/score.py")
    ap.add_argument("--verbose", action="store_true", help="list every miss and flagged safe label")
    ap.add_argument("--with-ambiguous", action="store_true", help="count labels marked ambiguous")
    ap.add_argument("--json", type=Path, help="write {scope: metrics} here")
    args = ap.parse_args(argv)
    if not args.root.is_dir():
        sys.exit(f"fidelity: no corpus at {args.root}; run: bash bench/fidelity/fetch.sh")
    scorer = find_scorer(args.scorer)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        labels, folders = merged_labels(Path(tmp) / "labels.jsonl")
        for scope, extra in SCOPES.items():
            if args.scope not in (scope, "both"):
                continue
            out = Path(tmp) / f"{scope}.json"
            n = run_kinkcheck(args.root, folders, extra, out)
            print(f"\n== scope {scope}: {n} findings over {len(folders)} folders ==")
            results[scope] = score(scorer, out, labels, args)
            for name, keep in (("torch", lambda p: p not in JAX_PACKAGES), ("jax", lambda p: p in JAX_PACKAGES)):
                part, _ = merged_labels(Path(tmp) / f"{name}.jsonl", keep)
                results[f"{scope}/{name}"] = score(scorer, out, part, args, quiet=True)
        print("\n== summary (the goal: torch and numpy at default scope, JAX with --all) ==")
        print(f"{'scope':8s} {'packages':9s} {'recall':>7s} {'precision':>10s} {'safe_fp':>8s} {'true':>5s} {'safe':>5s}")
        for key, m in results.items():
            scope, _, part = key.partition("/")
            print(f"{scope:8s} {part or 'all':9s} {m['recall']:7.2f} {m['precision']:10.2f} {m['safe_fp']:8.2f} "
                  f"{m.get('n_true', 0):5d} {m.get('n_safe', 0):5d}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
