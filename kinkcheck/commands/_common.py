"""The click options every command spells the same way; the click-free helpers they share
(printing, errors, the file being processed, colour) live in ``_plain.py`` and are
re-exported here."""

from __future__ import annotations

import click

from kinkcheck.commands._plain import (
    echo, emit, ensure_regular_target, fail, file_of, printable, processing, split_codes, use_color,
)

__all__ = [  # the click-free helpers, re-exported for the commands
    "echo", "emit", "ensure_regular_target", "fail", "file_of", "printable", "processing", "split_codes", "use_color",
    "analyzer_options", "baseline_option", "color_option", "output_options", "selection_options", "workflow_options",
]


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
