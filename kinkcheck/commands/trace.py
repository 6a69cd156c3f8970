"""``kinkcheck trace show FILE`` and ``kinkcheck merge A B ... -o OUT``.

A file that is missing, corrupt, truncated or from a newer kinkcheck exits 2 with one line.
"""

from __future__ import annotations

import io
import json
import sys

import click

from kinkcheck.commands._common import (
    color_option, emit, ensure_regular_target, fail, output_options, processing, selection_options, use_color,
)


@click.group("trace")
def trace():
    """Inspect trace files written by ``with kinkcheck.trace(output=...)``."""


@trace.command("show")
@click.argument("file", type=click.Path(path_type=str))
@output_options(["table", "json"], "table", help="table (rich; full width into a file or pipe) or json (the validated trace).")
@click.option("--json", "as_json", is_flag=True, help="Same as --output-format json.")
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show only the N busiest sites.")
@selection_options
@color_option
def show(file, output_format, output_file, as_json, top, select, ignore, extend_select, color):
    """Print a trace file as a table: per source line and rule, evaluations, exact and near hits."""
    from kinkcheck.trace.tracefile import TraceFileError, load

    if output_file is not None:
        ensure_regular_target(output_file)
    with processing(file):
        try:
            data = load(file)
        except TraceFileError as exc:
            fail(str(exc))
        data = _select(data, select, ignore, extend_select)
        if as_json or output_format == "json":
            emit(json.dumps(data, indent=1) + "\n", output_file=output_file)
            return
        from kinkcheck.output.terminal import print_rich
        from kinkcheck.trace.show import render

        table = render(data, top=top)
        if output_file is None:
            print_rich(table, color=use_color(sys.stdout, color))
            return
        buffer = io.StringIO()
        print_rich(table, file=buffer, color=False)
        emit(buffer.getvalue(), output_file=output_file)


def _select(data: dict, select, ignore, extend_select) -> dict:
    """Only the sites of the rules ``--select`` / ``--ignore`` / ``--extend-select`` keep
    (every traced rule when none is given)."""
    if not (select or ignore or extend_select):
        return data
    from kinkcheck.catalog import CatalogError, load

    catalog = load()
    try:
        keep = catalog.select(select) if select else set(catalog)
        keep = (keep | catalog.select(extend_select or ())) - catalog.select(ignore or ())
    except CatalogError as exc:
        fail(str(exc))
    return dict(data, sites=[s for s in data["sites"] if s.get("code") in keep])


@click.command("merge")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("-o", "--output-file", "--output", "output", required=True, type=click.Path(path_type=str),
              metavar="FILE", help="Where to write the merged trace.")
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
    click.echo(f"kinkcheck: merged {len(files)} trace files ({n:,} sites, ranks {merged['ranks']}) into {output}", err=True)
