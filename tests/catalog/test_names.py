"""Every qualified name the catalog matches exists in the installed libraries, so a typo in
rules/ fails here instead of silently never matching."""

from __future__ import annotations

import importlib

import pytest

from kinkcheck import catalog

CAT = catalog.load()
#: names that are not attributes of an importable module (module-level `operator` functions
#: are; these are all checked). Nothing is skipped silently: an unknown root fails.
ROOTS = ("torch", "numpy", "jax", "math", "builtins", "scipy", "operator")

NAMES = sorted({(r.code, name) for r in CAT.values() for name in (*r.match.callables, *(r.runtime.numpy if r.runtime else ()))})


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
    """torch.max/min (elementwise KC104 vs reduction KC105, decided by arity) and the eps
    floors of KC901 (a subset of KC103's clamps) are the only shared names."""
    seen: dict[str, set[str]] = {}
    for r in CAT.values():
        for name in r.match.callables:
            seen.setdefault(name, set()).add(r.code)
    shared = {n: c for n, c in seen.items() if len(c) > 1}
    allowed = {"KC104", "KC105"}, {"KC103", "KC901"}, {"KC104", "KC901"}, {"KC302", "KC504"}
    assert all(c in allowed for c in shared.values()), shared
