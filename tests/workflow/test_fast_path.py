"""The one-file ``kinkcheck check`` without click (kinkcheck/commands/fast.py) is the click app's
``check`` in every way a user can see: for each invocation the fast path reads, both entry points
run on the same files and input and must print the same stdout and stderr, write the same
files and exit the same way; whatever the fast path is unsure of goes to click."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import click
import pytest
from streams import run_bytes

from kinkcheck.__main__ import main as entry_point
from kinkcheck.cli import main as click_main
from kinkcheck.commands import fast
from kinkcheck.commands._plain import echo
from kinkcheck.commands.check import check as click_check

LOSS = """\
import torch


def loss(pred, target):
    err = torch.abs(pred - target)
    ok = torch.relu(pred)  # kink: a hinge we want
    return err.mean() + torch.sqrt(pred).sum() + ok.sum()
"""
CLEAN = "def helper(x):\n    return x + 1\n"
ESCAPES = 'import torch\n\n\ndef loss(x):\n    return torch.abs(x).sum()  # "\x1b[31mred\x1b[0m"\n'


def run(main, argv: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``main(argv)`` on byte streams (not terminals)."""
    code, out, err = run_bytes(main, argv, stdin=stdin)
    return code, out.decode(), err.decode()


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("NO_COLOR", "FORCE_COLOR", "KINKCHECK_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "pyproject.toml").write_text("[tool.kinkcheck]\n")
    (tmp_path / "loss.py").write_text(LOSS)
    (tmp_path / "clean.py").write_text(CLEAN)
    (tmp_path / "escapes.py").write_text(ESCAPES)
    (tmp_path / "bad.toml").write_text("[tool.kinkcheck\n")
    (tmp_path / "selekt.toml").write_text("[tool.kinkcheck]\nselekt = ['KC1']\n")
    (tmp_path / "sub").mkdir()
    return tmp_path


def same_on_both_paths(project: Path, argv: list[str], stdin: bytes = b"", written: str | None = None):
    """Run ``argv`` through the click app, then through the entry point; the two must agree
    (on ``written`` too, a file the run writes). Returns the click run's result."""
    results = []
    for main in (click_main, entry_point):
        if written:
            (project / written).unlink(missing_ok=True)
        result = run(main, argv, stdin)
        text = (project / written).read_text() if written and (project / written).exists() else None
        results.append((*result, text))
    assert results[1] == results[0]
    return results[0]


#: invocations the fast path reads itself (the pre-commit hook's, and every option of check)
FAST = [
    ["check", "loss.py"],
    ["check", "loss.py", "clean.py", "--no-cache"],
    ["check", "clean.py", "-q"],
    ["check", "loss.py", "--quiet", "--exit-zero"],
    ["check", "loss.py", "--statistics", "--show-documented"],
    ["check", "loss.py", "--output-format", "json", "--no-cache"],
    ["check", "loss.py", "--format=concise"],
    ["check", "--output-format", "sarif", "loss.py"],
    ["check", "loss.py", "--select", "KC2", "--no-cache"],
    ["check", "loss.py", "--select=KC1,KC2", "--ignore", "KC101", "--extend-select", "KC901"],
    ["check", "loss.py", "--select", ""],
    ["check", "loss.py", "--select", "KC999"],
    ["check", "loss.py", "--scope", "model"],
    ["check", "loss.py", "--all"],
    ["check", "loss.py", "--all", "--scope", "loss"],
    ["check", "loss.py", "--color", "always"],
    ["check", "escapes.py", "--color", "never"],
    ["check", "escapes.py", "--color", "always", "--output-format", "concise"],
    ["check", "loss.py", "-j", "1", "--no-cache"],
    ["check", "loss.py", "--jobs", "2", "--force-exclude"],
    ["check", "--", "loss.py"],
    ["check", "."],
    ["check"],
    ["check", "missing.py"],
    ["check", "sub"],
    ["check", "loss.py", "--config", "bad.toml"],
    ["check", "loss.py", "--config", "selekt.toml"],
    ["check", "loss.py", "--config", "missing.toml"],
    ["check", "loss.py", "--baseline", "missing.json"],
    ["check", "loss.py", "--diff", "HEAD"],
    ["check", "loss.py", "--preview-fixes"],
    ["check", "loss.py", "--fix", "--preview-fixes"],
    ["check", "-", "loss.py"],
    ["check", "loss.py", "--stdin-filename", "x.py"],
    ["--debug", "check", "clean.py"],
]


@pytest.mark.parametrize("argv", FAST, ids=" ".join)
def test_the_fast_path_answers_as_the_click_app(project, argv):
    assert fast.parse(argv) is not None  # it is the fast path that runs
    same_on_both_paths(project, argv)


@pytest.mark.parametrize("argv", [
    ["check", "-", "--output-format", "concise"],
    ["check", "-", "--stdin-filename", "pkg/loss.py"],
    ["check", "--stdin-filename", "loss.py", "-q"],
])
def test_standard_input_is_read_the_same(project, argv):
    code, out, _, _ = same_on_both_paths(project, argv, stdin=LOSS.encode())
    assert code == 1 and "KC101" in out


def test_undecodable_standard_input_is_one_line_on_both(project):
    code, _, err, _ = same_on_both_paths(project, ["check", "-"], stdin=b"# coding: nope\nx = 1\n")
    assert code == 2 and err.count("\n") == 1


@pytest.mark.parametrize("option", ["-o", "--output-file", "--output"])
def test_the_written_file_is_the_same(project, option):
    code, out, _, text = same_on_both_paths(project, ["check", "loss.py", option, "r.json", "--format", "json"],
                                            written="r.json")
    assert code == 1 and out == "" and '"KC101"' in text


def test_write_baseline_records_the_same(project):
    code, _, err, text = same_on_both_paths(project, ["check", "loss.py", "--write-baseline", "b.json"],
                                            written="b.json")
    assert code == 0 and text


#: invocations the fast path leaves to click: help, other commands, what click refuses or reads
#: in its own way (a clustered short option, an abbreviation, a value it checks)
TO_CLICK = [
    [], ["--help"], ["--version"], ["rules"], ["check", "--help"], ["check", "-h"], ["check", "loss.py", "-qj1"],
    ["check", "-j1", "loss.py"], ["check", "loss.py", "--quiet=1"], ["check", "loss.py", "-o"],
    ["check", "loss.py", "--select"], ["check", "loss.py", "--scope", "bad"], ["check", "--no-cach", "loss.py"],
    ["check", "loss.py", "--jobs", "0"], ["check", "loss.py", "--jobs", " 2"], ["check", "loss.py", "--color", "yes"],
    ["check", "loss.py", "--output-format", "JSON"], ["check", "loss.py", "-o", "."], ["check", "--debug", "loss.py"],
    ["check", "loss.py", "--config", "sub"], ["--debug", "rules"], ["-q", "check", "loss.py"],
]


@pytest.mark.parametrize("argv", TO_CLICK, ids=lambda a: " ".join(a) or "(none)")
def test_what_the_fast_path_is_unsure_of_goes_to_click(project, argv):
    assert fast.parse(argv) is None
    same_on_both_paths(project, argv)


def test_an_unreadable_path_is_clicks_error(project):
    (project / "secret.py").write_text(CLEAN)
    (project / "secret.py").chmod(0)
    try:
        import os

        if os.access(project / "secret.py", os.R_OK):
            pytest.skip("running as root: every file is readable")
        assert fast.parse(["check", "secret.py"]) is None
        code, _, err, _ = same_on_both_paths(project, ["check", "secret.py"])
        assert code == 2 and "is not readable" in err
    finally:
        (project / "secret.py").chmod(0o644)


# -- errors end both paths the same way --------------------------------------------------------


@pytest.mark.parametrize("raised, expected", [
    (RuntimeError("boom"), "kinkcheck: error: internal error in kinkcheck check: RuntimeError: boom "
                           "(run with --debug for the traceback)"),
    (ModuleNotFoundError("No module named 'pathspec'", name="pathspec"),
     "kinkcheck: error: kinkcheck check needs the Python package 'pathspec', which is not installed "
     "(pip install pathspec)"),
    (ModuleNotFoundError("No module named 'torch'", name="torch"),
     "kinkcheck: error: kinkcheck check needs the Python package 'torch', which is not installed "
     "(pip install 'kinkcheck[torch]')"),
])
def test_a_crash_or_a_missing_dependency_is_one_line_and_exit_2(project, monkeypatch, raised, expected):
    import kinkcheck.lint.api

    def crashing(*args, **kwargs):
        raise raised

    monkeypatch.setattr(kinkcheck.lint.api, "check_paths", crashing)
    code, out, err, _ = same_on_both_paths(project, ["check", "loss.py", "--no-cache"])
    assert (code, out, err) == (2, "", expected + "\n")


def test_debug_prints_the_traceback_first_on_both(project, monkeypatch):
    import kinkcheck.lint.api

    def crashing(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(kinkcheck.lint.api, "check_paths", crashing)
    last_lines = []
    for main in (click_main, entry_point):
        code, out, err = run(main, ["--debug", "check", "loss.py"])
        assert code == 2 and err.startswith("Traceback (most recent call last):")
        last_lines.append(err.splitlines()[-1])
    assert last_lines[0] == last_lines[1]
    assert last_lines[0].endswith("(this is a bug in kinkcheck; please report it with the traceback above)")


def test_a_missing_part_of_kinkcheck_is_an_internal_error_not_a_dependency(project, monkeypatch):
    import kinkcheck.lint.api

    def crashing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'kinkcheck.nope'", name="kinkcheck.nope")

    monkeypatch.setattr(kinkcheck.lint.api, "check_paths", crashing)
    code, _, err, _ = same_on_both_paths(project, ["check", "loss.py", "--no-cache"])
    assert code == 2 and "internal error in kinkcheck check: ModuleNotFoundError" in err


@pytest.mark.parametrize("exc, named", [
    (ModuleNotFoundError("No module named 'rich'", name="rich"), "'rich', which is not installed (pip install rich)"),
    (ModuleNotFoundError("No module named 'jax'", name="jax"), "(pip install 'kinkcheck[jax]')"),
    (ModuleNotFoundError("No module named 'nopkg_kc.sub'", name="nopkg_kc.sub"), "'nopkg_kc', which is not installed"),
    (ModuleNotFoundError("No module named 'click.nope'", name="click.nope"), None),  # installed: a version problem
    (ModuleNotFoundError("No module named 'kinkcheck.nope'", name="kinkcheck.nope"), None),  # a broken install
    (ImportError("cannot import name 'x' from 'rich'", name="rich"), None),  # there, but not what we need
    (ModuleNotFoundError("no name"), None),
])
def test_which_missing_module_is_a_missing_dependency(exc, named):
    from kinkcheck.errors import missing_dependency

    found = missing_dependency(exc)
    assert found is None if named is None else named in found


def test_interrupted_is_exit_2_on_both(project, monkeypatch):
    import kinkcheck.lint.api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(kinkcheck.lint.api, "check_paths", interrupted)
    code, out, err, _ = same_on_both_paths(project, ["check", "loss.py", "--no-cache"])
    assert (code, out, err) == (2, "", "\nkinkcheck: error: interrupted\n")


def test_a_closed_pipe_ends_both_quietly_with_1(project, monkeypatch):
    import kinkcheck.commands.check_run

    def closed(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(kinkcheck.commands.check_run, "emit", closed)
    saved = sys.stdout, sys.stderr
    try:
        code, out, err, _ = same_on_both_paths(project, ["check", "loss.py"])
    finally:
        sys.stdout, sys.stderr = saved  # both wrap the streams so that the exit flush stays quiet
    assert (code, out, err) == (1, "", "")


# -- the fast path's table is the click command's -------------------------------------------------


def test_the_option_table_is_the_click_commands(project):
    """Every option of ``check`` (check.py) is in CHECK_OPTIONS with the same kind and default:
    an option added to one and not the other fails here, not in a user's hook."""
    table = {}
    for param in click_check.params:
        if isinstance(param, click.Argument):
            continue
        assert isinstance(param, click.Option)
        if param.is_flag:
            kind = "flag"
        elif param.multiple:
            kind = "multiple"
        elif isinstance(param.type, click.Choice):
            kind = {("full",): None}.get((param.default,), tuple(param.type.choices))
        elif isinstance(param.type, click.IntRange):
            kind = "jobs"
        elif isinstance(param.type, click.Path):
            kind = "path"
            assert not param.type.dir_okay and not param.type.exists and param.type.readable
        else:
            kind = "value"
        for opt in param.opts + param.secondary_opts:
            table[opt] = (param.name, kind)
    from kinkcheck.output.terminal import COLOR_CHOICES

    expected = {k: (v[0], tuple(COLOR_CHOICES) if v[1] == "color" else v[1]) for k, v in fast.CHECK_OPTIONS.items()}
    assert table == expected
    assert click_check.make_context("check", []).params == fast.DEFAULTS  # what check gets with no options


# -- echo prints as click.echo does ---------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def ascii_stream() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict", write_through=True)


def contents(stream) -> str:
    if isinstance(stream, io.TextIOWrapper):
        stream.flush()
        return stream.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]
    return stream.getvalue()


@pytest.mark.parametrize("make", [io.StringIO, Terminal, ascii_stream], ids=["pipe", "terminal", "ascii"])
@pytest.mark.parametrize("color", [None, True, False])
@pytest.mark.parametrize("message, nl", [("plain", True), ("\x1b[31mred\x1b[0m and é ✓", True), ("", True),
                                         ("", False), ("no newline", False)])
def test_echo_prints_what_click_echo_prints(monkeypatch, make, color, message, nl):
    printed = []
    for printer in (click.echo, echo):
        stream = make()
        monkeypatch.setattr(sys, "stdout", stream)
        printer(message, nl=nl, color=color)
        printed.append(contents(stream))
    assert printed[1] == printed[0]


# -- the real processes ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
@pytest.mark.parametrize("argv", [["check", "uni.py", "--no-cache", "--show-documented"], ["check", "uni.py", "-o", "sub"],
                                  ["check", "-", "--show-documented"]],
                         ids=" ".join)
def test_the_console_script_and_the_click_app_print_the_same_bytes(project, encoding, argv):
    """``python -m kinkcheck`` (the console script's main) against the click app in fresh
    processes, on a stream that declares ASCII too (both write UTF-8 there)."""
    import os
    import subprocess

    (project / "uni.py").write_text(LOSS.replace("# kink: a hinge we want", "# kink: a hinge we want ✓ é"))
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONIOENCODING": encoding}
    runs = []
    for entry in (["-m", "kinkcheck"], ["-c", "import sys; from kinkcheck.cli import main; main(sys.argv[1:])"]):
        proc = subprocess.run([sys.executable, *entry, *argv], cwd=project, env=env, capture_output=True,
                              input=(project / "uni.py").read_bytes(), check=False)
        runs.append((proc.returncode, proc.stdout, proc.stderr))
    assert runs[0] == runs[1]
    assert runs[0][0] in (1, 2) and b"Traceback" not in runs[0][2]
    assert runs[0][0] == 2 or "✓ é".encode() in runs[0][1]  # the non-ASCII text was printed
