"""``kinkcheck report PATH... [--trace FILE ...]``: one document of every kink, static and
runtime joined, in the terminal, as Markdown, as self-contained HTML or as JSON.

Exit codes: 0 when the report was written (undocumented kinks do not fail it: gate on
``kinkcheck check``), 2 when an input could not be used (a missing or corrupt trace file,
a path that does not exist, a bad configuration). On exit 2 the report is still written,
saying what it could not use, unless nothing at all could be read.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from typing import Any

import click

from kinkcheck.atomic import write_atomic
from kinkcheck.commands._common import (
    analyzer_options, baseline_option, color_option, ensure_regular_target, fail, output_options, processing,
    selection_options, use_color,
)
from kinkcheck.report import FORMATS


@click.command("report")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--trace", "traces", multiple=True, type=click.Path(path_type=str), metavar="FILE",
              help="A trace file written by `kinkcheck.trace()` (repeatable; counts add up).")
@output_options(list(FORMATS), "terminal",
                help="terminal (rich), markdown (GitHub, fits a step summary), html (one self-contained file), json.")
@click.option("--show-documented/--hide-documented", default=True, show_default=True,
              help="List kinks documented with `# kink:` or `# noqa` (they always count in the summary).")
@selection_options
@baseline_option
@analyzer_options
@color_option
@click.pass_context
def report(ctx, paths, traces, output_format, output_file, show_documented, select, ignore, extend_select, baseline,
           scope, all_scope, no_cache, config_file, color):
    """Report every kink in PATHS (default: .), joined with the runtime counts of --trace files."""
    from kinkcheck.config import load_config

    fmt, output = output_format, output_file
    paths = list(paths) or ["."]
    if all_scope:
        if scope not in (None, "all"):
            fail(f"--all conflicts with --scope {scope}")
        scope = "all"
    if output is not None:
        ensure_regular_target(output)
    overrides = {"scope": scope, "select": select, "ignore": ignore, "extend_select": extend_select}
    config = load_config(paths[0], overrides, config_file=config_file)
    problems: list[str] = []

    loaded, trace_names = [], []
    for path in traces:
        with processing(path):
            data, error = load_trace(path)
        if error:
            problems.append(error)
        else:
            loaded.append(_selected_sites(data, config))
            trace_names.append(path)

    from kinkcheck.lint.api import check_paths

    result = check_paths(paths, config, use_cache=not no_cache)
    problems += result.errors
    findings = result.findings
    notes: list[str] = []
    if baseline is not None:  # hide what the baseline records, as `check --baseline` does
        from kinkcheck.workflow.options import apply_workflow

        findings, notes = apply_workflow(findings, root=os.getcwd(), baseline=baseline, paths=paths)
    from kinkcheck.output.safe import one_line  # a path with a newline must not start a CI command

    for message in notes:
        click.echo(f"kinkcheck: note: {one_line(message)}", err=True)
    for message in result.warnings:
        click.echo(f"kinkcheck: warning: {one_line(message)}", err=True)
    for message in problems:
        click.echo(f"kinkcheck: error: {one_line(message)}", err=True)

    from kinkcheck.report import join, render

    built = join.build(
        findings, loaded or None, root=os.getcwd(), show_documented=show_documented,
        files_checked=len(result.files), problems=problems, trace_paths=trace_names,
        roots=[*paths, str(config.root)],  # source is shown only from these
    )
    to_terminal = output is None and fmt == "terminal"
    options = {}
    if fmt == "terminal":
        options = {"color": to_terminal and use_color(sys.stdout, color), "width": _width() if to_terminal else 100}
    text = render(built, fmt, **options)
    if output is None:
        click.echo(text, nl=not text.endswith("\n"), color=options.get("color"))
    else:
        try:
            write_atomic(output, text, parents=False)
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
        click.echo(f"kinkcheck: wrote {output}: {built.headline()}", err=True)
    ctx.exit(2 if problems else 0)


def _selected_sites(data: dict, config) -> dict:
    """The trace with only the sites of rules ``--select`` / ``--ignore`` / the config keep,
    so a runtime-only site of an ignored rule is not listed either."""
    if not (config.select is not None or config.ignore or config.extend_select):
        return data
    enabled = config.enabled_codes()
    return dict(data, sites=[s for s in data.get("sites", ()) if s.get("code") in enabled])


def load_trace(path: str) -> tuple[Mapping[str, Any] | None, str | None]:
    """(trace, None) or (None, one line saying why the file cannot be used)."""
    from kinkcheck.trace.tracefile import TraceFileError, load

    if os.path.isdir(path):
        return None, f"{path}: is a directory, not a trace file"
    try:
        return load(path), None
    except TraceFileError as exc:
        return None, str(exc)


def _width() -> int:
    return max(60, min(140, shutil.get_terminal_size((100, 24)).columns))
