"""``kinkcheck check`` on a standard output that cannot encode what it prints (a Latin-1
terminal, ``PYTHONIOENCODING=ascii``): the report is printed, what the stream cannot encode
escaped, and the run exits as anywhere else, never as an internal error; ``-o FILE`` is UTF-8
whatever the stream. And standard input is summarised as the same file given by path."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from streams import run_bytes

from kinkcheck.__main__ import main as entry_point
from kinkcheck.cli import main as click_main
from kinkcheck.commands import fast
from kinkcheck.output import FORMATS

REPO = Path(__file__).resolve().parents[2]

#: a kink with characters no Latin-1 or ASCII stream can encode on its line
SOURCE = "import torch\n\n\ndef loss(x):\n    return torch.abs(x).mean()  # ✓ note → here\n"
#: not Latin-1 either, so every format (each prints the path) has something to escape
NAME = "проверка.py"

#: the two ways into ``check``: the console script's click-free path and the click app
ENTRY_POINTS = {
    "fast path": ["-m", "kinkcheck"],
    "click app": ["-c", "import sys; from kinkcheck.cli import main; main(sys.argv[1:])"],
}
MAINS = {"fast path": entry_point, "click app": click_main}
#: formats that escape non-ASCII text themselves (json.dumps' default)
ASCII_FORMATS = {"sarif", "gitlab"}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("NO_COLOR", "FORCE_COLOR", "KINKCHECK_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "pyproject.toml").write_text("[tool.kinkcheck]\n")
    (tmp_path / NAME).write_text(SOURCE, encoding="utf-8")
    return tmp_path


def run(main, argv: list[str], *, encoding: str = "utf-8", stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    """(exit code, stdout bytes, stderr bytes) of ``main(argv)`` in this process, on streams
    that declare ``encoding`` with strict errors (what ``PYTHONIOENCODING`` gives stdout)."""
    return run_bytes(main, argv, encoding=encoding, stdin=stdin, err_errors="backslashreplace")


def escaped(text: str, encoding: str) -> bytes:
    """``text`` as it must reach a stream that declares ``encoding``: UTF-8 where that is
    ASCII (click's rule), else ``\\uXXXX`` for what the encoding lacks (all BMP here)."""
    return text.encode("utf-8") if encoding == "ascii" else text.encode(encoding, "backslashreplace")


# -- in this process: every format, both entry points ------------------------------------------


@pytest.mark.parametrize("entry", MAINS)
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_prints_on_a_latin1_stdout(project, entry, fmt):
    argv = ["check", NAME, "--output-format", fmt]
    assert fast.parse(argv) is not None  # the console script reads it without click
    code, reference, _ = run(MAINS[entry], argv)
    assert code == 1
    code, out, err = run(MAINS[entry], argv, encoding="latin-1")
    assert (code, err) == (1, b"")
    assert out == escaped(reference.decode(), "latin-1")


def test_the_code_frame_shows_the_line_escaped(project):
    code, out, err = run(entry_point, ["check", NAME], encoding="latin-1")
    assert code == 1 and b"internal error" not in err
    lines = out.decode("latin-1").splitlines()
    assert lines[0].startswith("\\u043f\\u0440\\u043e\\u0432\\u0435\\u0440\\u043a\\u0430.py:5:12: KC101 [abs-at-zero]")
    assert "5 |     return torch.abs(x).mean()  # \\u2713 note \\u2192 here" in lines


def test_standard_input_prints_on_a_latin1_stdout(project):
    source = SOURCE.encode()
    for main in MAINS.values():
        code, out, err = run(main, ["check", "-", "--stdin-filename", NAME], encoding="latin-1", stdin=source)
        assert (code, err) == (1, b"")
        assert b".py:5:12: KC101" in out and b"\\u2713" in out


def test_escaped_json_is_the_same_document(project):
    """The escapes are JSON's, so a JSON report read from a Latin-1 stdout parses to what
    the UTF-8 one says (the path with its Cyrillic letters)."""
    argv = ["check", NAME, "--output-format", "json"]
    _, reference, _ = run(entry_point, argv)
    code, out, _ = run(entry_point, argv, encoding="latin-1")
    assert code == 1
    assert json.loads(out.decode("latin-1")) == json.loads(reference)
    assert NAME in reference.decode()


def test_a_character_beyond_the_bmp_is_a_json_surrogate_pair(project):
    (project / "emoji.py").write_text(SOURCE.replace("✓", "\U0001f600"), encoding="utf-8")
    code, out, _ = run(entry_point, ["check", "emoji.py"], encoding="latin-1")
    assert code == 1
    assert "# \\ud83d\\ude00 note" in out.decode("latin-1")
    assert json.loads('"\\ud83d\\ude00"') == "\U0001f600"


# -- real processes: PYTHONIOENCODING, both entry points, every format, -o ----------------------


def kinkcheck(project: Path, entry: str, encoding: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": encoding}
    return subprocess.run([sys.executable, *ENTRY_POINTS[entry], *args], cwd=project, env=env,
                          capture_output=True, check=False, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_real_process_prints_what_its_stdout_can_encode(project, entry, fmt):
    argv = ["check", NAME, "--output-format", fmt]
    written = kinkcheck(project, entry, "latin-1", *argv, "-o", "report.txt")
    assert (written.returncode, written.stdout) == (1, b""), written.stderr
    report = (project / "report.txt").read_text(encoding="utf-8")  # -o FILE: UTF-8 whatever stdout is
    assert NAME in report or fmt in ASCII_FORMATS
    for encoding in ("latin-1", "ascii"):
        printed = kinkcheck(project, entry, encoding, *argv)
        assert printed.returncode == 1, printed.stderr
        assert b"internal error" not in printed.stderr
        assert printed.stdout == escaped(report, encoding)


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_a_real_process_prints_the_finding_line(project, entry, encoding):
    printed = kinkcheck(project, entry, encoding, "check", NAME)
    assert printed.returncode == 1, printed.stderr
    frame_line = "5 |     return torch.abs(x).mean()  # ✓ note → here"
    assert escaped(frame_line, encoding) in printed.stdout.splitlines()


# -- standard input is summarised as the file ---------------------------------------------------


COUNTED = '''\
import torch


def helper(x):
    return torch.relu(x)


class PairLoss(torch.nn.Module):
    def forward(self, pred, target):
        def inner(d):
            return torch.abs(d)

        return inner(pred - target).mean() + helper(pred).sum()


def unrelated(x):
    return x + 1
'''


@pytest.mark.parametrize("scope", ["loss", "model", "all"])
def test_standard_input_counts_functions_as_the_path_does(project, scope):
    (project / "pair.py").write_text(COUNTED)
    lines = []
    for argv, stdin in ((["check", "pair.py", "--no-cache"], b""),
                        (["check", "-", "--stdin-filename", "pair.py"], COUNTED.encode()),
                        (["check", "-"], COUNTED.encode())):
        code, out, err = run(entry_point, [*argv, "--scope", scope], stdin=stdin)
        assert code == 1, err
        lines.append(out.decode().splitlines()[-1])
    assert lines[0] == lines[1] == lines[2]
    counted = re.match(r"Checked 1 file \((\d+) functions? ", lines[0])
    assert counted is not None and int(counted.group(1)) > 1, lines[0]
