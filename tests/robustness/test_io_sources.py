"""Reads stay inside the checked roots (issue 8, part 5): ``check`` and ``report`` print no
content of a file outside them, whether a trace names it (``../../../../etc/passwd``, an
absolute path) or a symlink among the checked files points at it (``leak.py ->
/etc/passwd``). The site or finding is still listed, with a note saying why no code is
shown."""

from __future__ import annotations

import json
import os

import pytest

from kinkcheck.output.sources import SourceReader, allowed_roots
from kinkcheck.source import lines as split_lines

SECRET_TEXT = "root:x:0:0:TOPSECRET-passwd-line:/root:/bin/bash\n"
SECRET_PY = "import torch\n\nTOKEN = 'TOPSECRET-python-token'\nvalue = torch.abs(TOKEN_VALUE)\n"
LOSS = "import torch\n\n\ndef loss(pred, target):\n    return torch.abs(pred - target).mean()\n"
CHECK_FORMATS = ["full", "concise", "json", "json-lines", "sarif", "github", "gitlab", "junit", "markdown"]
REPORT_FORMATS = ["terminal", "markdown", "html", "json"]


@pytest.fixture
def layout(tmp_path, monkeypatch):
    """project/ (checked) next to outside/ (never checked), with secrets in outside/."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text(SECRET_TEXT)
    (outside / "secret.py").write_text(SECRET_PY)
    project = tmp_path / "project"
    project.mkdir()
    (project / "loss.py").write_text(LOSS)
    monkeypatch.chdir(project)
    return project, outside


def _trace(project, *sites) -> str:
    doc = {"format": "kinkcheck-trace", "version": 1, "root": str(project), "ranks": [0], "steps": 1,
           "near": {"ulps": 4, "abs": 1e-30},
           "sites": [{"path": p, "line": line, "code": code, "function": "f", "evaluations": 10, "exact": 1,
                      "near": 0, "harmless": 0} for p, line, code in sites]}
    (project / "run.trace.json").write_text(json.dumps(doc))
    return "run.trace.json"


def _everything(result) -> str:
    return result.stdout + result.stderr


# -- report: sites named by a trace ---------------------------------------------------------


@pytest.mark.parametrize("fmt", REPORT_FORMATS)
def test_a_trace_site_climbing_out_of_the_root_shows_no_content(cli, layout, fmt):
    project, outside = layout
    trace = _trace(project, ("../outside/passwd", 1, "KC101"), ("../outside/secret.py", 4, "KC101"),
                   (str(outside / "secret.py"), 3, "KC201"))
    result = cli("report", "--no-cache", "--trace", trace, "--format", fmt, ".")
    assert result.exit_code == 0, result.stderr
    assert "TOPSECRET" not in _everything(result)
    assert "secret.py" in result.stdout  # the site itself is listed, only its code is not


def test_etc_passwd_through_a_trace_shows_nothing_of_it(cli, layout):
    if not os.path.isfile("/etc/passwd"):
        pytest.skip("no /etc/passwd here")
    project, _ = layout
    first_line = open("/etc/passwd", encoding="utf-8", errors="replace").readline().strip()
    trace = _trace(project, ("../../../../../../../../../../etc/passwd", 1, "KC101"), ("/etc/passwd", 1, "KC205"))
    for fmt in REPORT_FORMATS:
        result = cli("report", "--no-cache", "--trace", trace, "--format", fmt, ".")
        assert result.exit_code == 0, result.stderr
        assert first_line not in _everything(result), fmt


def test_the_report_says_why_a_site_has_no_code(cli, layout):
    project, _ = layout
    trace = _trace(project, ("../outside/secret.py", 4, "KC101"))
    data = json.loads(cli("report", "--no-cache", "--trace", trace, "--format", "json", ".").stdout)
    site = next(s for s in data["sites"] if s["path"].endswith("secret.py"))
    assert site["source"] == [] and site["snippet"] == ""
    assert any("not shown" in n for n in site["notes"])


def test_a_site_inside_the_project_still_shows_its_code(cli, layout):
    project, _ = layout
    trace = _trace(project, ("loss.py", 5, "KC101"))
    data = json.loads(cli("report", "--no-cache", "--trace", trace, "--format", "json", ".").stdout)
    site = next(s for s in data["sites"] if s["path"] == "loss.py")
    assert [5, "    return torch.abs(pred - target).mean()"] in site["source"]


# -- check and report: a symlink among the checked files ------------------------------------


@pytest.mark.parametrize("fmt", CHECK_FORMATS)
def test_check_shows_nothing_of_a_symlinked_file_outside(cli, layout, fmt):
    project, outside = layout
    (project / "leak.py").symlink_to(outside / "passwd")
    result = cli("check", "--no-cache", "--output-format", fmt, ".")
    assert result.exit_code == 1, result.stderr
    assert "TOPSECRET" not in _everything(result)
    assert "leak.py: skipped: a symbolic link out of the checked paths" in result.stderr


def test_check_names_the_reason_and_still_frames_the_real_files(cli, layout):
    project, outside = layout
    (project / "leak.py").symlink_to(outside / "passwd")
    result = cli("check", "--no-cache", ".")
    assert "leak.py: skipped: a symbolic link out of the checked paths" in result.stderr
    assert "5 |     return torch.abs(pred - target).mean()" in result.stdout


def test_check_of_the_link_given_by_name_names_why_its_code_is_not_shown(cli, layout):
    project, outside = layout
    (project / "leak.py").symlink_to(outside / "passwd")
    out = cli("check", "--no-cache", "leak.py").stdout
    assert "leak.py resolves outside the checked paths; its code is not shown" in out


def test_check_of_the_link_given_by_name_still_shows_nothing(cli, layout):
    """Naming the link on the command line does not make its target's folder a root."""
    project, outside = layout
    (project / "leak.py").symlink_to(outside / "passwd")
    result = cli("check", "--no-cache", "leak.py")
    assert result.exit_code == 1
    assert "TOPSECRET" not in _everything(result)


@pytest.mark.parametrize("fmt", REPORT_FORMATS)
def test_report_shows_nothing_of_a_symlinked_file_outside(cli, layout, fmt):
    project, outside = layout
    (project / "leak.py").symlink_to(outside / "passwd")
    result = cli("report", "--no-cache", "--format", fmt, ".")
    assert result.exit_code == 0, result.stderr
    assert "TOPSECRET" not in _everything(result)


# -- the reader itself ----------------------------------------------------------------------


def test_reader_refuses_what_resolves_outside_and_remembers_it(layout):
    project, outside = layout
    (project / "leak.py").symlink_to(outside / "passwd")
    reader = SourceReader(["."], base=project)
    assert reader.lines("loss.py")[4] == "    return torch.abs(pred - target).mean()"
    assert reader.lines("leak.py") is None and "leak.py" in reader.refused
    assert reader.lines("../outside/secret.py") is None
    assert reader.lines(str(outside / "secret.py")) is None


def test_reader_shows_a_trace_only_file_only_when_it_is_python(layout):
    project, _ = layout
    (project / "notes.txt").write_text("private notes\n")
    reader = SourceReader(["."], base=project)
    assert reader.lines("notes.txt", checked=False) is None
    assert reader.lines("loss.py", checked=False) is not None


def test_reader_never_blocks_on_a_fifo(layout):
    project, _ = layout
    os.mkfifo(project / "pipe.py")
    assert SourceReader(["."], base=project).lines("pipe.py") is None


def test_a_given_file_stands_for_its_folder_not_its_target(layout):
    project, outside = layout
    (project / "leak.py").symlink_to(outside / "passwd")
    assert allowed_roots(["leak.py"], base=project) == [os.path.realpath(project)]


def test_lines_are_numbered_as_python_numbers_them():
    """A form feed or \\x85 inside a line does not start a new one (str.splitlines would)."""
    assert split_lines("a\x0cb\nc\x85d\r\ne\rf\n") == ["a\x0cb", "c\x85d", "e", "f"]
