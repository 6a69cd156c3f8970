"""What every command shares, without click: printing (as ``click.echo`` prints), how errors
end a command, which file a command is working on, and when to use colour.

Nothing here imports click, so the one-file ``kinkcheck check`` (``kinkcheck/commands/fast.py``)
runs the same code as the click app without paying for click's import (half a cached run).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, NoReturn

#: the files commands are working on, innermost last (see :func:`processing`)
_PROCESSING: list[str] = []

#: an ANSI escape sequence, as click strips them from output that is not a terminal
_ANSI = r"\033\[[0-?]*[ -/]*[@-~]"


def echo(message: str = "", *, err: bool = False, nl: bool = True, color: bool | None = None) -> None:
    """``click.echo(message, err=err, nl=nl, color=color)`` for text, byte for byte: ANSI codes
    stripped unless ``color`` (or, with ``color=None``, unless the stream is a terminal), a
    stream that declares ASCII written as UTF-8 with replacements, flushed after each write.
    Where click would raise UnicodeEncodeError (a Latin-1 stdout and a ``✓`` in a code frame),
    what the stream cannot encode is escaped instead (:func:`encodable`)."""
    stream = sys.stderr if err else sys.stdout
    if stream is None:  # no standard stream attached (pythonw)
        return
    out = message + "\n" if nl else message
    if not out:
        stream.flush()
        return
    if "\x1b" in out and (not color if color is not None else not _isatty(stream)):
        import re

        out = re.sub(_ANSI, "", out)
    binary = _misconfigured_binary(stream)
    if binary is None:
        stream.write(encodable(out, stream))
        stream.flush()
        return
    stream.flush()  # what was written as text comes first
    encoding = getattr(stream, "encoding", None) or sys.getdefaultencoding()
    encoding = "utf-8" if _is_ascii(encoding) else encoding
    binary.write(out.replace("\n", os.linesep).encode(encoding, "replace"))
    binary.flush()


def encodable(text: str, stream: IO[Any]) -> str:
    """``text`` as ``stream`` can write it: what its encoding cannot represent (a ``✓`` in a
    code frame on a Latin-1 stdout, a file name's undecodable bytes) as ``\\uXXXX`` escapes
    rather than a UnicodeEncodeError after the whole run. The escapes are JSON's (a surrogate
    pair beyond the BMP), so the JSON and SARIF reports still parse to the same document."""
    encoding = getattr(stream, "encoding", None)
    if not encoding or text.isascii():
        return text
    try:
        text.encode(encoding, getattr(stream, "errors", None) or "strict")
        return text
    except UnicodeEncodeError:
        pass
    except LookupError:  # an encoding or handler this interpreter does not know: write as is
        return text
    import codecs

    codecs.register_error(_ESCAPE, _json_escape)
    return text.encode(encoding, _ESCAPE).decode(encoding, "replace")


#: the codec error handler of :func:`encodable`
_ESCAPE = "kinkcheck.json-escape"


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    out = []
    for ch in error.object[error.start:error.end]:
        n = ord(ch)
        if n > 0xFFFF:  # a surrogate pair, as JSON writes it
            n -= 0x10000
            out.append(f"\\u{0xD800 + (n >> 10):04x}\\u{0xDC00 + (n & 0x3FF):04x}")
        else:
            out.append(f"\\u{n:04x}")
    return "".join(out), error.end


def _isatty(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except Exception:  # noqa: BLE001 - click's rule: a stream that cannot tell is not a terminal
        return False


def _is_ascii(encoding: str) -> bool:
    import codecs

    try:
        return codecs.lookup(encoding).name == "ascii"
    except LookupError:
        return False


def _misconfigured_binary(stream: IO[Any]) -> IO[bytes] | None:
    """The binary buffer to write through when click would re-wrap ``stream`` (it declares
    ASCII, or no encoding or errors), else None (write the text stream itself)."""
    encoding, errors = getattr(stream, "encoding", None), getattr(stream, "errors", None)
    if encoding is not None and errors is not None and not _is_ascii(encoding):
        return None
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        return None
    try:
        buffer.write(b"")
    except Exception:  # noqa: BLE001 - not a binary writer: click writes the text stream then
        return None
    return buffer


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 2 (usage, configuration or unusable input)."""
    echo(f"kinkcheck: error: {printable(message)}", err=True)
    raise SystemExit(2)


def printable(text: str) -> str:
    """``text`` on one line: control characters (a newline in a file name) as escapes, so an
    error can never become two lines, the second one a CI workflow command."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@contextmanager
def processing(path: str | os.PathLike) -> Iterator[None]:
    """Mark ``path`` as the file being worked on: an internal error inside the block names it
    (``internal error while processing t.json: ...``) so a bug report says what input broke."""
    _PROCESSING.append(os.fspath(path))
    try:
        yield
    except Exception as exc:
        if getattr(exc, "kinkcheck_file", None) is None:
            try:
                setattr(exc, "kinkcheck_file", _PROCESSING[-1])  # read back by report_crash (file_of)
            except AttributeError:  # pragma: no cover - an exception type without a __dict__
                pass
        raise
    finally:
        _PROCESSING.pop()


def file_of(exc: BaseException) -> str | None:
    """The file a command was working on when ``exc`` was raised (see :func:`processing`),
    else the file an OSError names, else None."""
    where = getattr(exc, "kinkcheck_file", None) or (_PROCESSING[-1] if _PROCESSING else None)
    return where or getattr(exc, "filename", None)


def ensure_regular_target(path: str | os.PathLike, *, option: str = "-o") -> None:
    """Exit 2 with one line, before any work, when ``path`` must not be written.

    Writing to a FIFO blocks until some reader opens it, and the atomic rename would replace
    a FIFO or device node (``/dev/null``, a symlink to one) with a plain file. The rule is
    :func:`kinkcheck.atomic.ensure_regular_target`, which every write applies again; commands
    call this first so that a bad ``-o`` is refused before a long analysis, not after."""
    from kinkcheck.atomic import ensure_regular_target as check_target

    try:
        check_target(path)
    except OSError as exc:
        fail(f"{option} {os.fspath(path)}: {exc.strerror or exc}")


def use_color(stream, choice: str = "auto") -> bool:
    """Colour under ``--color choice`` (see :func:`kinkcheck.output.terminal.use_color`)."""
    from kinkcheck.output.terminal import use_color as resolve

    return resolve(stream, choice)


def split_codes(ctx, param, value):
    """``--select KC1,KC2 --select KC5`` -> ("KC1", "KC2", "KC5"); None when not given."""
    if not value:
        return None
    out: list[str] = []
    for item in value:
        out += [v for v in item.replace(" ", ",").split(",") if v]
    return tuple(out)


def emit(text: str, *, output_file: str | None, color: bool = False) -> None:
    """``text`` to stdout, or atomically to ``output_file`` (never coloured)."""
    if output_file is None:
        if text:
            echo(text, nl=not text.endswith("\n"), color=color)
        return
    from kinkcheck.atomic import write_atomic

    try:
        write_atomic(output_file, text, parents=False)
    except OSError as exc:
        fail(f"cannot write {output_file}: {exc.strerror or exc}")


# -- how a command ends when something goes wrong ---------------------------------------------


def debug_from_env() -> bool:
    """KINKCHECK_DEBUG set to anything but empty, 0, false, no or off (never a usage error)."""
    return os.environ.get("KINKCHECK_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")


def report_error(exc: Exception) -> int:
    """A :class:`kinkcheck.errors.KinkcheckError` as its one line; returns its exit code."""
    echo(f"kinkcheck: error: {printable(getattr(exc, 'message', str(exc)))}", err=True)
    return int(getattr(exc, "exit_code", 2))


def report_crash(exc: BaseException, *, command: str | None, debug: bool) -> None:
    """One line for an internal error (the traceback first with ``debug``); the caller exits 2.

    A dependency that is not installed is not a bug of ours: the line names it and how to
    install it (:func:`kinkcheck.errors.missing_dependency`)."""
    from kinkcheck.errors import missing_dependency

    where = file_of(exc)
    place = f"while processing {where}" if where else f"in kinkcheck {command or ''}".rstrip()
    if debug:
        import traceback  # only for a crash: a normal run never pays for it

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    missing = missing_dependency(exc)
    if missing is not None:
        who = f"kinkcheck {command}" if command else "kinkcheck"
        echo(f"kinkcheck: error: {printable(who)} needs {printable(missing)}", err=True)
        return
    detail = " ".join(str(exc).split())
    if len(detail) > 200:
        detail = detail[:197] + "..."
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    if debug:
        hint = "this is a bug in kinkcheck; please report it with the traceback above"
    else:
        hint = "run with --debug for the traceback"
    echo(f"kinkcheck: error: internal error {printable(place)}: {what} ({hint})", err=True)
