"""Fixture files with inline expectations, bugbear-style.

``loss = torch.abs(d)  # expect: KC101:12`` means exactly one KC101 finding at that line,
column 12 (1-based); several may be listed. Every line without ``# expect:`` must have no
finding. All fixture files are indexed and scoped together, as one checked tree, so
re-exports and calls across files count; a file with a ``# scope: --all`` line is checked
function by function as ``kinkcheck check --all`` does.

A file whose name contains ``known_gaps`` holds cases where the analyzer disagrees with a
reviewer's expectation: each top-level function or class is its own test, xfail(strict=True),
so that a gap the analyzer closes fails the suite until the case moves to its class fixture.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from kinkcheck import catalog as catalog_mod
from kinkcheck.lint.engine import analyze_file
from kinkcheck.lint.index import index_source
from kinkcheck.lint.scope import loss_scope

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "engine"
EXPECT_RE = re.compile(r"#\s*expect:\s*((?:KC\d{3}:\d+\s*)+)")
CATALOG = catalog_mod.load()
CODES = frozenset(c for c in CATALOG.default_codes() if not c.startswith("KC0"))


def expectations(path: Path) -> set[tuple[int, int, str]]:
    out = set()
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        m = EXPECT_RE.search(line)
        if m:
            for item in m.group(1).split():
                code, col = item.split(":")
                out.add((lineno, int(col), code))
    return out


def _tree():
    files = sorted(FIXTURES.glob("*.py"))
    sources = {p: p.read_text() for p in files}
    indexes = [index_source(src, str(p), p.stem) for p, src in sources.items()]
    return sources, loss_scope(indexes), loss_scope(indexes, scope="all")


SOURCES, SCOPE, SCOPE_ALL = _tree()


KNOWN_GAPS = "known_gaps"


#: a fixture that checks every function, as ``kinkcheck check --all`` does, says so on a line
ALL_SCOPE = "# scope: --all"


def findings_of(path: Path) -> set[tuple[int, int, str]]:
    scope = SCOPE_ALL if ALL_SCOPE in SOURCES[path].splitlines() else SCOPE
    functions = scope.get(str(path), frozenset())
    if not functions:
        return set()
    findings = analyze_file(SOURCES[path], str(path), path.stem, functions, codes=CODES, catalog=CATALOG)
    return {(f.line, f.col, f.code) for f in findings}


@pytest.mark.parametrize("path", sorted(p for p in SOURCES if KNOWN_GAPS not in p.name), ids=lambda p: p.name)
def test_fixture(path: Path):
    assert sorted(findings_of(path)) == sorted(expectations(path))


def gap_cases(path: Path) -> list[tuple[str, int, int]]:
    """(name, first line, last line) of each top-level function or class: one gap each."""
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [(n.name, min([n.lineno] + [d.lineno for d in n.decorator_list]), n.end_lineno)
            for n in ast.parse(SOURCES[path]).body if isinstance(n, defs)]


GAP_FILES = sorted(p for p in SOURCES if KNOWN_GAPS in p.name)
GAP_REASON = "known gap: the analyzer disagrees with the reviewer's expectation (see the case's `# gap:` line)"


@pytest.mark.parametrize(
    ("path", "lo", "hi"),
    [pytest.param(p, lo, hi, id=f"{p.name}::{name}", marks=pytest.mark.xfail(strict=True, reason=GAP_REASON))
     for p in GAP_FILES for name, lo, hi in gap_cases(p)],
)
def test_known_gap(path: Path, lo: int, hi: int):
    def inside(items):
        return sorted(i for i in items if lo <= i[0] <= hi)

    assert inside(findings_of(path)) == inside(expectations(path))


@pytest.mark.parametrize("path", GAP_FILES, ids=lambda p: p.name)
def test_known_gaps_file_has_nothing_outside_its_cases(path: Path):
    # module-level lines belong to no xfail case, so they are held to the plain rule
    cases = gap_cases(path)
    assert cases, "a known-gaps file with no cases"

    def outside(items):
        return sorted(i for i in items if not any(lo <= i[0] <= hi for _, lo, hi in cases))

    assert outside(findings_of(path)) == outside(expectations(path))


def test_fixture_findings_carry_everything_a_renderer_needs():
    path = FIXTURES / "aliases.py"
    findings = analyze_file(SOURCES[path], str(path), "aliases", SCOPE[str(path)], codes=CODES, catalog=CATALOG)
    by_line = {(f.line, f.code): f for f in findings}
    f = by_line[(18, "KC101")]
    assert (f.col, f.end_line, f.end_col) == (9, 18, 17)  # `T.abs(d)`, end exclusive
    assert f.function == "aliases.loss_aliases"
    assert f.confidence == "high"
    assert f.snippet == "    a = T.abs(d)  # expect: KC101:9"
    assert "`T.abs`" in f.message
    assert f.replacement == "(torch.sqrt(d * d + 1e-6) - 0.001)"  # torch is imported as itself too
    method = next(f for f in findings if f.line == 28)
    assert method.confidence == "medium" and method.replacement.startswith("(torch.sqrt((_x := (pred - target)) *")
    builtin = by_line[(44, "KC101")]
    assert builtin.confidence == "medium"


def test_scope_model_checks_the_forward_too():
    path = FIXTURES / "scope_model.py"
    index = index_source(SOURCES[path], str(path), "scope_model")
    functions = loss_scope([index], scope="model")[str(path)]
    assert "scope_model.Net.forward" in functions
    findings = analyze_file(SOURCES[path], str(path), "scope_model", functions, codes=CODES, catalog=CATALOG)
    line = 1 + SOURCES[path].splitlines().index("        return F.relu(self.fc(x)).max(dim=1).values  # not loss code: scope \"model\" checks it")
    assert {(f.line, f.code) for f in findings if f.function == "scope_model.Net.forward"} == {(line, "KC102"), (line, "KC105")}


def test_scope_all_never_flags_plain_python():
    path = FIXTURES / "plain_python.py"
    assert analyze_file(SOURCES[path], str(path), "plain_python", None, codes=CODES, catalog=CATALOG) == []


def test_a_file_without_array_imports_has_no_findings_in_any_scope():
    # `--all` checks every function; in a file that imports no array library every value
    # is a Python value, so the loss-named `loss_scope` and its `depth >= max_depth` are fine
    path = FIXTURES / "plain_module.py"
    assert analyze_file(SOURCES[path], str(path), "plain_module", None, codes=CODES, catalog=CATALOG) == []
    same_with_torch = "import torch\n" + SOURCES[path]
    codes = {f.code for f in analyze_file(same_with_torch, str(path), "plain_module", None, codes=CODES, catalog=CATALOG)}
    assert "KC105" in codes  # the same code in an array file: unknown values may be tensors
