"""The user's cache of parsed inputs: the rule catalog (a pickle, written by catalog.py) and
TOML settings files (here). Not the project's results cache (``.kinkcheck_cache``,
``--no-cache``): only what parsing the same bytes again would give.

``import tomllib`` costs about 4 ms (its regexes, ``datetime``), a few percent of the
one-file check the pre-commit hook runs on every commit, for a settings file that rarely
changes. :func:`load_toml` keeps a parsed table under the cache directory, named by the
BLAKE2 hash of the text (and Python's version): only the very same text is answered from
an entry, so an entry is never stale. The newest :data:`MAX_TOML` entries are kept. A file
holding dates or times (which ``marshal`` cannot keep) is parsed every time. Best effort: an
unreadable, unwritable or damaged entry is a miss.
"""

from __future__ import annotations

import marshal
import os
import sys
from pathlib import Path
from typing import Any

from kinkcheck.digest import blake2b, short_hash

__all__ = ["MAX_TOML", "TOMLError", "directory", "keep_newest", "load_toml", "seal", "unseal"]

#: parsed TOML texts kept (one per settings file content seen lately)
MAX_TOML = 64
#: the layout of an entry, part of its name: a kinkcheck that writes another layout never
#: reads this one (the folder is shared by every installed version)
FORMAT = "sealed-marshal-1"


class TOMLError(ValueError):
    """The text is not valid TOML; the message is the parser's."""


def directory() -> Path:
    """``$KINKCHECK_CATALOG_CACHE``, else ``$XDG_CACHE_HOME/kinkcheck``, else ``~/.cache/kinkcheck``."""
    base = os.environ.get("KINKCHECK_CATALOG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "kinkcheck"
    )
    return Path(base)


#: text hash -> the marshalled table, for a file read twice in one run (found, then loaded)
_SEEN: dict[str, bytes] = {}


def load_toml(text: str) -> dict[str, Any]:
    """``tomllib.loads(text)``, from the cache when this very text was parsed before.
    Raises :class:`TOMLError`."""
    digest = short_hash(f"{FORMAT}\0{sys.version_info[:2]}\0{text}", 32)
    entry = directory() / f"toml-{digest}.marshal"
    blob = _SEEN.get(digest)
    if blob is None:
        try:
            blob = entry.read_bytes()
        except OSError:
            blob = None
    if blob is not None:
        payload = unseal(blob)
        try:
            table = marshal.loads(payload) if payload is not None else None
        except (EOFError, ValueError, TypeError):
            table = None
        if isinstance(table, dict):
            return table
    data = _parse(text)
    try:
        blob = seal(marshal.dumps(data))
    except ValueError:  # a date or time: not cached
        return data
    _SEEN[digest] = blob
    _write(entry, blob)
    return data


#: bytes of the digest an entry starts with
_SEAL = 16


def seal(payload: bytes) -> bytes:
    """``payload`` behind its BLAKE2 digest: a truncated or damaged entry is a miss, never
    data read as if it were the table (marshal checks little of what it reads)."""
    return blake2b(payload, digest_size=_SEAL).digest() + payload


def unseal(blob: bytes) -> bytes | None:
    """The payload :func:`seal` wrapped, or None when the digest does not match."""
    payload = blob[_SEAL:]
    return payload if len(blob) >= _SEAL and blake2b(payload, digest_size=_SEAL).digest() == blob[:_SEAL] else None


def _parse(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TOMLError(str(exc)) from None


def _write(entry: Path, blob: bytes) -> None:
    from kinkcheck.atomic import write_atomic

    try:
        write_atomic(entry, blob)
    except OSError:
        return
    keep_newest("toml-*.marshal", MAX_TOML)


def keep_newest(pattern: str, count: int) -> None:
    """Delete all but the ``count`` newest entries named like ``pattern`` (after a write:
    each edit of the rules or the settings leaves an entry nothing will read again). Only
    regular files with a name kinkcheck gives (``toml-<hex>.marshal``) are ever deleted: the
    folder may be one the user named, holding files of their own."""
    import re

    ours = re.compile(r"(toml|catalog)-[0-9a-f]{8,64}\.(marshal|pickle)")
    try:
        entries = sorted((p for p in directory().glob(pattern) if ours.fullmatch(p.name) and p.is_file()
                          and not p.is_symlink()), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in entries[count:]:
            old.unlink(missing_ok=True)
    except OSError:
        return
