"""A content-keyed cache in ``.kinkcheck_cache/`` that makes re-runs nearly free.

One entry per file, named by a hash of (cache salt, absolute path, module name, file bytes).
The salt covers the kinkcheck version, the analyzer's own sources, the catalog and the
Python version, so an edit to any of them starts a fresh cache. An entry holds what is
expensive to recompute: the file's index (for scope), its kink comments, a parse error if
any, and its findings per (config fingerprint, in-scope function set). Entries are written
atomically (temp file + rename); an entry that cannot be read is treated as missing.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import kinkcheck
from kinkcheck.atomic import write_atomic

#: what in an entry's ``results`` is kept per file: the last few scope/config variants
MAX_RESULTS = 4


def _stamp(directory: Path, pattern: str) -> list[str]:
    out = []
    for p in sorted(directory.rglob(pattern)):
        if "__pycache__" in p.parts:
            continue
        try:
            st = p.stat()
        except OSError:
            continue
        out.append(f"{p.relative_to(directory)}:{st.st_size}:{st.st_mtime_ns}")
    return out


_SALT: str | None = None


def salt() -> str:
    """Version + analyzer sources + catalog contents + Python: anything that changes results."""
    global _SALT
    if _SALT is None:
        from kinkcheck.catalog import rules_dir

        h = hashlib.sha256()
        h.update(kinkcheck.__version__.encode())
        h.update(sys.version.encode())
        package = Path(kinkcheck.__file__).resolve().parent
        for part in ("lint", "catalog.py", "findings.py", "config.py"):
            target = package / part
            stamps = _stamp(target, "*.py") if target.is_dir() else _stamp(target.parent, target.name)
            h.update("\n".join(stamps).encode())
        rules = rules_dir()
        for p in sorted(rules.glob("*.toml")):
            try:
                h.update(p.name.encode())
                h.update(p.read_bytes())
            except OSError:
                pass
        _SALT = h.hexdigest()[:16]
    return _SALT


def functions_key(functions) -> str:
    if functions is None:
        return "*"
    return hashlib.sha256("\n".join(sorted(functions)).encode()).hexdigest()[:16]


class Cache:
    """Entries under ``directory/<version>-<salt>/``; a disabled cache stores nothing."""

    def __init__(self, directory: Path | str, *, enabled: bool = True):
        self.enabled = enabled
        self.root = Path(directory if directory is not None else ".")
        self.dir = self.root / f"{kinkcheck.__version__}-{salt()}" if enabled else self.root
        self._ready = False

    def key(self, abspath: str, module: str, data: bytes) -> str:
        h = hashlib.sha256()
        h.update(abspath.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
        h.update(module.encode())
        h.update(b"\0")
        h.update(data)
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key[2:32]}.pickle"

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        try:
            with open(self._path(key), "rb") as fh:
                entry = pickle.load(fh)
        except Exception:  # missing, truncated, corrupt or from an incompatible build
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        if not self.enabled:
            return
        entry["key"] = key
        results = entry.get("results")
        if isinstance(results, dict) and len(results) > MAX_RESULTS:
            for old in list(results)[: len(results) - MAX_RESULTS]:
                del results[old]
        target = self._path(key)
        try:
            self._prepare()
            target.parent.mkdir(exist_ok=True)
            self._write(target, entry)
        except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
            pass  # a cache that cannot be written is only slower

    # A whole run: when no file, setting or analyzer changed, its findings are the answer and
    # no index needs loading. Few are kept (one per recent file set / config / scope).
    MAX_RUNS = 8

    def run_key(self, parts) -> str:
        h = hashlib.sha256(b"run\0")
        for part in parts:
            h.update(repr(part).encode("utf-8", "surrogateescape"))
            h.update(b"\0")
        return h.hexdigest()

    def get_run(self, key: str):
        if not self.enabled:
            return None
        try:
            os.utime(self.dir)  # in use: not pruned by another build's run
        except OSError:
            pass
        try:
            with open(self.dir / "runs" / f"{key[:32]}.pickle", "rb") as fh:
                entry = pickle.load(fh)
        except Exception:
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        return entry.get("findings")

    def put_run(self, key: str, findings) -> None:
        if not self.enabled:
            return
        runs = self.dir / "runs"
        try:
            self._prepare()
            runs.mkdir(exist_ok=True)
            self._write(runs / f"{key[:32]}.pickle", {"key": key, "findings": findings})
            old = sorted(runs.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)[self.MAX_RUNS:]
            for p in old:
                p.unlink(missing_ok=True)
        except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
            pass

    def _write(self, target: Path, entry) -> None:
        write_atomic(target, pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))

    def _prune(self, idle_s: float = 3600.0) -> None:
        """Drop caches of other kinkcheck builds (a new version or catalog starts a new
        directory) once nothing has touched them for an hour."""
        import shutil
        import time

        now = time.time()
        for sibling in self.root.iterdir():
            if sibling == self.dir or not sibling.is_dir() or "-" not in sibling.name:
                continue
            try:
                if now - sibling.stat().st_mtime > idle_s:
                    shutil.rmtree(sibling, ignore_errors=True)
            except OSError:
                pass

    def _prepare(self) -> None:
        if self._ready:
            return
        fresh = not self.dir.exists()
        self.dir.mkdir(parents=True, exist_ok=True)
        if fresh:
            self._prune()
        tag = self.root / "CACHEDIR.TAG"
        if not tag.exists():
            tag.write_text("Signature: 8a477f597d28d172789f06886806bc55\n# kinkcheck cache; see https://bford.info/cachedir/\n")
            (self.root / ".gitignore").write_text("# created by kinkcheck\n*\n")
        self._ready = True
