"""Helpers for the workflow tests: findings placed on real files, real git repositories, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kinkcheck.findings import Finding

REPO = Path(__file__).resolve().parents[2]


def find(path: Path, needle: str, *, code="KC101", name="abs-at-zero", function="loss", nth=0, root=None, **kw) -> Finding:
    """A finding on the ``nth`` occurrence of ``needle`` in ``path``, as the analyzer would
    report it (1-based line and column, exclusive end column, path relative to the cwd)."""
    seen = 0
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        start = line.find(needle)
        while start != -1:
            if seen == nth:
                rel = os.path.relpath(path, root or Path.cwd())
                return Finding(
                    code=code, name=name, category=kw.pop("category", "kink"), path=rel,
                    line=lineno, col=start + 1, end_line=lineno, end_col=start + 1 + len(needle),
                    message=kw.pop("message", f"`{needle.split('(')[0]}` is not differentiable where its argument is 0"),
                    function=function, snippet=line, **kw,
                )
            seen += 1
            start = line.find(needle, start + 1)
    raise AssertionError(f"{needle!r} (occurrence {nth}) not in {path}")


def git(repo: Path, *args: str, input: str | None = None) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env, input=input)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout



def kinkcheck(*args: str, cwd: Path, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real CLI as a user would (``python -m kinkcheck``), with this checkout importable."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "kinkcheck", *args], cwd=cwd, capture_output=True, text=True,
        env=env, input=input, timeout=timeout,
    )
