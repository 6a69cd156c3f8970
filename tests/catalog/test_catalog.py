"""The catalog itself: it loads, every rule is complete enough to drive the checks, the
tracer, the docs and the report (the README and DEVELOPERS tables are generated from it:
tests/test_readme.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kinkcheck import catalog

CAT = catalog.load()
REPO = Path(__file__).resolve().parents[2]
NON_META = [r for r in CAT.values() if r.category != "meta"]


def test_catalog_loads_every_file():
    files = sorted((REPO / "rules").glob("*.toml"))
    assert len(CAT) == len(files) >= 30


def test_rules_dir_is_the_repository_catalog_in_a_checkout():
    # editable install / source checkout: no kinkcheck/_rules, so the repo's rules/ is used
    assert catalog.rules_dir().resolve() == (REPO / "rules").resolve()


def test_only_opinionated_rules_are_off_by_default():
    assert {r.code for r in CAT.values() if not r.default} == {r.code for r in CAT.values() if r.code.startswith("KC9")}


@pytest.mark.parametrize("rule", NON_META, ids=lambda r: r.code)
def test_rule_has_docs_and_examples(rule):
    assert len(rule.docs.what) > 40 and len(rule.docs.why) > 100
    assert rule.docs.known_problems and rule.docs.example and rule.docs.use_instead
    assert rule.docs.references
    assert len(rule.invalid) >= 2 and len(rule.valid) >= 2
    assert "{callee}" in rule.message or "{arg}" in rule.message


@pytest.mark.parametrize("rule", [r for r in NON_META if r.category in ("kink", "singular", "step", "branch")], ids=lambda r: r.code)
def test_kink_rules_have_remedies_and_a_location(rule):
    assert rule.remedies and rule.where
    fillable = ("{x}", "{lhs}")  # the kinked operand, or the two sides of a comparison
    assert any(rem.rewrite and any(p in rem.rewrite for p in fillable) for rem in rule.remedies), \
        "a concrete rewrite template"


@pytest.mark.parametrize("rule", [r for r in NON_META if r.category in ("kink", "singular")], ids=lambda r: r.code)
def test_kink_and_singular_rules_have_checked_subgradients(rule):
    for fw in ("torch", "jax"):
        sub = rule.subgradient(fw)
        assert sub is not None and sub.expr and sub.at and sub.grad, f"{rule.code} lacks a checkable {fw} subgradient"


@pytest.mark.parametrize("rule", [r for r in CAT.values() if r.category == "meta"], ids=lambda r: r.code)
def test_meta_rules_have_no_match_data(rule):
    assert not rule.match.callables and not rule.subgradients and rule.runtime is None
    assert rule.invalid and rule.valid


EXAMPLES = [(r, ex) for r in CAT.values() for ex in (*r.invalid, *r.valid)]


@pytest.mark.parametrize("rule,example", EXAMPLES, ids=[ex.id for _, ex in EXAMPLES])
def test_example_shape(rule, example):
    """Line 1 of every example is empty, so positions read like the TOML block; invalid
    positions are inside the source. (The engine's own test runs the examples.)"""
    assert example.code.startswith("\n") and not example.code.startswith("\n\n")
    lines = example.code.splitlines()
    for e in example.expect:
        assert 1 <= e.line <= len(lines) and 1 <= e.col <= len(lines[e.line - 1]), e
        assert lines[e.line - 1][e.col - 1] != " "
        if e.end_line is not None:
            assert (e.line, e.col) < (e.end_line, e.end_col) and e.end_line <= len(lines), e
    if rule.code != "KC001":
        ast.parse(example.code)


def _nodes_at(code: str, line: int, col: int):
    tree = ast.parse(code)
    return [n for n in ast.walk(tree) if isinstance(n, ast.expr) and n.lineno == line and n.col_offset == col - 1]


#: comparisons are reported at the comparison itself (`x > t` in a mask or a where's condition)
AT_COMPARISON = ("KC304", "KC402")
POSITIONED = [(r, ex) for r in CAT.values()
              if r.category in ("kink", "singular", "step", "blackbox") and r.code not in AT_COMPARISON
              for ex in r.invalid]


@pytest.mark.parametrize("rule,example", POSITIONED, ids=[ex.id for _, ex in POSITIONED])
def test_invalid_positions_point_at_a_call_or_operator(rule, example):
    """Position convention: the whole call (or BinOp, or `.data` attribute) starts there."""
    for e in example.expect:
        kinds = {type(n).__name__ for n in _nodes_at(example.code, e.line, e.col)}
        assert kinds & {"Call", "BinOp", "Attribute"}, (e, kinds)


def test_kc001_positions_are_where_python_stops():
    for ex in CAT["KC001"].invalid:
        with pytest.raises(SyntaxError) as info:
            ast.parse(ex.code)
        assert (info.value.lineno, info.value.offset) == (ex.expect[0].line, ex.expect[0].col)


def test_comment_rules_point_at_the_hash():
    for code in ("KC002", "KC003"):
        for ex in CAT[code].invalid:
            e = ex.expect[0]
            assert ex.code.splitlines()[e.line - 1][e.col - 1] == "#"


def test_guards_and_runtime_kinds_are_known():
    for r in CAT.values():
        assert set(r.guards) <= set(catalog.GUARDS)
        if r.runtime:
            assert r.runtime.kind in catalog.RUNTIME_KINDS


def test_lookup_by_code_or_name():
    assert CAT.lookup("kc203").name == "norm-at-zero"
    assert CAT.lookup("division-by-zero").code == "KC205"
    assert CAT.lookup("nope") is None
