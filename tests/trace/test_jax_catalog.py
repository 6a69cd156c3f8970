"""The catalog's ``[runtime] jax`` names resolve: every lax primitive and jax function exists."""

from __future__ import annotations

import pytest

pytest.importorskip("jax")

from kinkcheck import catalog  # noqa: E402
from kinkcheck.trace.backends import jax_ops  # noqa: E402


def test_every_jax_name_in_the_catalog_resolves():
    rules = catalog.load()
    by_prim, by_code, missing = jax_ops.table(rules, set(rules))
    assert missing == []
    named = sum(len(r.runtime.jax) for r in rules.values() if r.runtime is not None)
    # comparisons are entered for the functions built on them, and count only inside those
    own = [p for p, rule in by_prim.items() if rule.branch != ("*",)]
    assert len(own) + len(by_code) == named
    assert {p.name for p in by_prim if p not in own} == {c for r in by_code.values() for c in r.branch}


def test_every_function_built_on_a_comparison_is_in_the_catalog():
    rules = catalog.load()
    named = {n for r in rules.values() if r.runtime is not None for n in r.runtime.jax}
    assert set(jax_ops.BRANCHES) <= named


def test_a_misspelt_name_is_reported_missing():
    rules = catalog.load()

    class Renamed:  # KC101 as if its [runtime] jax said "abss"
        def __iter__(self):
            return iter(["KC101"])

        def __getitem__(self, code):
            rule = rules[code]
            return type("R", (), {"runtime": type("RT", (), {"kind": "zero", "jax": ("abss",)})(),
                                  "name": rule.name, "subgradient": rule.subgradient})()

    assert jax_ops.table(Renamed(), {"KC101"})[2] == ["KC101: lax.abss"]
