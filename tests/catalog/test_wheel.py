"""The wheel ships the catalog: kinkcheck/_rules/* in the built wheel equals rules/* byte for
byte, and an installed copy resolves its catalog from there."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    base = [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(out)]
    first = subprocess.run(base, capture_output=True, text=True)
    if first.returncode != 0:
        offline = "hatchling" in first.stderr and ("No matching distribution" in first.stderr or "connection" in first.stderr.lower())
        if not offline:
            pytest.fail(f"building the wheel failed:\n{first.stderr.strip()[-600:]}")
        if importlib.util.find_spec("hatchling") is None:
            pytest.skip("offline and hatchling is not installed: cannot build a wheel")
        subprocess.run([*base, "--no-build-isolation"], capture_output=True, text=True, check=True)
    (found,) = out.glob("kinkcheck-*.whl")
    return found


@pytest.mark.slow
def test_wheel_catalog_equals_repository_catalog(wheel):
    with zipfile.ZipFile(wheel) as zf:
        shipped = {Path(n).name: zf.read(n) for n in zf.namelist() if n.startswith("kinkcheck/_rules/")}
    repo = {p.name: p.read_bytes() for p in (REPO / "rules").glob("*.toml")}
    assert shipped == repo


@pytest.mark.slow
def test_installed_package_loads_its_shipped_catalog(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path)
    code = ("from kinkcheck import catalog; d = catalog.rules_dir(); "
            "print(d.relative_to(d.parents[1]).as_posix(), len(catalog.load()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, check=True).stdout
    assert out.split() == ["kinkcheck/_rules", str(len(list((REPO / "rules").glob("*.toml"))))]
