"""``kinkcheck check examples/`` finds exactly the planted kinks, and the examples run.

Every undocumented kink in examples/ carries a trailing ``# planted: KC101`` (several codes
allowed); every documented one a ``# kink: ...`` comment. The planted markers are the
expectation, written next to the code they describe.
"""

from __future__ import annotations

import importlib.util
import re
import tokenize
from pathlib import Path

import pytest

from kinkcheck.lint.api import check_paths

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
PLANTED = re.compile(r"#\s*planted:\s*(KC\d{3}(?:\s*,\s*KC\d{3})*)")
DOCUMENTED = re.compile(r"#\s*kink(\[[^\]]*\])?:")


def markers(pattern):
    """(path, line, code) of every comment matching ``pattern`` (comments only: the
    docstrings mention ``# kink:`` too)."""
    out = set()
    for path in sorted(EXAMPLES.glob("*.py")):
        with tokenize.open(path) as fh:
            for tok in tokenize.generate_tokens(fh.readline):
                m = pattern.search(tok.string) if tok.type == tokenize.COMMENT else None
                if m:
                    codes = re.findall(r"KC\d{3}", m.group(1)) if pattern is PLANTED else [None]
                    out |= {(f"examples/{path.name}", tok.start[0], code) for code in codes}
    return out


@pytest.fixture(scope="module")
def result():
    import os

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return check_paths(["examples"], use_cache=False)
    finally:
        os.chdir(cwd)


def test_every_family_is_planted():
    from kinkcheck.catalog import load

    catalog = load()
    planted = {catalog[code].category for _, _, code in markers(PLANTED)}
    assert planted >= {"kink", "singular", "step", "branch", "blackbox"}
    assert len(markers(DOCUMENTED)) >= 3


def test_findings_are_exactly_the_planted_kinks(result):
    found = {(f.path, f.line, f.code) for f in result.findings if not f.documented}
    expected = markers(PLANTED)
    assert sorted(found - expected) == [], "reported but not planted"
    assert sorted(expected - found) == [], "planted but not reported"
    assert result.errors == [] and result.exit_code == 1


def test_documented_kinks_are_kept_with_their_reason(result):
    documented = {(f.path, f.line) for f in result.findings if f.documented}
    assert documented == {(p, n) for p, n, _ in markers(DOCUMENTED)}
    assert all(f.reason for f in result.findings if f.documented)


def test_cli_over_examples(cli, monkeypatch):
    monkeypatch.chdir(REPO)
    r = cli("check", "examples/", "--show-documented", "--output-format", "concise", "--no-cache")
    assert r.exit_code == 1
    assert sum("(documented: " in line for line in r.stdout.splitlines()) == len(markers(DOCUMENTED))
    assert re.fullmatch(
        rf"Checked 3 files \(\d+ functions of loss code\); found {len(markers(PLANTED))} undocumented kinks "
        rf"\({len(markers(DOCUMENTED))} documented\)\.", r.stdout.splitlines()[-1]
    ), r.stdout.splitlines()[-1]


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_examples_train_a_few_steps():
    numpy_regression = _load("numpy_regression")
    w, history = numpy_regression.main(steps=50)
    assert history[-1] < history[0]

    pytest.importorskip("sklearn")
    torch = pytest.importorskip("torch")
    train_digits = _load("train_digits")
    losses = train_digits.main(steps=5, dtype=torch.float64)
    assert len(losses) == 5 and all(loss == loss for loss in losses)

    pytest.importorskip("jax")
    jax_objective = _load("jax_objective")
    history = jax_objective.main(steps=10)
    assert history[-1] < history[0]
