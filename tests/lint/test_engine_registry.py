"""Every rule is handled by something, every guard id has code, and a check registered
for a code that is not in the catalog fails loudly."""

from __future__ import annotations

import pytest

from kinkcheck import catalog as catalog_mod
from kinkcheck.catalog import GUARDS, CatalogError
from kinkcheck.lint import checks, guards

CATALOG = catalog_mod.load()


@pytest.mark.parametrize("code", [c for c in CATALOG if not c.startswith("KC0")])
def test_every_rule_is_matched_or_has_a_check(code):
    rule = CATALOG[code]
    m = rule.match
    generic = bool(m.callables or m.methods or m.operators)
    assert generic or code in checks.registered_codes() and code in checks.NODE_CHECKS, f"{code} has no [match] and no node check"


@pytest.mark.parametrize("gid", sorted(GUARDS))
def test_every_guard_id_is_implemented(gid):
    assert gid in guards.GUARDS


def test_every_registered_check_names_a_catalog_rule():
    checks.validate(CATALOG)
    assert checks.registered_codes() <= set(CATALOG)


def test_a_typo_in_a_registered_code_fails_loudly(monkeypatch):
    monkeypatch.setitem(checks.REFINERS, "KC999", lambda site, ctx: site)
    fresh = catalog_mod.Catalog(list(CATALOG.values()), CATALOG.root)
    with pytest.raises(CatalogError, match="KC999"):
        checks.validate(fresh)


def test_registering_a_code_twice_fails():
    with pytest.raises(CatalogError):
        checks.refine("KC202")(lambda site, ctx: site)
