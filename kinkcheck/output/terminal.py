"""Colour and width for what the commands print, the same way everywhere.

Colour (``--color auto|always|never``, as ruff): ``always`` and ``never`` are what they say;
``auto`` follows NO_COLOR (any non-empty value turns colour off) then FORCE_COLOR (any
non-empty value turns it on), else colour only on a terminal.

Width: on a terminal a table fits the terminal (cells wrap); into a file or a pipe there is
no width to fit, so a table is printed at its natural width: nothing is cut, whatever
``COLUMNS`` or the 80-column default says.
"""

from __future__ import annotations

import os
from typing import IO, Any

COLOR_CHOICES = ("auto", "always", "never")

#: a table into a file or pipe is never wider than this (a runaway cell wraps instead)
MAX_FILE_WIDTH = 1000


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def use_color(stream: Any, choice: str = "auto") -> bool:
    """Whether to colour what goes to ``stream`` under ``--color choice``."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return is_terminal(stream)


def print_rich(renderable: Any, *, file: IO[str] | None = None, color: bool | None = None) -> None:
    """Print a rich renderable (a table) to ``file`` (stdout): fitted to a terminal, at its
    natural width into a file or pipe, coloured by :func:`use_color` unless ``color`` says."""
    import sys

    from rich.console import Console

    file = file if file is not None else sys.stdout
    color = use_color(file) if color is None else color
    # without colour rich must not think it writes to a terminal (it would still print bold and
    # italics), so a terminal's width is measured first and passed on
    width = Console(file=file).width if is_terminal(file) else natural_width(renderable)
    console = Console(file=file, force_terminal=color, no_color=not color, highlight=False, width=width,
                      soft_wrap=False)
    console.print(renderable)


def natural_width(renderable: Any) -> int:
    """The width at which ``renderable`` needs no wrapping or cutting (at least 80)."""
    from rich.console import Console

    probe = Console(width=MAX_FILE_WIDTH, file=open(os.devnull, "w"))  # noqa: SIM115 - closed below
    try:
        widest = probe.measure(renderable).maximum
    finally:
        probe.file.close()
    return max(80, min(MAX_FILE_WIDTH, widest))
