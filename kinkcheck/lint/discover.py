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
import re
import stat as _stat
from pathlib import Path
from typing import Iterable

from kinkcheck.config import ALWAYS_EXCLUDE, Config, _compile, glob_match
from kinkcheck.globs import GlobError, literal
from kinkcheck.record import record

PY_SUFFIXES = (".py",)


@record
class SourceFile:
    """One file to check: ``path`` as shown to the user, ``abspath`` to open, ``module`` name."""

    path: str
    abspath: str
    module: str


class Discovery:
    """What :func:`discover` found (a plain class: a dataclass costs a millisecond to define)."""

    def __init__(self) -> None:
        self.files: list[SourceFile] = []
        #: paths that do not exist or cannot be listed: a usage error (exit 2)
        self.errors: list[str] = []
        #: things skipped on the way (symlink loops, unlistable subdirectories)
        self.warnings: list[str] = []


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
    # Plain names (every default exclude) are a set lookup; the other globs become regexes.
    names = {name for p in excludes if (name := literal(p)) is not None}
    compiled = [_compile(p) for p in excludes if literal(p) is None]
    by_name = [rx for rx, anchored in compiled if not anchored]
    by_path = [rx for rx, anchored in compiled if anchored]

    def entry_excluded(full: str, name: str) -> bool:
        if name in names or any(rx.match(name) for rx in by_name):
            return True
        if by_path:
            rel = config.relative(full)
            return any(rx.match(rel) for rx in by_path)
        return False

    def add(abspath: str, st: os.stat_result | None = None) -> None:
        ident: tuple[int, int] | str
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
            rules = ancestor_gitignores(abspath, out.warnings) if config.respect_gitignore else ()
            if rules and gitignored(rules, abspath, os.path.basename(abspath), True):
                # named explicitly inside an ignored folder: checked, as ripgrep and ruff do;
                # the patterns above it still apply to what is below it, read from it
                rules = tuple((abspath, spec) for _, spec in rules)
            walk(abspath, rules)
        else:
            # Given explicitly: checked whatever its suffix; reading reports what it is.
            add(abspath, st)
    return out


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    return (exc.strerror or str(exc)).lower()


# -- .gitignore ---------------------------------------------------------------------------
# Like ruff (respect-gitignore = true): files git ignores are not checked. The patterns are
# git's own (pathspec's GitIgnoreSpec), read in git's order of precedence, lowest first:
# core.excludesFile (default $XDG_CONFIG_HOME/git/ignore), .git/info/exclude, then every
# .gitignore from the repository root down to a walked directory; the last matching pattern
# wins and "!" re-includes. (A file in an ignored directory stays ignored, as in git.) A
# malformed pattern is skipped with a warning: git accepts such a line and never matches it,
# so refusing to run would be wrong.

_GitRule = tuple  # (base directory, pathspec.GitIgnoreSpec)


def read_gitignore(directory: str, warnings: list[str] | None = None, *, path: str | None = None) -> tuple[_GitRule, ...]:
    """The patterns of ``directory/.gitignore`` (or of the ignore file ``path``, relative to
    ``directory``); a bad pattern adds a line to ``warnings``."""
    path = path or os.path.join(directory, ".gitignore")
    if not os.path.isfile(path):  # a FIFO named .gitignore must not block the run
        return ()
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return ()
    import pathspec

    good = []
    for number, line in enumerate(lines, 1):
        body = line.rstrip().removeprefix("!").removeprefix("\\").rstrip("/")
        try:  # git never matches a malformed pattern; saying so beats a silent no-op
            if body and not body.startswith("#"):
                _compile(body)
            pathspec.GitIgnoreSpec.from_lines([line])
        except (GlobError, ValueError, TypeError, re.error) as exc:  # pathspec raises re.error for [z-a]
            if warnings is not None:
                warnings.append(f"{display_path(path)}:{number}: pattern {line.rstrip()!r} skipped: {exc}")
            continue
        good.append(line)
    spec = pathspec.GitIgnoreSpec.from_lines(good)
    return ((directory, spec),) if len(spec.patterns) else ()


def gitignored(rules, full: str, name: str, is_dir: bool) -> bool:
    """Whether git ignores ``full`` under ``rules`` (the last file with a matching pattern
    decides; within a file, the last matching pattern)."""
    ignored = False
    for base, spec in rules:
        if not full.startswith(base + os.sep):
            continue
        rel = full[len(base) + 1 :].replace(os.sep, "/") + ("/" if is_dir else "")
        include = spec.check_file(rel).include
        if include is not None:
            ignored = include
    return ignored


def ancestor_gitignores(directory: str, warnings: list[str] | None = None) -> tuple[_GitRule, ...]:
    """The patterns that apply to ``directory`` before its own .gitignore (which walking it
    reads): the user's core.excludesFile and the repository's .git/info/exclude, both
    relative to the repository root, then the .gitignore files from that root down to, not
    including, ``directory``. Outside a git repository: none."""
    chain = []
    current = directory
    while True:
        chain.append(current)
        if os.path.exists(os.path.join(current, ".git")):
            break
        parent = os.path.dirname(current)
        if parent == current:
            return ()  # not inside a git repository: nothing applies
        current = parent
    root = chain[-1]
    rules: tuple = ()
    excludes_file = _core_excludes_file(root)
    if excludes_file:
        rules += read_gitignore(root, warnings, path=excludes_file)
    rules += read_gitignore(root, warnings, path=os.path.join(root, ".git", "info", "exclude"))
    for d in reversed(chain[1:]):
        rules += read_gitignore(d, warnings)
    return rules


def _core_excludes_file(root: str) -> str | None:
    """git's core.excludesFile for the repository at ``root`` (its default when unset:
    ``$XDG_CONFIG_HOME/git/ignore``), read from the config files without running git."""
    import configparser

    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    found = None
    for config in (os.path.join(xdg, "git", "config"), os.path.join(home, ".gitconfig"),
                   os.path.join(root, ".git", "config")):
        if not os.path.isfile(config):
            continue
        parser = configparser.RawConfigParser(strict=False)
        try:
            parser.read(config, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        for section in parser.sections():
            if section.strip().lower() == "core":
                for key, value in parser.items(section):
                    if key.lower() == "excludesfile" and value:
                        found = os.path.expanduser(value.strip().strip('"'))
    return found if found is not None else os.path.join(xdg, "git", "ignore")
