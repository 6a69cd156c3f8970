"""What every subcommand shares: how errors end a command and when to use colour."""

from __future__ import annotations

import os
from typing import NoReturn

import click


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
