"""Reading a file the user named as input: a trace, a baseline, a config file.

Such a path can be anything. Opening a FIFO blocks until some writer appears and a device
can stream forever, so the file type is checked before opening (and again on the open
descriptor, which is opened non-blocking). JSON is parsed so that a file nested 100,000
deep, holding a 5,000-digit number, NaN or 1e999 is one clear error, never a RecursionError
or a ``ValueError`` from ``int()``; the schemas (:mod:`kinkcheck.schema`) then bound every
field's type, range and depth.
"""

from __future__ import annotations

import math
import os
import stat
import sys
from typing import Any

from kinkcheck.errors import KinkcheckError


class InputError(KinkcheckError):
    """An input file that cannot be used; the message is one line naming the file."""


def describe_mode(mode: int) -> str:
    """What a non-regular file is, for a message: "a FIFO (named pipe)", "a directory"..."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def not_regular(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read or written as a file ("is a FIFO (named pipe), not a regular
    file"), or None when it is a regular file, does not exist, or cannot be examined (the
    open that follows reports that). Follows symbolic links, as opening does."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(st.st_mode):
        return None
    return f"is {describe_mode(st.st_mode)}, not a regular file"


def read_bytes(path: str | os.PathLike, *, what: str = "file") -> bytes:
    """The content of the regular file ``path``; anything else raises InputError."""
    reason = not_regular(path)
    if reason:
        raise InputError(f"{os.fspath(path)}: {reason}")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(f"{os.fspath(path)}: no such {what}") from None
    except OSError as exc:
        raise InputError(f"{os.fspath(path)}: cannot read {what}: {(exc.strerror or str(exc)).lower()}") from None
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # swapped between the stat and the open
            raise InputError(f"{os.fspath(path)}: is {describe_mode(mode)}, not a regular file")
        try:
            return fh.read()
        except OSError as exc:
            raise InputError(f"{os.fspath(path)}: cannot read {what}: {(exc.strerror or str(exc)).lower()}") from None


def load_json(path: str | os.PathLike, *, what: str = "file") -> Any:
    """Read ``path`` (regular file, UTF-8) and parse it with :func:`parse_json`."""
    raw = read_bytes(path, what=what)
    name = os.fspath(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (byte {exc.start}), not a kinkcheck {what}") from None
    if not text.strip():
        raise InputError(f"{name}: empty file, not a kinkcheck {what}")
    return parse_json(text, where=name)


class _Number(ValueError):
    pass


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _Number(f"a number out of range ({literal[:20]}{'...' if len(literal) > 20 else ''})")
    return value


def _constant(name: str) -> float:
    raise _Number(f"{name}, which is not JSON")


def parse_json(text: str, *, where: str) -> Any:
    """Parse JSON, refusing NaN/Infinity, out-of-range floats, integers too long for ``int()``
    and nesting deep enough to exhaust the parser's recursion (the schemas bound the rest)."""
    import json  # imported here: reading a config file (every run) needs no JSON

    try:
        return json.loads(text, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where} is not valid JSON (truncated or corrupt?) at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InputError(f"{where}: not a kinkcheck file: JSON nested too deeply") from None
    except _Number as exc:
        raise InputError(f"{where}: not a kinkcheck file: the JSON holds {exc}") from None
    except ValueError:  # int() refuses literals over sys.get_int_max_str_digits() digits
        limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)()
        raise InputError(f"{where}: not a kinkcheck file: the JSON holds an integer with more than {limit:,} digits") from None
