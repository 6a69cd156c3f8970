"""``kinkcheck check PATH...`` without click: the pre-commit hook's run starts in about half
the time, because importing click is half of a cached one-file check.

:func:`parse` reads the invocations it is sure of (``[--debug] check`` with the options of
``check.py`` spelled out in full, ``-q``/``-o``/``-j`` as separate words, ``--name=value``,
``--``, ``-``) exactly as click would, and answers None for anything else: help, version,
other commands, a clustered or abbreviated option, a value click would refuse (its error
message is click's to write), shell completion, Windows. Those run the click app instead.
The run itself is :func:`kinkcheck.commands.check_run.run_check`, the function the click
command calls, and errors end it as ``LazyGroup.invoke`` ends it (tests/workflow/
test_fast_path.py runs both on the same inputs and compares output and exit code).
"""

from __future__ import annotations

import os
import stat
import sys
from typing import Any

#: check's options (``check.py``): option string -> (parameter, kind); kind is "flag", "value",
#: "path" (a click.Path(dir_okay=False) value), "multiple" (--select ...) or a tuple of choices
#: (a click.Choice; None: the output formats, read when used)
CHECK_OPTIONS: dict[str, tuple[str, Any]] = {
    "--output-format": ("output_format", None), "--format": ("output_format", None),
    "-o": ("output_file", "path"), "--output-file": ("output_file", "path"), "--output": ("output_file", "path"),
    "--show-documented": ("show_documented", "flag"),
    "--statistics": ("statistics", "flag"),
    "--exit-zero": ("exit_zero", "flag"),
    "--select": ("select", "multiple"), "--ignore": ("ignore", "multiple"),
    "--extend-select": ("extend_select", "multiple"),
    "--scope": ("scope", ("loss", "model", "all")),
    "--all": ("all_scope", "flag"),
    "--no-cache": ("no_cache", "flag"),
    "--config": ("config_file", "path"),
    "--force-exclude": ("force_exclude", "flag"),
    "--stdin-filename": ("stdin_filename", "value"),
    "-j": ("jobs", "jobs"), "--jobs": ("jobs", "jobs"),
    "-q": ("quiet", "flag"), "--quiet": ("quiet", "flag"),
    "--color": ("color", "color"),
    "--fix": ("fix", "flag"),
    "--unsafe-fixes": ("unsafe_fixes", "flag"),
    "--preview-fixes": ("preview_fixes", "flag"),
    "--add-kink-comments": ("add_kink_comments", "flag"),
    "--baseline": ("baseline", "path"),
    "--write-baseline": ("write_baseline", "path"),
    "--diff": ("diff", "value"),
}

#: every parameter's value when its option is not given (click's defaults in ``check.py``)
DEFAULTS: dict[str, Any] = {
    "paths": (), "output_format": "full", "output_file": None, "show_documented": False, "statistics": False,
    "exit_zero": False, "select": None, "ignore": None, "extend_select": None, "scope": None, "all_scope": False,
    "no_cache": False, "config_file": None, "force_exclude": False, "stdin_filename": None, "jobs": None,
    "quiet": False, "color": "auto", "fix": False, "unsafe_fixes": False, "preview_fixes": False,
    "add_kink_comments": False, "baseline": None, "write_baseline": None, "diff": None,
}


class _Unsure(Exception):
    """An invocation this parser does not read as click would: the click app runs it."""


def parse(argv: list[str]) -> tuple[dict[str, Any], bool] | None:
    """``(run_check's parameters, --debug)`` for ``[--debug ...] check ARGS``, or None when
    the click app must read ``argv`` (see the module docstring)."""
    if os.name == "nt" or any(k.endswith("_COMPLETE") and k.startswith("_KINKCHECK") for k in os.environ):
        return None
    debug = False
    i = 0
    while i < len(argv) and argv[i] == "--debug":
        debug, i = True, i + 1
    if i >= len(argv) or argv[i] != "check":
        return None
    try:
        return _check_params(argv[i + 1:]), debug
    except _Unsure:
        return None


def _check_params(args: list[str]) -> dict[str, Any]:
    params = dict(DEFAULTS)
    paths: list[str] = []
    multiple: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            paths += args[i:]
            break
        if arg[:1] != "-" or arg == "-":
            paths.append(arg)
            continue
        name, eq, explicit = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name not in CHECK_OPTIONS:
            raise _Unsure  # click's "No such option", a clustered -qj4, -oFILE, -h, --help
        dest, kind = CHECK_OPTIONS[name]
        if kind == "flag":
            if eq:
                raise _Unsure  # "Option '--quiet' does not take a value"
            params[dest] = True
            continue
        if eq:
            value = explicit
        elif i < len(args):
            value, i = args[i], i + 1
        else:
            raise _Unsure  # "Option '-o' requires an argument"
        if kind == "multiple":
            multiple.setdefault(dest, []).append(value)
        else:
            params[dest] = _convert(value, kind)
    for arg in paths:
        _readable_or_missing(arg, dir_okay=True)
    params["paths"] = tuple(paths)
    from kinkcheck.commands._plain import split_codes

    for dest, values in multiple.items():
        params[dest] = split_codes(None, None, tuple(values))
    return params


def _convert(value: str, kind: Any) -> Any:
    """``value`` as click converts it for ``kind``; _Unsure where click would refuse it."""
    if kind == "value":
        return value
    if kind == "path":
        _readable_or_missing(value, dir_okay=False)
        return value
    if kind == "jobs":  # click.IntRange(min=1): only plain digits here (int() also reads " 3", "3_0", "٣")
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise _Unsure
        return int(value)
    if kind == "color":
        from kinkcheck.output.terminal import COLOR_CHOICES

        kind = tuple(COLOR_CHOICES)
    elif kind is None:
        from kinkcheck.output import FORMATS

        kind = tuple(FORMATS)
    if value not in kind:
        raise _Unsure  # click's "'x' is not one of ..."
    return value


def _readable_or_missing(path: str, *, dir_okay: bool) -> None:
    """click.Path(exists=False): a missing path is fine; an existing one must be readable
    (and not a directory where ``dir_okay`` is false), else click writes the error."""
    try:
        st = os.stat(path)
    except OSError:
        return
    except ValueError:  # a NUL in the name (only from a caller, never from argv): click's to handle
        raise _Unsure from None
    if (not dir_okay and stat.S_ISDIR(st.st_mode)) or not os.access(path, os.R_OK):
        raise _Unsure


def run(params: dict[str, Any], *, debug: bool, own_process: bool = False) -> int:
    """``run_check(**params)`` with the endings of ``LazyGroup.invoke`` and click's main: a
    KinkcheckError or a crash as one line and 2, a closed pipe 1, ^C 2. Returns the exit code
    (``fail`` and the like exit themselves). ``own_process``: this run is the program (the
    console script), so it may tune the garbage collector (:func:`load_for_a_short_run`)."""
    from kinkcheck.commands._plain import debug_from_env, echo, report_crash, report_error
    from kinkcheck.errors import KinkcheckError

    try:
        try:
            if own_process:
                load_for_a_short_run()
            from kinkcheck.commands.check_run import run_check

            return run_check(**params)
        except KinkcheckError as exc:
            return report_error(exc)
        except BrokenPipeError:
            raise
        except Exception as exc:  # noqa: BLE001 - as LazyGroup.invoke: a bug of ours becomes exit 2
            report_crash(exc, command="check", debug=debug or debug_from_env())
            return 2
        except KeyboardInterrupt:
            echo(err=True)
            echo("kinkcheck: error: interrupted", err=True)
            return 2
    except OSError as exc:  # click's main: a closed pipe (| head) ends the run quietly, exit 1
        import errno

        if exc.errno != errno.EPIPE:
            raise
        sys.stdout = _Pacified(sys.stdout)
        sys.stderr = _Pacified(sys.stderr)
        return 1


def load_for_a_short_run() -> None:
    """Import what every check needs with the garbage collector off, then freeze what was
    made and collect less often. The modules, classes and tables loaded here live to the end
    of the process, yet every collection while files are parsed and indexed would walk them
    all again: about 20 ms of a one-file check, half of what it spends beyond ``import
    astroid`` + parsing the file. Only for a process of our own, since frozen objects are
    never collected; the analysis still collects its cycles (every 10,000 allocations
    rather than 700, as mypy does; pool workers inherit it)."""
    import gc

    gc.disable()
    try:
        import kinkcheck.commands.check_run
        import kinkcheck.config
        import kinkcheck.lint.api  # noqa: F401 - the runner, cache, discovery, comments, findings
    finally:
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        gc.enable()


class _Pacified:
    """A stream whose flush ignores a closed pipe (the interpreter flushes at exit), as
    click wraps stdout and stderr after EPIPE."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as exc:
            import errno

            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.wrapped, attr)
