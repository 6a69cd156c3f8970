"""``kinkcheck check PATH...``: report every undocumented kink in loss code.

Exit codes: 0 clean (documented kinks are fine), 1 undocumented kinks (parse errors and bad
kink comments included), 2 usage or internal error.

This module is the click command: its options, read into :func:`run_check`
(``check_run.py``, click-free). ``fast.py`` reads the common invocations itself and calls the
same function, so both give the same output; ``CHECK_OPTIONS`` there must list these options.
"""

from __future__ import annotations

import click

from kinkcheck.commands._common import (
    analyzer_options, color_option, output_options, selection_options, workflow_options,
)
from kinkcheck.commands.check_run import MACHINE_FORMATS, run_check, summary
from kinkcheck.output import FORMATS

__all__ = ["MACHINE_FORMATS", "check", "summary"]


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@output_options(sorted(FORMATS), "full", help="How to print findings.")
@click.option("--show-documented", is_flag=True, help="Also show kinks documented with `# kink:` or `# noqa`.")
@click.option("--statistics", is_flag=True, help="Print a count per rule instead of each finding.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when undocumented kinks remain.")
@selection_options
@analyzer_options
@click.option("--force-exclude", is_flag=True, help="Apply exclude patterns to paths given on the command line too.")
@click.option("--stdin-filename", default=None, metavar="PATH",
              help="The name of the source read from standard input ('-'; implied when no PATHS are given): "
                   "used in messages and for the config and per-file-ignores.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores).")
@click.option("-q", "--quiet", is_flag=True, help="Print findings only: no summary, no progress bar.")
@color_option
@click.option("--fix", is_flag=True, help="Apply the safe fixes (rewrites that keep the value everywhere), then "
              "report what is left.")
@click.option("--unsafe-fixes", is_flag=True, help="With --fix or --preview-fixes: also the unsafe fixes (smooth "
              "surrogates that change the values within a stated error).")
@click.option("--preview-fixes", is_flag=True, help="Print the unified diff --fix would apply and write nothing.")
@click.option("--add-kink-comments", is_flag=True, help="Write `# kink[CODE]:` at every undocumented site, for you "
              "to complete with the reason (until then the run keeps failing there: KC003).")
@workflow_options
@click.pass_context
def check(ctx, **params):
    """Check PATHS (files or directories; default: .; '-' reads standard input) for undocumented kinks."""
    ctx.exit(run_check(**params))
