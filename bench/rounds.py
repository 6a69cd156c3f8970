#!/usr/bin/env python3
"""Score ``kinkcheck check`` on the blind rounds: loss packages written and labelled by people
who never saw kinkcheck, each scored before anyone tuned on it.

    python bench/rounds.py                          # every round, both scopes, pooled
    python bench/rounds.py --round r16 --scope default --verbose
    python bench/rounds.py --tree /tmp/old --lines old.txt   # an older kinkcheck, for diffs

A corpus is a folder ``bench/fidelity/rounds/<round>/<corpus>/`` holding one package and its
``labels.jsonl`` (the shared labelling rules, ``shared/fidelity/LABELS.md``). kinkcheck runs
over the package from the corpus folder, with no cache; scoring is the shared ``score.py`` with
ambiguous labels left out. ``--lines`` writes one line per miss, flagged safe label and finding
on no label, so that two trees can be compared with ``diff``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fidelity import SCOPES, find_scorer  # noqa: E402  (bench/fidelity.py, the dev corpus bench)

ROUNDS = Path(__file__).resolve().parent / "fidelity" / "rounds"


def corpora(root: Path, only: list[str]) -> list[Path]:
    """Every ``<round>/<corpus>`` folder with labels, in order, limited to the rounds asked for."""
    found = sorted(p.parent for p in root.glob("*/*/labels.jsonl"))
    return [c for c in found if not only or c.parent.name in only]


def package_of(corpus: Path) -> str:
    return json.loads(corpus.joinpath("labels.jsonl").read_text().splitlines()[0])["path"].split("/")[0]


def check(corpus: Path, extra: list[str], tree: Path | None) -> list[dict]:
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "kinkcheck", "check", package_of(corpus), "--output-format", "json",
           "--no-cache", "--exit-zero", *extra]
    proc = subprocess.run(cmd, cwd=corpus, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        sys.exit(f"rounds: kinkcheck exited {proc.returncode} on {corpus}: {proc.stderr.strip()[-400:]}")
    return [f for f in json.loads(proc.stdout)["findings"] if not f.get("documented")]


def prefixed(records: list[dict], name: str) -> list[dict]:
    return [{**r, "path": f"{name}/{r['path']}"} for r in records]


def score(scorer: Path, findings: list[dict], labels: list[dict], tmp: Path, verbose: bool) -> tuple[dict, str]:
    (tmp / "f.json").write_text(json.dumps(findings))
    (tmp / "l.jsonl").write_text("".join(json.dumps(x) + "\n" for x in labels))
    cmd = [sys.executable, str(scorer), str(tmp / "f.json"), "--labels", str(tmp / "l.jsonl"),
           "--exclude-ambiguous", "--json", str(tmp / "m.json")] + (["--verbose"] if verbose else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads((tmp / "m.json").read_text()), proc.stdout


def detail_lines(findings: list[dict], labels: list[dict], verbose_out: str, scope: str) -> list[str]:
    """Misses and flagged safe labels as score.py lists them, and findings on no labelled line."""
    lines, section = [], ""
    for text in verbose_out.splitlines():
        if text.startswith(("missed true labels", "flagged safe labels")):
            section = "MISS" if text.startswith("missed") else "SAFEFP"
        elif section and text.startswith("  "):
            lines.append(f"{scope} {section} {text.strip()}")
        else:
            section = ""
    labelled = {(x["path"], n) for x in labels for n in (x["line"], x.get("node_line", x["line"]))}
    for f in findings:
        if (f["path"], f["line"]) not in labelled:
            lines.append(f"{scope} NOLABEL {f['path']}:{f['line']}:{f.get('col', 0)} {f.get('code', '')}")
    return sorted(lines)


def row(name: str, m: dict) -> str:
    return (f"{name:22s} {m['recall']:7.2f} {m['precision']:10.2f} {m['safe_fp'] * 100:7.1f}% "
            f"{m.get('n_true', 0):5d} {m.get('n_safe', 0):5d}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=ROUNDS, help="the folder holding the rounds")
    ap.add_argument("--round", action="append", default=[], help="only this round (repeatable)")
    ap.add_argument("--scope", choices=[*SCOPES, "both"], default="both")
    ap.add_argument("--tree", type=Path, help="put this kinkcheck source tree first on PYTHONPATH")
    ap.add_argument("--scorer", help="path to shared/fidelity/score.py")
    ap.add_argument("--verbose", action="store_true", help="print score.py's list of misses and flagged safe labels")
    ap.add_argument("--lines", type=Path, help="write misses, flagged safe labels and unlabelled findings here")
    ap.add_argument("--json", type=Path, help="write {scope: {corpus: metrics}} here")
    args = ap.parse_args(argv)
    found = corpora(args.root, args.round)
    if not found:
        sys.exit(f"rounds: no labelled corpus under {args.root}")
    scorer = find_scorer(args.scorer)
    results: dict[str, dict] = {}
    details: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for scope, extra in SCOPES.items():
            if args.scope not in (scope, "both"):
                continue
            print(f"\n== scope {scope} ==\n{'corpus':22s} {'recall':>7s} {'precision':>10s} {'safe_fp':>8s} {'true':>5s} {'safe':>5s}")
            pooled: dict[str, tuple[list, list]] = {}
            per: dict[str, dict] = {}
            for corpus in found:
                name = f"{corpus.parent.name}/{corpus.name}"
                labels = [json.loads(x) for x in corpus.joinpath("labels.jsonl").read_text().splitlines() if x.strip()]
                findings = check(corpus, extra, args.tree)
                per[name], out = score(scorer, findings, labels, Path(tmp), args.verbose)
                if args.verbose:
                    print(out.rstrip())
                print(row(name, per[name]))
                if args.lines:
                    _, out = score(scorer, findings, labels, Path(tmp), True)
                    details += [line.replace(" ", f" {name} ", 1) for line in detail_lines(findings, labels, out, scope)]
                for key in (corpus.parent.name, "all"):
                    f_all, l_all = pooled.setdefault(key, ([], []))
                    f_all += prefixed(findings, corpus.name)
                    l_all += prefixed(labels, corpus.name)
            for key, (f_all, l_all) in pooled.items():
                per[f"pooled {key}"], _ = score(scorer, f_all, l_all, Path(tmp), False)
                print(row(f"pooled {key}", per[f"pooled {key}"]))
            results[scope] = per
    if args.lines:
        args.lines.write_text("".join(x + "\n" for x in details))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
