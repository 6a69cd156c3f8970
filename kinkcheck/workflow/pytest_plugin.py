"""pytest plugin: ``pytest --kinkcheck-trace[=PATH]`` runs the session under the tracer.

The training smoke tests a project already has become a kink report: at the end of the
session the trace is written to PATH (default ``kinkcheck-trace.json``) and a Markdown
report next to it (same name, ``.md``), joined with the static findings for the traced
files. Off by default; registered through the ``pytest11`` entry point, so importing this
module must stay cheap: nothing from the tracer (or torch) is imported unless the option
is given.

With pytest-xdist each worker writes ``PATH`` with its worker id (``kinkcheck-trace.gw0.json``)
and the controller merges them into PATH.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

DEFAULT_PATH = "kinkcheck-trace.json"
_PLUGIN_NAME = "kinkcheck-trace"


def pytest_addoption(parser) -> None:
    group = parser.getgroup("kinkcheck", "kinkcheck: runtime kink tracing")
    group.addoption(
        "--kinkcheck-trace",
        action="store",
        nargs="?",
        const=DEFAULT_PATH,
        default=None,
        metavar="PATH",
        dest="kinkcheck_trace",
        help=f"Trace kink ops during the run; write the trace to PATH (default {DEFAULT_PATH}) "
        "and a Markdown report beside it (.md). Write --kinkcheck-trace=PATH, or put the flag "
        "after the test paths, so a test path is not taken for PATH.",
    )


def report_path(trace_path: Path) -> Path:
    name = trace_path.name
    for suffix in (".trace.json", ".json"):
        if name.endswith(suffix):
            return trace_path.with_name(name[: -len(suffix)] + ".md")
    return trace_path.with_name(name + ".md")


def _with_worker(path: Path, worker: str) -> Path:
    name = path.name
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    return path.with_name(f"{stem}.{worker}{dot}{ext}")


def pytest_configure(config) -> None:
    value = config.getoption("kinkcheck_trace", None)
    if not value:
        return
    base = Path(config.invocation_params.dir)
    path = Path(value) if Path(value).is_absolute() else base / value
    if value.endswith(".py") or "::" in value or path.is_dir():
        raise pytest.UsageError(
            f"--kinkcheck-trace took {value!r} as its trace PATH; write --kinkcheck-trace=PATH "
            "or put --kinkcheck-trace after the test paths"
        )
    worker = getattr(config, "workerinput", {}).get("workerid")
    plugin: _Tracing | _Merging
    if worker:
        plugin = _Tracing(_with_worker(path, worker), base, report=False)
    elif getattr(config.option, "dist", "no") != "no":  # xdist controller: runs no tests itself
        plugin = _Merging(path, base)
    else:
        plugin = _Tracing(path, base, report=True)
    config.pluginmanager.register(plugin, _PLUGIN_NAME)


class _Tracing:
    """Enter the tracer before collection (module-level code counts too), save at the end."""

    def __init__(self, path: Path, root: Path, *, report: bool):
        self.path, self.root, self.want_report = path, root, report
        self.lines: list[str] = []
        self._ctx: Any = None  # the trace() context while the session runs
        self._tracer: Any = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session) -> None:
        try:
            from kinkcheck.trace import trace
        except ImportError as exc:
            raise pytest.UsageError(f"--kinkcheck-trace: the kinkcheck tracer is not available: {exc}") from None
        self._ctx = trace()
        self._tracer = self._ctx.__enter__()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus) -> None:
        if self._ctx is None:
            return
        ctx, self._ctx = self._ctx, None
        ctx.__exit__(None, None, None)
        saver = self._tracer if hasattr(self._tracer, "save") else ctx
        saver.save(self.path)
        self.lines.append(f"trace: {_shown(self.path, self.root)}{_counts(self.path)}")
        if self.want_report:
            self.lines += write_report(self.path, self.root)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.lines:
            terminalreporter.write_sep("-", "kinkcheck")
            for line in self.lines:
                terminalreporter.write_line(line)


class _Merging:
    """xdist controller: merge the workers' traces into one file and report on it."""

    def __init__(self, path: Path, root: Path):
        self.path, self.root = path, root
        self.lines: list[str] = []

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus) -> None:
        from kinkcheck.trace import tracefile

        pattern = _with_worker(self.path, "gw*").name
        parts = sorted(self.path.parent.glob(pattern))
        if not parts:
            return
        tracefile.dump(tracefile.merge(tracefile.load(p) for p in parts), self.path)
        for p in parts:
            p.unlink()
        self.lines.append(f"trace: {_shown(self.path, self.root)} (merged from {len(parts)} workers){_counts(self.path)}")
        self.lines += write_report(self.path, self.root)

    pytest_terminal_summary = _Tracing.pytest_terminal_summary


def _shown(path: Path, root: Path) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return str(path)


def _counts(path: Path) -> str:
    try:
        from kinkcheck.trace import tracefile

        sites = tracefile.load(path).get("sites", [])
    except Exception:  # the line is informative only
        return ""
    exact = sum(int(s.get("exact", 0)) for s in sites)
    near = sum(int(s.get("near", 0)) for s in sites)
    return f" ({len(sites)} kink site{'s' if len(sites) != 1 else ''}; {exact} exact and {near} near hits)"


def write_report(trace_path: Path, root: Path) -> list[str]:
    """Write the Markdown report for the trace beside it; returns lines for the summary."""
    from kinkcheck.trace import tracefile

    data = tracefile.load(trace_path)
    out = report_path(trace_path)
    notes: list[str] = []
    findings = []
    try:
        findings = _static_findings(data, root)
    except Exception as exc:  # the runtime report is still worth having
        notes.append(f"static check of the traced files skipped: {exc}")
    try:
        from kinkcheck.report import join, render

        text = render(join.build(findings, data, root=root), "markdown")
    except ImportError:
        text = summary_markdown(data)
    out.write_text(text, encoding="utf-8")
    return [f"report: {_shown(out, root)}", *notes]


def _static_findings(data: Mapping[str, Any], root: Path) -> list:
    """Static findings for the files the trace saw, so the report can tell documented kinks."""
    troot = Path(data.get("root") or root)
    files = sorted({str(troot / s["path"]) for s in data.get("sites", []) if s.get("path")})
    files = [f for f in files if f.endswith(".py") and os.path.isfile(f)]
    if not files:
        return []
    from kinkcheck.lint.api import check_paths

    rel = [os.path.relpath(f, root) for f in files]
    return check_paths(rel, use_cache=True, progress=False).findings


def summary_markdown(data: Mapping[str, Any]) -> str:
    """A plain table of the trace's sites, for when the report package is not installed."""
    sites = sorted(data.get("sites", []), key=lambda s: (-int(s.get("exact", 0)), -int(s.get("near", 0))))
    lines = [f"## kinkcheck trace: {len(sites)} kink site{'s' if len(sites) != 1 else ''}", ""]
    if sites:
        lines += ["| Rule | Location | Op | Evaluations | Exact | Near |", "| --- | --- | --- | ---: | ---: | ---: |"]
        for s in sites:
            lines.append(
                f"| `{s.get('code')}` {s.get('name', '')} | `{s.get('path')}:{s.get('line')}` | `{s.get('op', '')}` "
                f"| {s.get('evaluations', 0)} | {s.get('exact', 0)} | {s.get('near', 0)} |"
            )
    return "\n".join(lines) + "\n"
