"""Every catalog example is a test case: ``[[invalid]]`` must give exactly its expected
findings for its rule (span and message, as Fixit's ``Invalid(...)`` pins them), ``[[valid]]``
none of that rule (documented ones don't count).

Examples run through the same path as a one-file ``kinkcheck check`` (index, scope,
engine, kink comments, parse errors) with every rule enabled, in the default "loss" scope.
"""

from __future__ import annotations

import pytest

from kinkcheck import catalog as catalog_mod
from kinkcheck.lint.api import check_source

CATALOG = catalog_mod.load()
ALL_CODES = frozenset(CATALOG)


def _cases(kind: str):
    for rule in CATALOG.values():
        for ex in getattr(rule, kind):
            yield pytest.param(rule.code, ex, id=ex.id)


def _findings(code: str, source: str):
    findings = check_source(source, "example.py", module="example", codes=ALL_CODES)
    return sorted((f for f in findings if f.code == code and not f.documented), key=lambda f: (f.line, f.col))


@pytest.mark.parametrize(("code", "example"), list(_cases("invalid")))
def test_invalid_example(code, example):
    want = sorted(example.expect, key=lambda e: (e.line, e.col))
    got = _findings(code, example.code)
    assert [(f.line, f.col, f.end_line, f.end_col, f.message) for f in got] == \
        [(e.line, e.col, e.end_line, e.end_col, e.message) for e in want]
    pinned = [(f.replacement, e.replacement) for f, e in zip(got, want) if e.replacement is not None]
    assert [have for have, _ in pinned] == [expected for _, expected in pinned]


def test_every_invalid_example_pins_span_and_message():
    loose = [ex.id for rule in CATALOG.values() for ex in rule.invalid
             if any(e.end_col is None or e.message is None for e in ex.expect)]
    assert loose == []


def test_every_invalid_example_pins_the_replacement_it_gets():
    """Fixit's ``Invalid(..., expected_replacement=...)``: where a finding carries a concrete
    rewrite, its example says which, so a change to a remedy shows up as a diff of the catalog."""
    loose = []
    for rule in CATALOG.values():
        for ex in rule.invalid:
            want = sorted(ex.expect, key=lambda e: (e.line, e.col))
            for f, e in zip(_findings(rule.code, ex.code), want):
                if f.replacement is not None and e.replacement is None:
                    loose.append(ex.id)
    assert loose == []


@pytest.mark.parametrize(("code", "example"), list(_cases("valid")))
def test_valid_example(code, example):
    assert _findings(code, example.code) == []
