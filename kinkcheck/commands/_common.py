"""What every subcommand shares: how errors end a command, which file a command is working
on (named by an internal error's one line), and when to use colour."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

#: the files commands are working on, innermost last (see :func:`processing`)
_PROCESSING: list[str] = []


def analyzer_options(command):
    """What the static pass is told, the same for ``check`` and ``report``."""
    options = [
        click.option("--scope", type=click.Choice(["loss", "model", "all"]), default=None,
                     help="What counts as loss code: loss (default), model (adds every module's forward), all."),
        click.option("--all", "all_scope", is_flag=True, help="Check every function (same as --scope all)."),
        click.option("--no-cache", is_flag=True, help="Ignore and do not write .kinkcheck_cache/."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=str), default=None,
                     help="Use this pyproject.toml (or kinkcheck.toml) instead of searching for one."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 2 (usage, configuration or unusable input)."""
    click.echo(f"kinkcheck: error: {printable(message)}", err=True)
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
                exc.kinkcheck_file = _PROCESSING[-1]
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


def use_color(stream) -> bool:
    """Colour on a terminal; NO_COLOR turns it off and FORCE_COLOR on (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
