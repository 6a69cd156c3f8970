"""A report site's remedies come from the one filler: the analyzer's where it made them,
else read from the site's source, spelled with the file's own imports."""

from __future__ import annotations

from kinkcheck import catalog
from kinkcheck.findings import Finding
from kinkcheck.report.rewrite import imports, remedies, segment

CATALOG = catalog.load()


def by_title(filled):
    return {f.title: f.rewrite for f in filled}


def test_a_runtime_only_site_is_read_from_its_line_in_its_own_library():
    lines = ["import jax", "import jax.numpy as jnp", "", "def f(r):", "    return jnp.abs(r).sum()"]
    got = by_title(remedies(CATALOG["KC101"], None, [lines[4]], lines))
    assert got["pseudo-Huber (smooth abs)"] == "jnp.sqrt(r * r + 1e-6) - 0.001"
    assert got["Huber / smooth L1"] is None  # torch only: never a torch call in a jax file


def test_the_analyzers_own_rewrites_win_by_title():
    f = Finding(code="KC101", name="abs-at-zero", category="kink", path="m.py", line=1, col=1, end_line=1,
                end_col=5, message="", extra={"remedies": [{"title": "Huber / smooth L1", "rewrite": "mine(d)",
                                                            "applicability": "unsafe"}]})
    got = by_title(remedies(CATALOG["KC101"], f, ["torch.abs(d)"], None))
    assert got == {"pseudo-Huber (smooth abs)": None, "Huber / smooth L1": "mine(d)", "epigraph reformulation": None}


def test_a_line_with_two_sites_is_not_guessed():
    got = by_title(remedies(CATALOG["KC101"], None, ["return torch.abs(a) + torch.abs(b)"], None))
    assert set(got.values()) == {None}


def test_imports_of_an_unparsable_file_are_unknown():
    assert imports(["def f(:"]) is None
    assert imports(["import torch.nn.functional as F"]) == {"F": "torch.nn.functional"}


def test_segment_reads_a_span_with_1_based_columns_and_exclusive_end():
    lines = ["    return torch.abs(", "        d)"]
    assert segment(lines, 1, 12, 2, 11) == "torch.abs(\n        d)"
    assert segment(lines, 1, 12, 1, 22) == "torch.abs("
    assert segment(lines, 3, 1, 3, 2) is None
