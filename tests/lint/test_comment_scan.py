"""The comment scan finds exactly the comments :mod:`tokenize` finds: a `# kink:` inside a
string (one-line, triple-quoted, f-string, bytes, escaped quotes) is never a comment."""

import io
import tokenize
from pathlib import Path

import pytest

from kinkcheck.lint import comments

TRICKY = r'''
import torch

DOC = """
x = torch.abs(y)  # kink: inside a docstring, not a comment
"""  # kink: after the closing quotes, a real comment

def loss(a, b):
    s = "# kink: in a one-line string"  # noqa: KC101
    q = 'it\'s # noqa: KC101 still a string'; r = b"\"# kink: bytes"  # kink: real
    f = f"""{a}
    # noqa: KC205 inside an f-string
    """
    t = (torch.abs(a),  # kink[KC101]: first line of a bracket
         torch.sqrt(b))  # kink: last line of a bracket
    u = "é" + """x""" + """
    # kink: still inside \""" escaped quotes
    """; v = 1  # kink: after a string ending mid-line
    w = "line \
# kink: continued string"
    return t, s, f, u, v, w  # noqa
'''

ROOT = Path(__file__).resolve().parents[2]


def tokenized(source):
    return [(t.start[0], t.start[1] + 1, t.string)
            for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]


def test_tricky_strings_and_brackets():
    assert comments.comment_tokens(TRICKY) == tokenized(TRICKY)
    assert [(d.kind, d.line) for d in comments.parse(TRICKY)] == [
        ("kink", 6), ("noqa", 9), ("kink", 10), ("kink", 14), ("kink", 15), ("kink", 18), ("noqa", 21)]


@pytest.mark.parametrize("path", sorted(
    p.relative_to(ROOT).as_posix() for d in ("kinkcheck", "tests", "examples", "bench") for p in (ROOT / d).glob("**/*.py")
    if "_corpus" not in p.parts
))
def test_same_comments_as_tokenize(path):
    source = (ROOT / path).read_text(encoding="utf-8", errors="replace")
    try:
        expected = tokenized(source)
    except (tokenize.TokenError, SyntaxError):
        pytest.skip("not valid Python (a bad-input fixture)")
    assert comments.comment_tokens(source) == expected
