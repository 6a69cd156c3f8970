"""The parsed catalog kept between runs (kinkcheck/catalog_cache.py): the same rules come
back, a changed rule file or a damaged entry means parsing again, and a field whose form
the cache does not know fails loudly instead of coming back half-built."""

from __future__ import annotations

import pytest

from kinkcheck import catalog, catalog_cache
from kinkcheck.catalog import Rule
from kinkcheck.record import record


@pytest.fixture
def rules(tmp_path, monkeypatch):
    """A copy of three rules in a folder of their own, and a fresh cache directory."""
    monkeypatch.setenv("KINKCHECK_CATALOG_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "rules"
    folder.mkdir()
    for path in sorted(catalog.rules_dir().glob("KC10[123]-*.toml")):
        (folder / path.name).write_bytes(path.read_bytes())
    catalog.load.cache_clear()
    yield folder
    catalog.load.cache_clear()


def parses(monkeypatch) -> list[str]:
    """The rule files parsed from now on."""
    names: list[str] = []
    real = catalog.load_rule
    monkeypatch.setattr(catalog, "load_rule", lambda path: names.append(path.name) or real(path))
    return names


def test_the_kept_catalog_is_the_parsed_one(rules, monkeypatch):
    parsed = catalog.load(rules)
    catalog.load.cache_clear()
    names = parses(monkeypatch)
    kept = catalog.load(rules)
    assert names == [] and kept is not parsed
    assert [repr(rule) for rule in kept.values()] == [repr(rule) for rule in parsed.values()]
    assert kept.root == parsed.root and kept["KC101"].source == parsed["KC101"].source
    assert kept.select(["KC1"]) == {"KC101", "KC102", "KC103"} and kept.lookup("abs-at-zero") is not None


def test_an_edited_rule_or_a_damaged_entry_is_parsed_again(rules, monkeypatch):
    catalog.load(rules)
    names = parses(monkeypatch)
    path = next(rules.glob("KC102-*.toml"))
    path.write_text(path.read_text(encoding="utf-8").replace('summary = "', 'summary = "Edited: ', 1), encoding="utf-8")
    catalog.load.cache_clear()
    assert catalog.load(rules)["KC102"].summary.startswith("Edited: ") and len(names) == 3
    for entry in (rules.parent / "cache").glob("catalog-*.marshal"):
        entry.write_bytes(b"\x00not marshal")
    catalog.load.cache_clear()
    assert catalog.load(rules)["KC102"].summary.startswith("Edited: ") and len(names) == 6


def test_a_field_form_the_cache_does_not_know_fails_loudly():
    @record
    class Odd:
        rules: dict[str, Rule]

    with pytest.raises(TypeError, match=r"Odd.rules: 'dict\[str, Rule\]' is not a form the catalog cache knows"):
        catalog_cache._plan(Odd)
