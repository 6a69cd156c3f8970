"""``check --add-kink-comments``: a reason-less kink comment at every undocumented site, so
the run keeps failing there (KC003) until the reason is written."""

from __future__ import annotations

from kinkcheck.remedy.document import add_comments

SOURCE = '''
import torch


def loss(pred, target):
    d = torch.abs(pred - target).mean()  # L1
    s = f("""text
    """, torch.sqrt(d))
    return torch.sqrt(d) / pred.sum()
'''


def test_comments_go_on_each_site_line_and_the_run_fails_until_each_has_a_reason(cli, tmp_path, write_tree,
                                                                                  monkeypatch):
    write_tree({"doc.py": SOURCE})
    monkeypatch.chdir(tmp_path)
    result = cli("check", "--add-kink-comments", "doc.py", "--no-cache")
    assert result.exit_code == 0
    assert "Added 3 kink comments in 1 file" in result.stderr
    text = (tmp_path / "doc.py").read_text()
    assert "    d = torch.abs(pred - target).mean()  # L1  # kink[KC101]:\n" in text
    assert '    """, torch.sqrt(d))  # kink[KC201]:\n' in text  # not inside the string on the line above
    assert "    return torch.sqrt(d) / pred.sum()  # kink[KC201, KC205]:\n" in text
    failing = cli("check", "doc.py", "--no-cache", "--output-format", "concise")
    assert failing.exit_code == 1 and failing.stdout.count("KC003 [") == 3
    (tmp_path / "doc.py").write_text(text.replace("]:\n", "]: reviewed: never exactly 0 here\n"))
    done = cli("check", "doc.py", "--no-cache")
    assert done.exit_code == 0 and "found 0 undocumented kinks (4 documented)" in done.stdout


def test_a_line_that_ends_in_a_string_or_a_backslash_gets_no_comment():
    text = 'x = f("""a\n""") + \\\n    g(y)\nz = h(w)\n'
    new, n, skipped = add_comments(text, {1: {"KC101"}, 2: {"KC101"}, 4: {"KC205"}})
    assert n == 1 and new.endswith("z = h(w)  # kink[KC205]:\n")
    assert skipped == ["line 1 ends inside a string: a comment there would be part of it",
                       "line 2 continues with a backslash: no comment can end it"]


def test_it_does_not_combine_with_fixing():
    from click.testing import CliRunner

    from kinkcheck.cli import cli as group

    result = CliRunner().invoke(group, ["check", "--add-kink-comments", "--fix", "."])
    assert result.exit_code == 2
