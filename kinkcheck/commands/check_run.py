"""The run of ``kinkcheck check``, without click: what the click command (``check.py``) and
the one-file fast path (``fast.py``) both call with the parsed options, so they print the
same thing and exit the same way."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from kinkcheck.commands._plain import echo, emit, ensure_regular_target, fail, use_color

#: formats meant for programs: no summary line on stdout
MACHINE_FORMATS = {"json", "json-lines", "sarif", "gitlab", "junit", "markdown"}


def run_check(*, paths, output_format, output_file, show_documented, statistics, exit_zero, select, ignore,
              extend_select, scope, all_scope, no_cache, config_file, force_exclude, stdin_filename, jobs, quiet,
              color, fix, unsafe_fixes, preview_fixes, add_kink_comments, baseline, write_baseline, diff) -> int:
    """Check ``paths`` as ``kinkcheck check`` does; returns the exit code (a usage error
    exits 2 itself, with one line)."""
    from kinkcheck.config import load_config

    paths = list(paths) or ["."]
    from_stdin = "-" in paths
    if from_stdin and len(paths) > 1:
        fail("'-' (standard input) cannot be combined with other paths")
    if stdin_filename is not None and not from_stdin:
        paths = ["-"] if paths == ["."] else paths
        from_stdin = paths == ["-"]
        if not from_stdin:
            fail("--stdin-filename names standard input: give '-' as the only path")
    if from_stdin and diff == "-":
        fail("--diff - and '-' both read standard input; give the diff as a revision")
    if from_stdin and (fix or preview_fixes):
        fail("--fix and --preview-fixes rewrite files: give paths, not '-'")
    if (fix or preview_fixes) and (diff == "-" or write_baseline is not None):
        fail("--fix and --preview-fixes take --diff REV, not '--diff -', and not --write-baseline")
    if fix and preview_fixes:
        fail("--fix writes the fixes, --preview-fixes only shows them: give one")
    if add_kink_comments and (fix or preview_fixes or from_stdin or write_baseline is not None):
        fail("--add-kink-comments rewrites files on its own: not with --fix, --preview-fixes, "
             "--write-baseline or '-'")
    if all_scope:
        if scope not in (None, "all"):
            fail(f"--all conflicts with --scope {scope}")
        scope = "all"
    if output_file is not None:
        ensure_regular_target(output_file)
    overrides = {"select": select, "ignore": ignore, "extend_select": extend_select, "scope": scope}
    config = load_config((stdin_filename or ".") if from_stdin else paths[0], overrides, config_file=config_file)

    progress = not quiet and output_file is None and sys.stderr.isatty() and output_format not in MACHINE_FORMATS
    given: dict[str, str] = {}  # source read from standard input, for the code frames
    if from_stdin:
        result = _check_stdin(stdin_filename, config, force_exclude=force_exclude, given=given)
    else:
        from kinkcheck.lint.api import check_paths

        result = check_paths(paths, config, use_cache=not no_cache, jobs=jobs, progress=progress,
                             force_exclude=force_exclude)

    undocumented_before = result.undocumented
    notes: list[str] = []
    if baseline is None and write_baseline is None and diff is None:
        shown = list(result.findings)  # as apply_workflow answers, without importing it
    else:
        from kinkcheck.workflow.options import apply_workflow

        shown, notes = apply_workflow(result.findings, root=os.getcwd(), baseline=baseline,
                                      write_baseline=write_baseline, diff=diff, paths=paths, errors=result.errors)
    fixes = None
    if fix or preview_fixes:  # what the run reports (after --baseline / --diff) is what gets fixed
        from kinkcheck.remedy.apply import fix_findings

        fixes = fix_findings(shown, unsafe=unsafe_fixes, write=fix)
        for message in fixes.messages:
            echo(f"kinkcheck: note: {message}", err=True)
        if preview_fixes:
            emit("".join(fixes.diffs), output_file=output_file)
            echo(_fix_summary(fixes, preview=True), err=True)
            return 1 if fixes.fixed else 0
        if fixes.fixed:  # re-checked: what is reported is what is left
            from kinkcheck.workflow.options import apply_workflow

            result = check_paths(paths, config, use_cache=not no_cache, jobs=jobs, progress=progress,
                                 force_exclude=force_exclude)
            shown, notes = apply_workflow(result.findings, root=os.getcwd(), baseline=baseline,
                                          write_baseline=None, diff=diff, paths=paths, errors=result.errors)
    recorded = undocumented_before if write_baseline is not None and not result.errors else None
    for message in notes:
        echo(f"kinkcheck: note: {one_line(message)}", err=True)
    if add_kink_comments:
        from kinkcheck.remedy.document import document_findings

        written = document_findings(shown)
        for message in written.messages:
            echo(f"kinkcheck: note: {one_line(message)}", err=True)
        n, files = written.comments, len(written.files)
        echo(f"Added {n:,} kink {'comment' if n == 1 else 'comments'} in {files:,} "
                   f"{'file' if files == 1 else 'files'}; each needs its reason after the colon "
                   "(reported as KC003 until then).", err=True)
        return 2 if result.errors else 0
    for message in result.warnings:
        echo(f"kinkcheck: warning: {one_line(message)}", err=True)
    for message in result.errors:
        echo(f"kinkcheck: error: {one_line(message)}", err=True)
    if not result.files and not result.errors:
        echo("kinkcheck: warning: no Python files to check in " + ", ".join(paths or (".",)), err=True)
    if result.errors and not result.files:
        return 2  # nothing was checked: a summary or an empty report would only mislead

    colored = output_file is None and use_color(sys.stdout, color)
    machine = output_format in MACHINE_FORMATS
    from kinkcheck.config import _catalog

    catalog = _LazyCatalog(_catalog)
    if statistics:
        text = _statistics(shown, show_documented)
    else:
        from kinkcheck.output import render

        text = render(output_format, shown, catalog=catalog, root=os.getcwd(),
                      show_documented=show_documented, color=colored, config=config, roots=paths, given=given)
    if not quiet and not machine:
        kinks = [f for f in shown if f.code not in META_CODES]
        line = summary(sum(1 for f in kinks if not f.documented), sum(1 for f in kinks if f.documented),
                       files=len(result.files), functions=getattr(result, "functions", None), scope=config.scope,
                       recorded=recorded, baseline=write_baseline,
                       unparsed=sum(1 for f in shown if f.code == "KC001" and not f.documented),
                       comments=sum(1 for f in shown if f.code in ("KC002", "KC003") and not f.documented))
        text = (text + ("" if not text or text.endswith("\n") else "\n")) + line + "\n"
    emit(text, output_file=output_file, color=colored)
    if fixes is not None and not quiet:
        echo(_fix_summary(fixes, preview=False), err=True)

    code = 2 if result.errors else 1 if any(not f.documented for f in shown) else 0
    if exit_zero and code == 1:
        code = 0
    return code




def one_line(message: object) -> str:
    """``message`` on one line (kinkcheck.output.safe, imported when a run has a message to
    print): a path with a newline must not start a CI command."""
    from kinkcheck.output.safe import one_line as safe

    return safe(message)


def _fix_summary(fixes, *, preview: bool) -> str:
    """ruff's closing line: what was (or would be) fixed, and the unsafe fixes held back."""
    n = fixes.fixed
    files = len(fixes.files)
    what = f"{n:,} {'kink' if n == 1 else 'kinks'} in {files:,} {'file' if files == 1 else 'files'}"
    line = (f"Would fix {what}." if preview else f"Fixed {what}.") if n else "No fixes to apply."
    if fixes.unsafe_left:
        u = fixes.unsafe_left
        line += f" {u:,} unsafe {'fix' if u == 1 else 'fixes'} available with --unsafe-fixes."
    return line


def _check_stdin(name: str | None, config, *, force_exclude: bool, given: dict[str, str]):
    """The source on standard input, checked as one file named ``name`` (or ``-``); the
    source is left in ``given`` under that name."""
    from kinkcheck.lint.api import CheckResult, check_source_result

    shown = name or "-"
    if name is not None and force_exclude and config.is_excluded(name):
        return CheckResult(files=[])
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    from kinkcheck.source import SourceError, read

    try:
        source = read(data)  # as a file is read: its coding cookie, a BOM, UTF-8 otherwise
    except SourceError as exc:
        fail(f"standard input: {exc.message} (line {exc.line}, column {exc.col})")
    module = Path(name).stem if name else "stdin"
    given[shown] = source
    return check_source_result(source, shown, module=module if module.isidentifier() else "stdin", config=config)


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


#: the driver's own findings (a file that does not parse, a kink comment that names no rule or
#: documents nothing): problems to fix, but not kinks, so the summary counts them apart
META_CODES = frozenset({"KC001", "KC002", "KC003"})


def summary(undocumented: int, documented: int, *, files: int | None = None, functions: int | None = None,
            scope: str = "loss", recorded: int | None = None, baseline=None, unparsed: int = 0,
            comments: int = 0) -> str:
    """The last line: what was checked (files, and how much of them was loss code), then what
    was found; after ``--write-baseline``, what was recorded rather than "found 0". Files that
    do not parse and bad kink comments are named apart: they are not kinks."""
    def plural(n: int, word: str) -> str:
        return f"{n:,} {word}{'' if n == 1 else 's'}"

    found = f"{undocumented:,} undocumented {'kink' if undocumented == 1 else 'kinks'} ({documented:,} documented)"
    if recorded is not None:
        found = f"recorded {plural(recorded, 'undocumented kink')} in {baseline} ({documented:,} documented)"
    else:
        found = "found " + found
    if files is None:
        return found[0].upper() + found[1:] + "."
    what = {"loss": "of loss code", "model": "of loss and model code", "all": "checked"}.get(scope, "in scope")
    scope_part = f" ({plural(functions, 'function')} {what})" if functions is not None else ""
    if unparsed:
        found += f"; {plural(unparsed, 'file')} could not be parsed (KC001)"
    if comments:
        found += f"; {plural(comments, 'kink comment')} to fix (KC002/KC003)"
    return f"Checked {plural(files, 'file')}{scope_part}; {found}."


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
