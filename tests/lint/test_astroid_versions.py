"""The astroid internals ``kinkcheck/lint/infer_astroid.py`` patches exist, with the signatures
its replacements take, in the astroid installed, and that astroid is inside the range
pyproject.toml allows. The range's upper bound is the newest version read: 3.2.4, 3.3.11 and
4.0.4 were read from their wheels (the same names, parameters, brain keys and caches), 4.3.4
is the one the tests run; a newer astroid must pass this file before the bound moves."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

astroid = pytest.importorskip("astroid")

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

#: method -> the parameters infer_astroid's replacement takes, in order
PATCHED_METHODS = {
    "ast_from_module_name": ["self", "modname", "context_file", "use_cache"],
    "ast_from_file": ["self", "filepath", "modname", "fallback", "source"],
    "ast_from_module": ["self", "module", "modname"],
}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_the_installed_astroid_is_inside_the_declared_range():
    spec = re.search(r'"astroid>=([\d.]+),<([\d.]+)"', PYPROJECT.read_text(encoding="utf-8"))
    assert spec, "pyproject.toml must bound astroid from above: infer_astroid.py patches its internals"
    low, high = _version(spec.group(1)), _version(spec.group(2))
    assert low <= _version(astroid.__version__) < high


@pytest.mark.parametrize("name", sorted(PATCHED_METHODS))
def test_the_patched_manager_methods_keep_their_signatures(name):
    from astroid.manager import AstroidManager

    method = AstroidManager.__dict__[name]  # infer_astroid saves and restores it from __dict__
    assert list(inspect.signature(method).parameters) == PATCHED_METHODS[name]


def test_the_brain_keys_and_caches_infer_astroid_saves_exist():
    from astroid import context
    from astroid.inference_tip import _cache
    from astroid.manager import AstroidManager

    assert isinstance(AstroidManager.brain["max_inferable_values"], int)
    assert isinstance(AstroidManager.brain["astroid_cache"], dict)
    assert isinstance(context.InferenceContext.max_inferred, int)
    assert isinstance(context._INFERENCE_CACHE, dict) and isinstance(_cache, dict)
