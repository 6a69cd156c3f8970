"""Exit codes say what happened: a bug of ours is exit 2 and one line naming the file being
processed, never exit 1 ("kinks found") and never a traceback unless asked for with
``--debug`` or ``KINKCHECK_DEBUG=1``.

The bugs are planted by replacing one function a command calls with one that raises.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from exit2_helpers import ROOT, assert_one_error, kinkcheck
from test_json_validation import LOSS, valid_trace

HINT = "(run with --debug for the traceback)"


def boom(*args, **kwargs):
    raise TypeError("planted bug\nwith a second line")


@pytest.fixture
def project(tmp_path):
    (tmp_path / "loss.py").write_text(LOSS)
    (tmp_path / "t.json").write_text(json.dumps(valid_trace()))
    (tmp_path / "u.json").write_text(json.dumps(valid_trace(rank=1)))
    return tmp_path


#: (command line, function to break, where the one line says it was)
CRASHES = [
    (("trace", "show", "t.json"), "kinkcheck.trace.show.render", "while processing t.json"),
    (("trace", "show", "--json", "t.json"), "json.dumps", "while processing t.json"),
    (("merge", "t.json", "u.json", "-o", "m.json"), "kinkcheck.trace.tracefile.merge", "while processing t.json + u.json"),
    (("report", "--no-cache", "--trace", "t.json", "loss.py"), "kinkcheck.report.join.build", "in kinkcheck report"),
    (("check", "--no-cache", "loss.py"), "kinkcheck.output.render", "in kinkcheck check"),
    (("check", "--no-cache", "--diff", "-", "loss.py"), "kinkcheck.workflow.diff.keep_changed", "in kinkcheck check"),
    (("rules",), "kinkcheck.commands.rules._load", "in kinkcheck rules"),
    (("rule", "KC101"), "kinkcheck.commands.rules._load", "in kinkcheck rule"),
]


@pytest.mark.parametrize("args, target, where", CRASHES, ids=[" ".join(c[0][:2]) + f" ({c[1]})" for c in CRASHES])
def test_an_internal_error_is_exit_2_and_one_line(project, monkeypatch, args, target, where):
    import importlib

    module, attr = target.rsplit(".", 1)
    monkeypatch.setattr(importlib.import_module(module), attr, boom)
    result = kinkcheck(*args, cwd=project, input="")
    line = assert_one_error(result, f"internal error {where}: TypeError: planted bug with a second line {HINT}")
    assert line.endswith(HINT)
    assert not (project / "m.json").exists()


@pytest.mark.parametrize("how", ["--debug", "KINKCHECK_DEBUG=1", "KINKCHECK_DEBUG=yes", "KINKCHECK_DEBUG=anything"])
def test_debug_shows_the_traceback(project, monkeypatch, how):
    monkeypatch.setattr("kinkcheck.trace.show.render", boom)
    env = {how.split("=")[0]: how.split("=")[1]} if "=" in how else None
    args = ["--debug"] if how == "--debug" else []
    result = kinkcheck(*args, "trace", "show", "t.json", cwd=project, env=env)
    assert result.exit_code == 2
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert 'raise TypeError("planted bug' in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("kinkcheck: error: internal error while processing t.json: TypeError: planted bug")
    assert "please report it with the traceback above" in last


@pytest.mark.parametrize("value", ["0", "", "false", "no", "off"])
def test_debug_off_values_keep_the_one_line(project, monkeypatch, value):
    monkeypatch.setattr("kinkcheck.trace.show.render", boom)
    result = kinkcheck("trace", "show", "t.json", cwd=project, env={"KINKCHECK_DEBUG": value})
    assert_one_error(result, "internal error while processing t.json", HINT)


@pytest.mark.slow
def test_a_crash_in_a_real_process_is_exit_2_without_a_traceback(project):
    """As a user sees it: ``python -m kinkcheck``'s entry point, stderr as printed."""
    script = ("import sys, kinkcheck.trace.show as show\n"
              "def boom(*a, **k):\n    raise RuntimeError('planted')\n"
              "show.render = boom\n"
              "from kinkcheck.cli import main\nmain(sys.argv[1:])\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KINKCHECK_DEBUG", None)
    run = subprocess.run([sys.executable, "-c", script, "trace", "show", "t.json"], check=False, cwd=project, env=env,
                         capture_output=True, text=True, timeout=120)
    assert_one_error(run, "internal error while processing t.json: RuntimeError: planted", HINT)
    debug = subprocess.run([sys.executable, "-c", script, "--debug", "trace", "show", "t.json"], check=False,
                           cwd=project, env=env,
                           capture_output=True, text=True, timeout=120)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_usage_errors_and_findings_keep_their_codes(project):
    """The crash handler leaves click's own exits alone: findings 1, clean 0, usage 2."""
    assert kinkcheck("check", "--no-cache", "loss.py", cwd=project).exit_code == 1
    (project / "clean.py").write_text("def loss(x):\n    return x * x\n")
    assert kinkcheck("check", "--no-cache", "clean.py", cwd=project).exit_code == 0
    usage = kinkcheck("check", "--no-such-option", cwd=project)
    assert usage.exit_code == 2 and "No such option" in usage.stderr and "internal error" not in usage.stderr


def test_a_workflow_error_is_a_kinkcheck_error_line(project):
    result = kinkcheck("check", "--no-cache", "--baseline", "missing.json", "loss.py", cwd=project)
    assert_one_error(result, "baseline missing.json: no such file")


def test_an_analyzer_bug_in_report_is_the_same_one_line(project, monkeypatch):
    monkeypatch.setattr("kinkcheck.lint.api.check_paths", boom)
    result = kinkcheck("report", "--no-cache", "loss.py", cwd=project)
    assert_one_error(result, "internal error in kinkcheck report: TypeError: planted bug", HINT)


def test_a_file_name_with_a_newline_stays_on_one_line(project, monkeypatch):
    """A name like ``x\\n::error::owned.json`` must not put a CI workflow command on a line of its own."""
    name = "x\n::error::owned.json"
    result = kinkcheck("trace", "show", name, cwd=project)
    assert_one_error(result, "x\\n::error::owned.json: no such trace file")
    (project / name).write_text(json.dumps(valid_trace()))
    monkeypatch.setattr("kinkcheck.trace.show.render", boom)
    assert_one_error(kinkcheck("trace", "show", name, cwd=project), "while processing x\\n::error::owned.json")
    result = kinkcheck("check", "--no-cache", "--baseline", name + ".missing", "loss.py", cwd=project)
    assert_one_error(result, "x\\n::error::owned.json.missing")
