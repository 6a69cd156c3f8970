"""A file the parser accepts is analysed: deep nesting is retried with room for it, and a
limit that is still hit is a KC001 that names it, never a silent exit 0."""

from __future__ import annotations

import sys

import pytest

from kinkcheck.config import load_config
from kinkcheck.lint import deep
from kinkcheck.lint.api import check_paths


def _elif_chain(n: int) -> str:
    lines = ["import torch", "", "def loss(x, k):", "    if k == 0:", "        y = torch.abs(x)"]
    for i in range(1, n):
        lines += [f"    elif k == {i}:", f"        y = x * {i}"]
    lines += ["    else:", "        y = torch.sqrt(x)", "    return y.sum()"]
    return "\n".join(lines) + "\n"


def _long_sum(n: int) -> str:
    terms = " + ".join(f"x[{i}]" for i in range(n))
    return f"import torch\n\ndef loss(x):\n    s = {terms}\n    return torch.abs(s)\n"


def _check(tmp_path, name: str, source: str):
    (tmp_path / name).write_text(source)
    return check_paths([tmp_path / name], load_config(tmp_path, {}), use_cache=False, jobs=1)


def test_a_thousand_branch_elif_chain_is_analysed(tmp_path):
    result = _check(tmp_path, "chain.py", _elif_chain(1000))
    assert [(f.line, f.code) for f in result.findings] == [(5, "KC101"), (2005, "KC201")]
    assert sys.getrecursionlimit() == 1000 or sys.getrecursionlimit() < deep.DEEP_LIMIT


def test_a_2990_term_sum_is_analysed(tmp_path):
    result = _check(tmp_path, "sum.py", _long_sum(2990))
    assert [(f.line, f.code) for f in result.findings] == [(5, "KC101")]


def test_nesting_beyond_the_retry_is_a_kc001_naming_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(deep, "DEEP_LIMIT", 1000)
    result = _check(tmp_path, "sum.py", _long_sum(2990))
    assert [(f.code, f.message) for f in result.findings] == [
        ("KC001", "file nested too deeply to analyze (more than 1,000 levels)")]
    assert result.exit_code == 1 and result.errors == []


@pytest.mark.slow
def test_a_file_over_the_work_budget_says_so(tmp_path):
    result = _check(tmp_path, "huge.py", _long_sum(60_000))
    assert [f.code for f in result.findings] == ["KC001"]
    assert "work budget" in result.findings[0].message and "huge.loss" in result.findings[0].message


def test_the_retry_restores_the_recursion_limit():
    before = sys.getrecursionlimit()

    def nest(n: int) -> int:
        return 0 if n == 0 else 1 + nest(n - 1)

    assert deep.run(nest, 5000) == 5000
    assert sys.getrecursionlimit() == before
    with pytest.raises(deep.TooDeep):
        deep.run(nest, deep.DEEP_LIMIT * 2)
    assert sys.getrecursionlimit() == before
