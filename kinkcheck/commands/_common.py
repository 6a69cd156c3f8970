"""What every subcommand shares: how errors end a command and when to use colour."""

from __future__ import annotations

import os
from typing import NoReturn

import click


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
    click.echo(f"kinkcheck: error: {message}", err=True)
    raise SystemExit(2)


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
