"""A finding's concrete rewrite keeps the user's own expressions: the kinked operand goes
into `{x}`, the other operand (a numerator, an exponent) into `{other}`."""

import textwrap

import pytest

from kinkcheck import catalog
from kinkcheck.lint.engine import analyze_file


def replacement(body: str, code: str) -> str | None:
    source = "import torch\n\n\ndef loss(a, b):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    cat = catalog.load()
    (finding,) = [f for f in analyze_file(source, "m.py", "m", None, codes=frozenset(cat), catalog=cat)
                  if f.code == code]
    return finding.replacement


@pytest.mark.parametrize(("body", "code", "expected"), [
    ("return torch.abs(a - b).mean()", "KC101", "torch.sqrt((a - b) * (a - b) + eps * eps) - eps"),
    ("return (a / b.sum()).mean()", "KC205", "a / (b.sum() + eps)"),
    ("return torch.div(a * 2, b).mean()", "KC205", "(a * 2) / (b + eps)"),
    ("return (a ** 0.5).mean()", "KC202", "(a + eps) ** 0.5"),
    ("return torch.reciprocal(b).mean()", "KC205", None),  # no numerator: only the template fits
])
def test_rewrites_use_the_users_expressions(body, code, expected):
    assert replacement(body, code) == expected


def replacements_in(source: str) -> dict[str, str | None]:
    cat = catalog.load()
    found = analyze_file(textwrap.dedent(source), "m.py", "m", None, codes=frozenset(cat), catalog=cat)
    return {f.code: f.replacement for f in found}


def test_jax_and_numpy_sites_get_rewrites_in_their_own_framework():
    jax_site = replacements_in('''
        import jax
        import jax.numpy as jnp

        def objective(r, y):
            return jnp.abs(r).sum() + jnp.sqrt(y).sum() + jax.nn.relu(r).sum()
    ''')
    assert jax_site["KC101"] == "jnp.sqrt(r * r + eps * eps) - eps"
    assert jax_site["KC201"] == "jnp.sqrt(y + eps)"
    assert jax_site["KC102"] is None  # softplus(x, beta=...) has no jax spelling: no torch code in jax
    np_site = replacements_in('''
        import numpy as np

        def loss(r):
            return np.sqrt(np.abs(r)).sum()
    ''')
    assert np_site["KC101"] == "np.sqrt(r * r + eps * eps) - eps"


def test_branches_blend_their_own_values():
    found = replacements_in('''
        import torch

        def loss(a, b):
            return (a if a.sum() < 1.5 else b).mean()
    ''')
    assert found["KC401"] == (
        "torch.sigmoid(k * (1.5 - a.sum())) * a + (1 - torch.sigmoid(k * (1.5 - a.sum()))) * b"
    )
