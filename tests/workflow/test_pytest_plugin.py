"""``pytest --kinkcheck-trace``: a real pytest run of a tiny torch test file, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from workflow_helpers import REPO

SMOKE_TEST = """\
import torch


def l1_loss(pred, target):
    return torch.abs(pred - target).mean()


def test_training_step():
    w = torch.zeros(4, requires_grad=True)
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    loss = l1_loss(w * x, torch.zeros(4))
    loss.backward()
    assert w.grad is not None
"""


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """pytest in a fresh process with only this plugin loaded (as the entry point would)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "kinkcheck.workflow.pytest_plugin", "-p", "no:cacheprovider", *args],
        cwd=cwd, capture_output=True, text=True, env=env, timeout=300,
    )


def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"kinkcheck": "kinkcheck.workflow.pytest_plugin"}


@pytest.mark.slow
def test_loading_the_plugin_imports_neither_torch_nor_the_tracer():
    code = (
        "import sys, kinkcheck.workflow.pytest_plugin; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'jax', 'astroid', 'rich') "
        "or m.startswith('kinkcheck.trace')); print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.slow
def test_off_by_default(tmp_path):
    (tmp_path / "test_plain.py").write_text(
        "import sys\n\ndef test_tracer_not_loaded():\n    assert 'kinkcheck.trace' not in sys.modules\n"
    )
    run = run_pytest(tmp_path, "-q")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "kinkcheck" not in run.stdout
    assert not list(tmp_path.glob("kinkcheck-trace*"))


@pytest.mark.slow
def test_trace_and_report_are_written_at_the_end(tmp_path):
    (tmp_path / "test_smoke.py").write_text(SMOKE_TEST)
    run = run_pytest(tmp_path, "-q", "--kinkcheck-trace=out/kinks.json")
    assert run.returncode == 0, run.stdout + run.stderr

    trace = json.loads((tmp_path / "out" / "kinks.json").read_text())
    assert trace["format"] == "kinkcheck-trace" and trace["version"] == 1
    (site,) = [s for s in trace["sites"] if s["code"] == "KC101"]
    assert (site["path"], site["line"], site["function"]) == ("test_smoke.py", 5, "l1_loss")
    # w starts at 0, so every residual is exactly 0: all four evaluations sit on the kink
    assert (site["evaluations"], site["exact"]) == (4, 4)

    report = (tmp_path / "out" / "kinks.md").read_text()
    assert "KC101" in report and "test_smoke.py" in report
    assert "-- kinkcheck --" in run.stdout.replace("-" * 10, "--")
    assert "trace: out/kinks.json" in run.stdout and "report: out/kinks.md" in run.stdout


@pytest.mark.slow
def test_default_path(tmp_path):
    (tmp_path / "test_smoke.py").write_text(SMOKE_TEST)
    run = run_pytest(tmp_path, "-q", "test_smoke.py", "--kinkcheck-trace")
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "kinkcheck-trace.json").is_file()
    assert (tmp_path / "kinkcheck-trace.md").is_file()


@pytest.mark.slow
def test_a_test_path_taken_for_the_trace_path_is_one_clear_error(tmp_path):
    (tmp_path / "test_smoke.py").write_text("def test_x():\n    pass\n")
    run = run_pytest(tmp_path, "--kinkcheck-trace", "test_smoke.py")
    assert run.returncode == 4  # pytest's usage error
    assert "--kinkcheck-trace took 'test_smoke.py' as its trace PATH" in run.stderr
    assert "Traceback" not in run.stderr
