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
    assert len(by_prim) + len(by_code) == named


def test_a_misspelt_name_is_reported_missing():
    rules = catalog.load()

    class Renamed:  # KC101 as if its [runtime] jax said "abss"
        def __getitem__(self, code):
            rule = rules[code]
            return type("R", (), {"runtime": type("RT", (), {"kind": "zero", "jax": ("abss",)})(),
                                  "name": rule.name, "subgradient": rule.subgradient})()

    assert jax_ops.table(Renamed(), {"KC101"})[2] == ["KC101: lax.abss"]
