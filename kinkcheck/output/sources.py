"""Source lines for display, read only from files inside the checked roots.

``check``'s code frames and the report's source excerpts show lines of the files a finding
or a trace site names. Those names are not all trustworthy: a trace file may say
``../../../../etc/passwd`` and a checkout may hold ``leak.py -> /etc/passwd``. So a file is
read for display only when its real path (symlinks resolved) lies inside one of the
allowed roots, it is a regular file no bigger than :data:`MAX_BYTES`, and it holds no NUL
byte. Files named only by a trace (never checked) must also end in a Python suffix.
Anything else shows no source, and the caller says so.

Roots: the paths given on the command line (a file stands for its folder, resolved before
its own name is, so ``kinkcheck check leak.py`` does not make ``/etc`` a root) and the
project root.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from kinkcheck import source

#: A bigger file is not worth a code frame (and a huge one is a way to stall a run).
MAX_BYTES = 20 * 1024 * 1024
#: What a file named only by a trace must end with to be shown.
PYTHON_SUFFIXES = (".py", ".pyi", ".pyw")


def allowed_roots(paths: Iterable[str | os.PathLike], *, base: str | os.PathLike | None = None) -> list[str]:
    """The real folders under which files may be shown: each path's real folder (a file
    counts as its parent), relative paths taken from ``base`` (default: the working dir)."""
    base_dir = os.path.abspath(base) if base is not None else os.getcwd()
    roots: list[str] = []
    for p in paths:
        full = os.path.join(base_dir, os.fspath(p))
        if os.path.isdir(full):
            real = os.path.realpath(full)
        else:
            real = os.path.realpath(os.path.dirname(os.path.abspath(full)))
        if real not in roots:
            roots.append(real)
    return roots


def inside(real: str, roots: Iterable[str]) -> bool:
    """Is the real path ``real`` one of ``roots`` or below one?"""
    for root in roots:
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


class SourceReader:
    """Reads and caches display lines; ``None`` for what may not or cannot be shown.

    >>> reader = SourceReader(["src"])                 # doctest: +SKIP
    >>> reader.lines("src/loss.py")                    # doctest: +SKIP
    ['import torch', ...]
    >>> reader.lines("../../etc/passwd") is None       # doctest: +SKIP
    True
    """

    def __init__(self, roots: Iterable[str | os.PathLike], *, base: str | os.PathLike | None = None,
                 given: Mapping[str, str] | None = None):
        """``given``: source the run already holds, by the path its findings name (``check -``
        reads standard input once; there is no file to read it back from)."""
        self.base = Path(os.path.abspath(base) if base is not None else os.getcwd())
        self.roots = allowed_roots(roots, base=self.base)
        self._lines: dict[tuple[str, bool], list[str] | None] = {
            (path, checked): source.lines(text) for path, text in (given or {}).items() for checked in (True, False)}
        self.refused: set[str] = set()

    def real(self, path: str | os.PathLike) -> str:
        p = Path(path)
        try:
            return os.path.realpath(p if p.is_absolute() else self.base / p)
        except (OSError, ValueError):
            return str(p)

    def allowed(self, path: str | os.PathLike, *, checked: bool = True) -> bool:
        """May ``path`` be shown? ``checked`` is false for a file named only by a trace."""
        real = self.real(path)
        if not inside(real, self.roots):
            return False
        return checked or real.endswith(PYTHON_SUFFIXES)

    def lines(self, path: str | os.PathLike | None, *, checked: bool = True) -> list[str] | None:
        """The file's lines, or None: outside the roots, not a regular file, too big,
        binary or unreadable. A refusal (as opposed to a read error) is remembered in
        :attr:`refused` so the caller can say why no code is shown."""
        if path is None:
            return None
        key = (os.fspath(path), checked)
        if key not in self._lines:
            self._lines[key] = self._read(path, checked)
        return self._lines[key]

    def _read(self, path: str | os.PathLike, checked: bool) -> list[str] | None:
        if not self.allowed(path, checked=checked):
            self.refused.add(os.fspath(path))
            return None
        real = self.real(path)
        try:
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_BYTES:
                return None  # a FIFO would block a read; a huge file is not worth a frame
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(MAX_BYTES + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        if b"\0" in data or len(data) > MAX_BYTES:
            return None
        return source.lines(source.decode(data))  # decoded and numbered as Python does

