"""One reading of source for everything (issue 12, item 6): the analyzer's columns, the code
frame's carets, SARIF's snippet, the report's snippet and the fingerprints agree on what
line n is, whatever form feeds, tabs, cookies or BOMs the file holds."""

from __future__ import annotations

import ast
import json

import pytest

from kinkcheck import source

# A form feed alone on a line (as Emacs' page breaks are) above the kink, and one in front of
# the kink's own line: Python numbers neither as a line break.
FORM_FEEDS = "import torch\n\x0c\ndef loss(pred, target):\n    d = pred - target\n\x0c    return torch.abs(d).sum()\n"
TABS = "import torch\n\ndef loss(pred, target):\n\td = pred - target\n\treturn torch.abs(d).sum()\n"


def test_lines_end_only_where_python_ends_them():
    text = "a\x0cb\nc\x85d\x0be\u2028f\r\ng\rh\n"
    assert source.lines(text) == ["a\x0cb", "c\x85d\x0be\u2028f", "g", "h"]
    assert source.raw_lines(text) == ["a\x0cb\n", "c\x85d\x0be\u2028f\r\n", "g\r", "h\n"]
    assert source.lines("x") == ["x"] and source.lines("") == [] and source.lines("x\n\n") == ["x", ""]


@pytest.mark.parametrize("text", [FORM_FEEDS, TABS, "a = 1\r\nb = (2,\r    3)\n\x0cc = 4"])
def test_line_n_is_the_line_ast_calls_n(text):
    tree = ast.parse(text)
    numbered = source.lines(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            assert numbered[node.lineno - 1].encode()[node.col_offset:node.end_col_offset].decode() == node.id
    assert "".join(source.raw_lines(text)) == text


def test_read_honours_the_cookie_and_drops_the_bom():
    assert source.read("# -*- coding: latin-1 -*-\nx = 'é'\n".encode("latin-1")).endswith("x = 'é'\n")
    assert source.read(b"\xef\xbb\xbfx = 1\n") == "x = 1\n"


@pytest.mark.parametrize("data, message, where", [
    (b"x = 1\ny = \xff\n", "not valid utf-8 text (byte 0xff)", (2, 5)),
    (b"x = 1\n\0", "NUL bytes", (2, 1)),
    (b"# coding: no-such-codec\nx = 1\n", "unknown encoding", (1, 1)),
])
def test_read_refuses_what_python_refuses_with_one_message(data, message, where):
    with pytest.raises(source.SourceError) as err:
        source.read(data)
    assert message in err.value.message and "\n" not in err.value.message
    assert (err.value.line, err.value.col) == where


def test_decode_for_display_never_fails():
    assert source.decode(b"# coding: latin-1\nx = '\xe9'\n").endswith("x = 'é'\n")
    assert source.decode(b"x = '\xff'\n") == "x = '\ufffd'\n"


def _check(cli, tmp_path, monkeypatch, text, *args):
    (tmp_path / "loss.py").write_text(text, encoding="utf-8", newline="")
    monkeypatch.chdir(tmp_path)
    return cli("check", "--no-cache", *args, "loss.py")


@pytest.mark.parametrize("text", [FORM_FEEDS, TABS])
def test_the_code_frame_puts_the_carets_under_the_kink(cli, tmp_path, monkeypatch, text):
    out = _check(cli, tmp_path, monkeypatch, text).stdout.splitlines()
    code = next(i for i, line in enumerate(out) if line.startswith("5 | "))
    shown, carets = out[code][4:], out[code + 1][4:]
    start = carets.index("^")
    assert shown[start:start + carets.count("^")] == "torch.abs(d)"


@pytest.mark.parametrize("text", [FORM_FEEDS, TABS])
def test_sarif_snippet_is_the_kinks_line(cli, tmp_path, monkeypatch, text):
    doc = json.loads(_check(cli, tmp_path, monkeypatch, text, "--output-format", "sarif").stdout)
    (result,) = doc["runs"][0]["results"]
    region = result["locations"][0]["physicalLocation"]["contextRegion"]
    assert region["startLine"] == region["endLine"] == 5
    assert region["snippet"]["text"].strip("\x0c \t") == "return torch.abs(d).sum()"


def test_the_reports_snippet_is_the_kinks_line():
    """The report shows the analyzer's snippet where it cannot read the file itself."""
    from kinkcheck.lint.api import check_source

    (finding,) = check_source(FORM_FEEDS, path="loss.py")
    assert (finding.line, finding.snippet.strip("\x0c ")) == (5, "return torch.abs(d).sum()")


def test_a_fingerprint_reads_the_same_line_from_the_file_or_from_the_snippet(tmp_path):
    """Where the file cannot be read, the fingerprint takes the kink's line from the snippet."""
    from kinkcheck.lint.api import check_source
    from kinkcheck.fingerprint import identity, read_lines

    path = tmp_path / "loss.py"
    path.write_text(FORM_FEEDS, encoding="utf-8", newline="")
    (finding,) = check_source(FORM_FEEDS, path=str(path))
    line = 3  # (code, path, function, line, span)
    assert identity(finding, read_lines(path))[line] == identity(finding, [])[line] == "returntorch.abs(d).sum()"


def _stdin(data: bytes, *args: str):
    from click.testing import CliRunner

    from kinkcheck.cli import cli as group

    return CliRunner().invoke(group, ["check", "--output-format", "concise", *args, "-"], input=data)


def test_standard_input_is_read_as_a_file_is():
    """Its coding cookie counts: the kink's column is the same as in the file."""
    source = "# -*- coding: latin-1 -*-\nimport torch\n\ndef loss(x):\n    s = 'é'\n    return torch.abs(x).mean()\n"
    result = _stdin(source.encode("latin-1"), "--stdin-filename", "l.py")
    assert result.exit_code == 1 and "l.py:6:12: KC101" in result.stdout


def test_undecodable_standard_input_is_one_line_and_exit_2():
    result = _stdin(b"x = '\xff'\n")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("kinkcheck: error: standard input: file is not valid utf-8 text (byte 0xff) "
                                     "(line 1, column 6)")


def test_add_kink_comments_writes_on_the_kinks_line(tmp_path, monkeypatch):
    text = "import torch\n\x0c\ndef loss(pred, target):\n    d = pred - target\n    return torch.abs(d).sum()\n"
    (tmp_path / "loss.py").write_text(text, encoding="utf-8", newline="")
    monkeypatch.chdir(tmp_path)
    from click.testing import CliRunner

    from kinkcheck.cli import cli as group

    CliRunner().invoke(group, ["check", "--no-cache", "--add-kink-comments", "loss.py"])
    written = source.lines((tmp_path / "loss.py").read_text(encoding="utf-8"))
    assert written[4].endswith("# kink[KC101]:") and "#" not in written[3]
