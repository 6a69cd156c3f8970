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
                setattr(exc, "kinkcheck_file", _PROCESSING[-1])  # read back by cli.crash (file_of)
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


# -- the options every command spells the same way ------------------------------------------


def split_codes(ctx, param, value):
    """``--select KC1,KC2 --select KC5`` -> ("KC1", "KC2", "KC5"); None when not given."""
    if not value:
        return None
    out: list[str] = []
    for item in value:
        out += [v for v in item.replace(" ", ",").split(",") if v]
    return tuple(out)


def output_options(formats, default: str, *, help: str):
    """``--output-format`` (alias ``--format``) and ``-o/--output-file`` (alias ``--output``)."""
    def decorate(command):
        command = click.option("-o", "--output-file", "--output", "output_file", default=None,
                               type=click.Path(dir_okay=False, path_type=str), metavar="FILE",
                               help="Write to FILE instead of standard output (replaced atomically).")(command)
        return click.option("--output-format", "--format", "output_format", type=click.Choice(list(formats)),
                            default=default, show_default=True, help=help)(command)
    return decorate


def color_option(command):
    """``--color auto|always|never``; auto follows NO_COLOR / FORCE_COLOR, then the terminal."""
    from kinkcheck.output.terminal import COLOR_CHOICES

    return click.option("--color", "color", type=click.Choice(COLOR_CHOICES), default="auto", show_default=True,
                        help="Colour: auto (a terminal, unless NO_COLOR; FORCE_COLOR forces it), always, never.")(command)


def selection_options(command):
    """``--select``, ``--ignore`` and ``--extend-select``: which rules' findings are shown."""
    options = [
        click.option("--select", multiple=True, callback=split_codes, metavar="CODES",
                     help="Rules to show (codes, prefixes like KC2, names or ALL); replaces the configured set."),
        click.option("--ignore", multiple=True, callback=split_codes, metavar="CODES",
                     help="Rules to skip (added to the configured ignores)."),
        click.option("--extend-select", multiple=True, callback=split_codes, metavar="CODES",
                     help="Rules to show in addition to the selected ones."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def baseline_option(command):
    """``--baseline FILE``: hide findings recorded by ``check --write-baseline``."""
    return click.option("--baseline", "baseline", metavar="FILE", type=click.Path(dir_okay=False, path_type=str),
                        default=None, help="Hide findings recorded in FILE (by --write-baseline); report stale entries.")(command)


def workflow_options(command):
    """``--baseline``, ``--write-baseline FILE`` and ``--diff REV`` (``check``)."""
    command = click.option(
        "--diff", "diff", metavar="REV", default=None,
        help="Report only findings on lines changed since git revision REV (working tree "
        "and untracked files included); '-' reads a unified diff from stdin.",
    )(command)
    command = click.option(
        "--write-baseline", "write_baseline", metavar="FILE", type=click.Path(dir_okay=False, path_type=str),
        default=None, help="Record the current undocumented findings in FILE and exit 0; "
        "later runs with --baseline FILE report only new ones.",
    )(command)
    return baseline_option(command)


def emit(text: str, *, output_file: str | None, color: bool = False) -> None:
    """``text`` to stdout, or atomically to ``output_file`` (never coloured)."""
    if output_file is None:
        if text:
            click.echo(text, nl=not text.endswith("\n"), color=color)
        return
    from kinkcheck.atomic import write_atomic

    try:
        write_atomic(output_file, text, parents=False)
    except OSError as exc:
        fail(f"cannot write {output_file}: {exc.strerror or exc}")
