"""Every qualified name the catalog matches exists in the installed libraries, so a typo in
rules/ fails here instead of silently never matching."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import zipfile

import pytest

from kinkcheck import catalog

CAT = catalog.load()
#: names that are not attributes of an importable module (module-level `operator` functions
#: are; these are all checked). Nothing is skipped silently: an unknown root fails.
ROOTS = ("torch", "numpy", "jax", "math", "builtins", "scipy", "operator")
#: libraries whose wheels do not load beside the CPU torch the tests run (torchvision's are
#: CUDA builds): their names are read from the pinned wheel's source instead of imported
WHEEL_ROOTS = {"torchvision": "torchvision==0.23.0"}

ALL_NAMES = sorted({(r.code, name) for r in CAT.values()
                    for name in (*r.match.callables, *(r.runtime.numpy if r.runtime else ()))})
NAMES = [(c, n) for c, n in ALL_NAMES if n.split(".")[0] not in WHEEL_ROOTS]
WHEEL_NAMES = [(c, n) for c, n in ALL_NAMES if n.split(".")[0] in WHEEL_ROOTS]


def resolve(qualified: str):
    parts = qualified.split(".")
    assert parts[0] in ROOTS, f"{qualified}: unexpected library"
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(qualified)


@pytest.mark.parametrize("code,name", NAMES, ids=[f"{c}-{n}" for c, n in NAMES])
def test_qualified_name_exists(code, name):
    assert callable(resolve(name))


@pytest.fixture(scope="module")
def wheel_sources(tmp_path_factory) -> dict[str, zipfile.ZipFile]:
    """The pinned wheels of WHEEL_ROOTS, downloaded (no dependencies, nothing installed)."""
    out = tmp_path_factory.mktemp("wheels")
    got = {}
    for root, spec in WHEEL_ROOTS.items():
        done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                               "-d", str(out), spec], capture_output=True, text=True)
        if done.returncode != 0:
            offline = "connection" in done.stderr.lower() or "No matching distribution" in done.stderr
            if offline:
                pytest.skip(f"offline: cannot download {spec} to read its names")
            pytest.fail(f"pip download {spec} failed:\n{done.stderr[-600:]}")
        (whl,) = out.glob(f"{root}-*.whl")
        got[root] = zipfile.ZipFile(whl)
    return got


def _defines(zf: zipfile.ZipFile, module: str, name: str, hops: int = 3) -> bool:
    """``module`` (dotted) defines ``name`` at top level, or imports it from a module that does."""
    files = set(zf.namelist())
    base = module.replace(".", "/")
    path = next((p for p in (f"{base}.py", f"{base}/__init__.py") if p in files), None)
    if path is None or hops < 0:
        return False
    tree = ast.parse(zf.read(path))
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return True
        if isinstance(node, ast.ImportFrom) and any(a.name == name and a.asname is None for a in node.names):
            source = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*parent, *([source] if source else [])])
            return _defines(zf, source, name, hops - 1)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("code,name", WHEEL_NAMES, ids=[f"{c}-{n}" for c, n in WHEEL_NAMES])
def test_qualified_name_exists_in_the_pinned_wheel(code, name, wheel_sources):
    module, _, attr = name.rpartition(".")
    assert _defines(wheel_sources[name.split(".")[0]], module, attr), f"{name} is not in {WHEEL_ROOTS}"


def test_methods_exist_on_tensor_or_ndarray():
    torch = pytest.importorskip("torch")
    import numpy as np

    missing = []
    for r in CAT.values():
        for m in r.match.methods:
            head = m.split("(")[0].split(".")[0]
            if not (hasattr(torch.Tensor, head) or hasattr(np.ndarray, head)):
                missing.append((r.code, m))
    assert missing == []


def test_no_callable_is_claimed_by_two_rules_except_documented_overlaps():
    """torch.max/min (elementwise KC104 vs reduction KC105, decided by arity), the
    selections whose positions alone are kept (KC303, their values KC105's) and the eps
    floors of KC901 (a subset of KC103's clamps) are the only shared names."""
    seen: dict[str, set[str]] = {}
    for r in CAT.values():
        for name in r.match.callables:
            seen.setdefault(name, set()).add(r.code)
    shared = {n: c for n, c in seen.items() if len(c) > 1}
    allowed = {"KC104", "KC105"}, {"KC103", "KC901"}, {"KC104", "KC901"}, {"KC302", "KC504"}, \
        {"KC105", "KC303"}, {"KC104", "KC105", "KC303"}
    assert all(c in allowed for c in shared.values()), shared
