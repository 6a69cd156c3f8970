"""Concrete rewrites: the user's own operand put into the catalog's remedy template."""

from __future__ import annotations

from kinkcheck import catalog
from kinkcheck.report.rewrite import fill, operand, operand_in, segment


def test_operand_of_a_function_call_a_method_call_and_an_operator():
    assert operand("torch.abs(pred - target)") == "pred - target"
    assert operand("F.relu(self.fc(x))") == "self.fc(x)"
    assert operand("(pred - target).abs()", methods=("abs",)) == "pred - target"
    assert operand("x.clamp(min=0)", methods=("clamp",)) == "x"
    assert operand("a / (b + c)", argument=1) == "b + c"
    assert operand("torch.clamp(input=z, min=0)", keyword="input") == "z"


def test_operand_is_none_when_it_cannot_be_told():
    assert operand("") is None
    assert operand("return x") is None  # not an expression
    assert operand("torch.abs(*args)") is None
    assert operand("loss.mean()", methods=("abs",)) is None


def test_operand_in_a_whole_line_needs_exactly_one_matching_call():
    kc101 = catalog.load()["KC101"]
    assert operand_in("return torch.abs(d).mean()", kc101.match) == "d"
    assert operand_in("l1 = (a - b).abs().sum()", kc101.match) == "a - b"
    assert operand_in("return torch.abs(a) + torch.abs(b)", kc101.match) is None
    assert operand_in("if x > 0:", kc101.match) is None


def test_fill_adds_parentheses_only_where_precedence_needs_them():
    template = "torch.sqrt({x} * {x} + eps * eps) - eps"
    assert fill(template, "d") == "torch.sqrt(d * d + eps * eps) - eps"
    assert fill(template, "pred - target") == "torch.sqrt((pred - target) * (pred - target) + eps * eps) - eps"
    assert fill("torch.nn.functional.softplus({x}, beta=beta)", "a - b") == "torch.nn.functional.softplus(a - b, beta=beta)"
    assert fill(template, None) is None
    assert fill("use a smooth surrogate", "d") is None


def test_fill_falls_back_to_text_replacement_for_templates_that_do_not_parse():
    assert fill("{x} ** 0.5 where {x} > 0 ;", "a + b") == "(a + b) ** 0.5 where (a + b) > 0 ;"


def test_segment_reads_a_span_with_1_based_columns_and_exclusive_end():
    lines = ["    return torch.abs(", "        d)"]
    assert segment(lines, 1, 12, 2, 11) == "torch.abs(\n        d)"
    assert segment(lines, 1, 12, 1, 22) == "torch.abs("
    assert segment(lines, 3, 1, 3, 2) is None
