"""`kinkcheck rules` and `kinkcheck rule CODE`: the catalog as a user reads it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kinkcheck import catalog


def test_rules_lists_every_rule_with_default_state(cli):
    result = cli("rules")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == len(catalog.load())
    kc901 = next(line for line in lines if line.startswith("KC901"))
    assert "eps-clamp-floor" in kc901 and " off " in kc901
    assert " on " in next(line for line in lines if line.startswith("KC101"))


def test_rules_json(cli):
    data = json.loads(cli("rules", "--output-format", "json").output)
    assert {d["code"] for d in data} == set(catalog.load())
    assert {"code", "name", "category", "default", "summary"} <= set(data[0])
    assert len(json.loads(cli("rules", "--default-only", "--output-format", "json").output)) == len(data) - 1


def test_rule_docs_have_ruff_headings_in_order(cli):
    result = cli("rule", "KC201")
    assert result.exit_code == 0
    out = result.output
    headings = ["What it does", "Why is this bad?", "Known problems", "Example", "Use instead",
                "Subgradients", "Guards accepted", "Alternatives", "References"]
    positions = [out.index(h + "\n") for h in headings]
    assert positions == sorted(positions)
    assert out.startswith("sqrt-at-zero (KC201)\n")
    assert "torch.sqrt({x} + eps)" in out and "torch: inf" in out
    assert "```" not in out  # plain text when not on a terminal


def test_rule_by_name_and_lowercase_code(cli):
    assert cli("rule", "abs-at-zero").output == cli("rule", "kc101").output


def test_rule_json_carries_everything(cli):
    data = json.loads(cli("rule", "KC103", "--output-format", "json").output)
    assert data["subgradients"]["jax"]["grad"] == {"x": 0.5}
    assert data["runtime"]["kind"] == "bound" and "hardtanh.default" in data["runtime"]["aten"]
    assert data["docs"]["references"] and data["remedies"][0]["rewrite"]


def test_unknown_rule_is_one_line_and_exit_2(cli):
    from click.testing import CliRunner

    from kinkcheck.cli import cli as group

    result = CliRunner().invoke(group, ["rule", "KC999"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "unknown rule 'KC999'" in result.output


@pytest.mark.slow
def test_rules_command_does_not_import_torch_or_jax():
    code = ("import sys; from kinkcheck.cli import main\n"
            "try:\n    main(['rule', 'KC101'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'jax', 'numpy', 'astroid') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_plain_text_keeps_code_intact():
    """Bold markers go, but `**` in code (an exponent) stays and code blocks are indented."""
    from click.testing import CliRunner

    from kinkcheck.commands.rules import rule

    out = CliRunner().invoke(rule, ["KC201"]).output
    assert "    def distance_loss(a, b):" in out
    assert "((a - b) ** 2)" in out
    assert "`1 + x**2`" in out
