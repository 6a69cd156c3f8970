"""Every catalog example is a test case: ``[[invalid]]`` must give exactly its expected
positions for its rule, ``[[valid]]`` none of that rule (documented ones don't count).

Examples run through the same path as a one-file ``kinkcheck check`` (index, scope,
engine, kink comments) with every rule enabled, in the default "loss" scope.
"""

from __future__ import annotations

import pytest

from kinkcheck import catalog as catalog_mod
from kinkcheck.lint.api import check_source

CATALOG = catalog_mod.load()
ALL_CODES = frozenset(CATALOG)


def _cases(kind: str):
    for rule in CATALOG.values():
        if rule.code.startswith("KC0"):
            continue  # meta rules are the driver's (parse errors, comments)
        for ex in getattr(rule, kind):
            yield pytest.param(rule.code, ex, id=ex.id)


def _positions(code: str, source: str) -> list[tuple[int, int]]:
    findings = check_source(source, "example.py", module="example", codes=ALL_CODES)
    return sorted((f.line, f.col) for f in findings if f.code == code and not f.documented)


@pytest.mark.parametrize(("code", "example"), list(_cases("invalid")))
def test_invalid_example(code, example):
    assert _positions(code, example.code) == sorted(example.expect)


@pytest.mark.parametrize(("code", "example"), list(_cases("valid")))
def test_valid_example(code, example):
    assert _positions(code, example.code) == []
