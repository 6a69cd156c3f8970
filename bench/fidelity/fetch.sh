#!/usr/bin/env bash
# Rebuild the labelled development corpus from pinned wheels, checking every sha256.
#
#   bash bench/fidelity/fetch.sh            # into bench/_corpus/fidelity (gitignored)
#
# Each bench/fidelity/corpus/<package>.json pins one wheel (name, version, sha256) and the
# sha256 of every labelled file in it; labels in bench/fidelity/labels/ are relative to the
# unpack folder. Only PyPI is contacted (pip download --no-deps).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-"$here/../_corpus/fidelity"}
wheels=${KINKCHECK_WHEELS:-"$here/../_corpus/wheels"}
mkdir -p "$dest" "$wheels"
python3 - "$here/corpus" "$dest" "$wheels" <<'PY'
import hashlib, json, subprocess, sys, zipfile
from pathlib import Path

pins, dest, wheels = (Path(a) for a in sys.argv[1:4])
bad = 0
for pin in sorted(pins.glob("*.json")):
    spec = json.loads(pin.read_text())
    wheel = wheels / spec["wheel"]
    if not wheel.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        f"{spec['package']}=={spec['version']}", "-d", str(wheels)], check=True)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != spec["sha256"]:
        sys.exit(f"fetch: {wheel.name}: sha256 {digest} != pinned {spec['sha256']}")
    tops = {name.split("/")[0] for name in spec["files"]}
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            top = info.filename.split("/")[0]
            if top in tops and not info.is_dir() and ".." not in info.filename.split("/"):
                zf.extract(info, dest)
    for rel, want in spec["files"].items():
        got = hashlib.sha256((dest / rel).read_bytes()).hexdigest()
        if got != want:
            print(f"fetch: {rel}: sha256 {got} != pinned {want}", file=sys.stderr)
            bad += 1
    print(f"{spec['package']} {spec['version']}: {len(spec['files'])} labelled files")
sys.exit(1 if bad else 0)
PY
