"""A content-keyed cache in ``.kinkcheck_cache/`` that can only lose time, never data or findings.

Layout (and nothing else is ever written or deleted)::

    <cache-dir>/CACHEDIR.TAG          the marker: a folder is ours only if it holds this text
    <cache-dir>/.gitignore            written once, only when kinkcheck created the folder
    <cache-dir>/<version>-<salt>/     one folder per kinkcheck build (version, analyzer, catalog)
        <2 hex>/<30 hex>.entry        one entry per file, keyed by the exact bytes analysed
        runs/<32 hex>.entry           whole-run answers (unchanged files and settings)

Safety rules, each tested in ``tests/robustness/test_cache_safety.py``:

* A ``cache-dir`` that is the project root, a parent of it, not a folder, or a folder with
  content but no marker is refused (:class:`CacheDirError`, exit 2): pruning can then only
  ever see kinkcheck's own folders.
* Pruning deletes one file at a time, only regular files whose names fit the layout inside
  a build folder whose name fits it, then ``rmdir`` (which fails on anything left over). It
  never follows a symlink and never calls ``rmtree``.
* Entries are pickles, authenticated: each starts with an HMAC-SHA256 of the payload under a
  per-user secret key kept outside the cache (``KINKCHECK_CACHE_KEY``, or a 0600 file in
  ``$XDG_CONFIG_HOME/kinkcheck``). An entry that fails the check is never unpickled, so a
  cache shared between users or restored from CI cannot run code; it is only a miss.
* Writes are atomic (temp file + rename), so eight concurrent runs or a kill at any point
  leave whole entries or none.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import kinkcheck
from kinkcheck.atomic import write_atomic
from kinkcheck.digest import short_hash

# hashlib (OpenSSL) and pickle are imported where an enabled cache uses them: a --no-cache
# run (the pre-commit hook's one-file check) needs neither.

#: what in an entry's ``results`` is kept per file: the last few scope/config variants
MAX_RESULTS = 4
#: the marker's text (also what kinkcheck 0.1.0 wrote, so existing caches are recognised)
MARKER_NAME = "CACHEDIR.TAG"
MARKER = "Signature: 8a477f597d28d172789f06886806bc55\n# kinkcheck cache; see https://bford.info/cachedir/\n"
GITIGNORE = "# created by kinkcheck\n*\n"
#: an entry: magic, then the HMAC of the rest, then the pickle
MAGIC = b"KCC2"
_MAC_LEN = 32
#: the names pruning may delete, and nothing else: build folders, shards, entries (regexes
#: compiled by a prune, not at import; ``_BUILD`` & co. are compiled ones, see __getattr__)
_PRUNABLE = {
    "_BUILD": r"\d+\.\d+[0-9A-Za-z.+]*-[0-9a-f]{16}",
    "_SHARD": r"[0-9a-f]{2}",
    "_ENTRY": r"([0-9a-f]{30}|[0-9a-f]{32})\.(entry|pickle)|\..+\.tmp",
}
#: build folders untouched this long belong to an old kinkcheck and are pruned
PRUNE_IDLE_S = 3600.0


def __getattr__(name: str) -> Any:
    """``_BUILD``, ``_SHARD``, ``_ENTRY``: the prunable names as compiled regexes."""
    if name in _PRUNABLE:
        return re.compile(_PRUNABLE[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CacheDirError(ValueError):
    """The configured cache folder is not one kinkcheck may own."""


# -- identity of this build and of this user -------------------------------------------------


def _entries(directory: Path) -> list[tuple[str, ...]]:
    """Everything under ``directory`` outside ``__pycache__``, as parts relative to it, in
    ``sorted(directory.rglob(...))`` order. One ``os.walk`` for every stamp of a salt:
    four ``rglob`` walks with their Path objects were most of what salt() cost."""
    out: list[tuple[str, ...]] = []
    for top, dirs, names in os.walk(directory):
        rel = Path(top).relative_to(directory).parts
        out.extend((*rel, name) for name in dirs + names if name != "__pycache__")
        dirs[:] = [d for d in dirs if d != "__pycache__"]  # os.walk, like rglob, skips folder links
    out.sort()
    return out


def _stamp(directory: Path, pattern: str, entries: list[tuple[str, ...]] | None = None) -> list[str]:
    """``path:size:mtime`` of what ``directory.rglob(pattern)`` finds outside ``__pycache__``;
    ``entries`` is :func:`_entries` of ``directory`` when the caller already walked it."""
    if "__pycache__" in directory.parts:
        return []
    out = []
    for parts in _entries(directory) if entries is None else entries:
        if not fnmatch.fnmatchcase(parts[-1], pattern):
            continue
        p = directory.joinpath(*parts)
        try:
            st = p.stat()
        except OSError:
            continue
        out.append(f"{Path(*parts)}:{st.st_size}:{st.st_mtime_ns}")
    return out


_SALT: str | None = None


def salt() -> str:
    """Version + analyzer sources + catalog contents + Python: anything that changes results."""
    global _SALT
    if _SALT is None:
        import hashlib

        from kinkcheck.catalog import rules_dir

        h = hashlib.sha256()
        h.update(kinkcheck.__version__.encode())
        h.update(sys.version.encode())
        package = Path(kinkcheck.__file__).resolve().parent
        entries = _entries(package)
        for part in ("lint", "remedy", "catalog.py", "catalog_vocabulary.py", "findings.py", "config.py", "source.py",
                     "record.py"):
            target = package / part
            if target.is_dir():
                stamps = _stamp(target, "*.py", [e[1:] for e in entries if e[0] == part and len(e) > 1])
            else:
                stamps = _stamp(package, part, entries)
            h.update("\n".join(stamps).encode())
        rules = rules_dir()
        for p in sorted(rules.glob("*.toml")):
            try:
                h.update(p.name.encode())
                h.update(p.read_bytes())
            except OSError:
                pass
        try:  # which rewrites the harness proved decides what findings show
            h.update((package / "remedy" / "proven.json").read_bytes())
        except OSError:
            pass
        _SALT = h.hexdigest()[:16]
    return _SALT


_SECRET: bytes | None = None


def secret_key() -> bytes:
    """The per-user key that authenticates entries. ``KINKCHECK_CACHE_KEY`` wins (a CI secret
    lets a restored CI cache hit); else a 0600 file under ``$XDG_CONFIG_HOME/kinkcheck``
    (created on first use); else, when no private file can be had, a key for this process
    only (the cache then only helps within one run)."""
    global _SECRET
    if _SECRET is None:
        import hashlib

        env = os.environ.get("KINKCHECK_CACHE_KEY")
        if env:
            _SECRET = hashlib.sha256(b"kinkcheck-cache\0" + env.encode("utf-8", "surrogateescape")).digest()
        else:
            import secrets

            _SECRET = _key_file() or secrets.token_bytes(32)
    return _SECRET


def key_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "kinkcheck" / "cache.key"


def _key_file() -> bytes | None:
    path = key_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            pass
        else:
            import secrets

            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd) as fh:
            st = os.fstat(fh.fileno())
            mine = not hasattr(os, "getuid") or st.st_uid == os.getuid()
            if not stat.S_ISREG(st.st_mode) or not mine or st.st_mode & 0o077:
                return None  # someone else could know it: worthless as a secret
            text = fh.read(256).strip()
    except OSError:
        return None
    if len(text) < 32:
        return None  # a half-written key from a killed first run: never trust it
    import hashlib

    return hashlib.sha256(text.encode()).digest()


def functions_key(functions) -> str:
    """The functions in scope of a file, as a key of its cached results (computed with or
    without a cache: no hashlib, see kinkcheck.digest)."""
    if functions is None:
        return "*"
    return short_hash("\n".join(sorted(functions)), 16)


def content_hash(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# -- the folder ---------------------------------------------------------------------------------


def check_cache_dir(directory: Path | str, project_root: Path | str) -> None:
    """Raise :class:`CacheDirError` unless ``directory`` can be kinkcheck's alone."""
    cache = Path(os.path.abspath(directory))
    root = Path(os.path.abspath(project_root))
    shown = str(directory)
    if cache == root:
        raise CacheDirError(f"cache-dir {shown!r} is the project root; use a folder of its own such as "
                            "'.kinkcheck_cache'")
    if cache in root.parents:
        raise CacheDirError(f"cache-dir {shown!r} contains the project; use a folder of its own such as "
                            "'.kinkcheck_cache'")
    try:
        st = os.lstat(cache)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise CacheDirError(f"cache-dir {shown!r} cannot be used: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise CacheDirError(f"cache-dir {shown!r} is not a folder")
    if not _is_ours(cache):
        raise CacheDirError(f"cache-dir {shown!r} holds files kinkcheck did not create; use an empty or "
                            "new folder")


def _is_ours(folder: Path) -> bool:
    """The marker is there, or the folder is empty but for our own half-written temp files
    (a run killed while creating it)."""
    try:
        with open(folder / MARKER_NAME, encoding="utf-8", errors="replace") as fh:
            if fh.read(len(MARKER) + 1) == MARKER:
                return True
    except OSError:
        pass
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return all(n.startswith((f".{MARKER_NAME}.", ".gitignore.")) and n.endswith(".tmp") for n in names)


class Cache:
    """Entries under ``directory/<version>-<salt>/``; a disabled cache stores nothing.
    Call :func:`check_cache_dir` before enabling one on a user-chosen folder."""

    def __init__(self, directory: Path | str | None, *, enabled: bool = True):
        self.enabled = enabled and directory is not None
        self.root = Path(directory if directory is not None else ".")
        self._dir: Path | None = None
        self._ready = False

    @property
    def dir(self) -> Path:
        """``<root>/<version>-<salt>``, computed on first use: a disabled cache (``--no-cache``,
        the pre-commit hook's one-file run) never stamps the analyzer's sources."""
        if self._dir is None:
            self._dir = self.root / f"{kinkcheck.__version__}-{salt()}"
        return self._dir

    def key(self, abspath: str, module: str, data: bytes) -> str:
        """The entry name of ``data`` read from ``abspath`` as ``module``; "" for a disabled
        cache, which stores and finds nothing (no file is hashed for it)."""
        if not self.enabled:
            return ""
        import hashlib

        h = hashlib.sha256()
        h.update(abspath.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
        h.update(module.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
        h.update(data)
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key[2:32]}.entry"

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        entry = _load(self._path(key))
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        if not self.enabled:
            return
        import pickle

        entry["key"] = key
        results = entry.get("results")
        if isinstance(results, dict) and len(results) > MAX_RESULTS:
            for old in list(results)[: len(results) - MAX_RESULTS]:
                del results[old]
        target = self._path(key)
        try:
            self._prepare()
            target.parent.mkdir(exist_ok=True)
            _store(target, entry)
        except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
            pass  # a cache that cannot be written is only slower

    # A whole run: when no file, setting or analyzer changed, its findings are the answer and
    # no index needs loading. Few are kept (one per recent file set / config / scope).
    MAX_RUNS = 8

    def run_key(self, parts) -> str:
        import hashlib

        h = hashlib.sha256(b"run\0")
        for part in parts:
            h.update(repr(part).encode("utf-8", "surrogateescape"))
            h.update(b"\0")
        return h.hexdigest()

    def get_run(self, key: str):
        entry = self.get_run_entry(key)
        return None if entry is None else entry.get("findings")

    def get_run_entry(self, key: str) -> dict | None:
        """The whole run entry: ``findings`` and ``functions`` (in scope; None if unknown)."""
        if not self.enabled:
            return None
        try:
            os.utime(self.dir)  # in use: not pruned by another build's run
        except OSError:
            pass
        entry = _load(self.dir / "runs" / f"{key[:32]}.entry")
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        return entry

    def put_run(self, key: str, findings, *, functions: int | None = None) -> None:
        if not self.enabled:
            return
        import pickle

        runs = self.dir / "runs"
        try:
            self._prepare()
            runs.mkdir(exist_ok=True)
            _store(runs / f"{key[:32]}.entry", {"key": key, "findings": findings, "functions": functions})
            old = sorted(runs.glob("*.entry"), key=lambda p: p.stat().st_mtime, reverse=True)[self.MAX_RUNS:]
            for p in old:
                p.unlink(missing_ok=True)
        except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
            pass

    def _prepare(self) -> None:
        if self._ready:
            return
        try:
            os.mkdir(self.root)
        except FileExistsError:
            created = False
        else:
            created = True
        if created or not (self.root / MARKER_NAME).exists():
            write_atomic(self.root / MARKER_NAME, MARKER, parents=False)
        if created:
            write_atomic(self.root / ".gitignore", GITIGNORE, parents=False)
        fresh = not self.dir.exists()
        self.dir.mkdir(exist_ok=True)
        if fresh:
            prune(self.root, keep=self.dir)
        self._ready = True


def _store(target: Path, entry: Any) -> None:
    import hashlib
    import hmac
    import pickle

    payload = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
    mac = hmac.new(secret_key(), payload, hashlib.sha256).digest()
    write_atomic(target, MAGIC + mac + payload, parents=False)


def _load(path: Path) -> Any:
    """The entry at ``path``, or None when it is missing, damaged, or not written under this
    user's key (then its bytes are never unpickled)."""
    try:
        with open(path, "rb") as fh:
            blob = fh.read()
    except OSError:
        return None
    head = len(MAGIC) + _MAC_LEN
    if len(blob) <= head or not blob.startswith(MAGIC):
        return None
    import hashlib
    import hmac
    import pickle

    payload = blob[head:]
    expected = hmac.new(secret_key(), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, blob[len(MAGIC):head]):
        return None
    try:
        return pickle.loads(payload)
    except Exception:  # authentic but from an incompatible build of our own classes
        return None


def prune(root: Path, *, keep: Path, idle_s: float = PRUNE_IDLE_S) -> list[Path]:
    """Delete other builds' folders under our marked ``root`` once idle for ``idle_s``; only
    files that fit the layout, never through a symlink. Returns the folders removed."""
    import time

    if not _is_ours(root) or not (root / MARKER_NAME).is_file():
        return []
    removed = []
    now = time.time()
    try:
        children = list(os.scandir(root))
    except OSError:
        return []
    for child in children:
        if child.name == keep.name or not re.fullmatch(_PRUNABLE["_BUILD"], child.name):
            continue
        try:
            if not child.is_dir(follow_symlinks=False) or now - child.stat(follow_symlinks=False).st_mtime <= idle_s:
                continue
        except OSError:
            continue
        if _remove_build(Path(child.path)):
            removed.append(Path(child.path))
    return removed


def _remove_build(build: Path) -> bool:
    """Unlink the layout's files in one build folder, then rmdir each folder (fails, and
    keeps the folder, when anything else is inside)."""
    ok = True
    try:
        children = list(os.scandir(build))
    except OSError:
        return False
    for child in children:
        if child.is_dir(follow_symlinks=False) and (re.fullmatch(_PRUNABLE["_SHARD"], child.name) or child.name == "runs"):
            ok &= _remove_files(Path(child.path))
        else:
            ok = False
    try:
        os.rmdir(build)
    except OSError:
        return False
    return ok


def _remove_files(folder: Path) -> bool:
    try:
        children = list(os.scandir(folder))
    except OSError:
        return False
    for child in children:
        if re.fullmatch(_PRUNABLE["_ENTRY"], child.name) and child.is_file(follow_symlinks=False):
            try:
                os.unlink(child.path)
            except OSError:
                pass
    try:
        os.rmdir(folder)
    except OSError:
        return False
    return True
