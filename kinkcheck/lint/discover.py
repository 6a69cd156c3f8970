"""Which files a run checks, and the module name each one has.

Directories are walked with ``os.scandir`` (no globbing of the whole tree), skipping what
the configuration excludes, virtualenvs (any directory holding ``pyvenv.cfg``), VCS and
cache directories. Symlinked directories are followed once: a directory already visited
(same device and inode) is skipped, so loops terminate. Paths given explicitly are checked
even when an exclude pattern matches them, unless ``force_exclude`` is set (as in ruff,
which the pre-commit hook relies on).
"""

from __future__ import annotations

import errno
import os
import stat as _stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from kinkcheck.config import ALWAYS_EXCLUDE, Config, _compile, glob_match
from kinkcheck.globs import GlobError

PY_SUFFIXES = (".py",)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file to check: ``path`` as shown to the user, ``abspath`` to open, ``module`` name."""

    path: str
    abspath: str
    module: str


@dataclass
class Discovery:
    files: list[SourceFile] = field(default_factory=list)
    #: paths that do not exist or cannot be listed: a usage error (exit 2)
    errors: list[str] = field(default_factory=list)
    #: things skipped on the way (symlink loops, unlistable subdirectories)
    warnings: list[str] = field(default_factory=list)


def display_path(path: str | Path) -> str:
    """``path`` relative to the working directory when under it, else absolute; posix form."""
    absolute = os.path.abspath(path)
    cwd = os.getcwd()
    if absolute == cwd:
        return "."
    if absolute.startswith(cwd.rstrip(os.sep) + os.sep):
        return Path(os.path.relpath(absolute, cwd)).as_posix()
    return Path(absolute).as_posix()


def module_name(abspath: str | Path, _packages: dict | None = None) -> str:
    """Dotted module name from the package structure: parents holding ``__init__.py``."""
    directory, filename = os.path.split(os.path.abspath(abspath))
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    package = _package(directory, {} if _packages is None else _packages)
    if stem == "__init__":
        return package or stem
    return f"{package}.{stem}" if package else stem


def _package(directory: str, memo: dict) -> str:
    """Dotted package name of ``directory`` ("" when it is not a package); memoized per run."""
    if directory in memo:
        return memo[directory]
    if not os.path.isfile(os.path.join(directory, "__init__.py")):
        name = ""
    else:
        parent = os.path.dirname(directory)
        above = _package(parent, memo) if parent != directory else ""
        base = os.path.basename(directory)
        name = f"{above}.{base}" if above else base
    memo[directory] = name
    return name


def discover(paths: Iterable[str | Path], config: Config, *, force_exclude: bool = False) -> Discovery:
    out = Discovery()
    seen_files: set = set()
    seen_dirs: set[tuple[int, int]] = set()
    excludes = config.excludes
    packages: dict[str, str] = {}

    def excluded(abspath: str, skip: int = 0) -> bool:
        rel = config.relative(abspath)
        return any(glob_match(pattern, rel, skip) for pattern in excludes)

    # While walking, a directory's ancestors were already tested: only the entry itself is.
    compiled = [_compile(p) for p in excludes]
    by_name = [rx for rx, anchored in compiled if not anchored]
    by_path = [rx for rx, anchored in compiled if anchored]

    def entry_excluded(full: str, name: str) -> bool:
        if any(rx.match(name) for rx in by_name):
            return True
        if by_path:
            rel = config.relative(full)
            return any(rx.match(rel) for rx in by_path)
        return False

    def add(abspath: str, st: os.stat_result | None = None) -> None:
        try:
            st = st or os.stat(abspath)
            ident = (st.st_dev, st.st_ino)
        except OSError:
            ident = os.path.realpath(abspath)
        if ident in seen_files:
            return
        seen_files.add(ident)
        out.files.append(SourceFile(display_path(abspath), abspath, module_name(abspath, packages)))

    project = os.path.realpath(str(config.root))

    def leaves(full: str, top: str) -> bool:
        """A symlink found while walking that points outside the walked path and the project:
        its file is not ours to read (or to quote in messages)."""
        real = os.path.realpath(full)
        return not any(real == base or real.startswith(base.rstrip(os.sep) + os.sep) for base in (top, project))

    def walk(directory: str, ignores: tuple = (), top: str | None = None) -> None:
        top = top or os.path.realpath(directory)
        try:
            st = os.stat(directory)
        except OSError as exc:
            out.warnings.append(f"{display_path(directory)}: skipped: {_why(exc)}")
            return
        ident = (st.st_dev, st.st_ino)
        if ident in seen_dirs:
            return
        seen_dirs.add(ident)
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            out.warnings.append(f"{display_path(directory)}: cannot list directory: {_why(exc)}")
            return
        if any(e.name == "pyvenv.cfg" for e in entries):
            return  # a virtualenv
        if config.respect_gitignore and any(e.name == ".gitignore" for e in entries):
            ignores = ignores + read_gitignore(directory, out.warnings)
        for entry in entries:
            full = os.path.join(directory, entry.name)
            if entry.name in ALWAYS_EXCLUDE:
                continue
            if entry.is_symlink() and (entry.name.endswith(PY_SUFFIXES) or entry.is_dir()) and leaves(full, top):
                out.warnings.append(f"{display_path(full)}: skipped: a symbolic link out of the checked paths")
                continue
            try:
                is_dir = entry.is_dir()  # follows symlinks
                is_file = not is_dir and entry.is_file()
            except OSError as exc:
                out.warnings.append(f"{display_path(full)}: skipped: {_why(exc)}")
                continue
            if not is_dir and not entry.name.endswith(PY_SUFFIXES):
                continue
            if entry_excluded(full, entry.name):
                continue
            if ignores and gitignored(ignores, full, entry.name, is_dir):
                continue
            if is_dir:
                walk(full, ignores, top)
            elif is_file:
                try:
                    add(full, entry.stat())
                except OSError:
                    add(full)
            elif entry.is_symlink():
                try:
                    os.stat(full)
                except OSError as exc:
                    out.warnings.append(f"{display_path(full)}: skipped: {_why(exc)}")

    for given in paths:
        abspath = os.path.abspath(given)
        if force_exclude and excluded(abspath):
            continue
        try:
            st = os.stat(abspath)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                out.errors.append(f"{given}: {_why(exc)}")
            elif os.path.islink(abspath):
                out.errors.append(f"{given}: broken symbolic link")
            else:
                out.errors.append(f"{given}: no such file or directory")
            continue
        if _stat.S_ISDIR(st.st_mode):
            walk(abspath, ancestor_gitignores(abspath, out.warnings) if config.respect_gitignore else ())
        else:
            # Given explicitly: checked whatever its suffix; reading reports what it is.
            add(abspath, st)
    return out


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    return (exc.strerror or str(exc)).lower()


# -- .gitignore ---------------------------------------------------------------------------
# Like ruff (respect-gitignore = true): files git ignores are not checked. Rules from every
# .gitignore between the repository root and a walked directory apply, deeper ones later;
# the last matching rule wins and "!" re-includes. (A file in an ignored directory stays
# ignored, as in git.) A malformed pattern (``[z-a]``, an unclosed ``[``) is skipped with a
# warning: git accepts such a line and never matches it, so refusing to run would be wrong.

_GitRule = tuple  # (base directory, compiled regex, anchored, negated, directories only)


def read_gitignore(directory: str, warnings: list[str] | None = None) -> tuple[_GitRule, ...]:
    """The rules of ``directory/.gitignore``; a bad pattern adds a line to ``warnings``."""
    path = os.path.join(directory, ".gitignore")
    if not os.path.isfile(path):  # a FIFO named .gitignore must not block the run
        return ()
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return ()
    rules = []
    for number, line in enumerate(lines, 1):
        line = line.rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated:
            line = line[1:]
        if line.startswith("\\"):
            line = line[1:]
        dir_only = line.endswith("/")
        body = line.rstrip("/")
        if not body:
            continue
        try:
            rx, anchored = _compile(body)  # a "/" at the start or in the middle anchors it here
        except GlobError as exc:
            if warnings is not None:
                warnings.append(f"{display_path(path)}:{number}: pattern {line!r} skipped: {exc}")
            continue
        rules.append((directory, rx, anchored, negated, dir_only))
    return tuple(rules)


def gitignored(rules, full: str, name: str, is_dir: bool) -> bool:
    ignored = False
    for base, rx, anchored, negated, dir_only in rules:
        if dir_only and not is_dir:
            continue
        if anchored:
            if not full.startswith(base + os.sep):
                continue
            hit = rx.match(full[len(base) + 1 :].replace(os.sep, "/")) is not None
        else:
            hit = rx.match(name) is not None
        if hit:
            ignored = not negated
    return ignored


def ancestor_gitignores(directory: str, warnings: list[str] | None = None) -> tuple[_GitRule, ...]:
    """Rules from the .gitignore files of the enclosing git repository above ``directory``
    (not ``directory`` itself: walking it reads that one)."""
    chain = []
    current = os.path.dirname(directory)
    while True:
        chain.append(current)
        if os.path.exists(os.path.join(current, ".git")):
            break
        parent = os.path.dirname(current)
        if parent == current:
            return ()  # not inside a git repository: nothing above applies
        current = parent
    if os.path.exists(os.path.join(directory, ".git")):
        return ()
    rules: tuple = ()
    for d in reversed(chain):
        rules += read_gitignore(d, warnings)
    return rules
