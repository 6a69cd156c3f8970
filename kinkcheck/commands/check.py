"""``kinkcheck check PATH...``: report every undocumented kink in loss code.

Exit codes: 0 clean (documented kinks are fine), 1 undocumented kinks (parse errors and bad
kink comments included), 2 usage or internal error.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Mapping

import click

from kinkcheck.commands._common import analyzer_options, fail, use_color
from kinkcheck.output import FORMATS
from kinkcheck.workflow.options import workflow_options

#: formats meant for programs: no summary line on stdout
MACHINE_FORMATS = {"json", "json-lines", "sarif", "gitlab", "junit", "markdown"}


def _codes(ctx, param, value):
    if not value:
        return None
    out: list[str] = []
    for item in value:
        out += [v for v in item.replace(" ", ",").split(",") if v]
    return tuple(out)


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--output-format", "output_format", type=click.Choice(sorted(FORMATS)), default="full",
              show_default=True, help="How to print findings.")
@click.option("--show-documented", is_flag=True, help="Also show kinks documented with `# kink:` or `# noqa`.")
@click.option("--statistics", is_flag=True, help="Print a count per rule instead of each finding.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when undocumented kinks remain.")
@click.option("--select", multiple=True, callback=_codes, metavar="CODES",
              help="Rules to check (codes, prefixes like KC2, names or ALL); replaces the configured set.")
@click.option("--ignore", multiple=True, callback=_codes, metavar="CODES", help="Rules to skip (added to the configured ignores).")
@click.option("--extend-select", multiple=True, callback=_codes, metavar="CODES",
              help="Rules to check in addition to the selected ones.")
@analyzer_options
@click.option("--force-exclude", is_flag=True, help="Apply exclude patterns to paths given on the command line too.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores).")
@click.option("-q", "--quiet", is_flag=True, help="Print findings only: no summary, no progress bar.")
@workflow_options
@click.pass_context
def check(ctx, paths, output_format, show_documented, statistics, exit_zero, select, ignore, extend_select,
          scope, all_scope, no_cache, config_file, force_exclude, jobs, quiet, baseline, write_baseline, diff):
    """Check PATHS (files or directories; default: .) for undocumented kinks."""
    from kinkcheck.config import ConfigError, load_config

    paths = list(paths) or ["."]
    if all_scope:
        if scope not in (None, "all"):
            fail(f"--all conflicts with --scope {scope}")
        scope = "all"
    overrides = {"select": select, "ignore": ignore, "extend_select": extend_select, "scope": scope}
    try:
        config = load_config(paths[0], overrides, config_file=config_file)
    except ConfigError as exc:
        fail(str(exc))

    from kinkcheck.lint.api import check_paths

    progress = not quiet and sys.stderr.isatty() and output_format not in MACHINE_FORMATS
    try:
        result = check_paths(paths, config, use_cache=not no_cache, jobs=jobs, progress=progress,
                             force_exclude=force_exclude)
    except ConfigError as exc:
        fail(str(exc))

    from kinkcheck.workflow.options import apply_workflow
    result.findings, notes = apply_workflow(result.findings, root=os.getcwd(), baseline=baseline,
                                            write_baseline=write_baseline, diff=diff, paths=paths,
                                            errors=result.errors)
    from kinkcheck.output.safe import one_line  # a path with a newline must not start a CI command

    for message in notes:
        click.echo(f"kinkcheck: {one_line(message)}", err=True)
    for message in result.warnings:
        click.echo(f"kinkcheck: warning: {one_line(message)}", err=True)
    for message in result.errors:
        click.echo(f"kinkcheck: error: {one_line(message)}", err=True)
    if not result.files and not result.errors:
        click.echo("kinkcheck: warning: no Python files to check in " + ", ".join(paths or (".",)), err=True)
    if result.errors and not result.files:
        ctx.exit(2)  # nothing was checked: a summary or an empty report would only mislead

    color = use_color(sys.stdout)
    machine = output_format in MACHINE_FORMATS
    from kinkcheck.config import _catalog

    catalog = _LazyCatalog(_catalog)
    if statistics:
        click.echo(_statistics(result.findings, show_documented), nl=False, color=color)
    else:
        from kinkcheck.output import render

        text = render(output_format, result.findings, catalog=catalog, root=os.getcwd(),
                      show_documented=show_documented, color=color, config=config, roots=paths)
        if text:
            click.echo(text, nl=not text.endswith("\n"), color=color)
    if not quiet and not machine:
        click.echo(summary(result.undocumented, result.documented))

    code = result.exit_code
    if exit_zero and code == 1:
        code = 0
    ctx.exit(code)


class _LazyCatalog(Mapping):
    """The catalog, parsed on first use: help lines need it only for findings without a
    computed replacement, so a cached pre-commit run usually never parses the TOML files."""

    def __init__(self, load):
        self._load = load
        self._catalog = None

    def _get(self):
        if self._catalog is None:
            self._catalog = self._load()
        return self._catalog

    def __getitem__(self, code):
        return self._get()[code]

    def __iter__(self):
        return iter(self._get())

    def __len__(self):
        return len(self._get())

    def __getattr__(self, name):
        return getattr(self._get(), name)


def summary(undocumented: int, documented: int) -> str:
    noun = "kink" if undocumented == 1 else "kinks"
    return f"Found {undocumented} undocumented {noun} ({documented} documented)."


def _statistics(findings, show_documented: bool) -> str:
    """One row per rule: count, code, name (documented counts alongside)."""
    undocumented = Counter(f.code for f in findings if not f.documented)
    documented = Counter(f.code for f in findings if f.documented)
    names = {f.code: f.name for f in findings}
    codes = sorted(set(undocumented) | (set(documented) if show_documented else set()),
                   key=lambda c: (-undocumented[c], c))
    if not codes:
        return ""
    width = max(len(str(undocumented[c])) for c in codes)
    rows = []
    for c in codes:
        row = f"{undocumented[c]:>{width}}\t{c}\t{names[c]}"
        if documented[c]:
            row += f"\t({documented[c]} documented)"
        rows.append(row)
    return "\n".join(rows) + "\n"
