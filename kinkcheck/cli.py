"""The ``kinkcheck`` command. Subcommands live in ``kinkcheck/commands/`` and are imported
only when invoked, so ``kinkcheck check one_file.py`` never pays for the tracer or report.

Exit codes: 0 clean, 1 undocumented kinks, 2 usage error, unusable input or internal error.
Every :class:`kinkcheck.errors.KinkcheckError` (configuration, baseline, --diff, an input
file) ends a command here as one line, ``kinkcheck: error: ...``, and exit 2.
A bug of ours is never read as "kinks found": any unexpected exception ends the command with
one line naming the file being processed, and exit 2; ``--debug`` (or ``KINKCHECK_DEBUG=1``)
prints the traceback too.
"""

from __future__ import annotations

import importlib

import click

from kinkcheck import __version__
from kinkcheck.commands._plain import debug_from_env, printable, report_crash, report_error

#: command name -> "module:attribute" under kinkcheck.commands
COMMANDS: dict[str, str] = {
    "check": "check:check",
    "rules": "rules:rules",
    "rule": "rules:rule",
    "trace": "trace:trace",
    "merge": "trace:merge",
    "report": "report:report",
    "config": "config:config",
}

#: how click itself ends a command (usage errors, ctx.exit, ^C) and a closed pipe (click
#: handles EPIPE): these are not crashes
_NOT_CRASHES = (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, BrokenPipeError)


class OneLineUsageError(click.UsageError):
    """A usage error (an unknown option, a bad value) as every other exit 2: one line,
    ``kinkcheck: error: ...``, naming the help to read."""

    def show(self, file=None) -> None:
        hint = f" (see `{self.ctx.command_path} --help`)" if self.ctx is not None else ""
        click.echo(f"kinkcheck: error: {printable(' '.join(self.format_message().split()))}{hint}", err=True)


#: a group called without a subcommand shows its help: that is not an error to shorten
_SHOWS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _one_line(exc: click.UsageError) -> click.UsageError:
    if isinstance(exc, OneLineUsageError) or (_SHOWS_HELP and isinstance(exc, _SHOWS_HELP)):
        return exc
    return OneLineUsageError(exc.format_message(), ctx=exc.ctx)


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(f"kinkcheck.commands.{module}"), attr)

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx):
        from kinkcheck.errors import KinkcheckError

        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's options: one line like every exit 2
            raise _one_line(exc) from None
        except _NOT_CRASHES:
            raise
        except KinkcheckError as exc:  # bad input, configuration or usage: one line, exit 2
            raise click.exceptions.Exit(report_error(exc)) from None
        except Exception as exc:  # noqa: BLE001 - the one place a bug of ours becomes exit 2
            crash(exc, command=ctx.invoked_subcommand, debug=bool(ctx.params.get("debug")) or debug_from_env())
        except KeyboardInterrupt:  # ^C is not "kinks found" (click's own answer: "Aborted!", exit 1)
            click.echo(err=True)  # closes the terminal's ^C echo
            click.echo("kinkcheck: error: interrupted", err=True)
            raise click.exceptions.Exit(2) from None


def crash(exc: BaseException, *, command: str | None, debug: bool) -> None:
    """Print one line for an internal error (the traceback first with ``debug``), exit 2."""
    report_crash(exc, command=command, debug=debug)
    raise click.exceptions.Exit(2)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Print the traceback of an internal error (also KINKCHECK_DEBUG=1).")
@click.version_option(__version__, "--version", prog_name="kinkcheck")
def cli(debug):
    """Find and document the points where ML and numerical code is not differentiable."""


def main(argv=None, prog_name: str = "kinkcheck"):
    """The click app. Exit codes: 0 clean, 1 undocumented kinks, 2 usage or internal error.

    The console script is :func:`kinkcheck.__main__.main`: the one-file ``check`` without
    click, everything else here."""
    try:
        cli.main(args=argv, prog_name=prog_name, standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        click.echo("kinkcheck: error: interrupted", err=True)
        raise SystemExit(2)
