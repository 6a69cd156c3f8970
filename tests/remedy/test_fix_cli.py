"""``kinkcheck check --fix``: real files before and after, re-parsed, re-checked and, for
the rewritten loss, run in torch with a finite gradient at the kink."""

from __future__ import annotations

import ast
import importlib.util
import json
import os

import pytest

from kinkcheck.remedy.apply import Edit, apply_edits

LOSS = '''
import torch
import torch.nn.functional as F


def loss(pred, target, model, x):
    d = torch.abs(model(x) - target).mean()
    lp = -torch.log(torch.softmax(pred, dim=1)).mean()
    return d + lp + torch.sqrt(pred.pow(2).sum(1)).mean()
'''
SAFE = '''
import torch
import torch.nn.functional as F


def loss(pred, target, model, x):
    d = torch.abs(model(x) - target).mean()
    lp = -F.log_softmax(pred, dim=1).mean()
    return d + lp + torch.where((_x := pred.pow(2).sum(1)) != 0, torch.sqrt(torch.where(_x != 0, _x, 1.0)), 0.0).mean()
'''


@pytest.fixture
def project(tmp_path, write_tree, monkeypatch):
    write_tree({"loss.py": LOSS})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_fix_applies_the_safe_fixes_and_reports_what_is_left(cli, project):
    result = cli("check", "--fix", "loss.py", "--no-cache")
    assert (project / "loss.py").read_text() == SAFE.lstrip("\n")
    assert result.exit_code == 1  # the abs is left: its only fix is unsafe
    assert "Fixed 2 kinks in 1 file. 1 unsafe fix available with --unsafe-fixes." in result.stderr
    assert "KC101" in result.stdout and "KC204" not in result.stdout and "KC201" not in result.stdout
    again = cli("check", "--fix", "loss.py", "--no-cache")
    assert "No fixes to apply." in again.stderr and (project / "loss.py").read_text() == SAFE.lstrip("\n")


def test_unsafe_fixes_rewrite_the_surrogates_and_the_loss_has_a_finite_gradient_at_the_kink(cli, project):
    torch = pytest.importorskip("torch")
    result = cli("check", "--fix", "--unsafe-fixes", "loss.py", "--no-cache")
    assert result.exit_code == 0, result.output
    text = (project / "loss.py").read_text()
    assert "d = (torch.sqrt((_x := (model(x) - target)) * _x + 1e-6) - 0.001).mean()" in text
    assert text.count("model(x)") == 1
    spec = importlib.util.spec_from_file_location("fixed_loss", project / "loss.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pred = torch.randn(4, 3)
    pred[0] = 0.0  # the kink of sqrt and of abs
    pred.requires_grad_()
    value = module.loss(pred, torch.zeros(4, 3), lambda v: v, pred)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(pred.grad).all()


def test_preview_writes_nothing_and_prints_the_diff(cli, project):
    result = cli("check", "--preview-fixes", "--unsafe-fixes", "loss.py", "--no-cache")
    assert (project / "loss.py").read_text() == LOSS.lstrip("\n")
    assert result.exit_code == 1
    assert result.stdout.startswith("--- a/loss.py\n+++ b/loss.py\n")
    assert "+    lp = -F.log_softmax(pred, dim=1).mean()" in result.stdout
    assert "Would fix 3 kinks in 1 file." in result.stderr


def test_a_fix_whose_text_would_not_parse_leaves_the_file_untouched(cli, tmp_path, write_tree, monkeypatch):
    source = '''
        import torch

        def loss(model, x, y):
            return sum(v for v in torch.abs(model(x) - y))
    '''
    write_tree({"gen.py": source})
    monkeypatch.chdir(tmp_path)
    before = (tmp_path / "gen.py").read_text()
    result = cli("check", "--fix", "--unsafe-fixes", "gen.py", "--no-cache")
    assert (tmp_path / "gen.py").read_text() == before
    assert "gen.py: left untouched: the fixed text does not parse" in result.stderr
    assert result.exit_code == 1


def test_of_several_fixes_only_the_one_that_would_not_parse_is_left_out(cli, tmp_path, write_tree, monkeypatch):
    write_tree({"gen.py": '''
        import torch

        def loss(model, x, y, logits):
            total = sum(v for v in torch.abs(model(x) - y))
            return total + torch.log(torch.softmax(logits, dim=-1)).sum()
    '''})
    monkeypatch.chdir(tmp_path)
    result = cli("check", "--fix", "--unsafe-fixes", "gen.py", "--no-cache")
    text = (tmp_path / "gen.py").read_text()
    assert "torch.nn.functional.log_softmax(logits, dim=-1).sum()" in text and "torch.abs(model(x) - y)" in text
    assert "gen.py:4:28: KC101 fix left out: the fixed text does not parse" in result.stderr


def test_fix_needs_files_and_one_mode(cli, project):
    assert cli("check", "--fix", "-").exit_code == 2
    both = cli("check", "--fix", "--preview-fixes", "loss.py")
    assert both.exit_code == 2 and "give one" in both.stderr


def test_json_carries_each_fix_with_its_applicability_and_span(cli, project):
    data = json.loads(cli("check", "--output-format", "json", "loss.py", "--no-cache").stdout)["findings"]
    fixes = {f["code"]: f["fix"] for f in data}
    assert fixes["KC204"] == {"title": "log_softmax", "applicability": "safe", "line": 7, "col": 11, "end_line": 7,
                              "end_col": 48}
    assert fixes["KC101"]["applicability"] == "unsafe"
    kc101 = next(f for f in data if f["code"] == "KC101")
    assert [r["title"] for r in kc101["remedies"]] == ["pseudo-Huber (smooth abs)", "Huber / smooth L1"]


def test_edits_that_overlap_wait_for_the_next_run_and_stale_ones_are_refused():
    text = "y = f(g(x))\n"
    outer = Edit(1, 5, 1, 12, "F(g(x))", "f(g(x))", "KC1", "t", "safe")
    inner = Edit(1, 7, 1, 11, "G(x)", "g(x)", "KC2", "t", "safe")
    fixed, applied, problems = apply_edits(text, [inner, outer])
    assert fixed == "y = F(g(x))\n" and applied == [outer] and not problems
    stale = Edit(1, 5, 1, 12, "F(x)", "h(g(x))", "KC1", "t", "safe")
    assert apply_edits(text, [stale])[0] == text
    assert "changed since it was checked" in apply_edits(text, [stale])[2][0]


def test_columns_count_characters_and_line_ends_stay_as_they_were():
    text = "s = 'é'\r\nz = abs(x)\r\n"
    edit = Edit(2, 5, 2, 11, "ABS(x)", "abs(x)", "KC1", "t", "safe")
    assert apply_edits(text, [edit])[0] == "s = 'é'\r\nz = ABS(x)\r\n"


def test_a_baseline_keeps_its_kinks_out_of_the_fixes(cli, project):
    assert cli("check", "--write-baseline", "base.json", "loss.py", "--no-cache").exit_code == 0
    result = cli("check", "--fix", "--baseline", "base.json", "loss.py", "--no-cache")
    assert (project / "loss.py").read_text() == LOSS.lstrip("\n")
    assert "No fixes to apply." in result.stderr and result.exit_code == 0
    assert cli("check", "--fix", "--diff", "-", "loss.py").exit_code == 2


def test_fixing_twice_changes_nothing_the_second_time(cli, tmp_path, write_tree, monkeypatch):
    """A straight-through estimator's own round sits inside .detach(): not wrapped again."""
    write_tree({"quant.py": '''
        import torch

        def loss(pred, target):
            quantized = torch.round(pred * 255.0) / 255.0
            return ((quantized - target) ** 2).mean()
    '''})
    monkeypatch.chdir(tmp_path)
    first = cli("check", "--fix", "--unsafe-fixes", "quant.py", "--no-cache")
    assert "Fixed 1 kink in 1 file." in first.stderr
    fixed = (tmp_path / "quant.py").read_text()
    assert "(_x := (pred * 255.0)) + (torch.round(_x) - _x).detach()" in fixed
    second = cli("check", "--fix", "--unsafe-fixes", "quant.py", "--no-cache")
    assert "No fixes to apply." in second.stderr and (tmp_path / "quant.py").read_text() == fixed


def test_an_expression_holding_a_comment_is_not_rewritten_but_a_hash_in_a_string_is():
    text = "y = f(a,  # keep me\n      b)\nz = g('#', c)\n"
    commented = Edit(1, 5, 2, 9, "F(a, b)", "f(a,  # keep me\n      b)", "KC1", "t", "safe")
    stringy = Edit(3, 5, 3, 14, "G('#', c)", "g('#', c)", "KC1", "t", "safe")
    fixed, applied, problems = apply_edits(text, [commented, stringy])
    assert fixed == "y = f(a,  # keep me\n      b)\nz = G('#', c)\n" and applied == [stringy]
    assert problems == ["KC1 at 1:5: the expression holds a comment the rewrite would drop"]


def test_a_symbolic_link_is_not_replaced_by_a_fixed_copy(cli, project):
    (project / "link.py").symlink_to(project / "loss.py")
    result = cli("check", "--fix", "link.py", "--no-cache")
    assert (project / "link.py").is_symlink() and (project / "loss.py").read_text() == LOSS.lstrip("\n")
    assert "link.py: not fixed: cannot read it" in result.stderr and "symbolic link" in result.stderr


def test_the_help_line_shows_the_proven_rewrite_and_whether_fix_applies_it(cli, project):
    out = cli("check", "loss.py", "--no-cache").stdout
    assert "= help: log_softmax: `F.log_softmax(pred, dim=1)` (safe fix)" in out
    assert "= help: pseudo-Huber (smooth abs): `torch.sqrt((_x := (model(x) - target)) * _x + 1e-6) - 0.001` " \
           "(unsafe fix)" in out


def test_a_form_feed_starts_no_line_for_the_fix_either():
    text = "import torch\n\x0c\nz = abs(x)\n"
    edit = Edit(3, 5, 3, 11, "ABS(x)", "abs(x)", "KC1", "t", "safe")
    assert apply_edits(text, [edit])[0] == "import torch\n\x0c\nz = ABS(x)\n"


@pytest.mark.parametrize("expr", ["torch.linalg.vector_norm(pred, dim=1)", "pred.norm(dim=1)"])
def test_a_safe_fix_leaves_nothing_for_its_rule_to_flag(cli, tmp_path, write_tree, monkeypatch, expr):
    """The double-where a norm's safe fix writes is a guard the analyzer knows: the fixed
    file checks clean, and the fixed loss has a finite gradient at the zero vector."""
    torch = pytest.importorskip("torch")
    write_tree({"norm_loss.py": f'''
        import torch

        def loss(pred):
            return {expr}.mean()
    '''})
    monkeypatch.chdir(tmp_path)
    assert "Fixed 1 kink in 1 file." in cli("check", "--fix", "norm_loss.py", "--no-cache").stderr
    again = cli("check", "norm_loss.py", "--no-cache")
    assert again.exit_code == 0 and "KC203" not in again.stdout, again.output
    spec = importlib.util.spec_from_file_location("fixed_norm_loss", tmp_path / "norm_loss.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pred = torch.zeros(3, 4, requires_grad=True)
    module.loss(pred).backward()
    assert torch.isfinite(pred.grad).all()


def test_the_safe_fixes_of_jax_norms_and_square_roots_check_clean(cli, tmp_path, write_tree, monkeypatch):
    """JAX's double-where names the value in the outer condition (`(_x := e) != 0`) and
    tests the name, kept to broadcast, in the inner one: one condition, no step left."""
    jax = pytest.importorskip("jax")
    write_tree({"jax_loss.py": '''
        import jax.numpy as jnp

        def loss(pred, target):
            return jnp.linalg.norm(pred - target, axis=-1).mean() + jnp.sqrt(jnp.sum(pred ** 2, axis=-1)).mean()
    '''})
    monkeypatch.chdir(tmp_path)
    assert "Fixed 2 kinks in 1 file." in cli("check", "--fix", "jax_loss.py", "--no-cache").stderr
    again = cli("check", "jax_loss.py", "--no-cache")
    assert again.exit_code == 0, again.output
    spec = importlib.util.spec_from_file_location("fixed_jax_loss", tmp_path / "jax_loss.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    zeros = jax.numpy.zeros((3, 4))
    grad = jax.grad(module.loss)(zeros, zeros)
    assert bool(jax.numpy.isfinite(grad).all())
