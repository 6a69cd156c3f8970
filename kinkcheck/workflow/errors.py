"""The one error type of the workflow options."""

from __future__ import annotations

import click


class WorkflowError(click.ClickException):
    """Bad workflow input (an unreadable baseline, a git revision that does not exist).

    A ClickException so that the check command prints one line and exits 2, never a traceback.
    """

    exit_code = 2

    def format_message(self) -> str:
        return self.message

    def show(self, file=None) -> None:
        from kinkcheck.commands._common import printable

        click.echo(f"kinkcheck: error: {printable(self.format_message())}", err=True)
