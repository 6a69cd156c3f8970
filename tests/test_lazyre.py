"""Module-level patterns compile on first use, and match exactly as ``re.compile`` would."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kinkcheck.lazyre import lazy_pattern

PACKAGE = Path(__file__).resolve().parents[1] / "kinkcheck"


@pytest.mark.parametrize("method, args", [
    ("search", ("a_loss_b",)),
    ("match", ("loss_b",)),
    ("fullmatch", ("loss",)),
    ("findall", ("loss, LOSS and Loss",)),
    ("split", ("a loss b",)),
    ("sub", ("x", "a loss b")),
    ("subn", ("x", "loss loss")),
])
def test_lazy_pattern_answers_as_the_compiled_one(method, args):
    lazy, compiled = lazy_pattern(r"loss", re.IGNORECASE), re.compile(r"loss", re.IGNORECASE)
    got, want = getattr(lazy, method)(*args), getattr(compiled, method)(*args)
    if isinstance(want, re.Match):
        assert isinstance(got, re.Match) and got.span() == want.span()
    else:
        assert got == want
    assert [m.span() for m in lazy.finditer(args[-1])] == [m.span() for m in compiled.finditer(args[-1])]
    assert lazy.pattern == "loss" and lazy.flags == compiled.flags


def test_nothing_is_compiled_before_the_first_match():
    pattern = lazy_pattern(r"(^|_)eps$")
    assert pattern._compiled is None
    assert pattern.search("x_eps") is not None
    assert isinstance(pattern._compiled, re.Pattern)


def test_a_bad_pattern_fails_where_it_is_used():
    pattern = lazy_pattern(r"(unclosed")
    with pytest.raises(re.error):
        pattern.search("x")


def test_importing_the_analyzer_compiles_none_of_its_vocabularies():
    """What a one-file run (the pre-commit hook) pays at import: the modules it loads, without
    their patterns (about 15 ms of compiling when they were eager)."""
    code = ("import os, re, sys\n"
            "calls = []\n"
            "real = re._compile\n"
            "def spy(p, f):\n"
            "    caller = sys._getframe(2).f_code.co_filename\n"
            "    if os.sep + 'kinkcheck' + os.sep in caller:\n"
            "        calls.append((caller, p))\n"
            "    return real(p, f)\n"
            "re._compile = spy\n"
            "import kinkcheck.lint.engine, kinkcheck.lint.roots, kinkcheck.lint.resolve, kinkcheck.output.safe\n"
            "from kinkcheck.lint import checks\n"
            "checks._load_all()\n"
            "print(calls)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _module_level_compiles(tree: ast.Module) -> list[int]:
    lines = []
    stack: list[ast.AST] = [s for s in tree.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "re.compile":
            lines.append(node.lineno)
        stack.extend(ast.iter_child_nodes(node))
    return lines


def test_module_level_patterns_are_lazy():
    eager = {str(p.relative_to(PACKAGE.parent)): lines
             for p in sorted(PACKAGE.rglob("*.py"))
             if (lines := _module_level_compiles(ast.parse(p.read_text(encoding="utf-8"))))}
    assert not eager, f"use kinkcheck.lazyre.lazy_pattern for module-level patterns: {eager}"
