"""File names and code cannot inject CI workflow commands (issue 8, part 5).

GitHub Actions reads a command from any output line that starts with ``::`` (after
spaces) and, in its older form, from ``##[`` anywhere in a line; Azure Pipelines reads
``##vso[`` anywhere. A file named ``"x\\n::error title=pwn::owned.py"`` or a string
literal holding such lines must not produce one, in any format of ``check`` or ``report``,
on stdout or stderr. The ``github`` format writes real commands: one per finding, with the
file name escaped the runner's way."""

from __future__ import annotations

import json
import re
import sys
from urllib.parse import unquote

import pytest

from kinkcheck.output import FORMATS as CHECK_FORMATS
from kinkcheck.report import FORMATS as REPORT_FORMATS

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="file names with newlines are POSIX-only")

KINK = "import torch\n\n\ndef loss(x):\n    return torch.abs(x).mean()\n"
#: names an attacker can commit; each holds a kink
HOSTILE_NAMES = [
    "x\n::error title=pwn::owned.py",
    "::warning::starts-a-line.py",
    "\u00a0::notice::after-a-no-break-space.py",  # the runner's TrimStart strips any Unicode space
    "cr\r::error::carriage.py",
    "y ##[error]v1-command.py",
    "w ##vso[task.complete result=Failed]azure.py",
    "esc\x1b[2Jclear.py",
]
#: code whose source lines and rewrites hold command lines
STRINGS = 'import torch\n\n\ndef loss(x):\n    return torch.abs("""\n::error::from-source\n##[error]src\n""" + x)\n'

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def commands_in(text: str) -> list[str]:
    """Every line a CI runner would read as a workflow command."""
    return [line for line in _LINE_BREAK.split(text)
            if line.lstrip().startswith("::") or "##[" in line or "##vso[" in line]


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    root = tmp_path / "project"
    root.mkdir()
    for name in HOSTILE_NAMES:
        (root / name).write_text(KINK)
    (root / "strings.py").write_text(STRINGS)
    trace = {
        "format": "kinkcheck-trace", "version": 1, "root": str(root), "ranks": [0], "steps": 1,
        "near": {"ulps": 4, "abs": 1e-30},
        "sites": [{"path": "gone\n::error::from-trace.py", "line": 3, "code": "KC101",
                   "function": "f\n::error::function", "evaluations": 10, "exact": 1, "near": 0, "harmless": 0}],
    }
    (root / "run.trace.json").write_text(json.dumps(trace))
    monkeypatch.chdir(root)
    return root


@pytest.mark.parametrize("fmt", sorted(set(CHECK_FORMATS) - {"github"}))
@pytest.mark.slow
def test_check_output_holds_no_command(cli, hostile, fmt):
    result = cli("check", "--no-cache", "--output-format", fmt, "--show-documented", ".")
    assert result.exit_code == 1, result.stderr
    assert commands_in(result.stdout) == []
    assert commands_in(result.stderr) == []
    assert "\x1b[2J" not in result.stdout  # a terminal escape in a name is shown, not played


@pytest.mark.parametrize("fmt", ["json", "json-lines", "sarif", "gitlab"])
@pytest.mark.slow
def test_machine_formats_keep_the_names_exact(cli, hostile, fmt):
    """The defusing is lossless where the format allows: parsed back, every name is intact."""
    out = cli("check", "--no-cache", "--output-format", fmt, ".").stdout
    docs = [json.loads(line) for line in out.splitlines()] if fmt == "json-lines" else json.loads(out)
    if fmt == "sarif":  # locations are URIs
        names = [unquote(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
                 for r in docs["runs"][0]["results"]]
    elif fmt == "gitlab":
        names = [issue["location"]["path"] for issue in docs]
    else:
        names = [f["path"] for f in (docs if fmt == "json-lines" else docs["findings"])]
    assert sorted(names) == sorted([*HOSTILE_NAMES, "strings.py"])


def test_text_formats_name_the_file_readably(cli, hostile):
    out = cli("check", "--no-cache", "--output-format", "concise", ".").stdout
    assert "x\\n::error title=pwn::owned.py:5:12: KC101" in out
    assert "./::warning::starts-a-line.py:5:12: KC101" in out


def test_github_annotations_are_one_escaped_command_per_finding(cli, hostile):
    result = cli("check", "--no-cache", "-q", "--output-format", "github", ".")
    lines = _LINE_BREAK.split(result.stdout.rstrip("\n"))
    assert len(lines) == len(HOSTILE_NAMES) + 1
    files = []
    for line in lines:
        m = re.match(r"^::(warning|error|notice) (file=[^,]*),line=\d+,col=\d+,.*::", line)
        assert m, repr(line)
        files.append(unquote(m.group(2)[len("file="):]))
    # the runner's escapes cannot carry an ESC byte (and click drops ANSI sequences off a
    # terminal), so that one name is compared without its escape sequence
    expected = [n.replace("\x1b[2J", "") for n in [*HOSTILE_NAMES, "strings.py"]]
    assert sorted(files) == sorted(expected)


@pytest.mark.parametrize("fmt", list(REPORT_FORMATS))
@pytest.mark.slow
def test_report_output_holds_no_command(cli, hostile, fmt):
    result = cli("report", "--no-cache", "--trace", "run.trace.json", "--format", fmt, ".")
    assert result.exit_code == 0, result.stderr
    assert commands_in(result.stdout) == []
    assert commands_in(result.stderr) == []


@pytest.mark.slow
def test_report_names_stay_readable_in_the_terminal(cli, hostile):
    out = cli("report", "--no-cache", "--trace", "run.trace.json", ".").stdout
    assert "gone\\n::error::from-trace.py" in out
    assert "x\\n::error title=pwn::owned.py" in out


@pytest.mark.slow
def test_an_error_message_naming_a_hostile_path_is_one_line(cli, hostile):
    result = cli("check", "--no-cache", ".", "missing\n::error::in-an-error.py")
    assert result.exit_code == 2
    assert commands_in(result.stderr) == []
    assert any("missing\\n::error::in-an-error.py" in line for line in result.stderr.splitlines())

