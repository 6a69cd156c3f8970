"""``kinkcheck trace show FILE`` and ``kinkcheck merge A B ... -o OUT``.

A file that is missing, corrupt, truncated or from a newer kinkcheck exits 2 with one line.
"""

from __future__ import annotations

import json

import click

from kinkcheck.commands._common import ensure_regular_target, fail, processing


@click.group("trace")
def trace():
    """Inspect trace files written by ``with kinkcheck.trace(output=...)``."""


@trace.command("show")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--top", type=int, default=None, help="Show only the N busiest sites.")
@click.option("--json", "as_json", is_flag=True, help="Print the validated trace as JSON instead of a table.")
def show(file, top, as_json):
    """Print a trace file as a table: per source line and rule, evaluations, exact and near hits."""
    from kinkcheck.trace.tracefile import TraceFileError, load

    with processing(file):
        try:
            data = load(file)
        except TraceFileError as exc:
            fail(str(exc))
        if as_json:
            click.echo(json.dumps(data, indent=1))
            return
        from rich.console import Console

        from kinkcheck.trace.show import render

        Console().print(render(data, top=top))


@click.command("merge")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=str), help="Where to write the merged trace.")
def merge(files, output):
    """Merge trace files (per-rank files of one distributed run, or several runs) into one."""
    from kinkcheck.trace.tracefile import TraceFileError, dump, load
    from kinkcheck.trace.tracefile import merge as merge_traces

    ensure_regular_target(output)
    loaded = []
    for f in files:
        with processing(f):
            try:
                loaded.append(load(f))
            except TraceFileError as exc:
                fail(str(exc))
    with processing(" + ".join(files)):
        try:
            merged = merge_traces(loaded)
            dump(merged, output)
        except TraceFileError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
    n = len(merged["sites"])
    click.echo(f"merged {len(files)} trace files ({n} sites, ranks {merged['ranks']}) into {output}", err=True)
