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
