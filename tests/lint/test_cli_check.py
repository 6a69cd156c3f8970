"""``kinkcheck check`` through click's CliRunner: exit codes, formats, columns, options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASIC = "tests/fixtures/cli/basic/loss.py"
CLEAN = "tests/fixtures/cli/clean.py"
BAD_COMMENTS = "tests/fixtures/cli/bad_comments.py"


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def concise(result) -> list[str]:
    """'path:line:col: CODE [name]' of each finding line."""
    return [line.split("] ", 1)[0] + "]" for line in result.stdout.splitlines() if line.startswith("tests/")]


def test_undocumented_kinks_exit_1_with_exact_positions(cli):
    r = cli("check", BASIC, "--output-format", "concise", "--no-cache")
    assert r.exit_code == 1, r.output
    assert concise(r) == [
        f"{BASIC}:7:11: KC101 [abs-at-zero]",
        f"{BASIC}:8:13: KC201 [sqrt-at-zero]",
    ]
    assert r.stdout.splitlines()[-1] == "Checked 1 file (1 function of loss code); found 2 undocumented kinks (1 documented)."


def test_clean_file_exits_0(cli):
    r = cli("check", CLEAN, "--no-cache")
    assert r.exit_code == 0, r.output
    assert r.stdout == "Checked 1 file (1 function of loss code); found 0 undocumented kinks (0 documented).\n"


def test_show_documented_lists_the_reason(cli):
    r = cli("check", BASIC, "--output-format", "concise", "--show-documented", "--no-cache")
    lines = r.stdout.splitlines()
    assert f"{BASIC}:9:13: KC102 [relu-at-zero]" in concise(r)
    assert any(line.endswith("(documented: a ReLU of the prediction is the hinge we want)") for line in lines)
    assert r.exit_code == 1


def test_full_format_draws_a_code_frame_with_carets(cli):
    r = cli("check", BASIC, "--no-cache")
    out = r.stdout
    assert f"{BASIC}:7:11: KC101 [abs-at-zero] " in out
    frame = out.split(f"{BASIC}:7:11:", 1)[1].split("\n\n", 1)[0].splitlines()
    code_line = next(line for line in frame if line.startswith("7 |"))
    caret_line = frame[frame.index(code_line) + 1]
    assert code_line == "7 |     err = torch.abs(pred - target)  # expect: KC101 7:11"
    assert caret_line == "  |           ^^^^^^^^^^^^^^^^^^^^^^^^ KC101"
    assert any(line.startswith("  = help: ") for line in frame)
    assert "\x1b[" not in out, "no colour when stdout is not a terminal"


def test_json_carries_every_field_and_documented_findings(cli):
    r = cli("check", BASIC, "--output-format", "json", "--no-cache")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["version"] == 1
    assert [(f["code"], f["line"], f["col"], f["documented"]) for f in doc["findings"]] == [
        ("KC101", 7, 11, False), ("KC201", 8, 13, False), ("KC102", 9, 13, True),
    ]
    first = doc["findings"][0]
    assert set(first) >= {"code", "name", "category", "path", "line", "col", "end_line", "end_col", "function",
                          "message", "confidence", "documented", "reason", "replacement"}
    assert (first["path"], first["category"], first["end_col"], first["function"]) == (BASIC, "kink", 35, "loss.loss")
    assert doc["findings"][2]["reason"] == "a ReLU of the prediction is the hinge we want"


def test_json_lines(cli):
    r = cli("check", BASIC, "--output-format", "json-lines", "--no-cache")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["code"] for row in rows] == ["KC101", "KC201", "KC102"]


def test_exit_zero_select_ignore(cli):
    assert cli("check", BASIC, "--exit-zero", "--no-cache").exit_code == 0
    r = cli("check", BASIC, "--select", "KC2", "--output-format", "concise", "--no-cache")
    assert concise(r) == [f"{BASIC}:8:13: KC201 [sqrt-at-zero]"]
    r = cli("check", BASIC, "--ignore", "KC101,sqrt-at-zero", "--no-cache")
    assert r.exit_code == 0
    r = cli("check", BASIC, "--select", "KC101", "--extend-select", "KC201", "--output-format", "concise", "--no-cache")
    assert len(concise(r)) == 2


def test_all_scope_reaches_functions_that_are_not_loss_code(cli):
    r = cli("check", BASIC, "--all", "--output-format", "concise", "--no-cache")
    assert f"{BASIC}:15:12: KC101 [abs-at-zero]" in concise(r)
    assert cli("check", BASIC, "--scope", "all", "--output-format", "concise", "--no-cache").stdout == r.stdout


def test_statistics(cli):
    r = cli("check", BASIC, "--statistics", "--show-documented", "--no-cache")
    assert r.stdout.splitlines() == [
        "1\tKC101\tabs-at-zero",
        "1\tKC201\tsqrt-at-zero",
        "0\tKC102\trelu-at-zero\t(1 documented)",
        "Checked 1 file (1 function of loss code); found 2 undocumented kinks (1 documented).",
    ]


def test_quiet_prints_findings_only(cli):
    r = cli("check", CLEAN, "--quiet", "--no-cache")
    assert (r.exit_code, r.stdout) == (0, "")


def test_bad_kink_comments_are_findings(cli):
    r = cli("check", BAD_COMMENTS, "--output-format", "concise", "--no-cache")
    assert r.exit_code == 1
    assert concise(r) == [
        f"{BAD_COMMENTS}:7:9: KC101 [abs-at-zero]",
        f"{BAD_COMMENTS}:7:26: KC002 [unknown-rule-in-comment]",
        f"{BAD_COMMENTS}:8:19: KC003 [unused-kink-comment]",
    ]
    # the summary counts the kink apart from the comments to fix
    assert r.stdout.splitlines()[-1] == ("Checked 1 file (1 function of loss code); found 1 undocumented kink "
                                         "(0 documented); 2 kink comments to fix (KC002/KC003).")


def test_a_file_that_does_not_parse_is_no_kink(cli, tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text("def loss(x:\n    return x\n")
    r = cli("check", str(bad), "--no-cache")
    assert r.exit_code == 1, r.output  # still a problem to fix
    assert "KC001 [parse-error]" in r.stdout
    assert r.stdout.splitlines()[-1] == ("Checked 1 file (0 functions of loss code); found 0 undocumented kinks "
                                         "(0 documented); 1 file could not be parsed (KC001).")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--select", "KC999"], "unknown rule code 'KC999' in select"),
        (["--ignore", "no-such-rule"], "unknown rule code 'no-such-rule' in ignore"),
        (["--config", "tests/fixtures/cli/none.toml"], "cannot read config file"),
        (["--output-format", "yaml"], "Invalid value for '--output-format'"),
        (["--all", "--scope", "model"], "--all conflicts with --scope model"),
    ],
)
def test_usage_errors_exit_2_with_one_line(cli, args, message):
    r = cli("check", BASIC, *args)
    assert r.exit_code == 2
    assert message in r.stderr
    assert "Traceback" not in r.output


def test_missing_path_exits_2_but_checks_the_rest(cli):
    r = cli("check", "no/such/file.py", BASIC, "--output-format", "concise", "--no-cache")
    assert r.exit_code == 2
    assert "kinkcheck: error: no/such/file.py: no such file or directory" in r.stderr
    assert len(concise(r)) == 2


def test_unknown_key_in_pyproject_exits_2(cli, write_tree, monkeypatch):
    root = write_tree({"pyproject.toml": "[tool.kinkcheck]\nselekt = ['KC1']\n", "a.py": "x = 1\n"})
    monkeypatch.chdir(root)
    r = cli("check", "a.py")
    assert r.exit_code == 2
    assert r.stderr.strip() == "kinkcheck: error: pyproject.toml: unknown key 'tool.kinkcheck.selekt' (did you mean 'select'?)"


def test_config_from_pyproject_applies(cli, write_tree, monkeypatch):
    root = write_tree({
        "pyproject.toml": '[tool.kinkcheck]\nignore = ["KC201"]\nloss-functions = ["step"]\n',
        "train.py": "import torch\n\ndef step(x):\n    return torch.sqrt(x).sum() + torch.abs(x).sum()\n",
    })
    monkeypatch.chdir(root)
    r = cli("check", ".", "--output-format", "concise", "--no-cache")
    assert [line.split(" [")[0] for line in r.stdout.splitlines()[:-1]] == ["train.py:4:34: KC101"]


def test_a_loss_package_is_loss_code_and_its_weight_helpers_detach_on_purpose(cli, write_tree, monkeypatch):
    root = write_tree({
        "pkg/__init__.py": "",
        "pkg/losses/__init__.py": "",
        "pkg/losses/tv.py": "import torch\n\n\ndef total_variation(img):\n"
                            "    return torch.abs(img[..., 1:] - img[..., :-1]).sum()\n\n\n"
                            "def importance_weights(scores, k=2.0):\n"
                            "    p = scores.detach().softmax(dim=-1)\n    return (1.0 - p) ** k\n",
    })
    monkeypatch.chdir(root)
    r = cli("check", ".", "--output-format", "concise", "--no-cache")
    assert [line.split(" [")[0] for line in r.stdout.splitlines()[:-1]] == ["pkg/losses/tv.py:5:12: KC101"]


@pytest.mark.slow
def test_long_run_with_progress_bar(write_tree, monkeypatch, capsys):
    """The bar (rich, stderr) shows on long runs only; it never changes the findings."""
    from kinkcheck.config import load_config
    from kinkcheck.lint.api import check_paths

    files = {f"pkg/m{i:03}.py": "import torch\n\ndef loss(x):\n    return torch.sqrt(x)\n" for i in range(210)}
    root = write_tree({"pyproject.toml": "[tool.kinkcheck]\n", **files})
    monkeypatch.chdir(root)
    cfg = load_config(root, {})
    with_bar = check_paths(["pkg"], cfg, progress=True, use_cache=False, jobs=2)
    assert len(with_bar.findings) == 210 and with_bar.errors == []
    without = check_paths(["pkg"], cfg, progress=False, use_cache=False, jobs=1)
    assert with_bar.findings == without.findings
    assert capsys.readouterr().out == ""


def test_nothing_to_check_says_so(cli, tmp_path):
    r = cli("check", str(tmp_path), "--no-cache")
    assert r.exit_code == 0
    assert "no Python files to check" in r.stderr


@pytest.mark.parametrize("fmt", ["full", "json"])
def test_a_missing_path_is_only_an_error(cli, fmt):
    """No summary line and no empty findings document: nothing was checked."""
    r = cli("check", "no/such/file.py", "--output-format", fmt)
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr.strip() == "kinkcheck: error: no/such/file.py: no such file or directory"
