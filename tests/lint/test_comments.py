"""Kink comments: parsed with tokenize, applied to findings, and checked themselves."""

from __future__ import annotations

import textwrap

from kinkcheck.findings import Finding
from kinkcheck.lint import comments


def finding(code: str, line: int, end_line: int | None = None, col: int = 5) -> Finding:
    return Finding(code=code, name="x", category="kink", path="m.py", line=line, col=col,
                   end_line=end_line or line, end_col=col + 3, message="m")


def parse(src: str):
    return comments.parse(textwrap.dedent(src).lstrip("\n"))


def test_forms_of_kink_and_noqa_comments():
    ds = parse("""
        a = abs(x)  # kink: the residual is never exactly 0
        b = abs(x)  # kink[KC101]: only abs
        c = abs(x)  # kink[KC101, sqrt-at-zero]: by name too
        d = abs(x)  # noqa: KC101
        e = abs(x)  # noqa
        f = abs(x)  # kink: KC101 abs at 0 is fine (design-doc form)
        g = abs(x)  # noqa: E501
        h = abs(x)  # type: ignore  # kink: after another comment  # noqa: E501
        # kinkcheck: loss  (a scope marker, not a kink comment)
        i = abs(x)  # prose that quotes "# kink: reason" is not a directive
    """)
    got = [(d.line, d.kind, d.codes, d.reason) for d in ds]
    assert got == [
        (1, "kink", None, "the residual is never exactly 0"),
        (2, "kink", ("KC101",), "only abs"),
        (3, "kink", ("KC101", "KC201"), "by name too"),
        (4, "noqa", ("KC101",), "noqa"),
        (5, "noqa", None, "noqa"),
        (6, "kink", ("KC101",), "abs at 0 is fine (design-doc form)"),
        (8, "kink", None, "after another comment"),
    ]


def test_hash_inside_a_string_is_not_a_comment():
    ds = parse('''
        s = "# kink: not a comment"
        t = """
        # noqa: KC101
        """
        u = abs(x)  # kink: a real one
    ''')
    assert [(d.line, d.reason) for d in ds] == [(5, "a real one")]


def test_comments_are_read_even_in_source_that_does_not_parse():
    """The scan needs no valid syntax (the analyzer never asks: such a file is a KC001)."""
    (directive,) = comments.parse("x = (  # kink: unclosed\n")
    assert (directive.kind, directive.line, directive.col, directive.reason) == ("kink", 1, 8, "unclosed")


def test_kink_comment_documents_its_line_and_keeps_the_finding():
    ds = parse("""
        a = abs(x) + sqrt(y)  # kink: both are fine here
        b = abs(x)
    """)
    out = comments.apply([finding("KC101", 1), finding("KC201", 1, col=15), finding("KC101", 2)], ds, path="m.py")
    assert [(f.line, f.code, f.documented, f.reason) for f in out] == [
        (1, "KC101", True, "both are fine here"),
        (1, "KC201", True, "both are fine here"),
        (2, "KC101", False, None),
    ]


def test_coded_comment_documents_only_its_codes_and_noqa_reason_is_noqa():
    ds = parse("""
        a = abs(x) + sqrt(y)  # kink[KC201]: sqrt of a norm that is never 0
        b = abs(x)  # noqa: KC101
    """)
    out = comments.apply([finding("KC101", 1), finding("KC201", 1), finding("KC101", 2)], ds, path="m.py")
    assert [(f.code, f.documented, f.reason) for f in out] == [
        ("KC101", False, None),
        ("KC201", True, "sqrt of a norm that is never 0"),
        ("KC101", True, "noqa"),
    ]


def test_multi_line_call_documented_on_its_first_or_last_line():
    ds = parse("""
        a = torch.clamp(  # kink: first line
            x, 0, 1)
        b = torch.clamp(
            x, 0, 1)  # kink: last line
        c = torch.clamp(
            x,  # kink: a middle line is not the call's
            0, 1)
    """)
    out = comments.apply([finding("KC103", 1, 2), finding("KC103", 3, 4), finding("KC103", 5, 7)], ds, path="m.py")
    assert [(f.line, f.documented) for f in out[:3]] == [(1, True), (3, True), (5, False)]
    assert [(f.code, f.line) for f in out[3:]] == [("KC003", 6)]


def test_unknown_code_is_kc002_and_unused_comment_is_kc003():
    ds = parse("""
        a = abs(x)  # kink[KC999]: typo in the code
        b = 1 + 2  # kink: documents nothing
        c = abs(x)  # noqa: KC101, KC201
        d = abs(x)  # noqa: E501, KC777
        e = 3  # noqa
    """)
    out = comments.apply([finding("KC101", 1), finding("KC101", 3)], ds, path="m.py")
    meta = [(f.code, f.line, f.message) for f in out if f.code.startswith("KC00")]
    assert ("KC002", 1, "`# kink[KC999]: typo in the code` names unknown rule `KC999`") in meta
    assert not any(code == "KC003" and line == 1 for code, line, _ in meta), "KC002 says it already"
    assert not out[0].documented, "an unknown code documents nothing"
    assert ("KC003", 2, "kink comment documents nothing on this line") in meta
    assert ("KC003", 3, "`# noqa` names KC201, which has no kink on this line") in meta
    assert any(code == "KC002" and line == 4 and "KC777" in msg for code, line, msg in meta)
    assert not any(line == 5 for _, line, _ in meta), "a bare noqa may be meant for another tool"
    kc002 = next(f for f in out if f.code == "KC002")
    assert (kc002.col, kc002.category) == (13, "meta")


def test_usage_from_a_wider_scope_keeps_a_comment_from_being_unused():
    ds = parse("""
        h = torch.relu(x)  # kink: a model ReLU, documented for --scope model
    """)
    assert [f.code for f in comments.apply([], ds, path="m.py")] == ["KC003"]
    assert comments.apply([], ds, path="m.py", usage=[finding("KC102", 1)]) == []


def test_blanket_comments_do_not_hide_comment_problems():
    ds = parse("""
        a = abs(x)  # kink[KC999]: typo  # noqa
    """)
    out = comments.apply([finding("KC101", 1)], ds, path="m.py")
    assert any(f.code == "KC002" and not f.documented for f in out)


def test_a_kink_comment_without_a_reason_documents_nothing():
    """Documenting a kink means saying why it is fine: `# kink:` alone leaves the finding
    undocumented and is reported itself (KC003)."""
    from kinkcheck.lint.api import check_source

    source = "import torch\n\ndef loss(x):\n    return torch.abs(x).sum()  # kink:\n"
    found = {f.code: f for f in check_source(source, "m.py", module="m")}
    assert not found["KC101"].documented
    assert "gives no reason" in found["KC003"].message
