#!/usr/bin/env python3
"""Check labels mechanically: every label's token sits at its line/col in the unpacked corpus.

    python bench/fidelity/check_labels.py [LABELS.jsonl ...] [--root bench/_corpus/fidelity]

Fails (exit 1) on a label whose file is missing, whose fields are incomplete, or whose
``line``/``col`` does not point at the last name of ``callee_or_op`` (``sqrt`` for
``torch.sqrt``, ``/`` for ``/``, ``if`` for ``IfExp``/``if``, ``data`` or ``.data``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS = ("package", "version", "path", "line", "col", "function", "category", "callee_or_op", "note")
CATEGORIES = {c for base in ("kink", "singular", "step", "branch", "blackbox") for c in (base, f"safe-{base}")}


def token_of(callee_or_op: str) -> str:
    if callee_or_op in ("IfExp", "if", "If", "while"):
        return "if" if callee_or_op != "while" else "while"
    tok = callee_or_op.rsplit(".", 1)[-1] if callee_or_op not in (".", "..") else callee_or_op
    return tok.rstrip("()") or callee_or_op


def check(labels: Path, root: Path) -> list[str]:
    errors = []
    for n, raw in enumerate(labels.read_text().splitlines(), 1):
        if not raw.strip():
            continue
        where = f"{labels.name}:{n}"
        try:
            rec = json.loads(raw)
        except ValueError as exc:
            errors.append(f"{where}: not JSON ({exc})")
            continue
        missing = [f for f in FIELDS if f not in rec]
        if missing:
            errors.append(f"{where}: missing {', '.join(missing)}")
            continue
        if rec["category"] not in CATEGORIES:
            errors.append(f"{where}: unknown category {rec['category']!r}")
        src = root / rec["path"]
        if not src.is_file():
            errors.append(f"{where}: no file {src}")
            continue
        lines = src.read_text(encoding="utf-8").splitlines()
        if not 1 <= rec["line"] <= len(lines):
            errors.append(f"{where}: line {rec['line']} out of range")
            continue
        text = lines[rec["line"] - 1]
        tok = token_of(str(rec["callee_or_op"]))
        at = text[rec["col"]:]
        if not (at.startswith(tok) or at.lstrip(".").startswith(tok)):
            errors.append(f"{where}: expected {tok!r} at {rec['path']}:{rec['line']}:{rec['col']}, found {at[:30]!r}")
    return errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("labels", nargs="*", type=Path)
    ap.add_argument("--root", type=Path, default=HERE.parent / "_corpus" / "fidelity")
    args = ap.parse_args(argv)
    files = args.labels or sorted((HERE / "labels").glob("*.jsonl"))
    errors = [e for f in files for e in check(f, args.root)]
    for e in errors:
        print(e)
    total = sum(1 for f in files for line in f.read_text().splitlines() if line.strip())
    print(f"{total} labels in {len(files)} files, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
