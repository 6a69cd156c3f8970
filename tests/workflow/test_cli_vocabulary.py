"""One CLI vocabulary across check, report, trace show and merge: the same option names,
the same colour rule, one error prefix, one number style, tables that are never cut."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kinkcheck.cli import cli as group
from kinkcheck.output.numbers import percent

LOSS = """\
import torch


def loss(pred, target):
    return torch.abs(pred - target).mean() + torch.sqrt(pred).sum()
"""

ANSI = re.compile(r"\x1b\[[0-9;]*m")
SUBGRADIENT = "0.142857142, -0.285714285, 0.571428571"  # the gradient observed at a hit, a long cell


def run(*args: str, env: dict | None = None, input: str | None = None):
    return CliRunner().invoke(group, list(args), env=env, input=input, catch_exceptions=False)


def site(code: str, line: int, evaluations: int, exact: int) -> dict:
    return {"path": "loss.py", "line": line, "function": "loss", "code": code, "name": code.lower(),
            "op": "aten.abs.default", "module": None, "dtype": "float32", "evaluations": evaluations,
            "exact": exact, "near": 0, "harmless": 0, "histogram": {"exact": exact} if exact else {},
            "per_step": [[0, evaluations, exact, 0]], "subgradient": None,
            "observed": {"framework": "torch", "grad": SUBGRADIENT.split(", "), "at": ["0"], "step": 0}}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loss.py").write_text(LOSS)
    trace = {"format": "kinkcheck-trace", "version": 1, "kinkcheck": "0.1.0", "created": "2026-11-26T10:00:00Z",
             "root": str(tmp_path), "frameworks": {"torch": "2.13.0"}, "ranks": [0], "steps": 1,
             "near": {"ulps": 4, "abs": 1e-30},
             "sites": [site("KC101", 5, 1_003_520_123, 552), site("KC201", 5, 315_400, 0)]}
    (tmp_path / "run.trace.json").write_text(json.dumps(trace))
    return tmp_path


# --output-format / --format / -o ---------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["check", "loss.py", "--no-cache"],
    ["report", "loss.py", "--trace", "run.trace.json", "--no-cache"],
    ["trace", "show", "run.trace.json"],
])
def test_format_is_an_alias_of_output_format_and_o_writes_the_file(project, command):
    long = run(*command, "--output-format", "json", "--output-file", "a.json")
    short = run(*command, "--format", "json", "-o", "b.json")
    assert long.exit_code == short.exit_code and long.exit_code in (0, 1), long.output
    assert long.stdout == short.stdout == ""
    a, b = json.loads(Path("a.json").read_text()), json.loads(Path("b.json").read_text())
    # the same document, written to the file instead of stdout; a report stamps the second
    # it was made, which two runs may straddle
    assert ("created" in a) == ("created" in b)
    a.pop("created", None), b.pop("created", None)
    assert a == b and a


def test_merge_takes_o_and_output_file(project):
    other = json.loads(Path("run.trace.json").read_text())
    Path("rank1.trace.json").write_text(json.dumps(dict(other, ranks=[1])))
    r = run("merge", "run.trace.json", "rank1.trace.json", "--output-file", "merged.json")
    assert r.exit_code == 0, r.output
    assert json.loads(Path("merged.json").read_text())["ranks"] == [0, 1]
    assert r.stderr.startswith("kinkcheck: merged 2 trace files")


# --color ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["check", "loss.py", "--no-cache"], ["trace", "show", "run.trace.json"]])
def test_color_always_never_and_the_environment(project, command):
    assert ANSI.search(run(*command, "--color", "always").stdout)
    assert not ANSI.search(run(*command, "--color", "never", env={"FORCE_COLOR": "1"}).stdout)
    assert not ANSI.search(run(*command).stdout)  # auto: not a terminal
    assert ANSI.search(run(*command, env={"FORCE_COLOR": "1"}).stdout)
    assert not ANSI.search(run(*command, env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout)


# check - --stdin-filename ----------------------------------------------------------------------


def test_check_reads_standard_input_named_by_stdin_filename(project):
    r = run("check", "-", "--stdin-filename", "pkg/loss.py", "--output-format", "concise", input=LOSS)
    assert r.exit_code == 1, r.output
    *from_file, summary = run("check", "loss.py", "--output-format", "concise", "--no-cache").stdout.splitlines()
    assert r.stdout.splitlines()[:-1] == [line.replace("loss.py", "pkg/loss.py", 1) for line in from_file]
    assert len(from_file) == 2
    assert r.stdout.splitlines()[-1] == summary  # the same count of functions as the file's
    assert summary == "Checked 1 file (1 function of loss code); found 2 undocumented kinks (0 documented)."


@pytest.mark.parametrize("name", [None, "pkg/loss.py", "loss.py"])
def test_standard_input_gets_the_code_frame_of_what_was_read(project, name):
    """As for a file: the frame shows the text read from standard input, also where
    --stdin-filename names a file on disk whose saved text differs (an editor's buffer)."""
    edited = LOSS.replace("torch.abs(pred - target)", "torch.abs(pred - target - 1)")
    named = ["--stdin-filename", name] if name else []
    r = run("check", "-", *named, "--no-cache", input=edited)
    assert r.exit_code == 1, r.output
    assert "5 |     return torch.abs(pred - target - 1).mean()" in r.stdout
    assert "^^^^^^^^^^^^^^^^^^^^^^^^^^^^ KC101" in r.stdout
    assert "torch.abs(pred - target).mean()" not in r.stdout


def test_stdin_follows_per_file_ignores_of_its_name(project):
    Path("pyproject.toml").write_text('[tool.kinkcheck]\nper-file-ignores = { "pkg/*" = ["KC2"] }\n')
    r = run("check", "-", "--stdin-filename", "pkg/loss.py", "--output-format", "concise", input=LOSS)
    assert [line.split(" ")[1] for line in r.stdout.splitlines()[:-1]] == ["KC101"]


def test_stdin_filename_alone_implies_standard_input(project):
    r = run("check", "--stdin-filename", "x.py", "--output-format", "concise", input=LOSS)
    assert r.exit_code == 1 and r.stdout.startswith("x.py:5:12: KC101")


def test_stdin_cannot_be_combined_with_paths(project):
    r = run("check", "-", "loss.py")
    assert (r.exit_code, r.stderr) == (2, "kinkcheck: error: '-' (standard input) cannot be combined with other paths\n")


# --select / --ignore / --baseline wherever findings are shown -----------------------------------


def test_report_and_trace_show_select_and_ignore_rules(project):
    report = json.loads(run("report", "loss.py", "--trace", "run.trace.json", "--format", "json", "--no-cache",
                            "--ignore", "KC2").stdout)
    assert {s["code"] for s in report["sites"]} == {"KC101"}
    shown = json.loads(run("trace", "show", "run.trace.json", "--format", "json", "--select", "KC2").stdout)
    assert [s["code"] for s in shown["sites"]] == ["KC201"]


def test_report_hides_what_the_baseline_records(project):
    assert run("check", "loss.py", "--no-cache", "--write-baseline", "base.json").exit_code == 0
    r = run("report", "loss.py", "--format", "json", "--no-cache", "--baseline", "base.json")
    assert json.loads(r.stdout)["sites"] == []
    assert "kinkcheck: note: baseline: 2 known findings hidden by base.json" in r.stderr


# numbers and width --------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction, shown", [
    (0, "0%"), (1, "100%"), (0.0344, "3.44%"), (5.5e-4, "0.0550%"), (552 / 1_003_520_123, "5.50e-5%"),
])
def test_rates_are_percentages_with_three_significant_digits(fraction, shown):
    assert percent(fraction) == shown


def test_trace_show_into_a_file_cuts_no_header_and_no_value(project):
    r = run("trace", "show", "run.trace.json", env={"COLUMNS": "60"})
    assert "…" not in r.stdout
    assert "1,003,520,123" in r.stdout and "5.50e-5%" in r.stdout
    assert SUBGRADIENT.split(",")[0] in r.stdout and "exact" in r.stdout
    run("trace", "show", "run.trace.json", "-o", "table.txt")
    assert Path("table.txt").read_text() == r.stdout


# errors and the summary line ------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["rule", "KC1O1"], "kinkcheck: error: unknown rule 'KC1O1' (did you mean 'KC101'?) (see `kinkcheck rules`)"),
    (["trace", "show", "missing.json"], "kinkcheck: error: "),
    (["check", "loss.py", "--baseline", "missing.json"], "kinkcheck: error: baseline missing.json: no such file"),
    (["report", "loss.py", "--config", "nope.toml"], "kinkcheck: error: cannot read config file"),
    (["check", "--format", "yaml"], "kinkcheck: error: Invalid value for '--output-format' / '--format': 'yaml'"),
    (["trace", "show", "run.trace.json", "--top", "0"], "kinkcheck: error: Invalid value for '--top'"),
    (["--bogus"], "kinkcheck: error: No such option '--bogus'. (see `"),
    (["chek"], "kinkcheck: error: No such command 'chek'."),
])
def test_every_error_is_one_line_with_one_prefix(project, args, message):
    r = run(*args)
    assert r.exit_code == 2
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(message), r.stderr


def test_write_baseline_says_what_it_recorded_not_found_0(project):
    r = run("check", "loss.py", "--no-cache", "--write-baseline", "base.json")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[-1] == (
        "Checked 1 file (1 function of loss code); recorded 2 undocumented kinks in base.json (0 documented)."
    )


def test_config_shows_each_value_and_where_it_came_from(project):
    Path("pyproject.toml").write_text('[tool.kinkcheck]\nmax-depth = 2\nseverity = { KC101 = "error" }\n')
    r = run("config", "--ignore", "KC5")
    assert r.exit_code == 0, r.output
    lines = {line.split(" = ")[0]: line for line in r.stdout.splitlines() if " = " in line}
    assert lines["max-depth"].endswith(f"# {project / 'pyproject.toml'}")
    assert lines["ignore"].startswith('ignore = ["KC5"]') and lines["ignore"].endswith("# command line")
    assert lines["scope"].endswith("# default")
    data = json.loads(run("config", "--format", "json").stdout)
    assert data["settings"]["severity"] == {"value": {"KC101": "error"}, "origin": str(project / "pyproject.toml")}
    assert "KC505" in data["rules"] and "KC901" not in data["rules"]
    assert data["severities"]["KC101"] == "error" and data["severities"]["KC102"] == "warning"
    assert "#   error:   KC001 KC101 KC201" in r.stdout


def test_a_config_key_typo_gets_a_did_you_mean(project):
    Path("pyproject.toml").write_text('[tool.kinkcheck]\nextend-selct = ["KC901"]\n')
    r = run("config")
    assert r.stderr == ("kinkcheck: error: pyproject.toml: unknown key 'tool.kinkcheck.extend-selct' "
                        "(did you mean 'extend-select'?)\n")


def test_trace_summary_into_a_pipe_is_not_cut(capsys, monkeypatch):
    torch = pytest.importorskip("torch")
    import kinkcheck

    monkeypatch.setenv("COLUMNS", "40")
    x = torch.linspace(-1, 1, 1001, requires_grad=True)
    with kinkcheck.trace(backends=("torch",)) as t:
        torch.clamp(x, -0.5, 0.5).sum().backward()
    t.summary()
    out = capsys.readouterr().out
    assert "…" not in out and "1,001" in out
    for header in ("where", "rule", "evals", "exact", "near", "closest", "grad at hit"):
        assert header in out
