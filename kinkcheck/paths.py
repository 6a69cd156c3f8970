"""Paths as outputs and fingerprints write them: relative to the project root, POSIX.

Bottom layer (no import of the analyzer, the outputs or the workflow): SARIF URIs, GitLab and
JUnit locations, Markdown tables and fingerprints all name a file the same way, wherever
kinkcheck was started.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_path"]


def repo_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """``path`` (as the finding gives it, relative to the working directory) as a POSIX path
    relative to ``root`` when it lies under it, else as given. URIs and fingerprints use this
    form so that they do not depend on where kinkcheck was started."""
    p = Path(path)
    base = Path(root).resolve() if root is not None else Path.cwd().resolve()
    absolute = p if p.is_absolute() else Path.cwd() / p
    try:
        return absolute.resolve().relative_to(base).as_posix()
    except ValueError:
        return p.as_posix()
