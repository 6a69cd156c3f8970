"""The ``kinkcheck`` command. Subcommands live in ``kinkcheck/commands/`` and are imported
only when invoked, so ``kinkcheck check one_file.py`` never pays for the tracer or report."""

from __future__ import annotations

import importlib

import click

from kinkcheck import __version__

#: command name -> "module:attribute" under kinkcheck.commands
COMMANDS: dict[str, str] = {
    "check": "check:check",
    "rules": "rules:rules",
    "rule": "rules:rule",
    "trace": "trace:trace",
    "merge": "trace:merge",
    "report": "report:report",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(f"kinkcheck.commands.{module}"), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="kinkcheck")
def cli():
    """Find and document the points where ML and numerical code is not differentiable."""


def main(argv=None, prog_name: str = "kinkcheck"):
    """Entry point. Exit codes: 0 clean, 1 undocumented kinks, 2 usage or internal error."""
    try:
        cli.main(args=argv, prog_name=prog_name, standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        click.echo("kinkcheck: interrupted", err=True)
        raise SystemExit(2)
