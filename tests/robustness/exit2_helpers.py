"""Running the real CLI on bad input and checking the one-line, exit-2 contract."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def _cwd(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def kinkcheck(*args: str, cwd, input: bytes | str | None = None, env: dict | None = None):
    """``kinkcheck ARGS`` in-process (click's CliRunner) from ``cwd``; exceptions propagate."""
    from click.testing import CliRunner

    from kinkcheck.cli import cli

    with _cwd(cwd):
        return CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)


def kinkcheck_process(*args: str, cwd, env: dict | None = None, timeout: float = 120, stdin=None):
    """``python -m kinkcheck ARGS`` as a real process; a hang fails the test, not the run."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "kinkcheck", *args], check=False, cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout, stdin=stdin if stdin is not None else subprocess.DEVNULL)


def one_error(exit_code: int, stderr: str, *needles: str) -> str:
    """Assert exit 2 and exactly one stderr line, ``kinkcheck: error: ...`` holding every
    needle and no traceback; return that line."""
    assert exit_code == 2, f"exit {exit_code}, stderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    (line,) = lines
    assert line.startswith("kinkcheck: error: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def assert_one_error(result, *needles: str) -> str:
    """:func:`one_error` for a CliRunner result or a CompletedProcess."""
    code = result.exit_code if hasattr(result, "exit_code") else result.returncode
    return one_error(code, result.stderr, *needles)
