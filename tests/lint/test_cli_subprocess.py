"""``python -m kinkcheck check`` as a real process: what pre-commit and CI actually run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASIC = "tests/fixtures/cli/basic/loss.py"

pytestmark = pytest.mark.slow


def kinkcheck(*args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    environ.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "kinkcheck", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)


def test_exit_1_and_exact_columns():
    p = kinkcheck("check", BASIC, "--output-format", "concise", "--no-cache")
    assert p.returncode == 1, p.stderr
    lines = p.stdout.splitlines()
    assert [line.split("] ")[0] + "]" for line in lines[:-1]] == [
        f"{BASIC}:7:11: KC101 [abs-at-zero]",
        f"{BASIC}:8:13: KC201 [sqrt-at-zero]",
    ]
    assert lines[-1] == "Checked 1 file (1 function of loss code); found 2 undocumented kinks (1 documented)."
    assert p.stderr == ""


def test_exit_0_on_clean_code_and_with_exit_zero():
    assert kinkcheck("check", "tests/fixtures/cli/clean.py", "--no-cache").returncode == 0
    assert kinkcheck("check", BASIC, "--exit-zero").returncode == 0


def test_exit_2_on_usage_error_without_traceback():
    p = kinkcheck("check", BASIC, "--select", "KC000x")
    assert p.returncode == 2
    assert p.stderr.strip() == "kinkcheck: error: command line: unknown rule code 'KC000x' in select"


def test_no_color_env_and_forced_color():
    plain = kinkcheck("check", BASIC, env={"NO_COLOR": "1", "FORCE_COLOR": ""})
    assert "\x1b[" not in plain.stdout
    coloured = subprocess.run([sys.executable, "-m", "kinkcheck", "check", BASIC], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO), "FORCE_COLOR": "1"},
                              capture_output=True, text=True, timeout=120)
    assert "\x1b[" in coloured.stdout and coloured.returncode == 1


def test_version():
    p = kinkcheck("--version")
    assert p.returncode == 0 and "kinkcheck" in p.stdout


def test_one_file_run_does_not_import_heavy_frameworks(tmp_path):
    """The pre-commit case: checking a torch file must not import torch, jax or numpy."""
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['kinkcheck', 'check', {BASIC!r}, '--no-cache', '-q']\n"
        "try:\n    runpy.run_module('kinkcheck', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'jax', 'numpy', 'scipy', 'rich') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    p = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                       capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in p.stdout, p.stdout + p.stderr
