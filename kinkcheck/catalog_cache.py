"""The parsed rule catalog, kept between runs: parsing the TOML files costs ~25 ms, a tenth
of the one-file check the pre-commit hook runs on every commit; reading it back ~2 ms.

An entry lives in the user's cache directory (kinkcheck/usercache.py), named by a hash of
the rule files' names, sizes and mtimes, the code of the classes it holds, kinkcheck's
version and Python's. It is ``marshal`` data, not a pickle (importing ``pickle`` alone was
2 ms): each record as the tuple of its field values in order, the records and paths inside
it found from the field annotations (``Docs``, ``Runtime | None``, ``tuple[Remedy, ...]``,
``Path``), and rebuilt without ``__init__`` (kinkcheck/record.py). Best effort: a missing,
unreadable or damaged entry is a miss, an unwritable one is not written.
"""

from __future__ import annotations

import functools
import marshal
import os
import sys
from pathlib import Path
from typing import Any

from kinkcheck import catalog as _catalog
from kinkcheck.record import field_names, from_values, values_of

__all__ = ["MAX_KEPT", "Stamp", "read", "stamp", "write"]

#: catalogs kept in the cache directory (other versions, other checkouts, rules being edited)
MAX_KEPT = 8
#: the modules whose classes an entry holds: another layout of them would load broken
CODE_FILES = tuple(os.path.join(os.path.dirname(__file__), name) for name in ("catalog.py", "catalog_vocabulary.py",
                                                                                "record.py", "catalog_cache.py"))
#: the classes an entry holds, by the name their annotations use
RECORDS = {cls.__name__: cls for cls in (_catalog.Match, _catalog.Subgradient, _catalog.Runtime, _catalog.Remedy,
                                         _catalog.Expected, _catalog.Example, _catalog.Docs, _catalog.Rule)}

Stamp = list[tuple[str, str, int, int]]


def stamp(root: Path) -> Stamp | None:
    """(name, resolved path, size, mtime) of every ``*.toml`` in ``root`` by name, then of
    the code files: one directory listing and one stat a file (the root is resolved once,
    a file only when it is a symbolic link). None when the folder cannot be read."""
    import fnmatch

    try:
        real = os.path.realpath(root)
        with os.scandir(root) as it:
            entries = sorted((e.name, e.is_symlink()) for e in it if fnmatch.fnmatch(e.name, "*.toml"))
        out = []
        for name, link in entries:
            path = os.path.join(root, name)
            st = os.stat(path)
            out.append((name, os.path.realpath(path) if link else os.path.join(real, name), st.st_size, st.st_mtime_ns))
        for path in CODE_FILES:
            st = os.stat(path)
            out.append((os.path.basename(path), os.path.realpath(path), st.st_size, st.st_mtime_ns))
    except OSError:
        return None
    return out


def rule_files(stamped: Stamp) -> list[str]:
    """The rule file names a stamp lists, in order."""
    return [entry[0] for entry in stamped[: -len(CODE_FILES)]]


def _path(stamped: Stamp) -> Path:
    from kinkcheck import __version__, usercache
    from kinkcheck.digest import short_hash

    key = short_hash(repr((__version__, sys.version_info[:2], stamped)), 20)
    return usercache.directory() / f"catalog-{key}.marshal"


def read(stamped: Stamp | None) -> _catalog.Catalog | None:
    """The catalog kept for ``stamped``, or None."""
    if stamped is None:
        return None
    from kinkcheck import usercache

    try:
        with open(_path(stamped), "rb") as fh:
            payload = usercache.unseal(fh.read())
        if payload is None:
            return None  # truncated or damaged
        root, rules = marshal.loads(payload)  # (marshal.load reads a file a value at a time)
        return _catalog.Catalog([_built(_catalog.Rule, rule) for rule in rules], Path(root))
    except Exception:  # noqa: BLE001 - a missing, stale or damaged entry is just a miss
        return None


def write(stamped: Stamp | None, catalog: _catalog.Catalog) -> None:
    """Keep ``catalog`` for ``stamped``, and only the newest MAX_KEPT catalogs."""
    from kinkcheck import usercache
    from kinkcheck.atomic import write_atomic

    if stamped is None:
        return
    try:
        data = usercache.seal(marshal.dumps((str(catalog.root), [_plain(_catalog.Rule, rule) for rule in catalog.values()])))
        write_atomic(_path(stamped), data)
    except (OSError, ValueError):  # ValueError: a value marshal cannot keep
        return
    usercache.keep_newest("catalog-*.marshal", MAX_KEPT)
    usercache.keep_newest("catalog-*.pickle", 0)  # what kinkcheck kept before


@functools.cache
def _plan(cls: type) -> tuple[tuple[int, str, Any], ...]:
    """(field index, kind, record class) of each field of ``cls`` holding records or a path;
    kind: ``record``, ``optional`` (``X | None``), ``records`` (``tuple[X, ...]``) or ``path``."""
    out: list[tuple[int, str, Any]] = []
    for i, name in enumerate(field_names(cls)):
        annotation = str(cls.__annotations__[name])
        inner, optional = annotation.removesuffix(" | None"), annotation.endswith(" | None")
        many = inner.startswith("tuple[") and inner.endswith(", ...]") and not optional
        inner = inner[len("tuple["):-len(", ...]")] if many else inner
        if inner == "Path" and not many and not optional:
            out.append((i, "path", None))
        elif inner in RECORDS:
            out.append((i, "records" if many else "optional" if optional else "record", RECORDS[inner]))
        elif {"Path", *RECORDS} & set("".join(c if c.isalnum() else " " for c in annotation).split()):
            raise TypeError(f"{cls.__name__}.{name}: {annotation!r} is not a form the catalog cache knows")
    return tuple(out)


def _plain(cls: type, obj: Any) -> tuple:
    """``obj`` (a record of ``cls``) as the tuple marshal keeps."""
    values = list(values_of(obj))
    for i, kind, inner in _plan(cls):
        value = values[i]
        if kind == "path":
            values[i] = str(value)
        elif kind == "records":
            values[i] = tuple(_plain(inner, item) for item in value)
        elif value is not None:
            values[i] = _plain(inner, value)
    return tuple(values)


def _built(cls: type, values: tuple) -> Any:
    """The record of ``cls`` that :func:`_plain` gave ``values``."""
    plan = _plan(cls)
    if plan:
        fields = list(values)
        for i, kind, inner in plan:
            value = fields[i]
            if kind == "path":
                fields[i] = Path(value)
            elif kind == "records":
                fields[i] = tuple([_built(inner, item) for item in value])
            elif value is not None:
                fields[i] = _built(inner, value)
        values = tuple(fields)
    return from_values(cls, values)
