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

import click

from kinkcheck.atomic import write_atomic
from kinkcheck.commands._common import analyzer_options, ensure_regular_target, fail, processing, use_color
from kinkcheck.report import FORMATS


@click.command("report")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--trace", "traces", multiple=True, type=click.Path(path_type=str), metavar="FILE",
              help="A trace file written by `kinkcheck.trace()` (repeatable; counts add up).")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="terminal", show_default=True,
              help="terminal (rich), markdown (GitHub, fits a step summary), html (one self-contained file), json.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the report here instead of standard output.")
@click.option("--show-documented/--hide-documented", default=True, show_default=True,
              help="List kinks documented with `# kink:` or `# noqa` (they always count in the summary).")
@analyzer_options
@click.pass_context
def report(ctx, paths, traces, fmt, output, show_documented, scope, all_scope, no_cache, config_file):
    """Report every kink in PATHS (default: .), joined with the runtime counts of --trace files."""
    from kinkcheck.config import ConfigError, load_config

    paths = list(paths) or ["."]
    if all_scope:
        if scope not in (None, "all"):
            fail(f"--all conflicts with --scope {scope}")
        scope = "all"
    if output is not None:
        ensure_regular_target(output)
    problems: list[str] = []

    loaded, trace_names = [], []
    for path in traces:
        with processing(path):
            data, error = load_trace(path)
        if error:
            problems.append(error)
        else:
            loaded.append(data)
            trace_names.append(path)

    try:
        config = load_config(paths[0], {"scope": scope}, config_file=config_file)
        from kinkcheck.lint.api import check_paths

        result = check_paths(paths, config, use_cache=not no_cache)
    except ConfigError as exc:
        fail(str(exc))
    problems += result.errors
    from kinkcheck.output.safe import one_line  # a path with a newline must not start a CI command

    for message in result.warnings:
        click.echo(f"kinkcheck: warning: {one_line(message)}", err=True)
    for message in problems:
        click.echo(f"kinkcheck: error: {one_line(message)}", err=True)

    from kinkcheck.report import model, render

    built = model.build(
        result.findings, loaded or None, root=os.getcwd(), show_documented=show_documented,
        files_checked=len(result.files), problems=problems, trace_paths=trace_names,
        roots=[*paths, str(config.root)],  # source is shown only from these
    )
    to_terminal = output is None and fmt == "terminal"
    options = {}
    if fmt == "terminal":
        options = {"color": to_terminal and use_color(sys.stdout), "width": _width() if to_terminal else 100}
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


def load_trace(path: str) -> tuple[dict | None, str | None]:
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
